// `npm run bench`: measures the baselines, seeds its own data, runs every scenario against the
// service in a child process, and prints one table with the targets of issue 5 evaluated on it.
// `--smoke` runs the same thing tiny, in seconds (test/bench-smoke.test.ts). See bench/README.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Api, PEOPLE, benchTemplate, bindCards, createRequests, mintToken, newChallenge, type BoundCard } from './api.js';
import { cpuSnapshot, otherCpuCores } from './cpu-noise.js';
import { certificateRequest, generateCsrKeys } from './csr.js';
import { prepareEnvironment, type BenchEnvironment } from './environment.js';
import { insertFillerCards, type FillerOptions } from './filler.js';
import { runUnaryLoad } from './grpc-load.js';
import { runHttpLoad, type HttpLoad } from './http-load.js';
import { LatencyRecorder } from './latency.js';
import { perSecond, type LoadResult } from './load-result.js';
import { noopClient } from './noop-proto.js';
import { HelpRequested, parseOptions, USAGE, type Options } from './options.js';
import { siblingScript, startChild, type RunningChild } from './processes.js';
import { measureRawSignatures } from './raw-sign.js';
import { evaluateTargets, formatDrift, formatHistograms, formatTable, formatTargets, ROW_ORDER, rowLabels, type Measurement, type RowId } from './report.js';
import {
  authenticationResponseLoad,
  bindCardLoad,
  certificateDataLoad,
  grpcStreamAuthentication,
  grpcUnaryAuthentication,
  readCardLoad,
  serverProposedPinLoad,
  smartcardClient,
  type HttpTarget,
} from './scenarios.js';

const startedAt = Date.now();

function progress(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}

function describeRate(r: LoadResult): string {
  return `${Math.round(perSecond(r)).toLocaleString('en-US')}/s, p99 ${r.latency.p99.toFixed(2)} ms${r.errors ? `, ${r.errors} errors (${r.errorSamples.join('; ')})` : ''}`;
}

class Bench {
  readonly rows = new Map<RowId, Measurement>();
  /** The baselines measured again at the end of the run. */
  readonly endRows = new Map<RowId, Measurement>();
  /** Where record() puts what it measures. */
  phase: 'start' | 'end' = 'start';
  readonly memory: { name: string; startBytes?: number; peakBytes?: number; endUsage?: NodeJS.MemoryUsage }[] = [];
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

  withService<T>(name: string, crypto: 'pool' | 'inline', work: (child: RunningChild, api: { admin: Api; agent: Api }) => Promise<T>): Promise<T> {
    progress(`starting ${name} (crypto ${crypto})`);
    return this.withChild(name, siblingScript('service'), [], this.env.serviceEnv({ BENCH_CRYPTO_MODE: crypto }), async (child) => {
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
    const before = cpuSnapshot([process.pid, child.pid]);
    const result = await run(this.profile.seconds);
    this.record(id, result, child.rss.windowPeakBytes, otherCpuCores(before, cpuSnapshot([process.pid, child.pid])));
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
    const totals = wanted.map(() => ({ ok: 0, errors: 0, seconds: 0, otherCpuSeconds: 0, peak: 0, latency: new LatencyRecorder(), errorSamples: new Set<string>() }));
    for (let round = 0; round < rounds; round++) {
      for (const [i, v] of wanted.entries()) {
        const t = totals[i]!;
        v.child.rss.resetWindow();
        const before = cpuSnapshot([process.pid, v.child.pid]);
        const r = await runHttpLoad({ ...v.load, durationSeconds: slice, latency: t.latency });
        t.otherCpuSeconds += (otherCpuCores(before, cpuSnapshot([process.pid, v.child.pid])) ?? 0) * r.seconds;
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
      this.record(v.id, result, t.peak || undefined, t.seconds > 0 ? t.otherCpuSeconds / t.seconds : undefined);
    }
  }

  /** For scenarios that use up what they act on: a fixed number of operations, after a warm-up that uses its own. */
  async counted(id: RowId, child: RunningChild, warmup: HttpLoad, measured: HttpLoad): Promise<void> {
    if (!this.wants(id)) return;
    progress(`${id}: ${warmup.amount} warm-up operations, ${measured.amount} measured`);
    if ((warmup.amount ?? 0) > 0) await runHttpLoad(warmup);
    child.rss.resetWindow();
    const before = cpuSnapshot([process.pid, child.pid]);
    const result = await runHttpLoad(measured);
    this.record(id, result, child.rss.windowPeakBytes, otherCpuCores(before, cpuSnapshot([process.pid, child.pid])));
  }

  record(id: RowId, result: LoadResult, peakRssBytes?: number, otherCpu?: number): void {
    (this.phase === 'start' ? this.rows : this.endRows).set(id, { result, peakRssBytes, otherCpu });
    progress(`${id}${this.phase === 'end' ? ' (again)' : ''}: ${describeRate(result)}${otherCpu === undefined ? '' : `, other processes ${(otherCpu * 100).toFixed(0)}% CPU`}`);
  }
}

/** Splits a list into a warm-up part (a tenth, at least one) and the measured rest. */
function splitWarmup<T>(items: readonly T[], warmup: number): [T[], T[]] {
  return [items.slice(0, warmup), items.slice(warmup)];
}

/** The baselines, on the same machine, in child processes like the service. */
async function measureBaselines(bench: Bench, includeDirectGrpc = true): Promise<void> {
  const p = bench.profile;
  const baseline = siblingScript('baseline-server');
  if (bench.wants('hello')) {
    await bench.withChild('baseline-hello', baseline, ['hello'], bench.env.serviceEnv(), async (child) => {
      await bench.timedHttp('hello', child, { url: `http://127.0.0.1:${child.ports.http}`, connections: p.connections, requests: [{ method: 'GET', path: '/hello' }] });
    });
  }
  if (!bench.wants('noop', 'grpcNoop')) return;
  await bench.withChild('baseline-noop', baseline, ['noop'], bench.env.serviceEnv(), async (child) => {
    await bench.timedHttp('noop', child, { url: `http://127.0.0.1:${child.ports.http}`, connections: p.connections, requests: [{ method: 'GET', path: '/noop' }] });
    if (!includeDirectGrpc) return;
    const client = noopClient(`127.0.0.1:${child.ports.grpc}`);
    try {
      progress(`grpcNoop: ${p.warmupSeconds} s warm-up, ${p.seconds} s measured`);
      await bench.timed('grpcNoop', child, (seconds) =>
        runUnaryLoad({
          call: (request, metadata, callback) => client.Ping(request, metadata, callback),
          request: () => ({}),
          metadata: new grpc.Metadata(),
          concurrency: p.connections,
          durationSeconds: seconds,
        }),
      );
    } finally {
      client.close();
    }
  });
}

async function runAll(bench: Bench): Promise<void> {
  const p = bench.profile;
  const env = bench.env;

  // Raw signatures first, on an idle machine: the yardstick of certificate issuance.
  if (bench.wants('sign1', 'sign2')) {
    progress('raw RSA-2048 signatures with the CA key');
    for (const [id, threads] of [['sign1', 1], ['sign2', 2]] as const) {
      const before = cpuSnapshot([process.pid]);
      const result = await measureRawSignatures(env.caKeyPem, threads, p.rawSignSeconds);
      bench.record(id, result, undefined, otherCpuCores(before, cpuSnapshot([process.pid])));
    }
  }

  await measureBaselines(bench);

  // CSRs for certificatedata, made before the service runs (RSA key generation is slow).
  const certWarmup = Math.max(1, Math.ceil(p.certificates / 10));
  if (bench.wants('cert')) progress(`making ${p.certificates + certWarmup} PKCS#10 requests from ${p.csrKeys} RSA-2048 key pairs`);
  const csrKeys = bench.wants('cert') ? await generateCsrKeys(p.csrKeys) : [];
  const csrs = Array.from({ length: csrKeys.length ? p.certificates + certWarmup : 0 }, (_, i) => certificateRequest(csrKeys[i % csrKeys.length]!, `Bench card ${i}`));

  const challenge = newChallenge();
  let templates = { responses: '', pin: '' };
  let openCards: BoundCard[] = [];

  // The first start makes the schema; the templates and the requests the challenge-response
  // scenarios use are created through the API.
  await bench.withService('service-setup', 'pool', async (_child, api) => {
    progress(`seeding: 2 templates, ${p.openRequests} open requests with bound cards`);
    templates = {
      responses: await api.admin.create('/profiletemplates', benchTemplate('Bench: 3DES, diversified admin keys', 'ServerDistributed')),
      pin: await api.admin.create('/profiletemplates', benchTemplate('Bench: 3DES, randomized server PINs', 'Randomized')),
    };
    openCards = await bindCards(api.agent, await createRequests(api.agent, templates.responses, p.openRequests));
  });

  const filler = { templateUuid: templates.responses, templateVersion: 1, agentUuid: PEOPLE.agent.sub, keyVersion: 1 };
  progress(`inserting ${p.smallCards.toLocaleString('en-US')} finished enrolments into SQLite`);
  const smallSample = await insertFillerCards(env.databasePath, p.smallCards, { ...filler, sampleSize: p.readSample });

  const bindWarmup = Math.max(1, Math.ceil(p.binds / 10));
  let bindRequestsForLarge: string[] = [];
  await bench.withService('service-pool', 'pool', async (child, api) => {
    const target = await bench.httpTarget(child);
    // Issue 3: the same route with the crypto handlers inline, on the main thread, in a second
    // service on the same database, measured in turns with the pool service.
    if (bench.wants('auth', 'authInline')) {
      await bench.withService('service-inline', 'inline', async (inline) => {
        await bench.interleaved([
          { id: 'auth', child, load: authenticationResponseLoad(target, openCards, challenge) },
          { id: 'authInline', child: inline, load: authenticationResponseLoad(await bench.httpTarget(inline), openCards, challenge) },
        ]);
      });
    }

    const client = smartcardClient(`127.0.0.1:${child.ports.grpc}`);
    try {
      progress(`grpcUnary: ${p.warmupSeconds} s warm-up, ${p.seconds} s measured`);
      await bench.timed('grpcUnary', child, (seconds) => grpcUnaryAuthentication(client, target.token, openCards, challenge, p.connections, seconds));
      progress(`grpcStream: ${p.streams} streams x ${p.streamWindow} items in flight, ${p.warmupSeconds} s warm-up, ${p.seconds} s measured`);
      await bench.timed('grpcStream', child, (seconds) =>
        grpcStreamAuthentication(client, target.token, openCards, challenge, p.streams, p.streamWindow, seconds),
      );
    } finally {
      client.close();
    }

    if (bench.wants('pin')) {
      progress(`seeding ${p.openRequests} open requests with bound cards on the Randomized PIN template`);
      const pinCards = await bindCards(api.agent, await createRequests(api.agent, templates.pin, p.openRequests));
      await bench.timedHttp('pin', child, serverProposedPinLoad(target, pinCards, challenge));
    }

    await bench.timedHttp('readSmall', child, readCardLoad(target, smallSample));

    if (bench.wants('bindSmall', 'bindLarge')) {
      // The large database's bind scenario gets its requests now: creating them after the million
      // rows are in would only make the run longer, not the measurement different.
      const needed = (bench.wants('bindSmall') ? 1 : 0) + (bench.wants('bindLarge') ? 1 : 0);
      progress(`seeding ${needed * (p.binds + bindWarmup)} Approved requests to bind cards to`);
      const requests = await createRequests(api.agent, templates.responses, needed * (p.binds + bindWarmup));
      bindRequestsForLarge = requests.slice(needed === 2 ? p.binds + bindWarmup : 0);
      if (bench.wants('bindSmall')) {
        const [warmup, measured] = splitWarmup(requests.slice(0, p.binds + bindWarmup), bindWarmup);
        await bench.counted('bindSmall', child, bindCardLoad(target, warmup), bindCardLoad(target, measured));
      }
    }

    if (bench.wants('cert')) {
      progress(`seeding ${p.certificates + certWarmup} Executing requests with Assigned cards`);
      const cards = await bindCards(api.agent, await createRequests(api.agent, templates.responses, p.certificates + certWarmup));
      const [warmupCards, measuredCards] = splitWarmup(cards, certWarmup);
      await bench.counted(
        'cert',
        child,
        certificateDataLoad(target, warmupCards, csrs.slice(0, certWarmup)),
        certificateDataLoad(target, measuredCards, csrs.slice(certWarmup)),
      );
    }
  });

  await runScale(bench, filler, bindRequestsForLarge, bindWarmup);

  // The machine's speed can change during a run (these are shared VMs): the baselines again.
  progress('the baselines again, to see whether the machine changed speed during the run');
  bench.phase = 'end';
  await measureBaselines(bench, false);
}

/** The same bind and read scenarios once the database holds the large card population. */
async function runScale(bench: Bench, filler: Omit<FillerOptions, 'sampleSize'>, bindRequestsForLarge: string[], bindWarmup: number): Promise<void> {
  const p = bench.profile;
  if (!bench.wants('bindLarge', 'readLarge')) return;
  const more = p.largeCards - p.smallCards;
  progress(`inserting ${more.toLocaleString('en-US')} more finished enrolments into SQLite (${p.largeCards.toLocaleString('en-US')} in all)`);
  const largeSample = await insertFillerCards(bench.env.databasePath, more, { ...filler, sampleSize: p.readSample });

  await bench.withService('service-pool-large', 'pool', async (child) => {
    const target = await bench.httpTarget(child);
    await bench.timedHttp('readLarge', child, readCardLoad(target, largeSample));
    if (bench.wants('bindLarge')) {
      const [warmup, measured] = splitWarmup(bindRequestsForLarge, bindWarmup);
      await bench.counted('bindLarge', child, bindCardLoad(target, warmup), bindCardLoad(target, measured));
    }
  });
}
/** The commit measured, when the bench runs in a git checkout (read-only git commands). */
function sourceVersion(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dirname(fileURLToPath(import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${commit} with uncommitted changes` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${type()} ${release()}, Node ${process.version}`;
}

function failedRows(bench: Bench): string[] {
  const rows = bench.rows;
  return ROW_ORDER.filter((id) => bench.wants(id)).filter((id) => {
    const m = rows.get(id);
    if (!m) return true;
    return m.result.ok === 0 || m.result.errors > 0.01 * (m.result.ok + m.result.errors);
  });
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const unknownRows = [...(options.only ?? [])].filter((id) => !(ROW_ORDER as readonly string[]).includes(id));
  if (unknownRows.length) {
    process.stderr.write(`--only: no such row ${unknownRows.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  for (const dir of ['cpuProfileDir', 'heapSnapshotDir'] as const) {
    if (!options[dir]) continue;
    options[dir] = resolve(options[dir]);
    mkdirSync(options[dir], { recursive: true });
  }
  const env = prepareEnvironment({ logLevel: options.logLevel });
  const bench = new Bench(options, env);
  const command = ['node', 'dist/bench/run.js', ...process.argv.slice(2)].join(' ');
  progress(`${options.profile.name} run; temp folder ${env.dir}`);
  const loadBefore = loadavg()[0]!;

  let failure: unknown;
  try {
    await runAll(bench);
  } catch (err) {
    failure = err;
  }

  const p = options.profile;
  const labels = rowLabels({ smallCards: p.smallCards, largeCards: p.largeCards });
  const targets = evaluateTargets(bench.rows);
  const date = new Date().toISOString();
  const out = [
    '',
    `Machine: ${machineLine()}`,
    `Date: ${date}`,
    `Source: commit ${sourceVersion()}`,
    `Command: ${command} (profile ${p.name}: ${p.seconds} s per timed scenario after ${p.warmupSeconds} s warm-up, ${p.connections} connections)`,
    `Service: core and gateway in one process over loopback gRPC (the embedded layout), SQLite in WAL mode, crypto pool of ${availableParallelism()} threads (CM_WORKERS default), CM_LOG_LEVEL=${options.logLevel}, CM_MAX_RESPONSES_PER_REQUEST=0.`,
    `Load average (1 min) at start ${loadBefore.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}: other work on the machine skews every figure.`,
    '',
    formatTable(bench.rows, labels),
    '',
    'ops/s: successful operations per second of the measured window; p50/p99: their latency; errors: anything else.',
    'peak RSS: of the server process during the window. other procs CPU %: what other processes on the machine used',
    'meanwhile (100 = one of the cores): a row where it is well above 0 measured a shared machine, not the service.',
    '',
    'Targets (issue 5; the last line is issue 3):',
    formatTargets(targets),
    '',
    formatDrift(bench.rows, bench.endRows, labels),
    '',
    'Latency histograms (share of successful operations per latency bucket):',
    formatHistograms(bench.rows, labels),
    '',
    'Memory of each server process (MB): RSS after start-up, peak RSS over its life (VmHWM, seeding included),',
    "and at the end the main thread's V8 heap and the memory outside it (buffers, SQLite, worker threads are in RSS only):",
    ...bench.memory.map((m) => {
      const mb = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1048576).toFixed(0));
      const u = m.endUsage;
      return `  ${m.name.padEnd(20)} start ${mb(m.startBytes)}, peak ${mb(m.peakBytes)}${u ? `; end: rss ${mb(u.rss)}, heap ${mb(u.heapUsed)} used of ${mb(u.heapTotal)}, external ${mb(u.external)} (array buffers ${mb(u.arrayBuffers)})` : ''}`;
    }),
    '',
  ];
  process.stdout.write(out.join('\n'));

  if (options.jsonFile) {
    const rows = Object.fromEntries(
      [...bench.rows.entries()].map(([id, m]) => [
        id,
        { label: labels[id], opsPerSecond: perSecond(m.result), ...m.result, peakRssBytes: m.peakRssBytes, otherCpu: m.otherCpu },
      ]),
    );
    writeFileSync(options.jsonFile, JSON.stringify({ machine: machineLine(), date, source: sourceVersion(), command, profile: p, rows, targets, memory: bench.memory, endBaselines: Object.fromEntries([...bench.endRows.entries()].map(([id, m]) => [id, { opsPerSecond: perSecond(m.result), ...m.result }])) }, null, 2));
  }

  const failed = failedRows(bench);
  if (failure) process.stderr.write(`bench: failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
  if (failed.length) process.stderr.write(`bench: scenarios without a clean result: ${failed.join(', ')}\n`);
  if (failure || failed.length || options.keep) {
    process.stderr.write(`bench: the database and the service logs are kept in ${env.dir}\n`);
  } else {
    rmSync(env.dir, { recursive: true, force: true });
  }
  return failure || failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${USAGE}\n`);
    process.exit(1);
  },
);
