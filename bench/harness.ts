// The harness the scenarios run in: starting and stopping the server processes, the warm-up and
// the measured window of each scenario (throughput, latency, the server's peak RSS, the CPU other
// processes took meanwhile), and the rows measured so far.
import { join } from 'node:path';
import { Api, PEOPLE, mintToken } from './api.js';
import { cpuSnapshot, cpuWindow, otherCpuCores, type WindowCpu } from './cpu-noise.js';
import type { BenchEnvironment } from './environment.js';
import { runHttpLoad, type HttpLoad } from './http-load.js';
import { LatencyRecorder } from './latency.js';
import { perSecond, type LoadResult } from './load-result.js';
import type { Options } from './options.js';
import { siblingScript, startChild, type RunningChild } from './processes.js';
import { ROW_ORDER, type Measurement, type ProcessMemory, type RowId } from './report.js';
import type { HttpTarget } from './scenarios.js';

const startedAt = Date.now();

export function progress(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}

function describeRate(r: LoadResult): string {
  return `${Math.round(perSecond(r)).toLocaleString('en-US')}/s, p99 ${r.latency.p99.toFixed(2)} ms${r.errors ? `, ${r.errors} errors (${r.errorSamples.join('; ')})` : ''}`;
}

export class Bench {
  readonly rows = new Map<RowId, Measurement>();
  /** The baselines measured again at the end of the run. */
  readonly endRows = new Map<RowId, Measurement>();
  /** Where record() puts what it measures. */
  phase: 'start' | 'end' = 'start';
  readonly memory: ProcessMemory[] = [];
  private childCount = 0;

  constructor(
    readonly options: Options,
    readonly env: BenchEnvironment,
  ) {}

  get profile() {
    return this.options.profile;
  }

  /** Whether any of these rows is to be measured (all are, unless --only says otherwise). */
  wants(...ids: RowId[]): boolean {
    return !this.options.only || ids.some((id) => this.options.only!.has(id));
  }

  /** Starts a child, runs `work` with it, stops it whatever happens. */
  async withChild<T>(name: string, script: string, args: string[], env: Record<string, string | undefined>, work: (child: RunningChild) => Promise<T>): Promise<T> {
    const label = `${String(++this.childCount).padStart(2, '0')}-${name}`;
    // One folder per child: worker threads write profiles of their own next to the main thread's.
    const nodeFlags = this.options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(this.options.cpuProfileDir, label)}`] : [];
    const child = await startChild(name, script, { env, args, logFile: this.env.logFile(name), nodeFlags });
    let endUsage: NodeJS.MemoryUsage | undefined;
    try {
      const result = await work(child);
      endUsage = await child.memoryUsage();
      if (this.options.heapSnapshotDir) await child.writeHeapSnapshot(join(this.options.heapSnapshotDir, `${label}.heapsnapshot`));
      return result;
    } finally {
      await child.stop();
      this.memory.push({ name, startBytes: child.startRssBytes, peakBytes: child.rss.lifetimePeakBytes, endUsage });
    }
  }

  /** `extraEnv`: more service variables (the token's; a database of its own). */
  withService<T>(
    name: string,
    crypto: 'pool' | 'inline',
    work: (child: RunningChild, api: { admin: Api; agent: Api }) => Promise<T>,
    extraEnv: Record<string, string> = {},
  ): Promise<T> {
    progress(`starting ${name} (crypto ${crypto})`);
    return this.withChild(name, siblingScript('service'), [], this.env.serviceEnv({ CM_CRYPTO_MODE: crypto, ...extraEnv }), async (child) => {
      const url = `http://127.0.0.1:${child.ports.http}`;
      return work(child, { admin: new Api(url, await this.token('admin')), agent: new Api(url, await this.token('agent')) });
    });
  }

  token(who: keyof typeof PEOPLE): Promise<string> {
    return mintToken(PEOPLE[who], this.env.jwtSecret);
  }

  async httpTarget(child: RunningChild, who: keyof typeof PEOPLE = 'agent'): Promise<HttpTarget> {
    return { url: `http://127.0.0.1:${child.ports.http}`, token: await this.token(who), connections: this.profile.connections };
  }

  /** A warm-up, then the measured window, with the child's peak RSS during it. */
  async timed(id: RowId, child: RunningChild, run: (seconds: number) => Promise<LoadResult>): Promise<void> {
    if (!this.wants(id)) return;
    if (this.profile.warmupSeconds > 0) await run(this.profile.warmupSeconds);
    child.rss.resetWindow();
    const cpu = cpuWindow(serverPids(child));
    const result = await run(this.profile.seconds);
    this.record(id, result, child.rss.windowPeakBytes, cpu());
  }

  /** A row measured in the bench process itself (no server to sample): only other processes' CPU is noted. */
  async local(id: RowId, measure: () => Promise<LoadResult>): Promise<void> {
    if (!this.wants(id)) return;
    const before = cpuSnapshot([process.pid]);
    const result = await measure();
    this.record(id, result, undefined, { otherCores: otherCpuCores(before, cpuSnapshot([process.pid])) });
  }

  async timedHttp(id: RowId, child: RunningChild, load: Omit<HttpLoad, 'durationSeconds' | 'amount'>): Promise<void> {
    if (!this.wants(id)) return;
    progress(`${id}: ${this.profile.warmupSeconds} s warm-up, ${this.profile.seconds} s measured`);
    await this.timed(id, child, (seconds) => runHttpLoad({ ...load, durationSeconds: seconds }));
  }

  /**
   * Two variants of one scenario measured in turns (A, B, A, B, ...) against two live servers,
   * so that a change of the machine's speed during the run hits both alike: for comparisons
   * within a few percent, such as issue 3's pool against inline.
   */
  async interleaved(variants: { id: RowId; child: RunningChild; load: Omit<HttpLoad, 'durationSeconds' | 'amount'> }[]): Promise<void> {
    const wanted = variants.filter((v) => this.wants(v.id));
    if (wanted.length === 0) return;
    const rounds = this.profile.interleavedRounds;
    const slice = this.profile.seconds / rounds;
    progress(`${wanted.map((v) => v.id).join(' and ')}: ${this.profile.warmupSeconds} s warm-up each, then ${rounds} turns of ${slice} s each`);
    for (const v of wanted) if (this.profile.warmupSeconds > 0) await runHttpLoad({ ...v.load, durationSeconds: this.profile.warmupSeconds });
    const totals = wanted.map(() => ({ ok: 0, errors: 0, seconds: 0, otherCpuSeconds: 0, serverCpuSeconds: 0, peak: 0, latency: new LatencyRecorder(), errorSamples: new Set<string>() }));
    for (let round = 0; round < rounds; round++) {
      for (const [i, v] of wanted.entries()) {
        const t = totals[i]!;
        v.child.rss.resetWindow();
        const window = cpuWindow(serverPids(v.child));
        const r = await runHttpLoad({ ...v.load, durationSeconds: slice, latency: t.latency });
        const cpu = window();
        t.otherCpuSeconds += (cpu.otherCores ?? 0) * r.seconds;
        t.serverCpuSeconds += cpu.serverSeconds ?? 0;
        t.ok += r.ok;
        t.errors += r.errors;
        t.seconds += r.seconds;
        t.peak = Math.max(t.peak, v.child.rss.windowPeakBytes ?? 0);
        r.errorSamples.forEach((e) => t.errorSamples.add(e));
      }
    }
    for (const [i, v] of wanted.entries()) {
      const t = totals[i]!;
      const result: LoadResult = {
        ok: t.ok,
        errors: t.errors,
        seconds: t.seconds,
        concurrency: v.load.connections,
        latency: t.latency.summary(),
        histogram: t.latency.histogram(),
        errorSamples: [...t.errorSamples].slice(0, 5),
      };
      this.record(v.id, result, t.peak || undefined, { otherCores: t.seconds > 0 ? t.otherCpuSeconds / t.seconds : undefined, serverSeconds: t.serverCpuSeconds });
    }
  }

  /** For scenarios that use up what they act on: a fixed number of operations, after a warm-up that uses its own. */
  async counted(id: RowId, child: RunningChild, warmup: HttpLoad, measured: HttpLoad): Promise<void> {
    if (!this.wants(id)) return;
    progress(`${id}: ${warmup.amount} warm-up operations, ${measured.amount} measured`);
    if ((warmup.amount ?? 0) > 0) await runHttpLoad(warmup);
    child.rss.resetWindow();
    const cpu = cpuWindow(serverPids(child));
    const result = await runHttpLoad(measured);
    this.record(id, result, child.rss.windowPeakBytes, cpu());
  }

  record(id: RowId, result: LoadResult, peakRssBytes?: number, cpu: WindowCpu = {}): void {
    const otherCpu = cpu.otherCores;
    (this.phase === 'start' ? this.rows : this.endRows).set(id, { result, peakRssBytes, otherCpu, serverCpuSeconds: cpu.serverSeconds });
    progress(`${id}${this.phase === 'end' ? ' (again)' : ''}: ${describeRate(result)}${otherCpu === undefined ? '' : `, other processes ${(otherCpu * 100).toFixed(0)}% CPU`}`);
  }
}

const serverPids = (child: RunningChild) => [child.pid, ...(child.alsoPids ?? [])];

/** Splits a list into its first `warmup` items, for the warm-up, and the measured rest. */
export function splitWarmup<T>(items: readonly T[], warmup: number): [T[], T[]] {
  return [items.slice(0, warmup), items.slice(warmup)];
}

/** Rows that were to be measured but have no clean result: none, no success, or over 1% errors. */
export function failedRows(bench: Bench): string[] {
  const rows = bench.rows;
  return ROW_ORDER.filter((id) => bench.wants(id)).filter((id) => {
    const m = rows.get(id);
    if (!m) return true;
    return m.result.ok === 0 || m.result.errors > 0.01 * (m.result.ok + m.result.errors);
  });
}
