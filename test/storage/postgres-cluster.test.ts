// The tests' throwaway PostgreSQL cluster (bench/postgres-cluster.ts) is stopped and removed when
// the process holding it is ended by a signal, not only when it exits: tap ends a file that runs
// out of time with SIGALRM, a user's Ctrl-C is SIGINT, a supervisor's stop SIGTERM. Before, a
// cluster outlived its test process in each of these cases.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { childEnv } from '../support/core-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const HOLDER = `
import { startPostgres } from './dist/bench/postgres-cluster.js';
const cluster = await startPostgres();
console.log(JSON.stringify({ dir: cluster.dir }));
setInterval(() => {}, 1000);
`;

/** Running, not ended: a stopped postmaster may stay a zombie until whoever adopted it reaps it. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

for (const signal of ['SIGTERM', 'SIGINT', 'SIGALRM'] as const) {
  t.test(`a cluster is stopped and removed when its process gets ${signal}`, async (t) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
    const dir = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { dir: string }).dir);
      });
      void ended.then(() => reject(new Error(`the holder ended before its cluster started: ${out}`)));
    });
    const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    t.ok(alive(postmaster), 'the postmaster runs while its holder lives');

    child.kill(signal);
    const exit = await ended;
    t.equal(exit.signal, signal, 'the holder still ends by the signal (not a made-up exit code)');
    t.notOk(alive(postmaster), 'the postmaster is gone');
    t.notOk(existsSync(dir), 'the cluster folder is removed');
  });
}
