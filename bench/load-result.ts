// What every scenario yields, whatever drove it (autocannon, the gRPC driver, a local loop).
import type { LatencySummary } from './latency.js';

export interface LoadResult {
  /** Successful operations (2xx answers, gRPC OK, stream items answered with a response). */
  ok: number;
  /** Everything else: non-2xx, transport errors, timeouts, per-item errors. */
  errors: number;
  /** Wall-clock seconds of the measured window. */
  seconds: number;
  /** Requests (or items) in flight. */
  concurrency: number;
  latency: LatencySummary;
  histogram: number[];
  /** A few distinct error descriptions, for diagnosis. */
  errorSamples: string[];
}

export function perSecond(r: LoadResult): number {
  return r.seconds > 0 ? r.ok / r.seconds : 0;
}

export class ErrorSampler {
  readonly samples: string[] = [];
  add(description: string): void {
    if (this.samples.length < 5 && !this.samples.includes(description)) this.samples.push(description);
  }
}
