// The core's configuration (SPEC 11), read from the environment once at start-up into a typed
// object. Nothing else in the core reads process.env. A bad value stops start-up with a
// message naming the variable (and never echoing a secret).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { TokenConfig } from '../workers/crypto/pkcs11-token.js';

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
  /** Key ring text `1:<hex>,2:<hex>`; undefined when it must be generated (embedded default). */
  masterKeys?: string;
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
  logLevel: string;
  allowInsecure: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export type CryptoMode = 'pool' | 'inline';
const CRYPTO_MODES: readonly CryptoMode[] = ['pool', 'inline'];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function envString(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function envInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = envString(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}.`);
  }
  return Number(v);
}

export function envFile(env: Env, name: string): Buffer | undefined {
  const path = envString(env, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch {
    throw new ConfigError(`${name} names a file that cannot be read: ${path}`);
  }
}

/** One of `choices` (after `normalize`), `fallback` when unset. */
function envChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T, normalize = (v: string) => v): T {
  const value = normalize(envString(env, name) ?? fallback);
  if (!(choices as readonly string[]).includes(value)) throw new ConfigError(`${name} must be one of ${choices.join(', ')}.`);
  return value as T;
}

export function envLogLevel(env: Env): string {
  return envChoice(env, 'CM_LOG_LEVEL', LOG_LEVELS, 'info');
}

export function envCryptoMode(env: Env): CryptoMode {
  return envChoice(env, 'CM_CRYPTO_MODE', CRYPTO_MODES, 'pool', (v) => v.toLowerCase());
}

export function envTls(env: Env): CoreConfig['tls'] {
  const certPem = envFile(env, 'CM_TLS_CERT');
  const keyPem = envFile(env, 'CM_TLS_KEY');
  const caPem = envFile(env, 'CM_TLS_CA');
  if (!certPem !== !keyPem) throw new ConfigError('CM_TLS_CERT and CM_TLS_KEY must be set together.');
  if (caPem && !certPem) throw new ConfigError('CM_TLS_CA needs CM_TLS_CERT and CM_TLS_KEY.');
  return certPem && keyPem ? { certPem, keyPem, caPem } : undefined;
}

/** Whether CM_DATABASE names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** CM_PKCS11_MODULE, CM_PKCS11_TOKEN_LABEL and CM_PKCS11_PIN or CM_PKCS11_PIN_FILE: all or none. */
export function envPkcs11(env: Env): TokenConfig | undefined {
  const module = envString(env, 'CM_PKCS11_MODULE');
  const tokenLabel = envString(env, 'CM_PKCS11_TOKEN_LABEL');
  const pinText = envString(env, 'CM_PKCS11_PIN');
  const pinFile = envFile(env, 'CM_PKCS11_PIN_FILE')?.toString('utf8').trim();
  if (!module && !tokenLabel && pinText === undefined && pinFile === undefined) return undefined;
  if (!module || !tokenLabel) throw new ConfigError('CM_PKCS11_MODULE and CM_PKCS11_TOKEN_LABEL must be set together, with CM_PKCS11_PIN or CM_PKCS11_PIN_FILE.');
  if (pinText !== undefined && pinFile !== undefined) throw new ConfigError('Set CM_PKCS11_PIN or CM_PKCS11_PIN_FILE, not both.');
  const pin = pinText ?? pinFile;
  if (!pin) throw new ConfigError('Set CM_PKCS11_PIN or CM_PKCS11_PIN_FILE: the token\'s user PIN.');
  return { module, tokenLabel, pin };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * `embedded`: the one-process default, where a missing token secret, key ring and CA are
 * generated in the database's folder instead of being required.
 */
export function loadCoreConfig(env: Env = process.env, options: { embedded: boolean } = { embedded: false }): CoreConfig {
  const grpcHost = envString(env, 'CM_GRPC_HOST') ?? '127.0.0.1';
  const grpcPort = envInteger(env, 'CM_GRPC_PORT', 50051, 0, 65535);
  const database = envString(env, 'CM_DATABASE') ?? './data/cm.sqlite';
  const publicKeyPem = envFile(env, 'CM_JWT_PUBLIC_KEY')?.toString('utf8');
  if (publicKeyPem !== undefined && !publicKeyPem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new ConfigError('CM_JWT_PUBLIC_KEY must name a PEM file holding a PUBLIC KEY.');
  }
  const secret = envString(env, 'CM_JWT_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError('CM_JWT_SECRET must be at least 32 bytes long.');
  }
  const masterKeys = envString(env, 'CM_MASTER_KEYS');
  const masterKeysFile = envString(env, 'CM_MASTER_KEYS_FILE');
  if (masterKeys && masterKeysFile) throw new ConfigError('Set CM_MASTER_KEYS or CM_MASTER_KEYS_FILE, not both.');
  const pkcs11 = envPkcs11(env);
  if (pkcs11 && (masterKeys || masterKeysFile)) {
    throw new ConfigError('The key ring is on the token (CM_PKCS11_*): unset CM_MASTER_KEYS and CM_MASTER_KEYS_FILE.');
  }
  const caCert = envString(env, 'CM_CA_CERT');
  const caKey = envString(env, 'CM_CA_KEY');
  if (!caCert !== !caKey) throw new ConfigError('CM_CA_CERT and CM_CA_KEY must be set together.');
  if (caKey && /^pkcs11:/i.test(caKey) && !pkcs11) {
    throw new ConfigError('CM_CA_KEY names a key on a token: set CM_PKCS11_MODULE, CM_PKCS11_TOKEN_LABEL and CM_PKCS11_PIN or CM_PKCS11_PIN_FILE.');
  }
  // Only the embedded default on SQLite generates what is missing; cores sharing a PostgreSQL
  // database must all be given the same secret, key ring and CA (SPEC 12).
  if (!options.embedded || isPostgresUrl(database)) {
    const why = options.embedded ? ' (with PostgreSQL nothing is generated: every core is given the same)' : '';
    if (!secret && !publicKeyPem) throw new ConfigError(`Set CM_JWT_SECRET or CM_JWT_PUBLIC_KEY: the core verifies tokens${why}.`);
    if (!masterKeys && !masterKeysFile && !pkcs11) {
      throw new ConfigError(`Set CM_MASTER_KEYS or CM_MASTER_KEYS_FILE (or CM_PKCS11_* for a key ring on a token): the key ring${why}.`);
    }
    if (!caCert) throw new ConfigError(`Set CM_CA_CERT and CM_CA_KEY: the issuing CA${why}.`);
  }
  const tls = envTls(env);
  const allowInsecure = envString(env, 'CM_ALLOW_INSECURE') === '1';
  if (!tls && !allowInsecure && !isLoopback(grpcHost)) {
    throw new ConfigError(`CM_GRPC_HOST ${grpcHost} is not a loopback address: configure CM_TLS_CERT/CM_TLS_KEY or set CM_ALLOW_INSECURE=1.`);
  }
  const httpHost = envString(env, 'CM_HTTP_HOST') ?? '127.0.0.1';
  const httpPort = envInteger(env, 'CM_HTTP_PORT', 8080, 0, 65535);
  const publicUrl = (envString(env, 'CM_PUBLIC_URL') ?? `${tls ? 'https' : 'http'}://${httpHost}:${httpPort}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+/.test(publicUrl)) throw new ConfigError('CM_PUBLIC_URL must be an http(s) URL.');

  return {
    grpcHost,
    grpcPort,
    database,
    jwt: {
      secret,
      publicKeyPem,
      issuer: envString(env, 'CM_JWT_ISSUER'),
      audience: envString(env, 'CM_JWT_AUDIENCE'),
      userClaim: envString(env, 'CM_JWT_USER_CLAIM') ?? 'sub',
      groupsClaim: envString(env, 'CM_JWT_GROUPS_CLAIM') ?? 'groups',
    },
    masterKeys,
    masterKeysFile,
    pkcs11,
    adminGroup: envString(env, 'CM_ADMIN_GROUP') ?? 'cm-admins',
    workers: envInteger(env, 'CM_WORKERS', availableParallelism(), 1, 64),
    cryptoMode: envCryptoMode(env),
    tls,
    publicUrl,
    ca: caCert && caKey ? { certPath: caCert, keyPath: caKey } : undefined,
    maxResponsesPerRequest: envInteger(env, 'CM_MAX_RESPONSES_PER_REQUEST', 32, 0, 1_000_000),
    requestTtlHours: envInteger(env, 'CM_REQUEST_TTL_HOURS', 72, 1, 24 * 365),
    streams: {
      idleSeconds: envInteger(env, 'CM_STREAM_IDLE_SECONDS', 300, 1, 86_400),
      maxPerCaller: envInteger(env, 'CM_MAX_STREAMS_PER_CALLER', 8, 1, 10_000),
    },
    rateLimitPerMinute: envInteger(env, 'CM_RATE_LIMIT', 0, 0, 1_000_000),
    logLevel: envLogLevel(env),
    allowInsecure,
  };
}
