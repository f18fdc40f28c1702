// Foundation, end to end over REST: the seed pages (000/001 bind a card, 002 set its status) and
// the smart card routes around them (SPEC 5.1, 6, 7): POST /smartcards, PUT
// /requests/{reqid}/smartcards/{scid}, GET /smartcards/{id}, GET /smartcards?cardid=,
// GET /smartcards/{id}/operations. Every refusal is checked for its status, its error body and
// that storage is left exactly as it was. The expectations are written from the SPEC.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { BASE } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { expectRefused, expectSame } from '../support/db-snapshot.js';
import { apiFor, GUID, idOf, JSON_UTF8, NIL, startStackWithDb, storedStatus } from '../support/api.js';

const SEED_CARDID = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
const SEED_ATR = '3b8d0180fba000000397425446590301c8';
/** The 13 properties of the seed 002 example, SPEC 5.1. */
const SMARTCARD_KEYS = [
  'Uuid',
  'Status',
  'Flags',
  'ParentSmartcardUuid',
  'PrimarySmartcardUuid',
  'PermanentSmartcardUuid',
  'AssignedUserUuid',
  'ProfileTemplateUuid',
  'ProfileTemplateVersion',
  'Comment',
  'SerialNumber',
  'Middleware',
  'Atr',
];
const S = { Assigned: 2, Active: 3, Disabled: 4, Suspended: 5, Retired: 6 } as const;
const RS = { Pending: 1, Denied: 2, Approved: 3, Executing: 4, Failed: 5, Canceled: 6, Completed: 8 } as const;
const REQUEST_TYPE_NAMES = [
  'Enroll',
  'Duplicate',
  'Renew',
  'Recover',
  'Unblock',
  'OfflineUnblock',
  'OnlineUpdate',
  'Retire',
  'Revoke',
  'Reinstate',
  'RecoverOnBehalf',
  'TemporaryCards',
];

const compact = (cardId: string) => cardId.replace(/[-{}]/g, '').toLowerCase();

const { s, db } = await startStackWithDb(t);
const { tokens, createTemplate, createRequest, bind, setRequest, setCard } = await apiFor(s);
const { admin, agent, user, approver, other } = tokens;
const { cardStatus, requestStatus } = storedStatus(db);

const templateId = await createTemplate(restTemplate());
const pendingTemplateId = await createTemplate(restTemplate({ name: 'Needs one approval', approvals: 1 }));
const reuseTemplateId = await createTemplate(restTemplate({ name: 'Reuse allowed', reuse: true }));

type CardState = keyof typeof S;

/** A card of USERS.user in the given status, reached through the REST routes (SPEC 6). */
async function cardIn(status: CardState, template = templateId): Promise<{ requestId: string; cardUuid: string; cardId: string }> {
  const requestId = await createRequest(user, { profiletemplateuuid: template, type: 'Enroll' });
  const cardId = randomUUID();
  const cardUuid = await bind(user, requestId, cardId);
  if (status === 'Assigned') return { requestId, cardUuid, cardId };
  await setRequest(user, requestId, 'Completed');
  const via = async (type: string, to: string) => {
    const r = await createRequest(agent, { type, target: USERS.user.sub, smartcard: cardUuid });
    await setCard(agent, r, cardUuid, to);
    await setRequest(agent, r, 'Completed');
  };
  if (status === 'Suspended') await via('Reinstate', 'Suspended');
  if (status === 'Disabled') await via('Revoke', 'Disabled');
  if (status === 'Retired') await via('Retire', 'Retired');
  if ((await cardStatus(cardUuid)) !== S[status]) throw new Error(`could not bring a card to ${status}`);
  return { requestId, cardUuid, cardId };
}

t.test('seed 000/001/002: bind with the seed body and mixed-case path, retry, retire', async (t) => {
  const requestId = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  t.equal((await requestStatus(requestId)), RS.Approved, 'a self-service Enroll with ApprovalsNeeded 0 is Approved at creation');

  // Seed 000: the Swedish page's URL casing; the body exactly as the seed writes it.
  const bound = await s.http('POST', '/CertificateManagement/API/v1.0/SmartCards', {
    token: user,
    body: { requestid: requestId, cardid: SEED_CARDID, atr: SEED_ATR },
  });
  t.equal(bound.status, 201, '201 Created');
  t.match(bound.headers.get('content-type'), JSON_UTF8);
  t.equal(typeof bound.body, 'string', 'the body is a bare JSON string');
  t.match(bound.body, /^api\/v1\.0\/smartcards\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(bound.raw.toString('utf8'), JSON.stringify(bound.body), 'raw body is exactly "api/v1.0/smartcards/<uuid>"');
  const cardUuid = idOf(bound.body);
  t.match(cardUuid, GUID, 'a lower-case GUID');
  t.equal(bound.headers.get('location'), `/CertificateManagement/api/v1.0/smartcards/${cardUuid}`, 'Location: absolute path of the new card');
  t.ok(bound.headers.get('x-correlation-id'), 'X-Correlation-Id on success too');

  // The state left behind: one Assigned card record, the request bound to it and Executing.
  const row = (await db.row<Record<string, unknown>>('SELECT * FROM smartcards WHERE uuid = ?', cardUuid))!;
  t.ok(row, 'the card record is stored');
  t.equal(row.status, S.Assigned, 'stored Assigned');
  t.equal(compact(String(row.card_id)), compact(SEED_CARDID), 'stored with the cardid');
  t.equal(row.atr, SEED_ATR);
  t.equal(row.assigned_user_uuid, USERS.user.sub);
  t.equal(row.profile_template_uuid, templateId);
  const cardRows = (await db.rows<{ card_id: string }>('SELECT card_id FROM smartcards')).filter((r) => compact(r.card_id) === compact(SEED_CARDID));
  t.equal(cardRows.length, 1, 'one card record with that cardid');
  const req = (await db.row<{ status: number; new_smartcard_uuid: string }>('SELECT status, new_smartcard_uuid FROM requests WHERE uuid = ?', requestId))!;
  t.equal(req.status, RS.Executing, 'binding moves the request Approved -> Executing');
  t.equal(req.new_smartcard_uuid, cardUuid, 'the request records its new card');
  const viaRest = await s.http('GET', `${BASE}/requests/${requestId}`, { token: user });
  t.equal(viaRest.body.NewSmartcardUuid, cardUuid);
  t.equal(viaRest.body.Status, RS.Executing);

  const card = await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token: user });
  t.equal(card.status, 200);
  t.same(Object.keys(card.body).sort(), [...SMARTCARD_KEYS].sort(), 'GET /smartcards/{id}: the 13 properties');
  t.strictSame(card.body, {
    Uuid: cardUuid,
    Status: S.Assigned,
    Flags: 1,
    ParentSmartcardUuid: NIL,
    PrimarySmartcardUuid: NIL,
    PermanentSmartcardUuid: NIL,
    AssignedUserUuid: USERS.user.sub,
    ProfileTemplateUuid: templateId,
    ProfileTemplateVersion: 1,
    Comment: '',
    SerialNumber: `{${SEED_CARDID}}`,
    Middleware: 'MSBaseCSP',
    Atr: SEED_ATR,
  });

  // The idempotent retry: 204, no body, nothing changed; cardid compared normalised, atr optional.
  const retries: [string, object][] = [
    ['the exact retry', { requestid: requestId, cardid: SEED_CARDID, atr: SEED_ATR }],
    ['upper case and braces', { requestid: `{${requestId.toUpperCase()}}`, cardid: `{${SEED_CARDID.toUpperCase()}}`, atr: SEED_ATR.toUpperCase() }],
    ['without atr', { requestid: requestId, cardid: SEED_CARDID }],
    ['other casing of the names', { RequestId: requestId, CARDID: SEED_CARDID, Atr: SEED_ATR }],
  ];
  for (const [label, body] of retries) {
    const before = (await db.take());
    const retry = await s.http('POST', '/CertificateManagement/API/v1.0/SmartCards', { token: user, body });
    t.equal(retry.status, 204, `${label}: 204`);
    t.equal(retry.raw.length, 0, `${label}: no body`);
    t.equal(retry.headers.get('location'), null, `${label}: no Location on 204`);
    t.ok(retry.headers.get('x-correlation-id'), `${label}: X-Correlation-Id`);
    expectSame(t, (await db.take()), before, `${label}: nothing changed`);
  }
  await expectRefused(
    t,
    db,
    'retry with another atr',
    () => s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: SEED_CARDID, atr: '3b00' } }),
    409,
    'REQUEST_ALREADY_BOUND',
  );
  await expectRefused(
    t,
    db,
    'another cardid on a bound request',
    () => s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: randomUUID(), atr: SEED_ATR } }),
    409,
    'REQUEST_ALREADY_BOUND',
  );

  // Seed 002: the lower-case path of the example; initialisation given up, Assigned -> Retired.
  const put = await s.http('PUT', `/certificatemanagement/api/v1.0/requests/${requestId}/smartcards/${cardUuid}`, {
    token: user,
    body: { status: 'Retired' },
  });
  t.equal(put.status, 200, '200 OK');
  t.match(put.headers.get('content-type'), JSON_UTF8);
  t.same(Object.keys(put.body).sort(), [...SMARTCARD_KEYS].sort(), 'exactly the 13 keys of the seed 002 example');
  t.strictSame(put.body, {
    Uuid: cardUuid,
    Status: 6,
    Flags: 1,
    ParentSmartcardUuid: NIL,
    PrimarySmartcardUuid: NIL,
    PermanentSmartcardUuid: NIL,
    AssignedUserUuid: USERS.user.sub,
    ProfileTemplateUuid: templateId,
    ProfileTemplateVersion: 1,
    Comment: '',
    SerialNumber: '{bc88f13f-83ba-4037-8262-46eba1291c6e}',
    Middleware: 'MSBaseCSP',
    Atr: '3b8d0180fba000000397425446590301c8',
  });
  t.equal((await cardStatus(cardUuid)), S.Retired, 'stored Retired');
  t.equal((await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token: user })).body.Status, S.Retired);

  // Setting the status the card already has: 200, a no-op.
  const before = (await db.take());
  const again = await s.http('PUT', `${BASE}/requests/${requestId}/smartcards/${cardUuid}`, { token: user, body: { status: 'retired' } });
  t.equal(again.status, 200, 'the same status again: 200');
  t.equal(again.body.Status, S.Retired);
  expectSame(t, (await db.take()), before, 'the no-op changed nothing');
  await expectRefused(
    t,
    db,
    'Retired is final',
    () => s.http('PUT', `${BASE}/requests/${requestId}/smartcards/${cardUuid}`, { token: user, body: { status: 'Active' } }),
    409,
    'INVALID_TRANSITION',
  );

  // SPEC 6: completing a card-issuing request whose card was retired answers 409 and fails it.
  const done = await s.http('PUT', `${BASE}/requests/${requestId}`, { token: user, body: { status: 'Completed' } });
  t.equal(done.status, 409, 'completion with a retired card: 409');
  t.equal(done.body?.Code, 'WRONG_STATE');
  t.equal(done.body?.CorrelationId, done.headers.get('x-correlation-id'));
  t.equal((await requestStatus(requestId)), RS.Failed, 'the request is Failed');
  const failed = await s.http('GET', `${BASE}/requests/${requestId}`, { token: user });
  t.equal(failed.body.Status, RS.Failed);
  t.not(failed.body.Completed, '0001-01-01T00:00:00Z', 'a final request has its Completed time');

  // The cardid is free again (Retired is not live): a new record, and ?cardid= finds the newest.
  const second = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  const secondCard = await bind(user, second, SEED_CARDID.toUpperCase(), SEED_ATR);
  t.not(secondCard, cardUuid, 'a new card record');
  t.equal((await db.rows<{ card_id: string }>('SELECT card_id FROM smartcards')).filter((r) => compact(r.card_id) === compact(SEED_CARDID)).length, 2);
  const found = await s.http('GET', `${BASE}/smartcards?cardid=${SEED_CARDID}`, { token: user });
  t.equal(found.status, 200);
  t.equal(found.body.Uuid, secondCard, 'GET /smartcards?cardid= returns the newest record with that cardid');
  t.equal(found.body.SerialNumber, `{${SEED_CARDID}}`, 'SerialNumber lower case even when the cardid was sent upper case');
  t.equal(found.body.Status, S.Assigned);
  t.equal(found.body.Flags & 1, 1, 'an Enroll card is Primary');
  const foundCaseless = await s.http('GET', `${BASE}/SmartCards?CardId=%7B${SEED_CARDID.toUpperCase()}%7D`, { token: user });
  t.equal(foundCaseless.status, 200, 'query name cardId in any case; a braced upper-case value');
  t.equal(foundCaseless.body.Uuid, secondCard);
});

t.test('mixed-case paths and GUID forms on the card routes', async (t) => {
  const { cardUuid, cardId, requestId } = await cardIn('Assigned');
  const expected = (await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token: user })).body;
  for (const path of [
    `/certificatemanagement/API/V1.0/SMARTCARDS/${cardUuid}`,
    `/CERTIFICATEMANAGEMENT/api/v1.0/smartcards/${cardUuid.toUpperCase()}`,
    `${BASE}/smartcards/%7B${cardUuid}%7D`,
    `${BASE}/SmartCards?cardid=${cardId.toUpperCase()}`,
    `${BASE}/smartcards?cardId=${compact(cardId)}`,
  ]) {
    const res = await s.http('GET', path, { token: user });
    t.equal(res.status, 200, `GET ${path}`);
    t.strictSame(res.body, expected, `GET ${path}: the same card`);
  }
  const ops = await s.http('GET', `/CertificateManagement/API/v1.0/SmartCards/${cardUuid.toUpperCase()}/Operations`, { token: agent });
  t.equal(ops.status, 200, 'operations path in any case');
  t.same(ops.body, ['retire']);
  const put = await s.http('PUT', `/CERTIFICATEMANAGEMENT/Api/V1.0/Requests/{${requestId.toUpperCase()}}/SmartCards/{${cardUuid.toUpperCase()}}`, {
    token: user,
    body: { STATUS: 'RETIRED' },
  });
  t.equal(put.status, 200, 'PUT with braces, upper case, and STATUS/RETIRED in any case');
  t.equal(put.body.Uuid, cardUuid, 'GUIDs are written lower case');
  t.equal(put.body.Status, S.Retired);
  t.equal((await cardStatus(cardUuid)), S.Retired);
});

t.test('binding: the card record is as SPEC 5.1 says', async (t) => {
  const middlewareTemplate = await createTemplate({
    ...restTemplate({ name: 'ATR mapped' }),
    SmartcardConfiguration: { ...restTemplate().SmartcardConfiguration, AtrMiddleware: [{ AtrPrefixHex: '3B8D01', Middleware: 'Contoso Minidriver' }] },
  });
  const requestId = await createRequest(user, { profiletemplateuuid: middlewareTemplate, type: 'Enroll' });
  const cardId = randomUUID();
  const res = await s.http('POST', `${BASE}/smartcards`, {
    token: user,
    body: { requestid: requestId, cardid: `{${cardId.toUpperCase()}}`, atr: SEED_ATR.toUpperCase() },
  });
  t.equal(res.status, 201);
  const card = (await s.http('GET', `${BASE}/smartcards/${idOf(res.body)}`, { token: user })).body;
  t.equal(card.SerialNumber, `{${cardId}}`, 'SerialNumber: the cardid in braces, lower case');
  t.equal(card.Atr, SEED_ATR, 'Atr lower-case hex');
  t.equal(card.Middleware, 'Contoso Minidriver', 'the template maps the ATR to its middleware');
  t.equal(card.Comment, '');
  t.equal(card.Flags, 1, 'Primary');
  t.equal(card.AssignedUserUuid, USERS.user.sub);
  t.equal(card.ProfileTemplateUuid, middlewareTemplate);
  t.equal(card.ProfileTemplateVersion, 1);
  t.equal((await db.row<{ atr: string }>('SELECT atr FROM smartcards WHERE uuid = ?', card.Uuid))?.atr, SEED_ATR, 'stored lower case');

  const other = await createRequest(user, { profiletemplateuuid: middlewareTemplate, type: 'Enroll' });
  const plain = await bind(user, other, randomUUID(), '3b00');
  t.equal((await s.http('GET', `${BASE}/smartcards/${plain}`, { token: user })).body.Middleware, 'MSBaseCSP', 'unmapped ATR: MSBaseCSP');
  const noAtr = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  const noAtrCard = await bind(user, noAtr);
  const noAtrBody = (await s.http('GET', `${BASE}/smartcards/${noAtrCard}`, { token: user })).body;
  t.equal(noAtrBody.Middleware, 'MSBaseCSP');
  t.equal(noAtrBody.Atr, '', 'atr is optional');
});

t.test('POST /smartcards: every refusal, nothing changed', async (t) => {
  const requestId = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  const post = (body: unknown, token: string = user) => () => s.http('POST', `${BASE}/smartcards`, { token, body });
  const cardId = randomUUID();

  // 400: syntax and body shape.
  for (const [label, body] of [
    ['requestid not a GUID', { requestid: 'not-a-guid', cardid: cardId }],
    ['requestid a number', { requestid: 42, cardid: cardId }],
    ['requestid with one brace', { requestid: `{${requestId}`, cardid: cardId }],
    ['cardid not a GUID', { requestid: requestId, cardid: 'bc88f13f-83ba-4037-8262' }],
    ['cardid a number', { requestid: requestId, cardid: 12345 }],
    ['requestid missing', { cardid: cardId }],
    ['cardid missing', { requestid: requestId }],
    ['empty object', {}],
    ['atr not hex', { requestid: requestId, cardid: cardId, atr: 'zz' }],
    ['atr odd length', { requestid: requestId, cardid: cardId, atr: '3b8' }],
    ['atr one byte', { requestid: requestId, cardid: cardId, atr: '3b' }],
    ['atr 34 bytes', { requestid: requestId, cardid: cardId, atr: '3b'.repeat(34) }],
  ] as const) {
    await expectRefused(t, db, `POST /smartcards, ${label}`, post(body), 400);
  }
  t.equal((await requestStatus(requestId)), RS.Approved, 'the request is still Approved and unbound');

  // 404: no such request; a request the caller may not see.
  await expectRefused(t, db, 'POST /smartcards, unknown request', post({ requestid: randomUUID(), cardid: cardId }), 404);
  await expectRefused(t, db, 'POST /smartcards, request not visible to the caller', post({ requestid: requestId, cardid: cardId }, other), 404);

  // 403: visible but not an executor (an approver of the template; an administrator).
  await expectRefused(t, db, 'POST /smartcards by an approver who is not an executor', post({ requestid: requestId, cardid: cardId }, approver), 403);
  await expectRefused(t, db, 'POST /smartcards by an administrator who is not an executor', post({ requestid: requestId, cardid: cardId }, admin), 403);

  // 409 WRONG_STATE: Pending; a request type that issues no card; final requests.
  const pending = await createRequest(user, { profiletemplateuuid: pendingTemplateId, type: 'Enroll' });
  t.equal((await requestStatus(pending)), RS.Pending, 'ApprovalsNeeded 1: Pending at creation');
  await expectRefused(t, db, 'POST /smartcards on a Pending request', post({ requestid: pending, cardid: cardId }), 409, 'WRONG_STATE');
  const active = await cardIn('Active');
  const retire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: active.cardUuid });
  await expectRefused(t, db, 'POST /smartcards on a Retire request', post({ requestid: retire, cardid: cardId }, agent), 409, 'WRONG_STATE');
  await expectRefused(t, db, 'POST /smartcards on a Completed request', post({ requestid: active.requestId, cardid: cardId }), 409, 'WRONG_STATE');
  const canceled = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  await setRequest(user, canceled, 'Canceled');
  await expectRefused(t, db, 'POST /smartcards on a Canceled request', post({ requestid: canceled, cardid: cardId }), 409, 'WRONG_STATE');

  // 409 CARD_IN_USE: the cardid of a live card (Assigned, Active, Suspended).
  const assigned = await cardIn('Assigned');
  const suspended = await cardIn('Suspended');
  for (const [label, held] of [
    ['Assigned', assigned.cardId],
    ['Active', active.cardId],
    ['Suspended', suspended.cardId],
    ['Active, cardid sent upper case in braces', `{${active.cardId.toUpperCase()}}`],
  ] as const) {
    await expectRefused(t, db, `POST /smartcards, cardid of a ${label} card`, post({ requestid: requestId, cardid: held }), 409, 'CARD_IN_USE');
  }
  t.equal((await requestStatus(requestId)), RS.Approved, 'still Approved and unbound after all refusals');
  t.equal((await db.row<{ new_smartcard_uuid: string }>('SELECT new_smartcard_uuid FROM requests WHERE uuid = ?', requestId))?.new_smartcard_uuid, NIL);

  // Not live (Disabled, Retired): the cardid may be bound again; a template allowing reuse too.
  const disabled = await cardIn('Disabled');
  const retired = await cardIn('Retired');
  for (const [label, held] of [
    ['Disabled', disabled.cardId],
    ['Retired', retired.cardId],
  ] as const) {
    const r = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
    const res = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: r, cardid: held } });
    t.equal(res.status, 201, `the cardid of a ${label} card is not in use`);
  }
  const reuse = await createRequest(user, { profiletemplateuuid: reuseTemplateId, type: 'Enroll' });
  const reused = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: reuse, cardid: assigned.cardId } });
  t.equal(reused.status, 201, 'AllowSmartcardReuse: the cardid of a live card may be bound');
});

t.test('PUT /requests/{reqid}/smartcards/{scid}: the SPEC 6 table, enum forms, every refusal', async (t) => {
  const put = (reqid: string, scid: string, body: unknown, token = agent) => () =>
    s.http('PUT', `${BASE}/requests/${reqid}/smartcards/${scid}`, { token, body });

  // Reinstate: Active <-> Suspended, names in any case and numbers.
  const card = await cardIn('Active');
  const reinstate = await createRequest(agent, { type: 'Reinstate', target: USERS.user.sub, smartcard: card.cardUuid });
  t.equal((await requestStatus(reinstate)), RS.Approved);
  let res = await put(reinstate, card.cardUuid, { status: 'suspended' })();
  t.equal(res.status, 200, 'Reinstate: Active -> Suspended ("suspended")');
  t.equal(res.body.Status, S.Suspended, 'Status as a number');
  t.equal((await cardStatus(card.cardUuid)), S.Suspended, 'stored Suspended');
  t.equal((await requestStatus(reinstate)), RS.Executing, 'the request is Executing after its first execute operation');
  res = await put(reinstate, card.cardUuid, { status: 3 })();
  t.equal(res.status, 200, 'Reinstate: Suspended -> Active (3)');
  t.equal(res.body.Status, S.Active);
  t.equal((await cardStatus(card.cardUuid)), S.Active);
  await expectRefused(t, db, 'Reinstate may not retire', put(reinstate, card.cardUuid, { status: 'Retired' }), 409, 'INVALID_TRANSITION');
  await expectRefused(t, db, 'Reinstate may not disable', put(reinstate, card.cardUuid, { status: 'Disabled' }), 409, 'INVALID_TRANSITION');

  // Revoke: Active -> Disabled only.
  const revoke = await createRequest(agent, { type: 'Revoke', target: USERS.user.sub, smartcard: card.cardUuid });
  await expectRefused(t, db, 'Revoke may not suspend', put(revoke, card.cardUuid, { status: 'Suspended' }), 409, 'INVALID_TRANSITION');
  await expectRefused(t, db, 'Revoke may not retire', put(revoke, card.cardUuid, { status: 'RETIRED' }), 409, 'INVALID_TRANSITION');
  res = await put(revoke, card.cardUuid, { status: 'DISABLED' })();
  t.equal(res.status, 200, 'Revoke: Active -> Disabled');
  t.equal(res.body.Status, S.Disabled);
  t.equal((await cardStatus(card.cardUuid)), S.Disabled);
  await expectRefused(t, db, 'Disabled -> Active is no change any request makes', put(revoke, card.cardUuid, { status: 'Active' }), 409, 'INVALID_TRANSITION');

  // Retire: Disabled -> Retired (the number 6).
  const retire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: card.cardUuid });
  res = await put(retire, card.cardUuid, { status: 6 })();
  t.equal(res.status, 200, 'Retire: Disabled -> Retired (6)');
  t.equal(res.body.Status, S.Retired);
  t.equal((await cardStatus(card.cardUuid)), S.Retired);

  // Enroll: Assigned -> Retired only; Active comes only from completing the request.
  const assigned = await cardIn('Assigned');
  for (const to of ['Active', 'Suspended', 'Disabled', 'New', 'None']) {
    await expectRefused(t, db, `Enroll: Assigned -> ${to}`, put(assigned.requestId, assigned.cardUuid, { status: to }, user), 409, 'INVALID_TRANSITION');
  }
  t.equal((await cardStatus(assigned.cardUuid)), S.Assigned);

  // 400: malformed ids, bad enum names and numbers, missing or ill-typed status.
  for (const [label, reqid, scid, body] of [
    ['reqid not a GUID', 'not-a-guid', assigned.cardUuid, { status: 'Retired' }],
    ['scid not a GUID', assigned.requestId, '17cf063d-e337', { status: 'Retired' }],
    ['status not a name', assigned.requestId, assigned.cardUuid, { status: 'Gone' }],
    ['status an unknown number', assigned.requestId, assigned.cardUuid, { status: 99 }],
    ['status negative', assigned.requestId, assigned.cardUuid, { status: -1 }],
    ['status missing', assigned.requestId, assigned.cardUuid, {}],
    ['status empty', assigned.requestId, assigned.cardUuid, { status: '' }],
    ['status an object', assigned.requestId, assigned.cardUuid, { status: { name: 'Retired' } }],
  ] as const) {
    await expectRefused(t, db, `PUT card status, ${label}`, put(reqid, scid, body, user), 400);
  }

  // 404: unknown request or card, a card of another request, a caller who may not see it.
  const otherCard = await cardIn('Assigned');
  await expectRefused(t, db, 'PUT card status, unknown request', put(randomUUID(), assigned.cardUuid, { status: 'Retired' }, user), 404);
  await expectRefused(t, db, 'PUT card status, unknown card', put(assigned.requestId, randomUUID(), { status: 'Retired' }, user), 404);
  await expectRefused(t, db, "PUT card status, another request's card", put(assigned.requestId, otherCard.cardUuid, { status: 'Retired' }, user), 404);
  await expectRefused(t, db, 'PUT card status, not visible to the caller', put(assigned.requestId, assigned.cardUuid, { status: 'Retired' }, other), 404);

  // 403: visible, not an executor.
  await expectRefused(t, db, 'PUT card status by an approver', put(assigned.requestId, assigned.cardUuid, { status: 'Retired' }, approver), 403);
  await expectRefused(t, db, 'PUT card status by an administrator', put(assigned.requestId, assigned.cardUuid, { status: 'Retired' }, admin), 403);

  // 409 WRONG_STATE: the request is not Approved or Executing.
  const completed = await cardIn('Active');
  await expectRefused(t, db, 'PUT card status on a Completed request', put(completed.requestId, completed.cardUuid, { status: 'Retired' }, user), 409, 'WRONG_STATE');
  const canceledRetire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: completed.cardUuid });
  await setRequest(agent, canceledRetire, 'Canceled');
  await expectRefused(t, db, 'PUT card status on a Canceled request', put(canceledRetire, completed.cardUuid, { status: 'Retired' }), 409, 'WRONG_STATE');
  t.equal((await cardStatus(completed.cardUuid)), S.Active, 'the card is still Active');

  // A Pending request (Retire needs one approval on this template) may not change its card yet.
  const retireNeedsApproval = restTemplate({ name: 'Retire needs an approval' });
  (retireNeedsApproval.Policies.Retire as Record<string, unknown>).ApprovalsNeeded = 1;
  const approvalTemplate = await createTemplate(retireNeedsApproval);
  const guarded = await cardIn('Active', approvalTemplate);
  const pendingRetire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: guarded.cardUuid });
  t.equal((await requestStatus(pendingRetire)), RS.Pending, 'the Retire request is Pending');
  await expectRefused(t, db, 'PUT card status on a Pending request', put(pendingRetire, guarded.cardUuid, { status: 'Retired' }), 409, 'WRONG_STATE');
  t.equal((await cardStatus(guarded.cardUuid)), S.Active, 'the card is still Active');
});

t.test('GET /smartcards/{id} and GET /smartcards?cardid=: visibility and refusals', async (t) => {
  const { cardUuid, cardId } = await cardIn('Assigned');
  for (const [who, token] of [
    ['the card user', user],
    ['an enrollment agent of the template', agent],
    ['an approver of the template', approver],
    ['an administrator', admin],
  ] as const) {
    const byId = await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token });
    t.equal(byId.status, 200, `GET /smartcards/{id} for ${who}`);
    t.match(byId.headers.get('content-type'), JSON_UTF8);
    t.same(Object.keys(byId.body).sort(), [...SMARTCARD_KEYS].sort(), `${who}: the 13 properties`);
    t.equal(byId.body.Uuid, cardUuid);
    const byCardId = await s.http('GET', `${BASE}/smartcards?cardid=${cardId}`, { token });
    t.equal(byCardId.status, 200, `GET /smartcards?cardid= for ${who}`);
    t.strictSame(byCardId.body, byId.body);
  }
  const get = (path: string, token: string | null = user) => () => s.http('GET', `${BASE}${path}`, { token: token ?? undefined });
  await expectRefused(t, db, 'GET /smartcards/{id}, malformed id', get('/smartcards/not-a-guid'), 400);
  await expectRefused(t, db, 'GET /smartcards/{id}, id too short', get('/smartcards/17cf063d-e337-4aa9-a822-346554ddd3c'), 400);
  await expectRefused(t, db, 'GET /smartcards/{id}, unknown', get(`/smartcards/${randomUUID()}`), 404);
  await expectRefused(t, db, 'GET /smartcards/{id}, not visible', get(`/smartcards/${cardUuid}`, other), 404);
  await expectRefused(t, db, 'GET /smartcards?cardid=, malformed', get('/smartcards?cardid=xyz'), 400);
  await expectRefused(t, db, 'GET /smartcards?cardid=, missing', get('/smartcards'), 400);
  await expectRefused(t, db, 'GET /smartcards?cardid=, empty', get('/smartcards?cardid='), 400);
  await expectRefused(t, db, 'GET /smartcards?cardid=, unknown', get(`/smartcards?cardid=${randomUUID()}`), 404);
  await expectRefused(t, db, 'GET /smartcards?cardid=, not visible', get(`/smartcards?cardid=${cardId}`, other), 404);
  await expectRefused(t, db, 'GET /smartcards/{id}, no token', get(`/smartcards/${cardUuid}`, null), 401);
});

t.test('GET /smartcards/{id}/operations: lower-case names consistent with status and policies', async (t) => {
  const sorted = (a: string[]) => [...a].sort();
  const ops = async (uuid: string, token: string) => {
    const res = await s.http('GET', `${BASE}/smartcards/${uuid}/operations`, { token });
    t.equal(res.status, 200, 'operations: 200');
    t.match(res.headers.get('content-type'), JSON_UTF8);
    t.ok(Array.isArray(res.body), 'an array');
    for (const name of res.body as string[]) {
      t.ok(REQUEST_TYPE_NAMES.map((n) => n.toLowerCase()).includes(name), `"${name}" is a lower-case request type name`);
    }
    return res.body as string[];
  };

  const assigned = await cardIn('Assigned');
  t.same(await ops(assigned.cardUuid, agent), ['retire'], 'Assigned card, agent: ["retire"]');
  t.same(await ops(assigned.cardUuid, user), [], 'Assigned card, its user: nothing (Retire is agent-only)');
  t.same(await ops(assigned.cardUuid, approver), [], 'Assigned card, an approver: nothing to initiate');

  const active = await cardIn('Active');
  t.same(sorted(await ops(active.cardUuid, agent)), ['offlineunblock', 'reinstate', 'retire', 'revoke', 'unblock'], 'Active card, agent');
  t.same(sorted(await ops(active.cardUuid, user)), ['offlineunblock', 'unblock'], 'Active card, its user: the self-service types');

  const suspended = await cardIn('Suspended');
  const suspendedOps = await ops(suspended.cardUuid, agent);
  for (const name of ['reinstate', 'revoke', 'retire']) t.ok(suspendedOps.includes(name), `Suspended card, agent: ${name}`);

  const disabled = await cardIn('Disabled');
  t.same(await ops(disabled.cardUuid, agent), ['retire'], 'Disabled card, agent: ["retire"]');
  const retired = await cardIn('Retired');
  t.same(await ops(retired.cardUuid, agent), [], 'Retired card: nothing');

  // Consistency: each listed type can be created now, each unlisted one cannot.
  for (const [label, card] of [
    ['Assigned', assigned],
    ['Active', active],
    ['Suspended', suspended],
    ['Disabled', disabled],
    ['Retired', retired],
  ] as const) {
    for (const [who, token] of [
      ['agent', agent],
      ['user', user],
    ] as const) {
      const listed = await ops(card.cardUuid, token);
      for (const type of REQUEST_TYPE_NAMES) {
        if (type === 'Enroll') continue;
        const res = await s.http('POST', `${BASE}/requests`, { token, body: { type, target: USERS.user.sub, smartcard: card.cardUuid } });
        const inList = listed.includes(type.toLowerCase());
        t.equal(res.status === 201, inList, `${label} card, ${who}, ${type}: ${inList ? 'listed and creatable' : 'not listed and refused'} (${res.status})`);
      }
    }
  }

  // The template's policies as they are now: a PUT that turns self-service Unblock off shows at once.
  const changing = restTemplate({ name: 'Operations follow the policy' });
  const changingId = await createTemplate(changing);
  const onChanging = await cardIn('Active', changingId);
  t.same(sorted(await ops(onChanging.cardUuid, user)), ['offlineunblock', 'unblock'], 'before the change');
  changing.Policies.Unblock.SelfServiceEnabled = false;
  const changed = await s.http('PUT', `${BASE}/profiletemplates/${changingId}`, { token: admin, body: changing });
  t.equal(changed.status, 200);
  t.same(await ops(onChanging.cardUuid, user), ['offlineunblock'], 'after the PUT: no self-service unblock');

  await expectRefused(t, db, 'operations, malformed id', () => s.http('GET', `${BASE}/smartcards/xyz/operations`, { token: agent }), 400);
  await expectRefused(t, db, 'operations, unknown card', () => s.http('GET', `${BASE}/smartcards/${randomUUID()}/operations`, { token: agent }), 404);
  await expectRefused(t, db, 'operations, not visible', () => s.http('GET', `${BASE}/smartcards/${active.cardUuid}/operations`, { token: other }), 404);
});

t.test('20 concurrent binds of one cardid to 20 requests: one 201, nineteen CARD_IN_USE', async (t) => {
  const targets = Array.from({ length: 20 }, () => randomUUID());
  const requests: string[] = [];
  for (const target of targets) requests.push(await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target }));
  const cardId = randomUUID();
  const results = await Promise.all(
    requests.map((requestid) => s.http('POST', `${BASE}/smartcards`, { token: agent, body: { requestid, cardid: cardId, atr: SEED_ATR } })),
  );
  const created = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status === 409);
  t.equal(created.length, 1, 'exactly one 201');
  t.equal(refused.length, 19, 'nineteen 409');
  t.same(
    refused.map((r) => r.body?.Code),
    Array(19).fill('CARD_IN_USE'),
    'each 409 is CARD_IN_USE',
  );
  for (const r of refused) {
    t.same(Object.keys(r.body).sort(), ['Code', 'CorrelationId', 'Message']);
    t.equal(r.body.CorrelationId, r.headers.get('x-correlation-id'));
  }
  const rows = (await db.rows<{ uuid: string; card_id: string; request_uuid: string }>('SELECT uuid, card_id, request_uuid FROM smartcards')).filter(
    (r) => compact(r.card_id) === compact(cardId),
  );
  t.equal(rows.length, 1, 'one card record in storage');
  const winner = created[0] ? idOf(created[0].body) : undefined;
  t.equal(rows[0]?.uuid, winner, 'it is the card of the 201');
  const boundCards = await Promise.all(requests.map((r) => db.row<{ new_smartcard_uuid: string }>('SELECT new_smartcard_uuid FROM requests WHERE uuid = ?', r)));
  const bound = requests.filter((_r, i) => boundCards[i]?.new_smartcard_uuid !== NIL);
  t.equal(bound.length, 1, 'one request is bound');
  t.equal(rows[0]?.request_uuid, bound[0]);
  t.same(
    (await Promise.all(requests.map((r) => requestStatus(r)))).sort(),
    [...Array(19).fill(RS.Approved), RS.Executing].sort(),
    'the winner is Executing, the other nineteen still Approved',
  );
});

t.test('concurrent binds to one request: one card wins; identical retries answer 204', async (t) => {
  const requestId = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: randomUUID() });
  const cards = Array.from({ length: 10 }, () => randomUUID());
  const results = await Promise.all(cards.map((cardid) => s.http('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: requestId, cardid } })));
  t.equal(results.filter((r) => r.status === 201).length, 1, 'ten different cards at once: one 201');
  t.same(
    results.filter((r) => r.status !== 201).map((r) => `${r.status} ${r.body?.Code}`),
    Array(9).fill('409 REQUEST_ALREADY_BOUND'),
    'nine 409 REQUEST_ALREADY_BOUND',
  );
  const rows = (await db.rows<{ uuid: string }>('SELECT uuid FROM smartcards WHERE request_uuid = ?', requestId));
  t.equal(rows.length, 1, 'one card record for the request');
  t.equal((await db.row<{ new_smartcard_uuid: string }>('SELECT new_smartcard_uuid FROM requests WHERE uuid = ?', requestId))?.new_smartcard_uuid, rows[0]?.uuid);

  const same = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: randomUUID() });
  const cardId = randomUUID();
  const retries = await Promise.all(
    Array.from({ length: 10 }, () => s.http('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: same, cardid: cardId, atr: SEED_ATR } })),
  );
  t.same(
    retries.map((r) => r.status).sort(),
    [201, ...Array(9).fill(204)],
    'the same bind ten times at once: one 201, nine 204',
  );
  t.ok(retries.filter((r) => r.status === 204).every((r) => r.raw.length === 0), 'the 204s have no body');
  t.equal((await db.rows('SELECT uuid FROM smartcards WHERE request_uuid = ?', same)).length, 1, 'one card record');
});
