// GET /audit (administrators, an extension): the twin of AuditService.ListAuditRecords.
import type { FastifyInstance } from 'fastify';
import { guid, readOptional } from '../../conventions/values.js';
import { pascalList, registerRpcRoutes, rpcRoute } from '../../rpc-route.js';
import { arrayOf } from '../../schemas.js';
import { auditQuery, auditRecordSchema } from './schemas.js';

export const auditRoutes = [
  rpcRoute({
    method: 'GET',
    paths: ['/audit'],
    summary: 'List audit records, newest first (administrators)',
    tags: ['audit'],
    service: 'AuditService',
    rpc: 'ListAuditRecords',
    refuses: [403],
    querystring: auditQuery,
    responses: { 200: arrayOf(auditRecordSchema) },
    request: ({ query }) => ({
      requestUuid: readOptional(guid, query.requestid, 'requestid', ''),
      smartcardUuid: readOptional(guid, query.smartcardid, 'smartcardid', ''),
      limit: (query.limit as number | undefined) ?? 0,
    }),
    reply: pascalList('records'),
  }),
];

export default async function audit(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, auditRoutes);
}
