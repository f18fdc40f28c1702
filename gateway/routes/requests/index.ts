// Request routes (SPEC 7): each the twin of one RequestService RPC.
import type { FastifyInstance } from 'fastify';
import { REQUEST_STATUS, REQUEST_TYPE } from '../../conventions/enums.js';
import { enumFormat, guid, read, readOptional, wholeNumber } from '../../conventions/values.js';
import { created, pascal, pascalList, registerRpcRoutes, rpcRoute } from '../../rpc-route.js';
import { arrayOf, uriSchema } from '../../schemas.js';
import { readDataCollection } from './data-collection.js';
import { createBody, listQuery, requestParams, requestSchema, updateBody } from './schemas.js';

const tags = ['requests'];
const requestType = enumFormat(REQUEST_TYPE);
const requestStatus = enumFormat(REQUEST_STATUS);

/** `targetuser`: "current" (any case) or a GUID; empty = every request the caller may see. */
function readTargetUser(value: unknown): string {
  if (value === undefined || value === '') return '';
  return String(value).toLowerCase() === 'current' ? 'current' : read(guid, value, 'targetuser');
}

export const requestRoutes = [
  rpcRoute({
    method: 'POST',
    paths: ['/requests'],
    summary: 'Create a request',
    tags,
    service: 'RequestService',
    rpc: 'CreateRequest',
    refuses: [403, 404, 409],
    body: createBody,
    responses: { 201: uriSchema },
    request: ({ body }) => ({
      profileTemplateUuid: readOptional(guid, body.profiletemplateuuid, 'profiletemplateuuid', ''),
      type: read(requestType, body.type, 'type'),
      target: readOptional(guid, body.target, 'target', ''),
      dataCollection: readDataCollection(body.datacollection),
      comment: (body.comment as string | undefined) ?? '',
      priority: readOptional(wholeNumber, body.priority, 'priority', 0),
      smartcard: readOptional(guid, body.smartcard, 'smartcard', ''),
    }),
    reply: created('requests'),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/requests/:id'],
    summary: 'Get a request',
    tags,
    service: 'RequestService',
    rpc: 'GetRequest',
    refuses: [404],
    params: requestParams,
    responses: { 200: requestSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: pascal,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/requests'],
    summary: 'List requests',
    tags,
    service: 'RequestService',
    rpc: 'ListRequests',
    refuses: [],
    querystring: listQuery,
    responses: { 200: arrayOf(requestSchema) },
    request: ({ query }) => ({
      targetUser: readTargetUser(query.targetuser),
      status: readOptional(requestStatus, query.status, 'status', 0),
    }),
    reply: pascalList('requests'),
  }),
  rpcRoute({
    method: 'PUT',
    paths: ['/requests/:id'],
    summary: 'Approve, deny, complete, cancel or abandon a request',
    tags,
    service: 'RequestService',
    rpc: 'UpdateRequestStatus',
    refuses: [403, 404, 409],
    params: requestParams,
    body: updateBody,
    responses: { 200: requestSchema },
    request: ({ params, body }) => ({
      uuid: read(guid, params.id, 'id'),
      status: read(requestStatus, body.status, 'status'),
      comment: (body.comment as string | undefined) ?? '',
    }),
    reply: pascal,
  }),
];

export default async function requests(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, requestRoutes);
}
