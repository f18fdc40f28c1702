// Foundation, end to end over REST: the refusals every route of the foundation shares (SPEC 2,
// 3, 9). 401 for a missing, malformed, wrongly signed or expired token (with WWW-Authenticate:
// Bearer); 400 for a body that is not JSON or not an object; 413 over 64 KiB; 415 for a body
// that is not JSON; the framework's own 4xx (unknown route, malformed URL, headers too large).
// Each answer must be exactly {Message, Code, CorrelationId} with CorrelationId equal to the
// X-Correlation-Id header, and storage must be exactly as it was before the call.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { BASE, type HttpAnswer } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { mintToken } from '../support/core-harness.js';
import { checkErrorBody, expectRefused } from '../support/db-snapshot.js';
import { apiFor, idOf, startStackWithDb } from '../support/api.js';

const BODY_LIMIT = 64 * 1024;

const { s, db } = await startStackWithDb(t);
const { tokens, createTemplate, createRequest, bind } = await apiFor(s);
const { admin, user } = tokens;

// A world for the routes to act on: a template, an Approved Enroll request, an Assigned card on
// another one, so that a refusal cannot be mistaken for a 404 of a missing object.
const templateId = await createTemplate(restTemplate());
const openRequest = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
const boundRequest = await createRequest(user, { profiletemplateuuid: templateId, type: 'Enroll' });
const cardId = randomUUID();
const cardUuid = await bind(user, boundRequest, cardId);

interface Route {
  name: string;
  method: string;
  path: string;
  body?: unknown;
}

/** Every route of the foundation, each with a valid path and body. */
const ROUTES: Route[] = [
  { name: 'POST /smartcards', method: 'POST', path: '/smartcards', body: { requestid: openRequest, cardid: randomUUID() } },
  { name: 'PUT /requests/{reqid}/smartcards/{scid}', method: 'PUT', path: `/requests/${boundRequest}/smartcards/${cardUuid}`, body: { status: 'Retired' } },
  { name: 'GET /smartcards/{id}', method: 'GET', path: `/smartcards/${cardUuid}` },
  { name: 'GET /smartcards?cardid=', method: 'GET', path: `/smartcards?cardid=${cardId}` },
  { name: 'GET /smartcards/{id}/operations', method: 'GET', path: `/smartcards/${cardUuid}/operations` },
  { name: 'POST /requests', method: 'POST', path: '/requests', body: { profiletemplateuuid: templateId, type: 'Enroll' } },
  { name: 'GET /requests/{id}', method: 'GET', path: `/requests/${openRequest}` },
  { name: 'GET /requests?targetuser=current&status=', method: 'GET', path: '/requests?targetuser=current&status=Approved' },
  { name: 'PUT /requests/{id}', method: 'PUT', path: `/requests/${openRequest}`, body: { status: 'Canceled' } },
  { name: 'GET /profiletemplates', method: 'GET', path: '/profiletemplates' },
  { name: 'GET /profiletemplates/{id}', method: 'GET', path: `/profiletemplates/${templateId}` },
  { name: 'GET /profiletemplates/{id}/policies/{type}', method: 'GET', path: `/profiletemplates/${templateId}/policies/Enroll` },
  { name: 'GET /profiletemplates/{id}/policy/workflow/{type}', method: 'GET', path: `/profiletemplates/${templateId}/policy/workflow/Enroll` },
  { name: 'GET /profiletemplates/{id}/configuration/smartcards', method: 'GET', path: `/profiletemplates/${templateId}/configuration/smartcards` },
  { name: 'POST /profiletemplates', method: 'POST', path: '/profiletemplates', body: restTemplate({ name: 'Refused' }) },
  { name: 'PUT /profiletemplates/{id}', method: 'PUT', path: `/profiletemplates/${templateId}`, body: restTemplate({ name: 'Refused' }) },
  { name: 'DELETE /profiletemplates/{id}', method: 'DELETE', path: `/profiletemplates/${randomUUID()}` },
  { name: 'GET /audit', method: 'GET', path: '/audit' },
];
const BODY_ROUTES = ROUTES.filter((r) => r.body !== undefined);

t.test('401: no token, a malformed, wrongly signed or expired token, on every route', async (t) => {
  const wrongSecret = await mintToken(USERS.admin, { secret: 'another-secret-another-secret-0123456789' });
  const expired = await mintToken(USERS.admin, { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
    JSON.stringify({ sub: USERS.admin.sub, groups: ['cm-admins'], exp: Math.floor(Date.now() / 1000) + 3600 }),
  ).toString('base64url')}.`;
  const variants: [string, Record<string, string>][] = [
    ['no Authorization header', {}],
    ['a token that is not a JWT', { authorization: 'Bearer not-a-token' }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
    ['another scheme', { authorization: `Basic ${Buffer.from('ada:secret').toString('base64')}` }],
    ['a token signed with another secret', { authorization: `Bearer ${wrongSecret}` }],
    ['an expired token', { authorization: `Bearer ${expired}` }],
    ['an unsigned token (alg none)', { authorization: `Bearer ${unsigned}` }],
  ];
  for (const route of ROUTES) {
    for (const [label, headers] of variants) {
      await expectRefused(t, db, `${route.name}, ${label}`, () => s.http(route.method, `${BASE}${route.path}`, { headers, body: route.body }), 401);
    }
  }
  // exp is enforced with 60 s of leeway: a token that expired 30 s ago still works.
  const justExpired = await mintToken(USERS.admin, { expiresIn: Math.floor(Date.now() / 1000) - 30 });
  const res = await s.http('GET', `${BASE}/profiletemplates`, { token: justExpired });
  t.equal(res.status, 200, 'within the 60 s leeway: accepted');
});

t.test('400: a body that is not valid JSON, or not an object, on every route with a body', async (t) => {
  for (const route of BODY_ROUTES) {
    for (const [label, raw] of [
      ['truncated JSON', '{"requestid":'],
      ['unquoted names', '{requestid: 1}'],
      ['single quotes', "{'status':'Retired'}"],
      ['trailing garbage', '{"status":"Retired"} x'],
      ['an array', '[{"status":"Retired"}]'],
      ['a string', '"Retired"'],
      ['a number', '42'],
      ['null', 'null'],
      ['true', 'true'],
    ] as const) {
      await expectRefused(
        t,
        db,
        `${route.name}, ${label}`,
        () => s.http(route.method, `${BASE}${route.path}`, { token: admin, rawBody: raw, headers: { 'content-type': 'application/json' } }),
        400,
      );
    }
  }
  for (const route of ROUTES.filter((r) => r.method !== 'DELETE' && r.body !== undefined)) {
    await expectRefused(
      t,
      db,
      `${route.name}, empty body`,
      () => s.http(route.method, `${BASE}${route.path}`, { token: admin, rawBody: '', headers: { 'content-type': 'application/json' } }),
      400,
    );
    await expectRefused(t, db, `${route.name}, an empty object`, () => s.http(route.method, `${BASE}${route.path}`, { token: admin, body: {} }), 400);
  }
});

t.test('413: a JSON body over 64 KiB; exactly 64 KiB is read', async (t) => {
  for (const route of BODY_ROUTES) {
    const padded = JSON.stringify({ ...(route.body as object), comment: 'x'.repeat(BODY_LIMIT) });
    await expectRefused(
      t,
      db,
      `${route.name}, ${padded.length} bytes`,
      () => s.http(route.method, `${BASE}${route.path}`, { token: admin, rawBody: padded, headers: { 'content-type': 'application/json' } }),
      413,
    );
  }
  const sized = (size: number) => {
    const base = JSON.stringify({ profiletemplateuuid: templateId, type: 'Enroll', comment: '' });
    return JSON.stringify({ profiletemplateuuid: templateId, type: 'Enroll', comment: 'x'.repeat(size - base.length) });
  };
  t.equal(Buffer.byteLength(sized(BODY_LIMIT + 1)), BODY_LIMIT + 1);
  await expectRefused(
    t,
    db,
    'POST /requests, 64 KiB + 1 byte',
    () => s.http('POST', `${BASE}/requests`, { token: user, rawBody: sized(BODY_LIMIT + 1), headers: { 'content-type': 'application/json' } }),
    413,
  );
  t.equal(Buffer.byteLength(sized(BODY_LIMIT)), BODY_LIMIT);
  const atLimit = await s.http('POST', `${BASE}/requests`, { token: user, rawBody: sized(BODY_LIMIT), headers: { 'content-type': 'application/json' } });
  t.equal(atLimit.status, 201, 'exactly 64 KiB: read and accepted');
});

t.test('415: a body that is not JSON; a body with no content type is read as JSON', async (t) => {
  for (const route of BODY_ROUTES) {
    const json = JSON.stringify(route.body);
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml']) {
      await expectRefused(
        t,
        db,
        `${route.name}, Content-Type ${type}`,
        () => s.http(route.method, `${BASE}${route.path}`, { token: admin, rawBody: json, headers: { 'content-type': type } }),
        415,
      );
    }
  }
  const noType = await s.http('POST', `${BASE}/requests`, {
    token: user,
    rawBody: Buffer.from(JSON.stringify({ profiletemplateuuid: templateId, type: 'Enroll' })),
  });
  t.equal(noType.status, 201, 'no Content-Type: read as JSON');
  const created = idOf(noType.body);
  t.ok((await db.row('SELECT uuid FROM requests WHERE uuid = ?', created)), 'and the request is stored');
  const charset = await s.http('POST', `${BASE}/requests`, {
    token: user,
    rawBody: JSON.stringify({ profiletemplateuuid: templateId, type: 'Enroll' }),
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
  t.equal(charset.status, 201, 'application/json; charset=utf-8 is JSON');
});

t.test('the framework’s own 4xx carry the error body', async (t) => {
  for (const [label, method, path] of [
    ['an unknown route under the base path', 'GET', `${BASE}/nothing-here`],
    ['an unknown route outside the base path', 'GET', '/nothing-here'],
    ['an unknown sub-route of a card', 'GET', `${BASE}/smartcards/${cardUuid}/nothing`],
    ['an old API version', 'GET', `/CertificateManagement/api/v2.0/smartcards/${cardUuid}`],
  ] as const) {
    await expectRefused(t, db, label, () => s.http(method, path, { token: admin }), 404);
  }
  const wrongMethod = await s.http('PATCH', `${BASE}/smartcards/${cardUuid}`, { token: admin, body: { status: 'Retired' } });
  t.ok(wrongMethod.status === 404 || wrongMethod.status === 405, `a method the route does not have: 404 or 405 (${wrongMethod.status})`);
  checkErrorBody(t, wrongMethod, wrongMethod.status, wrongMethod.status === 404 ? 'NOT_FOUND' : undefined, 'PATCH /smartcards/{id}');

  await expectRefused(t, db, 'a malformed percent-encoding in the path', () => s.http('GET', `${BASE}/smartcards/%E0%A4%A`, { token: admin }), 400);

  // Headers over Node's limit: answered before any route, still with the error body.
  const big = await new Promise<HttpAnswer>((resolve, reject) => {
    const url = new URL(`${s.url}${BASE}/profiletemplates`);
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers: { authorization: `Bearer ${admin}`, 'x-padding': 'x'.repeat(64 * 1024) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          let body: unknown;
          try {
            body = JSON.parse(raw.toString('utf8'));
          } catch {
            body = raw.toString('utf8');
          }
          resolve({ status: res.statusCode ?? 0, headers, body, raw });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.equal(big.status, 431, 'headers too large: 431');
  checkErrorBody(t, big, 431, undefined, 'headers too large');
});

t.test('401 comes before any look at the input: no token and a bad body, media type, size or id', async (t) => {
  for (const [label, method, path, raw, type] of [
    ['bad JSON', 'POST', '/smartcards', 'not json', 'application/json'],
    ['a JSON array', 'POST', '/requests', '[]', 'application/json'],
    ['text/plain', 'PUT', `/requests/${openRequest}`, '{"status":"Canceled"}', 'text/plain'],
    ['over 64 KiB', 'POST', '/profiletemplates', JSON.stringify({ Name: 'x'.repeat(BODY_LIMIT) }), 'application/json'],
    ['a malformed id', 'GET', '/smartcards/not-a-guid', undefined, undefined],
    ['a malformed query', 'GET', '/smartcards?cardid=xyz', undefined, undefined],
    ['an unknown request', 'GET', `/requests/${randomUUID()}`, undefined, undefined],
  ] as const) {
    await expectRefused(
      t,
      db,
      `no token and ${label}`,
      () => s.http(method, `${BASE}${path}`, { rawBody: raw, headers: type ? { 'content-type': type } : {} }),
      401,
    );
  }
});
