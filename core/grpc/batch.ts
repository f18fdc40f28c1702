// ComputeAuthenticationResponses: an issuance line streams many (request, card, challenge)
// items; each is authorised and audited on its own and answered as soon as it is ready, with
// its error in place of a response when refused. Items arriving together share pool tasks,
// because the pool coalesces jobs of one event-loop turn.

import type * as grpc from '@grpc/grpc-js';
import type { AuthenticationResponseItem__Output } from '../../proto/gen/cm/v1/AuthenticationResponseItem.js';
import type { AuthenticationResponseResult } from '../../proto/gen/cm/v1/AuthenticationResponseResult.js';
import type { Domain } from '../domain/index.js';
import { isCmError } from '../errors.js';
import { contextOf, correlationIdOf, type CallEdge } from './call.js';
import { grpcStatusOf, toServiceError } from './status.js';

/** Most items a stream may have in flight before it stops reading (backpressure). */
const MAX_IN_FLIGHT = 256;

export function batchAuthenticationResponses(
  edge: CallEdge,
  domain: Domain,
  call: grpc.ServerDuplexStream<AuthenticationResponseItem__Output, AuthenticationResponseResult>,
): void {
  const correlationId = correlationIdOf(call.metadata);
  const log = edge.log.child({ correlationId, method: 'ComputeAuthenticationResponses' });
  let inFlight = 0;
  let ended = false;
  const finishIfDone = () => {
    if (ended && inFlight === 0) call.end();
  };

  contextOf(edge, call.metadata, correlationId).then(
    (ctx) => {
      call.on('data', (item: AuthenticationResponseItem__Output) => {
        inFlight++;
        if (inFlight >= MAX_IN_FLIGHT) call.pause();
        const request = item.item ?? { requestUuid: '', smartcardUuid: '', cardId: '', challenge: '', diversified: false, atr: '' };
        domain.cardSecrets
          .authenticationResponse(ctx, request)
          .then(
            (response): AuthenticationResponseResult => ({ id: item.id, response }),
            (err: unknown): AuthenticationResponseResult => {
              if (!isCmError(err)) log.error({ err }, 'unexpected error in a batch item');
              return isCmError(err)
                ? { id: item.id, error: { status: grpcStatusOf(err.code), code: err.code, message: err.message } }
                : { id: item.id, error: { status: 13, code: 'INTERNAL', message: 'Internal error.' } };
            },
          )
          .then((result) => {
            if (!call.cancelled) call.write(result);
            inFlight--;
            if (inFlight < MAX_IN_FLIGHT) call.resume();
            finishIfDone();
          });
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
    },
    (err: unknown) => {
      const status = toServiceError(err, log);
      call.emit('error', status);
    },
  );
}
