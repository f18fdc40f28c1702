// The gateway's configuration (SPEC 11): its variables declared once in GATEWAY_ENV (one line
// each), read and validated in one pass into a typed object. Nothing else in gateway/ reads
// process.env. Every problem is reported at once in a ConfigError, each naming its variable.
import {
  ConfigError,
  LOG_LEVELS,
  TLS_ENV,
  checkTls,
  choice,
  custom,
  flag,
  host,
  httpUrl,
  isLoopbackHost,
  port,
  readEnv,
  type Env,
  type LogLevel,
} from '../common/env.js';
import { HEAP_ENV } from '../common/heap.js';
import { resolveCoreTarget } from './core-client.js';

export { ConfigError, isLoopbackHost, type LogLevel };

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** With a CA, peers must present a certificate signed by it (mutual TLS). */
  ca?: Buffer;
}

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
  /** CM_HEAP_GROWING_PERCENT (common/heap.ts); undefined: the default for the heap limit, 0: nothing set. */
  heapGrowingPercent?: number;
}

const CORE_DEADLINE_MS = 10_000;

export const GATEWAY_ENV = {
  CM_HTTP_HOST: host('127.0.0.1'),
  CM_HTTP_PORT: port(8080),
  CM_CORE_ADDRESS: custom(coreAddress, { expected: 'a core address' }),
  ...TLS_ENV,
  CM_LOG_LEVEL: choice<LogLevel>(LOG_LEVELS, 'info'),
  CM_ALLOW_INSECURE: flag(),
  CM_PUBLIC_URL: httpUrl(),
  ...HEAP_ENV,
};

function coreAddress(text: string): string {
  resolveCoreTarget(text);
  return text;
}

/** Reads and validates the gateway's variables of SPEC section 11. */
export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const v = readEnv(GATEWAY_ENV, env, (v, problem) => {
    checkTls(v, problem);
    if (!v.CM_TLS_CERT && !v.CM_ALLOW_INSECURE && !isLoopbackHost(v.CM_HTTP_HOST)) {
      problem('CM_HTTP_HOST', `refusing to listen on the non-loopback address "${v.CM_HTTP_HOST}" without TLS; set CM_TLS_CERT and CM_TLS_KEY, or CM_ALLOW_INSECURE=1`);
    }
  });
  const tls = v.CM_TLS_CERT && v.CM_TLS_KEY ? { cert: v.CM_TLS_CERT, key: v.CM_TLS_KEY, ca: v.CM_TLS_CA } : undefined;
  const shownHost = v.CM_HTTP_HOST.includes(':') ? `[${v.CM_HTTP_HOST}]` : v.CM_HTTP_HOST;
  return {
    httpHost: v.CM_HTTP_HOST,
    httpPort: v.CM_HTTP_PORT,
    coreAddress: v.CM_CORE_ADDRESS ?? '127.0.0.1:50051',
    tls,
    logLevel: v.CM_LOG_LEVEL,
    allowInsecure: v.CM_ALLOW_INSECURE,
    publicUrl: v.CM_PUBLIC_URL ?? `${tls ? 'https' : 'http'}://${shownHost}:${v.CM_HTTP_PORT}`,
    coreDeadlineMs: CORE_DEADLINE_MS,
    heapGrowingPercent: v.CM_HEAP_GROWING_PERCENT,
  };
}
