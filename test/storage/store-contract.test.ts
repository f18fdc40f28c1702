// The storage contract of core/storage/repository.ts, run against every store: SQLite and
// PostgreSQL, one loop over the two. Each invariant of SPEC 12 is raced by many units at once,
// spread over two handles on one database (PostgreSQL: two stores, so two pools of
// connections, as two cores would have; SQLite: its one store, as it serves one core), running
// the statements the domain runs; a naive read-then-write breaks every one of these.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CmError } from '../../core/errors.js';
import { throwawayVault } from '../../core/crypto/pin-vault.js';
import { PostgresStore } from '../../core/storage/postgres.js';
import type { Repositories, Store, StoreObserver } from '../../core/storage/repository.js';
import { SqliteStore } from '../../core/storage/sqlite.js';
import type { CertificateRecord, ProfileTemplate, RequestRecord, SmartcardRecord } from '../../core/domain/types.js';
import { NIL_UUID } from '../../core/domain/types.js';
import pg from 'pg';
import { startPostgres, type PgCluster } from '../support/postgres.js';

interface Handles {
  /** Two handles on one database: units alternate between them. */
  a: Store;
  b: Store;
  close(): Promise<void>;
}

interface Dialect {
  name: string;
  /** `observer` (the core's metrics) hears of handle a's commits. */
  open(observer?: StoreObserver): Promise<Handles>;
}

/** What a store told its metrics observer. */
function recorder() {
  const seen = { commits: [] as { units: number; seconds: number; auditRows: number }[], failed: 0, retried: 0 };
  const observer: StoreObserver = {
    committed: (units, seconds, auditRows) => seen.commits.push({ units, seconds, auditRows }),
    failed: () => seen.failed++,
    retried: () => seen.retried++,
  };
  return { seen, observer };
}

/** One key ring's vault for every store of the file, as cores on one database share their key ring. */
const vault = throwawayVault();
let cluster: PgCluster | undefined;
t.teardown(() => cluster?.close());

const dialects: Dialect[] = [
  {
    name: 'sqlite',
    async open(observer) {
      const dir = mkdtempSync(join(tmpdir(), 'cm-contract-'));
      const store = new SqliteStore(join(dir, 'cm.sqlite'), vault, observer);
      return {
        a: store,
        b: store,
        async close() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    async open(observer) {
      cluster ??= await startPostgres();
      const url = await cluster.createDatabase();
      const a = await PostgresStore.open(url, vault, { observer });
      const b = await PostgresStore.open(url, vault);
      return {
        a,
        b,
        async close() {
          await a.close();
          await b.close();
        },
      };
    },
  },
];

const ROUNDS = 3;
const now = () => new Date().toISOString();

function request(fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    uuid: randomUUID(),
    requestType: 1,
    status: 3,
    flags: 1,
    profileTemplateUuid: randomUUID(),
    profileTemplateVersion: 1,
    originatorUserUuid: randomUUID(),
    originatorName: 'o',
    targetUserUuid: randomUUID(),
    targetName: 't',
    targetUpn: '',
    submitted: now(),
    completed: '0001-01-01T00:00:00.000Z',
    newSmartcardUuid: NIL_UUID,
    oldSmartcardUuid: NIL_UUID,
    newProfileUuid: NIL_UUID,
    oldProfileUuid: NIL_UUID,
    priority: 0,
    comment: '',
    dataCollection: [],
    responsesIssued: 0,
    approvals: [],
    ...fields,
  };
}

function card(requestUuid: string, cardId: string): SmartcardRecord {
  return {
    uuid: randomUUID(),
    cardId,
    status: 1,
    flags: 1,
    parentSmartcardUuid: NIL_UUID,
    primarySmartcardUuid: NIL_UUID,
    permanentSmartcardUuid: NIL_UUID,
    assignedUserUuid: randomUUID(),
    profileTemplateUuid: randomUUID(),
    profileTemplateVersion: 1,
    comment: '',
    middleware: 'm',
    atr: '',
    keyVersion: 0,
    requestUuid,
    createdAt: now(),
  };
}

/** Only what the stores read of a template: its uuid, name, version and default admin key. */
const template = (): ProfileTemplate =>
  ({ uuid: randomUUID(), name: 'Contract', version: 1, smartcardConfiguration: { defaultAdminKeyHex: '00'.repeat(24) } }) as unknown as ProfileTemplate;

function certificate(fields: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serialHex: randomBytes(8).toString('hex'), smartcardUuid: randomUUID(), requestUuid: randomUUID(), userUuid: randomUUID(),
    templateCommonName: 'x', thumbprint: 'ab', notBefore: now(), notAfter: now(), issuer: 'CN=x', requesterName: 'o',
    status: 0, revokedAt: '', reason: 0, der: Buffer.from([0x30, 0x00]), issuedAt: now(), ...fields,
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const audit = (action: string, requestUuid: string) => ({
  at: now(),
  correlationId: '',
  callerUuid: NIL_UUID,
  action,
  requestUuid,
  smartcardUuid: '',
  outcome: 'Succeeded' as const,
  detail: '{}',
});

/** Runs `n` units at once, alternating between the two handles; their outcomes. */
function race<T>(h: Handles, n: number, unit: (tx: Repositories, i: number) => Promise<T>) {
  return Promise.allSettled(Array.from({ length: n }, (_, i) => (i % 2 ? h.b : h.a).transaction((tx) => unit(tx, i))));
}
const fulfilled = <T>(outcomes: PromiseSettledResult<T>[]) => outcomes.filter((o): o is PromiseFulfilledResult<T> => o.status === 'fulfilled');

/** A request and a new card bound to it, committed; the card's fields as given (status 1 by default). */
async function requestWithBoundCard(store: Store, requestFields: Partial<RequestRecord> = {}, cardFields: Partial<SmartcardRecord> = {}) {
  const r = request(requestFields);
  const c = { ...card(r.uuid, randomBytes(16).toString('hex')), ...cardFields };
  await store.transaction(async (tx) => {
    await tx.requests.insert(r);
    await tx.smartcards.insert(c);
    await tx.requests.bindCard(r.uuid, c.uuid);
  });
  return { r, c };
}

for (const dialect of dialects) {
  t.test(dialect.name, async (t) => {
    const { seen, observer } = recorder();
    const h = await dialect.open(observer);
    t.teardown(() => h.close());

    t.test('two binds of one request never both win', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const r = request();
        await h.a.transaction((tx) => tx.requests.insert(r));
        const outcomes = await race(h, 10, async (tx, i) => {
          const c = card(r.uuid, randomBytes(16).toString('hex'));
          await tx.smartcards.insert(c);
          if (!(await tx.requests.bindCard(r.uuid, c.uuid))) throw new CmError('REQUEST_ALREADY_BOUND', `unit ${i} lost`);
          return c.uuid;
        });
        const won = fulfilled(outcomes);
        t.equal(won.length, 1, `round ${round}: one bind won`);
        const after = await h.b.read.requests.get(r.uuid);
        t.equal(after?.newSmartcardUuid, won[0]?.value, 'the request names the winner');
        t.equal(after?.status, 4, 'Approved became Executing');
        t.ok(
          outcomes.every((o) => o.status === 'fulfilled' || (o.reason as CmError).code === 'REQUEST_ALREADY_BOUND'),
          'the others were refused as already bound',
        );
      }
    });

    t.test('a new card bound in one call: the bind, the card and its audit row, or nothing; one winner among many', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const r = request();
        await h.a.transaction((tx) => tx.requests.insert(r));
        const cards = Array.from({ length: 10 }, () => card(r.uuid, randomBytes(16).toString('hex')));
        const outcomes = await race(h, 10, async (tx, i) => {
          if (!(await tx.requests.bindNewCard(cards[i]!, { ...audit('AssignSmartcard', r.uuid), smartcardUuid: cards[i]!.uuid }))) {
            throw new CmError('REQUEST_ALREADY_BOUND', `unit ${i} lost`);
          }
          return cards[i]!.uuid;
        });
        const won = fulfilled(outcomes);
        t.equal(won.length, 1, `round ${round}: one bind won`);
        t.ok(outcomes.every((o) => o.status === 'fulfilled' || (o.reason as CmError).code === 'REQUEST_ALREADY_BOUND'), 'the others refused as already bound');
        const after = await h.b.read.requests.get(r.uuid);
        t.match(after, { newSmartcardUuid: won[0]?.value, status: 4 }, 'the request names the winner, Executing');
        const stored = await Promise.all(cards.map((c) => h.b.read.smartcards.get(c.uuid)));
        t.same(stored.filter(Boolean).map((c) => c!.uuid), [won[0]?.value], "only the winner's card row exists");
        t.same(stored.find(Boolean), cards.find((c) => c.uuid === won[0]?.value), 'stored as given');
        const rows = await h.b.read.audit.list({ requestUuid: r.uuid, limit: 100 });
        t.same(rows.map((row) => [row.action, row.smartcardUuid]), [['AssignSmartcard', won[0]?.value]], 'one audit row, the winner\'s');
      }
    });

    t.test('a unit that goes on after one of its statements refused is rolled back and rejects', async (t) => {
      const { r, c: bound } = await requestWithBoundCard(h.a);
      const other = request();
      const late = card(r.uuid, randomBytes(16).toString('hex'));
      const unit = h.b.transaction(async (tx) => {
        await tx.requests.insert(other);
        return tx.requests.bindNewCard(late, { ...audit('AssignSmartcard', r.uuid), smartcardUuid: late.uuid });
      });
      if (dialect.name === 'postgres') {
        // The refusal aborted the transaction; COMMIT answers ROLLBACK, which must not pass for a commit.
        await t.rejects(unit, /rolled back/, 'rejected, not reported committed');
        t.equal(await h.b.read.requests.get(other.uuid), undefined, "nothing of the unit's was kept");
      } else {
        t.equal(await unit, false, 'SQLite: refused without aborting the unit');
      }
      t.equal(await h.b.read.smartcards.get(late.uuid), undefined, 'no card row for the refused bind');
      await t.rejects(h.b.read.requests.getWithTemplateAndCard(r.uuid, bound.uuid, 'update'), /not supported/, 'a lock with a card is refused');
    });

    t.test('two binds of one cardid to different requests never both win', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const cardId = randomBytes(16).toString('hex');
        const requests = Array.from({ length: 10 }, () => request());
        await h.a.transaction(async (tx) => {
          for (const r of requests) await tx.requests.insert(r);
        });
        const outcomes = await race(h, 10, async (tx, i) => {
          await tx.requests.get(requests[i]!.uuid, false, 'update');
          await tx.smartcards.lockCardId(cardId);
          if ((await tx.smartcards.statusesByCardId(cardId)).some((s) => s <= 3)) throw new CmError('CARD_IN_USE', 'live');
          const c = card(requests[i]!.uuid, cardId);
          await tx.smartcards.insert(c);
          await tx.requests.bindCard(requests[i]!.uuid, c.uuid);
        });
        t.equal(fulfilled(outcomes).length, 1, `round ${round}: one bind won`);
        t.same(await h.b.read.smartcards.statusesByCardId(cardId), [1], 'one card record holds the cardid');
      }
    });

    t.test('at most the limit of challenge-responses, single and batch together', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const r = request();
        await h.a.transaction((tx) => tx.requests.insert(r));
        const outcomes = await race(h, 20, async (tx, i) =>
          i % 4 === 0 ? ((await tx.requests.countResponses(r.uuid, 3, 5)) ?? 0) : (await tx.requests.markExecuted(r.uuid, { limit: 5 })) ? 1 : 0,
        );
        const granted = fulfilled(outcomes).reduce((sum, o) => sum + o.value, 0);
        t.equal(granted, 5, `round ${round}: exactly 5 granted`);
        t.equal((await h.b.read.requests.get(r.uuid))?.responsesIssued, 5, 'and 5 counted');
      }
    });

    t.test('each approver counts once; distinct approvers at once make it Approved', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const r = request({ status: 1 });
        await h.a.transaction((tx) => tx.requests.insert(r));
        const approvers = [randomUUID(), randomUUID(), randomUUID()];
        // Approver 0 twice, approvers 1 and 2 once; 2 approvals are needed (the domain's unit).
        const outcomes = await race(h, 4, async (tx, i) => {
          const approver = approvers[Math.max(0, i - 1)]!;
          await tx.requests.lock(r.uuid);
          const current = (await tx.requests.get(r.uuid))!;
          if (current.approvals.some((a) => a.approverUuid === approver)) return 'retry';
          await tx.requests.addApproval(r.uuid, { approverUuid: approver, approved: true, comment: '', at: now() });
          if (current.approvals.length + 1 >= 2 && current.status === 1) await tx.requests.patch(r.uuid, { status: 3 });
          return 'added';
        });
        t.equal(fulfilled(outcomes).length, 4, `round ${round}: every unit answered`);
        const after = (await h.b.read.requests.get(r.uuid))!;
        t.equal(after.approvals.length, 3, 'three distinct approvals');
        t.equal(after.status, 3, 'Approved');
      }
    });

    t.test('a server PIN is generated once per (card, request)', async (t) => {
      const r = request();
      const cardUuid = randomUUID();
      await h.a.transaction((tx) => tx.requests.insert(r));
      const outcomes = await race(h, 10, async (tx) => {
        await tx.requests.markExecuted(r.uuid);
        const stored = await tx.pins.get(cardUuid, r.uuid);
        if (stored) return stored.sealed.toString('hex');
        const sealed = randomBytes(16);
        await tx.pins.put(cardUuid, r.uuid, 1, sealed);
        return sealed.toString('hex');
      });
      const pins = new Set(fulfilled(outcomes).map((o) => o.value));
      t.equal(fulfilled(outcomes).length, 10, 'every unit answered');
      t.equal(pins.size, 1, 'all answered the same PIN');
    });

    t.test('an expired request is abandoned once, with one audit row', async (t) => {
      const r = request({ submitted: '2000-01-01T00:00:00.000Z' });
      await h.a.transaction((tx) => tx.requests.insert(r));
      await race(h, 6, async (tx) => {
        for (const stale of await tx.requests.listOpenSubmittedBefore('2001-01-01T00:00:00.000Z')) {
          if (stale.uuid !== r.uuid) continue;
          if (!(await tx.requests.patchIf(stale.uuid, stale.status, { status: 7, completed: now() }))) continue;
          await tx.audit.append(audit('AbandonExpiredRequest', stale.uuid));
        }
      });
      t.equal((await h.b.read.requests.get(r.uuid))?.status, 7, 'Abandoned');
      t.equal((await h.b.read.audit.list({ requestUuid: r.uuid, limit: 10 })).length, 1, 'one audit row');
    });

    t.test('one certificate upload per request; the CRL says what was committed at its number', async (t) => {
      const r = request({ status: 4 });
      await h.a.transaction((tx) => tx.requests.insert(r));
      const before = await h.a.read.certificates.crl();
      const upload = (serial: string) => async (tx: Repositories) => {
        await tx.requests.lock(r.uuid);
        if ((await tx.certificates.listByRequest(r.uuid)).length > 0) throw new CmError('WRONG_STATE', 'already');
        await tx.certificates.insert({
          serialHex: serial, smartcardUuid: randomUUID(), requestUuid: r.uuid, userUuid: randomUUID(), templateCommonName: 'x',
          thumbprint: 'ab', notBefore: now(), notAfter: now(), issuer: 'CN=x', requesterName: 'o', status: 2, revokedAt: now(),
          reason: 6, der: Buffer.from([0x30, 0x00]), issuedAt: now(),
        });
        await tx.certificates.bumpCrlNumber();
      };
      const outcomes = await race(h, 8, (tx, i) => upload(`0${i}ff`)(tx));
      t.equal(fulfilled(outcomes).length, 1, 'one upload won');
      t.equal((await h.b.read.certificates.listByRequest(r.uuid)).length, 1, 'one certificate stored');

      // Writers each add one on-hold certificate and bump the number; every CRL read sees
      // exactly as many new entries as the number went up.
      const writers = Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? h.b : h.a).transaction(async (tx) => {
          await tx.certificates.insert({
            serialHex: randomBytes(8).toString('hex'), smartcardUuid: randomUUID(), requestUuid: randomUUID(), userUuid: randomUUID(),
            templateCommonName: 'x', thumbprint: 'ab', notBefore: now(), notAfter: now(), issuer: 'CN=x', requesterName: 'o',
            status: 1, revokedAt: now(), reason: 5, der: Buffer.from([0x30, 0x00]), issuedAt: now(),
          });
          await tx.certificates.bumpCrlNumber();
        }),
      );
      const reads = Array.from({ length: 24 }, (_, i) => (i % 2 ? h.b : h.a).read.certificates.crl());
      await Promise.all(writers);
      const consistent = (await Promise.all(reads)).every(
        (crl) => crl.entries.length - before.entries.length === crl.number - before.number,
      );
      t.ok(consistent, 'every CRL read: entries added = number bumps');
      const last = await h.a.read.certificates.crl();
      t.equal(last.number, before.number + 13, 'the CRL number only went up, once per change');
    });

    t.test('a key answer commits before a status change of its card or not at all', async (t) => {
      const { r, c } = await requestWithBoundCard(h.a, { status: 4 });
      const answers = race(h, 8, async (tx) => {
        // The domain's order: the request row (a counted execute operation), then the card.
        if (!(await tx.requests.markExecuted(r.uuid))) throw new CmError('WRONG_STATE', 'closed');
        const seen = await tx.smartcards.lockForKeyRelease(c.uuid, r.uuid);
        if (seen !== 1) throw new CmError('WRONG_STATE', 'not live');
        await new Promise((resolve) => setTimeout(resolve, 10));
        await tx.audit.append(audit('GetDiversifiedKey', r.uuid));
        return (await tx.smartcards.get(c.uuid))?.status;
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const retire = h.b.transaction(async (tx) => {
        // Through another request (a Retire request names the card as its old card): another row lock.
        if ((await tx.smartcards.get(c.uuid, 'update'))?.status !== 1) throw new Error('the card changed before the retirement read it');
        await tx.smartcards.updateStatus(c.uuid, 6);
        await tx.audit.append(audit('Retire', r.uuid));
      });
      const [outcomes] = await Promise.all([answers, retire]);
      t.ok(fulfilled(outcomes).every((o) => o.value === 1), 'every answer that committed saw its card Assigned to the end');
      t.ok(
        outcomes.every((o) => o.status === 'fulfilled' || (o.reason as CmError).code === 'WRONG_STATE'),
        'the others were refused: the card had changed',
      );
      t.equal(await h.a.transaction((tx) => tx.smartcards.lockForKeyRelease(c.uuid, randomUUID())), undefined, 'not bound to that request: undefined');
    });

    t.test('a challenge-response recorded in one call: counted, its card checked and audited, or nothing written', async (t) => {
      const LIVE = [2, 3, 5];
      const setUp = (fields: Partial<RequestRecord> = {}, cardStatus = 2) => requestWithBoundCard(h.a, fields, { status: cardStatus });
      const entry = (r: RequestRecord, c: SmartcardRecord) => ({ ...audit('GetAuthenticationResponse', r.uuid), smartcardUuid: c.uuid });
      const record = (r: RequestRecord, c: SmartcardRecord, limit: number, cardUuid = c.uuid) =>
        h.a.atomicCall((tx) => tx.requests.recordResponse(r.uuid, cardUuid, limit, LIVE, entry(r, c)));
      const state = async (r: RequestRecord) => {
        const after = await h.b.read.requests.get(r.uuid);
        return { status: after?.status, issued: after?.responsesIssued, audited: (await h.b.read.audit.list({ requestUuid: r.uuid, limit: 1000 })).length };
      };

      const { r, c } = await setUp();
      const before = await state(r);
      t.equal(await record(r, c, 2), 'recorded');
      t.same(await state(r), { status: 4, issued: 1, audited: before.audited + 1 }, 'Approved became Executing, one counted, one audit row');
      t.equal(await record(r, c, 2), 'recorded');
      t.equal(await record(r, c, 2), 'notCounted', 'at its limit');
      t.same(await state(r), { status: 4, issued: 2, audited: before.audited + 2 }, 'nothing more written at the limit');
      t.equal(await record(r, c, 0, randomUUID()), 'cardNotLive', 'a card that does not exist');
      t.equal(await record(r, c, 0, (await setUp()).c.uuid), 'cardNotLive', "another request's live card");
      t.same(await state(r), { status: 4, issued: 2, audited: before.audited + 2 }, 'nothing written for either');

      const retired = await setUp({}, 6);
      const retiredBefore = await state(retired.r);
      t.equal(await record(retired.r, retired.c, 0), 'cardNotLive', 'a retired card');
      t.same(await state(retired.r), retiredBefore, 'nothing written: the count was undone with the refusal');

      const closed = await setUp({}, 6);
      await h.a.transaction((tx) => tx.requests.patch(closed.r.uuid, { status: 5 }));
      t.equal(await record(closed.r, closed.c, 0), 'notCounted', "the request's state comes first, as markExecuted's does");

      if (dialect.name === 'postgres') {
        await t.rejects(
          h.b.atomicCall(async (tx) => {
            await tx.requests.get(r.uuid);
            return tx.requests.get(r.uuid);
          }),
          /a second statement/,
          'a second statement in an atomic call is refused',
        );
      }
    });

    t.test('challenge-responses recorded in one call racing a retirement: every one counted and audited before it, or refused', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const { r, c } = await requestWithBoundCard(h.a, { status: 4 }, { status: 2 });
        // Three waves: one answered before the retirement begins, one started with it (these
        // interleave with it as they may), one started after it committed (all refused).
        const answer = (i: number) =>
          (i % 2 ? h.b : h.a).atomicCall((tx) => tx.requests.recordResponse(r.uuid, c.uuid, 0, [2], { ...audit('GetAuthenticationResponse', r.uuid), smartcardUuid: c.uuid }));
        const wave = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => answer(i)));
        const first = await wave(4);
        const retire = h.b.transaction(async (tx) => {
          await tx.smartcards.get(c.uuid, 'update');
          await tx.smartcards.updateStatus(c.uuid, 6);
          await tx.audit.append(audit('Retire', r.uuid));
        });
        const second = wave(16);
        await retire;
        const answers = Promise.all([first, second, wave(4)]).then((waves) => waves.flat());
        const outcomes = await answers;
        const recorded = outcomes.filter((o) => o === 'recorded').length;
        t.ok(outcomes.every((o) => o === 'recorded' || o === 'cardNotLive'), `round ${round}: each recorded or refused (${recorded} of 24 recorded)`);
        t.same([outcomes.slice(0, 4), outcomes.slice(20)], [Array(4).fill('recorded'), Array(4).fill('cardNotLive')], 'before it recorded, after it refused');
        t.equal((await h.b.read.requests.get(r.uuid))?.responsesIssued, recorded, 'counted exactly the recorded ones');
        const rows = await h.b.read.audit.list({ requestUuid: r.uuid, limit: 1000 });
        const retirement = rows.find((row) => row.action === 'Retire')!;
        const answered = rows.filter((row) => row.action === 'GetAuthenticationResponse');
        t.equal(answered.length, recorded, 'one audit row per recorded answer');
        t.ok(answered.every((row) => row.id < retirement.id), 'none committed after the retirement');
      }
    });

    t.test('binds of different requests at once: all commit, each unit run once (no conflict between them)', async (t) => {
      const requests = Array.from({ length: 48 }, () => request());
      await h.a.transaction(async (tx) => {
        for (const r of requests) await tx.requests.insert(r);
      });
      const runs = requests.map(() => 0);
      // The domain's bind unit (core/domain/smartcards.ts): the request row, the cardid, the card, the binding, the audit row.
      const outcomes = await race(h, requests.length, async (tx, i) => {
        runs[i]!++;
        const r = requests[i]!;
        await tx.requests.get(r.uuid, false, 'update');
        const cardId = randomBytes(16).toString('hex');
        await tx.smartcards.lockCardId(cardId);
        if ((await tx.smartcards.statusesByCardId(cardId)).length > 0) throw new CmError('CARD_IN_USE', 'live');
        const c = card(r.uuid, cardId);
        await tx.smartcards.insert(c);
        if (!(await tx.requests.bindCard(r.uuid, c.uuid))) throw new CmError('REQUEST_ALREADY_BOUND', 'bound');
        await tx.audit.append(audit('AssignSmartcard', r.uuid));
        return c.uuid;
      });
      t.equal(fulfilled(outcomes).length, requests.length, 'every bind committed');
      t.same(runs, requests.map(() => 1), 'no unit was run again');
      const bound = await Promise.all(requests.map((r) => h.b.read.requests.get(r.uuid, false)));
      t.same(bound.map((r) => r?.newSmartcardUuid), outcomes.map((o) => (o as PromiseFulfilledResult<string>).value), 'each request names its card');
    });

    t.test('units locking several requests, named in any order, never wait in a cycle', async (t) => {
      const requests = Array.from({ length: 6 }, () => request());
      await h.a.transaction(async (tx) => {
        for (const r of requests) await tx.requests.insert(r);
      });
      const runs = Array.from({ length: 12 }, () => 0);
      const outcomes = await race(h, 12, async (tx, i) => {
        runs[i]!++;
        const order = i % 2 ? [...requests].reverse() : requests;
        await tx.requests.lock(...order.map((r) => r.uuid));
        for (const r of order) {
          await tx.requests.countResponses(r.uuid, 1, 0);
          await pause(1);
        }
      });
      t.equal(fulfilled(outcomes).length, 12, 'every unit committed');
      t.same(runs, runs.map(() => 1), 'none lost a deadlock and ran again');
      const counted = await Promise.all(requests.map((r) => h.b.read.requests.get(r.uuid, false)));
      t.same(counted.map((r) => r?.responsesIssued), requests.map(() => 12), 'every count kept');
    });

    t.test('a card read for update before its status changes: no change is lost', async (t) => {
      const r = request({ status: 4 });
      const c = card(r.uuid, randomBytes(16).toString('hex'));
      await h.a.transaction(async (tx) => {
        await tx.requests.insert(r);
        await tx.smartcards.insert(c);
      });
      // Each unit moves the card one step from the status it read (a naive read loses steps).
      await race(h, 10, async (tx) => {
        const current = (await tx.smartcards.get(c.uuid, 'update'))!;
        await pause(2);
        await tx.smartcards.updateStatus(c.uuid, current.status + 1);
      });
      t.equal((await h.b.read.smartcards.get(c.uuid))?.status, 11, 'ten steps, none lost');
    });

    t.test('a request read with its template and card: each as committed, the card only when it is the request\'s', async (t) => {
      const tpl = template();
      const r = request({ profileTemplateUuid: tpl.uuid });
      const c = card(r.uuid, randomBytes(16).toString('hex'));
      const other = card(randomUUID(), randomBytes(16).toString('hex'));
      await h.a.transaction(async (tx) => {
        await tx.templates.insert(tpl);
        await tx.requests.insert(r);
        await tx.smartcards.insert(c);
        await tx.smartcards.insert(other);
        await tx.requests.bindCard(r.uuid, c.uuid);
      });
      const read = (cardUuid: string) => h.b.read.requests.getWithTemplateAndCard(r.uuid, cardUuid);
      const first = await read(c.uuid);
      t.match(first, { request: { uuid: r.uuid, newSmartcardUuid: c.uuid, status: 4, approvals: [] }, template: { uuid: tpl.uuid, version: 1 }, card: c });
      t.same(first.card, c, 'the card, every field');
      t.same((await read(other.uuid)).card, undefined, "another request's card: none");
      t.same((await read(NIL_UUID)).card, undefined, 'the nil uuid: none');
      t.same(await h.b.read.requests.getWithTemplateAndCard(randomUUID(), c.uuid), {}, 'no such request: nothing');
      t.equal((await read(c.uuid)).template, first.template, 'the cached template while its version stands');
      await h.a.transaction((tx) => tx.templates.update({ ...tpl, name: 'Renamed', version: 2 }));
      t.match((await read(c.uuid)).template, { name: 'Renamed', version: 2 }, 'the new version once it is committed');
      const orphan = request();
      await h.a.transaction((tx) => tx.requests.insert(orphan));
      t.match(await h.b.read.requests.getWithTemplateAndCard(orphan.uuid, NIL_UUID), { request: { uuid: orphan.uuid }, template: undefined }, 'no template row: none');
    });

    t.test('a template read for update: two updates never write one version', async (t) => {
      const tpl = template();
      await h.a.transaction((tx) => tx.templates.insert(tpl));
      await race(h, 8, async (tx) => {
        const current = (await tx.templates.get(tpl.uuid, 'update'))!;
        await pause(2);
        await tx.templates.update({ ...current, version: current.version + 1 });
      });
      t.equal((await h.b.read.templates.get(tpl.uuid))?.version, 9, 'eight versions, one each');
    });

    t.test('a template is deleted only when no request refers to it, however the two race', async (t) => {
      for (let round = 0; round < ROUNDS; round++) {
        const tpl = template();
        await h.a.transaction((tx) => tx.templates.insert(tpl));
        const created: RequestRecord[] = [];
        const outcomes = await race(h, 6, async (tx, i) => {
          if (i === 3) {
            // The domain's deletion (core/domain/templates.ts).
            if (!(await tx.templates.get(tpl.uuid, 'update'))) throw new CmError('NOT_FOUND', 'gone');
            if (await tx.templates.isReferenced(tpl.uuid)) throw new CmError('WRONG_STATE', 'referenced');
            await tx.templates.delete(tpl.uuid);
            return 'deleted';
          }
          // The domain's request creation (core/domain/requests.ts): the template held against deletion.
          if (!(await tx.templates.get(tpl.uuid, 'keyShare'))) throw new CmError('NOT_FOUND', 'gone');
          await pause(3);
          const r = request({ profileTemplateUuid: tpl.uuid });
          await tx.requests.insert(r);
          created.push(r);
          return 'created';
        });
        const deleted = fulfilled(outcomes).some((o) => o.value === 'deleted');
        const referring = (await Promise.all(created.map((r) => h.b.read.requests.get(r.uuid, false)))).filter((r) => r !== undefined);
        t.ok(!deleted || referring.length === 0, `round ${round}: ${deleted ? 'deleted, and no request refers to it' : 'kept, referred to'}`);
        t.equal((await h.b.read.templates.get(tpl.uuid)) === undefined, deleted, 'the template is there exactly when not deleted');
      }
    });

    t.test('certificates by serial: the ones asked about, each as committed', async (t) => {
      const [valid, held, revoked] = [certificate(), certificate({ status: 2, revokedAt: now(), reason: 6 }), certificate()];
      await h.a.transaction(async (tx) => {
        for (const c of [valid, held, revoked]) await tx.certificates.insert(c);
      });
      await h.b.transaction((tx) => tx.certificates.setStatus(revoked.serialHex, 1, '2030-01-01T00:00:00.000Z', 5));
      const found = await h.a.read.certificates.listBySerial([held.serialHex, 'ffff0000', valid.serialHex, revoked.serialHex]);
      const bySerial = new Map(found.map((c) => [c.serialHex, c]));
      t.equal(found.length, 3, 'the three known serials; the unknown one left out');
      t.same(bySerial.get(valid.serialHex), valid, 'a valid certificate, every field as stored');
      t.match(bySerial.get(held.serialHex), { status: 2, reason: 6 }, 'on hold');
      t.match(bySerial.get(revoked.serialHex), { status: 1, revokedAt: '2030-01-01T00:00:00.000Z', reason: 5 }, 'revoked as committed');
      t.same(await h.b.read.certificates.listBySerial([]), [], 'none asked: none');
    });

    t.test('a unit that fails leaves nothing; its error is its own', async (t) => {
      const r = request();
      await t.rejects(
        h.a.transaction(async (tx) => {
          await tx.requests.insert(r);
          throw new CmError('WRONG_STATE', 'no');
        }),
        { code: 'WRONG_STATE' },
      );
      t.equal(await h.a.read.requests.get(r.uuid), undefined, 'nothing written');
      t.equal(await h.a.ping(), true, 'ping');
    });

    t.test('the metrics observer hears each commit with the audit rows it kept', async (t) => {
      seen.commits.length = 0;
      const r = request();
      const kept = h.a.transaction(async (tx) => {
        await tx.requests.insert(r);
        await tx.audit.appendMany([audit('One', r.uuid), audit('Two', r.uuid)]);
      });
      const refused = h.a.transaction(async (tx) => {
        await tx.audit.append(audit('Refused', r.uuid));
        throw new CmError('WRONG_STATE', 'no');
      });
      const [ok, no] = await Promise.allSettled([kept, refused]);
      t.equal(ok.status, 'fulfilled');
      t.match(no, { status: 'rejected', reason: { code: 'WRONG_STATE' } });
      t.equal(seen.commits.reduce((n, c) => n + c.auditRows, 0), 2, 'the kept audit rows, not the refused unit\'s');
      t.ok(seen.commits.every((c) => c.seconds > 0 && c.units >= 1), 'each commit timed, with its units');
      t.equal(seen.failed, 0, 'a refused unit is no failed transaction');
    });

    t.test('recorded deployment facts are kept, not overwritten', async (t) => {
      t.equal(await h.a.transaction((tx) => tx.deployment.record('kcv.9', 'aa')), 'aa');
      t.equal(await h.b.transaction((tx) => tx.deployment.record('kcv.9', 'bb')), 'aa');
    });
  });
}

t.test('postgres: the database down answers UNAVAILABLE, and the store reconnects by itself', async (t) => {
  cluster ??= await startPostgres();
  const store = await PostgresStore.open(await cluster.createDatabase(), vault);
  t.teardown(() => store.close());
  const r = request();
  await store.transaction((tx) => tx.requests.insert(r));
  cluster.stop('fast');
  t.equal(await store.ping(), false, 'ping: false while down');
  await t.rejects(store.transaction((tx) => tx.requests.get(r.uuid)), { code: 'UNAVAILABLE' }, 'a unit: UNAVAILABLE');
  await t.rejects(store.read.requests.get(r.uuid), { code: 'UNAVAILABLE' }, 'a read: UNAVAILABLE');
  cluster.start();
  t.equal(await store.ping(), true, 'ping: true once it is back');
  t.equal((await store.transaction((tx) => tx.requests.get(r.uuid)))?.uuid, r.uuid, 'served again, the committed write kept');

  // A connection lost while the unit runs (the server ends it): UNAVAILABLE, nothing kept.
  const lost = request();
  await t.rejects(
    store.transaction(async (tx) => {
      await tx.requests.insert(lost);
      await tx.smartcards.lockCardId('terminate me');
      const admin = new pg.Client({ connectionString: cluster!.url('postgres') });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_advisory_xact_lock%' AND pid <> pg_backend_pid()");
      await admin.end();
      await tx.requests.get(lost.uuid);
    }),
    { code: 'UNAVAILABLE' },
  );
  t.equal(await store.read.requests.get(lost.uuid), undefined, 'nothing of it kept');
});

t.test('postgres: a database that stops answering (frozen, its connections open): UNAVAILABLE, not a hang; served again', async (t) => {
  cluster ??= await startPostgres();
  const store = await PostgresStore.open(await cluster.createDatabase(), vault, { queryTimeoutMs: 400, connectTimeoutMs: 400 });
  t.teardown(() => store.close());
  const r = request();
  await store.transaction((tx) => tx.requests.insert(r));
  // The pool's connections stay open to a server that reads nothing: only the statement timeout ends the wait.
  cluster.freeze();
  try {
    await t.rejects(store.read.requests.get(r.uuid), { code: 'UNAVAILABLE' }, 'a read: UNAVAILABLE');
    await t.rejects(store.transaction((tx) => tx.requests.patch(r.uuid, { status: 4 })), { code: 'UNAVAILABLE' }, 'a unit: UNAVAILABLE');
    t.equal(await store.ping(), false, 'ping: false (readiness 503)');
  } finally {
    cluster.thaw();
  }
  t.equal(await store.ping(), true, 'ping: true once it answers again');
  t.equal((await store.read.requests.get(r.uuid))?.status, 3, 'served again; the unit that got UNAVAILABLE left nothing');
});

t.test('postgres: a statement the core gave up on stops waiting in the server; a stalled transaction does not keep its locks', async (t) => {
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase();
  const store = await PostgresStore.open(url, vault, { queryTimeoutMs: 400, idleInTransactionMs: 700 });
  t.teardown(() => store.close());
  const r = request();
  await store.transaction((tx) => tx.requests.insert(r));
  // Another core's transaction, as a plain client, without timeouts of its own.
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.teardown(() => other.end());
  const waitingForLocks = async () =>
    Number((await other.query("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).rows[0].n);

  await other.query('BEGIN');
  await other.query('SELECT 1 FROM requests WHERE uuid = $1 FOR UPDATE', [r.uuid]);
  await t.rejects(store.transaction((tx) => tx.requests.lock(r.uuid)), { code: 'UNAVAILABLE' }, 'a unit kept waiting for a lock: UNAVAILABLE');
  let waiting = await waitingForLocks();
  for (let i = 0; i < 20 && waiting > 0; i++) {
    await sleep(100);
    waiting = await waitingForLocks();
  }
  t.equal(waiting, 0, 'its statement does not go on waiting in the server (statement_timeout)');
  await other.query('ROLLBACK');

  // A unit whose core stalls while it holds a row lock: the server ends its session, the lock is
  // free for the others, and the stalled unit learns it was cut off (UNAVAILABLE, nothing kept).
  let resume!: () => void;
  const stalled = new Promise<void>((resolve) => (resume = resolve));
  let locked!: () => void;
  const hasLock = new Promise<void>((resolve) => (locked = resolve));
  const stuck = store.transaction(async (tx) => {
    await tx.requests.lock(r.uuid);
    await tx.requests.patch(r.uuid, { status: 4 });
    locked();
    await stalled;
    await tx.requests.get(r.uuid);
  });
  await hasLock;
  const started = Date.now();
  await other.query('BEGIN');
  await other.query('SELECT 1 FROM requests WHERE uuid = $1 FOR UPDATE', [r.uuid]);
  const waited = Date.now() - started;
  await other.query('ROLLBACK');
  t.ok(waited < 5_000, `the lock was released by the server (${waited} ms)`);
  resume();
  await t.rejects(stuck, { code: 'UNAVAILABLE' }, 'the stalled unit: UNAVAILABLE');
  t.equal((await store.read.requests.get(r.uuid))?.status, 3, 'nothing of it kept');
  t.equal((await store.transaction((tx) => tx.requests.get(r.uuid)))?.uuid, r.uuid, 'the store serves on');
});

t.test('postgres: a unit that keeps losing deadlocks or serialization conflicts is retried, then answered UNAVAILABLE', async (t) => {
  cluster ??= await startPostgres();
  const { seen, observer } = recorder();
  const store = await PostgresStore.open(await cluster.createDatabase(), vault, { observer });
  t.teardown(() => store.close());
  let runs = 0;
  await t.rejects(
    store.transaction(async () => {
      runs++;
      throw Object.assign(new Error(runs % 2 ? 'deadlock detected' : 'could not serialize access'), { code: runs % 2 ? '40P01' : '40001' });
    }),
    { code: 'UNAVAILABLE' },
  );
  t.equal(runs, 10, 'run 10 times');
  t.same([seen.retried, seen.failed, seen.commits.length], [9, 1, 0], 'metrics: 9 retries, then one failed transaction');
});
