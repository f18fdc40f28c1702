// ComputeAuthenticationResponses: an issuance line streams batches of (request, card,
// challenge) items; each item is authorised, answered or refused, and audited on its own
// (core/domain/card-secrets.ts authenticationResponses), and each batch is answered by one
// message with a result per item, in the batch's order. Batches are worked on concurrently;
// their answers go out as each completes.

import * as grpc from '@grpc/grpc-js';
import type { AuthenticationResponseBatch__Output } from '../../proto/gen/cm/v1/AuthenticationResponseBatch.js';
import type { AuthenticationResponseResult } from '../../proto/gen/cm/v1/AuthenticationResponseResult.js';
import type { AuthenticationResponseResults } from '../../proto/gen/cm/v1/AuthenticationResponseResults.js';
import type { Domain } from '../domain/index.js';
import { isCmError } from '../errors.js';
import { callFinished, contextOf, correlationIdOf, type CallEdge } from './call.js';
import { grpcStatusOf, toServiceError } from './status.js';

/** Most items one message may carry. */
export const MAX_BATCH_ITEMS = 1024;

/** Most batches a stream may have in flight before it stops reading (backpressure). */
const MAX_BATCHES_IN_FLIGHT = 8;

const EMPTY_ITEM = { requestUuid: '', smartcardUuid: '', cardId: '', challenge: '', diversified: false, atr: '' };

export function batchAuthenticationResponses(
  edge: CallEdge,
  domain: Domain,
  call: grpc.ServerDuplexStream<AuthenticationResponseBatch__Output, AuthenticationResponseResults>,
): void {
  const started = process.hrtime.bigint();
  const correlationId = correlationIdOf(call.metadata);
  const log = edge.log.child({ correlationId, method: 'ComputeAuthenticationResponses' });
  let caller: string | undefined;
  let inFlight = 0;
  let ended = false;
  let failed = false;
  const finishIfDone = () => {
    if (ended && inFlight === 0 && !failed) {
      callFinished(edge, call, started, correlationId, caller, undefined);
      call.end();
    }
  };
  const fail = (status: Partial<grpc.StatusObject>) => {
    failed = true;
    callFinished(edge, call, started, correlationId, caller, status);
    call.emit('error', status);
  };

  contextOf(edge, call.metadata, correlationId).then(
    (ctx) => {
      caller = ctx.caller.userUuid;
      call.on('data', (batch: AuthenticationResponseBatch__Output) => {
        if (failed) return;
        if (batch.items.length > MAX_BATCH_ITEMS) {
          fail({ code: grpc.status.INVALID_ARGUMENT, details: `A batch carries at most ${MAX_BATCH_ITEMS} items.` });
          return;
        }
        inFlight++;
        if (inFlight >= MAX_BATCHES_IN_FLIGHT) call.pause();
        domain.cardSecrets
          .authenticationResponses(ctx, batch.items.map((item) => item.item ?? EMPTY_ITEM))
          .then((outcomes) => {
            let logged = false;
            const results = outcomes.map((outcome, i): AuthenticationResponseResult => {
              const id = batch.items[i]!.id;
              if (outcome.response !== undefined) return { id, response: outcome.response };
              const err = outcome.error;
              if (isCmError(err)) {
                edge.metrics?.refused(err.code);
                return { id, error: { status: grpcStatusOf(err.code), code: err.code, message: err.message } };
              }
              edge.metrics?.refused('INTERNAL');
              // A fault of ours usually fails the whole batch alike: logged once.
              if (!logged) log.error({ err }, 'unexpected error in a batch');
              logged = true;
              return { id, error: { status: grpc.status.INTERNAL, code: 'INTERNAL', message: 'Internal error.' } };
            });
            if (!call.cancelled && !failed) call.write({ results });
            inFlight--;
            if (inFlight < MAX_BATCHES_IN_FLIGHT) call.resume();
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
}
