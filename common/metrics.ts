// Node.js process metrics for a registry, as prom-client collects them, less the three gauges
// it names with a `_total` suffix (active handles, requests, resources), which break the
// Prometheus naming rules that `promtool check metrics` enforces (`_total` is for counters).
import { collectDefaultMetrics, type Registry } from 'prom-client';

const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of MISNAMED) registry.removeSingleMetric(`${prefix}${name}`);
}
