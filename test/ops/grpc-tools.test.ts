// Stock gRPC tools against a real core (SPEC 10): `buf curl` (npm @bufbuild/buf) lists every
// service and method through reflection v1 and v1alpha and calls health and a cm.v1 method
// with a token; and a client that resolves symbols one by one, as grpcurl does, finds every
// service, method and message type by name in the real files, with the RPCs' descriptions.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import t from 'tap';
import { ADMIN, mintToken, startTestCore } from '../support/core-harness.js';

const require = createRequire(import.meta.url);
const BUF = join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');

const CM_METHODS: Record<string, string[]> = {
  'cm.v1.ProfileTemplateService': ['ListProfileTemplates', 'GetProfileTemplate', 'GetWorkflowPolicy', 'GetSmartcardConfiguration', 'CreateProfileTemplate', 'UpdateProfileTemplate', 'DeleteProfileTemplate'],
  'cm.v1.RequestService': ['CreateRequest', 'GetRequest', 'ListRequests', 'UpdateRequestStatus'],
  'cm.v1.SmartcardService': ['AssignSmartcard', 'GetSmartcard', 'FindSmartcard', 'UpdateSmartcardStatus', 'ListSmartcardOperations', 'GetAuthenticationResponse', 'GetDiversifiedKey', 'GetServerProposedPin', 'ComputeAuthenticationResponses'],
  'cm.v1.CertificateService': ['GetCertificateRequestGenerationOptions', 'SubmitCertificateRequests', 'ListSmartcardCertificates', 'ListMyCertificates', 'GetCrl', 'GetCaCertificate', 'GetOcspResponse'],
  'cm.v1.AuditService': ['ListAuditRecords'],
};
const STANDARD = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

function buf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--timeout', '30s', ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, BUF_CACHE_DIR: join(process.env.TMPDIR ?? '/tmp', 'cm-buf-cache') } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

t.test('buf curl lists, describes and calls through reflection v1 and v1alpha', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const url = `http://${tc.address}`;
  for (const reflect of ['grpc-v1', 'grpc-v1alpha']) {
    const services = await buf(['--reflect-protocol', reflect, '--list-services', url]);
    t.equal(services.code, 0, `${reflect}: --list-services: ${services.stderr}`);
    t.same(services.stdout.trim().split('\n').sort(), [...Object.keys(CM_METHODS), ...STANDARD].sort(), `${reflect}: every service`);
    const methods = await buf(['--reflect-protocol', reflect, '--list-methods', url]);
    t.equal(methods.code, 0, `${reflect}: --list-methods: ${methods.stderr}`);
    const listed = methods.stdout.trim().split('\n');
    for (const [service, names] of Object.entries(CM_METHODS)) for (const m of names) t.ok(listed.includes(`${service}/${m}`), `${reflect}: lists ${service}/${m}`);
    t.ok(listed.includes('grpc.health.v1.Health/Check') && listed.includes('grpc.health.v1.Health/Watch'), `${reflect}: lists the health methods`);
  }

  const health = await buf(['-d', '{"service":"cm.v1.SmartcardService"}', `${url}/grpc.health.v1.Health/Check`]);
  t.equal(health.code, 0, health.stderr);
  t.same(JSON.parse(health.stdout), { status: 'SERVING' }, 'health, with no token');

  const token = await mintToken(ADMIN);
  const created = await buf(['-H', `Authorization: Bearer ${token}`, '-d', JSON.stringify({ template: { name: 'From buf curl' } }), `${url}/cm.v1.ProfileTemplateService/CreateProfileTemplate`]);
  t.equal(created.code, 0, created.stderr);
  const { uuid } = JSON.parse(created.stdout);
  t.match(uuid, /^[0-9a-f-]{36}$/);
  const listedTemplates = await buf(['-H', `Authorization: Bearer ${token}`, '-d', '{}', `${url}/cm.v1.ProfileTemplateService/ListProfileTemplates`]);
  t.equal(listedTemplates.code, 0, listedTemplates.stderr);
  t.match(listedTemplates.stdout, 'From buf curl', 'a cm.v1 call with a token');
  const refused = await buf(['-d', '{}', `${url}/cm.v1.ProfileTemplateService/ListProfileTemplates`]);
  t.not(refused.code, 0);
  t.match(refused.stderr, /unauthenticated/, 'cm.v1 without a token is refused');
});

/** A reflection client that asks for one symbol at a time, as grpcurl resolves a method. */
function reflectionClient(address: string) {
  const dir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  const definition = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [dir], keepCase: true, oneofs: true });
  const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(address, grpc.credentials.createInsecure());
  const stream = client.ServerReflectionInfo();
  const waiting: ((answer: any) => void)[] = [];
  stream.on('data', (answer: any) => waiting.shift()?.(answer));
  return {
    ask: (request: object) => new Promise<any>((resolve) => (waiting.push(resolve), stream.write(request))),
    close: () => (stream.end(), client.close()),
  };
}

t.test('symbol by symbol: every service, method and message type resolves to its real file, with descriptions', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const client = reflectionClient(tc.address);
  t.teardown(() => client.close());
  const files = new Map<string, any>();
  const fileOf = async (symbol: string): Promise<any> => {
    const answer = await client.ask({ file_containing_symbol: symbol });
    t.notOk(answer.error_response, `${symbol} resolves`);
    const protos = answer.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => descriptor.FileDescriptorProto.decode(b));
    for (const p of protos) files.set(p.name, p);
    // Its dependencies come along: a client can build the file without asking again.
    for (const dep of protos[0].dependency ?? []) t.ok(protos.some((p: any) => p.name === dep), `${protos[0].name} comes with ${dep}`);
    return protos[0];
  };

  const listed = (await client.ask({ list_services: '*' })).list_services_response.service.map((s: any) => s.name);
  t.same(listed.sort(), [...Object.keys(CM_METHODS), ...STANDARD].sort());
  for (const service of listed) {
    const file = await fileOf(service);
    const pkg = file.package;
    const declared = file.service.find((s: any) => `${pkg}.${s.name}` === service);
    t.ok(declared, `${service} is declared in ${file.name}`);
    if (service.startsWith('cm.v1.')) {
      t.match(file.name, /^cm\/v1\/[a-z_]+\.proto$/, `${service} comes from its real file`);
      t.same(declared.method.map((m: any) => m.name), CM_METHODS[service]);
    }
    if (service === 'grpc.health.v1.Health') t.equal(file.name, 'grpc/health/v1/health.proto');
    for (const [i, method] of declared.method.entries()) {
      t.equal((await fileOf(`${service}.${method.name}`)).name, file.name, `${service}.${method.name} resolves`);
      for (const type of [method.inputType, method.outputType]) await fileOf(type.replace(/^\./, ''));
      if (service.startsWith('cm.v1.')) {
        // Source info path [6 (service), s, 2 (method), i] holds the method's leading comment.
        const s = file.service.indexOf(declared);
        const location = file.sourceCodeInfo?.location?.find((l: any) => l.path.join(',') === `6,${s},2,${i}`);
        t.ok((location?.leadingComments ?? '').trim().length > 20, `${service}.${method.name} has a description`);
      }
    }
  }
  const byName = await client.ask({ file_by_filename: 'cm/v1/certificates.proto' });
  const names = byName.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => (descriptor.FileDescriptorProto.decode(b) as unknown as { name: string }).name);
  t.same(names.slice().sort(), ['cm/v1/certificates.proto', 'cm/v1/common.proto', 'cm/v1/requests.proto', 'cm/v1/smartcards.proto'], 'a file by its name, with its dependencies');
  t.equal((await client.ask({ file_containing_symbol: 'cm.v1.NoSuchThing' })).error_response.error_code, grpc.status.NOT_FOUND);
  t.equal((await client.ask({ file_by_filename: 'cm.v1.proto' })).error_response.error_code, grpc.status.NOT_FOUND, 'no made-up file');
  const extensions = (await client.ask({ all_extension_numbers_of_type: 'cm.v1.Smartcard' })).all_extension_numbers_response;
  t.equal(extensions.base_type_name, 'cm.v1.Smartcard');
  t.same(extensions.extension_number ?? [], [], 'a known message has no extensions');
  t.equal((await client.ask({ all_extension_numbers_of_type: 'cm.v1.Nothing' })).error_response.error_code, grpc.status.NOT_FOUND);
  t.equal((await client.ask({ file_containing_extension: { containing_type: 'cm.v1.Smartcard', extension_number: 100 } })).error_response.error_code, grpc.status.NOT_FOUND);
});
