// Finishes the OpenAPI document that @fastify/swagger generates from the route schemas, so that
// stock validators (swagger-cli, Redocly) accept it and clients get what they need from it:
// every operation named (`operationId`: the gRPC method's name where there is one), shared
// schemas in `components` and referenced (the error body once), response headers documented
// (Location, X-Correlation-Id, WWW-Authenticate, Retry-After), public routes saying
// `security: []`, binary answers under their real media types, and no JSON Schema keyword that
// OpenAPI 3.0 lacks (`propertyNames`).

import { auditRecordSchema } from './routes/audit/schemas.js';
import { cardCertificateSchema, generationOptionsSchema, issuedCertificateSchema, userCertificateSchema } from './routes/certificates/schemas.js';
import { profileTemplateSchema, profileTemplateSummarySchema, smartcardConfigurationSchema, workflowPolicySchema } from './routes/profiletemplates/schemas.js';
import { requestSchema } from './routes/requests/schemas.js';
import { smartcardSchema } from './routes/smartcards/schemas.js';
import { errorSchema } from './schemas.js';

/** What the document needs to know of a route beyond its schema (collected when it is added). */
export interface RouteFacts {
  operationId: string;
  public: boolean;
  /** The media type of a 200 answer that is not JSON (the CRL, the CA certificate). */
  mediaType?: string;
}

/** Schemas shown once in components.schemas and referenced wherever they appear. */
const SHARED_SCHEMAS: Record<string, object> = {
  Error: errorSchema,
  Smartcard: smartcardSchema,
  Request: requestSchema,
  ProfileTemplate: profileTemplateSchema,
  ProfileTemplateSummary: profileTemplateSummarySchema,
  WorkflowPolicy: workflowPolicySchema,
  SmartcardConfiguration: smartcardConfigurationSchema,
  SmartcardCertificate: cardCertificateSchema,
  UserCertificate: userCertificateSchema,
  CertificateRequestGenerationOptions: generationOptionsSchema,
  IssuedCertificate: issuedCertificateSchema,
  AuditRecord: auditRecordSchema,
};

const HEADERS = {
  'X-Correlation-Id': { description: 'The id of this request in the logs: the one sent, when it was sane, or a new one', schema: { type: 'string' } },
  Location: { description: 'The absolute path of the object created', schema: { type: 'string' } },
  'WWW-Authenticate': { description: 'On 401: the Bearer scheme, with the error when a token was sent', schema: { type: 'string' } },
  'Retry-After': { description: 'On 429 (rate limit) and 503 (shutting down or the core unreachable): seconds to wait', schema: { type: 'integer' } },
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

type Json = Record<string, any>;

/** Key-order independent JSON, to recognise a shared schema in the generated document. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Json)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The OpenAPI 3.0 form of a JSON Schema, as @fastify/swagger writes it: `type: [X, 'null']` is `type: X, nullable: true`; `type: 'null'` a nullable object whose only value is null. */
function toOpenApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toOpenApi30);
  if (!node || typeof node !== 'object') return node;
  const out: Json = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, toOpenApi30(v)]));
  if (out.type === 'null') Object.assign(out, { type: 'object', nullable: true, enum: [null] });
  if (Array.isArray(out.type) && out.type.length === 2 && out.type.includes('null')) {
    out.type = out.type.find((t: string) => t !== 'null');
    out.nullable = true;
  }
  return out;
}

/** Walks every schema object under `node`, replacing those `replace` answers for. */
function rewriteSchemas(node: unknown, replace: (schema: Json) => Json | undefined): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteSchemas(n, replace));
  if (!node || typeof node !== 'object') return node;
  const replaced = replace(node as Json);
  if (replaced) return replaced;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rewriteSchemas(v, replace)]));
}

export function routeKey(method: string, url: string): string {
  // @fastify/swagger writes `:id` as `{id}`.
  return `${method.toLowerCase()} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
}

export function completeOpenApiDocument(document: Json, routes: ReadonlyMap<string, RouteFacts>): Json {
  const shared = Object.entries(SHARED_SCHEMAS).map(([name, schema]) => [name, toOpenApi30(schema) as Json] as const);
  // Recognised whatever their own description: an error status says what it means there.
  const shape = ({ description: _description, ...rest }: Json) => canonical(rest);
  const byCanonical = new Map(shared.map(([name, schema]) => [shape(schema), name]));
  const usedIds = new Set<string>();
  const ref = (kind: 'schemas' | 'headers', name: string) => ({ $ref: `#/components/${kind}/${name}` });

  const paths: Json = {};
  for (const [path, item] of Object.entries(document.paths ?? {}) as [string, Json][]) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(item) as [string, Json][]) {
      if (!METHODS.includes(method)) {
        paths[path][method] = operation;
        continue;
      }
      const facts = routes.get(routeKey(method, path));
      let operationId = facts?.operationId || `${method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;
      // A route served on two paths (an alias) keeps the RPC's name on the first.
      for (let n = 2; usedIds.has(operationId); n++) operationId = `${facts?.operationId || operationId}_${n}`;
      usedIds.add(operationId);
      const isPublic = facts?.public ?? !operation.security;
      const responses: Json = {};
      for (const [status, response] of Object.entries(operation.responses ?? {}) as [string, Json][]) {
        const headers: Json = { 'X-Correlation-Id': ref('headers', 'X-Correlation-Id') };
        if (status === '201') headers.Location = ref('headers', 'Location');
        if (status === '401') headers['WWW-Authenticate'] = ref('headers', 'WWW-Authenticate');
        if (status === '429' || status === '503') headers['Retry-After'] = ref('headers', 'Retry-After');
        const finished: Json = { ...response, headers: { ...(response.headers ?? {}), ...headers } };
        if (status === '200' && facts?.mediaType) {
          finished.content = { [facts.mediaType]: { schema: { type: 'string', format: 'binary' } } };
        }
        responses[status] = finished;
      }
      paths[path][method] = { ...operation, operationId, ...(isPublic ? { security: [] } : {}), responses };
    }
  }

  const shareAndClean = (schema: Json): Json | undefined => {
    const name = byCanonical.get(shape(schema));
    if (name) return ref('schemas', name);
    if ('propertyNames' in schema) {
      // OpenAPI 3.0 has no propertyNames: the rule moves into the description.
      const { propertyNames, ...rest } = schema;
      const note = `Property names: ${propertyNames.format ?? canonical(propertyNames)}.`;
      return rewriteSchemas({ ...rest, description: rest.description ? `${rest.description} ${note}` : note }, shareAndClean) as Json;
    }
    return undefined;
  };
  const components = document.components ?? {};
  return {
    ...document,
    paths: rewriteSchemas(paths, shareAndClean),
    components: {
      ...components,
      schemas: {
        ...(components.schemas ?? {}),
        ...Object.fromEntries(shared.map(([name, schema]) => [name, rewriteSchemas(schema, (s) => (s === schema ? undefined : shareAndClean(s)))])),
      },
      headers: HEADERS,
    },
  };
}
