// ComputeAuthenticationResponses: an issuance line streams batches of (request, card,
// challenge) items; each item is authorised, answered or refused, and audited on its own
// (core/domain/card-secrets.ts authenticationResponses), and each batch is answered by one
// message with a result per item, in the batch's order. Batches are worked on concurrently;
// their answers go out as each completes.
//
// A stream lives no longer than what let it in (issue 9): every batch is authorised with the
// call's token as it is at that moment (the stream ends UNAUTHENTICATED once it has expired), a
// stream with nothing received and nothing in flight for `idleSeconds` is ended
// DEADLINE_EXCEEDED, and a caller holds at most `maxPerCaller` open streams (RESOURCE_EXHAUSTED
// `RATE_LIMITED` beyond).

import * as grpc from '@grpc/grpc-js';
import type { AuthenticationResponseBatch__Output } from '../../proto/gen/cm/v1/AuthenticationResponseBatch.js';
import type { AuthenticationResponseResult } from '../../proto/gen/cm/v1/AuthenticationResponseResult.js';
import type { AuthenticationResponseResults } from '../../proto/gen/cm/v1/AuthenticationResponseResults.js';
import type { BatchOutcome } from '../domain/card-secrets.js';
import type { CallContext } from '../domain/context.js';
import type { Domain } from '../domain/index.js';
import { CmError, isCmError } from '../errors.js';
import { callFinished, contextOf, correlationIdOf, type CallEdge } from './call.js';
import { publicError, toServiceError } from './status.js';

/** Most items one message may carry. */
export const MAX_BATCH_ITEMS = 1024;

/** Most batches a stream may have in flight before it stops reading (backpressure). */
const MAX_BATCHES_IN_FLIGHT = 8;

const EMPTY_ITEM = { requestUuid: '', smartcardUuid: '', cardId: '', challenge: '', diversified: false, atr: '' };

export interface StreamLimits {
  /** A stream that received nothing and has nothing in flight for this long is ended. */
  idleSeconds: number;
  /** Most open streams one caller (user GUID) may hold. */
  maxPerCaller: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { idleSeconds: 300, maxPerCaller: 8 };

/** Open streams per caller; an entry lives only while its caller has a stream open. */
export class StreamRegistry {
  private readonly open = new Map<string, number>();

  constructor(readonly limits: StreamLimits) {}

  /** Admits one more stream of the caller: its release function, or undefined when at the limit. */
  admit(userUuid: string): (() => void) | undefined {
    const held = this.open.get(userUuid) ?? 0;
    if (held >= this.limits.maxPerCaller) return undefined;
    this.open.set(userUuid, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.open.get(userUuid) ?? 1) - 1;
      if (now > 0) this.open.set(userUuid, now);
      else this.open.delete(userUuid);
    };
  }
}

export function batchAuthenticationResponses(
  edge: CallEdge,
  domain: Domain,
  streams: StreamRegistry,
  call: grpc.ServerDuplexStream<AuthenticationResponseBatch__Output, AuthenticationResponseResults>,
): void {
  const started = process.hrtime.bigint();
  const correlationId = correlationIdOf(call.metadata);
  const log = edge.log.child({ correlationId, method: 'ComputeAuthenticationResponses' });
  let caller: string | undefined;
  let inFlight = 0;
  let ended = false;
  let failed = false;
  let release = () => {};
  let idle: NodeJS.Timeout | undefined;
  const finishIfDone = () => {
    if (ended && inFlight === 0 && !failed) {
      stop();
      callFinished(edge, call, started, correlationId, caller, undefined);
      call.end();
    }
  };
  const stop = () => {
    clearTimeout(idle);
    release();
  };
  const fail = (status: Partial<grpc.StatusObject>) => {
    if (failed) return;
    failed = true;
    stop();
    callFinished(edge, call, started, correlationId, caller, status);
    call.emit('error', status);
  };
  const watchIdle = () => {
    clearTimeout(idle);
    if (inFlight > 0 || failed) return;
    idle = setTimeout(
      () => fail({ code: grpc.status.DEADLINE_EXCEEDED, details: `The stream was idle for ${streams.limits.idleSeconds} seconds.` }),
      streams.limits.idleSeconds * 1000,
    );
    idle.unref();
  };
  call.on('cancelled', stop);

  contextOf(edge, call.metadata, correlationId).then(
    (opened) => {
      caller = opened.caller.userUuid;
      const admitted = streams.admit(opened.caller.userUuid);
      if (!admitted) {
        fail(toServiceError(new CmError('RATE_LIMITED', `A caller may hold at most ${streams.limits.maxPerCaller} open streams.`), log));
        return;
      }
      release = admitted;
      if (call.cancelled) stop();
      watchIdle();
      call.on('data', (batch: AuthenticationResponseBatch__Output) => {
        if (failed) return;
        if (batch.items.length > MAX_BATCH_ITEMS) {
          fail({ code: grpc.status.INVALID_ARGUMENT, details: `A batch carries at most ${MAX_BATCH_ITEMS} items.` });
          return;
        }
        inFlight++;
        clearTimeout(idle);
        if (inFlight >= MAX_BATCHES_IN_FLIGHT) call.pause();
        // The token as it is now: an expired one ends the stream before the batch is worked on.
        contextOf(edge, call.metadata, correlationId)
          .then((ctx) => answer(ctx, batch))
          .catch((err: unknown) => fail(toServiceError(err, log)))
          .then(() => {
            inFlight--;
            if (inFlight < MAX_BATCHES_IN_FLIGHT) call.resume();
            watchIdle();
            finishIfDone();
          });
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
    },
    (err: unknown) => fail(toServiceError(err, log)),
  );

  async function answer(ctx: CallContext, batch: AuthenticationResponseBatch__Output): Promise<void> {
    if (failed) return;
    const items = batch.items.map((item) => item.item ?? EMPTY_ITEM);
    // CM_RATE_LIMIT counts every item: a batch is refused whole when its items are not left.
    const outcomes = await edge.rateLimit.take(ctx.caller, 'ComputeAuthenticationResponses', Math.max(1, items.length)).then(
      () => domain.cardSecrets.authenticationResponses(ctx, items),
      (error: unknown): BatchOutcome[] => items.map(() => ({ error })),
    );
    let logged = false;
    const results = outcomes.map((outcome, i): AuthenticationResponseResult => {
      const id = batch.items[i]!.id;
      if (outcome.response !== undefined) return { id, response: outcome.response };
      const err = outcome.error;
      if (isCmError(err)) {
        edge.metrics?.refused(err.code);
        const answer = publicError(err);
        if (answer.internal && !logged) log.error({ err, code: err.code, cause: err.cause }, 'internal error in a batch');
        logged ||= answer.internal;
        return { id, error: { status: answer.status, code: answer.code, message: answer.message } };
      }
      edge.metrics?.refused('INTERNAL');
      // A fault of ours usually fails the whole batch alike: logged once.
      if (!logged) log.error({ err }, 'unexpected error in a batch');
      logged = true;
      return { id, error: { status: grpc.status.INTERNAL, code: 'INTERNAL', message: 'Internal error.' } };
    });
    if (!call.cancelled && !failed) call.write({ results });
  }
}
