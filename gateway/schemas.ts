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

export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

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
