// The baselines' servers, run as a child process like the service (bench/processes.ts):
//   hello: a Fastify route answering {"hello":"world"};
//   noop:  a Fastify route making one grpc-js unary no-op call to a gRPC server in the same
//          process over loopback, the shape of the service's gateway -> core hop with nothing
//          behind it. Its gRPC port is also announced, for the direct gRPC no-op baseline.
// Both use the libraries' defaults: no logging, no plugins, default channel options.
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { noopClient, noopServiceDefinition } from './noop-proto.js';
import { announceFailure, announceReady, stopOnSignal } from './processes.js';

async function startGrpcNoop(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(noopServiceDefinition(), {
    Ping: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => callback(null, {}),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { server, port };
}

async function main(mode: string): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/hello', async () => ({ hello: 'world' }));
  let grpcNoop: { server: grpc.Server; port: number } | undefined;
  if (mode === 'noop') {
    grpcNoop = await startGrpcNoop();
    const client = noopClient(`127.0.0.1:${grpcNoop.port}`);
    app.get('/noop', () =>
      new Promise((resolve, reject) => client.Ping({}, (err) => (err ? reject(err) : resolve({ ok: true })))),
    );
    app.addHook('onClose', async () => client.close());
  } else if (mode !== 'hello') {
    throw new Error(`unknown baseline mode ${mode}`);
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const http = typeof address === 'object' && address ? address.port : 0;
  stopOnSignal(async () => {
    await app.close();
    if (grpcNoop) await new Promise<void>((resolve) => grpcNoop!.server.tryShutdown(() => resolve()));
  });
  announceReady(grpcNoop ? { http, grpc: grpcNoop.port } : { http });
}

main(process.argv[2] ?? 'hello').catch(announceFailure);
