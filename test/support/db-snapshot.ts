// The state a refused call must leave alone, and the error answer SPEC 2 and 9 require of it.
//
// `DbSnapshots` opens the core's SQLite file (`${stack.core.dir}/cm.sqlite`) read-only and dumps
// every table but `audit_log` (a refusal is audited, SPEC 8, so that table may grow), each table
// ordered by all of its columns, so that two dumps compare equal exactly when nothing changed.
// `expectRefused` makes one call between two dumps and checks the status, the error body
// `{Message, Code, CorrelationId}`, the X-Correlation-Id header, `WWW-Authenticate` on a 401,
// and that the dumps are the same.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { HttpAnswer } from './stack.js';

export type Snapshot = Record<string, unknown[]>;

/** Tables a refused call may write to: the audit log, where refusals are recorded. */
const EXCLUDED = new Set(['audit_log']);

export class DbSnapshots {
  readonly db: Database.Database;

  constructor(dir: string) {
    this.db = new Database(join(dir, 'cm.sqlite'), { readonly: true, fileMustExist: true });
  }

  /** Every table except audit_log, every row, ordered; BLOBs as hex. One read transaction. */
  take(): Snapshot {
    return this.db.transaction(() => {
      const tables = (
        this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as {
          name: string;
        }[]
      )
        .map((r) => r.name)
        .filter((name) => !EXCLUDED.has(name));
      const dump: Snapshot = {};
      for (const table of tables) {
        const columns = (this.db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => `"${c.name}"`);
        const rows = this.db.prepare(`SELECT * FROM "${table}" ORDER BY ${columns.join(', ')}`).all() as Record<string, unknown>[];
        dump[table] = rows.map((row) =>
          Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? `blob:${v.toString('hex')}` : v])),
        );
      }
      return dump;
    })();
  }

  /** One row (or undefined) of a query, for checking the state left behind. */
  row<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T | undefined {
    return this.db.prepare(sql).get(...params) as T | undefined;
  }

  rows<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  close(): void {
    this.db.close();
  }
}

/** The assertions a tap test object offers that these helpers use. */
export interface Asserts {
  equal(found: any, wanted: any, message: string): boolean;
  same(found: any, wanted: any, message: string): boolean;
  ok(found: any, message: string): boolean;
  match(found: any, pattern: any, message: string): boolean;
}

export const STATUS_CODES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** SPEC 2: `{"Message","Code","CorrelationId"}`, JSON, CorrelationId = the X-Correlation-Id header. */
export function checkErrorBody(t: Asserts, res: HttpAnswer, status: number, code: string | readonly string[] | undefined, label: string): void {
  t.equal(res.status, status, `${label}: status ${status}`);
  t.match(res.headers.get('content-type') ?? '', /^application\/json; charset=utf-8$/i, `${label}: JSON error body`);
  const body = res.body as Record<string, unknown> | undefined;
  t.same(body && typeof body === 'object' ? Object.keys(body).sort() : body, ['Code', 'CorrelationId', 'Message'], `${label}: body is exactly {Message, Code, CorrelationId}`);
  t.ok(typeof body?.Message === 'string' && body.Message.trim() !== '', `${label}: Message is a non-empty string`);
  const wanted = code ?? STATUS_CODES[status];
  if (typeof wanted === 'string') t.equal(body?.Code, wanted, `${label}: Code ${wanted}`);
  else if (wanted) t.ok(wanted.includes(body?.Code as string), `${label}: Code ${String(body?.Code)} is one of ${wanted.join(', ')}`);
  const header = res.headers.get('x-correlation-id');
  t.ok(header && header.length > 0, `${label}: X-Correlation-Id header`);
  t.equal(body?.CorrelationId, header, `${label}: CorrelationId equals the X-Correlation-Id header`);
  if (status === 401) t.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${label}: WWW-Authenticate: Bearer`);
}

/**
 * Makes one call that must be refused with `status` (and `code`, by default the code of SPEC 9
 * for that status), and checks that storage is exactly as it was before (audit_log aside).
 */
export async function expectRefused(
  t: Asserts,
  db: DbSnapshots,
  label: string,
  call: () => Promise<HttpAnswer>,
  status: number,
  code?: string | readonly string[],
): Promise<HttpAnswer> {
  const before = db.take();
  const res = await call();
  checkErrorBody(t, res, status, code, label);
  expectSame(t, db.take(), before, `${label}: nothing changed in storage`);
  return res;
}

/** One assertion that two snapshots are equal; on a difference, the diff shows only the tables that changed. */
export function expectSame(t: Asserts, after: Snapshot, before: Snapshot, message: string): boolean {
  const tables = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changed = tables.filter((name) => JSON.stringify(after[name]) !== JSON.stringify(before[name]));
  if (changed.length === 0) return t.ok(true, message);
  const pick = (snapshot: Snapshot) => Object.fromEntries(changed.map((name) => [name, snapshot[name]]));
  return t.same(pick(after), pick(before), `${message} (changed: ${changed.join(', ')})`);
}
