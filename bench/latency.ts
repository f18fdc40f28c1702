// Latency samples of one scenario, in milliseconds with sub-millisecond resolution (autocannon's
// own histogram keeps whole milliseconds, too coarse for a hello-world route), and the
// histogram printed for them.

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Upper bounds (ms) of the histogram's buckets; the last bucket is everything above. */
export const HISTOGRAM_BOUNDS_MS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256];

export class LatencyRecorder {
  #values = new Float64Array(1 << 16);
  #count = 0;

  record(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  get count(): number {
    return this.#count;
  }

  summary(): LatencySummary {
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN);
    let sum = 0;
    for (const v of sorted) sum += v;
    return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.length ? sorted[sorted.length - 1]! : NaN, mean: sum / sorted.length };
  }

  /** Share of samples per bucket of HISTOGRAM_BOUNDS_MS (plus one for the rest). */
  histogram(): number[] {
    const counts = new Array<number>(HISTOGRAM_BOUNDS_MS.length + 1).fill(0);
    for (let i = 0; i < this.#count; i++) {
      const v = this.#values[i]!;
      let b = HISTOGRAM_BOUNDS_MS.findIndex((bound) => v <= bound);
      if (b < 0) b = HISTOGRAM_BOUNDS_MS.length;
      counts[b]!++;
    }
    return counts.map((c) => (this.#count ? c / this.#count : 0));
  }
}

/** One line of text: the share of samples in each non-empty bucket, e.g. "<=1ms 12% | <=2ms 80% | ...". */
export function formatHistogram(shares: number[]): string {
  const parts: string[] = [];
  shares.forEach((share, i) => {
    if (share < 0.0005) return;
    const label = i < HISTOGRAM_BOUNDS_MS.length ? `<=${HISTOGRAM_BOUNDS_MS[i]}ms` : `>${HISTOGRAM_BOUNDS_MS.at(-1)}ms`;
    parts.push(`${label} ${(share * 100).toFixed(share < 0.01 ? 1 : 0)}%`);
  });
  return parts.join(' | ');
}
