// The core's gRPC server: the cm.v1 services, plus the standard health service and server
// reflection, which stock tools use without a token.

import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { ListenError } from '../../common/listen-error.js';
import { loadCmProto } from '../../proto/load.js';
import { CallerRateLimit } from '../auth/rate-limit.js';
import type { TokenVerifier } from '../auth/token.js';
import type { Domain } from '../domain/index.js';
import type { CoreMetrics } from '../metrics.js';
import { DEFAULT_STREAM_LIMITS, StreamRegistry, type StreamLimits } from './batch.js';
import { certificateHandlers } from './certificates.js';
import { addReflection } from './reflection.js';
import { auditHandlers, profileTemplateHandlers, requestHandlers, smartcardHandlers } from './services.js';

export const SERVICE_NAMES = [
  'cm.v1.ProfileTemplateService',
  'cm.v1.RequestService',
  'cm.v1.SmartcardService',
  'cm.v1.CertificateService',
  'cm.v1.AuditService',
];

export interface CoreServerOptions {
  domain: Domain;
  verifier: TokenVerifier;
  log: Logger;
  metrics?: CoreMetrics;
  /** The issuing CA's certificate, DER, served by GetCaCertificate. */
  caCertificateDer: Buffer;
  tls?: { certPem: Buffer; keyPem: Buffer; caPem?: Buffer };
  /** Bounds of the batch stream (batch.ts); DEFAULT_STREAM_LIMITS when absent. */
  streams?: StreamLimits;
  /** CM_RATE_LIMIT: key and PIN calls per minute per caller; 0 or absent = none. */
  rateLimitPerMinute?: number;
}

export interface CoreServer {
  server: grpc.Server;
  health: HealthImplementation;
  /** Sets the health service's answer for the server and every service (readiness). */
  setServing(serving: boolean): void;
  /** Binds and starts; resolves to the port actually bound (for port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops taking calls and waits for in-flight ones, then forces after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

/** The core's gRPC server options (also the bench's stand-in core's, bench/stub-core.ts). */
export const CORE_SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
};

export function createCoreServer(options: CoreServerOptions): CoreServer {
  // grpc-js's own diagnostics go to the service's log stream, not bare to stderr (a port in use
  // is reported once, by the ListenError of listen()).
  grpc.setLogger({
    error: (...args: unknown[]) => options.log.warn({ grpc: format(...args) }, 'grpc-js'),
    info: (...args: unknown[]) => options.log.debug({ grpc: format(...args) }, 'grpc-js'),
    debug: (...args: unknown[]) => options.log.debug({ grpc: format(...args) }, 'grpc-js'),
  });
  const { proto } = loadCmProto();
  const edge = { verifier: options.verifier, log: options.log, metrics: options.metrics, rateLimit: new CallerRateLimit(options.rateLimitPerMinute ?? 0) };
  const server = new grpc.Server(CORE_SERVER_OPTIONS);
  const v1 = proto.cm.v1;
  server.addService(v1.ProfileTemplateService.service, profileTemplateHandlers(edge, options.domain));
  server.addService(v1.RequestService.service, requestHandlers(edge, options.domain));
  server.addService(v1.SmartcardService.service, smartcardHandlers(edge, options.domain, new StreamRegistry(options.streams ?? DEFAULT_STREAM_LIMITS)));
  server.addService(v1.CertificateService.service, certificateHandlers(edge, options.domain, options.caCertificateDer));
  server.addService(v1.AuditService.service, auditHandlers(edge, options.domain));

  const health = new HealthImplementation(Object.fromEntries([['', 'SERVING'], ...SERVICE_NAMES.map((s) => [s, 'SERVING'])]));
  health.addToServer(server);
  addReflection(server);

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.caPem ?? null,
        [{ cert_chain: options.tls.certPem, private_key: options.tls.keyPem }],
        Boolean(options.tls.caPem),
      )
    : grpc.ServerCredentials.createInsecure();

  const setServing = (serving: boolean) => {
    for (const s of ['', ...SERVICE_NAMES]) health.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
  };
  return {
    server,
    health,
    setServing,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
        server.bindAsync(address, credentials, (err, bound) => (err ? reject(new ListenError('CM_GRPC_HOST/CM_GRPC_PORT', address, err)) : resolve(bound)));
      }),
    close: (graceMs = 10_000) =>
      new Promise((resolve) => {
        setServing(false);
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
