// Definitions shared by every route: the base path, the JSON media type, the error body and the
// common parameter schemas. Resource schemas live beside their routes.
export const BASE_PATH = '/CertificateManagement/api/v1.0';
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export const errorSchema = {
  type: 'object',
  description: 'An error',
  properties: {
    Message: { type: 'string', description: 'What is wrong, for a person' },
    Code: { type: 'string', description: 'A stable code (SPEC 9)' },
    CorrelationId: { type: 'string', description: 'The id of this request in the logs' },
  },
  required: ['Message', 'Code', 'CorrelationId'],
} as const;

/** What each error status of SPEC 9 means, for the API document. */
const ERROR_MEANINGS: Record<number, string> = {
  400: 'INVALID_ARGUMENT: a malformed GUID, hex, base64, enumeration name or body',
  401: 'UNAUTHENTICATED: no, bad or expired token',
  403: 'FORBIDDEN: authenticated but not allowed',
  404: 'NOT_FOUND: no such object, or not visible to the caller',
  409: 'Valid input that the current state refuses: INVALID_TRANSITION, REQUEST_ALREADY_BOUND, CARD_IN_USE, CARD_MISMATCH, WRONG_STATE, LIMIT_EXCEEDED',
  413: 'PAYLOAD_TOO_LARGE: the body is over 64 KiB',
  415: 'UNSUPPORTED_MEDIA_TYPE: a body of a media type the route does not take',
  429: 'RATE_LIMITED: too many key and PIN calls (CM_RATE_LIMIT); wait Retry-After seconds',
  500: 'INTERNAL: a bug, logged with the correlation id',
  503: 'UNAVAILABLE: the core or its database cannot be reached, or the service is shutting down; safe to retry',
  504: 'DEADLINE_EXCEEDED: the core did not answer in time',
};

/** The error body under each of `statuses`, with the status's meaning. */
export function errorResponses(statuses: readonly number[]): Record<number, object> {
  return Object.fromEntries(statuses.map((status) => [status, { ...errorSchema, description: ERROR_MEANINGS[status] ?? 'An error' }]));
}

export const noContentSchema = { type: 'null', description: 'No Content' } as const;

export const uriSchema = {
  type: 'string',
  description: 'The relative URI of the new object (api/v1.0/...); Location holds its absolute path',
} as const;

export const guidSchema = { type: 'string', format: 'guid' } as const;

/**
 * An enumeration in a body (SPEC 2): its name (the format checks it) or its number (the route's
 * `read` checks it); any other JSON type is a 400, never coerced.
 */
export function enumSchema<F extends string>(format: F, description?: string) {
  return { type: ['string', 'integer'], format, ...(description ? { description } : {}) } as const;
}

/** Params schema of routes whose path parameters are all GUIDs. */
export function guidParams(...names: string[]) {
  return {
    type: 'object',
    properties: Object.fromEntries(names.map((name) => [name, guidSchema])),
    required: names,
  } as const;
}

export function arrayOf<T extends object>(items: T, description?: string) {
  return { type: 'array', items, ...(description ? { description } : {}) } as const;
}
