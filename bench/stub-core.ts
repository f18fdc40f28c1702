// A child process of `bench/gateway-share.ts`: a gRPC server that stands in for the core and
// answers SmartcardService.GetAuthenticationResponse at once with a fixed response (no token
// check, no storage, no crypto), and in front of it, in the same process over loopback as in the
// embedded layout, one of two HTTP servers:
//   gateway: the service's own REST gateway (gateway/app.ts: every plugin, hook, schema and
//            convention), pointed at the stub;
//   forward: a bare Fastify route that makes the same gRPC call with what the gateway's call
//            carries (the six-field request, the `authorization` and `x-correlation-id` metadata,
//            a deadline) and answers the value as a JSON string, with the libraries' defaults.
// With the core doing nothing, what the REST row costs beyond the no-op baseline is the gateway's
// (or, for `forward`, the call's content's).
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { applyHeapGrowingPercent } from '../common/heap.js';
import { CORE_SERVER_OPTIONS } from '../core/grpc/server.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';
import { loadCmProto } from '../proto/load.js';
import { announceFailure, announceReady, stopOnSignal } from './processes.js';

/** What the stub answers: a 3DES response's length (8 bytes), base64. */
const FIXED_RESPONSE = { value: Buffer.alloc(8, 0x5a).toString('base64') };

async function startStub(): Promise<{ server: grpc.Server; port: number }> {
  const v1 = loadCmProto().proto.cm.v1;
  const server = new grpc.Server(CORE_SERVER_OPTIONS);
  server.addService(v1.SmartcardService.service, {
    GetAuthenticationResponse: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => callback(null, FIXED_RESPONSE),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { server, port };
}

type Invoker = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, answer?: { value: string }) => void) => unknown;

/** The bare route: path and query taken as they come (the load sends valid values), one call, the value answered. */
async function startForward(stubPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const v1 = loadCmProto().proto.cm.v1;
  const client = new v1.SmartcardService(`127.0.0.1:${stubPort}`, grpc.credentials.createInsecure());
  const call = (client as unknown as Record<string, Invoker>).GetAuthenticationResponse!.bind(client);
  const app = Fastify({ logger: false });
  let sequence = 0;
  app.get<{ Params: { reqid: string; scid: string }; Querystring: Record<string, string> }>(
    '/CertificateManagement/api/v1.0/requests/:reqid/smartcards/:scid/authenticationresponse',
    (request, reply) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', request.headers.authorization ?? '');
      metadata.set('x-correlation-id', `00000000-0000-4000-8000-${String(++sequence).padStart(12, '0')}`);
      const { cardid, challenge, diversified, atr } = request.query;
      const message = { requestUuid: request.params.reqid, smartcardUuid: request.params.scid, cardId: cardid, challenge, diversified: diversified === 'true', atr };
      call(message, metadata, { deadline: Date.now() + 10_000 }, (err, answer) => {
        if (err) void reply.code(500).send({ error: err.details });
        else void reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(answer!.value));
      });
      return reply;
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: async () => {
      await app.close();
      client.close();
    },
  };
}

async function main(mode: string): Promise<void> {
  const stub = await startStub();
  let front: { port: number; close(): Promise<void> };
  if (mode === 'gateway') {
    const config = loadGatewayConfig({ ...process.env, CM_HTTP_HOST: '127.0.0.1', CM_HTTP_PORT: '0', CM_CORE_ADDRESS: `127.0.0.1:${stub.port}` });
    const gateway = await startGateway(config);
    front = { port: Number(new URL(gateway.url).port), close: () => gateway.close() };
  } else if (mode === 'forward') {
    // What startGateway sets in the gateway mode (the default for the heap limit): alike in both.
    applyHeapGrowingPercent(undefined);
    front = await startForward(stub.port);
  } else {
    throw new Error(`unknown stub-core mode ${mode}`);
  }
  stopOnSignal(async () => {
    await front.close();
    await new Promise<void>((resolve) => stub.server.tryShutdown(() => resolve()));
  });
  announceReady({ http: front.port, grpc: stub.port });
}

main(process.argv[2] ?? 'gateway').catch(announceFailure);
