// Issue 3 end to end: a simulated minidriver card driven through the REST API exactly as an
// issuance client would: default key -> diversified key by challenge-response, server-proposed
// PIN, PIN blocked by wrong tries, unblocked through an OfflineUnblock request.
import t from 'tap';
import { DbSnapshots } from '../support/db-snapshot.js';
import { randomUUID } from 'node:crypto';
import { SimulatedSmartcard } from '../support/simcard.js';
import { startStack, BASE, type Stack } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { idOf, q } from '../support/api.js';

const VSC_DEFAULT_KEY = '010203040506070801020304050607080102030405060708';

async function template(s: Stack, overrides: Parameters<typeof restTemplate>[0]) {
  const admin = await s.as(USERS.admin);
  const res = await s.http('POST', `${BASE}/profiletemplates`, { token: admin, body: restTemplate(overrides) });
  t.equal(res.status, 201);
  return idOf(res.body);
}

async function enrolledCard(s: Stack, templateId: string, card: SimulatedSmartcard) {
  const user = await s.as(USERS.user);
  const req = await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll' } });
  const requestId = idOf(req.body);
  const bound = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: card.cardId, atr: card.atr } });
  return { requestId, cardUuid: idOf(bound.body), user };
}

t.test('a card is initialised, given a PIN, blocked and unblocked through the API', async (t) => {
  const s = await startStack();
  t.teardown(() => s.close());
  const templateId = await template(s, { defaultKey: VSC_DEFAULT_KEY, diversify: true, pinOption: 'ServerDistributed' });
  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: VSC_DEFAULT_KEY });
  const { requestId, cardUuid, user } = await enrolledCard(s, templateId, card);
  const base = `${BASE}/requests/${requestId}/smartcards/${cardUuid}`;

  // The executor reads the default key it needs to initialise the card.
  const config = await s.http('GET', `${BASE}/profiletemplates/${templateId}/configuration/smartcards`, { token: user });
  t.equal(config.body.DefaultAdminKeyHex, VSC_DEFAULT_KEY);

  const divKey = await s.http('GET', `${base}/diversifiedkey?${q({ cardid: card.cardId, atr: card.atr })}`, { token: user });
  t.equal(divKey.status, 200);
  const diversified = Buffer.from(divKey.body, 'base64');
  t.equal(diversified.length, 24);
  t.not(diversified.toString('hex'), VSC_DEFAULT_KEY);

  // Default key: answer the card's challenge, then switch it to its diversified key.
  let challenge = card.getChallenge();
  const r1 = await s.http('GET', `${base}/authenticationresponse?${q({ cardid: card.cardId, challenge: challenge.toString('base64'), diversified: 'False' })}`, { token: user });
  t.equal(r1.status, 200);
  t.ok(card.authenticateAdmin(r1.body), 'the card accepts the response computed with the default key');
  card.changeAdminKey(diversified.toString('hex'));
  t.ok(card.verifyAdminKeyIs(diversified.toString('hex')));

  // Diversified key: a fresh challenge; the query is URL-encoded once, as MIM clients send it.
  challenge = card.getChallenge();
  const r2 = await s.http('GET', `${base}/authenticationresponse?cardid=${card.cardId.toUpperCase()}&challenge=${encodeURIComponent(challenge.toString('base64'))}&diversified=TRUE&atr=${card.atr}`, { token: user });
  t.equal(r2.status, 200);
  t.ok(card.authenticateAdmin(r2.body), 'the card accepts the response computed with the diversified key');

  // Server-proposed PIN: generated once, the same on every call and on both paths.
  const pinQuery = q({ atr: card.atr, cardid: card.cardId, challenge: card.getChallenge({ fixed: Buffer.alloc(8, 7) }).toString('base64') });
  const pin1 = await s.http('GET', `${BASE}/smartcards/${cardUuid}/serverproposedpin?${pinQuery}`, { token: user });
  t.equal(pin1.status, 200);
  t.match(pin1.body, /^[0-9]{8}$/);
  const pin2 = await s.http('GET', `${BASE}/requests/${requestId}/smartcards/${cardUuid}/serverproposedpin?${pinQuery}`, { token: user });
  t.equal(pin2.body, pin1.body, 'a ServerDistributed PIN is stable until the request is final');
  const db = await DbSnapshots.open(s.core.database);
  t.teardown(() => db.close());
  const sealed = await db.rows<{ sealed: Buffer }>('SELECT sealed FROM server_pins');
  t.equal(sealed.length, 1, 'stored once');
  t.notOk(sealed[0]!.sealed.includes(Buffer.from(pin1.body)), 'stored encrypted');

  challenge = card.getChallenge();
  const r3 = await s.http('GET', `${base}/authenticationresponse?${q({ cardid: card.cardId, challenge: challenge.toString('base64'), diversified: 'true' })}`, { token: user });
  t.ok(card.authenticateAdmin(r3.body));
  card.setUserPin(pin1.body);
  t.ok(card.verifyUserPin(pin1.body));

  const done = await s.http('PUT', `${BASE}/requests/${requestId}`, { token: user, body: { status: 'Completed' } });
  t.equal(done.body.Status, 8);
  t.equal((await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token: user })).body.Status, 3, 'Active');
  t.equal((await db.row<{ n: number }>('SELECT count(*) AS n FROM server_pins'))?.n, 0, 'the PIN is erased when the request is final');
  const afterFinal = await s.http('GET', `${base}/diversifiedkey?${q({ cardid: card.cardId })}`, { token: user });
  t.equal(afterFinal.status, 409, 'no key material once the request is final');

  // Block the PIN, then unblock it by challenge-response through an OfflineUnblock request.
  for (let i = 0; i < 3; i++) t.notOk(card.verifyUserPin('00000000'));
  t.ok(card.isPinBlocked);
  const unblock = await s.http('POST', `${BASE}/requests`, { token: user, body: { type: 'OfflineUnblock', smartcard: cardUuid } });
  t.equal(unblock.status, 201);
  const unblockId = idOf(unblock.body);
  challenge = card.getChallenge();
  const r4 = await s.http('GET', `${BASE}/requests/${unblockId}/smartcards/${cardUuid}/authenticationresponse?${q({ cardid: card.cardId, challenge: challenge.toString('base64'), diversified: 'true' })}`, { token: user });
  t.equal(r4.status, 200);
  t.ok(card.unblockUserPin(r4.body, '24681357'));
  t.notOk(card.isPinBlocked);
  t.ok(card.verifyUserPin('24681357'));
  const unblocked = await s.http('PUT', `${BASE}/requests/${unblockId}`, { token: user, body: { status: 'Completed' } });
  t.equal(unblocked.body.Status, 8);

  const admin = await s.as(USERS.admin);
  const audit = await s.http('GET', `${BASE}/audit?smartcardid=${cardUuid}&limit=50`, { token: admin });
  const actions = audit.body.map((r: any) => `${r.Action}:${r.Outcome}`);
  for (const a of ['GetDiversifiedKey:Succeeded', 'GetAuthenticationResponse:Succeeded', 'GetServerProposedPin:Succeeded', 'GetDiversifiedKey:Refused']) {
    t.ok(actions.includes(a), `audited ${a}`);
  }
});

t.test('the checks of SPEC 3, in their order, each audited when refused', async (t) => {
  const s = await startStack({ CM_MAX_RESPONSES_PER_REQUEST: '2' });
  t.teardown(() => s.close());
  const templateId = await template(s, { diversify: true, pinOption: 'UserProvided' });
  const plainTemplate = await template(s, { name: 'No diversification', diversify: false, pinOption: 'Randomized' });
  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: '00'.repeat(24) });
  const { requestId, cardUuid, user } = await enrolledCard(s, templateId, card);
  const base = `${BASE}/requests/${requestId}/smartcards/${cardUuid}`;
  const chal = Buffer.alloc(8, 1).toString('base64');
  const get = (path: string, params: Record<string, string>, token = user) => s.http('GET', `${path}?${q(params)}`, { token });

  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal })).status, 400, 'diversified is required');
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal, diversified: 'yes' })).status, 400, 'boolean syntax');
  t.equal((await get(`${base}/authenticationresponse`, { cardid: 'not-a-guid', challenge: chal, diversified: 'false' })).status, 400);
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: '%%%', diversified: 'false' })).status, 400);
  const other = await s.as(USERS.other);
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal, diversified: 'false' }, other)).status, 404, 'not visible');
  const approver = await s.as(USERS.approver);
  const forbidden = await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal, diversified: 'false' }, approver);
  t.equal(forbidden.status, 403, 'visible to an approver, who is not an executor');
  const admin = await s.as(USERS.admin);
  t.equal((await get(`${base}/diversifiedkey`, { cardid: card.cardId }, admin)).status, 403, 'administrators get no key material');
  const mismatch = await get(`${base}/authenticationresponse`, { cardid: randomUUID(), challenge: chal, diversified: 'false' });
  t.equal(mismatch.status, 409);
  t.equal(mismatch.body.Code, 'CARD_MISMATCH');
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, atr: '3b00', challenge: chal, diversified: 'false' })).body.Code, 'CARD_MISMATCH');
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: Buffer.alloc(7).toString('base64'), diversified: 'false' })).status, 400, 'not whole blocks');
  t.equal((await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: Buffer.alloc(72).toString('base64'), diversified: 'false' })).status, 400, 'over 64 bytes');
  t.equal((await get(`${BASE}/smartcards/${cardUuid}/serverproposedpin`, { cardid: card.cardId, challenge: chal })).status, 204, 'UserProvided PIN: no content');

  for (let i = 0; i < 2; i++) {
    const answer = await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal, diversified: 'false' });
    t.equal(answer.status, 200, `response ${i + 1} of the 2 allowed: ${JSON.stringify(answer.body)}`);
  }
  const limited = await get(`${base}/authenticationresponse`, { cardid: card.cardId, challenge: chal, diversified: 'false' });
  t.equal(limited.status, 409);
  t.equal(limited.body.Code, 'LIMIT_EXCEEDED');

  const plainCard = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: '00'.repeat(24) });
  const plain = await enrolledCard(s, plainTemplate, plainCard);
  const plainBase = `${BASE}/requests/${plain.requestId}/smartcards/${plain.cardUuid}`;
  t.equal((await get(`${plainBase}/diversifiedkey`, { cardid: plainCard.cardId })).body.Code, 'WRONG_STATE', 'the template does not diversify');
  t.equal((await get(`${plainBase}/authenticationresponse`, { cardid: plainCard.cardId, challenge: chal, diversified: 'true' })).body.Code, 'WRONG_STATE');
  const a = await get(`${BASE}/smartcards/${plain.cardUuid}/serverproposedpin`, { cardid: plainCard.cardId, challenge: chal });
  const b = await get(`${BASE}/smartcards/${plain.cardUuid}/serverproposedpin`, { cardid: plainCard.cardId, challenge: chal });
  t.equal(a.status, 200);
  t.not(a.body, b.body, 'Randomized: a fresh PIN every call');
  t.equal(((await s.http('GET', `${BASE}/audit?limit=1000`, { token: admin })).body as any[]).filter((r) => r.Action === 'GetServerProposedPin').length, 3);
  const db = await DbSnapshots.open(s.core.database);
  t.equal((await db.row<{ n: number }>('SELECT count(*) AS n FROM server_pins'))?.n, 0, 'Randomized PINs are never stored');
  await db.close();

  const refusals = (await s.http('GET', `${BASE}/audit?requestid=${requestId}&limit=1000`, { token: admin })).body.filter((r: any) => r.Outcome === 'Refused');
  const codes = refusals.map((r: any) => JSON.parse(r.Detail).code).sort();
  t.same(codes, ['CARD_MISMATCH', 'CARD_MISMATCH', 'FORBIDDEN', 'FORBIDDEN', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'LIMIT_EXCEEDED', 'NOT_FOUND'].sort(), 'refusals reaching the core are audited with their code');
});
