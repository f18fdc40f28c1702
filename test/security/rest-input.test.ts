// Issue 9 items 2, 3 and 6 over REST: JSON types in a body are never coerced (SPEC 2), a deeply
// nested body is a 400 and never a 500, and a card the caller cannot see is answered exactly
// like a card that does not exist. Every refusal changes nothing in the database.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { apiFor, q, startStackWithDb } from '../support/api.js';
import { expectRefused } from '../support/db-snapshot.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { BASE } from '../support/stack.js';

t.test('REST input', async (t) => {
  const { s, db } = await startStackWithDb(t);
  const api = await apiFor(s);
  const { tokens } = api;
  const template = await api.createTemplate(restTemplate());
  const request = await api.createRequest(tokens.user, { type: 'Enroll', profiletemplateuuid: template });
  const cardId = randomUUID();
  const card = await api.bind(tokens.user, request, cardId);
  const cardPath = `${BASE}/requests/${request}/smartcards/${card}`;

  t.test('item 2: a body value of the wrong JSON type is a 400 and changes nothing', async (t) => {
    const cases: [string, string, string, object][] = [
      ['status as an array of a name', 'PUT', cardPath, { status: ['Retired'] }],
      ['status as an array of a number', 'PUT', cardPath, { status: [6] }],
      ['status as an object', 'PUT', cardPath, { status: { Retired: true } }],
      ['status as a boolean', 'PUT', cardPath, { status: true }],
      ['request type as an array', 'POST', `${BASE}/requests`, { type: ['Enroll'], profiletemplateuuid: template }],
      ['request status as an array', 'PUT', `${BASE}/requests/${request}`, { status: ['Canceled'] }],
      ['bind with arrays', 'POST', `${BASE}/smartcards`, { requestid: [request], cardid: [randomUUID()] }],
      ['priority as an array', 'POST', `${BASE}/requests`, { type: 'Enroll', profiletemplateuuid: template, priority: [5] }],
      ['priority as a non-numeric string', 'POST', `${BASE}/requests`, { type: 'Enroll', profiletemplateuuid: template, priority: '5x' }],
      ['comment as a number', 'POST', `${BASE}/requests`, { type: 'Enroll', profiletemplateuuid: template, comment: 5 }],
      ['template boolean as a string', 'POST', `${BASE}/profiletemplates`, { ...restTemplate({ name: 'coerced' }), SmartcardConfiguration: { DiversifyAdminKey: 'true' } }],
    ];
    for (const [label, method, path, body] of cases) {
      const token = path.endsWith('profiletemplates') ? tokens.admin : tokens.user;
      await expectRefused(t, db, label, () => s.http(method, path, { token, body }), 400, 'INVALID_ARGUMENT');
    }
    t.equal((await s.http('GET', `${BASE}/smartcards/${card}`, { token: tokens.user })).body.Status, 2, 'the card is still Assigned');
  });

  t.test('item 2: the documented leniencies stay', async (t) => {
    const byNumber = await s.http('POST', `${BASE}/requests`, { token: tokens.user, body: { type: 1, profiletemplateuuid: template, priority: 3 } });
    t.equal(byNumber.status, 201, 'an enum as its number, priority as a number');
    const byString = await s.http('POST', `${BASE}/requests`, { token: tokens.user, body: { type: 'enroll', profiletemplateuuid: template, priority: ' 7 ' } });
    t.equal(byString.status, 201, 'an enum name in any case, priority as a numeric string');
    const stored = await s.http('GET', `${BASE}/requests/${byString.body.split('/').pop()}`, { token: tokens.user });
    t.equal(stored.body.Priority, 7);
    const query = await s.http('GET', `${BASE}/requests/${request}/smartcards/${card}/authenticationresponse?${q({ cardid: cardId, challenge: '1hFD+cz/0so=', diversified: 'False' })}`, { token: tokens.user });
    t.equal(query.status, 200, `query strings keep their parsing (diversified=False): ${JSON.stringify(query.body)}`);
    const audit = await s.http('GET', `${BASE}/audit?${q({ limit: '3' })}`, { token: tokens.admin });
    t.equal(audit.status, 200, 'a query number is parsed from its text');
    t.equal(audit.body.length, 3);
    const retire = await s.http('PUT', cardPath, { token: tokens.user, body: { status: 6 } });
    t.equal(retire.status, 200, 'a card status as its number');
    t.equal(retire.body.Status, 6);
  });

  t.test('item 3: a deeply nested body is a 400, never a 500', async (t) => {
    for (const depth of [33, 1000, 10_000]) {
      const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      const rawBody = `{"type":"Enroll","profiletemplateuuid":"${template}","comment":${deep}}`;
      await expectRefused(t, db, `nested ${depth} levels`, () => s.http('POST', `${BASE}/requests`, { token: tokens.user, rawBody, headers: { 'content-type': 'application/json' } }), 400, 'INVALID_ARGUMENT');
      const arrays = '['.repeat(depth) + ']'.repeat(depth);
      await expectRefused(t, db, `arrays nested ${depth} levels`, () => s.http('POST', `${BASE}/requests`, { token: tokens.user, rawBody: `{"x":${arrays}}`, headers: { "content-type": "application/json" } }), 400, 'INVALID_ARGUMENT');
      await expectRefused(t, db, `nested ${depth} levels, no token`, () => s.http('POST', `${BASE}/requests`, { rawBody }), 401, 'UNAUTHENTICATED');
    }
    const shallow = await s.http('POST', `${BASE}/requests`, { token: tokens.user, body: { type: 'Enroll', profiletemplateuuid: template, datacollection: [{ City: 'Seattle' }] } });
    t.equal(shallow.status, 201, 'an ordinary body still passes');
  });

  t.test("item 6: another user's card is answered like a card that does not exist", async (t) => {
    const active = await api.createRequest(tokens.user, { type: 'Enroll', profiletemplateuuid: template });
    const activeCard = await api.bind(tokens.user, active, randomUUID());
    const probe = (smartcard: string) => () =>
      s.http('POST', `${BASE}/requests`, { token: tokens.other, body: { type: 'Retire', smartcard, target: USERS.user.sub } });
    const theirs = await expectRefused(t, db, "B names A's card", probe(activeCard), 400, 'INVALID_ARGUMENT');
    const none = await expectRefused(t, db, 'B names a card that does not exist', probe(randomUUID()), 400, 'INVALID_ARGUMENT');
    t.equal(theirs.body.Message, none.body.Message, 'the same message');
    const asSelf = await expectRefused(t, db, 'B names it for themself', () => s.http('POST', `${BASE}/requests`, { token: tokens.other, body: { type: 'Retire', smartcard: activeCard } }), 400, 'INVALID_ARGUMENT');
    t.equal(asSelf.body.Message, none.body.Message, 'the same message');
    // Someone who may initiate the request type on the card's template still gets past this check.
    const agent = await s.http('POST', `${BASE}/requests`, { token: tokens.agent, body: { type: 'Retire', smartcard: activeCard, target: USERS.user.sub } });
    t.not(agent.status, 400, `an authorised initiator is not told the card is missing (${agent.status})`);
  });
});
