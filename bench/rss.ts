// The resident memory of a server process, sampled from /proc/<pid>/status (Linux): VmRSS now,
// and the peak while a scenario runs. VmHWM, the kernel's own high-water mark, covers the whole
// life of the process, start-up and seeding included.

import { readFileSync } from 'node:fs';

export interface MemoryStatus {
  rssBytes: number;
  hwmBytes: number;
}

export function readMemoryStatus(pid: number): MemoryStatus | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const rssBytes = kb('VmRSS');
  const hwmBytes = kb('VmHWM');
  return Number.isNaN(rssBytes) ? undefined : { rssBytes, hwmBytes };
}

export class RssSampler {
  #timer: NodeJS.Timeout | undefined;
  #windowPeak = 0;
  #lastHwm = 0;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#sample();
    clearInterval(this.#timer);
  }

  /** Starts a new window: `windowPeakBytes` is then the peak since this call. */
  resetWindow(): void {
    this.#windowPeak = 0;
    this.#sample();
  }

  /** The highest VmRSS sampled since the last resetWindow(), or undefined when /proc is unavailable. */
  get windowPeakBytes(): number | undefined {
    this.#sample();
    return this.#windowPeak || undefined;
  }

  /** VmHWM as last read: the peak resident size over the process's whole life. */
  get lifetimePeakBytes(): number | undefined {
    return this.#lastHwm || undefined;
  }

  #sample(): void {
    const status = readMemoryStatus(this.pid);
    if (!status) return;
    this.#windowPeak = Math.max(this.#windowPeak, status.rssBytes);
    if (!Number.isNaN(status.hwmBytes)) this.#lastHwm = status.hwmBytes;
  }
}
