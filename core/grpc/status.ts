// The one place where the core's coded errors become gRPC statuses. The stable SPEC code
// travels in the trailing metadata key `cm-error-code`; anything that is not a CmError is a
// bug: it is logged with the correlation id and reaches the client as a generic INTERNAL.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { isCmError, type ErrorCode } from '../errors.js';

export const ERROR_CODE_METADATA_KEY = 'cm-error-code';

const STATUS_BY_CODE: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  FORBIDDEN: grpc.status.PERMISSION_DENIED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  INVALID_TRANSITION: grpc.status.FAILED_PRECONDITION,
  REQUEST_ALREADY_BOUND: grpc.status.ALREADY_EXISTS,
  CARD_IN_USE: grpc.status.ALREADY_EXISTS,
  CARD_MISMATCH: grpc.status.FAILED_PRECONDITION,
  WRONG_STATE: grpc.status.FAILED_PRECONDITION,
  LIMIT_EXCEEDED: grpc.status.FAILED_PRECONDITION,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  WEAK_KEY: grpc.status.INTERNAL,
  INTERNAL: grpc.status.INTERNAL,
};

export function grpcStatusOf(code: ErrorCode): grpc.status {
  return STATUS_BY_CODE[code];
}

export function toServiceError(err: unknown, log: Logger): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (isCmError(err)) {
    metadata.set(ERROR_CODE_METADATA_KEY, err.code);
    const status = STATUS_BY_CODE[err.code];
    if (status === grpc.status.INTERNAL) log.error({ code: err.code }, 'internal error');
    return { code: status, details: err.message, metadata };
  }
  log.error({ err }, 'unexpected error');
  metadata.set(ERROR_CODE_METADATA_KEY, 'INTERNAL');
  return { code: grpc.status.INTERNAL, details: 'Internal error.', metadata };
}
