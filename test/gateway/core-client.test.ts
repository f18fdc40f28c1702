// The core client against real grpc-js servers: round robin over a comma list, the per-call
// deadline (504 through the gateway), and TLS with client certificates, for the core channel and
// the HTTPS listener of startGateway.
import { request as httpsRequest } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { createCoreClient } from '../../gateway/core-client.js';
import { startGateway } from '../../gateway/server.js';
import { createTestPki } from './fixtures/certificates.js';
import { FakeCore } from './fixtures/fake-core.js';
import { BASE, call, startTestGateway, testConfig } from './fixtures/gateway.js';

const SMARTCARD = '17cf063d-e337-4aa9-a822-346554ddd3c9';

t.test('a comma list of addresses is balanced round robin over one channel', async (t) => {
  const cores = [await FakeCore.start(), await FakeCore.start()];
  t.teardown(() => Promise.all(cores.map((core) => core.stop())));
  const client = createCoreClient({ address: cores.map((core) => core.address).join(',') });
  t.teardown(() => client.close());
  for (let i = 0; i < 10; i++) {
    await client.call('SmartcardService', 'GetSmartcard', { uuid: SMARTCARD }, { correlationId: `rr-${i}`, authorization: 'Bearer x' });
  }
  t.ok(cores[0].calls.length > 0 && cores[1].calls.length > 0, `both cores served (${cores[0].calls.length}/${cores[1].calls.length})`);
  t.equal(cores[0].calls.length + cores[1].calls.length, 10);
  t.equal(await client.checkHealth({ correlationId: 'health' }), 'SERVING');
});

t.test('a core slower than the deadline: 504 DEADLINE_EXCEEDED', async (t) => {
  const gateway = await startTestGateway({ coreDeadlineMs: 150 });
  t.teardown(() => gateway.close());
  gateway.core.answer('GetSmartcard', { reply: {}, delayMs: 1_000 });
  const response = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
  t.equal(response.status, 504);
  t.match(response.json, { Code: 'DEADLINE_EXCEEDED', Message: /did not answer in time/ });
});

t.test('a GET answered UNAVAILABLE is made once more; a retry that runs out of time answers the first 503, not 504', async (t) => {
  const gateway = await startTestGateway({ coreDeadlineMs: 300 });
  t.teardown(() => gateway.close());
  let calls = 0;
  const unavailable = { error: { code: grpc.status.UNAVAILABLE, details: 'the database is unreachable', cmCode: 'UNAVAILABLE' } };
  // First the retry succeeds, then it is slower than what is left of the deadline.
  gateway.core.answer('GetSmartcard', () => (++calls % 2 === 1 ? unavailable : { reply: { uuid: SMARTCARD }, delayMs: calls > 2 ? 1_000 : 0 }));
  const retried = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
  t.equal(retried.status, 200, 'the second attempt answered');
  t.equal(calls, 2);
  const late = await call(gateway, `${BASE}/smartcards/${SMARTCARD}`);
  t.equal(calls, 4, 'made once more');
  t.equal(late.status, 503);
  t.match(late.json, { Code: 'UNAVAILABLE' });
});

t.test('mutual TLS: the core channel and the HTTPS listener', async (t) => {
  const pki = createTestPki();
  const serverCredentials = grpc.ServerCredentials.createSsl(
    Buffer.from(pki.ca.cert),
    [{ cert_chain: Buffer.from(pki.server.cert), private_key: Buffer.from(pki.server.key) }],
    true,
  );
  const core = await FakeCore.start(serverCredentials);
  t.teardown(() => core.stop());
  core.answer('GetSmartcard', { reply: { uuid: SMARTCARD } });

  const withoutClientCertificate = createCoreClient({ address: core.address, tls: { ca: Buffer.from(pki.ca.cert) }, deadlineMs: 2_000 });
  await t.rejects(
    withoutClientCertificate.call('SmartcardService', 'GetSmartcard', { uuid: SMARTCARD }, { correlationId: 'no-cert' }),
    'the core refuses a client without a certificate',
  );
  withoutClientCertificate.close();

  const tls = { cert: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key), ca: Buffer.from(pki.ca.cert) };
  const direct = createCoreClient({ address: core.address, tls });
  const card = await direct.call('SmartcardService', 'GetSmartcard', { uuid: SMARTCARD }, { correlationId: 'mtls' });
  t.equal(card.uuid, SMARTCARD, 'a call over mutual TLS');
  direct.close();

  // The listener presents the service certificate and asks for a client one (CM_TLS_CA set); the
  // same certificate is the gateway's client certificate towards the core, as with CM_TLS_*.
  const gateway = await startGateway(
    testConfig(core.address, {
      logLevel: 'silent',
      tls: { cert: Buffer.from(pki.server.cert), key: Buffer.from(pki.server.key), ca: Buffer.from(pki.ca.cert) },
    }),
  );
  t.teardown(() => gateway.close());
  t.match(gateway.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const get = (path: string, clientCertificate: boolean) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpsRequest(
        gateway.url + path,
        {
          ca: pki.ca.cert,
          ...(clientCertificate ? { cert: pki.client.cert, key: pki.client.key } : {}),
          headers: { authorization: 'Bearer abc' },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.end();
    });
  const ready = await get('/readyz', true);
  t.equal(ready.status, 200, 'HTTPS with a client certificate; the core is reached over mutual TLS');
  const found = await get(`${BASE}/smartcards/${SMARTCARD}`, true);
  t.equal(found.status, 200);
  t.match(JSON.parse(found.body), { Uuid: SMARTCARD });
  await t.rejects(get('/healthz', false), 'no client certificate, no connection');
});
