// SPEC 3: every route but the public ones needs `Authorization: Bearer <JWT>`. The core verifies
// the token; the gateway only refuses a missing or malformed header (401, WWW-Authenticate:
// Bearer) before any call, and forwards the header unchanged.
import { GatewayError } from '../errors.js';
import { sharedPlugin } from './define.js';
import './route-config.js';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of a well-formed `Authorization: Bearer` header, else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header.trim())?.[1];
}

export default sharedPlugin(
  'authentication',
  async (fastify) => {
    fastify.addHook('onRequest', async (request) => {
      if (request.is404 || request.routeOptions.config.public) return;
      if (bearerToken(request.headers.authorization) === undefined) {
        throw new GatewayError('UNAUTHENTICATED', 'An Authorization: Bearer token is required.');
      }
    });
  },
  ['correlation-id'],
);
