// Foundation, end to end over REST: profile templates (SPEC 3, 5.3 - 5.5, 7) and the audit
// route. The limited list view, GET one, the workflow policy by type name (and the alias
// /policy/workflow/{type}), the smart card configuration with DefaultAdminKeyHex shown only to
// whom SPEC 5.5 allows (and that reading audited), Version bumps on PUT, DELETE of referenced
// templates, and GET /audit. Every refusal is checked for its status, its error body and that
// storage is left exactly as it was.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { BASE } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { expectRefused, expectSame } from '../support/db-snapshot.js';
import { agentOnlyTemplate, apiFor, idOf, ISO_Z, JSON_UTF8, startStackWithDb } from '../support/api.js';

const TEMPLATE_KEYS = [
  'Uuid',
  'Name',
  'Description',
  'Version',
  'IsSmartcardProfileTemplate',
  'IsVirtualSmartcardProfileTemplate',
  'Policies',
  'SmartcardConfiguration',
  'CertificateTemplates',
].sort();
const SUMMARY_KEYS = ['Name', 'Description', 'Uuid', 'IsSmartcardProfileTemplate', 'IsVirtualSmartcardProfileTemplate'].sort();
const POLICY_KEYS = [
  'Enabled',
  'SelfServiceEnabled',
  'EnrollAgentRequired',
  'ApprovalsNeeded',
  'AuthorizedInitiators',
  'AuthorizedApprovers',
  'AuthorizedEnrollmentAgents',
  'CollectComments',
  'DataCollection',
].sort();
const CONFIGURATION_KEYS = [
  'DefaultAdminKeyHex',
  'DiversifyAdminKey',
  'UserPinOption',
  'UserPinPolicy',
  'AllowSmartcardReuse',
  'MaxNumberOfCertificates',
  'AtrMiddleware',
  'AdminKeyAlgorithm',
].sort();
const AUDIT_KEYS = ['At', 'CorrelationId', 'CallerUuid', 'Action', 'RequestUuid', 'SmartcardUuid', 'Outcome', 'Detail'];
const KEY = '0102030405060708a1a2a3a4a5a6a7a8b1b2b3b4b5b6b7b8';

const { s, db } = await startStackWithDb(t);
const { tokens, createTemplate, createRequest, bind, setRequest } = await apiFor(s);
const { admin, agent, user, approver, other } = tokens;

t.test('POST /profiletemplates: 201, Location, service-assigned Uuid and Version, SPEC defaults', async (t) => {
  const sentUuid = randomUUID();
  const res = await s.http('POST', `${BASE}/profiletemplates`, { token: admin, body: { Name: 'Minimal', Uuid: sentUuid, Version: 42 } });
  t.equal(res.status, 201);
  t.match(res.headers.get('content-type'), JSON_UTF8);
  t.equal(typeof res.body, 'string', 'a bare JSON string');
  t.match(res.body, /^api\/v1\.0\/profiletemplates\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const id = idOf(res.body);
  t.not(id, sentUuid, 'the Uuid is assigned by the service');
  t.equal(res.headers.get('location'), `/CertificateManagement/api/v1.0/profiletemplates/${id}`);
  t.equal((await db.row<{ version: number }>('SELECT version FROM profile_templates WHERE uuid = ?', id))?.version, 1, 'stored with Version 1');

  const got = await s.http('GET', `${BASE}/profiletemplates/${id}`, { token: admin });
  t.equal(got.status, 200);
  t.same(Object.keys(got.body).sort(), TEMPLATE_KEYS, 'the properties of SPEC 5.3');
  t.equal(got.body.Uuid, id);
  t.equal(got.body.Name, 'Minimal');
  t.equal(got.body.Version, 1, 'Version 1 whatever was sent');
  const configuration = got.body.SmartcardConfiguration;
  t.same(Object.keys(configuration).sort(), CONFIGURATION_KEYS);
  t.strictSame(configuration.UserPinPolicy, { MinLength: 6, MaxLength: 127, CharacterSet: 0, ServerPinLength: 8 }, 'UserPinPolicy defaults 6, 127, Numeric, 8');
  t.equal(configuration.AdminKeyAlgorithm, '3DES', 'AdminKeyAlgorithm defaults to 3DES');
  t.ok(Array.isArray(got.body.CertificateTemplates));
  for (const type of ['Enroll', 'Retire', 'Unblock', 'Duplicate']) {
    const policy = await s.http('GET', `${BASE}/profiletemplates/${id}/policies/${type}`, { token: admin });
    t.equal(policy.status, 200, `policy ${type} of a template without Policies`);
    t.equal(policy.body?.Enabled, false, `a request type missing from Policies has Enabled false (${type})`);
  }
});

t.test('GET /profiletemplates: the limited view, only templates the caller may initiate on', async (t) => {
  const selfService = await createTemplate(restTemplate({ name: 'List: self-service' }));
  const agentsOnly = await createTemplate(agentOnlyTemplate('List: agents only'));
  const list = async (token: string) => {
    const res = await s.http('GET', `${BASE}/profiletemplates`, { token });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), JSON_UTF8);
    t.ok(Array.isArray(res.body));
    for (const item of res.body) t.same(Object.keys(item).sort(), SUMMARY_KEYS, 'exactly the 5 keys of the limited view');
    return res.body as any[];
  };
  const forUser = await list(user);
  const mine = forUser.find((x) => x.Uuid === selfService);
  t.strictSame(mine, {
    Name: 'List: self-service',
    Description: 'Smart card logon for staff',
    Uuid: selfService,
    IsSmartcardProfileTemplate: true,
    IsVirtualSmartcardProfileTemplate: false,
  });
  t.notOk(forUser.some((x) => x.Uuid === agentsOnly), 'a user sees no template on which they may initiate nothing');
  const forAgent = await list(agent);
  t.ok(forAgent.some((x) => x.Uuid === selfService) && forAgent.some((x) => x.Uuid === agentsOnly), 'an initiator sees both');
  const forApprover = await list(approver);
  t.notOk(forApprover.some((x) => x.Uuid === agentsOnly), 'an approver who may initiate nothing on it: not listed');
  const approverSees = await s.http('GET', `${BASE}/profiletemplates/${agentsOnly}`, { token: approver });
  t.equal(approverSees.status, 200, 'but the approver may read it (SPEC 3)');
  const forOther = await list(other);
  t.notOk(forOther.some((x) => x.Uuid === agentsOnly));
  await expectRefused(t, db, 'GET /profiletemplates/{id}, not visible', () => s.http('GET', `${BASE}/profiletemplates/${agentsOnly}`, { token: other }), 404);
  await expectRefused(t, db, 'GET /profiletemplates/{id}, unknown', () => s.http('GET', `${BASE}/profiletemplates/${randomUUID()}`, { token: admin }), 404);
  await expectRefused(t, db, 'GET /profiletemplates/{id}, malformed', () => s.http('GET', `${BASE}/profiletemplates/template-1`, { token: admin }), 400);
  await expectRefused(t, db, 'GET /profiletemplates, no token', () => s.http('GET', `${BASE}/profiletemplates`), 401);
});

t.test('GET /profiletemplates/{id}: the full template as created', async (t) => {
  const body = restTemplate({ name: 'Full', approvals: 1 });
  const id = await createTemplate(body);
  const res = await s.http('GET', `/CertificateManagement/API/v1.0/ProfileTemplates/${id.toUpperCase()}`, { token: user });
  t.equal(res.status, 200, 'mixed-case path and id');
  t.same(Object.keys(res.body).sort(), TEMPLATE_KEYS);
  t.equal(res.body.Uuid, id);
  t.equal(res.body.Name, 'Full');
  t.equal(res.body.Description, 'Smart card logon for staff');
  t.equal(res.body.Version, 1);
  t.equal(res.body.IsSmartcardProfileTemplate, true);
  t.equal(res.body.IsVirtualSmartcardProfileTemplate, false);
  t.same(Object.keys(res.body.Policies).sort(), Object.keys(body.Policies).sort(), 'Policies keyed by request type name');
  for (const [type, policy] of Object.entries(body.Policies)) {
    t.same(Object.keys(res.body.Policies[type]).sort(), POLICY_KEYS, `${type}: the keys of SPEC 5.4`);
    t.match(res.body.Policies[type], policy, `${type}: as created`);
  }
  t.equal(res.body.Policies.Enroll.ApprovalsNeeded, 1);
  const c = res.body.SmartcardConfiguration;
  t.equal(c.DefaultAdminKeyHex, null, 'a plain user with no open request: DefaultAdminKeyHex null');
  t.equal(c.DiversifyAdminKey, true);
  t.equal(c.UserPinOption, 2, 'ServerDistributed as the number 2');
  t.strictSame(c.UserPinPolicy, { MinLength: 6, MaxLength: 16, CharacterSet: 0, ServerPinLength: 8 });
  t.equal(c.AllowSmartcardReuse, false);
  t.same(res.body.CertificateTemplates, [
    { TemplateCommonName: 'SmartcardLogon', KeyAlgorithmName: 'RSA', KeySize: 2048, HashAlgorithmName: 'SHA256', KeyUsages: 3, SubjectTemplate: 'CN={name}', ValidityDays: 365 },
  ]);
});

t.test('policies: by type name in any case, by number, and through /policy/workflow/{type}', async (t) => {
  const body = restTemplate({ name: 'Policies' });
  const id = await createTemplate(body);
  const full = (await s.http('GET', `${BASE}/profiletemplates/${id}`, { token: user })).body;
  for (const path of [
    `/profiletemplates/${id}/policies/Enroll`,
    `/profiletemplates/${id}/policies/enroll`,
    `/profiletemplates/${id}/policies/ENROLL`,
    `/profiletemplates/${id}/policies/1`,
    `/profiletemplates/${id}/policy/workflow/Enroll`,
    `/profiletemplates/${id}/Policy/Workflow/enroll`,
    `/ProfileTemplates/${id}/POLICIES/Enroll`,
  ]) {
    const res = await s.http('GET', `${BASE}${path}`, { token: user });
    t.equal(res.status, 200, `GET ${path}`);
    t.match(res.headers.get('content-type'), JSON_UTF8);
    t.same(Object.keys(res.body ?? {}).sort(), POLICY_KEYS, `${path}: the keys of SPEC 5.4`);
    t.strictSame(res.body, full.Policies.Enroll, `${path}: the Enroll policy`);
  }
  const offline = await s.http('GET', `${BASE}/profiletemplates/${id}/policy/workflow/offlineunblock`, { token: agent });
  t.equal(offline.status, 200);
  t.strictSame(offline.body, full.Policies.OfflineUnblock, 'OfflineUnblock through the alias, lower case');
  const revoke = await s.http('GET', `${BASE}/profiletemplates/${id}/policies/9`, { token: agent });
  t.strictSame(revoke.body, full.Policies.Revoke, 'Revoke by its number 9');

  const agentsOnly = await createTemplate(agentOnlyTemplate('Policies: agents only'));
  const get = (path: string, token: string | null = user) => () => s.http('GET', `${BASE}${path}`, { token: token ?? undefined });
  await expectRefused(t, db, 'policies, unknown type name', get(`/profiletemplates/${id}/policies/Enrol`), 400);
  await expectRefused(t, db, 'policies, unknown type number', get(`/profiletemplates/${id}/policies/99`), 400);
  await expectRefused(t, db, 'policy/workflow, unknown type name', get(`/profiletemplates/${id}/policy/workflow/Bogus`), 400);
  await expectRefused(t, db, 'policies, malformed template id', get('/profiletemplates/xyz/policies/Enroll'), 400);
  await expectRefused(t, db, 'policies, unknown template', get(`/profiletemplates/${randomUUID()}/policies/Enroll`), 404);
  await expectRefused(t, db, 'policies, template not visible', get(`/profiletemplates/${agentsOnly}/policies/Enroll`, other), 404);
  await expectRefused(t, db, 'policy/workflow, template not visible', get(`/profiletemplates/${agentsOnly}/policy/workflow/Enroll`, other), 404);
  await expectRefused(t, db, 'policies, no token', get(`/profiletemplates/${id}/policies/Enroll`, null), 401);
});

t.test('DefaultAdminKeyHex: null unless an executor of an Approved/Executing request; reading audited', async (t) => {
  const id = await createTemplate(restTemplate({ name: 'Admin key', defaultKey: KEY }));
  const pendingId = await createTemplate(restTemplate({ name: 'Admin key, approvals', defaultKey: KEY, approvals: 1 }));
  const configOf = async (template: string, token: string, correlationId?: string) => {
    const res = await s.http('GET', `${BASE}/profiletemplates/${template}/configuration/smartcards`, {
      token,
      headers: correlationId ? { 'x-correlation-id': correlationId } : {},
    });
    t.equal(res.status, 200);
    t.same(Object.keys(res.body ?? {}).sort(), CONFIGURATION_KEYS, 'configuration: the keys of SPEC 5.5');
    return res.body;
  };
  const keyInTemplate = async (template: string, token: string) =>
    (await s.http('GET', `${BASE}/profiletemplates/${template}`, { token })).body?.SmartcardConfiguration?.DefaultAdminKeyHex;
  const audit = async () => (await s.http('GET', `${BASE}/audit?limit=1000`, { token: admin })).body as any[];

  // No request on the template at all.
  for (const [who, token] of [
    ['a plain user', user],
    ['an enrollment agent', agent],
    ['an approver', approver],
  ] as const) {
    t.equal((await configOf(id, token)).DefaultAdminKeyHex, null, `${who}, no open request: configuration shows null`);
    t.equal(await keyInTemplate(id, token), null, `${who}, no open request: the template shows null`);
  }
  const shownToAdmin = await configOf(id, admin);
  t.equal(shownToAdmin.DefaultAdminKeyHex, KEY, 'administrators see it (SPEC 5.5)');
  t.equal(shownToAdmin.UserPinOption, 2, 'enums as numbers');
  t.equal(shownToAdmin.UserPinPolicy.CharacterSet, 0);

  // A Pending request: not yet.
  const pending = await createRequest(user, { profiletemplateuuid: pendingId, type: 'Enroll' });
  t.equal((await configOf(pendingId, user)).DefaultAdminKeyHex, null, 'the target of a Pending request: null');

  // An Approved request of the user's own (self-service executor).
  const approved = await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  const correlationId = `read-key-${randomUUID()}`;
  const before = (await db.take());
  const shown = await configOf(id, user, correlationId);
  expectSame(t, (await db.take()), before, 'reading the key changes nothing but the audit log');
  t.equal(shown.DefaultAdminKeyHex, KEY, 'the executor of an Approved request sees the key');
  t.equal(await keyInTemplate(id, user), KEY, 'also in GET /profiletemplates/{id}');
  t.equal((await configOf(id, approver)).DefaultAdminKeyHex, null, 'an approver (no executor) still sees null');
  t.equal((await configOf(id, other)).DefaultAdminKeyHex, null, 'a user with no request on it still sees null');

  const rows = await audit();
  const read = rows.filter((r) => r.CorrelationId === correlationId);
  t.equal(read.length, 1, 'the reading is audited once, with the correlation id of the call');
  t.equal(read[0]?.Action, 'ReadDefaultAdminKey');
  t.equal(read[0]?.CallerUuid, USERS.user.sub);
  t.equal(read[0]?.Outcome, 'Succeeded');
  t.match(read[0]?.At, ISO_Z);
  t.notOk(rows.some((r) => JSON.stringify(r).toLowerCase().includes(KEY)), 'no audit record holds the key');
  const viaTemplate = `read-template-${randomUUID()}`;
  const full = await s.http('GET', `${BASE}/profiletemplates/${id}`, { token: user, headers: { 'x-correlation-id': viaTemplate } });
  t.equal(full.body?.SmartcardConfiguration?.DefaultAdminKeyHex, KEY);
  const readViaTemplate = (await audit()).filter((r) => r.CorrelationId === viaTemplate);
  t.same(readViaTemplate.map((r) => [r.Action, r.CallerUuid, r.Outcome]), [['ReadDefaultAdminKey', USERS.user.sub, 'Succeeded']], 'reading it through GET /profiletemplates/{id} is audited too');
  const byNonReader = `no-key-${randomUUID()}`;
  await s.http('GET', `${BASE}/profiletemplates/${id}/configuration/smartcards`, { token: approver, headers: { 'x-correlation-id': byNonReader } });
  t.notOk((await audit()).some((r) => r.CorrelationId === byNonReader && r.Action === 'ReadDefaultAdminKey'), 'no ReadDefaultAdminKey record when the key was not shown');

  // Executing: still; once the request is final: no more.
  await bind(user, approved);
  t.equal((await configOf(id, user)).DefaultAdminKeyHex, KEY, 'Executing: the key');
  await setRequest(user, approved, 'Completed');
  t.equal((await configOf(id, user)).DefaultAdminKeyHex, null, 'no open request any more: null');

  // An agent executing someone else's Approved request.
  const forSomeone = await createRequest(agent, { profiletemplateuuid: id, type: 'Enroll', target: randomUUID() });
  t.equal((await configOf(id, agent)).DefaultAdminKeyHex, KEY, 'an enrollment agent with an Approved request to execute sees the key');
  const agentReads = (await audit()).filter((r) => r.Action === 'ReadDefaultAdminKey' && r.CallerUuid === USERS.agent.sub);
  t.ok(agentReads.length >= 1, "the agent's reading is audited");
  await setRequest(agent, forSomeone, 'Canceled');
  t.equal((await configOf(id, agent)).DefaultAdminKeyHex, null, 'after the cancel: null');
  t.equal((await configOf(pendingId, user)).DefaultAdminKeyHex, null, 'the Pending request still shows null');
  void pending;

  const get = (path: string, token: string | null = user) => () => s.http('GET', `${BASE}${path}`, { token: token ?? undefined });
  const agentsOnly = await createTemplate(agentOnlyTemplate('Configuration: agents only'));
  await expectRefused(t, db, 'configuration/smartcards, malformed id', get('/profiletemplates/abc/configuration/smartcards'), 400);
  await expectRefused(t, db, 'configuration/smartcards, unknown template', get(`/profiletemplates/${randomUUID()}/configuration/smartcards`), 404);
  await expectRefused(t, db, 'configuration/smartcards, not visible', get(`/profiletemplates/${agentsOnly}/configuration/smartcards`, other), 404);
  await expectRefused(t, db, 'configuration/smartcards, no token', get(`/profiletemplates/${id}/configuration/smartcards`, null), 401);
});

t.test('PUT /profiletemplates/{id}: Version +1 on every change; requests and cards keep theirs', async (t) => {
  const id = await createTemplate(restTemplate({ name: 'Versioned' }));
  const early = await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  const earlyCard = await bind(user, early);

  const put1 = await s.http('PUT', `${BASE}/profiletemplates/${id}`, { token: admin, body: { ...restTemplate({ name: 'Versioned v2' }), Uuid: randomUUID(), Version: 99 } });
  t.equal(put1.status, 200, 'PUT: 200');
  t.match(put1.headers.get('content-type'), JSON_UTF8);
  t.same(Object.keys(put1.body).sort(), TEMPLATE_KEYS, 'answers the full template');
  t.equal(put1.body.Uuid, id, 'the Uuid stays');
  t.equal(put1.body.Version, 2, 'Version 2, whatever was sent');
  t.equal(put1.body.Name, 'Versioned v2');
  t.equal((await db.row<{ version: number; name: string }>('SELECT version, name FROM profile_templates WHERE uuid = ?', id))?.version, 2, 'stored Version 2');
  const put2 = await s.http('PUT', `${BASE}/profiletemplates/${id}`, { token: admin, body: restTemplate({ name: 'Versioned v3', approvals: 1 }) });
  t.equal(put2.body?.Version, 3, 'Version 3');
  const got = await s.http('GET', `${BASE}/profiletemplates/${id}`, { token: user });
  t.equal(got.body.Version, 3);
  t.equal(got.body.Name, 'Versioned v3');
  t.equal(got.body.Policies.Enroll.ApprovalsNeeded, 1, 'the new policy is in force');

  t.equal((await s.http('GET', `${BASE}/smartcards/${earlyCard}`, { token: user })).body.ProfileTemplateVersion, 1, 'a card keeps the Version it was made under');
  t.equal((await db.row<{ profile_template_version: number }>('SELECT profile_template_version FROM requests WHERE uuid = ?', early))?.profile_template_version, 1, 'a request keeps its Version');
  const late = await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  t.equal((await db.row<{ status: number }>('SELECT status FROM requests WHERE uuid = ?', late))?.status, 1, 'a new request follows the new policy: Pending');
  t.equal((await db.row<{ profile_template_version: number }>('SELECT profile_template_version FROM requests WHERE uuid = ?', late))?.profile_template_version, 3, 'a new request records Version 3');
});

t.test('template writes: administrators only, body checked, DELETE refused while referenced', async (t) => {
  const id = await createTemplate(restTemplate({ name: 'Writes' }));
  const post = (body: unknown, token = admin) => () => s.http('POST', `${BASE}/profiletemplates`, { token, body });
  const put = (path: string, body: unknown, token = admin) => () => s.http('PUT', `${BASE}/profiletemplates/${path}`, { token, body });
  const del = (path: string, token = admin) => () => s.http('DELETE', `${BASE}/profiletemplates/${path}`, { token });

  await expectRefused(t, db, 'POST /profiletemplates by a user', post(restTemplate({ name: 'Nope' }), user), 403);
  await expectRefused(t, db, 'POST /profiletemplates by an agent', post(restTemplate({ name: 'Nope' }), agent), 403);
  await expectRefused(t, db, 'PUT /profiletemplates/{id} by a user', put(id, restTemplate({ name: 'Nope' }), user), 403);
  await expectRefused(t, db, 'DELETE /profiletemplates/{id} by an agent', del(id, agent), 403);

  const { Name: _name, ...noName } = restTemplate();
  for (const [label, body] of [
    ['Name missing', noName],
    ['Name empty', { ...restTemplate(), Name: '' }],
    ['Name null', { ...restTemplate(), Name: null }],
    ['Policies not an object', { ...restTemplate(), Policies: 'Enroll' }],
    ['SmartcardConfiguration not an object', { ...restTemplate(), SmartcardConfiguration: 5 }],
    ['UserPinOption not a name', { ...restTemplate(), SmartcardConfiguration: { ...restTemplate().SmartcardConfiguration, UserPinOption: 'Sometimes' } }],
    ['AdminKeyAlgorithm unknown', { ...restTemplate(), SmartcardConfiguration: { ...restTemplate().SmartcardConfiguration, AdminKeyAlgorithm: 'DES' } }],
    ['DefaultAdminKeyHex not hex', { ...restTemplate(), SmartcardConfiguration: { ...restTemplate().SmartcardConfiguration, DefaultAdminKeyHex: 'not-hex' } }],
    ['Policies keyed by an unknown type', { ...restTemplate(), Policies: { Enrol: restTemplate().Policies.Enroll } }],
  ] as const) {
    await expectRefused(t, db, `POST /profiletemplates, ${label}`, post(body), 400);
    await expectRefused(t, db, `PUT /profiletemplates/{id}, ${label}`, put(id, body), 400);
  }
  await expectRefused(t, db, 'PUT /profiletemplates/{id}, malformed id', put('template', restTemplate()), 400);
  await expectRefused(t, db, 'PUT /profiletemplates/{id}, unknown', put(randomUUID(), restTemplate()), 404);
  await expectRefused(t, db, 'DELETE /profiletemplates/{id}, malformed id', del('template'), 400);
  await expectRefused(t, db, 'DELETE /profiletemplates/{id}, unknown', del(randomUUID()), 404);
  t.equal((await db.row<{ version: number }>('SELECT version FROM profile_templates WHERE uuid = ?', id))?.version, 1, 'still Version 1');

  // Referenced by a request (and its card): 409 WRONG_STATE.
  const request = await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  await expectRefused(t, db, 'DELETE of a template a request refers to', del(id), 409, 'WRONG_STATE');
  await bind(user, request);
  await setRequest(user, request, 'Completed');
  await expectRefused(t, db, 'DELETE of a template a card refers to', del(id), 409, 'WRONG_STATE');

  // Unreferenced: 204, gone.
  const unused = await createTemplate(restTemplate({ name: 'Unused' }));
  const res = await del(unused)();
  t.equal(res.status, 204, 'DELETE of an unreferenced template: 204');
  t.equal(res.raw.length, 0, 'no body');
  t.equal((await db.row('SELECT uuid FROM profile_templates WHERE uuid = ?', unused)), undefined, 'removed from storage');
  await expectRefused(t, db, 'GET a deleted template', () => s.http('GET', `${BASE}/profiletemplates/${unused}`, { token: admin }), 404);
  const listed = await s.http('GET', `${BASE}/profiletemplates`, { token: user });
  t.notOk(listed.body.some((x: any) => x.Uuid === unused), 'not listed any more');
});

t.test('GET /audit: administrators, newest first, filters and limit', async (t) => {
  const id = await createTemplate(restTemplate({ name: 'Audit' }));
  const request = await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  const card = await bind(user, request);
  await setRequest(user, request, 'Completed');

  // More than 100 audit records in all, so that the default limit shows.
  for (let n = (await db.row<{ n: number }>('SELECT count(*) AS n FROM audit_log'))!.n; n <= 110; n++) {
    await createRequest(user, { profiletemplateuuid: id, type: 'Enroll' });
  }
  const total = (await db.row<{ n: number }>('SELECT count(*) AS n FROM audit_log'))!.n;
  const all = await s.http('GET', `${BASE}/audit`, { token: admin });
  t.equal(all.status, 200);
  t.match(all.headers.get('content-type'), JSON_UTF8);
  t.ok(Array.isArray(all.body));
  t.equal(all.body.length, 100, `limit defaults to 100 (of ${total})`);
  const thousand = await s.http('GET', `${BASE}/audit?limit=1000`, { token: admin });
  t.equal(thousand.body.length, Math.min(total, 1000), 'limit=1000: every record up to 1000');
  t.same(thousand.body.slice(0, 100), all.body, 'the default page is the newest 100');
  for (const row of all.body.slice(0, 5)) for (const key of AUDIT_KEYS) t.ok(key in row, `audit row has ${key}`);
  const times = all.body.map((r: any) => r.At);
  t.same(times, [...times].sort().reverse(), 'newest first');

  const byRequest = await s.http('GET', `${BASE}/audit?requestid=${request}`, { token: admin });
  t.equal(byRequest.status, 200);
  t.ok(byRequest.body.every((r: any) => r.RequestUuid === request), 'requestid filters');
  const actions = byRequest.body.map((r: any) => `${r.Action}:${r.Outcome}`);
  for (const a of ['CreateRequest:Succeeded', 'AssignSmartcard:Succeeded', 'UpdateRequestStatus:Succeeded']) t.ok(actions.includes(a), `audited ${a}`);
  t.equal(byRequest.body[0]?.Action, 'UpdateRequestStatus', 'the newest first');
  const byCard = await s.http('GET', `${BASE}/AUDIT?SmartcardId=${card.toUpperCase()}`, { token: admin });
  t.equal(byCard.status, 200);
  t.ok(byCard.body.length >= 1 && byCard.body.every((r: any) => r.SmartcardUuid === card), 'smartcardid filters (names and GUID in any case)');
  const two = await s.http('GET', `${BASE}/audit?limit=2`, { token: admin });
  t.equal(two.body.length, 2, 'limit=2');
  t.same(two.body, all.body.slice(0, 2), 'the two newest');

  const get = (query: string, token: string | null = admin) => () => s.http('GET', `${BASE}/audit${query}`, { token: token ?? undefined });
  await expectRefused(t, db, 'GET /audit by a user', get('', user), 403);
  await expectRefused(t, db, 'GET /audit by an agent', get('', agent), 403);
  await expectRefused(t, db, 'GET /audit by an approver', get(`?requestid=${request}`, approver), 403);
  await expectRefused(t, db, 'GET /audit, no token', get('', null), 401);
  await expectRefused(t, db, 'GET /audit, requestid malformed', get('?requestid=abc'), 400);
  await expectRefused(t, db, 'GET /audit, smartcardid malformed', get('?smartcardid=abc'), 400);
  await expectRefused(t, db, 'GET /audit, limit not a number', get('?limit=ten'), 400);
  await expectRefused(t, db, 'GET /audit, limit negative', get('?limit=-1'), 400);
});
