// SPEC 3: every route but the public ones needs `Authorization: Bearer <JWT>`. The core verifies
// the token; the gateway only refuses a missing or malformed header (401, WWW-Authenticate:
// Bearer) before any call, and forwards the header unchanged.
import type { onRequestHookHandler } from 'fastify';
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
    // The check is attached to each route when it is declared: a global hook would read
    // `request.routeOptions` (an object Fastify builds on every access) per request. The route's
    // options are read when a request comes, since hooks declared after this one may still mark
    // the route public (the OpenAPI pages).
    const unauthenticated = () => new GatewayError('UNAUTHENTICATED', 'An Authorization: Bearer token is required.');
    fastify.addHook('onRoute', (route) => {
      const requireBearer: onRequestHookHandler = (request, _reply, done) => {
        done(route.config?.public || bearerToken(request.headers.authorization) !== undefined ? undefined : unauthenticated());
      };
      route.onRequest = [...(route.onRequest === undefined ? [] : [route.onRequest].flat()), requireBearer];
    });
  },
  ['correlation-id'],
);
