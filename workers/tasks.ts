// The piscina worker entry. One pool task carries a batch of jobs of one kind, because a pool
// round trip costs ~25 times a single 3DES block; each job gets its own result so one bad job
// cannot fail its neighbours. To add a kind: extend TaskJobs and TaskValues and add a handler.
import { move, transferableSymbol, valueSymbol } from 'piscina';
import {
  CryptoError,
  type AdminKeyAlgorithm,
  cardIdToBytes,
  computeChallengeResponse,
  diversifyAdminKey,
  type HmacSha256,
  wipe,
} from './crypto/admin-key.js';
import { threadToken } from './crypto/thread-token.js';
import { generatePin, type PinPolicy } from './crypto/pin.js';
import { packBytes } from './pack-bytes.js';
import { CaError } from './ca/errors.js';
import { issueFromRequest, signCrl, signOcsp, type CrlJob, type IssuedJobResult, type IssueJob, type OcspJob } from './ca/jobs.js';
import type { CaNotLoaded } from './ca/loaded-cas.js';

/** Challenge-response with the template's default admin key. */
export interface DefaultKeyRespondJob {
  alg: AdminKeyAlgorithm;
  key: Uint8Array;
  challenge: Uint8Array;
}

/**
 * Where the master key is: its bytes, or the label of a token key this thread HMACs with on its
 * own session (only the KDF's output ever leaves the token).
 */
export type MasterKeySource = { master: Uint8Array; tokenKey?: undefined } | { tokenKey: string; master?: undefined };

/** Challenge-response with the card's diversified key, derived here from the master key. */
export type DiversifiedRespondJob = MasterKeySource & {
  alg: AdminKeyAlgorithm;
  cardId: string;
  challenge: Uint8Array;
};

export type RespondJob = DefaultKeyRespondJob | DiversifiedRespondJob;

export type DiversifyJob = MasterKeySource & {
  alg: AdminKeyAlgorithm;
  cardId: string;
};

export interface TaskJobs {
  respond: RespondJob;
  diversify: DiversifyJob;
  pin: PinPolicy;
  issue: IssueJob;
  crl: CrlJob;
  ocsp: OcspJob;
}

export interface TaskValues {
  respond: Uint8Array;
  diversify: Uint8Array;
  pin: string;
  issue: IssuedJobResult | CaNotLoaded;
  crl: Uint8Array | CaNotLoaded;
  ocsp: Uint8Array | CaNotLoaded;
}

export type TaskKind = keyof TaskJobs;

export interface BatchTask<K extends TaskKind = TaskKind> {
  kind: K;
  jobs: Array<TaskJobs[K]>;
}

export type JobResult<V = unknown> = { ok: true; value: V } | { ok: false; code: string; message: string };

type Handlers = { readonly [K in TaskKind]: (job: TaskJobs[K]) => TaskValues[K] };

// Results leave in their own exact-size ArrayBuffer: a Buffer from node:crypto may be a view
// into a shared 8 KiB slab, and posting a view clones the whole slab, with whatever else is in it.
function detached(buf: Buffer): Uint8Array {
  const out = new Uint8Array(buf);
  wipe(buf);
  return out;
}

function masterKeyOf(source: MasterKeySource): Uint8Array | HmacSha256 {
  if (source.master) return source.master;
  const label = source.tokenKey;
  if (typeof label !== 'string') throw new CryptoError('INVALID_ARGUMENT', 'a job needs a master key or a token key');
  const token = threadToken();
  return (data) => token.hmacSha256(label, data);
}

function diversify(job: DiversifyJob): Buffer {
  return diversifyAdminKey(job.alg, masterKeyOf(job), cardIdToBytes(job.cardId));
}

function respond(job: RespondJob): Uint8Array {
  if ('key' in job) return detached(computeChallengeResponse(job.alg, job.key, job.challenge));
  const key = diversify(job);
  try {
    return detached(computeChallengeResponse(job.alg, key, job.challenge));
  } finally {
    wipe(key);
  }
}

export const handlers: Handlers = {
  respond,
  diversify: (job) => detached(diversify(job)),
  pin: (job) => generatePin(job),
  issue: issueFromRequest,
  crl: signCrl,
  ocsp: signOcsp,
};

function failure(err: unknown): JobResult<never> {
  if (err instanceof CryptoError) return { ok: false, code: err.code, message: err.message };
  // A CA error describes a client's certificate request (malformed, forged, wrong key): say why.
  if (err instanceof CaError) return { ok: false, code: err.code === 'INVALID_ARGUMENT' ? 'INVALID_ARGUMENT' : 'INTERNAL', message: err.message };
  // Anything else is a bug or a malformed job; its message could quote input, so it stays here.
  return { ok: false, code: 'INTERNAL', message: 'the crypto job failed unexpectedly' };
}

// Byte fields of a job are this thread's own copies (cloned or transferred in); clear them all,
// keys and challenges alike, rather than keep a list of which fields are secret.
function wipeJob(job: unknown): void {
  if (job === null || typeof job !== 'object') return;
  for (const value of Object.values(job)) {
    if (value instanceof Uint8Array) wipe(value);
  }
}

/**
 * Runs every job of the batch; the same function serves the pool and the inline mode.
 * Clears every byte field of every job when done, so it must be given copies.
 */
export function runBatch<K extends TaskKind>(task: BatchTask<K>): Array<JobResult<TaskValues[K]>> {
  if (task === null || typeof task !== 'object' || !Array.isArray(task.jobs)) {
    throw new CryptoError('INVALID_ARGUMENT', 'a batch task needs a jobs array');
  }
  if (!Object.hasOwn(handlers, task.kind)) {
    throw new CryptoError('INVALID_ARGUMENT', 'unknown task kind');
  }
  const handler = handlers[task.kind] as (job: TaskJobs[K]) => TaskValues[K];
  return task.jobs.map((job): JobResult<TaskValues[K]> => {
    try {
      return { ok: true, value: handler(job) };
    } catch (err) {
      return failure(err);
    } finally {
      wipeJob(job);
    }
  });
}

/**
 * The pool's entry. The results' bytes (a result's own, or its fields' one level down, as in an
 * issued certificate) are moved into one buffer, which is transferred rather than cloned, and
 * wiped here, so no copy of a derived key stays behind in this thread; one buffer for the batch
 * because a transfer costs per buffer (workers/pack-bytes.ts).
 */
export default function runTask(task: BatchTask): unknown {
  const results = runBatch(task);
  const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
  const holders = results.map((r) => (!r.ok ? {} : r.value instanceof Uint8Array ? { bytes: r.value } : isRecord(r.value) ? r.value : {}));
  const { value: packed, buffer } = packBytes(holders);
  if (buffer.byteLength === 0) return results;
  const moved = results.map((r, i): JobResult => {
    if (!r.ok) return r;
    if (r.value instanceof Uint8Array) return { ok: true, value: packed[i]!.bytes };
    return isRecord(r.value) ? { ok: true, value: packed[i] } : r;
  });
  return move({ [transferableSymbol]: [buffer], [valueSymbol]: moved });
}
