// The core client as `fastify.core`. A client the gateway created is closed when the gateway
// closes (after the requests in flight have been answered); one handed in is the caller's.
import type { CoreClient } from '../core-client.js';
import { sharedPlugin } from './define.js';

declare module 'fastify' {
  interface FastifyInstance {
    core: CoreClient;
  }
}

export interface CorePluginOptions {
  client: CoreClient;
  /** Close the client with the gateway. */
  owned: boolean;
}

export default sharedPlugin<CorePluginOptions>('core', async (fastify, options) => {
  fastify.decorate('core', options.client);
  if (options.owned) fastify.addHook('onClose', async () => options.client.close());
});
