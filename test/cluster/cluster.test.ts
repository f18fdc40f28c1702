// SPEC 12 across processes: two core processes and two gateways on one PostgreSQL database
// (fsync on: this file kills processes and checks what was acknowledged). The races of section 12
// through both gateways, a core killed with -9 while the other serves, the database stopped and
// started under load, a core killed under write load with every acknowledged bind and its audit
// row present afterwards, and the start-up refusals.

import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { createSelfSignedCa } from '../../core/ca/ca-store.js';
import { MIGRATIONS } from '../../core/storage/migrations.js';
import { buildGateway } from '../../gateway/app.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { idOf, q } from '../support/api.js';
import { JWT_SECRET, MASTER_KEY_V1, mintToken } from '../support/core-harness.js';
import { refusedCore, spawnCore, type CoreProcess } from '../support/core-process.js';
import { DbSnapshots } from '../support/db-snapshot.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { startPostgres } from '../support/postgres.js';
import { BASE, httpCaller, type HttpCall } from '../support/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'cm-cluster-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const writeCa = (name: string) => {
  const ca = createSelfSignedCa({ commonName: `CM Cluster ${name}` });
  writeFileSync(join(dir, `${name}.crt`), ca.certPem);
  writeFileSync(join(dir, `${name}.key`), ca.keyPem, { mode: 0o600 });
  return { CM_CA_CERT: join(dir, `${name}.crt`), CM_CA_KEY: join(dir, `${name}.key`) };
};
const CA = writeCa('ca');

const cluster = await startPostgres({ fsync: true });
t.teardown(() => cluster.close());
const database = await cluster.createDatabase();

const coreEnv = (extra: Record<string, string> = {}) => ({
  CM_DATABASE: database,
  CM_JWT_SECRET: JWT_SECRET,
  CM_MASTER_KEYS: `1:${MASTER_KEY_V1}`,
  CM_WORKERS: '1',
  CM_MAX_RESPONSES_PER_REQUEST: '5',
  ...CA,
  ...extra,
});

// Two cores started at the same moment on an empty database: the migrations run once.
const cores: CoreProcess[] = await Promise.all([spawnCore(coreEnv()), spawnCore(coreEnv())]);
t.teardown(() => Promise.all(cores.map((c) => c.kill9())));

async function startGateway(): Promise<{ gateway: FastifyInstance; http: HttpCall }> {
  const config = loadGatewayConfig({
    CM_HTTP_HOST: '127.0.0.1',
    CM_HTTP_PORT: '0',
    CM_CORE_ADDRESS: cores.map((c) => c.address).join(','),
    CM_LOG_LEVEL: 'silent',
  });
  const gateway = await buildGateway({ config });
  await gateway.listen({ host: '127.0.0.1', port: 0 });
  const address = gateway.server.address();
  return { gateway, http: httpCaller(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`) };
}
const gateways = [await startGateway(), await startGateway()];
t.teardown(() => Promise.all(gateways.map((g) => g.gateway.close())));
/** Call i goes through gateway i % 2. */
const via = (i: number) => gateways[i % 2]!.http;

const db = await DbSnapshots.open(database);
t.teardown(() => db.close());

const admin = await mintToken(USERS.admin);
const agent = await mintToken(USERS.agent);
const approvers = [await mintToken(USERS.approver), await mintToken(USERS.approver2)];

async function create(path: string, body: object, token: string, i = 0): Promise<string> {
  const res = await via(i)('POST', `${BASE}${path}`, { token, body });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return idOf(res.body);
}
const plain = await create('/profiletemplates', restTemplate({ name: 'Cluster', diversify: false }), admin);
const twoApprovals = await create('/profiletemplates', restTemplate({ name: 'Cluster, two approvals', approvals: 2 }), admin, 1);
const newRequest = (i = 0, template = plain) => create('/requests', { profiletemplateuuid: template, type: 'Enroll', target: randomUUID() }, agent, i);
const statuses = (answers: { status: number }[]) => answers.map((a) => a.status).sort();

t.test('the migrations ran once, though two cores started together', async (t) => {
  const rows = await db.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  t.same(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
});

t.test('the races of SPEC 12 across two cores and two gateways', async (t) => {
  t.test('20 binds of one cardid: one wins', async (t) => {
    const requests = await Promise.all(Array.from({ length: 20 }, (_, i) => newRequest(i)));
    const cardid = randomUUID();
    const answers = await Promise.all(requests.map((r, i) => via(i)('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: r, cardid } })));
    t.same(statuses(answers), [201, ...Array(19).fill(409)]);
    t.equal((await db.rows('SELECT uuid FROM smartcards WHERE card_id = ?', cardid.replace(/-/g, ''))).length, 1, 'one card record');
  });

  t.test('10 binds of one request: one wins', async (t) => {
    const request = await newRequest();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => via(i)('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: request, cardid: randomUUID() } })),
    );
    t.same(statuses(answers), [201, ...Array(9).fill(409)]);
    t.equal((await db.rows('SELECT uuid FROM smartcards WHERE request_uuid = ?', request)).length, 1, 'one card record');
  });

  t.test('20 challenge-responses under a limit of 5; 10 server PIN reads answer one PIN', async (t) => {
    const request = await newRequest();
    const cardid = randomUUID();
    const card = await create('/smartcards', { requestid: request, cardid }, agent);
    const base = `${BASE}/requests/${request}/smartcards/${card}`;
    const challenge = randomBytes(8).toString('base64');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => via(i)('GET', `${base}/authenticationresponse?${q({ cardid, challenge, diversified: 'false' })}`, { token: agent })),
    );
    t.equal(answers.filter((a) => a.status === 200).length, 5, '5 answered');
    t.ok(answers.every((a) => a.status === 200 || a.body?.Code === 'LIMIT_EXCEEDED'), 'the others: LIMIT_EXCEEDED');
    t.equal((await db.row<{ n: number }>('SELECT responses_issued AS n FROM requests WHERE uuid = ?', request))?.n, 5);

    const pins = await Promise.all(
      Array.from({ length: 10 }, (_, i) => via(i)('GET', `${base}/serverproposedpin?${q({ cardid, challenge })}`, { token: agent })),
    );
    t.ok(pins.every((p) => p.status === 200), 'every PIN read answered');
    t.equal(new Set(pins.map((p) => p.body)).size, 1, 'one PIN');
  });

  t.test('two approvers at once: Approved', async (t) => {
    for (let round = 0; round < 3; round++) {
      const request = await create('/requests', { profiletemplateuuid: twoApprovals, type: 'Enroll', target: randomUUID() }, agent);
      const answers = await Promise.all(approvers.map((token, i) => via(i)('PUT', `${BASE}/requests/${request}`, { token, body: { status: 'Approved' } })));
      t.same(statuses(answers), [200, 200], `round ${round}: both decisions taken`);
      t.equal((await db.row<{ status: number }>('SELECT status FROM requests WHERE uuid = ?', request))?.status, 3, 'Approved');
    }
  });
});

t.test('64 binds, then 64 challenge-responses, at once across two cores: every one answered, none 503', async (t) => {
  // Ordinary contention is absorbed by the cores' locks: no call runs out of retries.
  const requests = await Promise.all(Array.from({ length: 64 }, (_, i) => newRequest(i)));
  const cardids = requests.map(() => randomUUID());
  const binds = await Promise.all(requests.map((r, i) => via(i)('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: r, cardid: cardids[i] } })));
  if (!t.same(statuses(binds), Array(64).fill(201), 'every bind: 201')) return;
  const cards = binds.map((b) => idOf(b.body));
  for (const [i, r] of requests.entries()) {
    const row = await db.row<{ card: string; status: number; cardId: string; audited: number }>(
      `SELECT r.new_smartcard_uuid AS card, r.status, c.card_id AS "cardId",
         (SELECT COUNT(*) FROM audit_log a WHERE a.action = 'AssignSmartcard' AND a.request_uuid = r.uuid) AS audited
       FROM requests r JOIN smartcards c ON c.request_uuid = r.uuid WHERE r.uuid = ?`,
      r,
    );
    if (row?.card !== cards[i] || row.status !== 4 || row.cardId !== cardids[i]!.replace(/-/g, '') || Number(row.audited) !== 1) {
      t.fail(`request ${r}: ${JSON.stringify(row)}`);
    }
  }
  t.pass('each request Executing, bound to the one card record of its cardid, one audit row each');

  // Four answers on each of 16 requests, all at once (the limit is 5): they wait on their request's row, none fails.
  const challenge = randomBytes(8).toString('base64');
  const answers = await Promise.all(
    Array.from({ length: 64 }, (_, i) => {
      const k = i % 16;
      const query = q({ cardid: cardids[k]!, challenge, diversified: 'false' });
      return via(i)('GET', `${BASE}/requests/${requests[k]}/smartcards/${cards[k]}/authenticationresponse?${query}`, { token: agent });
    }),
  );
  t.same(statuses(answers), Array(64).fill(200), 'every challenge-response: 200');
  const counted = await db.rows<{ n: number }>(
    `SELECT responses_issued AS n FROM requests WHERE uuid IN (${requests.slice(0, 16).map(() => '?').join(', ')})`,
    ...requests.slice(0, 16),
  );
  t.same(counted.map((r) => r.n), Array(16).fill(4), 'four counted on each request');
});

t.test('the database stopped and started under load: 503s while down, no 500, served again', async (t) => {
  const seen = new Map<number, number>();
  let running = true;
  const load = Promise.all(
    Array.from({ length: 4 }, async (_, worker) => {
      for (let i = worker; running; i += 4) {
        const answer = i % 2
          ? await via(i)('GET', `${BASE}/profiletemplates/${plain}`, { token: admin })
          : await via(i)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } });
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        if (answer.status === 503) await new Promise((r) => setTimeout(r, 50));
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  cluster.stop('fast');
  let ready = 0;
  for (let i = 0; i < 40 && ready !== 503; i++) {
    ready = (await via(0)('GET', '/readyz')).status;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(ready, 503, '/readyz: 503 while the database is down');
  const during = (await via(1)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } }));
  t.equal(during.status, 503, 'a write while down: 503');
  t.equal(during.body?.Code, 'UNAVAILABLE');
  cluster.start();
  let served = 0;
  for (let i = 0; i < 80 && served !== 201; i++) {
    served = (await via(i)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } })).status;
    if (served !== 201) await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(served, 201, 'served again without a restart');
  running = false;
  await load;
  t.notOk(seen.has(500), `no 500 (seen: ${JSON.stringify([...seen])})`);
  t.ok([...seen.keys()].every((s) => s === 200 || s === 201 || s === 503), 'only successes and 503s');
});

t.test('the database frozen (connections open, nothing answered): 503 within the deadline, /readyz 503, served again', async (t) => {
  const write = (i: number) => via(i)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } });
  t.equal((await write(0)).status, 201, 'served before');
  cluster.freeze();
  try {
    // The gateway's deadline is 10 s: a hang would answer 504 DEADLINE_EXCEEDED.
    const during = await Promise.all([write(0), write(1), via(1)('GET', `${BASE}/profiletemplates/${plain}`, { token: admin })]);
    t.same(during.map((a) => [a.status, a.body?.Code]), Array(3).fill([503, 'UNAVAILABLE']), 'writes and a read: 503 UNAVAILABLE');
    let ready = 0;
    for (let i = 0; i < 40 && ready !== 503; i++) {
      ready = (await via(i)('GET', '/readyz')).status;
      if (ready !== 503) await new Promise((r) => setTimeout(r, 250));
    }
    t.equal(ready, 503, '/readyz: 503 while it does not answer');
  } finally {
    cluster.thaw();
  }
  let served = 0;
  for (let i = 0; i < 40 && served !== 201; i++) {
    served = (await write(i)).status;
    if (served !== 201) await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(served, 201, 'served again without a restart');
});

t.test('a core killed with -9 under write load: the other serves, every acknowledged bind and its audit row are there', async (t) => {
  const requests = await Promise.all(Array.from({ length: 40 }, (_, i) => newRequest(i)));
  const acknowledged: string[] = [];
  const binds = requests.map(async (r, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 15));
    const answer = await via(i)('POST', `${BASE}/smartcards`, { token: agent, body: { requestid: r, cardid: randomUUID() } });
    if (answer.status === 201) acknowledged.push(idOf(answer.body));
    return answer.status;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await cores[1]!.kill9();
  const answered = await Promise.all(binds);
  t.ok(answered.every((s) => s === 201 || s === 503), `binds answered 201 or 503 (${JSON.stringify(statuses(answered.map((status) => ({ status }))))})`);
  t.ok(acknowledged.length > 0, `${acknowledged.length} binds acknowledged`);
  for (const card of acknowledged) {
    const stored = await db.row('SELECT uuid FROM smartcards WHERE uuid = ?', card);
    const audited = await db.row("SELECT id FROM audit_log WHERE action = 'AssignSmartcard' AND smartcard_uuid = ?", card);
    if (!stored || !audited) t.fail(`bind ${card} acknowledged but ${stored ? 'not audited' : 'not stored'}`);
  }
  t.pass('every acknowledged bind is stored and audited');

  const reads = await Promise.all(Array.from({ length: 10 }, (_, i) => via(i)('GET', `${BASE}/profiletemplates/${plain}`, { token: admin })));
  t.same(statuses(reads), Array(10).fill(200), 'reads through both gateways: the live core answers');
  const writes = [];
  for (let i = 0; i < 6; i++) writes.push((await via(i)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } })).status);
  t.same(writes, Array(6).fill(201), 'new writes go to the live core');
});

t.test('a core restarted on its address under load: the gateways send it calls again, no 500', async (t) => {
  // Core 1 was killed above; it comes back on its port while calls run, then core 0 stops.
  const seen = new Map<number, number>();
  let running = true;
  const load = Promise.all(
    Array.from({ length: 4 }, async (_, worker) => {
      for (let i = worker; running; i += 4) {
        const answer = i % 2
          ? await via(i)('GET', `${BASE}/profiletemplates/${plain}`, { token: admin })
          : await via(i)('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } });
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, answer.status === 503 ? 50 : 10));
      }
    }),
  );
  cores[1] = await spawnCore(coreEnv({ CM_GRPC_PORT: String(cores[1]!.port) }));
  const started = Date.now();
  await cores[0]!.stop();
  for (const [g, { http }] of gateways.entries()) {
    let served = 0;
    for (let i = 0; i < 80 && served !== 201; i++) {
      served = (await http('POST', `${BASE}/requests`, { token: agent, body: { profiletemplateuuid: plain, type: 'Enroll', target: randomUUID() } })).status;
      if (served !== 201) await new Promise((r) => setTimeout(r, 250));
    }
    t.equal(served, 201, `gateway ${g}: the restarted core serves, core 0 stopped (after ${Date.now() - started} ms)`);
  }
  running = false;
  await load;
  t.notOk(seen.has(500), `no 500 (seen: ${JSON.stringify([...seen])})`);
  t.ok([...seen.keys()].every((s) => s === 200 || s === 201 || s === 503), 'only successes and 503s');
});

t.test('start-up refusals', async (t) => {
  const otherCa = await refusedCore(coreEnv(writeCa('other')));
  t.equal(otherCa.code, 1, 'another CA: exit 1');
  t.match(otherCa.output, /CA certificate's SHA-256 fingerprint is [0-9a-f]{64}, the database's CA is [0-9a-f]{64}/);

  const otherKey = randomBytes(32).toString('hex');
  const key = await refusedCore(coreEnv({ CM_MASTER_KEYS: `1:${otherKey}` }));
  t.equal(key.code, 1, 'another key for version 1: exit 1');
  t.match(key.output, /master key version 1 has key check value [0-9a-f]{16}, the database recorded [0-9a-f]{16}/);
  t.notOk(key.output.includes(otherKey) || key.output.includes(MASTER_KEY_V1), 'no key printed');

  const newer = await cluster.createDatabase();
  const client = new pg.Client({ connectionString: newer });
  await client.connect();
  await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  await client.query("INSERT INTO schema_migrations VALUES (999, 'then')");
  await client.end();
  const old = await refusedCore(coreEnv({ CM_DATABASE: newer }));
  t.equal(old.code, 1, 'a core older than the schema: exit 1');
  t.match(old.output, /schema is at version 999/);

  const sqlite = join(dir, 'one.sqlite');
  const first = await spawnCore(coreEnv({ CM_DATABASE: sqlite }));
  t.teardown(() => first.stop());
  const second = await refusedCore(coreEnv({ CM_DATABASE: sqlite }));
  t.equal(second.code, 1, 'a second core on one SQLite file: exit 1');
  t.match(second.output, /another core process uses the SQLite database .* PostgreSQL/);
});
