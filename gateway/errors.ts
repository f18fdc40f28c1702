// Every error the gateway answers with, in one place: the errors it raises itself (each with a
// stable code, a status and a default message), the gRPC status -> HTTP table of SPEC 9, and the
// translation of whatever reached the error handler into the body
// {"Message", "Code", "CorrelationId"}. A 5xx never shows the cause; it is logged instead.
import * as grpc from '@grpc/grpc-js';

export interface ErrorBody {
  Message: string;
  Code: string;
  CorrelationId: string;
}

/** The errors the gateway raises itself, before or instead of calling the core. */
export const GATEWAY_ERRORS = {
  INVALID_ARGUMENT: { status: 400, message: 'The request is malformed.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid bearer token is required.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than 64 KiB.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  INTERNAL: { status: 500, message: 'The service could not complete the request.' },
  UNAVAILABLE: { status: 503, message: 'The service is unavailable; retry later.' },
  DEADLINE_EXCEEDED: { status: 504, message: 'The service did not answer in time; retry later.' },
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export class GatewayError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: GatewayErrorCode,
    message: string = GATEWAY_ERRORS[code].message,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.statusCode = GATEWAY_ERRORS[code].status;
  }
}

export function invalidArgument(message: string): GatewayError {
  return new GatewayError('INVALID_ARGUMENT', message);
}

/** SPEC 9: each gRPC status, its HTTP status and the code used when the core sent none. */
const GRPC_TO_HTTP: ReadonlyMap<grpc.status, { status: number; code: string }> = new Map([
  [grpc.status.INVALID_ARGUMENT, { status: 400, code: 'INVALID_ARGUMENT' }],
  [grpc.status.UNAUTHENTICATED, { status: 401, code: 'UNAUTHENTICATED' }],
  [grpc.status.PERMISSION_DENIED, { status: 403, code: 'FORBIDDEN' }],
  [grpc.status.NOT_FOUND, { status: 404, code: 'NOT_FOUND' }],
  [grpc.status.ALREADY_EXISTS, { status: 409, code: 'ALREADY_EXISTS' }],
  [grpc.status.FAILED_PRECONDITION, { status: 409, code: 'WRONG_STATE' }],
  [grpc.status.ABORTED, { status: 409, code: 'ABORTED' }],
  [grpc.status.RESOURCE_EXHAUSTED, { status: 429, code: 'RATE_LIMITED' }],
  [grpc.status.UNAVAILABLE, { status: 503, code: 'UNAVAILABLE' }],
  [grpc.status.DEADLINE_EXCEEDED, { status: 504, code: 'DEADLINE_EXCEEDED' }],
]);
const GRPC_OTHER = { status: 500, code: 'INTERNAL' };

/** Default messages by HTTP status, for 4xx answers of the core that carry no details. */
const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
  400: GATEWAY_ERRORS.INVALID_ARGUMENT.message,
  401: GATEWAY_ERRORS.UNAUTHENTICATED.message,
  403: 'The caller may not do this.',
  404: 'No such object.',
  409: 'The current state of the object does not allow this.',
  429: GATEWAY_ERRORS.RATE_LIMITED.message,
};

/** The trailing metadata key in which the core sends the stable code. */
export const CM_ERROR_CODE_KEY = 'cm-error-code';
const STABLE_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Fastify's own errors, by their code. */
const FRAMEWORK_ERRORS: Readonly<Record<string, GatewayErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
};

export interface HttpError {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  /** A 5xx: the cause is logged, not shown. */
  internal: boolean;
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return (
    error instanceof Error &&
    typeof (error as grpc.ServiceError).code === 'number' &&
    (error as grpc.ServiceError).metadata instanceof grpc.Metadata
  );
}

/** The HTTP answer to a failed call of the core (SPEC 9). */
export function fromServiceError(error: grpc.ServiceError): HttpError {
  const { status, code: derivedCode } = GRPC_TO_HTTP.get(error.code) ?? GRPC_OTHER;
  const sent = error.metadata.get(CM_ERROR_CODE_KEY)[0];
  const code = typeof sent === 'string' && STABLE_CODE.test(sent) ? sent : derivedCode;
  const internal = status >= 500;
  const details = typeof error.details === 'string' ? error.details.trim() : '';
  const message = internal
    ? genericMessage(status)
    : details !== ''
      ? details.slice(0, 1000)
      : (DEFAULT_MESSAGES[status] ?? GATEWAY_ERRORS.INVALID_ARGUMENT.message);
  const retryAfter = error.metadata.get('retry-after')[0];
  const retry = status === 429 && typeof retryAfter === 'string' && /^\d{1,6}$/.test(retryAfter) ? { 'retry-after': retryAfter } : undefined;
  return { status, code, message, headers: { ...challengeHeaders(status), ...retry }, internal };
}

/** The HTTP answer to anything that reached the error handler. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof GatewayError) {
    return {
      status: error.statusCode,
      code: error.code,
      message: error.message,
      headers: { ...challengeHeaders(error.statusCode), ...error.headers },
      internal: error.statusCode >= 500,
    };
  }
  if (isServiceError(error)) return fromServiceError(error);
  // Fastify's own errors: a few by code, the other client errors (bad URL, bad Content-Length,
  // schema violations, which formatValidationErrors already made GatewayErrors) as malformed input.
  const fastifyError = error as { code?: string; statusCode?: number };
  const known = fastifyError.code ? FRAMEWORK_ERRORS[fastifyError.code] : undefined;
  if (known) return toHttpError(new GatewayError(known));
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return toHttpError(new GatewayError('INVALID_ARGUMENT', readableFrameworkMessage(fastifyError)));
  }
  return { status: 500, code: 'INTERNAL', message: genericMessage(500), headers: {}, internal: true };
}

export function errorBody(error: HttpError, correlationId: string): ErrorBody {
  return { Message: error.message, Code: error.code, CorrelationId: correlationId };
}

function genericMessage(status: number): string {
  if (status === 503) return GATEWAY_ERRORS.UNAVAILABLE.message;
  if (status === 504) return GATEWAY_ERRORS.DEADLINE_EXCEEDED.message;
  return GATEWAY_ERRORS.INTERNAL.message;
}

function challengeHeaders(status: number): Record<string, string> {
  return status === 401 ? { 'www-authenticate': 'Bearer' } : {};
}

function readableFrameworkMessage(error: { code?: string; message?: string }): string {
  if (error.code === 'FST_ERR_BAD_URL') return 'The URL is malformed.';
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return 'A path segment is too long.';
  if (error.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return 'The Content-Length does not match the body.';
  return GATEWAY_ERRORS.INVALID_ARGUMENT.message;
}
