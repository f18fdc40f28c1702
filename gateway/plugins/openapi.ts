// The OpenAPI document, generated from the route schemas, at /openapi.json, and a browsable
// page at /docs. Both are public. Must be registered before the routes it describes.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { completeOpenApiDocument, routeKey, type RouteFacts } from '../openapi-document.js';
import { sharedPlugin } from './define.js';
import './route-config.js';

export interface OpenApiOptions {
  /** The public base URL, listed as the server. */
  publicUrl: string;
}

export default sharedPlugin<OpenApiOptions>('openapi', async (fastify, options) => {
  // What the document needs beyond the schemas, gathered as the routes are added (this plugin is
  // registered before them).
  const routes = new Map<string, RouteFacts>();
  fastify.addHook('onRoute', (route) => {
    const config = route.config ?? {};
    for (const method of [route.method].flat()) {
      routes.set(routeKey(method, route.url), {
        operationId: config.operationId ?? '',
        public: config.public ?? false,
        mediaType: config.mediaType,
      });
    }
  });
  await fastify.register(swagger, {
    transformObject: (document) => ('openapiObject' in document ? completeOpenApiDocument(document.openapiObject, routes) : document.swaggerObject),
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Smart card management (MIM CM REST API v1.0)',
        description:
          'The smart card part of the Microsoft Identity Manager Certificate Management REST API. ' +
          'Paths, query parameter names and body property names are case-insensitive.',
        version: '1.0',
      },
      servers: [{ url: options.publicUrl }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await fastify.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), public: true };
    });
    await docs.register(swaggerUi, { routePrefix: '/docs' });
  });
  fastify.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => fastify.swagger());
});
