// loadCoreConfig: one schema read in one pass; every problem reported at once, naming its variable.
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
    t.throws(() => loadCoreConfig({ CM_CRYPTO_MODE: value }, { embedded: true }), { name: 'ConfigError', message: /^CM_CRYPTO_MODE: ".*" is not one of pool, inline/, variable: 'CM_CRYPTO_MODE' }, value);
  }
  try {
    loadCoreConfig({ CM_CRYPTO_MODE: 'x' }, { embedded: true });
  } catch (err) {
    t.ok(err instanceof ConfigError);
  }
});

t.test('every problem is reported at once, each naming its variable, none echoing a secret', async (t) => {
  const secretish = 'a'.repeat(20);
  const err = t.throws(() =>
    loadCoreConfig({
      CM_GRPC_PORT: 'fifty',
      CM_LOG_LEVEL: 'loud',
      CM_MASTER_KEYS: `garbage${secretish}`,
      CM_JWT_SECRET: 'short-secret',
      CM_CA_CERT: '/nonexistent/ca.crt',
      CM_WORKERS: '0',
    }),
  ) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.same(err.problems.map((p) => p.variable).sort(), ['CM_CA_CERT', 'CM_GRPC_PORT', 'CM_JWT_SECRET', 'CM_LOG_LEVEL', 'CM_MASTER_KEYS', 'CM_WORKERS']);
  t.match(err.message, /CM_MASTER_KEYS: key ring entry 1 is not <version>:<64 hex digits>/);
  t.match(err.message, /CM_GRPC_PORT: "fifty" is not a port number/);
  t.match(err.message, /CM_CA_CERT: cannot read "\/nonexistent\/ca.crt" \(ENOENT\)/);
  t.match(err.message, /CM_JWT_SECRET: must be at least 32 bytes long/);
  t.notMatch(err.message, secretish, 'the key ring text is not echoed');
  t.notMatch(err.message, 'short-secret', 'the token secret is not echoed');
  t.notMatch(err.message, /\n/, 'one line');
});

t.test('the separate core requires its secrets, the CA pair, and TLS off loopback', async (t) => {
  const err = t.throws(() => loadCoreConfig({})) as ConfigError;
  t.same(err.problems.map((p) => p.variable), ['CM_JWT_SECRET', 'CM_MASTER_KEYS', 'CM_CA_CERT']);
  t.throws(() => loadCoreConfig({ CM_GRPC_HOST: '0.0.0.0' }, { embedded: true }), { variable: 'CM_GRPC_HOST', message: /CM_ALLOW_INSECURE/ });
  t.equal(loadCoreConfig({ CM_GRPC_HOST: '0.0.0.0', CM_ALLOW_INSECURE: '1' }, { embedded: true }).grpcHost, '0.0.0.0');
  t.throws(() => loadCoreConfig({ CM_MASTER_KEYS: `1:${'00'.repeat(32)}`, CM_MASTER_KEYS_FILE: '/x' }, { embedded: true }), { variable: 'CM_MASTER_KEYS_FILE', message: /CM_MASTER_KEYS_FILE/ });
  // With PostgreSQL the embedded default generates nothing either (SPEC 12): every core is given the same.
  const pg = t.throws(() => loadCoreConfig({ CM_DATABASE: 'postgres://u@h/db' }, { embedded: true })) as ConfigError;
  t.same(pg.problems.map((p) => p.variable), ['CM_JWT_SECRET', 'CM_MASTER_KEYS', 'CM_CA_CERT']);
  t.match(pg.message, /with PostgreSQL nothing is generated/);
});

t.test('CM_METRICS_HOST / CM_METRICS_PORT: no listener unless the port is set; the host defaults to CM_GRPC_HOST', async (t) => {
  t.equal(loadCoreConfig({}, { embedded: true }).metrics, undefined);
  t.same(loadCoreConfig({ CM_METRICS_PORT: '9100' }, { embedded: true }).metrics, { host: '127.0.0.1', port: 9100 });
  t.same(loadCoreConfig({ CM_METRICS_PORT: '0', CM_METRICS_HOST: '::1' }, { embedded: true }).metrics, { host: '::1', port: 0 });
  t.throws(() => loadCoreConfig({ CM_METRICS_PORT: '9100', CM_METRICS_HOST: '10.1.2.3' }, { embedded: true }), { variable: 'CM_METRICS_HOST', message: /CM_METRICS_HOST/ });
  t.throws(() => loadCoreConfig({ CM_METRICS_PORT: 'x' }, { embedded: true }), { variable: 'CM_METRICS_PORT', message: /CM_METRICS_PORT/ });
});

t.test('a key ring file is read and checked at configuration time', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'cm-core-config-'));
  writeFileSync(join(dir, 'good'), `1:${'11'.repeat(32)}\n2:${'22'.repeat(32)}\n`);
  writeFileSync(join(dir, 'bad'), '1:abc\n');
  const config = loadCoreConfig({ CM_MASTER_KEYS_FILE: join(dir, 'good') }, { embedded: true });
  t.same(config.keyRing?.versions(), [1, 2]);
  t.equal(config.masterKeysFile, join(dir, 'good'));
  t.throws(() => loadCoreConfig({ CM_MASTER_KEYS_FILE: join(dir, 'bad') }, { embedded: true }), { variable: 'CM_MASTER_KEYS_FILE', message: /key version 1: the key must be exactly 64 hex digits/ });
  t.throws(() => loadCoreConfig({ CM_MASTER_KEYS_FILE: join(dir, 'none') }, { embedded: true }), { variable: 'CM_MASTER_KEYS_FILE', message: /does not exist/ });
});

t.test('CM_HEAP_GROWING_PERCENT: unset (the default for the heap limit), 0 to 1000, anything else named', async (t) => {
  t.equal(loadCoreConfig({}, { embedded: true }).heapGrowingPercent, undefined);
  t.equal(loadCoreConfig({ CM_HEAP_GROWING_PERCENT: '0' }, { embedded: true }).heapGrowingPercent, 0);
  t.equal(loadCoreConfig({ CM_HEAP_GROWING_PERCENT: '250' }, { embedded: true }).heapGrowingPercent, 250);
  for (const value of ['1001', 'half', '-1']) {
    t.throws(() => loadCoreConfig({ CM_HEAP_GROWING_PERCENT: value }, { embedded: true }), { variable: 'CM_HEAP_GROWING_PERCENT', message: /whole number from 0 to 1000/ }, value);
  }
});
