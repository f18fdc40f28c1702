// Turns a gRPC call into a domain call: authenticate from the `authorization` metadata, take
// or make the correlation id, run the handler, and map its coded errors (grpc/status.ts).

import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CallerRateLimit } from '../auth/rate-limit.js';
import type { TokenVerifier } from '../auth/token.js';
import type { CallContext } from '../domain/context.js';
import { toServiceError } from './status.js';

const SANE_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function correlationIdOf(metadata: grpc.Metadata): string {
  const sent = metadata.get('x-correlation-id')[0];
  return typeof sent === 'string' && SANE_CORRELATION_ID.test(sent) ? sent : randomUUID();
}

export interface CallEdge {
  verifier: TokenVerifier;
  log: Logger;
  /** CM_RATE_LIMIT on the key and PIN calls, by verified caller. */
  rateLimit: CallerRateLimit;
}

/** Authenticates a call's metadata into a domain context. */
export async function contextOf(edge: CallEdge, metadata: grpc.Metadata, correlationId: string): Promise<CallContext> {
  const authorization = metadata.get('authorization')[0];
  const caller = await edge.verifier.verify(typeof authorization === 'string' ? authorization : undefined);
  return { caller, correlationId };
}

/**
 * A unary RPC around a domain call. Domain objects carry the proto's fields with enums as
 * numbers; the generated types also admit enum names, so the answer is typed loosely here and
 * checked by the serializer.
 */
export function unary<Req, Res>(
  edge: CallEdge,
  method: string,
  handler: (request: Req, ctx: CallContext) => Promise<unknown>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const correlationId = correlationIdOf(call.metadata);
    contextOf(edge, call.metadata, correlationId)
      .then((ctx) => handler(call.request, ctx))
      .then(
        (response) => callback(null, response as Res),
        (err: unknown) => callback(toServiceError(err, edge.log.child({ correlationId, method }))),
      );
  };
}

/** A unary RPC that hands out key material or a PIN: counted against the caller's CM_RATE_LIMIT first. */
export function keyRelease<Req, Res>(
  edge: CallEdge,
  method: string,
  handler: (request: Req, ctx: CallContext) => Promise<unknown>,
): grpc.handleUnaryCall<Req, Res> {
  return unary(edge, method, async (request: Req, ctx) => {
    await edge.rateLimit.take(ctx.caller, method);
    return handler(request, ctx);
  });
}

/** For the few RPCs served without a token (the CRL). */
export function anonymousUnary<Req, Res>(edge: CallEdge, method: string, handler: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const correlationId = correlationIdOf(call.metadata);
    handler(call.request).then(
      (response) => callback(null, response),
      (err: unknown) => callback(toServiceError(err, edge.log.child({ correlationId, method }))),
    );
  };
}
