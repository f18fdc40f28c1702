// Every error the core can raise, declared once. Domain code throws CmError with one of these
// codes; the gRPC edge (grpc/status.ts) is the only place that turns them into status codes.
// The crypto workers', the CA's, the key ring's and the configuration's errors are rows of this
// table too (their classes type their codes as subsets of it): a fault of ours that reaches a
// client is answered with its status and a generic message, its cause only in the log.

export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'INVALID_TRANSITION',
  'REQUEST_ALREADY_BOUND',
  'CARD_IN_USE',
  'CARD_MISMATCH',
  'WRONG_STATE',
  'LIMIT_EXCEEDED',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'WEAK_KEY',
  'INTERNAL',
  // Faults of ours, never the caller's: answered as INTERNAL.
  'INVALID_KEY', // a key of the wrong length (configuration or storage)
  'SEAL_INVALID', // a sealed secret that fails authentication (tampered, wrong key or owner)
  'CA_CONFIG_INVALID', // the CA's certificate or key is unusable
  'KEY_RING_INVALID', // the master key ring is malformed
  'KEY_VERSION_MISSING', // a card or secret refers to a key version the ring lacks
  'CONFIG_INVALID', // a setting is malformed (start-up only)
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CmError extends Error {
  readonly code: ErrorCode;
  /** RATE_LIMITED: when to try again (sent as `retry-after`, the gateway's Retry-After). */
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.name = 'CmError';
    this.code = code;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const invalidArgument = (message: string) => new CmError('INVALID_ARGUMENT', message);
export const unauthenticated = (message = 'A valid bearer token is required.') => new CmError('UNAUTHENTICATED', message);
export const forbidden = (message = 'You are not allowed to do this.') => new CmError('FORBIDDEN', message);
export const notFound = (what: string) => new CmError('NOT_FOUND', `${what} was not found.`);
export const wrongState = (message: string) => new CmError('WRONG_STATE', message);
export const invalidTransition = (message: string) => new CmError('INVALID_TRANSITION', message);

export function isCmError(err: unknown): err is CmError {
  return err instanceof CmError;
}
