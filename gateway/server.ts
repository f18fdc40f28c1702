// Starts the gateway as a server: the logger, the HTTP(S) listener and its timeouts, and a close
// that drains. Nothing else: the gateway itself is built by app.ts.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { applyHeapGrowingPercent } from '../common/heap.js';
import { ListenError } from '../common/listen-error.js';
import { buildGateway } from './app.js';
import type { GatewayConfig } from './config.js';
import type { CoreClient } from './core-client.js';

export interface StartGatewayOptions {
  /** A core client to use instead of one created from the config (e.g. an in-process core). */
  coreClient?: CoreClient;
  /** A parent logger; the gateway logs through a child of it. */
  logger?: Logger;
  /** The in-process core's metrics registry (embedded default): shown on /metrics too. */
  coreMetrics?: Registry;
}

export interface RunningGateway {
  app: FastifyInstance;
  /** The listening URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Stops accepting, finishes the requests in flight, closes the core channel. */
  close(): Promise<void>;
}

const TIMEOUTS = {
  /** A whole request, headers and body, must arrive within this. */
  requestTimeout: 30_000,
  /** Idle keep-alive connections are closed after this (longer than common proxies' 60 s). */
  keepAliveTimeout: 72_000,
  connectionTimeout: 0,
  pluginTimeout: 30_000,
};

export async function startGateway(config: GatewayConfig, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  applyHeapGrowingPercent(config.heapGrowingPercent);
  const https = config.tls
    ? {
        cert: config.tls.cert,
        key: config.tls.key,
        ...(config.tls.ca ? { ca: config.tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
      }
    : undefined;
  const app = await buildGateway({
    config,
    coreClient: options.coreClient,
    logger: options.logger,
    coreMetrics: options.coreMetrics,
    serverOptions: { ...TIMEOUTS, ...(https ? { https } : {}) },
  });
  let url: string;
  try {
    url = await app.listen({ host: config.httpHost, port: config.httpPort });
  } catch (err) {
    await app.close();
    throw new ListenError('CM_HTTP_HOST/CM_HTTP_PORT', `${config.httpHost}:${config.httpPort}`, err);
  }
  app.log.info({ url, core: config.coreAddress, tls: Boolean(https) }, 'gateway listening');
  return { app, url, close: () => app.close() };
}
