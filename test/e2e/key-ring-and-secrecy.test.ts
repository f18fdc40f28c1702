// Key rotation (an old card keeps answering with its key version) and secrecy: no key,
// challenge-response or PIN in the logs, error bodies or audit rows of the sensitive calls.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { MASTER_KEY_V1, JWT_SECRET } from '../support/core-harness.js';
import { SimulatedSmartcard } from '../support/simcard.js';
import { startStack, BASE, type Stack } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { idOf, q } from '../support/api.js';
import vectors from '../vectors/card-crypto.json' with { type: 'json' };

const MASTER_KEY_V2 = '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
const expectedKey = (master: string, cardid: string) =>
  vectors.diversification.find((v) => v.algorithm === '3DES' && v.masterKeyHex === master && v.cardid === cardid)!.diversifiedKeyHex;

async function bindCard(s: Stack, templateId: string, cardId: string) {
  const user = await s.as(USERS.user);
  const req = idOf((await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll' } })).body);
  const card = idOf((await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: req, cardid: cardId } })).body);
  return { req, card, user };
}

t.test('a rotated key ring: old cards keep their version, new cards use the newest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-ring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const oldCardId = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
  const newCardId = 'c6bad97c-f97f-4920-8947-be980c98c6b5';

  const first = await startStack({ CM_MASTER_KEYS: `1:${MASTER_KEY_V1}` }, { dir });
  const admin = await first.as(USERS.admin);
  const templateId = idOf((await first.http('POST', `${BASE}/profiletemplates`, { token: admin, body: restTemplate() })).body);
  const old = await bindCard(first, templateId, oldCardId);
  await first.close();

  const missing = await startStack({ CM_MASTER_KEYS: `2:${MASTER_KEY_V2}` }, { dir }).then(
    (s) => s.close().then(() => 'started'),
    (err: Error) => err.message,
  );
  t.match(missing, /key version\(s\) 1/, 'start-up refuses a ring that lacks a version cards use');

  const second = await startStack({ CM_MASTER_KEYS: `1:${MASTER_KEY_V1},2:${MASTER_KEY_V2}` }, { dir });
  t.teardown(() => second.close());
  const fresh = await bindCard(second, templateId, newCardId);
  const keyOf = async (b: { req: string; card: string; user: string }, cardid: string) =>
    Buffer.from((await second.http('GET', `${BASE}/requests/${b.req}/smartcards/${b.card}/diversifiedkey?${q({ cardid })}`, { token: b.user })).body, 'base64').toString('hex');
  t.equal(await keyOf(old, oldCardId), expectedKey(MASTER_KEY_V1, oldCardId), 'the old card still uses version 1');
  t.equal(await keyOf(fresh, newCardId), expectedKey(MASTER_KEY_V2, newCardId), 'a new card uses version 2');

  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: expectedKey(MASTER_KEY_V1, oldCardId), cardId: oldCardId });
  const challenge = card.getChallenge();
  const res = await second.http('GET', `${BASE}/requests/${old.req}/smartcards/${old.card}/authenticationresponse?${q({ cardid: oldCardId, challenge: challenge.toString('base64'), diversified: 'true' })}`, { token: old.user });
  t.ok(card.authenticateAdmin(res.body), 'the old card answers with its version-1 key after rotation');
});

t.test('no secret reaches the logs, the error bodies or the audit rows', async (t) => {
  const logged: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged.push(String(chunk));
      done();
    },
  });
  const log = pino({ level: 'trace' }, sink);
  const s = await startStack({ CM_LOG_LEVEL: 'trace' }, { log });
  t.teardown(() => s.close());
  const admin = await s.as(USERS.admin);
  const secrets = new Set<string>([MASTER_KEY_V1, JWT_SECRET]);
  const templateId = idOf((await s.http('POST', `${BASE}/profiletemplates`, { token: admin, body: restTemplate({ defaultKey: 'a1'.repeat(24), pinOption: 'ServerDistributed' }) })).body);
  secrets.add('a1'.repeat(24));
  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: 'a1'.repeat(24) });
  const { req, card: cardUuid, user } = await bindCard(s, templateId, card.cardId);
  secrets.add(user);
  const base = `${BASE}/requests/${req}/smartcards/${cardUuid}`;
  const bodies: string[] = [];
  const call = async (path: string) => {
    const res = await s.http('GET', path, { token: user });
    if (res.status >= 400) bodies.push(res.raw.toString());
    return res;
  };
  const key = (await call(`${base}/diversifiedkey?${q({ cardid: card.cardId })}`)).body as string;
  secrets.add(key).add(Buffer.from(key, 'base64').toString('hex'));
  for (const diversified of ['false', 'true']) {
    const r = (await call(`${base}/authenticationresponse?${q({ cardid: card.cardId, challenge: card.getChallenge().toString('base64'), diversified })}`)).body as string;
    secrets.add(r).add(Buffer.from(r, 'base64').toString('hex'));
  }
  const pin = (await call(`${base}/serverproposedpin?${q({ cardid: card.cardId, challenge: card.getChallenge().toString('base64') })}`)).body as string;
  secrets.add(pin);
  // Refusals too: their bodies must not carry what was asked for.
  await call(`${base}/authenticationresponse?${q({ cardid: '00000000-0000-0000-0000-000000000001', challenge: card.getChallenge().toString('base64'), diversified: 'true' })}`);
  await call(`${base}/serverproposedpin?${q({ cardid: card.cardId, challenge: 'AAAA' })}`);
  t.ok(bodies.length >= 2);

  const audit = JSON.stringify((await s.http('GET', `${BASE}/audit?limit=1000`, { token: admin })).body);
  const everything = { logs: logged.join(''), bodies: bodies.join('\n'), audit };
  t.ok(everything.logs.length > 1000, 'the logs were captured');
  for (const secret of secrets) {
    for (const [where, text] of Object.entries(everything)) {
      t.notOk(text.includes(secret), `a secret (${secret.length} chars) is not in the ${where}`);
    }
  }
});
