// A throwaway PostgreSQL cluster for a test file or a bench run: initdb'd as the `postgres` user (initdb refuses
// root) in a temporary folder, listening on 127.0.0.1 and a free port (its socket in that folder),
// stopped and removed when the file ends, even when a test failed, the process exits early or is
// ended by a signal (SIGTERM, SIGINT, SIGHUP, or tap's SIGALRM on a file's timeout; SIGKILL
// cannot be caught).
// `fsync` is off unless asked for: only the durability tests need it. Each test takes a fresh
// database of its own (`createDatabase`), which costs a CREATE DATABASE, not a cluster.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { onExit } from 'signal-exit';

/** The newest PostgreSQL installed from Debian's packages (.ci/run installs it when missing). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does)');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

export interface PgCluster {
  port: number;
  dir: string;
  /** The URL of a database in the cluster. */
  url(database: string): string;
  /** A fresh, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** `pg_ctl stop` (`immediate`: as after a crash; `fast`: connections dropped). */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /**
   * Freezes the server (SIGSTOP to the postmaster and each of its processes): it keeps its
   * connections open and answers nothing, as behind a network that drops packets. `thaw` resumes.
   */
  freeze(): void;
  thaw(): void;
  /** Stops the cluster and removes its folder. */
  close(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const asPostgres = (command: string, args: string[]) =>
  execFileSync('runuser', ['-u', 'postgres', '--', join(postgresBin(), command), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });

let databases = 0;

export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cm-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  chownSync(dir, uid, uid);
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  asPostgres('initdb', ['-D', data, '-U', 'app', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);

  let port = 0;
  let running = false;
  const settings = () =>
    [`-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}`, '-c max_connections=200', options.fsync ? '' : '-c fsync=off -c synchronous_commit=on'].join(' ');
  const start = () => {
    asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'pg.log'), '-w', '-t', '30', '-o', settings(), 'start']);
    running = true;
  };
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    running = false;
    asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
  };
  // A port another test took between our probe and the start: probe again.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      start();
      break;
    } catch (err) {
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  /** The postmaster (data/postmaster.pid) and its children (the ppid field of /proc/PID/stat). */
  const processes = (): number[] => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const parentOf = (pid: string) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      } catch {
        return 0; // ended meanwhile
      }
    };
    return [postmaster, ...readdirSync('/proc').filter((d) => /^\d+$/.test(d) && parentOf(d) === postmaster).map(Number)];
  };
  let frozen: number[] = [];
  const thaw = () => {
    for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT');
  };
  const freeze = () => {
    thaw();
    frozen = processes();
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  };

  let closed = false;
  // signal-exit runs this on a normal exit and on a fatal signal, then lets the signal end the
  // process as it would have without us.
  let removeExitHook = () => {};
  const close = () => {
    if (closed) return;
    closed = true;
    removeExitHook();
    thaw();
    try {
      stop('immediate');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  removeExitHook = onExit(() => close());

  const url = (database: string) => `postgres://app@127.0.0.1:${port}/${database}`;
  return {
    port,
    dir,
    url,
    async createDatabase() {
      const name = `cm_${process.pid}_${++databases}`;
      const admin = new pg.Client({ connectionString: url('postgres') });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    stop,
    start,
    freeze,
    thaw,
    close,
  };
}
