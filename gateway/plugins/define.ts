// Marks a plugin as shared with its parent (what fastify-plugin does, without the dependency):
// its hooks, decorators and handlers apply to the whole gateway. The name and dependencies are
// checked by Fastify when the plugin is registered.
import type { FastifyPluginAsync } from 'fastify';

export function sharedPlugin<Options extends object>(
  name: string,
  plugin: FastifyPluginAsync<Options>,
  dependencies: string[] = [],
): FastifyPluginAsync<Options> {
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name, dependencies, fastify: '5.x' },
  });
}
