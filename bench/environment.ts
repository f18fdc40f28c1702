// What the service under test runs with: a temp folder holding its SQLite database, its logs and
// a CA made for this run, and an environment (SPEC 11) that sets every secret explicitly, so that
// the bench knows the token secret and the CA key it measures raw signatures with.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSelfSignedCa } from '../core/ca/ca-store.js';
import { Pkcs11Token } from '../workers/crypto/pkcs11-token.js';

export interface BenchEnvironment {
  dir: string;
  databasePath: string;
  jwtSecret: string;
  caKeyPem: string;
  /** The service's environment; `extra` adds or overrides variables. */
  serviceEnv(extra?: Record<string, string>): Record<string, string | undefined>;
  /**
   * The variables that move the same master key and CA key onto a SoftHSM2 token made for this
   * run (SPEC 13), made on first use; undefined when SoftHSM2 or OpenSC is not installed.
   */
  tokenEnv(): Record<string, string> | undefined;
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

  let tokenEnv: Record<string, string> | undefined;
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
    tokenEnv: () => (tokenEnv ??= makeToken(dir, masterKey, caKey)),
  };
}

const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const TOKEN_LABEL = 'cm-bench';
const TOKEN_PIN = '1234';

/** A SoftHSM2 token in the run's folder holding master key version 1 and the CA key. */
function makeToken(dir: string, masterKeyHex: string, caKeyPath: string): Record<string, string> | undefined {
  if (!existsSync(SOFTHSM_MODULE) || !existsSync('/usr/bin/pkcs11-tool')) return undefined;
  const tokens = join(dir, 'softhsm-tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN_LABEL, '--so-pin', '12345678', '--pin', TOKEN_PIN], { env, stdio: 'ignore' });
  execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', TOKEN_LABEL, '--login', '--pin', TOKEN_PIN, '--write-object', caKeyPath, '--type', 'privkey', '--label', 'cm-bench-ca', '--usage-sign'], { env, stdio: 'ignore' });
  // pkcs11-tool cannot import a generic secret: C_CreateObject, in this process (which then keeps
  // SoftHSM2 initialised on this folder; the bench uses no other).
  process.env.SOFTHSM2_CONF = conf;
  const config = { module: SOFTHSM_MODULE, tokenLabel: TOKEN_LABEL, pin: TOKEN_PIN };
  const token = Pkcs11Token.open(config);
  try {
    token.importHmacKey('cm-master-v1', Buffer.from(masterKeyHex, 'hex'));
  } finally {
    token.close();
  }
  return {
    SOFTHSM2_CONF: conf,
    CM_PKCS11_MODULE: config.module,
    CM_PKCS11_TOKEN_LABEL: config.tokenLabel,
    CM_PKCS11_PIN: config.pin,
    CM_MASTER_KEYS: '',
    CM_CA_KEY: 'pkcs11:object=cm-bench-ca',
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
