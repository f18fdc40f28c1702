// /openapi.json as a client generator sees it: swagger-cli (a validator we did not write)
// accepts it; every operation is named (the gRPC method where there is one); shared schemas are
// components referenced from the operations (the error body once); the response headers are
// documented; public routes say `security: []`; the CRL and the CA certificate have their real
// media types; and each operation lists exactly the statuses it can return (SPEC 9): the
// document's lists for a few routes, and every route probed with the refusals any client can
// provoke (no token, a malformed id, an unknown id, an empty or non-JSON body) answering one of
// the statuses its operation lists.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { startStack } from '../support/stack.js';
import { USERS } from '../support/fixtures.js';

const require = createRequire(import.meta.url);
const SWAGGER_CLI = join(dirname(require.resolve('@apidevtools/swagger-cli/package.json')), 'bin', 'swagger-cli.js');

function swaggerCli(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [SWAGGER_CLI, 'validate', file], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, output: `${stdout}${stderr}` })),
  );
}

t.test('/openapi.json: valid, named, shared, with headers, security and media types', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const document = await (await fetch(`${stack.url}/openapi.json`)).json();
  const file = join(mkdtempSync(join(tmpdir(), 'cm-openapi-')), 'openapi.json');
  writeFileSync(file, JSON.stringify(document));
  const validation = await swaggerCli(file);
  t.equal(validation.code, 0, `swagger-cli validate: ${validation.output}`);

  const operations = Object.entries(document.paths).flatMap(([path, item]: [string, any]) =>
    Object.entries(item).map(([method, op]: [string, any]) => ({ path, method, op })),
  );
  const ids = operations.map((o) => o.op.operationId);
  t.ok(ids.every((id) => typeof id === 'string' && /^[A-Za-z][A-Za-z0-9_]*$/.test(id)), 'every operation has an operationId');
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  const find = (method: string, path: string) => operations.find((o) => o.method === method && o.path === path)!.op;
  const api = '/CertificateManagement/api/v1.0';
  t.equal(find('get', `${api}/smartcards/{id}`).operationId, 'GetSmartcard', 'the gRPC method\'s name');
  t.equal(find('post', `${api}/smartcards`).operationId, 'AssignSmartcard');
  t.equal(find('get', '/crl').operationId, 'GetCrl');
  t.equal(find('get', '/readyz').operationId, 'GetReadiness');

  // Shared schemas: components, referenced; the error body written once.
  const text = JSON.stringify(document.paths);
  t.equal(text.split('"Message"').length - 1, 0, 'the error body is not repeated in the operations');
  t.ok(document.components.schemas.Error.properties.Code, 'the error body is a component');
  for (const name of ['Error', 'Smartcard', 'Request', 'ProfileTemplate', 'WorkflowPolicy', 'AuditRecord']) {
    t.ok(text.includes(`"#/components/schemas/${name}"`), `${name} is referenced`);
  }
  t.same(find('get', `${api}/smartcards/{id}`).responses['404'].content['application/json'].schema, { $ref: '#/components/schemas/Error' });

  // Headers.
  for (const { path, method, op } of operations) {
    for (const [status, response] of Object.entries(op.responses) as [string, any][]) {
      t.same(response.headers?.['X-Correlation-Id'], { $ref: '#/components/headers/X-Correlation-Id' }, `${method} ${path} ${status}: X-Correlation-Id`);
    }
  }
  t.ok(find('post', `${api}/requests`).responses['201'].headers.Location, 'Location on 201');
  t.ok(find('get', `${api}/requests/{id}`).responses['401'].headers['WWW-Authenticate'], 'WWW-Authenticate on 401');
  t.notOk(find('get', `${api}/requests/{id}`).responses['404'].headers['WWW-Authenticate'], 'WWW-Authenticate on 401 only');
  t.ok(find('get', `${api}/requests/{reqid}/smartcards/{scid}/diversifiedkey`).responses['429'].headers['Retry-After'], 'Retry-After on 429');
  t.ok(find('get', `${api}/requests/{id}`).responses['503'].headers['Retry-After'], 'Retry-After on 503');
  t.same(Object.keys(document.components.headers).sort(), ['Location', 'Retry-After', 'WWW-Authenticate', 'X-Correlation-Id']);

  // Security.
  for (const path of ['/healthz', '/readyz', '/crl', '/ca.crt']) t.same(find('get', path).security, [], `${path} is public`);
  t.same(find('get', `${api}/smartcards/{id}`).security, [{ bearerAuth: [] }]);

  // Media types.
  t.same(Object.keys(find('get', '/crl').responses['200'].content), ['application/pkix-crl']);
  t.same(Object.keys(find('get', '/ca.crt').responses['200'].content), ['application/pkix-cert']);

  // Statuses (SPEC 9): exactly those each route can answer. Creating a template or a request always
  // makes a new one (201, never 204); only key and PIN calls are rate-limited (429); public routes
  // have no 401; routes without input no 400; only routes with a body 413 and 415.
  const statuses = (method: string, path: string) => Object.keys(find(method, path).responses).map(Number);
  t.same(statuses('post', `${api}/profiletemplates`), [201, 400, 401, 403, 413, 415, 500, 503, 504]);
  t.same(statuses('post', `${api}/requests`), [201, 400, 401, 403, 404, 409, 413, 415, 500, 503, 504]);
  t.same(statuses('post', `${api}/smartcards`), [201, 204, 400, 401, 403, 404, 409, 413, 415, 500, 503, 504]);
  t.same(statuses('get', `${api}/requests/{reqid}/smartcards/{scid}/diversifiedkey`), [200, 400, 401, 403, 404, 409, 429, 500, 503, 504]);
  t.same(statuses('get', `${api}/smartcards/{id}`), [200, 400, 401, 404, 500, 503, 504]);
  t.same(statuses('get', `${api}/certificates`), [200, 401, 500, 503, 504]);
  t.same(statuses('get', `${api}/audit`), [200, 400, 401, 403, 500, 503, 504]);
  t.same(statuses('get', '/crl'), [200, 500, 503, 504]);
  t.same(statuses('get', '/readyz'), [200, 500, 503]);
  t.same(statuses('get', '/healthz'), [200, 503]);
  t.match(find('get', `${api}/smartcards/{id}`).responses['404'].description, /^NOT_FOUND: /, 'each error status says what it means');
  t.notMatch(text, /propertyNames/, 'no keyword OpenAPI 3.0 lacks');
});

t.test('every route answers the refusals a client can provoke with a status its operation lists', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const document = await (await fetch(`${stack.url}/openapi.json`)).json();
  const user = await stack.as(USERS.user);
  const unknown = 'c0ffee00-0000-4000-8000-000000000000';
  let probes = 0;
  for (const [path, item] of Object.entries(document.paths) as [string, any][]) {
    for (const [method, op] of Object.entries(item) as [string, any][]) {
      const listed = Object.keys(op.responses).map(Number);
      const probe = async (what: string, fill: string, options: Parameters<typeof stack.http>[2]) => {
        const answer = await stack.http(method.toUpperCase(), path.replace(/\{[^}]+\}/g, fill), options);
        probes++;
        if (!listed.includes(answer.status)) t.fail(`${method} ${path} ${what}: ${answer.status} is not among ${listed.join(', ')}`);
      };
      const body = method === 'get' ? {} : { body: {} };
      await probe('without a token', unknown, body);
      await probe('with a malformed id', 'not-a-guid', { token: user, ...body });
      await probe('with an unknown id', unknown, { token: user, ...body });
      if (method !== 'get') await probe('with a body that is not JSON', unknown, { token: user, rawBody: 'x', headers: { 'content-type': 'text/plain' } });
    }
  }
  t.ok(probes > 80, `${probes} probes, each answered with a listed status`);
});

t.test('swagger-cli is a real check: it rejects a broken document', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'cm-openapi-')), 'bad.json');
  writeFileSync(file, JSON.stringify({ openapi: '3.0.3', info: { title: 'x', version: '1' }, paths: { '/x': { get: { responses: { 200: { content: { 'application/json': { schema: { type: 'object', propertyNames: { format: 'x' } } } } } } } } } }));
  t.not((await swaggerCli(file)).code, 0);
});
