// GET /metrics (Prometheus text, no token): request counts and durations by method, route
// template and status, rate-limit refusals, plus the process defaults; in the embedded default,
// the core's own metrics follow (core/metrics.ts). Labels hold route templates, never values
// from a request, so no id, key or PIN reaches a metric.
import { Counter, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../../common/metrics.js';
import { sharedPlugin } from './define.js';
import './route-config.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

export interface MetricsOptions {
  /** Registries shown after the gateway's own: the in-process core's, in the embedded default. */
  include?: Registry[];
}

export default sharedPlugin<MetricsOptions>('metrics', async (fastify, options) => {
  const registry = new Registry();
  collectProcessMetrics(registry, 'cm_gateway_');
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
  const rateLimited = new Counter({
    name: 'cm_gateway_rate_limit_refusals_total',
    help: 'Requests refused with 429 because the caller exceeded its rate limit',
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
    if (reply.statusCode === 429) rateLimited.inc();
  });

  fastify.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    const texts = await Promise.all([registry, ...(options.include ?? [])].map((r) => r.metrics()));
    return texts.join('\n');
  });
});
