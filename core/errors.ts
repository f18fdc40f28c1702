// Every error the core can raise, declared once. Domain code throws CmError with one of these
// codes; the gRPC edge (grpc/status.ts) is the only place that turns them into status codes.

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
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CmError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CmError';
    this.code = code;
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
