// GET /healthz (the gateway is alive) and GET /readyz (the core answers its standard health
// check as SERVING, on the gateway's channel). No token.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { errorResponses } from '../../schemas.js';

const statusSchema = { type: 'object', properties: { Status: { type: 'string' } } } as const;

export default async function health(fastify: FastifyInstance): Promise<void> {
  fastify.get(
    '/healthz',
    // 503 only while the gateway shuts down (plugins/drain.ts).
    { schema: { summary: 'The gateway is alive', tags: ['health'], response: { 200: statusSchema, ...errorResponses([503]) } }, config: { public: true, operationId: 'GetLiveness' } },
    async () => ({ Status: 'Alive' }),
  );
  fastify.get(
    '/readyz',
    {
      schema: { summary: 'The core service is reachable and serving', tags: ['health'], response: { 200: statusSchema, ...errorResponses([500, 503]) } },
      config: { public: true, operationId: 'GetReadiness' },
    },
    async (request) => {
      let status: string;
      try {
        status = await fastify.core.checkHealth({ correlationId: request.id });
      } catch (error) {
        request.log.warn({ err: error }, 'core health check failed');
        throw new GatewayError('UNAVAILABLE', 'The core service cannot be reached.');
      }
      if (status !== 'SERVING') throw new GatewayError('UNAVAILABLE', `The core service is not ready (${status}).`);
      return { Status: 'Ready' };
    },
  );
}
