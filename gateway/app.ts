// The gateway as a Fastify plugin (`gatewayApp`) and the one function that builds a ready-to-
// listen instance around it (`buildGateway`), used by server.ts and the embedded entry point.
// Order matters: the shared plugins (correlation id, drain, errors, bodies, authentication,
// metrics, OpenAPI) come before the routes they apply to.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.js';
import { createCoreClient, type CoreClient } from './core-client.js';
import { parseQueryString } from './conventions/querystring.js';
import { formatValidationErrors, validatorCompiler } from './conventions/validation.js';
import { createGatewayLogger } from './logging.js';
import authentication from './plugins/authentication.js';
import core from './plugins/core.js';
import correlationId, { correlationIdOf } from './plugins/correlation-id.js';
import { sharedPlugin } from './plugins/define.js';
import drain from './plugins/drain.js';
import errorHandler, { answerClientError, answerFrameworkError } from './plugins/error-handler.js';
import jsonBody, { BODY_LIMIT_BYTES } from './plugins/json-body.js';
import metrics from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import audit from './routes/audit/index.js';
import certificates from './routes/certificates/index.js';
import crl from './routes/crl/index.js';
import health from './routes/health/index.js';
import ocsp from './routes/ocsp/index.js';
import profileTemplates from './routes/profiletemplates/index.js';
import requests from './routes/requests/index.js';
import smartcards from './routes/smartcards/index.js';
import { BASE_PATH } from './schemas.js';

export interface GatewayAppOptions {
  config: GatewayConfig;
  /** A core client to use (and leave open on close); one is created from the config when absent. */
  coreClient?: CoreClient;
  /** The in-process core's metrics, shown on /metrics after the gateway's (embedded default). */
  coreMetrics?: Registry;
}

export const gatewayApp = sharedPlugin<GatewayAppOptions>('cm-gateway', async (fastify, { config, coreClient, coreMetrics }) => {
  fastify.setValidatorCompiler(validatorCompiler());
  await fastify.register(correlationId);
  await fastify.register(drain);
  await fastify.register(errorHandler);
  await fastify.register(jsonBody);
  await fastify.register(authentication);
  await fastify.register(metrics, { include: coreMetrics ? [coreMetrics] : [] });
  await fastify.register(openapi, { publicUrl: config.publicUrl });
  await fastify.register(
    core,
    coreClient
      ? { client: coreClient, owned: false }
      : {
          client: createCoreClient({ address: config.coreAddress, tls: config.tls, deadlineMs: config.coreDeadlineMs }),
          owned: true,
        },
  );
  await fastify.register(health);
  await fastify.register(crl);
  await fastify.register(ocsp);
  for (const resource of [smartcards, requests, profileTemplates, certificates, audit]) {
    await fastify.register(resource, { prefix: BASE_PATH });
  }
});

/** The Fastify options the REST conventions of SPEC 2 need; they can only be set at construction. */
export function gatewayFastifyOptions(logger: Logger): FastifyServerOptions {
  return {
    loggerInstance: logger,
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
    genReqId: correlationIdOf,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: {
      caseSensitive: false,
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      // RFC 5019 OCSP GETs carry a base64 request, URL-encoded, in the path (typically 100 to 300
      // characters); every other path parameter is a GUID or a type name checked by its schema.
      maxParamLength: 1024,
      querystringParser: parseQueryString,
    },
    schemaErrorFormatter: formatValidationErrors,
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError(logger),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  };
}

export interface BuildGatewayOptions extends GatewayAppOptions {
  /** A parent logger (the embedded process's); the gateway logs through a redacting child of it. */
  logger?: Logger;
  /** Further Fastify options: timeouts, https (server.ts sets them). */
  serverOptions?: Partial<FastifyServerOptions> & { https?: object };
}

/** Builds the gateway, plugins loaded, not yet listening. `close()` drains and closes the core channel. */
export async function buildGateway(options: BuildGatewayOptions): Promise<FastifyInstance> {
  const logger = createGatewayLogger(options.config.logLevel, options.logger);
  const app = Fastify({ ...gatewayFastifyOptions(logger), ...options.serverOptions } as FastifyServerOptions);
  await app.register(gatewayApp, { config: options.config, coreClient: options.coreClient, coreMetrics: options.coreMetrics });
  return app;
}
