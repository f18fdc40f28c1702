// A gateway plugin shared with its parent: its hooks, decorators and handlers apply to the whole
// gateway. fastify-plugin sets the metadata (skip-override, display name, name, dependencies,
// Fastify version) that Fastify checks on registration; this keeps one call shape for the
// gateway's plugins (name first, dependencies last).
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

export function sharedPlugin<Options extends object>(
  name: string,
  plugin: FastifyPluginAsync<Options>,
  dependencies: string[] = [],
): FastifyPluginAsync<Options> {
  return fp(plugin, { name, dependencies, fastify: '5.x' });
}
