// The translation table's machinery: a REST route is data (method, paths, schemas, the RPC it
// calls, how to build the gRPC request from params/query/body, how to shape the answer), and
// one handler serves them all: build the request (syntax checked before, by the schemas), make
// exactly one call to the core, shape the answer.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CoreServiceName, RpcRequest, RpcResponse, UnaryRpc } from './core-client.js';
import { toPascalCase } from './conventions/casing.js';
import { JSON_CONTENT_TYPE, errorResponses, noContentSchema, uriSchema } from './schemas.js';
import './plugins/route-config.js';

/** What a request builder reads: path parameters, query (names lower-cased), body (keys lower-cased). */
export interface RouteInput {
  params: Record<string, string | undefined>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
}

/** What a route answers: a status, and a body that is a JSON value, a bare string or bytes. */
export interface RestReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RpcRoute<S extends CoreServiceName, M extends UnaryRpc<S>> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Paths relative to the prefix the route table is registered under; several for aliases. */
  paths: readonly string[];
  summary: string;
  tags: readonly string[];
  service: S;
  rpc: M;
  params?: object;
  querystring?: object;
  body?: object;
  /** Media types of the body other than JSON (the route registers their parser). */
  consumes?: readonly string[];
  /** Success responses by status, for the serializer and the OpenAPI document. */
  responses: Record<number, object>;
  /**
   * The refusals (SPEC 9) that the core decides from the state of things on this route: 403 (not
   * allowed), 404 (missing or not visible), 409 (the state refuses it). The other error statuses
   * follow from the route itself (errorStatuses).
   */
  refuses: readonly Refusal[];
  /** Served without a token (the CRL, the CA certificate, OCSP). */
  public?: boolean;
  /** The media type of a 200 answer that is not JSON. */
  mediaType?: string;
  /** Hands out key material or a PIN: rate-limited, Cache-Control: no-store. */
  secret?: boolean;
  // NoInfer: S and M come from `service` and `rpc` alone; the builder and the shaper are checked against them.
  request(input: RouteInput): NoInfer<RpcRequest<S, M>>;
  reply(answer: NoInfer<RpcResponse<S, M>>): RestReply;
}

export type Refusal = 403 | 404 | 409;

/** A route with its types erased, as the table holds it. */
export interface TableRoute extends Omit<RpcRoute<CoreServiceName, never>, 'rpc' | 'request' | 'reply'> {
  rpc: string;
  request(input: RouteInput): unknown;
  reply(answer: never): RestReply;
}

/** Declares a route; checks that its builder and shaper fit the RPC it names. */
export function rpcRoute<S extends CoreServiceName, const M extends UnaryRpc<S>>(route: RpcRoute<S, M>): TableRoute {
  return route as unknown as TableRoute;
}

export function registerRpcRoutes(fastify: FastifyInstance, routes: readonly TableRoute[]): void {
  for (const route of routes) {
    for (const path of route.paths) {
      fastify.route({
        method: route.method,
        url: path,
        schema: {
          summary: route.summary,
          tags: [...route.tags],
          ...(route.public ? {} : { security: [{ bearerAuth: [] }] }),
          ...(route.params ? { params: route.params } : {}),
          ...(route.querystring ? { querystring: route.querystring } : {}),
          ...(route.body ? { body: route.body } : {}),
          ...(route.consumes ? { consumes: [...route.consumes] } : {}),
          response: { ...route.responses, ...errorResponses(errorStatuses(route)) },
        },
        config: { public: route.public ?? false, secret: route.secret ?? false, operationId: route.rpc, mediaType: route.mediaType },
        handler: (request, reply) => handle(fastify, route, request, reply),
      });
    }
  }
}

/**
 * Every error status the route can answer (SPEC 9), so that the API document lists exactly those:
 * 400 when it reads parameters, a query or a body (Fastify parses a body on any method but GET:
 * also 413 and 415); 401 unless it is public; its refusals; 429 where CM_RATE_LIMIT counts (key
 * and PIN calls); and on every route 500 (a bug), 503 (the core unreachable, or shutting down)
 * and 504 (the core's deadline).
 */
export function errorStatuses(route: TableRoute): number[] {
  const readsBody = route.method !== 'GET';
  const statuses = new Set<number>([...route.refuses, 500, 503, 504]);
  if (route.params || route.querystring || readsBody) statuses.add(400);
  if (!route.public) statuses.add(401);
  if (readsBody) [413, 415].forEach((s) => statuses.add(s));
  if (route.secret) statuses.add(429);
  return [...statuses].sort((a, b) => a - b);
}

async function handle(fastify: FastifyInstance, route: TableRoute, request: FastifyRequest, reply: FastifyReply) {
  const grpcRequest = route.request({
    params: (request.params ?? {}) as RouteInput['params'],
    query: (request.query ?? {}) as RouteInput['query'],
    body: (request.body ?? {}) as RouteInput['body'],
  });
  const answer = await fastify.core.call(route.service, route.rpc as never, grpcRequest as never, {
    authorization: route.public ? undefined : request.headers.authorization,
    correlationId: request.id,
    // SPEC 12: a GET that got UNAVAILABLE is tried once more, on another core.
    retryUnavailable: route.method === 'GET',
  });
  if (route.secret) reply.header('cache-control', 'no-store');
  return sendRestReply(reply, route.reply(answer as never));
}

export function sendRestReply(reply: FastifyReply, answer: RestReply): FastifyReply {
  reply.code(answer.status);
  if (answer.headers) reply.headers(answer.headers);
  if (answer.status === 204 || answer.body === undefined) return reply.send();
  if (Buffer.isBuffer(answer.body)) return reply.send(answer.body);
  // A bare value (a URI, a key, a PIN) is a JSON string, not text.
  if (typeof answer.body === 'string') return reply.type(JSON_CONTENT_TYPE).send(JSON.stringify(answer.body));
  return reply.type(JSON_CONTENT_TYPE).send(answer.body);
}

// ---- shapes of answers shared by several routes ----

/** 200 with the answer in PascalCase. */
export function pascal(answer: object): RestReply {
  return { status: 200, body: toPascalCase(answer) };
}

/** 200 with one repeated field of the answer, as a PascalCase array. */
export function pascalList<K extends string>(field: K) {
  return (answer: { [key in K]: readonly object[] }): RestReply => ({ status: 200, body: toPascalCase(answer[field]) });
}

/** 201 with the bare relative URI and Location: its absolute path; 204 for an idempotent retry. */
export function created(collection: string) {
  return (answer: { uuid: string; uri: string; created: boolean }): RestReply => {
    if (!answer.created) return { status: 204 };
    const uri = answer.uri || `api/v1.0/${collection}/${answer.uuid}`;
    return { status: 201, body: uri, headers: { location: `/CertificateManagement/${uri}` } };
  };
}

export const createdResponses = { 201: uriSchema, 204: noContentSchema } as const;

/** 200 with the bare value (a response, a key) as a JSON string. */
export function bareValue(answer: { value: string }): RestReply {
  return { status: 200, body: answer.value };
}

/** 200 with the bare secret, or 204 when there is none. */
export function secretValue(answer: { value: string; present: boolean }): RestReply {
  return answer.present ? { status: 200, body: answer.value } : { status: 204 };
}

export function noContent(): RestReply {
  return { status: 204 };
}
