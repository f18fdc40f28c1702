// Graceful close: once close() has begun, new requests are refused with 503 and the error body
// while the ones in flight finish; every answer then says Connection: close, so that no
// keep-alive connection holds the close up. Fastify's own 503 of this case has another body, so
// the gateway turns it off (return503OnClosing: false) and answers here.
import { GatewayError } from '../errors.js';
import { sharedPlugin } from './define.js';

export default sharedPlugin(
  'drain',
  async (fastify) => {
    let closing = false;
    fastify.addHook('preClose', async () => {
      closing = true;
    });
    fastify.addHook('onRequest', (_request, _reply, done) => {
      done(closing ? new GatewayError('UNAVAILABLE', 'The service is shutting down; retry later.') : undefined);
    });
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (closing) reply.header('connection', 'close');
      done(null, payload);
    });
  },
  ['correlation-id'],
);
