// SPEC 13 on a real (soft) HSM: the PKCS#11 layer, and a key ring on the token that gives byte
// for byte what a key ring file with the same keys gives (the card-crypto vectors), in this
// thread and in pool threads with sessions of their own.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import vectors from '../vectors/card-crypto.json' with { type: 'json' };
import { KeyRing } from '../../core/crypto/key-ring.js';
import { KeyRingVault } from '../../core/crypto/pin-vault.js';
import { CryptoPool } from '../../core/crypto/pool.js';
import { addTokenKeyVersion, TokenKeyRing, tokenKeyVersions } from '../../core/crypto/token-key-ring.js';
import { cardIdToBytes, computeChallengeResponse, diversifyAdminKey, type AdminKeyAlgorithm } from '../../workers/crypto/admin-key.js';
import { Pkcs11Token } from '../../workers/crypto/pkcs11-token.js';
import { derivePinDataKey, sealPin } from '../../workers/crypto/pin-seal.js';
import { importMasterKeys, softHsm, softHsmInstalled, SOFTHSM_MODULE } from '../support/softhsm.js';

// The vectors' algorithm names, typed as the admin-key module's.
const diversification = vectors.diversification as Array<(typeof vectors.diversification)[number] & { algorithm: AdminKeyAlgorithm }>;

t.ok(softHsmInstalled(), 'SoftHSM2 and OpenSC are installed (.ci/run installs them)');
const hsm = softHsm(t);
const masters = [...new Set(diversification.map((v) => v.masterKeyHex))];
const keys = Object.fromEntries(masters.map((hex, i) => [i + 1, hex]));
const fileRing = new KeyRing(new Map(masters.map((hex, i) => [i + 1, Buffer.from(hex, 'hex')])));
const versionOf = (hex: string) => masters.indexOf(hex) + 1;
const tokenConfig = hsm.createToken('cm-ring');
// SoftHSM2 finds its tokens when the library initialises: every token is made before that.
const emptyConfig = hsm.createToken('cm-empty');
const raceConfig = hsm.createToken('cm-race');
importMasterKeys(tokenConfig, keys);

t.test('opening refuses a missing library, an unknown token and a wrong PIN, each in one line', async (t) => {
  t.throws(() => Pkcs11Token.open({ ...tokenConfig, module: '/nonexistent/libpkcs11.so' }), { name: 'TokenError', code: 'TOKEN_UNAVAILABLE' });
  t.throws(() => Pkcs11Token.open({ ...tokenConfig, tokenLabel: 'no-such-token' }), { code: 'TOKEN_UNAVAILABLE', message: /no token labelled "no-such-token"/ });
  const wrong = t.throws(() => Pkcs11Token.open({ ...tokenConfig, pin: '9999' }), { code: 'TOKEN_LOGIN_FAILED', message: /PIN .* is wrong/ }) as unknown as Error;
  t.notMatch(String(wrong?.message), /9999/, 'the PIN is not in the message');
});

t.test('the token ring holds the imported versions; HMAC, KCV and data keys match the file ring', async (t) => {
  const token = Pkcs11Token.open(tokenConfig);
  const ring = new TokenKeyRing(token, tokenConfig.tokenLabel);
  t.teardown(() => ring.destroy());
  t.same(ring.versions(), fileRing.versions());
  t.equal(ring.newestVersion, fileRing.newestVersion);
  for (const v of ring.versions()) {
    t.equal(ring.keyCheckValue(v).toString('hex'), fileRing.keyCheckValue(v).toString('hex'), `KCV v${v}`);
    t.equal(ring.keyCheckValue(v).length, 8);
    t.equal(ring.dataKey(v, 'MIMCM-PIN-SEAL').toString('hex'), fileRing.dataKey(v, 'MIMCM-PIN-SEAL').toString('hex'), `data key v${v}`);
    t.equal(ring.hmac(v, Buffer.from('x')).toString('hex'), fileRing.hmac(v, Buffer.from('x')).toString('hex'));
  }
  t.throws(() => ring.hmac(99, Buffer.alloc(1)), { code: 'KEY_VERSION_MISSING' });
  t.throws(() => ring.cardKeySource(99), { code: 'KEY_VERSION_MISSING' });
  t.equal(ring.legacyPinDataKey(), undefined, 'a token never gives the bytes the legacy derivation needs');
  t.equal(String(ring), `TokenKeyRing { versions: [${fileRing.versions().join(', ')}], newestVersion: ${fileRing.newestVersion} }`);

  for (const v of diversification) {
    const version = versionOf(v.masterKeyHex);
    const key = diversifyAdminKey(v.algorithm, (data) => ring.hmac(version, data), cardIdToBytes(v.cardid));
    t.equal(key.toString('hex'), v.diversifiedKeyHex, `${v.algorithm} ${v.cardid} v${version}`);
    t.equal(computeChallengeResponse(v.algorithm, key, Buffer.from(v.challengeBase64, 'base64')).toString('base64'), v.responseBase64);
  }
});

t.test('an empty token is refused as a key ring', async (t) => {
  const token = Pkcs11Token.open(emptyConfig);
  t.teardown(() => token.close());
  t.throws(() => new TokenKeyRing(token, 'cm-empty'), { name: 'KeyRingError', message: /holds no cm-master-v<N> keys/ });
});

t.test('PINs sealed with the file ring open with the token ring; legacy-sealed PINs open with the file ring', async (t) => {
  const token = Pkcs11Token.open(tokenConfig);
  const tokenVault = new KeyRingVault(new TokenKeyRing(token, tokenConfig.tokenLabel));
  const fileVault = new KeyRingVault(fileRing);
  t.teardown(() => token.close());
  const card = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
  t.equal(tokenVault.open(2, card, fileVault.seal(2, card, '48213579')), '48213579');
  t.equal(fileVault.open(1, card, tokenVault.seal(1, card, '90817263')), '90817263');

  // Sealed before the data key became the ring's KDF: HKDF of the master's bytes.
  const legacy = sealPin(derivePinDataKey(Buffer.from(masters[0], 'hex')), card, '31415926');
  t.equal(fileVault.open(1, card, legacy), '31415926', 'the file ring still opens what it sealed before');
  t.throws(() => tokenVault.open(1, card, legacy), { code: 'SEAL_INVALID' });
  t.throws(() => fileVault.open(2, card, legacy), { code: 'SEAL_INVALID' }, 'the wrong version opens nothing');
});

t.test('a generated key is a sensitive, never extractable generic secret (as OpenSC sees it)', async (t) => {
  const token = Pkcs11Token.open(tokenConfig);
  t.teardown(() => token.close());
  token.generateHmacKey('cm-test-generated');
  t.equal(token.secretKeyIds('cm-test-generated').length, 1, 'one key labelled cm-test-generated');
  t.equal(token.hmacSha256('cm-test-generated', Buffer.from('a')).length, 32);
  const listed = execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'cm-ring', '--login', '--pin', tokenConfig.pin, '--list-objects', '--type', 'secrkey'], {
    env: { ...process.env, SOFTHSM2_CONF: hsm.conf },
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const entry = listed.split(/\n(?=Secret Key Object)/).find((block) => block.includes('label:      cm-test-generated'));
  t.ok(entry, 'pkcs11-tool lists the key');
  t.match(entry, /GENERIC_SECRET.*length 32|length 32.*GENERIC_SECRET|generic.*32/is);
  t.match(entry, /Access:.*sensitive/);
  t.match(entry, /never extractable/);
});

t.test('a lost session answers UNAVAILABLE once, and the next call opens a new one', async (t) => {
  const token = Pkcs11Token.open(tokenConfig);
  t.teardown(() => token.close());
  const before = token.hmacSha256('cm-master-v1', Buffer.from('m'));
  token.closeAllSessions();
  t.throws(() => token.hmacSha256('cm-master-v1', Buffer.from('m')), { name: 'CryptoError', code: 'UNAVAILABLE' });
  t.equal(token.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex'), before.toString('hex'));

  const ring = new TokenKeyRing(token, tokenConfig.tokenLabel);
  token.closeAllSessions();
  t.throws(() => ring.keyCheckValue(1), { name: 'CmError', code: 'UNAVAILABLE' });
  t.equal(ring.keyCheckValue(1).toString('hex'), fileRing.keyCheckValue(1).toString('hex'));
});

t.test('after all sessions are lost, a thread that has not noticed yet reopens its own at once, never sharing another one\'s', async (t) => {
  // Two sessions of this process, as two threads have. Once both are gone, the first one to
  // notice logs in afresh; the other then opens a session of its own before its next call (no
  // second failure), never keeping its old handle, whose number a library may have given to the
  // first one's new session: closing the first one afterwards leaves the second working.
  const first = Pkcs11Token.open(tokenConfig);
  const second = Pkcs11Token.open(tokenConfig);
  t.teardown(() => second.close());
  const expected = first.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex');
  t.equal(second.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex'), expected);
  first.closeAllSessions();
  t.throws(() => first.hmacSha256('cm-master-v1', Buffer.from('m')), { code: 'UNAVAILABLE' });
  t.equal(first.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex'), expected, 'the first reopened');
  t.equal(second.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex'), expected, 'the second answers at once, with a session of its own');
  first.close();
  t.equal(second.hmacSha256('cm-master-v1', Buffer.from('m')).toString('hex'), expected, 'closing the first leaves the second its session');
});

t.test('two additions racing for one version: one keeps it, the other takes the next, no label on two keys', async (t) => {
  const first = Pkcs11Token.open(raceConfig);
  const second = Pkcs11Token.open(raceConfig);
  t.teardown(() => {
    first.close();
    second.close();
  });
  // The second addition runs whole between the first one's reading of the versions and its
  // generating a key: both pick version 1.
  let secondGot: number | undefined;
  const racing = new Proxy(first, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === 'generateHmacKey' && secondGot === undefined) {
        return (label: string, id?: Uint8Array) => {
          secondGot = addTokenKeyVersion(second);
          return target.generateHmacKey(label, id);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const firstGot = addTokenKeyVersion(racing);
  t.equal(secondGot, 1, 'the addition that found its label alone kept version 1');
  t.equal(firstGot, 2, 'the other stepped back to version 2');
  t.same(tokenKeyVersions(first), [1, 2]);
  for (const label of ['cm-master-v1', 'cm-master-v2']) t.equal(first.secretKeyIds(label).length, 1, `one key labelled ${label}`);
  t.equal(first.hmacSha256('cm-master-v1', Buffer.from('m')).length, 32, 'each version answers');
  t.equal(first.hmacSha256('cm-master-v2', Buffer.from('m')).length, 32);
});

for (const mode of ['pool', 'inline'] as const) {
  t.test(`pool jobs naming a token key give the vectors (${mode} mode)`, async (t) => {
    const token = Pkcs11Token.open(tokenConfig);
    const ring = new TokenKeyRing(token, tokenConfig.tokenLabel);
    const { useThreadToken } = await import('../../workers/crypto/thread-token.js');
    useThreadToken(token);
    const pool = new CryptoPool({ threads: 2, mode, pkcs11: tokenConfig });
    t.teardown(async () => {
      await pool.close();
      ring.destroy();
    });
    // Many at once: the two threads each use their own session, one call at a time.
    const rounds = 8;
    const jobs = Array.from({ length: rounds }, () => diversification).flat();
    const answers = await Promise.all(
      jobs.map((v) =>
        pool.respond({ alg: v.algorithm, ...ring.cardKeySource(versionOf(v.masterKeyHex)), cardId: v.cardid, challenge: Buffer.from(v.challengeBase64, 'base64') }),
      ),
    );
    answers.forEach((a, i) => t.equal(a.toString('base64'), jobs[i].responseBase64));
    const keysOut = await Promise.all(diversification.map((v) => pool.diversify({ alg: v.algorithm, ...ring.cardKeySource(versionOf(v.masterKeyHex)), cardId: v.cardid })));
    keysOut.forEach((k, i) => t.equal(k.toString('hex'), diversification[i].diversifiedKeyHex));
    await t.rejects(pool.diversify({ alg: '3DES', tokenKey: 'cm-master-v99', cardId: diversification[0].cardid }), { code: 'INTERNAL' }, 'a key the token lacks');
  });
}
