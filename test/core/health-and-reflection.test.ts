// Stock gRPC tools need no token for the standard health service and server reflection.
import t from 'tap';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startTestCore } from '../support/core-harness.js';

const require = createRequire(import.meta.url);
const protoDir = (pkg: string, sub: string) => join(dirname(require.resolve(`${pkg}/package.json`)), sub);

t.test('health answers SERVING and reflection lists the cm.v1 services, without a token', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const load = (file: string, dir: string) => grpc.loadPackageDefinition(protoLoader.loadSync(file, { includeDirs: [dir], enums: String })) as any;

  const health = load('health/v1/health.proto', protoDir('grpc-health-check', 'proto')).grpc.health.v1;
  const healthClient = new health.Health(tc.address, grpc.credentials.createInsecure());
  t.teardown(() => healthClient.close());
  for (const service of ['', 'cm.v1.SmartcardService']) {
    const answer = await new Promise<any>((resolve, reject) => healthClient.Check({ service }, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))));
    t.equal(answer.status, 'SERVING', `health of "${service}"`);
  }

  const reflection = load('grpc/reflection/v1/reflection.proto', protoDir('@grpc/reflection', 'build/proto')).grpc.reflection.v1;
  const client = new reflection.ServerReflection(tc.address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const stream = client.ServerReflectionInfo();
  const answer = await new Promise<any>((resolve, reject) => {
    stream.on('data', resolve);
    stream.on('error', reject);
    stream.write({ listServices: '*' });
  });
  stream.end();
  const names = answer.listServicesResponse.service.map((s: any) => s.name);
  for (const s of ['cm.v1.ProfileTemplateService', 'cm.v1.RequestService', 'cm.v1.SmartcardService', 'cm.v1.CertificateService', 'cm.v1.AuditService']) {
    t.ok(names.includes(s), `reflection lists ${s}`);
  }
});
