// The core's only door to the crypto worker threads. A 3DES block costs ~3.5 us and a pool round
// trip ~90 us, so jobs submitted in the same event-loop turn are coalesced into one task per kind
// and each caller gets its own job's result back.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CryptoError } from '../../workers/crypto/admin-key.js';
import type { PinPolicy } from '../../workers/crypto/pin.js';
import { packBytes } from '../../workers/pack-bytes.js';
import {
  runBatch,
  type BatchTask,
  type DiversifyJob,
  type JobResult,
  type RespondJob,
  type TaskJobs,
  type TaskKind,
  type TaskValues,
} from '../../workers/tasks.js';
import { tokenSessionEpoch, type TokenConfig } from '../../workers/crypto/pkcs11-token.js';
import type { CryptoWorkerData } from '../../workers/crypto/thread-token.js';
import { CmError, ERROR_CODES, type ErrorCode } from '../errors.js';

export interface CryptoPoolOptions {
  threads: number;
  /** 'inline' runs the same handlers on the main thread: for benchmarks and tiny deployments. */
  mode?: 'pool' | 'inline';
  /** Jobs of one kind queued before a task is sent without waiting for the turn to end. */
  maxBatch?: number;
  /** Told the run time of each task (a batch of jobs of one kind), for metrics. */
  onTaskDone?: (kind: TaskKind, seconds: number, jobs: number) => void;
  /** The token whose keys jobs may name (SPEC 13): each pool thread opens its own session. */
  pkcs11?: TokenConfig;
}

// Compiled, this file is dist/core/crypto/pool.js and the worker dist/workers/tasks.js; under tap
// it is core/crypto/pool.ts and the worker must be the .ts source, which the inherited loader runs.
const WORKER_FILE = fileURLToPath(
  new URL(`../../workers/tasks${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

const DEFAULT_MAX_BATCH = 64;

interface Pending {
  job: object;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

const CM_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

// Worker codes are rows of the core's error table and pass through; the faults of ours among
// them (INVALID_KEY, SEAL_INVALID) reach clients as INTERNAL (grpc/status.ts), the worker's
// error kept in `cause` for the log. Anything else is INTERNAL.
function toCmError(code: string, message: string): CmError {
  const cmCode = (CM_CODES.has(code) ? code : 'INTERNAL') as ErrorCode;
  return new CmError(cmCode, message, { cause: new CryptoError(code as CryptoError['code'], message) });
}

/**
 * A copy of the job whose byte fields each own an exact-size ArrayBuffer. Sent to a worker, these
 * are transferred (no copy left here, and no neighbouring bytes of a shared Buffer slab cloned
 * along); run inline, the handlers wipe the copies and never the caller's buffers.
 */
function packJob(job: unknown): Record<string, unknown> {
  if (job === null || typeof job !== 'object' || Array.isArray(job)) {
    throw new CryptoError('INVALID_ARGUMENT', 'a crypto job must be an object');
  }
  const packed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(job)) {
    if (value instanceof Uint8Array) {
      packed[name] = new Uint8Array(value);
    } else if (value === undefined || ['string', 'number', 'boolean'].includes(typeof value)) {
      packed[name] = value;
    } else {
      throw new CryptoError('INVALID_ARGUMENT', `crypto job field ${name} must be bytes, a string, a number or a boolean`);
    }
  }
  return packed;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class CryptoPool {
  readonly mode: 'pool' | 'inline';
  readonly #maxBatch: number;
  readonly #piscina: Piscina | undefined;
  readonly #queues = new Map<TaskKind, Pending[]>();
  readonly #inFlight = new Set<Promise<void>>();
  #flushTimer: NodeJS.Immediate | undefined;
  #closing: Promise<void> | undefined;
  #tasksRun = 0;
  readonly #onTaskDone: CryptoPoolOptions['onTaskDone'];

  constructor(options: CryptoPoolOptions) {
    this.mode = options.mode ?? 'pool';
    this.#onTaskDone = options.onTaskDone;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1) {
      throw new CryptoError('INVALID_ARGUMENT', 'maxBatch must be a positive integer');
    }
    if (this.mode === 'pool') {
      if (!Number.isInteger(options.threads) || options.threads < 1) {
        throw new CryptoError('INVALID_ARGUMENT', 'threads must be a positive integer');
      }
      // A fixed number of threads: starting one costs far more than any job it would run.
      this.#piscina = new Piscina({
        filename: WORKER_FILE,
        minThreads: options.threads,
        maxThreads: options.threads,
        workerData: { pkcs11: options.pkcs11, tokenSessionEpoch: tokenSessionEpoch() } satisfies CryptoWorkerData,
      });
    }
  }

  /** Pool tasks (batches) sent so far, for tests and metrics. */
  get tasksRun(): number {
    return this.#tasksRun;
  }

  /** Tasks waiting for a thread, counting the batches being gathered for the next turn. */
  get queuedTasks(): number {
    let gathering = 0;
    for (const queue of this.#queues.values()) if (queue.length > 0) gathering++;
    return gathering + (this.#piscina?.queueSize ?? 0);
  }

  /** How busy the threads have been since they started, 0 to 1 (0 inline). */
  get utilization(): number {
    return this.#piscina?.utilization ?? 0;
  }

  async respond(job: RespondJob): Promise<Buffer> {
    return asBuffer(await this.run('respond', job));
  }

  async diversify(job: DiversifyJob): Promise<Buffer> {
    return asBuffer(await this.run('diversify', job));
  }

  generatePin(policy: PinPolicy): Promise<string> {
    return this.run('pin', policy);
  }

  /** Queues one job of any kind the worker knows; the typed methods above are thin wrappers. */
  run<K extends TaskKind>(kind: K, job: TaskJobs[K]): Promise<TaskValues[K]> {
    if (this.#closing) return Promise.reject(new CmError('UNAVAILABLE', 'the crypto pool is shutting down'));
    let packed: object;
    try {
      packed = packJob(job);
    } catch (err) {
      const e = err as CryptoError;
      return Promise.reject(toCmError(e.code, e.message));
    }
    return new Promise<TaskValues[K]>((resolve, reject) => {
      let queue = this.#queues.get(kind);
      if (!queue) this.#queues.set(kind, (queue = []));
      queue.push({ job: packed, resolve: resolve as (value: unknown) => void, reject });
      if (queue.length >= this.#maxBatch) this.#dispatch(kind);
      else this.#scheduleFlush();
    });
  }

  /** Runs what is already queued, waits for it, then stops the threads. Idempotent. */
  close(): Promise<void> {
    if (!this.#closing) {
      if (this.#flushTimer) clearImmediate(this.#flushTimer);
      this.#flushAll();
      this.#closing = Promise.allSettled(this.#inFlight).then(() => this.#piscina?.close());
    }
    return this.#closing;
  }

  #scheduleFlush(): void {
    this.#flushTimer ??= setImmediate(() => this.#flushAll());
  }

  #flushAll(): void {
    this.#flushTimer = undefined;
    for (const kind of this.#queues.keys()) this.#dispatch(kind);
  }

  #dispatch(kind: TaskKind): void {
    const queue = this.#queues.get(kind);
    if (!queue || queue.length === 0) return;
    this.#queues.delete(kind);
    const task = { kind, jobs: queue.map((p) => p.job) } as BatchTask;
    this.#tasksRun++;
    const started = process.hrtime.bigint();
    const timed = this.#onTaskDone
      ? this.#execute(task).finally(() => this.#onTaskDone!(kind, Number(process.hrtime.bigint() - started) / 1e9, queue.length))
      : this.#execute(task);
    const done = timed.then(
      (results) => settle(queue, results),
      (err: unknown) => {
        const failure = new CmError('INTERNAL', 'the crypto worker failed', { cause: err });
        for (const p of queue) p.reject(failure);
      },
    );
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  #execute(task: BatchTask): Promise<unknown> {
    if (!this.#piscina) return new Promise((resolve) => resolve(runBatch(task)));
    // Every byte field of the batch in one transferred buffer (workers/pack-bytes.ts); the
    // packed copies of run() are wiped, so no copy of a key stays on this thread.
    const { value, buffer } = packBytes(task.jobs as Record<string, unknown>[]);
    return this.#piscina.run({ kind: task.kind, jobs: value }, { transferList: buffer.byteLength ? [buffer] : [] });
  }
}

function settle(queue: Pending[], results: unknown): void {
  if (!Array.isArray(results) || results.length !== queue.length) {
    const failure = new CmError('INTERNAL', 'the crypto worker answered a batch with the wrong shape');
    for (const p of queue) p.reject(failure);
    return;
  }
  queue.forEach((p, i) => {
    const r = results[i] as JobResult;
    if (r.ok) p.resolve(r.value);
    else p.reject(toCmError(r.code, r.message));
  });
}
