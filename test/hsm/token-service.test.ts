// The service with its key ring on a (soft) HSM, end to end over REST: the card's keys, responses
// and PIN are those of a key ring file with the same key; a session lost under the service answers
// 503 UNAVAILABLE and the service recovers by itself; start-up refusals are one clear line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vectors from '../vectors/card-crypto.json' with { type: 'json' };
import { parseKeyRing } from '../../core/crypto/key-ring.js';
import { cardIdToBytes, diversifyAdminKey } from '../../workers/crypto/admin-key.js';
import { Pkcs11Token } from '../../workers/crypto/pkcs11-token.js';
import * as grpc from '@grpc/grpc-js';
import { JWT_SECRET, makeClients, MASTER_KEY_V1, rpc } from '../support/core-harness.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { idOf, q } from '../support/api.js';
import { SimulatedSmartcard } from '../support/simcard.js';
import { importMasterKeys, softHsm } from '../support/softhsm.js';
import { BASE, startStack } from '../support/stack.js';
import { run } from '../support/process.js';

const hsm = softHsm(t);
const token = hsm.createToken('cm-service');
const emptyToken = hsm.createToken('cm-service-empty');
importMasterKeys(token, { 1: MASTER_KEY_V1 });
const CARD_ID = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
const vector = vectors.diversification.find((v) => v.algorithm === '3DES' && v.masterKeyHex === MASTER_KEY_V1 && v.cardid === CARD_ID)!;
// The test's config for the core: the token, and no key ring file or variable.
const tokenEnv = { ...hsm.env(token), CM_MASTER_KEYS: '', CM_WORKERS: '2' };

t.test('keys, responses and a sealed PIN come from the token; a lost session answers 503 and recovers', async (t) => {
  // One pool thread, so that the thread whose session is closed under it is the one asked next
  // (a thread that never had a session would just open one: nothing lost).
  const s = await startStack({ ...tokenEnv, CM_WORKERS: '1' });
  t.teardown(() => s.close());
  t.equal(s.core.core.keyRing.constructor.name, 'TokenKeyRing');
  const admin = await s.as(USERS.admin);
  const body = restTemplate({ defaultKey: '00'.repeat(24), diversify: true, pinOption: 'ServerDistributed' });
  const templateId = idOf((await s.http('POST', `${BASE}/profiletemplates`, { token: admin, body })).body);
  const user = await s.as(USERS.user);
  const req = idOf((await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll' } })).body);
  const card = idOf((await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: req, cardid: CARD_ID } })).body);
  const base = `${BASE}/requests/${req}/smartcards/${card}`;

  // The pool threads' first job waits for them to start, which on a loaded machine may outlast
  // the gateway's deadline (504): asked again until the threads answer.
  let key = await s.http('GET', `${base}/diversifiedkey?${q({ cardid: CARD_ID })}`, { token: user });
  for (let i = 0; i < 10 && key.status === 504; i++) key = await s.http('GET', `${base}/diversifiedkey?${q({ cardid: CARD_ID })}`, { token: user });
  t.equal(key.status, 200);
  t.equal(Buffer.from(key.body, 'base64').toString('hex'), vector.diversifiedKeyHex, 'the diversified key of the vector');
  const respond = () =>
    s.http('GET', `${base}/authenticationresponse?${q({ cardid: CARD_ID, challenge: vector.challengeBase64, diversified: 'true' })}`, { token: user });
  const answer = await respond();
  t.equal(answer.status, 200);
  t.equal(answer.body, vector.responseBase64, 'the response of the vector');

  const simcard = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: vector.diversifiedKeyHex, cardId: CARD_ID });
  const pinPath = `${base}/serverproposedpin?${q({ cardid: CARD_ID, challenge: simcard.getChallenge().toString('base64') })}`;
  const pin = await s.http('GET', pinPath, { token: user });
  t.equal(pin.status, 200);
  t.equal((await s.http('GET', pinPath, { token: user })).body, pin.body, 'the PIN sealed under the token-derived key opens again');

  // Every session of this process closed under the service (main thread and pool thread). The
  // core answers the call that meets the lost session UNAVAILABLE (503 at REST), then opens a new
  // session by itself. Asked directly over gRPC, so that the gateway's retry of a GET does not
  // hide the first answer; through the gateway that retry makes the same loss invisible.
  const { smartcards } = makeClients(s.core.address);
  t.teardown(() => smartcards.close());
  const grpcRespond = () =>
    rpc(smartcards, 'GetAuthenticationResponse', { requestUuid: req, smartcardUuid: card, cardId: CARD_ID, challenge: vector.challengeBase64, diversified: true }, user).then(
      (r: { value: string }) => r.value,
      (err: grpc.ServiceError) => err,
    );
  const ours = Pkcs11Token.open(token);
  ours.closeAllSessions();
  const lost = await grpcRespond();
  t.type(lost, Error, 'the call that meets the lost session fails');
  t.equal((lost as grpc.ServiceError).code, grpc.status.UNAVAILABLE, 'UNAVAILABLE (503 at REST)');
  t.notMatch((lost as Error).message, new RegExp(token.pin + '|' + MASTER_KEY_V1));
  t.equal(await grpcRespond(), vector.responseBase64, 'the next call has a new session');
  ours.closeAllSessions();
  const throughGateway = await respond();
  t.equal(throughGateway.status, 200, 'through the gateway, its retry of the GET finds the new session');
  t.equal(throughGateway.body, vector.responseBase64);
  // The main thread's derivations recover the same way (the PIN's data key is cached; the KCV is
  // not). Its session is older than the pool thread's new login, so it is replaced first.
  t.equal(s.core.core.keyRing.keyCheckValue(1).length, 8);
  ours.closeAllSessions();
  t.throws(() => s.core.core.keyRing.keyCheckValue(1), { code: 'UNAVAILABLE' });
  t.equal(s.core.core.keyRing.keyCheckValue(1).length, 8);
  ours.close();
});

/** `cm-admin` as the operator runs it (the built bin), on the token. */
async function cmAdmin(dir: string, ...args: string[]) {
  const p = run(process.execPath, ['dist/bin/cm-admin.js', ...args], { ...hsm.env(token), CM_DATABASE: join(dir, 'cm.sqlite') });
  return { code: await p.exited, stdout: p.stdout(), stderr: p.stderr() };
}

t.test('cm-admin keyring add on the token: new cards use the new version after a restart, old cards keep theirs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-hsm-rotate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const NEW_CARD = 'c6bad97c-f97f-4920-8947-be980c98c6b5';
  type Stack = Awaited<ReturnType<typeof startStack>>;
  const bind = async (s: Stack, templateId: string, cardid: string) => {
    const user = await s.as(USERS.user);
    const req = idOf((await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll' } })).body);
    const card = idOf((await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: req, cardid } })).body);
    return async (s: Stack) => {
      let res = await s.http('GET', `${BASE}/requests/${req}/smartcards/${card}/diversifiedkey?${q({ cardid })}`, { token: user });
      for (let i = 0; i < 10 && res.status === 504; i++) res = await s.http('GET', `${BASE}/requests/${req}/smartcards/${card}/diversifiedkey?${q({ cardid })}`, { token: user });
      t.equal(res.status, 200);
      return Buffer.from(res.body, 'base64').toString('hex');
    };
  };
  const first = await startStack(tokenEnv, { dir });
  const admin = await first.as(USERS.admin);
  const templateId = idOf((await first.http('POST', `${BASE}/profiletemplates`, { token: admin, body: restTemplate({ diversify: true }) })).body);
  const oldKey = await bind(first, templateId, CARD_ID);
  await first.close();

  const kcv1 = parseKeyRing(`1:${MASTER_KEY_V1}`).keyCheckValue(1).toString('hex');
  const before = await cmAdmin(dir, 'keyring', 'list');
  t.equal(before.code, 0, before.stderr);
  t.match(before.stdout, new RegExp(`^1 +${kcv1}  \\(newest`, 'm'), 'keyring list: version 1, the check value of the key imported');
  const added = await cmAdmin(dir, 'keyring', 'add');
  t.equal(added.code, 0, added.stderr);
  t.match(added.stdout, /^added key version 2 \(key check value [0-9a-f]{16}\) on token "cm-service"/);
  const session = Pkcs11Token.open(token);
  t.teardown(() => session.close());
  t.equal(session.secretKeyIds('cm-master-v2').length, 1, 'one key labelled cm-master-v2');

  const second = await startStack(tokenEnv, { dir });
  t.teardown(() => second.close());
  t.equal(second.core.core.keyRing.newestVersion, 2);
  const newKey = await bind(second, templateId, NEW_CARD);
  t.equal(await oldKey(second), vector.diversifiedKeyHex, 'the old card still answers with version 1');
  const expectedV2 = diversifyAdminKey('3DES', (data) => session.hmacSha256('cm-master-v2', data), cardIdToBytes(NEW_CARD)).toString('hex');
  t.equal(await newKey(second), expectedV2, 'a new card uses version 2, derived on the token');
  t.not(expectedV2, vectors.diversification.find((v) => v.algorithm === '3DES' && v.masterKeyHex === MASTER_KEY_V1 && v.cardid === NEW_CARD)!.diversifiedKeyHex);
});

t.test('start-up refusals are one line on standard error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-hsm-start-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 });
  // The configuration checks that the CA files are readable before anything starts; these
  // (empty) ones pass that check, and start-up stops at the token, before the CA is read.
  writeFileSync(join(dir, 'missing-ca.pem'), '');
  writeFileSync(join(dir, 'missing-ca.key'), '', { mode: 0o600 });
  const base = {
    PATH: process.env.PATH ?? '',
    CM_DATABASE: join(dir, 'cm.sqlite'),
    CM_GRPC_PORT: '0',
    CM_JWT_SECRET: JWT_SECRET,
    CM_CA_CERT: join(dir, 'missing-ca.pem'),
    CM_CA_KEY: join(dir, 'missing-ca.key'),
    CM_LOG_LEVEL: 'silent',
    SOFTHSM2_CONF: hsm.conf,
  };
  const start = (env: Record<string, string>) => {
    const run = spawnSync(process.execPath, ['dist/bin/core.js'], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
    return { status: run.status, lines: run.stderr.trim().split('\n') };
  };
  const tokenVars = { CM_PKCS11_MODULE: token.module, CM_PKCS11_TOKEN_LABEL: token.tokenLabel };
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a wrong PIN', { ...tokenVars, CM_PKCS11_PIN: '0000' }, /^cm-core: cannot start: the PIN for token "cm-service" is wrong$/],
    ['an unknown token', { ...tokenVars, CM_PKCS11_TOKEN_LABEL: 'nope', CM_PKCS11_PIN: token.pin }, /no token labelled "nope"/],
    ['a library that does not load', { ...tokenVars, CM_PKCS11_MODULE: join(dir, 'nothing.so'), CM_PKCS11_PIN: token.pin }, /cannot load the PKCS#11 library/],
    ['a token without master keys', { ...tokenVars, CM_PKCS11_TOKEN_LABEL: emptyToken.tokenLabel, CM_PKCS11_PIN_FILE: pinFile }, /holds no cm-master-v<N> keys/],
    ['a key ring on the token and in CM_MASTER_KEYS', { ...tokenVars, CM_PKCS11_PIN: token.pin, CM_MASTER_KEYS: `1:${MASTER_KEY_V1}` }, /^cm-core: bad configuration: CM_MASTER_KEYS: the key ring is on the token/],
    ['a PIN and a PIN file', { ...tokenVars, CM_PKCS11_PIN: token.pin, CM_PKCS11_PIN_FILE: pinFile }, /CM_PKCS11_PIN or CM_PKCS11_PIN_FILE, not both/],
    ['a token without a module', { CM_PKCS11_TOKEN_LABEL: 'cm-service', CM_PKCS11_PIN: token.pin }, /CM_PKCS11_MODULE and CM_PKCS11_TOKEN_LABEL must be set together/],
  ];
  for (const [what, env, expected] of cases) {
    const { status, lines } = start(env);
    t.equal(status, 1, `${what}: exit 1`);
    t.equal(lines.length, 1, `${what}: one line`);
    t.match(lines[0], expected, what);
    t.notMatch(lines[0], /0000|1234/, `${what}: no PIN in the message`);
  }
});
