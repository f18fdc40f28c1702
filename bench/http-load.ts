// HTTP scenarios, driven by autocannon. Latency is recorded per successful answer from
// autocannon's response events (sub-millisecond); throughput is successful answers per second
// of the measured window.
import autocannon, { type AutocannonRequest } from 'autocannon';
import { LatencyRecorder } from './latency.js';
import { ErrorSampler, type LoadResult } from './load-result.js';

export interface HttpLoad {
  url: string;
  connections: number;
  /** Either a duration (seconds) or a fixed number of requests. */
  durationSeconds?: number;
  amount?: number;
  headers?: Record<string, string>;
  /** Each connection cycles through these in order. */
  requests: AutocannonRequest[];
  /** Record latencies here (to merge several runs into one figure); a new recorder otherwise. */
  latency?: LatencyRecorder;
}

export function runHttpLoad(load: HttpLoad): Promise<LoadResult> {
  const latency = load.latency ?? new LatencyRecorder();
  const errors = new ErrorSampler();
  let ok = 0;
  let failed = 0;
  let lastAnswer = 0n;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const instance = autocannon(
      {
        url: load.url,
        // autocannon refuses more connections than requests.
        connections: load.amount !== undefined ? Math.max(1, Math.min(load.connections, load.amount)) : load.connections,
        pipelining: 1,
        timeout: 30,
        // autocannon notices the end (of the duration, or of `amount`) only at its next sample.
        sampleInt: 100,
        headers: load.headers,
        requests: load.requests,
        ...(load.amount !== undefined ? { amount: load.amount } : { duration: load.durationSeconds ?? 5 }),
      },
      (err) => {
        if (err) return reject(err);
        // The window ends with the last answer, not when autocannon noticed that it was over.
        const seconds = Number((lastAnswer || process.hrtime.bigint()) - started) / 1e9;
        resolve({
          ok,
          errors: failed,
          seconds,
          concurrency: load.amount !== undefined ? Math.max(1, Math.min(load.connections, load.amount)) : load.connections,
          latency: latency.summary(),
          histogram: latency.histogram(),
          errorSamples: errors.samples,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastAnswer = process.hrtime.bigint();
      if (status >= 200 && status < 300) {
        ok++;
        latency.record(ms);
      } else {
        failed++;
        errors.add(`HTTP ${status}`);
      }
    });
    instance.on('reqError', (err: Error) => {
      failed++;
      errors.add(err.message);
    });
  });
}
