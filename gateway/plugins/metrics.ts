// GET /metrics (Prometheus text, no token): request counts and durations by method, route
// template and status, rate-limit refusals, plus the process defaults; in the embedded default,
// the core's own metrics follow (core/metrics.ts). Labels hold route templates, never values
// from a request, so no id, key or PIN reaches a metric.
import type { FastifyReply, onResponseHookHandler } from 'fastify';
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

  // One counter and histogram child per (method, route, status), made on first use: no label
  // object is built and checked per request.
  const series = new Map<string, { count: Counter.Internal; time: Histogram.Internal<(typeof labelNames)[number]> }>();
  const record = (method: string, route: string, reply: FastifyReply) => {
    const status = reply.statusCode;
    const key = `${status} ${method} ${route}`;
    let child = series.get(key);
    if (!child) {
      const labels = { method, route, status: String(status) };
      series.set(key, (child = { count: requests.labels(labels), time: durations.labels(labels) }));
    }
    child.count.inc();
    child.time.observe(reply.elapsedTime / 1000);
    if (status === 429) rateLimited.inc();
  };
  // Each route records under its own template, known when it is declared (reading
  // `request.routeOptions` per request would build an object every time); the global hook counts
  // only what matched no route.
  fastify.addHook('onRoute', (route) => {
    const url = route.url;
    const onResponse: onResponseHookHandler = (request, reply, done) => {
      record(request.method, url, reply);
      done();
    };
    route.onResponse = [...(route.onResponse === undefined ? [] : [route.onResponse].flat()), onResponse];
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    if (request.is404) record(request.method, 'unmatched', reply);
    done();
  });

  fastify.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    const texts = await Promise.all([registry, ...(options.include ?? [])].map((r) => r.metrics()));
    return texts.join('\n');
  });
});
