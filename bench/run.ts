// `npm run bench`: measures the baselines, seeds its own data, runs every scenario against the
// service in a child process, and prints one table with the targets of issue 5 evaluated on it.
// `--smoke` runs the same thing tiny, in seconds (test/bench-smoke.test.ts). See bench/README.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PEOPLE, benchTemplate, bindCards, createRequests, newChallenge, type Api, type BoundCard } from './api.js';
import { certificateRequest, generateCsrKeys } from './csr.js';
import { machineLine, prepareEnvironment, sourceVersion } from './environment.js';
import { copySqliteDatabase, insertFillerCards, type FillerOptions } from './filler.js';
import { runUnaryLoad } from './grpc-load.js';
import { Bench, failedRows, progress, splitWarmup } from './harness.js';
import { perSecond } from './load-result.js';
import { noopClient } from './noop-proto.js';
import { HelpRequested, parseOptions, USAGE, type Options } from './options.js';
import { siblingScript, type RunningChild } from './processes.js';
import { startPostgres } from './postgres-cluster.js';
import { measureRawSignatures } from './raw-sign.js';
import { measureAuditRows } from './audit-rows.js';
import { evaluateTargets, formatDrift, formatHistograms, formatMemory, formatTable, formatTargets, ROW_ORDER, rowLabels, type RowId } from './report.js';
import {
  authenticationResponseLoad,
  bindCardLoad,
  certificateDataLoad,
  grpcStreamAuthentication,
  grpcUnaryAuthentication,
  readCardLoad,
  serverProposedPinLoad,
  smartcardClient,
} from './scenarios.js';

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
      await bench.local(id, () => measureRawSignatures(env.caKeyPem, threads, p.rawSignSeconds));
    }
  }

  if (bench.wants('auditRows')) {
    progress('durable audit rows in a SqliteStore of their own');
    await bench.local('auditRows', () => measureAuditRows(env.dir, p.rawSignSeconds, p.stream.batchSize));
  }

  await measureBaselines(bench);

  // CSRs for certificatedata, made before the service runs (RSA key generation is slow).
  const certWarmup = Math.max(1, Math.ceil(p.certificates / 10));
  if (bench.wants('cert', 'certToken')) progress(`making ${2 * (p.certificates + certWarmup)} PKCS#10 requests from ${p.csrKeys} RSA-2048 key pairs`);
  const csrKeys = bench.wants('cert', 'certToken') ? await generateCsrKeys(p.csrKeys) : [];
  // One set of CSRs for cert, another for certToken.
  const csrs = Array.from({ length: csrKeys.length ? 2 * (p.certificates + certWarmup) : 0 }, (_, i) => certificateRequest(csrKeys[i % csrKeys.length]!, `Bench card ${i}`));

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
    // service on a copy of the database (a SQLite database serves one core), measured in turns
    // with the pool service.
    // Issue 13: the same route and cards with the master key on a SoftHSM2 token (a third service,
    // on a copy of its own, measured in the same turns), and issuance with the CA key there.
    const copyOfDatabase = (name: string) => {
      const copy = env.databasePath.replace(/\.sqlite$/, `-${name}.sqlite`);
      copySqliteDatabase(env.databasePath, copy);
      return { CM_DATABASE: copy };
    };
    const tokenEnv = bench.wants('authToken', 'certToken') ? env.tokenEnv() : undefined;
    if (bench.wants('authToken', 'certToken') && !tokenEnv) progress('SoftHSM2 or OpenSC is not installed: the token rows are not run');
    const withTokenService = (work: (token?: { child: RunningChild; api: { agent: Api } }) => Promise<void>) =>
      tokenEnv
        ? bench.withService('service-token', 'pool', (tokenChild, tokenApi) => work({ child: tokenChild, api: tokenApi }), { ...tokenEnv, ...copyOfDatabase('token') })
        : work();
    await withTokenService(async (token) => {
      const tokenChild = token?.child;
      if (bench.wants('auth', 'authInline', 'authToken')) {
        await bench.withService(
          'service-inline',
          'inline',
          async (inline) => {
            await bench.interleaved([
              { id: 'auth', child, load: authenticationResponseLoad(target, openCards, challenge) },
              { id: 'authInline', child: inline, load: authenticationResponseLoad(await bench.httpTarget(inline), openCards, challenge) },
              ...(tokenChild ? [{ id: 'authToken' as const, child: tokenChild, load: authenticationResponseLoad(await bench.httpTarget(tokenChild), openCards, challenge) }] : []),
            ]);
          },
          copyOfDatabase('inline'),
        );
      }
      if (token && bench.wants('certToken')) {
        await measureCertificates(bench, 'certToken', token.api, token.child, templates.responses, csrs.slice(p.certificates + certWarmup));
      }
    });

    const client = smartcardClient(`127.0.0.1:${child.ports.grpc}`);
    try {
      progress(`grpcUnary: ${p.warmupSeconds} s warm-up, ${p.seconds} s measured`);
      await bench.timed('grpcUnary', child, (seconds) => grpcUnaryAuthentication(client, target.token, openCards, challenge, p.connections, seconds));
      progress(`grpcStream: ${p.stream.streams} streams x ${p.stream.batches} batches of ${p.stream.batchSize} items in flight, ${p.warmupSeconds} s warm-up, ${p.seconds} s measured`);
      await bench.timed('grpcStream', child, (seconds) =>
        grpcStreamAuthentication(client, target.token, openCards, challenge, p.stream, seconds),
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

    if (bench.wants('cert')) await measureCertificates(bench, 'cert', api, child, templates.responses, csrs.slice(0, p.certificates + certWarmup));
  });

  await runScale(bench, filler, bindRequestsForLarge, bindWarmup);
  await runPostgres(bench, challenge);

  // The machine's speed can change during a run (these are shared VMs): the baselines again.
  progress('the baselines again, to see whether the machine changed speed during the run');
  bench.phase = 'end';
  await measureBaselines(bench, false);
}

/**
 * The authenticationresponse, bind and read scenarios on PostgreSQL (a throwaway cluster, fsync
 * on, in a database of its own): one core (the same service process as the SQLite rows), then two
 * cores behind one gateway (that service's gateway balancing over its own core and a second core
 * process; the server CPU is both processes'). PostgreSQL's own processes count as other processes.
 */
async function runPostgres(bench: Bench, challenge: string): Promise<void> {
  const rows = { one: { auth: 'pgAuth1', bind: 'pgBind1', read: 'pgRead1' }, two: { auth: 'pgAuth2', bind: 'pgBind2', read: 'pgRead2' } } as const;
  if (!bench.wants(...Object.values(rows.one), ...Object.values(rows.two))) return;
  progress('starting a throwaway PostgreSQL cluster (fsync on)');
  const cluster = await startPostgres({ fsync: true });
  try {
    const pg = { CM_DATABASE: await cluster.createDatabase() };
    if (bench.wants(...Object.values(rows.one))) {
      await bench.withService('service-pg', 'pool', (child, api) => postgresRows(bench, child, api, challenge, rows.one), pg);
    }
    if (bench.wants(...Object.values(rows.two))) {
      await bench.withChild('core-pg', siblingScript('service'), [], bench.env.serviceEnv({ ...pg, CM_BENCH_ROLE: 'core' }), (second) =>
        bench.withService(
          'service-pg-2',
          'pool',
          (child, api) => postgresRows(bench, { ...child, alsoPids: [second.pid] }, api, challenge, rows.two),
          { ...pg, CM_BENCH_MORE_CORES: `127.0.0.1:${second.ports.grpc}` },
        ),
      );
    }
  } finally {
    cluster.close();
  }
}

async function postgresRows(
  bench: Bench,
  child: RunningChild,
  api: { admin: Api; agent: Api },
  challenge: string,
  ids: { auth: RowId; bind: RowId; read: RowId },
): Promise<void> {
  const p = bench.profile;
  const target = await bench.httpTarget(child);
  progress(`seeding ${p.openRequests} open requests with bound cards on PostgreSQL`);
  const template = await api.admin.create('/profiletemplates', benchTemplate('Bench on PostgreSQL: 3DES, diversified admin keys', 'ServerDistributed'));
  const open = await bindCards(api.agent, await createRequests(api.agent, template, p.openRequests));
  await bench.timedHttp(ids.auth, child, authenticationResponseLoad(target, open, challenge));
  await bench.timedHttp(ids.read, child, readCardLoad(target, open.map((c) => c.smartcardUuid)));
  if (bench.wants(ids.bind)) {
    const warmup = Math.max(1, Math.ceil(p.binds / 10));
    const [warm, measured] = splitWarmup(await createRequests(api.agent, template, p.binds + warmup), warmup);
    await bench.counted(ids.bind, child, bindCardLoad(target, warm), bindCardLoad(target, measured));
  }
}

/** certificatedata on `child`: one bound card and one CSR per call, a tenth of them warm-up. */
async function measureCertificates(bench: Bench, id: 'cert' | 'certToken', api: { agent: Api }, child: RunningChild, templateUuid: string, csrs: string[]): Promise<void> {
  const warmup = Math.max(1, Math.ceil(bench.profile.certificates / 10));
  progress(`seeding ${csrs.length} Executing requests with Assigned cards`);
  const cards = await bindCards(api.agent, await createRequests(api.agent, templateUuid, csrs.length));
  const [warmupCards, measuredCards] = splitWarmup(cards, warmup);
  const target = await bench.httpTarget(child);
  await bench.counted(id, child, certificateDataLoad(target, warmupCards, csrs.slice(0, warmup)), certificateDataLoad(target, measuredCards, csrs.slice(warmup)));
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
    'peak RSS: of the server process during the window. server CPU us/op: the CPU time the server process used in the window',
    '(all its threads: event loop, worker threads, GC helpers) per successful operation. other procs CPU %: what other processes on the machine used',
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
    formatMemory(bench.memory),
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
