// What an operator relies on: /healthz, /readyz both ways, /metrics, the OpenAPI document and
// page, the rate limit on key and PIN routes, a graceful close, and logs without secrets.
import t from 'tap';
import { BASE, TOKEN, call, gatewayFor, startTestGateway } from './fixtures/gateway.js';
import { CARD_ID, REQUEST, SMARTCARD } from './fixtures/seed.js';

const CHALLENGE = 'c2VjcmV0Q2g=';
const KEY_PATH = `${BASE}/requests/${REQUEST}/smartcards/${SMARTCARD}/authenticationresponse?cardid=${CARD_ID}&challenge=${CHALLENGE}&diversified=false`;

t.test('operations', async (t) => {
  const gateway = await gatewayFor(t);
  const { core } = gateway;

  t.test('/healthz needs no token and no core', async (t) => {
    const response = await call(gateway, '/healthz', { anonymous: true });
    t.equal(response.status, 200);
    t.same(response.json, { Status: 'Alive' });
    t.equal(core.calls.length, 0);
  });

  t.test('/readyz: 200 when the core is SERVING, else 503 with the error body', async (t) => {
    const ready = await call(gateway, '/ReadyZ', { anonymous: true });
    t.equal(ready.status, 200);
    t.same(ready.json, { Status: 'Ready' });
    core.setServing('NOT_SERVING');
    const notReady = await call(gateway, '/readyz', { anonymous: true });
    t.equal(notReady.status, 503);
    t.match(notReady.json, { Code: 'UNAVAILABLE', Message: /not ready/, CorrelationId: String });
  });

  t.test('/metrics: counts by route template and status, never request values', async (t) => {
    core.answer('GetAuthenticationResponse', { reply: { value: 'F0Zudm4wPLY=', present: true } });
    await call(gateway, KEY_PATH);
    await call(gateway, `${BASE}/nosuch`);
    const response = await call(gateway, '/metrics', { anonymous: true });
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^text\/plain/);
    t.match(
      response.text,
      /cm_gateway_http_requests_total\{method="GET",route="\/CertificateManagement\/api\/v1\.0\/requests\/:reqid\/smartcards\/:scid\/authenticationresponse",status="200"\} 1/,
    );
    t.match(response.text, /cm_gateway_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    t.match(response.text, /cm_gateway_http_request_duration_seconds_bucket/);
    for (const secret of [CHALLENGE, 'F0Zudm4wPLY=', REQUEST, SMARTCARD, CARD_ID, TOKEN.slice(7)]) {
      t.notOk(response.text.includes(secret), `no ${secret} in the metrics`);
    }
  });

  t.test('/openapi.json lists the routes, generated from their schemas; /docs serves a page', async (t) => {
    const response = await call(gateway, '/openapi.json', { anonymous: true });
    t.equal(response.status, 200);
    const document = response.json as { openapi: string; paths: Record<string, Record<string, { responses: object }>> };
    t.match(document.openapi, /^3\./);
    const expected: [string, string][] = [
      ['post', `${BASE}/smartcards`],
      ['put', `${BASE}/requests/{reqid}/smartcards/{scid}`],
      ['get', `${BASE}/smartcards/{id}/serverproposedpin`],
      ['get', `${BASE}/requests/{reqid}/smartcards/{scid}/serverproposedpin`],
      ['get', `${BASE}/requests/{reqid}/smartcards/{scid}/authenticationresponse`],
      ['get', `${BASE}/requests/{reqid}/smartcards/{scid}/diversifiedkey`],
      ['get', `${BASE}/smartcards/{id}`],
      ['get', `${BASE}/smartcards`],
      ['get', `${BASE}/smartcards/{id}/operations`],
      ['get', `${BASE}/smartcards/{id}/certificates`],
      ['post', `${BASE}/requests`],
      ['get', `${BASE}/requests/{id}`],
      ['get', `${BASE}/requests`],
      ['put', `${BASE}/requests/{id}`],
      ['get', `${BASE}/requests/{id}/certificaterequestgenerationoptions`],
      ['post', `${BASE}/requests/{id}/certificatedata`],
      ['get', `${BASE}/profiletemplates`],
      ['get', `${BASE}/profiletemplates/{id}`],
      ['get', `${BASE}/profiletemplates/{id}/policies/{type}`],
      ['get', `${BASE}/profiletemplates/{id}/policy/workflow/{type}`],
      ['get', `${BASE}/profiletemplates/{id}/configuration/smartcards`],
      ['post', `${BASE}/profiletemplates`],
      ['put', `${BASE}/profiletemplates/{id}`],
      ['delete', `${BASE}/profiletemplates/{id}`],
      ['get', `${BASE}/certificates`],
      ['get', `${BASE}/audit`],
      ['get', '/crl'],
      ['get', '/healthz'],
      ['get', '/readyz'],
    ];
    for (const [method, path] of expected) {
      t.ok(document.paths[path]?.[method], `${method.toUpperCase()} ${path}`);
    }
    t.match(document.paths[`${BASE}/smartcards`].post.responses, { 201: {}, 204: {} });
    const docs = await fetch(`${gateway.url}/docs`, { redirect: 'follow' });
    t.equal(docs.status, 200);
    t.match(await docs.text(), /swagger/i);
  });

  t.test('logs carry the correlation id and no secrets', async (t) => {
    core.answer('GetAuthenticationResponse', { reply: { value: 'F0Zudm4wPLY=', present: true } });
    core.answer('SubmitCertificateRequests', { error: { code: 13, details: 'boom' } });
    await call(gateway, KEY_PATH, { headers: { 'x-correlation-id': 'log-check' } });
    await call(gateway, `${BASE}/requests/${REQUEST}/certificatedata`, {
      method: 'POST',
      body: { certificaterequests: ['MIIC'], pfxpassword: 'hunter2' },
      headers: { 'x-correlation-id': 'log-check-2' },
    });
    const lines = gateway.logs.filter((entry) => entry.correlationId === 'log-check' || entry.correlationId === 'log-check-2');
    t.ok(lines.length >= 4, 'the requests were logged under their ids');
    const text = JSON.stringify(gateway.logs);
    for (const secret of [CHALLENGE, 'F0Zudm4wPLY=', TOKEN.slice(7), 'hunter2']) {
      t.notOk(text.includes(secret), `no ${secret} in the logs`);
    }
    t.ok(text.includes('challenge=[REDACTED]'), 'the challenge is redacted from the URL');
    t.ok(
      gateway.logs.some((entry) => entry.correlationId === 'log-check-2' && entry.level === 50),
      'the 500 is logged as an error with its id',
    );
  });
});

t.test('close(): finishes the request in flight, then refuses and closes the channel', async (t) => {
  const gateway = await startTestGateway();
  gateway.core.answer('GetSmartcard', { reply: { uuid: SMARTCARD }, delayMs: 300 });
  const inFlight = call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closing = gateway.app.close();
  const answered = await inFlight;
  t.equal(answered.status, 200, 'the request in flight was answered');
  t.match(answered.json, { Uuid: SMARTCARD });
  await closing;
  await t.rejects(fetch(`${gateway.url}/healthz`), 'no longer accepting');
  await t.rejects(
    gateway.app.core.call('SmartcardService', 'GetSmartcard', { uuid: SMARTCARD }, { correlationId: 'after-close' }),
    'the channel is closed',
  );
  await gateway.core.stop();
});
