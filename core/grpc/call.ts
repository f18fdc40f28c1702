// Turns a gRPC call into a domain call: authenticate from the `authorization` metadata, take
// or make the correlation id, run the handler, and map its coded errors (grpc/status.ts).

import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { isCorrelationId } from '../../common/formats.js';
import type { Logger } from 'pino';
import type { CallerRateLimit } from '../auth/rate-limit.js';
import type { TokenVerifier } from '../auth/token.js';
import type { CallContext } from '../domain/context.js';
import type { CoreMetrics } from '../metrics.js';
import { ERROR_CODE_METADATA_KEY, toServiceError } from './status.js';

export function correlationIdOf(metadata: grpc.Metadata): string {
  const sent = metadata.get('x-correlation-id')[0];
  return isCorrelationId(sent) ? sent : randomUUID();
}

export interface CallEdge {
  verifier: TokenVerifier;
  log: Logger;
  metrics?: CoreMetrics;
  /** CM_RATE_LIMIT on the key and PIN calls, by verified caller. */
  rateLimit: CallerRateLimit;
}

/**
 * The end of a call: its metrics, and one line at debug level (method, status, duration,
 * correlation id, caller GUID; never a request value), so direct gRPC callers leave a trace.
 */
export function callFinished(
  edge: CallEdge,
  call: { getPath(): string },
  started: bigint,
  correlationId: string,
  caller: string | undefined,
  status: Partial<grpc.StatusObject> | undefined,
): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const code = grpc.status[status?.code ?? grpc.status.OK] ?? 'UNKNOWN';
  const refusal = status?.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const method = call.getPath();
  edge.metrics?.rpcDone(method.replace(/^\//, ''), code, seconds, typeof refusal === 'string' ? refusal : undefined);
  edge.log.debug({ method, status: code, durationMs: Math.round(seconds * 1e4) / 10, correlationId, caller }, 'rpc');
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
    const started = process.hrtime.bigint();
    const correlationId = correlationIdOf(call.metadata);
    let caller: string | undefined;
    contextOf(edge, call.metadata, correlationId)
      .then((ctx) => {
        caller = ctx.caller.userUuid;
        return handler(call.request, ctx);
      })
      .then(
        (response) => {
          callFinished(edge, call, started, correlationId, caller, undefined);
          callback(null, response as Res);
        },
        (err: unknown) => {
          const status = toServiceError(err, edge.log.child({ correlationId, method }));
          callFinished(edge, call, started, correlationId, caller, status);
          callback(status);
        },
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
    const started = process.hrtime.bigint();
    const correlationId = correlationIdOf(call.metadata);
    handler(call.request).then(
      (response) => {
        callFinished(edge, call, started, correlationId, undefined, undefined);
        callback(null, response);
      },
      (err: unknown) => {
        const status = toServiceError(err, edge.log.child({ correlationId, method }));
        callFinished(edge, call, started, correlationId, undefined, status);
        callback(status);
      },
    );
  };
}
