// Foundation, end to end over REST: the conventions of SPEC 2 that every route keeps.
// X-Correlation-Id echoed when sane and generated otherwise (and the same id in the audit log
// and in error bodies), JSON with charset on every answer, enumerations as numbers, GUIDs lower
// case, timestamps ISO 8601 with Z, unknown query parameters and body properties ignored, the
// open health route, and the unknown route answered with the error body.
import t from 'tap';
import { createHash, randomUUID } from 'node:crypto';
import { BASE } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { checkErrorBody, expectRefused } from '../support/db-snapshot.js';
import { apiFor, GUID, idOf, ISO_Z, JSON_UTF8, startStackWithDb } from '../support/api.js';

const { s, db } = await startStackWithDb(t);
const { tokens, createTemplate } = await apiFor(s);
const { admin, agent, user, approver } = tokens;

const templateId = await createTemplate(restTemplate());

t.test('X-Correlation-Id: echoed when sane, generated otherwise, on success and on error', async (t) => {
  const path = `${BASE}/profiletemplates/${templateId}`;
  for (const sane of ['abc-123', 'Req.42:part_7', 'a'.repeat(64), randomUUID()]) {
    const res = await s.http('GET', path, { token: user, headers: { 'x-correlation-id': sane } });
    t.equal(res.status, 200);
    t.equal(res.headers.get('x-correlation-id'), sane, `echoed: ${sane.slice(0, 20)}`);
    const refused = await s.http('GET', `${BASE}/profiletemplates/${randomUUID()}`, { token: user, headers: { 'x-correlation-id': sane } });
    checkErrorBody(t, refused, 404, 'NOT_FOUND', `a 404 with X-Correlation-Id ${sane.slice(0, 20)}`);
    t.equal(refused.body?.CorrelationId, sane, 'the error body carries the caller’s id');
  }
  const seen = new Set<string>();
  for (const [label, insane] of [
    ['absent', undefined],
    ['with spaces', 'my correlation id'],
    ['with a quote', 'abc"def'],
    ['with a slash', 'a/b'],
    ['over 128 characters', 'x'.repeat(300)],
    ['with HTML', '<script>'],
  ] as const) {
    const res = await s.http('GET', path, { token: user, headers: insane === undefined ? {} : { 'x-correlation-id': insane } });
    const generated = res.headers.get('x-correlation-id');
    t.ok(generated && generated.length > 0, `${label}: one is generated`);
    t.not(generated, insane, `${label}: not the one sent`);
    t.notOk(seen.has(generated!), `${label}: a fresh id`);
    seen.add(generated!);
    const refused = await s.http('GET', `${BASE}/nothing`, { token: user, headers: insane === undefined ? {} : { 'x-correlation-id': insane } });
    checkErrorBody(t, refused, 404, 'NOT_FOUND', `unknown route, correlation id ${label}`);
    t.not(refused.body?.CorrelationId, insane);
  }
  const unauthenticated = await s.http('GET', path, { headers: { 'x-correlation-id': 'no-token-1' } });
  checkErrorBody(t, unauthenticated, 401, 'UNAUTHENTICATED', 'a 401');
  t.equal(unauthenticated.body?.CorrelationId, 'no-token-1', 'a 401 echoes it too');
});

t.test('the correlation id of a change is the one in its audit record', async (t) => {
  const correlationId = `create-${randomUUID()}`;
  const res = await s.http('POST', `${BASE}/requests`, {
    token: user,
    body: { profiletemplateuuid: templateId, type: 'Enroll' },
    headers: { 'x-correlation-id': correlationId },
  });
  t.equal(res.status, 201);
  t.equal(res.headers.get('x-correlation-id'), correlationId);
  const requestId = idOf(res.body);
  const rows = (await s.http('GET', `${BASE}/audit?requestid=${requestId}`, { token: admin })).body as any[];
  const created = rows.find((r) => r.Action === 'CreateRequest');
  t.equal(created?.CorrelationId, correlationId, 'CreateRequest audited with the caller’s correlation id');
  t.equal(created?.CallerUuid, USERS.user.sub);
  t.equal(created?.Outcome, 'Succeeded');

  const refusedId = `refused-${randomUUID()}`;
  const refused = await expectRefused(
    t,
    db,
    'a bind refused to an approver',
    () => s.http('POST', `${BASE}/smartcards`, { token: approver, body: { requestid: requestId, cardid: randomUUID() }, headers: { 'x-correlation-id': refusedId } }),
    403,
  );
  t.equal(refused.body?.CorrelationId, refusedId, 'the refusal carries the caller’s correlation id');
});

t.test('responses: JSON with charset, enumerations as numbers, GUIDs lower case, timestamps with Z', async (t) => {
  const target = randomUUID();
  const created = await s.http('POST', `${BASE}/requests`, {
    token: agent,
    body: { ProfileTemplateUuid: templateId.toUpperCase(), Type: 'ENROLL', Target: `{${target.toUpperCase()}}`, Priority: '3' },
  });
  t.equal(created.status, 201);
  t.match(created.headers.get('content-type'), JSON_UTF8, '201: JSON with charset');
  const requestId = idOf(created.body);
  t.match(requestId, GUID, 'a lower-case GUID in the URI');

  const request = await s.http('GET', `${BASE}/requests/${requestId.toUpperCase()}?unknown=1&also=2`, { token: agent });
  t.equal(request.status, 200, 'unknown query parameters are ignored');
  t.match(request.headers.get('content-type'), JSON_UTF8, '200: JSON with charset');
  const r = request.body;
  for (const k of ['RequestType', 'Status', 'Flags', 'Priority']) t.equal(typeof r[k], 'number', `request ${k} is a number`);
  t.equal(r.RequestType, 1);
  t.equal(r.Status, 3);
  t.equal(r.Priority, 3);
  for (const k of ['Uuid', 'OriginatorUserUuid', 'TargetUserUuid', 'NewSmartcardUuid', 'OldSmartcardUuid', 'ProfileTemplateUuid']) {
    t.match(r[k], GUID, `request ${k} is a lower-case GUID`);
  }
  t.equal(r.TargetUserUuid, target);
  t.match(r.Submitted, ISO_Z);
  t.equal(r.Completed, '0001-01-01T00:00:00Z');

  const cardId = randomUUID();
  const bound = await s.http('POST', `${BASE}/smartcards?extra=ignored`, {
    token: agent,
    body: { requestid: requestId, cardid: cardId.toUpperCase(), atr: '3B8D0180FBA000000397425446590301C8', unknown: 'ignored' },
  });
  t.equal(bound.status, 201, 'unknown body properties and query parameters are ignored');
  const card = (await s.http('GET', `${BASE}/smartcards/${idOf(bound.body)}`, { token: agent })).body;
  t.equal(typeof card.Status, 'number', 'card Status is a number');
  t.equal(typeof card.Flags, 'number', 'card Flags is a number');
  t.equal(typeof card.ProfileTemplateVersion, 'number');
  t.equal(card.Status, 2);
  t.equal(card.SerialNumber, `{${cardId}}`);
  t.equal(card.Atr, '3b8d0180fba000000397425446590301c8', 'hex normalised to lower case');
  for (const k of ['Uuid', 'ParentSmartcardUuid', 'PrimarySmartcardUuid', 'PermanentSmartcardUuid', 'AssignedUserUuid', 'ProfileTemplateUuid']) {
    t.match(card[k], GUID, `card ${k} is a lower-case GUID`);
  }
  t.equal((await db.row<{ atr: string }>('SELECT atr FROM smartcards WHERE uuid = ?', card.Uuid))?.atr, '3b8d0180fba000000397425446590301c8', 'stored lower case');

  const configuration = (await s.http('GET', `${BASE}/profiletemplates/${templateId}/configuration/smartcards`, { token: admin })).body;
  t.equal(configuration.UserPinOption, 2, 'UserPinOption as a number');
  t.equal(configuration.UserPinPolicy.CharacterSet, 0, 'CharacterSet as a number');

  const list = await s.http('GET', `${BASE}/requests?targetuser=${target}&status=approved`, { token: agent });
  t.equal(list.status, 200);
  t.same(list.body, [], 'the request is Executing now, so none Approved for that target');
  const listExecuting = await s.http('GET', `${BASE}/requests?targetuser=${target.toUpperCase()}&status=Executing`, { token: agent });
  t.same(listExecuting.body.map((x: any) => x.Uuid), [requestId], 'targetuser as a GUID in any case; status=Executing');
  const braced = await s.http('GET', `${BASE}/requests?targetuser=%7B${target.toUpperCase()}%7D&status=4`, { token: agent });
  t.same(braced.body?.map((x: any) => x.Uuid), [requestId], 'targetuser braced; status as the number 4');
  t.equal(listExecuting.body[0].Status, 4, 'Executing is 4');
});

t.test('open routes need no token; the unknown route is a 404 with the error body', async (t) => {
  const health = await s.http('GET', '/healthz');
  t.equal(health.status, 200, 'GET /healthz without a token');
  t.ok(health.headers.get('x-correlation-id'), 'X-Correlation-Id on open routes too');
  await expectRefused(t, db, 'an unknown route', () => s.http('GET', `${BASE}/smartcardz`, { token: user }), 404, 'NOT_FOUND');
  await expectRefused(t, db, 'an unknown route, POST with a body', () => s.http('POST', `${BASE}/cards`, { token: user, body: { a: 1 } }), 404, 'NOT_FOUND');
});

/** RFC 4122 UUIDv5 of `name` in the URL namespace (6ba7b811-9dad-11d1-80b4-00c04fd430c8). */
function uuidV5Url(name: string): string {
  const hash = createHash('sha1').update(Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

t.test('a sub that is not a GUID is the UUIDv5 of it in the URL namespace (SPEC 3)', async (t) => {
  t.equal(uuidV5Url('jane@contoso.com'), '6aa3a8f2-c657-5cf2-8b47-0f1700561840', 'the reference value (Python uuid.uuid5)');
  const token = await s.as({ sub: 'jane@contoso.com', name: 'Jane by mail', groups: ['staff'] });
  const created = await s.http('POST', `${BASE}/requests`, { token, body: { profiletemplateuuid: templateId, type: 'Enroll' } });
  t.equal(created.status, 201);
  const request = await s.http('GET', `${BASE}/requests/${idOf(created.body)}`, { token });
  t.equal(request.body.OriginatorUserUuid, uuidV5Url('jane@contoso.com'), 'the originator');
  t.equal(request.body.TargetUserUuid, uuidV5Url('jane@contoso.com'), 'and the target');
  const mine = await s.http('GET', `${BASE}/requests?targetuser=current`, { token });
  t.same(mine.body.map((r: any) => r.Uuid), [idOf(created.body)], 'targetuser=current is that GUID');
});
