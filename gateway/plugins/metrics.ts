// GET /metrics (Prometheus text, no token): request counts and durations by method, route
// template and status, plus the process defaults. Labels hold route templates, never values
// from a request, so no id, key or PIN reaches a metric.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sharedPlugin } from './define.js';
import './route-config.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

export default sharedPlugin('metrics', async (fastify) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cm_gateway_' });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'cm_gateway_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'cm_gateway_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route template and status',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  fastify.decorate('metrics', registry);

  fastify.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'),
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    durations.observe(labels, reply.elapsedTime / 1000);
  });

  fastify.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
});
