// Foundation, end to end over REST: requests (SPEC 3, 5.2, 6, 7). POST /requests with its
// input forms (datacollection in three shapes, priority as number or string, names and enum
// names in any case), GET /requests/{id}, GET /requests?targetuser=current&status=, PUT
// /requests/{id} through approval by distinct approvers, denial, cancel, abandon and
// completion. Every refusal is checked for its status, its error body and that storage is left
// exactly as it was. The expectations are written from the SPEC.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { BASE } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { expectRefused } from '../support/db-snapshot.js';
import { agentOnlyTemplate, apiFor, GUID, idOf, ISO_Z, JSON_UTF8, NIL, startStackWithDb, storedStatus } from '../support/api.js';

const UNSET = '0001-01-01T00:00:00Z';
/** SPEC 5.2. */
const REQUEST_KEYS = [
  'Uuid',
  'RequestType',
  'Status',
  'Flags',
  'DataCollection',
  'OriginatorUserUuid',
  'TargetUserUuid',
  'Submitted',
  'Completed',
  'NewSmartcardUuid',
  'OldSmartcardUuid',
  'NewProfileUuid',
  'OldProfileUuid',
  'Priority',
  'Comment',
  'ProfileTemplateUuid',
  'IsSmartcard',
  'IsEnrollmentAgent',
  'IsDataCollectionComplete',
  'Approvals',
].sort();
const RS = { Pending: 1, Denied: 2, Approved: 3, Executing: 4, Failed: 5, Canceled: 6, Abandoned: 7, Completed: 8 } as const;
const S = { Assigned: 2, Active: 3, Retired: 6 } as const;

const { s, db } = await startStackWithDb(t);
const { tokens, createTemplate, createRequest, getRequest, bind, setRequest } = await apiFor(s);
const { admin, agent, user, approver, approver2, other } = tokens;
const { requestStatus, cardStatus } = storedStatus(db);

const putRequest = (id: string, body: unknown, token: string) => s.http('PUT', `${BASE}/requests/${id}`, { token, body });
const approvalRows = (uuid: string) =>
  db.rows<{ approver_uuid: string; approved: number }>('SELECT approver_uuid, approved FROM request_approvals WHERE request_uuid = ? ORDER BY approver_uuid', uuid);

const templateId = await createTemplate(restTemplate());
/** Enroll needs two approvals; approvers may also initiate for others. */
const twoApprovals = restTemplate({ name: 'Two approvals', approvals: 2 });
twoApprovals.Policies.Enroll.AuthorizedInitiators = ['group:cm-agents', 'group:cm-approvers'];
const twoApprovalsId = await createTemplate(twoApprovals);
const oneApprovalId = await createTemplate(restTemplate({ name: 'One approval', approvals: 1 }));
const commentsTemplate = restTemplate({ name: 'Comments required' });
(commentsTemplate.Policies.Enroll as Record<string, unknown>).CollectComments = true;
const commentsTemplateId = await createTemplate(commentsTemplate);
/** No self-service anywhere: invisible to USERS.other. */
const agentOnlyId = await createTemplate(agentOnlyTemplate('Agents only'));

/** USERS.user's Active card on the main template. */
async function activeCard(): Promise<string> {
  const enroll = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  const card = await bind(user, enroll);
  await setRequest(user, enroll, 'Completed');
  return card;
}

t.test('POST /requests: 201 with the URI; GET /requests/{id}: the SPEC 5.2 object', async (t) => {
  const res = await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll', comment: 'new starter' } });
  t.equal(res.status, 201);
  t.match(res.headers.get('content-type'), JSON_UTF8);
  t.equal(typeof res.body, 'string', 'a bare JSON string');
  t.match(res.body, /^api\/v1\.0\/requests\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const id = idOf(res.body);
  t.match(id, GUID, 'a lower-case GUID');
  t.equal(res.headers.get('location'), `/CertificateManagement/api/v1.0/requests/${id}`);

  const got = await s.http('GET', `${BASE}/requests/${id}`, { token: user });
  t.equal(got.status, 200);
  t.match(got.headers.get('content-type'), JSON_UTF8);
  t.same(Object.keys(got.body).sort(), REQUEST_KEYS, 'exactly the properties of SPEC 5.2');
  const r = got.body;
  t.equal(r.Uuid, id);
  t.equal(r.RequestType, 1, 'Enroll is 1');
  t.equal(r.Status, RS.Approved, 'ApprovalsNeeded 0: Approved at creation (3)');
  t.equal(r.Flags, 2, 'Smartcard flag; not EnrollmentAgent for oneself');
  t.equal(r.IsSmartcard, true);
  t.equal(r.IsEnrollmentAgent, false);
  t.equal(r.OriginatorUserUuid, USERS.user.sub);
  t.equal(r.TargetUserUuid, USERS.user.sub, 'the target defaults to the caller');
  t.match(r.Submitted, ISO_Z, 'Submitted: ISO 8601 UTC with Z');
  t.equal(r.Completed, UNSET, 'an unset Completed');
  for (const k of ['NewSmartcardUuid', 'OldSmartcardUuid', 'NewProfileUuid', 'OldProfileUuid']) t.equal(r[k], NIL, `${k} unset`);
  t.equal(r.ProfileTemplateUuid, templateId);
  t.equal(r.Comment, 'new starter');
  t.same(r.DataCollection, []);
  t.same(r.Approvals, []);
  t.equal(typeof r.Priority, 'number');
  const row = (await db.row<Record<string, unknown>>('SELECT * FROM requests WHERE uuid = ?', id))!;
  t.equal(row.status, RS.Approved, 'stored Approved');
  t.equal(row.request_type, 1);
  t.equal(row.target_user_uuid, USERS.user.sub);

  // An agent for someone else: EnrollmentAgent flag; the target GUID normalised.
  const target = randomUUID();
  const forOther = await createRequest(agent, { profiletemplateuuid: `{${templateId.toUpperCase()}}`, type: 'enroll', target: `{${target.toUpperCase()}}` });
  const o = await getRequest(forOther, agent);
  t.equal(o.TargetUserUuid, target, 'target written lower case without braces');
  t.equal(o.OriginatorUserUuid, USERS.agent.sub);
  t.equal(o.Flags, 3, 'EnrollmentAgent | Smartcard');
  t.equal(o.IsEnrollmentAgent, true);
  t.equal(o.ProfileTemplateUuid, templateId);
});

t.test('POST /requests: body names, enum names and numbers in any case', async (t) => {
  for (const [label, body] of [
    ['PascalCase names', { ProfileTemplateUuid: templateId, Type: 'Enroll' }],
    ['upper-case names and value', { PROFILETEMPLATEUUID: templateId, TYPE: 'ENROLL' }],
    ['lower-case enum name', { profiletemplateuuid: templateId, type: 'enroll' }],
    ['the number 1', { profiletemplateuuid: templateId, type: 1 }],
    ['the numeric string "1"', { profiletemplateuuid: templateId, type: '1' }],
    ['unknown properties ignored', { profiletemplateuuid: templateId, type: 'Enroll', color: 'blue', Extra: { a: 1 } }],
  ] as const) {
    const res = await s.http('POST', `${BASE}/requests`, { token: user, body });
    t.equal(res.status, 201, `${label}: 201`);
    if (res.status === 201) t.equal((await getRequest(idOf(res.body))).RequestType, 1, `${label}: an Enroll request`);
  }
});

t.test('POST /requests: datacollection in three shapes, priority as number or numeric string', async (t) => {
  const wanted = [
    { Name: 'city', Value: 'seattle' },
    { Name: 'dept', Value: 'eng' },
  ];
  for (const [label, datacollection] of [
    ['array of {Name,Value}', [{ Name: 'city', Value: 'seattle' }, { name: 'dept', VALUE: 'eng' }]],
    ['array of one-key objects', [{ city: 'seattle' }, { dept: 'eng' }]],
    ['string of JSON {Name,Value}', JSON.stringify([{ Name: 'city', Value: 'seattle' }, { Name: 'dept', Value: 'eng' }])],
    ['string of JSON one-key objects', JSON.stringify([{ city: 'seattle' }, { dept: 'eng' }])],
  ] as const) {
    const res = await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll', DataCollection: datacollection } });
    t.equal(res.status, 201, `${label}: accepted`);
    if (res.status !== 201) continue;
    const id = idOf(res.body);
    t.strictSame((await getRequest(id)).DataCollection, wanted, `${label}: answered as [{Name,Value}]`);
    const stored = JSON.parse(String((await db.row<{ data_collection: string }>('SELECT data_collection FROM requests WHERE uuid = ?', id))?.data_collection));
    t.same(
      (stored as Record<string, string>[]).map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k.toLowerCase(), v]))),
      [
        { name: 'city', value: 'seattle' },
        { name: 'dept', value: 'eng' },
      ],
      `${label}: stored as name/value pairs`,
    );
  }

  for (const [label, priority] of [
    ['a number', 7],
    ['a numeric string', '7'],
  ] as const) {
    const res = await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll', priority } });
    t.equal(res.status, 201, `priority as ${label}: accepted`);
    if (res.status !== 201) continue;
    const id = idOf(res.body);
    t.equal((await getRequest(id)).Priority, 7, `priority as ${label}: 7`);
    t.equal((await db.row<{ priority: number }>('SELECT priority FROM requests WHERE uuid = ?', id))?.priority, 7, `priority as ${label}: stored 7`);
  }

  const post = (body: object) => () => s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll', ...body } });
  for (const [label, body] of [
    ['datacollection a number', { datacollection: 42 }],
    ['datacollection a string that is not JSON', { datacollection: 'city=seattle' }],
    ['datacollection a string holding a JSON number', { datacollection: '42' }],
    ['datacollection an array of strings', { datacollection: ['city'] }],
    ['datacollection an item with two keys that are not Name/Value', { datacollection: [{ city: 'seattle', dept: 'eng' }] }],
    ['datacollection an item with a nested object value', { datacollection: [{ city: { name: 'seattle' } }] }],
    ['priority not numeric', { priority: 'high' }],
    ['priority not whole', { priority: 1.5 }],
  ] as const) {
    await expectRefused(t, db, `POST /requests, ${label}`, post(body), 400);
  }
});

t.test('POST /requests: every refusal, nothing changed', async (t) => {
  const card = await activeCard();
  const post = (body: unknown, token: string | null = user) => () => s.http('POST', `${BASE}/requests`, { token: token ?? undefined, body });

  for (const [label, body, token] of [
    ['type missing', { profiletemplateuuid: templateId }, user],
    ['type not a name', { profiletemplateuuid: templateId, type: 'Enrol' }, user],
    ['type an unknown number', { profiletemplateuuid: templateId, type: 99 }, user],
    ['profiletemplateuuid malformed', { profiletemplateuuid: 'contoso', type: 'Enroll' }, user],
    ['profiletemplateuuid missing (no smartcard)', { type: 'Enroll' }, user],
    ['target not a GUID', { profiletemplateuuid: templateId, type: 'Enroll', target: 'jane@contoso.com' }, agent],
    ['smartcard malformed', { type: 'Retire', target: USERS.user.sub, smartcard: 'card-1' }, agent],
    ['smartcard missing for Retire', { profiletemplateuuid: templateId, type: 'Retire', target: USERS.user.sub }, agent],
    ['smartcard missing for Unblock', { profiletemplateuuid: templateId, type: 'Unblock' }, user],
    ['smartcard not assigned to the target', { type: 'Retire', target: USERS.other.sub, smartcard: card }, agent],
    ['smartcard unknown', { type: 'Retire', target: USERS.user.sub, smartcard: randomUUID() }, agent],
    ["profiletemplateuuid not the card's template", { profiletemplateuuid: oneApprovalId, type: 'Retire', target: USERS.user.sub, smartcard: card }, agent],
    ['CollectComments and no comment', { profiletemplateuuid: commentsTemplateId, type: 'Enroll' }, user],
    ['CollectComments and a blank comment', { profiletemplateuuid: commentsTemplateId, type: 'Enroll', comment: '   ' }, user],
  ] as const) {
    await expectRefused(t, db, `POST /requests, ${label}`, post(body, token), 400);
  }
  const withComment = await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: commentsTemplateId, type: 'Enroll', comment: 'lost my card' } });
  t.equal(withComment.status, 201, 'CollectComments with a comment: 201');

  await expectRefused(t, db, 'POST /requests, a self-service user for someone else', post({ profiletemplateuuid: templateId, type: 'Enroll', target: USERS.other.sub }), 403);
  await expectRefused(t, db, 'POST /requests, a type the policy does not enable', post({ profiletemplateuuid: templateId, type: 'TemporaryCards' }), 403);
  await expectRefused(t, db, 'POST /requests, an agent-only type by the card user', post({ type: 'Retire', smartcard: card }), 403);
  await expectRefused(t, db, 'POST /requests, an approver initiates', post({ profiletemplateuuid: templateId, type: 'Enroll', target: USERS.user.sub }, approver), 403);
  await expectRefused(t, db, 'POST /requests, unknown template', post({ profiletemplateuuid: randomUUID(), type: 'Enroll' }), 404);
  await expectRefused(t, db, 'POST /requests, a template the caller may not see', post({ profiletemplateuuid: agentOnlyId, type: 'Enroll' }, other), 404);
  await expectRefused(t, db, 'POST /requests, no token', post({ profiletemplateuuid: templateId, type: 'Enroll' }, null), 401);

  // A card in a state the type cannot act on: valid input the current state refuses.
  const retire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: card });
  const put = await s.http('PUT', `${BASE}/requests/${retire}/smartcards/${card}`, { token: agent, body: { status: 'Retired' } });
  t.equal(put.status, 200);
  await expectRefused(t, db, 'POST /requests, Retire on a Retired card', post({ type: 'Retire', target: USERS.user.sub, smartcard: card }, agent), 409, 'WRONG_STATE');
  await expectRefused(t, db, 'POST /requests, Unblock on a Retired card', post({ type: 'Unblock', smartcard: card }), 409, 'WRONG_STATE');

  // The card's template is used when profiletemplateuuid is left out; OldSmartcardUuid is the card.
  const fresh = await activeCard();
  const unblock = await createRequest(user, { type: 'Unblock', smartcard: fresh });
  const u = await getRequest(unblock, user);
  t.equal(u.ProfileTemplateUuid, templateId, "the card's template");
  t.equal(u.OldSmartcardUuid, fresh, 'smartcard stored as OldSmartcardUuid');
  t.equal(u.RequestType, 5, 'Unblock is 5');
});

t.test('approvals: ApprovalsNeeded 2 needs two distinct approvers; no self-approval', async (t) => {
  const id = await createRequest(user, { profiletemplateuuid: twoApprovalsId, type: 'Enroll' });
  let r = await getRequest(id, user);
  t.equal(r.Status, RS.Pending, 'Pending at creation');
  t.equal((await requestStatus(id)), RS.Pending);

  const approve = (token: string, comment = 'ok') => () => putRequest(id, { status: 'Approved', comment }, token);
  await expectRefused(t, db, 'the initiator and target approves their own request', approve(user), 403);
  await expectRefused(t, db, 'an enrollment agent (no approver) approves', approve(agent), 403);
  await expectRefused(t, db, 'someone who cannot see the request approves', approve(other), 404);

  let res = await approve(approver, 'checked the badge')();
  t.equal(res.status, 200, 'first approval: 200');
  t.same(Object.keys(res.body).sort(), REQUEST_KEYS, 'answers the request');
  t.equal(res.body.Status, RS.Pending, 'one of two approvals: still Pending');
  t.equal(res.body.Approvals.length, 1);
  t.same(Object.keys(res.body.Approvals[0]).sort(), ['ApproverUuid', 'Approved', 'At', 'Comment'].sort(), 'an approval is {ApproverUuid, Approved, Comment, At}');
  t.equal(res.body.Approvals[0].ApproverUuid, USERS.approver.sub);
  t.equal(res.body.Approvals[0].Approved, true);
  t.equal(res.body.Approvals[0].Comment, 'checked the badge');
  t.match(res.body.Approvals[0].At, ISO_Z);
  t.equal((await requestStatus(id)), RS.Pending, 'stored Pending');

  // The same approver again does not approve.
  res = await approve(approver, 'again')();
  t.ok(res.status === 200 || res.status === 409, `the same approver again: 200 or 409 (${res.status})`);
  t.equal((await requestStatus(id)), RS.Pending, 'the same approver twice: still Pending');
  t.equal((await approvalRows(id)).length, 1, 'one approval stored');
  r = await getRequest(id, user);
  t.equal(r.Status, RS.Pending);
  t.equal(r.Approvals.length, 1, 'one approval recorded');

  const bindPending = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: id, cardid: randomUUID() } });
  t.equal(bindPending.status, 409, 'a Pending request cannot be bound');
  t.equal(bindPending.body?.Code, 'WRONG_STATE');

  res = await approve(approver2, 'agreed')();
  t.equal(res.status, 200, 'second, distinct approver: 200');
  t.equal(res.body.Status, RS.Approved, 'two distinct approvals: Approved (3)');
  t.same(res.body.Approvals.map((a: any) => a.ApproverUuid).sort(), [USERS.approver.sub, USERS.approver2.sub].sort());
  t.equal((await requestStatus(id)), RS.Approved, 'stored Approved');
  t.same((await approvalRows(id)).map((a) => a.approver_uuid), [USERS.approver.sub, USERS.approver2.sub].sort());
  t.equal(res.body.Completed, UNSET, 'Approved is not final: Completed unset');

  await expectRefused(t, db, 'approving an Approved request', approve(approver2), 409);
  await expectRefused(t, db, 'denying an Approved request', () => putRequest(id, { status: 'Denied' }, approver), 409);
  const card = await bind(user, id);
  t.equal((await cardStatus(card)), S.Assigned, 'an Approved request can be bound');

  // The initiator may not approve a request they initiated for someone else.
  const byApprover = await createRequest(approver, { profiletemplateuuid: twoApprovalsId, type: 'Enroll', target: USERS.user.sub });
  await expectRefused(t, db, 'the initiator approves', () => putRequest(byApprover, { status: 'Approved' }, approver), 403);
  res = await putRequest(byApprover, { status: 'approved' }, approver2);
  t.equal(res.status, 200, 'another approver may ("approved" in lower case)');
  t.equal(res.body.Status, RS.Pending, 'still one short');

  // The target may not approve a request made for them.
  const forApprover = await createRequest(agent, { profiletemplateuuid: twoApprovalsId, type: 'Enroll', target: USERS.approver.sub });
  await expectRefused(t, db, 'the target approves', () => putRequest(forApprover, { status: 'Approved' }, approver), 403);
  t.equal((await requestStatus(forApprover)), RS.Pending);
});

t.test('one denial: Denied, final', async (t) => {
  const id = await createRequest(user, { profiletemplateuuid: twoApprovalsId, type: 'Enroll' });
  const ok = await putRequest(id, { status: 'Approved' }, approver);
  t.equal(ok.status, 200);
  const res = await putRequest(id, { status: 'DENIED', comment: 'not eligible' }, approver2);
  t.equal(res.status, 200, 'deny: 200');
  t.equal(res.body.Status, RS.Denied, 'one denial: Denied (2)');
  t.match(res.body.Completed, ISO_Z);
  t.not(res.body.Completed, UNSET, 'final: Completed is set');
  const denial = res.body.Approvals.find((a: any) => a.ApproverUuid === USERS.approver2.sub);
  t.equal(denial?.Approved, false, 'the denial is recorded as Approved false');
  t.equal(denial?.Comment, 'not eligible');
  t.equal((await requestStatus(id)), RS.Denied, 'stored Denied');

  await expectRefused(t, db, 'approving a Denied request', () => putRequest(id, { status: 'Approved' }, approver2), 409);
  await expectRefused(t, db, 'canceling a Denied request', () => putRequest(id, { status: 'Canceled' }, user), 409);
  await expectRefused(t, db, 'binding a Denied request', () => s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: id, cardid: randomUUID() } }), 409, 'WRONG_STATE');

  // An approver who approved and then denies: either the second decision is refused and changes
  // nothing, or the denial counts (Denied) and is recorded as such; never a Denied request whose
  // recorded approvals show no denial.
  const changed = await createRequest(user, { profiletemplateuuid: twoApprovalsId, type: 'Enroll' });
  t.equal((await putRequest(changed, { status: 'Approved' }, approver)).status, 200);
  const second = await putRequest(changed, { status: 'Denied', comment: 'changed my mind' }, approver);
  const stored = await approvalRows(changed);
  const after = await getRequest(changed, user);
  if (second.status === 200) {
    t.equal(after.Status, RS.Denied, 'the denial counted: Denied');
    t.same(
      after.Approvals.filter((a: any) => a.ApproverUuid === USERS.approver.sub).map((a: any) => [a.Approved, a.Comment]),
      [[false, 'changed my mind']],
      'a Denied request records the denial that denied it (Approved false, its comment)',
    );
    t.same(stored.map((a) => a.approved), [0], 'stored as a denial');
  } else {
    t.equal(second.status, 409, 'or the second decision of the same approver is refused');
    t.equal(after.Status, RS.Pending, 'and the request is still Pending');
    t.same(stored.map((a) => a.approved), [1]);
  }

  const numeric = await createRequest(user, { profiletemplateuuid: oneApprovalId, type: 'Enroll' });
  const byNumber = await putRequest(numeric, { status: 2 }, approver);
  t.equal(byNumber.status, 200, 'status as the number 2');
  t.equal(byNumber.body.Status, RS.Denied);
});

t.test('cancel: by the initiator or the target, from Pending or Approved', async (t) => {
  const pending = await createRequest(user, { profiletemplateuuid: oneApprovalId, type: 'Enroll' });
  await expectRefused(t, db, 'an approver cancels', () => putRequest(pending, { status: 'Canceled' }, approver), 403);
  await expectRefused(t, db, 'an enrollment agent (not initiator) cancels', () => putRequest(pending, { status: 'Canceled' }, agent), 403);
  let res = await putRequest(pending, { status: 'Canceled' }, user);
  t.equal(res.status, 200, 'the initiator cancels a Pending request');
  t.equal(res.body.Status, RS.Canceled, 'Canceled (6)');
  t.not(res.body.Completed, UNSET, 'final: Completed is set');
  t.equal((await requestStatus(pending)), RS.Canceled);

  const forUser = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: USERS.user.sub });
  t.equal((await requestStatus(forUser)), RS.Approved);
  res = await putRequest(forUser, { status: 'canceled' }, user);
  t.equal(res.status, 200, 'the target cancels an Approved request');
  t.equal(res.body.Status, RS.Canceled);
  t.equal((await requestStatus(forUser)), RS.Canceled);

  const byAgent = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: randomUUID() });
  res = await putRequest(byAgent, { status: 6 }, agent);
  t.equal(res.status, 200, 'the initiator cancels (status 6)');
  t.equal(res.body.Status, RS.Canceled);

  const executing = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  await bind(user, executing);
  await expectRefused(t, db, 'canceling an Executing request', () => putRequest(executing, { status: 'Canceled' }, user), 409);
  await expectRefused(t, db, 'canceling a Canceled request', () => putRequest(pending, { status: 'Canceled' }, user), 409);
});

t.test('completion: an Enroll request with its card -> Completed, the card Active', async (t) => {
  const id = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  await expectRefused(t, db, 'completing an Enroll request with no card', () => putRequest(id, { status: 'Completed' }, user), 409);
  const card = await bind(user, id);
  t.equal((await requestStatus(id)), RS.Executing, 'Executing after the bind');
  await expectRefused(t, db, 'an approver completes', () => putRequest(id, { status: 'Completed' }, approver), 403);
  await expectRefused(t, db, 'an administrator (no executor) completes', () => putRequest(id, { status: 'Completed' }, admin), 403);
  const res = await putRequest(id, { status: 'Completed' }, user);
  t.equal(res.status, 200, 'complete: 200');
  t.same(Object.keys(res.body).sort(), REQUEST_KEYS);
  t.equal(res.body.Status, RS.Completed, 'Completed (8)');
  t.match(res.body.Completed, ISO_Z);
  t.not(res.body.Completed, UNSET);
  t.equal(res.body.NewSmartcardUuid, card);
  t.equal((await requestStatus(id)), RS.Completed, 'stored Completed');
  t.equal((await cardStatus(card)), S.Active, 'the card is stored Active (3)');
  t.equal((await s.http('GET', `${BASE}/smartcards/${card}`, { token: user })).body.Status, S.Active, 'GET shows the card Active');
  await expectRefused(t, db, 'completing a Completed request', () => putRequest(id, { status: 'Completed' }, user), 409);
  await expectRefused(t, db, 'abandoning a Completed request', () => putRequest(id, { status: 'Abandoned' }, user), 409);

  // A type that issues no card completes from Approved.
  const retire = await createRequest(agent, { type: 'Retire', target: USERS.user.sub, smartcard: card });
  t.equal((await requestStatus(retire)), RS.Approved);
  const done = await putRequest(retire, { status: 'completed' }, agent);
  t.equal(done.status, 200, 'Retire completes from Approved');
  t.equal(done.body.Status, RS.Completed);
  t.equal((await cardStatus(card)), S.Active, 'completing a Retire request without setting the card status leaves the card');
});

t.test('abandon: an executor abandons an Executing request; its never-Active card is Retired', async (t) => {
  const id = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  await expectRefused(t, db, 'abandoning an Approved request', () => putRequest(id, { status: 'Abandoned' }, user), 409);
  const card = await bind(user, id);
  await expectRefused(t, db, 'an approver abandons', () => putRequest(id, { status: 'Abandoned' }, approver), 403);
  const res = await putRequest(id, { status: 'Abandoned' }, agent);
  t.equal(res.status, 200, 'an enrollment agent abandons');
  t.equal(res.body.Status, RS.Abandoned, 'Abandoned (7)');
  t.equal((await requestStatus(id)), RS.Abandoned);
  t.equal((await cardStatus(card)), S.Retired, 'the card that was never Active is Retired');
});

t.test('PUT /requests/{id}: malformed input and unknown or invisible requests', async (t) => {
  const id = await createRequest(user, { profiletemplateuuid: oneApprovalId, type: 'Enroll' });
  const put = (path: string, body: unknown, token = approver) => () => s.http('PUT', `${BASE}/requests/${path}`, { token, body });
  for (const [label, path, body] of [
    ['id malformed', 'not-a-guid', { status: 'Approved' }],
    ['status not a name', id, { status: 'Approve' }],
    ['status Executing (set only by the service)', id, { status: 'Executing' }],
    ['status Failed (set only by the service)', id, { status: 'Failed' }],
    ['status Pending', id, { status: 'Pending' }],
    ['status an unknown number', id, { status: 42 }],
    ['status missing', id, { comment: 'fine' }],
    ['comment not a string', id, { status: 'Approved', comment: { text: 'fine' } }],
  ] as const) {
    await expectRefused(t, db, `PUT /requests/{id}, ${label}`, put(path, body), 400);
  }
  await expectRefused(t, db, 'PUT /requests/{id}, unknown', put(randomUUID(), { status: 'Approved' }), 404);
  await expectRefused(t, db, 'PUT /requests/{id}, not visible', put(id, { status: 'Canceled' }, other), 404);
  t.equal((await requestStatus(id)), RS.Pending, 'still Pending');
});

t.test('GET /requests/{id}: who may read', async (t) => {
  const id = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: USERS.user.sub });
  for (const [who, token] of [
    ['the target', user],
    ['the initiator', agent],
    ['an approver of the template', approver],
    ['an administrator', admin],
  ] as const) {
    const res = await s.http('GET', `${BASE}/requests/${id}`, { token });
    t.equal(res.status, 200, `${who} reads the request`);
    t.equal(res.body?.Uuid, id);
  }
  const get = (path: string, token: string | null) => () => s.http('GET', `${BASE}/requests/${path}`, { token: token ?? undefined });
  await expectRefused(t, db, 'GET /requests/{id}, not visible', get(id, other), 404);
  await expectRefused(t, db, 'GET /requests/{id}, unknown', get(randomUUID(), user), 404);
  await expectRefused(t, db, 'GET /requests/{id}, malformed', get('12345', user), 400);
  await expectRefused(t, db, 'GET /requests/{id}, no token', get(id, null), 401);
  const mixed = await s.http('GET', `/certificatemanagement/API/V1.0/Requests/{${id.toUpperCase()}}`, { token: user });
  t.equal(mixed.status, 200, 'mixed-case path, braced upper-case id');
  t.equal(mixed.body?.Uuid, id);
});

t.test('GET /requests?targetuser=current&status=: filters and visibility', async (t) => {
  const approved = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
  const pending = await createRequest(user, { profiletemplateuuid: oneApprovalId, type: 'Enroll' });
  const forSomeoneElse = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: randomUUID() });
  const forOther = await createRequest(agent, { profiletemplateuuid: templateId, type: 'Enroll', target: USERS.other.sub });

  const list = async (query: string, token = user) => {
    const res = await s.http('GET', `${BASE}/requests${query}`, { token });
    t.equal(res.status, 200, `GET /requests${query}: 200`);
    t.match(res.headers.get('content-type'), JSON_UTF8);
    t.ok(Array.isArray(res.body), 'an array');
    for (const r of res.body ?? []) t.same(Object.keys(r).sort(), REQUEST_KEYS, 'each item is a SPEC 5.2 request');
    return (res.body ?? []) as any[];
  };

  const mine = await list('?targetuser=current');
  t.ok(mine.length >= 2);
  t.ok(mine.every((r) => r.TargetUserUuid === USERS.user.sub), 'targetuser=current: only requests for the caller');
  const mineIds = mine.map((r) => r.Uuid);
  t.ok(mineIds.includes(approved) && mineIds.includes(pending), 'both of the caller’s new requests');
  t.notOk(mineIds.includes(forSomeoneElse) || mineIds.includes(forOther), 'no one else’s');

  const mineApproved = await list('?targetuser=current&status=Approved');
  t.ok(mineApproved.length >= 1);
  t.ok(mineApproved.every((r) => r.Status === RS.Approved && r.TargetUserUuid === USERS.user.sub), 'status=Approved: only Approved requests for the caller');
  t.ok(mineApproved.some((r) => r.Uuid === approved), 'includes the Approved one');
  t.notOk(mineApproved.some((r) => r.Uuid === pending), 'excludes the Pending one');

  for (const query of ['?TargetUser=CURRENT&Status=approved', '?targetUser=Current&STATUS=3']) {
    const same = await list(query);
    t.same(same.map((r) => r.Uuid).sort(), mineApproved.map((r) => r.Uuid).sort(), `${query}: names and values in any case, the status as a number`);
  }
  const pendingOnly = await list('?targetuser=current&status=pending');
  t.ok(pendingOnly.some((r) => r.Uuid === pending) && pendingOnly.every((r) => r.Status === RS.Pending), 'status=pending');

  const agentsOwn = await list('?targetuser=current', agent);
  t.ok(agentsOwn.every((r) => r.TargetUserUuid === USERS.agent.sub), 'the agent: only requests targeting the agent');
  t.notOk(agentsOwn.some((r) => r.Uuid === forSomeoneElse), 'not the ones the agent initiated for others');

  const others = await list('', other);
  t.ok(others.some((r) => r.Uuid === forOther), 'other sees the request made for them');
  t.notOk(others.some((r) => r.TargetUserUuid === USERS.user.sub), 'other sees none of user’s requests');
  const allForAgent = await list('', agent);
  t.ok(allForAgent.some((r) => r.Uuid === approved), 'an enrollment agent of the template sees user’s requests');

  const get = (query: string, token: string | null = user) => () => s.http('GET', `${BASE}/requests${query}`, { token: token ?? undefined });
  await expectRefused(t, db, 'GET /requests, status not a name', get('?status=Approvd'), 400);
  await expectRefused(t, db, 'GET /requests, status an unknown number', get('?status=77'), 400);
  await expectRefused(t, db, 'GET /requests, targetuser neither current nor a GUID', get('?targetuser=me'), 400);
  await expectRefused(t, db, 'GET /requests, no token', get('?targetuser=current', null), 401);
});
