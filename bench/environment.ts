// What the service under test runs with: a temp folder holding its SQLite database, its logs and
// a CA made for this run, and an environment (SPEC 11) that sets every secret explicitly, so that
// the bench knows the token secret and the CA key it measures raw signatures with.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSelfSignedCa } from '../core/ca/ca-store.js';

export interface BenchEnvironment {
  dir: string;
  databasePath: string;
  jwtSecret: string;
  caKeyPem: string;
  /** The service's environment; `extra` adds or overrides variables. */
  serviceEnv(extra?: Record<string, string>): Record<string, string | undefined>;
  logFile(name: string): string;
}

export function prepareEnvironment(options: { logLevel: string }): BenchEnvironment {
  const dir = mkdtempSync(join(tmpdir(), 'cm-bench-'));
  const databasePath = join(dir, 'cm.sqlite');
  const jwtSecret = randomBytes(32).toString('base64url');
  const masterKey = randomBytes(32).toString('hex');
  const ca = createSelfSignedCa({ commonName: 'CM Bench Issuing CA' });
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  writeFileSync(caCert, ca.certPem, { mode: 0o644 });
  writeFileSync(caKey, ca.keyPem, { mode: 0o600 });

  // Whatever CM_ variables the caller's shell has must not change what is measured.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CM_')));
  return {
    dir,
    databasePath,
    jwtSecret,
    caKeyPem: ca.keyPem,
    serviceEnv: (extra = {}) => ({
      ...inherited,
      CM_DATABASE: databasePath,
      CM_HTTP_HOST: '127.0.0.1',
      CM_HTTP_PORT: '0',
      CM_GRPC_HOST: '127.0.0.1',
      CM_GRPC_PORT: '0',
      CM_PUBLIC_URL: 'http://cm.bench.example',
      CM_JWT_SECRET: jwtSecret,
      CM_MASTER_KEYS: `1:${masterKey}`,
      CM_CA_CERT: caCert,
      CM_CA_KEY: caKey,
      // Every challenge-response scenario reuses its requests for the whole run.
      CM_MAX_RESPONSES_PER_REQUEST: '0',
      CM_LOG_LEVEL: options.logLevel,
      ...extra,
    }),
    logFile: (name) => join(dir, `${name}.log`),
  };
}

/** The commit measured, when the bench runs in a git checkout (read-only git commands). */
export function sourceVersion(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dirname(fileURLToPath(import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${commit} with uncommitted changes` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${type()} ${release()}, Node ${process.version}`;
}
