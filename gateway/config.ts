// The gateway's configuration: read from the environment once, validated, typed. Nothing else
// in gateway/ reads process.env. A bad value throws a ConfigError that names the variable.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolveCoreTarget } from './core-client.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** With a CA, peers must present a certificate signed by it (mutual TLS). */
  ca?: Buffer;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface GatewayConfig {
  httpHost: string;
  httpPort: number;
  /** CM_CORE_ADDRESS as given: `host:port`, a comma list of IP addresses, or a `dns:` name. */
  coreAddress: string;
  tls?: TlsMaterial;
  logLevel: LogLevel;
  allowInsecure: boolean;
  /** The public base URL of the service, shown as the server of the OpenAPI document. */
  publicUrl: string;
  /** How long one call to the core may take. */
  coreDeadlineMs: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const CORE_DEADLINE_MS = 10_000;

type Env = Record<string, string | undefined>;

/** Reads and validates the gateway's variables of SPEC section 11. */
export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const httpHost = readHost(env, 'CM_HTTP_HOST', '127.0.0.1');
  const httpPort = readPort(env, 'CM_HTTP_PORT', 8080);
  const coreAddress = readCoreAddress(env);
  const tls = readTls(env);
  const allowInsecure = readFlag(env, 'CM_ALLOW_INSECURE');
  if (!tls && !allowInsecure && !isLoopbackHost(httpHost)) {
    throw new ConfigError(
      'CM_HTTP_HOST',
      `refusing to listen on the non-loopback address "${httpHost}" without TLS; set CM_TLS_CERT and CM_TLS_KEY, or CM_ALLOW_INSECURE=1`,
    );
  }
  return {
    httpHost,
    httpPort,
    coreAddress,
    tls,
    logLevel: readLogLevel(env),
    allowInsecure,
    publicUrl: readPublicUrl(env, httpHost, httpPort, tls !== undefined),
    coreDeadlineMs: CORE_DEADLINE_MS,
  };
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

function readHost(env: Env, name: string, fallback: string): string {
  const host = value(env, name) ?? fallback;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(bare)) {
    throw new ConfigError(name, `"${host}" is neither an IP address nor a host name`);
  }
  return bare;
}

function readPort(env: Env, name: string, fallback: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(name, `"${raw}" is not a port number (0 to 65535)`);
  }
  return port;
}

function readCoreAddress(env: Env): string {
  const address = value(env, 'CM_CORE_ADDRESS') ?? '127.0.0.1:50051';
  try {
    resolveCoreTarget(address);
  } catch (error) {
    throw new ConfigError('CM_CORE_ADDRESS', (error as Error).message);
  }
  return address;
}

function readFile(env: Env, name: string): Buffer | undefined {
  const path = value(env, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(name, `cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function readTls(env: Env): TlsMaterial | undefined {
  const cert = readFile(env, 'CM_TLS_CERT');
  const key = readFile(env, 'CM_TLS_KEY');
  const ca = readFile(env, 'CM_TLS_CA');
  if (cert && !key) throw new ConfigError('CM_TLS_KEY', 'is required when CM_TLS_CERT is set');
  if (key && !cert) throw new ConfigError('CM_TLS_CERT', 'is required when CM_TLS_KEY is set');
  if (ca && !cert) throw new ConfigError('CM_TLS_CA', 'needs CM_TLS_CERT and CM_TLS_KEY as well');
  return cert && key ? { cert, key, ca } : undefined;
}

function readFlag(env: Env, name: string): boolean {
  const raw = value(env, name)?.toLowerCase();
  if (raw === undefined || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new ConfigError(name, `"${env[name]}" is not a flag (use 1 or 0)`);
}

function readLogLevel(env: Env): LogLevel {
  const raw = value(env, 'CM_LOG_LEVEL')?.toLowerCase() ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError('CM_LOG_LEVEL', `"${raw}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return raw as LogLevel;
}

function readPublicUrl(env: Env, host: string, port: number, tls: boolean): string {
  const raw = value(env, 'CM_PUBLIC_URL');
  if (raw === undefined) {
    const shownHost = isIP(host) === 6 ? `[${host}]` : host;
    return `${tls ? 'https' : 'http'}://${shownHost}:${port}`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('CM_PUBLIC_URL', `"${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('CM_PUBLIC_URL', `"${raw}" must be an http or https URL`);
  }
  return raw.replace(/\/+$/, '');
}
