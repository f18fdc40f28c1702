// The servers under test run in child processes, so that the load generator's CPU and memory
// are not counted as theirs. A child announces its ports over the IPC channel once listening,
// and stops cleanly on SIGTERM (or when the bench process goes away).
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { extname } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { RssSampler } from './rss.js';

export type Ports = Record<string, number>;

interface ReadyMessage {
  type: 'ready';
  ports: Ports;
}

interface FailedMessage {
  type: 'failed';
  message: string;
}

interface MemoryMessage {
  type: 'memory';
  usage: NodeJS.MemoryUsage;
}

interface SnapshotMessage {
  type: 'heap-snapshot';
  path: string;
}

// ---- the child's side ----

export function announceReady(ports: Ports): void {
  // The bench may ask how the memory splits up (V8 heap, buffers), to explain the RSS it samples.
  process.on('message', (m: { type?: string; path?: string }) => {
    if (m?.type === 'memory') process.send?.({ type: 'memory', usage: process.memoryUsage() } satisfies MemoryMessage);
    // What fills the heap, when the RSS needs explaining (the snapshot collects garbage first).
    if (m?.type === 'heap-snapshot' && m.path) process.send?.({ type: 'heap-snapshot', path: writeHeapSnapshot(m.path) } satisfies SnapshotMessage);
  });
  process.send?.({ type: 'ready', ports } satisfies ReadyMessage);
}

/** Reports a failed start to the bench, then exits. */
export function announceFailure(err: unknown): void {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`bench child failed: ${message}\n`);
  if (process.send) process.send({ type: 'failed', message } satisfies FailedMessage, () => process.exit(1));
  else process.exit(1);
}

/** Runs `close` once, on SIGTERM, SIGINT or the parent's disconnection, then exits. */
export function stopOnSignal(close: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 15_000).unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`bench child: close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}

// ---- the bench's side ----

export interface RunningChild {
  name: string;
  pid: number;
  /** Other processes whose CPU counts as the server's (a second core behind this child's gateway). */
  alsoPids?: readonly number[];
  ports: Ports;
  rss: RssSampler;
  /** RSS right after start-up, before any load. */
  startRssBytes: number | undefined;
  /** process.memoryUsage() of the child's main thread (worker threads' heaps are not in it). */
  memoryUsage(): Promise<NodeJS.MemoryUsage | undefined>;
  /** Has the child write a heap snapshot of its main thread to `path`. */
  writeHeapSnapshot(path: string): Promise<void>;
  /** SIGTERM, then wait for the exit (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export interface StartChildOptions {
  env: Record<string, string | undefined>;
  /** Where the child's stdout and stderr go (a file: the child's logs would garble the table). */
  logFile: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  args?: string[];
  timeoutMs?: number;
}

/** The path of a sibling module of this file: .ts when run from sources (tsx), else .js. */
export function siblingScript(name: string): string {
  const ext = extname(fileURLToPath(import.meta.url));
  return fileURLToPath(new URL(`./${name}${ext}`, import.meta.url));
}

/** Sends a question over the IPC channel and waits for the answer of the same type. */
function ask<T extends { type: string }>(child: ChildProcess, question: { type: T['type']; path?: string }, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    if (!child.connected) return resolve(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const onMessage = (m: T) => {
      if (m.type === question.type) done(m);
    };
    const done = (answer: T | undefined) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(answer);
    };
    child.on('message', onMessage);
    child.send(question);
  });
}

export async function startChild(name: string, script: string, options: StartChildOptions): Promise<RunningChild> {
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = fork(script, options.args ?? [], {
      env: options.env,
      execArgv: [...process.execArgv, ...(options.nodeFlags ?? [])],
      stdio: ['ignore', log, log, 'ipc'],
    });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<Ports>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${options.timeoutMs ?? 120_000} ms (log: ${options.logFile})`));
    }, options.timeoutMs ?? 120_000);
    child.on('message', (m: ReadyMessage | FailedMessage) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.ports);
      } else if (m.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${name} failed to start: ${m.message.split('\n')[0]} (log: ${options.logFile})`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready (log: ${options.logFile})`));
    });
  });
  const pid = child.pid!;
  const rss = new RssSampler(pid);
  rss.start();
  return {
    name,
    pid,
    ports,
    rss,
    startRssBytes: rss.windowPeakBytes,
    memoryUsage: async () => (await ask<MemoryMessage>(child, { type: 'memory' }, 5_000))?.usage,
    writeHeapSnapshot: async (path) => void (await ask<SnapshotMessage>(child, { type: 'heap-snapshot', path }, 120_000)),
    async stop() {
      rss.stop();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}
