// cm-admin as the operator runs it (the built bin), for the two cm-admin test files.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { run } from './process.js';

export const KEY1 = '11'.repeat(32);
export const SECRET = 'an operator secret of at least 32 bytes';

/** A fresh temporary folder for one command's database and files. */
export const folder = () => mkdtempSync(join(tmpdir(), 'cm-admin-'));

export async function cmAdmin(args: string[], env: Record<string, string> = {}) {
  const p = run(process.execPath, ['dist/bin/cm-admin.js', ...args], env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** One line on stderr, exit 2, nothing on stdout. */
export function refused(t: Test, r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp, what: string) {
  t.equal(r.code, 2, `${what}: exit 2`);
  t.match(r.stderr, pattern, what);
  t.equal(r.stderr.split('\n').length, 2, `${what}: one line`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
}
