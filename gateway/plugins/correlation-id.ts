// SPEC 2: every response carries X-Correlation-Id, taken from the request header of that name
// when it is a sane token, else generated. Fastify uses it as the request id, so every log line
// of the request carries it too.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isCorrelationId } from '../../common/formats.js';
import { sharedPlugin } from './define.js';

export const CORRELATION_HEADER = 'x-correlation-id';

/** Fastify's `genReqId`. */
export function correlationIdOf(request: Pick<IncomingMessage, 'headers'>): string {
  const sent = request.headers[CORRELATION_HEADER];
  return isCorrelationId(sent) ? sent : randomUUID();
}

export default sharedPlugin('correlation-id', async (fastify) => {
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header(CORRELATION_HEADER, request.id);
  });
});
