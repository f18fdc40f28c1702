// The one place where the core's coded errors become gRPC statuses. The stable SPEC code
// travels in the trailing metadata key `cm-error-code`. Every error answered with a server-side
// status (INTERNAL, UNAVAILABLE) reaches the client with a generic message, whatever its own
// says, and is logged with its cause and the correlation id; anything that is not a CmError is a
// bug and answered as INTERNAL.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ERROR_CODES, isCmError, type CmError, type ErrorCode } from '../errors.js';

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
  INVALID_KEY: grpc.status.INTERNAL,
  SEAL_INVALID: grpc.status.INTERNAL,
  CA_CONFIG_INVALID: grpc.status.INTERNAL,
  KEY_RING_INVALID: grpc.status.INTERNAL,
  KEY_VERSION_MISSING: grpc.status.INTERNAL,
  CONFIG_INVALID: grpc.status.INTERNAL,
};

/** The codes a client may see; the others are the log's (faults of ours answered as INTERNAL). */
const PUBLIC_CODES: ReadonlySet<ErrorCode> = new Set(ERROR_CODES.slice(0, ERROR_CODES.indexOf('INTERNAL') + 1));

/** What a client is told for the server-side statuses: never the error's own message. */
const GENERIC_MESSAGES: ReadonlyMap<grpc.status, string> = new Map([
  [grpc.status.INTERNAL, 'Internal error.'],
  [grpc.status.UNAVAILABLE, 'The service is unavailable; retry later.'],
]);

/** A coded error as a client may see it: its status, its public code and a message. */
export function publicError(err: CmError): { status: grpc.status; code: ErrorCode; message: string; internal: boolean } {
  const status = STATUS_BY_CODE[err.code];
  const generic = GENERIC_MESSAGES.get(status);
  return { status, code: PUBLIC_CODES.has(err.code) ? err.code : 'INTERNAL', message: generic ?? err.message, internal: generic !== undefined };
}

export function toServiceError(err: unknown, log: Logger): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (isCmError(err)) {
    const answer = publicError(err);
    metadata.set(ERROR_CODE_METADATA_KEY, answer.code);
    if (err.retryAfterSeconds !== undefined) metadata.set('retry-after', String(err.retryAfterSeconds));
    if (answer.internal) log.error({ err, code: err.code, cause: err.cause }, 'internal error');
    return { code: answer.status, details: answer.message, metadata };
  }
  log.error({ err }, 'unexpected error');
  metadata.set(ERROR_CODE_METADATA_KEY, 'INTERNAL');
  return { code: grpc.status.INTERNAL, details: 'Internal error.', metadata };
}
