// The core's configuration (SPEC 11): its variables declared once in CORE_ENV (one line each),
// read and validated in one pass at start-up into a typed object. Nothing else in the core reads
// process.env. Every problem is reported at once, each naming its variable, and no secret is
// ever echoed. Adding a variable: one line in CORE_ENV (plus a rule below when it depends on
// others) and its field in CoreConfig.

import { availableParallelism } from 'node:os';
import {
  ConfigError,
  LOG_LEVELS,
  TLS_ENV,
  checkTls,
  choice,
  custom,
  fileContent,
  flag,
  host,
  httpUrl,
  integer,
  isLoopbackHost,
  port,
  readEnv,
  readablePath,
  secretText,
  text,
  type Env,
  type EnvValues,
  type LogLevel,
} from '../common/env.js';
import { HEAP_ENV } from '../common/heap.js';
import type { TokenConfig } from '../workers/crypto/pkcs11-token.js';
import { loadKeyRingFile, parseKeyRing, type KeyRing } from './crypto/key-ring.js';

export { ConfigError };

export type CryptoMode = 'pool' | 'inline';

export const CORE_ENV = {
  CM_GRPC_HOST: host('127.0.0.1'),
  CM_GRPC_PORT: port(50051),
  CM_HTTP_HOST: host('127.0.0.1'),
  CM_HTTP_PORT: port(8080),
  CM_PUBLIC_URL: httpUrl(),
  CM_DATABASE: text('./data/cm.sqlite'),
  CM_JWT_SECRET: secretText(32),
  CM_JWT_PUBLIC_KEY: fileContent(publicKeyPem),
  CM_JWT_ISSUER: text(),
  CM_JWT_AUDIENCE: text(),
  CM_JWT_USER_CLAIM: text('sub'),
  CM_JWT_GROUPS_CLAIM: text('groups'),
  CM_MASTER_KEYS: custom(parseKeyRing, { expected: 'a key ring: <version>:<64 hex digits>, comma separated', secret: true }),
  CM_MASTER_KEYS_FILE: custom((path) => ({ path, keyRing: loadKeyRingFile(path) }), { expected: 'a key ring file' }),
  CM_ADMIN_GROUP: text('cm-admins'),
  CM_WORKERS: integer(availableParallelism(), 1, 64),
  CM_CRYPTO_MODE: choice<CryptoMode>(['pool', 'inline'], 'pool'),
  ...TLS_ENV,
  CM_PKCS11_MODULE: text(),
  CM_PKCS11_TOKEN_LABEL: text(),
  CM_PKCS11_PIN: custom((pin) => pin, { expected: 'the token\'s user PIN', secret: true }),
  CM_PKCS11_PIN_FILE: fileContent(),
  CM_CA_CERT: readablePath(),
  CM_CA_KEY: custom(caKeyPath, { expected: 'a readable PEM file or a pkcs11: URI' }),
  CM_MAX_RESPONSES_PER_REQUEST: integer(32, 0, 1_000_000),
  CM_REQUEST_TTL_HOURS: integer(72, 1, 24 * 365),
  CM_LOG_LEVEL: choice<LogLevel>(LOG_LEVELS, 'info'),
  CM_ALLOW_INSECURE: flag(),
  CM_METRICS_HOST: host(),
  CM_METRICS_PORT: port(),
  CM_STREAM_IDLE_SECONDS: integer(300, 1, 86_400),
  CM_MAX_STREAMS_PER_CALLER: integer(8, 1, 10_000),
  CM_RATE_LIMIT: integer(0, 0, 1_000_000),
  ...HEAP_ENV,
};

export interface CoreConfig {
  grpcHost: string;
  grpcPort: number;
  /** A SQLite file path, or a postgres:// (postgresql://) URL: the PostgreSQL store (SPEC 12). */
  database: string;
  jwt: {
    secret?: string;
    publicKeyPem?: string;
    issuer?: string;
    audience?: string;
    userClaim: string;
    groupsClaim: string;
  };
  /** The key ring read from CM_MASTER_KEYS or CM_MASTER_KEYS_FILE; undefined when it must be generated (embedded default). */
  keyRing?: KeyRing;
  /** CM_MASTER_KEYS_FILE, where `cm-admin keyring add` appends. */
  masterKeysFile?: string;
  /** CM_PKCS11_*: the token that holds the key ring (and may hold the CA key), SPEC 13. */
  pkcs11?: TokenConfig;
  adminGroup: string;
  workers: number;
  /** CM_CRYPTO_MODE (extension): `pool` (worker threads) or `inline` (on the main thread). */
  cryptoMode: CryptoMode;
  tls?: { certPem: Buffer; keyPem: Buffer; caPem?: Buffer };
  publicUrl: string;
  ca?: { certPath: string; keyPath: string };
  maxResponsesPerRequest: number;
  requestTtlHours: number;
  /** The batch stream's bounds (issue 9): CM_STREAM_IDLE_SECONDS, CM_MAX_STREAMS_PER_CALLER. */
  streams: { idleSeconds: number; maxPerCaller: number };
  /** CM_RATE_LIMIT: key and PIN calls per minute per verified caller; 0 = no limit. */
  rateLimitPerMinute: number;
  /** CM_HEAP_GROWING_PERCENT (common/heap.ts); undefined: the default for the heap limit, 0: nothing set. */
  heapGrowingPercent?: number;
  logLevel: LogLevel;
  allowInsecure: boolean;
  /** Where a core run on its own serves Prometheus /metrics (SPEC 11); undefined = no listener. */
  metrics?: { host: string; port: number };
}

/** Whether CM_DATABASE names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** CM_PKCS11_MODULE, CM_PKCS11_TOKEN_LABEL and CM_PKCS11_PIN or CM_PKCS11_PIN_FILE: all or none. */
function pkcs11Of(v: EnvValues<typeof CORE_ENV>): TokenConfig | undefined {
  const pin = v.CM_PKCS11_PIN ?? v.CM_PKCS11_PIN_FILE?.toString('utf8').trim();
  return v.CM_PKCS11_MODULE && v.CM_PKCS11_TOKEN_LABEL && pin ? { module: v.CM_PKCS11_MODULE, tokenLabel: v.CM_PKCS11_TOKEN_LABEL, pin } : undefined;
}

/** CM_CA_KEY: a PEM file readable now, or an RFC 7512 URI naming a key on the token (SPEC 13). */
function caKeyPath(text: string): string {
  if (!/^pkcs11:/i.test(text)) readablePath().parse(text);
  return text;
}

function publicKeyPem(content: Buffer): void {
  if (!content.toString('utf8').includes('-----BEGIN PUBLIC KEY-----')) throw new Error('must name a PEM file holding a PUBLIC KEY');
}

/**
 * The rules between variables; `embedded`: the one-process default, which generates what is
 * missing; `operator`: cm-admin, whose commands each check what they need themselves.
 */
function coreRules({ embedded, operator = false }: CoreLoadOptions) {
  return (v: EnvValues<typeof CORE_ENV>, problem: (variable: string, message: string) => void) => {
    checkTls(v, problem);
    if (v.CM_MASTER_KEYS && v.CM_MASTER_KEYS_FILE) problem('CM_MASTER_KEYS', 'set CM_MASTER_KEYS or CM_MASTER_KEYS_FILE, not both');
    const pkcs11 = pkcs11Of(v);
    const anyPkcs11 = v.CM_PKCS11_MODULE || v.CM_PKCS11_TOKEN_LABEL || v.CM_PKCS11_PIN || v.CM_PKCS11_PIN_FILE;
    if (anyPkcs11 && (!v.CM_PKCS11_MODULE || !v.CM_PKCS11_TOKEN_LABEL)) {
      problem('CM_PKCS11_MODULE', 'CM_PKCS11_MODULE and CM_PKCS11_TOKEN_LABEL must be set together, with CM_PKCS11_PIN or CM_PKCS11_PIN_FILE');
    }
    if (v.CM_PKCS11_PIN && v.CM_PKCS11_PIN_FILE) problem('CM_PKCS11_PIN', 'set CM_PKCS11_PIN or CM_PKCS11_PIN_FILE, not both');
    else if (anyPkcs11 && !pkcs11?.pin) problem('CM_PKCS11_PIN', 'set CM_PKCS11_PIN or CM_PKCS11_PIN_FILE: the token\'s user PIN');
    if (anyPkcs11 && (v.CM_MASTER_KEYS || v.CM_MASTER_KEYS_FILE)) {
      problem('CM_MASTER_KEYS', 'the key ring is on the token (CM_PKCS11_*): unset CM_MASTER_KEYS and CM_MASTER_KEYS_FILE');
    }
    if (v.CM_CA_KEY && /^pkcs11:/i.test(v.CM_CA_KEY) && !anyPkcs11) {
      problem('CM_CA_KEY', 'names a key on a token: set CM_PKCS11_MODULE, CM_PKCS11_TOKEN_LABEL and CM_PKCS11_PIN or CM_PKCS11_PIN_FILE');
    }
    if (!v.CM_CA_CERT !== !v.CM_CA_KEY) problem(v.CM_CA_CERT ? 'CM_CA_KEY' : 'CM_CA_CERT', 'CM_CA_CERT and CM_CA_KEY must be set together');
    // Only the embedded default on SQLite generates what is missing; cores sharing a PostgreSQL
    // database must all be given the same secret, key ring and CA (SPEC 12).
    if (!operator && (!embedded || isPostgresUrl(v.CM_DATABASE))) {
      const why = embedded ? ' (with PostgreSQL nothing is generated: every core is given the same)' : '';
      if (!v.CM_JWT_SECRET && !v.CM_JWT_PUBLIC_KEY) problem('CM_JWT_SECRET', `set CM_JWT_SECRET or CM_JWT_PUBLIC_KEY: the core verifies tokens${why}`);
      if (!v.CM_MASTER_KEYS && !v.CM_MASTER_KEYS_FILE && !anyPkcs11) {
        problem('CM_MASTER_KEYS', `set CM_MASTER_KEYS or CM_MASTER_KEYS_FILE (or CM_PKCS11_* for a key ring on a token): the key ring${why}`);
      }
      if (!v.CM_CA_CERT && !v.CM_CA_KEY) problem('CM_CA_CERT', `set CM_CA_CERT and CM_CA_KEY: the issuing CA${why}`);
    }
    const insecure = !v.CM_TLS_CERT && !v.CM_ALLOW_INSECURE;
    if (insecure && !isLoopbackHost(v.CM_GRPC_HOST)) {
      problem('CM_GRPC_HOST', `${v.CM_GRPC_HOST} is not a loopback address: configure CM_TLS_CERT/CM_TLS_KEY or set CM_ALLOW_INSECURE=1`);
    }
    const metricsHost = v.CM_METRICS_HOST ?? v.CM_GRPC_HOST;
    if (insecure && v.CM_METRICS_PORT !== undefined && !isLoopbackHost(metricsHost)) {
      problem('CM_METRICS_HOST', `${metricsHost} is not a loopback address: set CM_ALLOW_INSECURE=1 to serve metrics there`);
    }
  };
}

export interface CoreLoadOptions {
  embedded: boolean;
  operator?: boolean;
}

export function loadCoreConfig(env: Env = process.env, options: CoreLoadOptions = { embedded: false }): CoreConfig {
  const v = readEnv(CORE_ENV, env, coreRules(options));
  const tls = v.CM_TLS_CERT && v.CM_TLS_KEY ? { certPem: v.CM_TLS_CERT, keyPem: v.CM_TLS_KEY, caPem: v.CM_TLS_CA } : undefined;
  const shownHttpHost = v.CM_HTTP_HOST.includes(':') ? `[${v.CM_HTTP_HOST}]` : v.CM_HTTP_HOST;
  return {
    grpcHost: v.CM_GRPC_HOST,
    grpcPort: v.CM_GRPC_PORT,
    database: v.CM_DATABASE,
    jwt: {
      secret: v.CM_JWT_SECRET,
      publicKeyPem: v.CM_JWT_PUBLIC_KEY?.toString('utf8'),
      issuer: v.CM_JWT_ISSUER,
      audience: v.CM_JWT_AUDIENCE,
      userClaim: v.CM_JWT_USER_CLAIM,
      groupsClaim: v.CM_JWT_GROUPS_CLAIM,
    },
    keyRing: v.CM_MASTER_KEYS ?? v.CM_MASTER_KEYS_FILE?.keyRing,
    masterKeysFile: v.CM_MASTER_KEYS_FILE?.path,
    pkcs11: pkcs11Of(v),
    adminGroup: v.CM_ADMIN_GROUP,
    workers: v.CM_WORKERS,
    cryptoMode: v.CM_CRYPTO_MODE,
    tls,
    publicUrl: v.CM_PUBLIC_URL ?? `${tls ? 'https' : 'http'}://${shownHttpHost}:${v.CM_HTTP_PORT}`,
    ca: v.CM_CA_CERT && v.CM_CA_KEY ? { certPath: v.CM_CA_CERT, keyPath: v.CM_CA_KEY } : undefined,
    maxResponsesPerRequest: v.CM_MAX_RESPONSES_PER_REQUEST,
    requestTtlHours: v.CM_REQUEST_TTL_HOURS,
    logLevel: v.CM_LOG_LEVEL,
    allowInsecure: v.CM_ALLOW_INSECURE,
    streams: { idleSeconds: v.CM_STREAM_IDLE_SECONDS, maxPerCaller: v.CM_MAX_STREAMS_PER_CALLER },
    rateLimitPerMinute: v.CM_RATE_LIMIT,
    heapGrowingPercent: v.CM_HEAP_GROWING_PERCENT,
    metrics: v.CM_METRICS_PORT === undefined ? undefined : { host: v.CM_METRICS_HOST ?? v.CM_GRPC_HOST, port: v.CM_METRICS_PORT },
  };
}
