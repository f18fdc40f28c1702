// Raw native signatures per second with the CA's own key: node:crypto's sign (OpenSSL) in a loop
// over a certificate-sized message, in `threads` worker threads at once, nothing else involved.
// The yardstick for certificate issuance.
import { Worker } from 'node:worker_threads';
import { LatencyRecorder } from './latency.js';
import type { LoadResult } from './load-result.js';

const SIGNING_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign, randomBytes } = require('node:crypto');
const key = createPrivateKey(workerData.keyPem);
const message = randomBytes(1100);
const times = [];
const end = Date.now() + workerData.seconds * 1000;
while (Date.now() < end) {
  const t0 = process.hrtime.bigint();
  sign('sha256', message, key);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
parentPort.postMessage(times);
`;

export async function measureRawSignatures(keyPem: string, threads: number, seconds: number): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  const started = process.hrtime.bigint();
  const perThread = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number[]>((resolve, reject) => {
          const worker = new Worker(SIGNING_LOOP, { eval: true, workerData: { keyPem, seconds } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  let ok = 0;
  for (const times of perThread) {
    ok += times.length;
    for (const t of times) latency.record(t);
  }
  // Each thread signed for `seconds`; thread start-up is not the signatures' cost.
  return { ok, errors: 0, seconds: Math.min(elapsed, seconds), concurrency: threads, latency: latency.summary(), histogram: latency.histogram(), errorSamples: [] };
}
