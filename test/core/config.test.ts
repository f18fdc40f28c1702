// loadCoreConfig: CM_CRYPTO_MODE (an extension beyond SPEC 11), its default and its validation.
import t from 'tap';
import { ConfigError, loadCoreConfig } from '../../core/config.js';

t.test('CM_CRYPTO_MODE: pool by default, pool or inline when set', async (t) => {
  t.equal(loadCoreConfig({}, { embedded: true }).cryptoMode, 'pool');
  t.equal(loadCoreConfig({ CM_CRYPTO_MODE: '' }, { embedded: true }).cryptoMode, 'pool', 'empty counts as unset');
  t.equal(loadCoreConfig({ CM_CRYPTO_MODE: 'pool' }, { embedded: true }).cryptoMode, 'pool');
  t.equal(loadCoreConfig({ CM_CRYPTO_MODE: 'inline' }, { embedded: true }).cryptoMode, 'inline');
  t.equal(loadCoreConfig({ CM_CRYPTO_MODE: ' Inline ' }, { embedded: true }).cryptoMode, 'inline', 'trimmed, any case');
});

t.test('CM_CRYPTO_MODE: anything else stops start-up with a message naming the variable', async (t) => {
  for (const value of ['threads', 'inline,pool', '1']) {
    t.throws(() => loadCoreConfig({ CM_CRYPTO_MODE: value }, { embedded: true }), { name: 'ConfigError', message: /^CM_CRYPTO_MODE must be one of pool, inline/ }, value);
  }
  try {
    loadCoreConfig({ CM_CRYPTO_MODE: 'x' }, { embedded: true });
  } catch (err) {
    t.ok(err instanceof ConfigError);
  }
});
