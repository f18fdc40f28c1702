// Part of `npm run build`: compiles the service's real .proto files, with the standard health
// and reflection contracts it also serves, into one descriptor set (with the comments, as
// source code info) that server reflection hands to stock gRPC tools. The compiler is buf
// (npm @bufbuild/buf, its binary comes as a platform package through npm): the files keep
// their own names (cm/v1/smartcards.proto, grpc/health/v1/health.proto, ...).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const packageDir = (name) => dirname(require.resolve(`${name}/package.json`));
const OUTPUT = 'proto/gen/descriptors.binpb';

const root = mkdtempSync(join(tmpdir(), 'cm-proto-'));
try {
  cpSync('proto/cm', join(root, 'cm'), { recursive: true });
  mkdirSync(join(root, 'grpc', 'health', 'v1'), { recursive: true });
  cpSync(join(packageDir('grpc-health-check'), 'proto', 'health', 'v1', 'health.proto'), join(root, 'grpc', 'health', 'v1', 'health.proto'));
  cpSync(join(packageDir('@grpc/reflection'), 'build', 'proto', 'grpc', 'reflection'), join(root, 'grpc', 'reflection'), { recursive: true });
  mkdirSync(dirname(OUTPUT), { recursive: true });
  execFileSync(join(packageDir('@bufbuild/buf'), 'bin', 'buf'), ['build', root, '--as-file-descriptor-set', '-o', OUTPUT], { stdio: 'inherit' });
} finally {
  rmSync(root, { recursive: true, force: true });
}
