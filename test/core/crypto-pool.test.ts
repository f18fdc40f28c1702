import { readFileSync } from 'node:fs';
import t from 'tap';
import { CryptoPool } from '../../core/crypto/pool.js';
import { CmError } from '../../core/errors.js';
import type { AdminKeyAlgorithm } from '../../workers/crypto/admin-key.js';
import { isWeakPin, PIN_ALPHABETS } from '../../workers/crypto/pin.js';
import runTask, { runBatch } from '../../workers/tasks.js';

interface ResponseVector {
  algorithm: AdminKeyAlgorithm;
  adminKeyHex: string;
  challengeBase64: string;
  responseBase64: string;
}
interface DiversificationVector {
  algorithm: AdminKeyAlgorithm;
  masterKeyHex: string;
  cardid: string;
  diversifiedKeyHex: string;
  challengeBase64: string;
  responseBase64: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('../vectors/card-crypto.json', import.meta.url), 'utf8'),
) as { challengeResponse: ResponseVector[]; diversification: DiversificationVector[] };

const hex = (s: string) => Buffer.from(s, 'hex');
const b64 = (s: string) => Buffer.from(s, 'base64');
const ZERO_KEY = Buffer.alloc(24);
const CHALLENGE = b64('1hFD+cz/0so=');

/** Every vector through the pool, all submitted at once; each result as a string for comparison. */
async function runVectors(pool: CryptoPool): Promise<string[]> {
  const calls: Array<Promise<string>> = [];
  for (const v of vectors.challengeResponse) {
    const job = { alg: v.algorithm, key: hex(v.adminKeyHex), challenge: b64(v.challengeBase64) };
    calls.push(pool.respond(job).then((r) => r.toString('base64')));
  }
  for (const v of vectors.diversification) {
    const master = hex(v.masterKeyHex);
    calls.push(pool.diversify({ alg: v.algorithm, master, cardId: v.cardid }).then((k) => k.toString('hex')));
    const job = { alg: v.algorithm, master, cardId: v.cardid, challenge: b64(v.challengeBase64) };
    calls.push(pool.respond(job).then((r) => r.toString('base64')));
  }
  return Promise.all(calls);
}

const expected = [
  ...vectors.challengeResponse.map((v) => v.responseBase64),
  ...vectors.diversification.flatMap((v) => [v.diversifiedKeyHex, v.responseBase64]),
];

for (const mode of ['pool', 'inline'] as const) {
  t.test(`${mode} mode`, async (t) => {
    const pool = new CryptoPool({ threads: 2, mode });
    t.teardown(() => pool.close());

    t.test('answers every vector of card-crypto.json', async (t) => {
      t.same(await runVectors(pool), expected);
    });

    t.test('results are Buffers and the caller keeps its own buffers intact', async (t) => {
      const key = hex('010203040506070801020304050607080102030405060708');
      const master = hex(vectors.diversification[0].masterKeyHex);
      const challenge = Buffer.from(CHALLENGE);
      const response = await pool.respond({ alg: '3DES', key, challenge });
      t.ok(Buffer.isBuffer(response));
      t.equal(response.toString('base64'), 'K1EIo4id/24=');
      const diversified = await pool.diversify({ alg: '3DES', master, cardId: vectors.diversification[0].cardid });
      t.ok(Buffer.isBuffer(diversified));
      t.equal(key.toString('hex'), '010203040506070801020304050607080102030405060708', 'key not wiped');
      t.equal(master.toString('hex'), vectors.diversification[0].masterKeyHex, 'master not wiped');
      t.equal(challenge.toString('base64'), '1hFD+cz/0so=', 'challenge not wiped');
    });

    t.test('PINs', async (t) => {
      const pins = await Promise.all(
        [0, 1, 2].map((characterSet) => pool.generatePin({ length: 8, characterSet: characterSet as 0 | 1 | 2 })),
      );
      pins.forEach((pin, set) => {
        t.equal(pin.length, 8);
        t.ok([...pin].every((c) => PIN_ALPHABETS[set as 0 | 1 | 2].includes(c)));
        t.notOk(isWeakPin(pin));
      });
    });

    t.test('a task that fails as a whole rejects each of its callers', async (t) => {
      const calls = [pool.run('sign' as 'pin', { length: 8, characterSet: 0 }), pool.run('sign' as 'pin', { length: 6, characterSet: 0 })];
      for (const call of calls) await t.rejects(call, { code: 'INTERNAL', message: 'the crypto worker failed' });
      t.equal((await pool.generatePin({ length: 6, characterSet: 0 })).length, 6, 'the pool still works');
    });

    t.test('a job that is not an object is refused at submission', async (t) => {
      await t.rejects(pool.run('pin', null as never), { code: 'INVALID_ARGUMENT' });
      await t.rejects(pool.run('pin', [8, 0] as never), { code: 'INVALID_ARGUMENT' });
    });

    t.test('a bad job rejects only its own promise, with a coded error', async (t) => {
      const good = () => pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE });
      const calls = [
        good(),
        pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE.subarray(0, 7) }),
        good(),
        pool.respond({ alg: '3DES', key: Buffer.alloc(16), challenge: CHALLENGE }),
        pool.diversify({ alg: 'AES128', master: Buffer.alloc(32), cardId: 'not-a-guid' }),
        pool.generatePin({ length: 1, characterSet: 0 }),
        pool.respond({ alg: 'DES' as AdminKeyAlgorithm, key: ZERO_KEY, challenge: CHALLENGE }),
        // Not cloneable to a thread: refused at submission, before it can spoil a batch.
        pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE, extra: () => 1 } as never),
        good(),
      ];
      const settled = await Promise.allSettled(calls);
      const outcome = settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as CmError).code));
      t.same(outcome, [
        'ok',
        'INVALID_ARGUMENT',
        'ok',
        'INVALID_KEY', // a key of the wrong length is our fault, answered INTERNAL at the edge (grpc/status.ts)
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'INVALID_ARGUMENT',
        'ok',
      ]);
      for (const s of settled) {
        if (s.status === 'rejected') t.ok(s.reason instanceof CmError, 'a CmError the gRPC edge can map');
      }
      const wrongKey = settled[3] as PromiseRejectedResult;
      t.equal((wrongKey.reason as CmError & { cause: { code: string } }).cause.code, 'INVALID_KEY', 'precise code kept');
      for (const i of [0, 2, 8]) {
        t.equal((settled[i] as PromiseFulfilledResult<Buffer>).value.toString('base64'), 'F0Zudm4wPLY=');
      }
    });
  });
}

t.test('concurrent calls are batched into few pool tasks', async (t) => {
  const pool = new CryptoPool({ threads: 2 });
  t.teardown(() => pool.close());
  const before = pool.tasksRun;
  const responses = await Promise.all(
    Array.from({ length: 200 }, () => pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE })),
  );
  t.ok(responses.every((r) => r.toString('base64') === 'F0Zudm4wPLY='));
  // 200 jobs in one turn: three full batches of 64 sent at once, the last 8 at the end of the turn.
  t.equal(pool.tasksRun - before, 4);
});

t.test('kinds are batched separately; maxBatch is honoured', async (t) => {
  const pool = new CryptoPool({ threads: 1, maxBatch: 10 });
  t.teardown(() => pool.close());
  const jobs = [
    ...Array.from({ length: 25 }, () => pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE })),
    ...Array.from({ length: 5 }, () => pool.generatePin({ length: 6, characterSet: 0 })),
  ];
  await Promise.all(jobs);
  t.equal(pool.tasksRun, 4, 'respond: 10 + 10 + 5, pin: 5');
});

t.test('jobs submitted in later turns go into later tasks', async (t) => {
  const pool = new CryptoPool({ threads: 1, mode: 'inline' });
  t.teardown(() => pool.close());
  await pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE });
  await pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE });
  t.equal(pool.tasksRun, 2);
});

t.test('close() finishes queued work, refuses new work, and is idempotent', async (t) => {
  for (const mode of ['pool', 'inline'] as const) {
    const pool = new CryptoPool({ threads: 1, mode });
    const queued = pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE });
    const closing = pool.close();
    t.equal((await queued).toString('base64'), 'F0Zudm4wPLY=', `${mode}: queued job answered`);
    await closing;
    await t.rejects(pool.respond({ alg: '3DES', key: ZERO_KEY, challenge: CHALLENGE }), { code: 'UNAVAILABLE' });
    await t.resolves(pool.close(), `${mode}: second close`);
  }
});

t.test('options are checked', async (t) => {
  t.throws(() => new CryptoPool({ threads: 0 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new CryptoPool({ threads: 1.5 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new CryptoPool({ threads: 1, maxBatch: 0 }), { code: 'INVALID_ARGUMENT' });
  const inline = new CryptoPool({ threads: 0, mode: 'inline' });
  t.equal(inline.mode, 'inline', 'threads do not matter inline');
  await inline.close();
});

t.test('the worker entry', async (t) => {
  t.test('wipes the byte fields it was given', async (t) => {
    const job = { alg: '3DES' as const, key: Buffer.alloc(24, 1), challenge: Buffer.from(CHALLENGE) };
    const [result] = runBatch({ kind: 'respond', jobs: [job] });
    t.ok(result.ok);
    t.ok(job.key.every((b) => b === 0), 'key wiped');
    t.ok(job.challenge.every((b) => b === 0), 'challenge wiped');
  });

  t.test('refuses malformed tasks as a whole', async (t) => {
    t.throws(() => runBatch({ kind: 'sign' as 'pin', jobs: [] }), { code: 'INVALID_ARGUMENT' });
    t.throws(() => runBatch({ kind: 'pin', jobs: undefined as never }), { code: 'INVALID_ARGUMENT' });
  });

  t.test('an unexpected failure is INTERNAL and says nothing of the input', async (t) => {
    // Passes the size check, then makes node:crypto throw a TypeError of its own.
    const challenge = { length: 8, secret: 'do not echo' } as never;
    const [result] = runBatch({ kind: 'respond', jobs: [{ alg: '3DES', key: Buffer.alloc(24), challenge }] });
    t.same(result, { ok: false, code: 'INTERNAL', message: 'the crypto job failed unexpectedly' });
  });

  t.test('marks result buffers for transfer, each its own exact ArrayBuffer', async (t) => {
    const moved = runTask({
      kind: 'respond',
      jobs: [
        { alg: '3DES', key: Buffer.alloc(24), challenge: Buffer.from(CHALLENGE) },
        { alg: '3DES', key: Buffer.alloc(24), challenge: Buffer.alloc(3) },
      ],
    }) as Record<symbol, unknown>;
    const buffers = moved[Symbol.for('Piscina.transferable')] as ArrayBuffer[];
    const results = moved[Symbol.for('Piscina.valueOf')] as Array<{ ok: boolean; value?: Uint8Array }>;
    t.equal(buffers.length, 1);
    t.equal(buffers[0].byteLength, 8);
    t.equal(results[0].value!.buffer, buffers[0]);
    t.equal(results[1].ok, false);
  });
});
