// The gRPC load driver: unary calls kept `concurrency` in flight on one channel, and the batch
// stream SmartcardService.ComputeAuthenticationResponses with a number of batches in flight per
// stream. Latency is per call, or per item from its batch's write to its answer.
import * as grpc from '@grpc/grpc-js';
import { LatencyRecorder } from './latency.js';
import { ErrorSampler, type LoadResult } from './load-result.js';

type UnaryMethod = (request: object, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => unknown;

export interface UnaryLoad {
  call: UnaryMethod;
  /** The i-th request of the run. */
  request(i: number): object;
  metadata: grpc.Metadata;
  concurrency: number;
  durationSeconds: number;
}

function describe(err: grpc.ServiceError): string {
  const code = err.metadata?.get('cm-error-code')[0];
  return `gRPC ${grpc.status[err.code] ?? err.code}${code ? ` ${String(code)}` : ''}: ${err.details}`;
}

export function runUnaryLoad(load: UnaryLoad): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  const errors = new ErrorSampler();
  let ok = 0;
  let failed = 0;
  let issued = 0;
  let inFlight = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(load.durationSeconds * 1e9));
  return new Promise((resolve) => {
    const finish = () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ ok, errors: failed, seconds, concurrency: load.concurrency, latency: latency.summary(), histogram: latency.histogram(), errorSamples: errors.samples });
    };
    const next = () => {
      if (process.hrtime.bigint() >= deadline) {
        if (inFlight === 0) finish();
        return;
      }
      const t0 = process.hrtime.bigint();
      inFlight++;
      load.call(load.request(issued++), load.metadata, (err) => {
        inFlight--;
        if (err) {
          failed++;
          errors.add(describe(err));
        } else {
          ok++;
          latency.record(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        next();
      });
    };
    for (let i = 0; i < load.concurrency; i++) next();
  });
}

export interface StreamItemResult {
  id: string;
  response?: string;
  error?: { status: number; code: string; message: string };
}

export interface StreamLoad {
  open(metadata: grpc.Metadata): grpc.ClientDuplexStream<object, { results: StreamItemResult[] }>;
  /** The i-th item (without its id, which the driver adds). */
  item(i: number): object;
  metadata: grpc.Metadata;
  streams: number;
  /** Items per message. */
  batchSize: number;
  /** Batches each stream keeps in flight. */
  batches: number;
  durationSeconds: number;
}

/** Each stream keeps `batches` messages of `batchSize` items in flight; latency is per item, from its batch's write to its answer. */
export function runStreamLoad(load: StreamLoad): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  const errors = new ErrorSampler();
  let ok = 0;
  let failed = 0;
  let issued = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(load.durationSeconds * 1e9));

  const one = () =>
    new Promise<void>((resolve) => {
      const call = load.open(load.metadata);
      const sentAt = new Map<string, bigint>();
      let inFlight = 0;
      let writing = true;
      const send = () => {
        if (!writing) return;
        if (process.hrtime.bigint() >= deadline) {
          writing = false;
          call.end();
          return;
        }
        const items = Array.from({ length: load.batchSize }, () => {
          const id = String(issued++);
          return { id, ...load.item(Number(id)) };
        });
        sentAt.set(items[0]!.id, process.hrtime.bigint());
        inFlight += items.length;
        call.write({ items });
      };
      call.on('data', ({ results }: { results: StreamItemResult[] }) => {
        const t0 = sentAt.get(results[0]?.id ?? '');
        sentAt.delete(results[0]?.id ?? '');
        const ms = t0 === undefined ? undefined : Number(process.hrtime.bigint() - t0) / 1e6;
        for (const result of results) {
          if (result.response !== undefined && result.response !== '') {
            ok++;
            if (ms !== undefined) latency.record(ms);
          } else {
            failed++;
            errors.add(`item error ${result.error?.code ?? '?'}: ${result.error?.message ?? ''}`);
          }
        }
        inFlight -= results.length;
        send();
      });
      call.on('error', (err: grpc.ServiceError) => {
        failed += inFlight;
        errors.add(describe(err));
        resolve();
      });
      call.on('end', () => resolve());
      for (let i = 0; i < load.batches; i++) send();
    });

  return Promise.all(Array.from({ length: load.streams }, one)).then(() => ({
    ok,
    errors: failed,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    concurrency: load.streams * load.batches * load.batchSize,
    latency: latency.summary(),
    histogram: latency.histogram(),
    errorSamples: errors.samples,
  }));
}
