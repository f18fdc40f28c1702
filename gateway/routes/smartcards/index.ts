// Smart card routes (SPEC 7): each the twin of one SmartcardService or CertificateService RPC.
import type { FastifyInstance } from 'fastify';
import { REQUEST_TYPE, SMARTCARD_STATUS, restName } from '../../conventions/enums.js';
import { atr, base64, bool, cardId, enumFormat, guid, read, readOptional } from '../../conventions/values.js';
import { bareValue, created, createdResponses, pascal, pascalList, registerRpcRoutes, rpcRoute, secretValue } from '../../rpc-route.js';
import { arrayOf, noContentSchema } from '../../schemas.js';
import { cardCertificateSchema } from '../certificates/schemas.js';
import {
  assignBody,
  authenticationResponseQuery,
  cardParams,
  diversifiedKeyQuery,
  findQuery,
  operationsSchema,
  pinQuery,
  requestCardParams,
  secretSchema,
  smartcardSchema,
  statusBody,
} from './schemas.js';

const tags = ['smartcards'];
const smartcardStatus = enumFormat(SMARTCARD_STATUS);

/**
 * GET serverproposedpin, on its two paths: the card alone (the core picks the caller's newest
 * Approved or Executing request bound to it; requestUuid empty) or a request's card.
 */
function serverProposedPinRoute(path: string, params: typeof cardParams | typeof requestCardParams) {
  return rpcRoute({
    method: 'GET',
    paths: [path],
    summary: 'Get the server-proposed user PIN',
    tags,
    service: 'SmartcardService',
    rpc: 'GetServerProposedPin',
    refuses: [403, 404, 409],
    params,
    querystring: pinQuery,
    responses: { 200: secretSchema, 204: noContentSchema },
    secret: true,
    request: ({ params: { reqid, scid, id }, query }) => ({
      requestUuid: readOptional(guid, reqid, 'reqid', ''),
      smartcardUuid: read(guid, scid ?? id, 'scid'),
      cardId: read(cardId, query.cardid, 'cardid'),
      atr: readOptional(atr, query.atr, 'atr', ''),
      challenge: read(base64, query.challenge, 'challenge'),
    }),
    reply: secretValue,
  });
}

export const smartcardRoutes = [
  rpcRoute({
    method: 'POST',
    paths: ['/smartcards'],
    summary: 'Bind a smart card to a request',
    tags,
    service: 'SmartcardService',
    rpc: 'AssignSmartcard',
    refuses: [403, 404, 409],
    body: assignBody,
    responses: createdResponses,
    request: ({ body }) => ({
      requestId: read(guid, body.requestid, 'requestid'),
      cardId: read(cardId, body.cardid, 'cardid'),
      atr: readOptional(atr, body.atr, 'atr', ''),
    }),
    reply: created('smartcards'),
  }),
  rpcRoute({
    method: 'PUT',
    paths: ['/requests/:reqid/smartcards/:scid'],
    summary: "Set the status of a request's smart card",
    tags,
    service: 'SmartcardService',
    rpc: 'UpdateSmartcardStatus',
    refuses: [403, 404, 409],
    params: requestCardParams,
    body: statusBody,
    responses: { 200: smartcardSchema },
    request: ({ params, body }) => ({
      requestUuid: read(guid, params.reqid, 'reqid'),
      smartcardUuid: read(guid, params.scid, 'scid'),
      status: read(smartcardStatus, body.status, 'status'),
    }),
    reply: pascal,
  }),
  serverProposedPinRoute('/smartcards/:id/serverproposedpin', cardParams),
  serverProposedPinRoute('/requests/:reqid/smartcards/:scid/serverproposedpin', requestCardParams),
  rpcRoute({
    method: 'GET',
    paths: ['/requests/:reqid/smartcards/:scid/authenticationresponse'],
    summary: "Answer the card's challenge with its admin key",
    tags,
    service: 'SmartcardService',
    rpc: 'GetAuthenticationResponse',
    refuses: [403, 404, 409],
    params: requestCardParams,
    querystring: authenticationResponseQuery,
    responses: { 200: secretSchema },
    secret: true,
    request: ({ params, query }) => ({
      requestUuid: read(guid, params.reqid, 'reqid'),
      smartcardUuid: read(guid, params.scid, 'scid'),
      cardId: read(cardId, query.cardid, 'cardid'),
      challenge: read(base64, query.challenge, 'challenge'),
      diversified: read(bool, query.diversified, 'diversified'),
      atr: readOptional(atr, query.atr, 'atr', ''),
    }),
    reply: bareValue,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/requests/:reqid/smartcards/:scid/diversifiedkey'],
    summary: "Get the card's diversified admin key",
    tags,
    service: 'SmartcardService',
    rpc: 'GetDiversifiedKey',
    refuses: [403, 404, 409],
    params: requestCardParams,
    querystring: diversifiedKeyQuery,
    responses: { 200: secretSchema },
    secret: true,
    request: ({ params, query }) => ({
      requestUuid: read(guid, params.reqid, 'reqid'),
      smartcardUuid: read(guid, params.scid, 'scid'),
      cardId: read(cardId, query.cardid, 'cardid'),
      atr: readOptional(atr, query.atr, 'atr', ''),
    }),
    reply: bareValue,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/smartcards/:id'],
    summary: 'Get a smart card',
    tags,
    service: 'SmartcardService',
    rpc: 'GetSmartcard',
    refuses: [404],
    params: cardParams,
    responses: { 200: smartcardSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: pascal,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/smartcards'],
    summary: 'Find the newest smart card record with a card id',
    tags,
    service: 'SmartcardService',
    rpc: 'FindSmartcard',
    refuses: [404],
    querystring: findQuery,
    responses: { 200: smartcardSchema },
    request: ({ query }) => ({ cardId: read(cardId, query.cardid, 'cardid') }),
    reply: pascal,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/smartcards/:id/operations'],
    summary: 'List the request types the caller could initiate now for a card',
    tags,
    service: 'SmartcardService',
    rpc: 'ListSmartcardOperations',
    refuses: [404],
    params: cardParams,
    responses: { 200: operationsSchema },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: (answer) => ({
      status: 200,
      body: answer.operations.map((type) => restName(REQUEST_TYPE, type).toLowerCase()),
    }),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/smartcards/:id/certificates'],
    summary: 'List the certificates on a card',
    tags,
    service: 'CertificateService',
    rpc: 'ListSmartcardCertificates',
    refuses: [404],
    params: cardParams,
    responses: { 200: arrayOf(cardCertificateSchema) },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: pascalList('certificates'),
  }),
];

export default async function smartcards(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, smartcardRoutes);
}
