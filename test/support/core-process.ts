// A core in a process of its own (`node dist/bin/core.js`, built by `npm test` before tap runs),
// for tests that kill one with -9 or run several on one database. It listens on 127.0.0.1 port 0
// and says its port in its start-up log line.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CoreProcess {
  port: number;
  address: string;
  child: ChildProcess;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then wait for it to end. */
  stop(): Promise<void>;
  /** SIGKILL: no chance to finish anything. */
  kill9(): Promise<void>;
}

/**
 * A child's environment without tap's coverage recording: c8 merges every process's coverage of a
 * file under one source map, and a map of another build of the file (dist/, tsx) made it drop the
 * file from the report. tap's processinfo hook adds itself to every child's NODE_OPTIONS; this
 * variable is how it is told not to record.
 */
export function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...env };
  delete merged.NODE_V8_COVERAGE;
  return merged;
}

function ended(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a core; rejects with what it printed when it exits before it listens. */
export function spawnCore(env: Record<string, string>): Promise<CoreProcess> {
  const child = spawn(process.execPath, ['dist/bin/core.js'], {
    cwd: ROOT,
    env: childEnv({ CM_GRPC_HOST: '127.0.0.1', CM_GRPC_PORT: '0', CM_LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: string) => {
      output += chunk;
      const line = output.split('\n').find((l) => l.includes('"core listening"'));
      if (!line) return;
      child.stdout!.off('data', onData);
      child.stdout!.on('data', (more: string) => (output += more));
      const port = (JSON.parse(line) as { port: number }).port;
      resolve({
        port,
        address: `127.0.0.1:${port}`,
        child,
        output: () => output,
        async stop() {
          child.kill('SIGTERM');
          await ended(child);
        },
        async kill9() {
          child.kill('SIGKILL');
          await ended(child);
        },
      });
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code, signal) => reject(Object.assign(new Error(`the core exited (${code ?? signal}) before listening:\n${output}`), { code, output })));
  });
}

/** Runs a core that must refuse to start; its exit code and what it printed. */
export async function refusedCore(env: Record<string, string>): Promise<{ code: unknown; output: string }> {
  try {
    const core = await spawnCore(env);
    await core.stop();
    return { code: 0, output: core.output() };
  } catch (err) {
    const { code, output } = err as { code?: unknown; output?: string };
    return { code, output: output ?? String(err) };
  }
}
