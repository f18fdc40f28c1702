// Errors over real HTTP: every gRPC status -> HTTP mapping with Code from cm-error-code, 5xx
// without details, the gateway's own 400/401/404/413/415, Node's client errors, and the
// correlation id on every answer.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { BASE, call, gatewayFor, type TestGateway } from './fixtures/gateway.js';
import { SMARTCARD } from './fixtures/seed.js';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function expectErrorBody(t: Test, json: unknown, code: string, correlationId?: string) {
  t.same(Object.keys(json as object), ['Message', 'Code', 'CorrelationId'], 'exactly the three properties');
  t.match(json, { Code: code, Message: String, CorrelationId: correlationId ?? String });
}

/** Sends raw bytes and reads the whole answer (for requests fetch refuses to make). */
function rawExchange(gateway: TestGateway, bytes: string): Promise<string> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function bodyOf(rawAnswer: string): unknown {
  return JSON.parse(rawAnswer.slice(rawAnswer.indexOf('\r\n\r\n') + 4));
}

t.test('errors', async (t) => {
  const gateway = await gatewayFor(t);
  const { core } = gateway;

  t.test('each gRPC status maps to its HTTP status; Code from cm-error-code', async (t) => {
    const table: [grpc.status, number, string | undefined, string][] = [
      [grpc.status.INVALID_ARGUMENT, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'],
      [grpc.status.UNAUTHENTICATED, 401, 'UNAUTHENTICATED', 'UNAUTHENTICATED'],
      [grpc.status.PERMISSION_DENIED, 403, 'FORBIDDEN', 'FORBIDDEN'],
      [grpc.status.NOT_FOUND, 404, 'NOT_FOUND', 'NOT_FOUND'],
      [grpc.status.ALREADY_EXISTS, 409, 'CARD_IN_USE', 'ALREADY_EXISTS'],
      [grpc.status.FAILED_PRECONDITION, 409, 'INVALID_TRANSITION', 'WRONG_STATE'],
      [grpc.status.ABORTED, 409, 'REQUEST_ALREADY_BOUND', 'ABORTED'],
      [grpc.status.RESOURCE_EXHAUSTED, 429, 'LIMIT_EXCEEDED', 'RATE_LIMITED'],
      [grpc.status.UNAVAILABLE, 503, 'UNAVAILABLE', 'UNAVAILABLE'],
      [grpc.status.DEADLINE_EXCEEDED, 504, 'DEADLINE_EXCEEDED', 'DEADLINE_EXCEEDED'],
      [grpc.status.INTERNAL, 500, 'WEAK_KEY', 'INTERNAL'],
      [grpc.status.UNKNOWN, 500, undefined, 'INTERNAL'],
      [grpc.status.UNIMPLEMENTED, 500, undefined, 'INTERNAL'],
      [grpc.status.DATA_LOSS, 500, 'INTERNAL', 'INTERNAL'],
    ];
    for (const [code, httpStatus, cmCode, derived] of table) {
      for (const sent of [cmCode, undefined]) {
        core.answer('GetSmartcard', {
          error: { code, details: 'card 17cf is in the wrong state; SELECT * FROM cards', cmCode: sent },
        });
        const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`, { headers: { 'x-correlation-id': 'map-1' } });
        const label = `${grpc.status[code]} with ${sent ?? 'no code'}`;
        t.equal(response.status, httpStatus, label);
        expectErrorBody(t, response.json, sent ?? derived, 'map-1');
        t.equal(response.headers.get('x-correlation-id'), 'map-1');
        t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
        const { Message } = response.json as { Message: string };
        if (httpStatus < 500) t.equal(Message, 'card 17cf is in the wrong state; SELECT * FROM cards', `${label}: details shown`);
        else t.notMatch(Message, /SELECT|17cf/, `${label}: details hidden`);
        t.equal(response.headers.get('www-authenticate'), httpStatus === 401 ? 'Bearer' : null);
      }
    }
  });

  t.test('a cm-error-code that is not a stable code is not echoed', async (t) => {
    core.answer('GetSmartcard', { error: { code: grpc.status.FAILED_PRECONDITION, details: 'no', cmCode: '<script>' } });
    const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
    t.equal(response.status, 409);
    t.match(response.json, { Code: 'WRONG_STATE' });
  });

  t.test('4xx without details gets a default message', async (t) => {
    core.answer('GetSmartcard', { error: { code: grpc.status.NOT_FOUND, cmCode: 'NOT_FOUND' } });
    const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
    t.equal(response.status, 404);
    t.match(response.json, { Message: /No such object/ });
  });

  t.test('a missing or malformed token: 401 with WWW-Authenticate before any call', async (t) => {
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer two words']) {
      const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`, {
        anonymous: true,
        headers: authorization ? { authorization } : {},
      });
      t.equal(response.status, 401, String(authorization));
      t.equal(response.headers.get('www-authenticate'), 'Bearer');
      expectErrorBody(t, response.json, 'UNAUTHENTICATED');
    }
    t.equal(core.calls.length, 0);
  });

  t.test('an unknown route: 404 with the error body, token or not', async (t) => {
    for (const anonymous of [true, false]) {
      const response = await call(gateway, `${BASE}/nosuchthing?challenge=secret`, { anonymous });
      t.equal(response.status, 404);
      expectErrorBody(t, response.json, 'NOT_FOUND');
      t.notMatch(response.text, /secret/, 'the query is not echoed');
      t.ok(response.headers.get('x-correlation-id'));
    }
    const wrongMethod = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`, { method: 'PATCH', body: {} });
    t.equal(wrongMethod.status, 404);
  });

  t.test('bodies: bad JSON, not an object, empty, 413, 415, no content type', async (t) => {
    const path = `${BASE}/smartcards`;
    const badJson = await call(gateway, path, { method: 'POST', rawBody: '{"requestid": ', headers: { 'content-type': 'application/json' } });
    t.equal(badJson.status, 400);
    expectErrorBody(t, badJson.json, 'INVALID_ARGUMENT');
    t.match(badJson.json, { Message: /not valid JSON/ });
    for (const rawBody of ['[1,2]', '"text"', 'null', '42']) {
      const response = await call(gateway, path, { method: 'POST', rawBody, headers: { 'content-type': 'application/json' } });
      t.equal(response.status, 400, rawBody);
      t.match(response.json, { Message: /must be a JSON object/ });
    }
    const empty = await call(gateway, path, { method: 'POST', rawBody: '', headers: { 'content-type': 'application/json' } });
    t.equal(empty.status, 400);
    t.match(empty.json, { Message: /body must be a JSON object/ });
    const tooLarge = await call(gateway, path, {
      method: 'POST',
      body: { requestid: SMARTCARD, padding: 'x'.repeat(64 * 1024) },
    });
    t.equal(tooLarge.status, 413);
    expectErrorBody(t, tooLarge.json, 'PAYLOAD_TOO_LARGE');
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await call(gateway, path, { method: 'POST', rawBody: 'requestid=1', headers: { 'content-type': contentType } });
      t.equal(response.status, 415, contentType);
      expectErrorBody(t, response.json, 'UNSUPPORTED_MEDIA_TYPE');
    }
    t.equal(core.calls.length, 0, 'none of them reached the core');

    core.answer('AssignSmartcard', { reply: { uuid: SMARTCARD, uri: `api/v1.0/smartcards/${SMARTCARD}`, created: true } });
    const body = JSON.stringify({ requestid: SMARTCARD, cardid: SMARTCARD });
    const noType = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(gateway.url);
      const request = httpRequest(
        { host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: 'Bearer abc', 'content-length': Buffer.byteLength(body) } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    t.equal(noType, 201, 'a body without a content type is read as JSON');
    const charset = await call(gateway, path, { method: 'POST', rawBody: body, headers: { 'content-type': 'application/json; charset=UTF-8' } });
    t.equal(charset.status, 201);
  });

  t.test('the correlation id: echoed when sane, generated otherwise', async (t) => {
    const sane = await call(gateway, '/healthz', { headers: { 'x-correlation-id': 'Abc-123_x.y:z' } });
    t.equal(sane.headers.get('x-correlation-id'), 'Abc-123_x.y:z');
    for (const insane of ['has space', 'x'.repeat(200), '<script>', '-leading']) {
      const response = await call(gateway, `${BASE}/nosuch`, { headers: { 'x-correlation-id': insane } });
      const generated = response.headers.get('x-correlation-id') ?? '';
      t.match(generated, UUID_SHAPE, insane);
      t.equal((response.json as { CorrelationId: string }).CorrelationId, generated);
    }
    const none = await call(gateway, '/healthz');
    t.match(none.headers.get('x-correlation-id'), UUID_SHAPE);
    const line = gateway.logs.find((entry) => entry.correlationId === 'Abc-123_x.y:z');
    t.ok(line, 'the id is on the log lines of the request');
  });

  t.test('a malformed URL: 400 with the error body', async (t) => {
    const answer = await rawExchange(gateway, `GET ${BASE}/smartcards/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Correlation-Id: bad-url\r\n\r\n`);
    t.match(answer, /^HTTP\/1\.1 400 /);
    t.match(answer, /x-correlation-id: bad-url/i);
    expectErrorBody(t, bodyOf(answer), 'INVALID_ARGUMENT', 'bad-url');
  });

  t.test('malformed HTTP and headers too large: Node\'s client errors carry the error body', async (t) => {
    const malformed = await rawExchange(gateway, 'NOT HTTP AT ALL\r\n\r\n');
    t.match(malformed, /^HTTP\/1\.1 400 /);
    t.match(malformed, /X-Correlation-Id: [0-9a-f-]{36}/);
    expectErrorBody(t, bodyOf(malformed), 'INVALID_ARGUMENT');
    const huge = await rawExchange(gateway, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    t.match(huge, /^HTTP\/1\.1 431 /);
    expectErrorBody(t, bodyOf(huge), 'HEADERS_TOO_LARGE');
  });

  t.test('a core that cannot be reached: 503 UNAVAILABLE', async (t) => {
    const { startTestGateway: start } = await import('./fixtures/gateway.js');
    const orphan = await start({ coreAddress: '127.0.0.1:1' });
    await orphan.core.stop();
    t.teardown(() => orphan.app.close());
    const response = await call(orphan, `${BASE}/smartcards/${SMARTCARD}`);
    t.equal(response.status, 503);
    expectErrorBody(t, response.json, 'UNAVAILABLE');
    const ready = await call(orphan, '/readyz', { anonymous: true });
    t.equal(ready.status, 503);
    expectErrorBody(t, ready.json, 'UNAVAILABLE');
    t.match(ready.json, { Message: /cannot be reached/ });
  });
});
