// What the gateway's share of issue 14 is made of. `npm run bench` evaluates it as
// (REST authenticationresponse - gRPC GetAuthenticationResponse) - (REST -> gRPC no-op - direct
// gRPC no-op), from rows in which the real core works behind the gateway. Here the same formula
// is evaluated with a core that does nothing (bench/stub-core.ts), and split:
//
//   noop REST, noop gRPC      the baselines (bench/baseline-server.ts), as in the main bench;
//   forward REST              a bare Fastify route making the gateway's call to the stub: the same
//                             request message, metadata and deadline, the libraries' defaults;
//   gateway REST, stub gRPC   the service's own gateway in front of the stub, and the stub called
//                             directly with the bench's gRPC driver, as the main bench's gRPC row
//                             calls the core (the token as metadata; no deadline, no correlation id).
//
// The stub's two processes set the service's heap growing percent (common/heap.ts) as the service
// does; the no-op baseline runs with Node's defaults, as in the main bench.
//
// Every row is measured in alternating turns (all rows, then all rows again), so a change of the
// machine's speed hits them alike; the server CPU per call is the server process's (all threads).
//
//   node dist/bench/gateway-share.js [--seconds S] [--rounds R] [--warmup S] [--connections C] [--cpu-prof DIR]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadCmProto } from '../proto/load.js';
import { BENCH_ATR, newCardId, newChallenge, type BoundCard } from './api.js';
import { cpuWindow } from './cpu-noise.js';
import { runUnaryLoad } from './grpc-load.js';
import { runHttpLoad, type HttpLoad } from './http-load.js';
import type { LoadResult } from './load-result.js';
import { noopClient } from './noop-proto.js';
import { siblingScript, startChild, type RunningChild } from './processes.js';
import { authenticationResponseLoad } from './scenarios.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    'cpu-prof': { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const warmupSeconds = Number(args.warmup);
const rounds = Number(args.rounds);
const connections = Number(args.connections);

type RowId = 'noopRest' | 'noopGrpc' | 'forwardRest' | 'gatewayRest' | 'stubGrpc';

const LABELS: Record<RowId, string> = {
  noopRest: 'noop REST (Fastify -> grpc-js no-op)',
  noopGrpc: 'noop gRPC, direct',
  forwardRest: 'forward REST (bare route, the real call, stub core)',
  gatewayRest: 'gateway REST (the service gateway, stub core)',
  stubGrpc: 'stub core gRPC, direct (GetAuthenticationResponse)',
};

interface Tally {
  ok: number;
  errors: number;
  seconds: number;
  cpuSeconds: number;
  perTurn: number[];
}

function log(message: string): void {
  process.stderr.write(`[gateway-share] ${message}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cm-gateway-share-'));
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CM_'))), CM_LOG_LEVEL: 'warn' };
  // --cpu-prof DIR: each server process profiled (main thread and workers), one folder per process.
  const start = (name: string, script: string, mode: string) =>
    startChild(name, siblingScript(script), {
      env,
      args: [mode],
      logFile: join(dir, `${name}.log`),
      nodeFlags: args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(args['cpu-prof'], name)}`] : [],
    });
  const children: RunningChild[] = [];
  const clients: grpc.Client[] = [];
  let failed = true;
  try {
    const noop = await start('baseline-noop', 'baseline-server', 'noop');
    children.push(noop);
    const forward = await start('stub-forward', 'stub-core', 'forward');
    children.push(forward);
    const gateway = await start('stub-gateway', 'stub-core', 'gateway');
    children.push(gateway);

    // Any well-formed bearer token: the gateway checks only the header's shape, the stub nothing.
    const token = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(`{"sub":"${randomUUID()}"}`).toString('base64url')}.${'s'.repeat(43)}`;
    const cards: BoundCard[] = Array.from({ length: 64 }, () => ({ requestUuid: randomUUID(), smartcardUuid: randomUUID(), cardId: newCardId() }));
    const challenge = newChallenge();
    const restLoad = (child: RunningChild) => authenticationResponseLoad({ url: `http://127.0.0.1:${child.ports.http}`, token, connections }, cards, challenge);
    const noopRest: Omit<HttpLoad, 'durationSeconds'> = { url: `http://127.0.0.1:${noop.ports.http}`, connections, requests: [{ method: 'GET', path: '/noop' }] };

    const pingClient = noopClient(`127.0.0.1:${noop.ports.grpc}`);
    const v1 = loadCmProto().proto.cm.v1;
    const stubClient = new v1.SmartcardService(`127.0.0.1:${gateway.ports.grpc}`, grpc.credentials.createInsecure());
    clients.push(pingClient, stubClient);
    const getAuthenticationResponse = (stubClient as unknown as Record<string, (...a: unknown[]) => unknown>).GetAuthenticationResponse!;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    let item = 0;
    const authItem = () => {
      const card = cards[item++ % cards.length]!;
      return { requestUuid: card.requestUuid, smartcardUuid: card.smartcardUuid, cardId: card.cardId, challenge, diversified: item % 2 === 0, atr: BENCH_ATR };
    };

    const rows: { id: RowId; child: RunningChild; run(s: number): Promise<LoadResult> }[] = [
      { id: 'noopRest', child: noop, run: (s) => runHttpLoad({ ...noopRest, durationSeconds: s }) },
      {
        id: 'noopGrpc',
        child: noop,
        run: (s) => runUnaryLoad({ call: (r, m, cb) => pingClient.Ping(r, m, cb), request: () => ({}), metadata: new grpc.Metadata(), concurrency: connections, durationSeconds: s }),
      },
      { id: 'forwardRest', child: forward, run: (s) => runHttpLoad({ ...restLoad(forward), durationSeconds: s }) },
      { id: 'gatewayRest', child: gateway, run: (s) => runHttpLoad({ ...restLoad(gateway), durationSeconds: s }) },
      {
        id: 'stubGrpc',
        child: gateway,
        run: (s) =>
          runUnaryLoad({
            call: (r, m, cb) => getAuthenticationResponse.call(stubClient, r, m, cb),
            request: authItem,
            metadata,
            concurrency: connections,
            durationSeconds: s,
          }),
      },
    ];

    log(`warm-up: ${warmupSeconds} s per row; then ${rounds} turns of ${seconds} s per row (logs in ${dir})`);
    for (const row of rows) await row.run(warmupSeconds);
    const tallies = new Map<RowId, Tally>(rows.map((r) => [r.id, { ok: 0, errors: 0, seconds: 0, cpuSeconds: 0, perTurn: [] }]));
    for (let round = 1; round <= rounds; round++) {
      for (const row of rows) {
        const window = cpuWindow([row.child.pid]);
        const r = await row.run(seconds);
        const cpu = window().serverSeconds ?? 0;
        const t = tallies.get(row.id)!;
        t.ok += r.ok;
        t.errors += r.errors;
        t.seconds += r.seconds;
        t.cpuSeconds += cpu;
        t.perTurn.push((cpu / Math.max(1, r.ok)) * 1e6);
        log(`turn ${round}, ${row.id}: ${Math.round(r.ok / r.seconds)}/s, ${Math.round((cpu / Math.max(1, r.ok)) * 1e6)} us of server CPU per call${r.errors ? `, ${r.errors} errors (${r.errorSamples.join('; ')})` : ''}`);
      }
    }
    report(tallies);
    failed = false;
  } finally {
    for (const client of clients) client.close();
    for (const child of children) await child.stop();
    // The servers' logs are kept when something failed.
    if (failed) log(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function report(tallies: Map<RowId, Tally>): void {
  const us = (id: RowId) => {
    const t = tallies.get(id)!;
    return (t.cpuSeconds / Math.max(1, t.ok)) * 1e6;
  };
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    `| row | calls/s | server CPU us/call (all turns) | per turn | errors |`,
    `| --- | ---: | ---: | --- | ---: |`,
    ...[...tallies].map(
      ([id, t]) => `| ${LABELS[id]} | ${fmt(t.ok / t.seconds)} | ${fmt(us(id))} | ${t.perTurn.map(fmt).join(', ')} | ${t.errors} |`,
    ),
  ];
  const hop = us('noopRest') - us('noopGrpc');
  const share = us('gatewayRest') - us('stubGrpc') - hop;
  const content = us('forwardRest') - us('stubGrpc') - hop;
  const stack = us('gatewayRest') - us('forwardRest');
  lines.push(
    '',
    `the gateway's share with a core that does nothing, (gateway REST - stub gRPC) - (noop REST - noop gRPC): ${fmt(share)} us`,
    `  of which the call's content (message, metadata, deadline, its answer), (forward REST - stub gRPC) - (noop REST - noop gRPC): ${fmt(content)} us`,
    `  of which the gateway's own stack over a bare route (hooks, schemas, conventions, metrics, logging), gateway REST - forward REST: ${fmt(stack)} us`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
