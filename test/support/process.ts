// Child processes for tests that run the service or cm-admin as an operator would: output
// collected, a wait for a line, and the exit code.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface Running {
  child: ChildProcessByStdio<null, Readable, Readable>;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), within `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
}

/** Starts `command` in the repository with only PATH, HOME and `env` set (plus what the coverage of the suite needs). */
export function run(command: string, args: string[], env: Record<string, string | undefined>, options: { cwd?: string } = {}): Running {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => name === 'PATH' || name === 'HOME' || name.startsWith('NODE_') || name.startsWith('TAP') || name.startsWith('_TAPJS')),
  );
  const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout.on('data', (chunk) => ((out += chunk), notify()));
  child.stderr.on('data', (chunk) => ((err += chunk), notify()));
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
      notify();
    }),
  );
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitFor: (pattern, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(out) ?? pattern.exec(err);
          if (match) {
            cleanup();
            resolve(match);
          } else if (done) {
            cleanup();
            reject(new Error(`exited before ${pattern}: ${out}\n${err}`));
          }
        };
        const timer = setTimeout(() => (cleanup(), reject(new Error(`no ${pattern} within ${ms} ms: ${out}\n${err}`))), ms);
        const cleanup = () => (clearTimeout(timer), waiters.delete(check));
        waiters.add(check);
        check();
      }),
  };
}
