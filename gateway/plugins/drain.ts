// Graceful close: once close() has begun, new requests are refused with 503 and the error body
// (Connection: close) while the ones in flight finish. Fastify's own 503 of this case has
// another body, so the gateway turns it off (return503OnClosing: false) and answers here.
import { GatewayError } from '../errors.js';
import { sharedPlugin } from './define.js';

export default sharedPlugin(
  'drain',
  async (fastify) => {
    let closing = false;
    fastify.addHook('preClose', async () => {
      closing = true;
    });
    fastify.addHook('onRequest', async (request, reply) => {
      if (!closing) return;
      reply.header('connection', 'close');
      throw new GatewayError('UNAVAILABLE', 'The service is shutting down; retry later.');
    });
  },
  ['correlation-id'],
);
