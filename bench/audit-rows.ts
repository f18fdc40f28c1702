// What a durable audit row costs the service's own store: SqliteStore transactions (group commit,
// WAL) of `batch` rows each through `audit.appendMany`, as the batch stream writes them, for
// rows naming a fresh random (v4) request and card id each, so every row lands at a random place
// of both audit indexes: the pessimistic case (rows naming a few dozen requests cost about a third
// less per row in a micro-benchmark on this machine). Every challenge-response is audited (SPEC 3),
// so this bounds the stream's items per second on this machine's disk.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../core/storage/sqlite.js';
import { throwawayVault } from '../core/crypto/pin-vault.js';
import type { AuditEntry } from '../core/domain/types.js';
import { LatencyRecorder } from './latency.js';
import type { LoadResult } from './load-result.js';

const DETAIL = JSON.stringify({ diversified: true, keyVersion: 1, challengeLength: 8 });

export async function measureAuditRows(dir: string, seconds: number, batch: number): Promise<LoadResult> {
  const path = join(dir, 'audit-rows.sqlite');
  const store = new SqliteStore(path, throwawayVault());
  const latency = new LatencyRecorder();
  const correlationId = randomUUID();
  const callerUuid = randomUUID();
  let ok = 0;
  let busy = 0n;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  try {
    while (process.hrtime.bigint() < end) {
      const at = new Date().toISOString();
      const entries: AuditEntry[] = Array.from({ length: batch }, () => ({
        at, correlationId, callerUuid, action: 'GetAuthenticationResponse',
        requestUuid: randomUUID(), smartcardUuid: randomUUID(), outcome: 'Succeeded', detail: DETAIL,
      }));
      const t0 = process.hrtime.bigint();
      await store.transaction((tx) => tx.audit.appendMany(entries));
      const took = process.hrtime.bigint() - t0;
      busy += took;
      latency.record(Number(took) / 1e6);
      ok += batch;
    }
  } finally {
    await store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  }
  // Only the transactions' time counts: making the entries is the load generator's work.
  return { ok, errors: 0, seconds: Number(busy) / 1e9, concurrency: 1, latency: latency.summary(), histogram: latency.histogram(), errorSamples: [] };
}
