// The core's own Prometheus metrics (SPEC 11): per gRPC method count, latency and status code;
// the worker pool's queue, utilisation and task time; database transaction time, group-commit
// size and errors, on either store (PostgreSQL: one unit per transaction, plus its serialization
// retries); audit rows written; refusals by code, rate-limit refusals among them. A core run on its own serves them on CM_METRICS_HOST:CM_METRICS_PORT; the embedded default shows
// them on the gateway's /metrics. Labels are method names and codes, never request values.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/metrics.js';
import { ListenError } from '../common/listen-error.js';
import type { CryptoPool } from './crypto/pool.js';
import type { StoreObserver } from './storage/repository.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class CoreMetrics {
  readonly registry = new Registry();
  readonly #rpcs = new Counter({
    name: 'cm_core_grpc_requests_total',
    help: 'gRPC calls answered by the core, by service, method and status code',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [this.registry],
  });
  readonly #rpcSeconds = new Histogram({
    name: 'cm_core_grpc_request_duration_seconds',
    help: 'Time the core took to answer gRPC calls (a stream: its whole life), by service, method and status code',
    labelNames: ['service', 'method', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #refusals = new Counter({
    name: 'cm_core_refusals_total',
    help: 'Calls (and batch items) refused, by the stable error code of SPEC 9',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /** Refusals by a rate limit: counted here from the RATE_LIMITED code whichever limiter raised it. */
  readonly #rateLimited = new Counter({
    name: 'cm_core_rate_limit_refusals_total',
    help: 'Calls refused because the caller exceeded its rate limit',
    registers: [this.registry],
  });
  readonly #poolTaskSeconds = new Histogram({
    name: 'cm_core_pool_task_duration_seconds',
    help: 'Time from sending a task (a batch of crypto jobs of one kind) to the pool to its answer, by kind',
    labelNames: ['kind'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #poolJobs = new Counter({
    name: 'cm_core_pool_jobs_total',
    help: 'Crypto jobs run by the pool, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #transactionSeconds = new Histogram({
    name: 'cm_core_db_transaction_duration_seconds',
    help: 'Time of a database transaction (one group commit), from BEGIN to COMMIT',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #groupCommitUnits = new Histogram({
    name: 'cm_core_db_group_commit_units',
    help: 'Units of work (calls) committed together in one database transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly #dbErrors = new Counter({
    name: 'cm_core_db_transaction_errors_total',
    help: 'Database transactions that failed as a whole (nothing of them kept)',
    registers: [this.registry],
  });
  readonly #dbRetries = new Counter({
    name: 'cm_core_db_transaction_retries_total',
    help: 'Database transactions run again after a serialization conflict or a deadlock (PostgreSQL)',
    registers: [this.registry],
  });
  readonly #auditRows = new Counter({
    name: 'cm_core_audit_rows_total',
    help: 'Audit rows committed',
    registers: [this.registry],
  });

  constructor() {
    collectProcessMetrics(this.registry, 'cm_core_');
  }

  /** One answered call: `code` is the gRPC status name, `refusal` the SPEC code when refused. */
  rpcDone(fullMethod: string, code: string, seconds: number, refusal?: string): void {
    const [service = '', method = ''] = fullMethod.split('/');
    this.#rpcs.inc({ service, method, code });
    this.#rpcSeconds.observe({ service, method, code }, seconds);
    if (refusal) this.refused(refusal);
  }

  refused(code: string): void {
    this.#refusals.inc({ code });
    if (code === 'RATE_LIMITED') this.#rateLimited.inc();
  }

  poolTaskDone(kind: string, seconds: number, jobs: number): void {
    this.#poolTaskSeconds.observe({ kind }, seconds);
    this.#poolJobs.inc({ kind }, jobs);
  }

  /** Gauges read from the pool when scraped. */
  watchPool(pool: CryptoPool, threads: number): void {
    new Gauge({ name: 'cm_core_pool_queue_length', help: 'Crypto tasks waiting for a pool thread', registers: [this.registry], collect() { this.set(pool.queuedTasks); } });
    new Gauge({ name: 'cm_core_pool_utilization_ratio', help: 'Share of the pool threads\' time spent running tasks since start (0 to 1)', registers: [this.registry], collect() { this.set(pool.utilization); } });
    new Gauge({ name: 'cm_core_pool_threads', help: 'Crypto pool threads (0: inline mode)', registers: [this.registry] }).set(pool.mode === 'pool' ? threads : 0);
  }

  readonly store: StoreObserver = {
    committed: (units, seconds, auditRows) => {
      this.#transactionSeconds.observe(seconds);
      this.#groupCommitUnits.observe(units);
      if (auditRows) this.#auditRows.inc(auditRows);
    },
    failed: () => this.#dbErrors.inc(),
    retried: () => this.#dbRetries.inc(),
  };
}

/** A core run on its own: /metrics on CM_METRICS_HOST:CM_METRICS_PORT, no token (like the gateway's). */
export async function serveMetrics(metrics: CoreMetrics, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('CM_METRICS_HOST/CM_METRICS_PORT', `${host}:${port}`, err)));
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
