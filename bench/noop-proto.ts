// The loopback no-op service of the REST -> gRPC baseline: one unary RPC taking and returning an
// empty message, described inline so that nothing but grpc-js and proto-loader is involved.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const NOOP_DESCRIPTOR = {
  nested: {
    bench: {
      nested: {
        Empty: { fields: {} },
        Noop: { methods: { Ping: { requestType: 'Empty', responseType: 'Empty' } } },
      },
    },
  },
};

export interface NoopClient extends grpc.Client {
  Ping(request: object, callback: (err: grpc.ServiceError | null, response?: object) => void): grpc.ClientUnaryCall;
  Ping(request: object, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, response?: object) => void): grpc.ClientUnaryCall;
}

interface NoopPackage {
  bench: { Noop: grpc.ServiceClientConstructor };
}

let cached: NoopPackage | undefined;

function noopPackage(): NoopPackage {
  cached ??= grpc.loadPackageDefinition(protoLoader.fromJSON(NOOP_DESCRIPTOR as Parameters<typeof protoLoader.fromJSON>[0])) as unknown as NoopPackage;
  return cached;
}

export function noopServiceDefinition(): grpc.ServiceDefinition {
  return noopPackage().bench.Noop.service;
}

export function noopClient(address: string): NoopClient {
  return new (noopPackage().bench.Noop)(address, grpc.credentials.createInsecure()) as unknown as NoopClient;
}
