// The state a refused call must leave alone, and the error answer SPEC 2 and 9 require of it.
//
// `DbSnapshots` reads the core's database, whichever store it is (a SQLite file, read-only; a
// PostgreSQL database, with a `pg` client of its own), never through the code under test, and
// dumps every table but `audit_log` (a refusal is audited, SPEC 8, so that table may grow), each
// table ordered by all of its columns, so that two dumps compare equal exactly when nothing
// changed. `row`/`rows` run a query written with `?` placeholders on either.
// `expectRefused` makes one call between two dumps and checks the status, the error body
// `{Message, Code, CorrelationId}`, the X-Correlation-Id header, `WWW-Authenticate` on a 401,
// and that the dumps are the same.
import Database from 'better-sqlite3';
import pg from 'pg';
import type { HttpAnswer } from './stack.js';

export type Snapshot = Record<string, unknown[]>;

/** Tables a refused call may write to: the audit log, where refusals are recorded. */
const EXCLUDED = new Set(['audit_log']);

type Row = Record<string, unknown>;

/** A query on the database: `?` placeholders, rows as plain objects (integers as numbers). */
interface Reader {
  all(sql: string, params: unknown[]): Promise<Row[]>;
  /** Table names, then each table's column names in order. */
  tables(): Promise<string[]>;
  columns(table: string): Promise<string[]>;
  /** Runs `work` in one read transaction (one snapshot). */
  snapshot<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function sqliteReader(path: string): Reader {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  return {
    all: async (sql, params) => db.prepare(sql).all(...params) as Row[],
    tables: async () =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map(
        (r) => r.name,
      ),
    columns: async (table) => (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => c.name),
    async snapshot(work) {
      db.exec('BEGIN');
      try {
        return await work();
      } finally {
        db.exec('COMMIT');
      }
    },
    close: async () => {
      db.close();
    },
  };
}

async function postgresReader(url: string): Promise<Reader> {
  // A pool of one: it connects again by itself after the database was restarted under it.
  const pool = new pg.Pool({
    connectionString: url,
    max: 1,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', () => {});
  let inSnapshot: pg.PoolClient | undefined;
  const all = async (sql: string, params: unknown[]) => {
    let n = 0;
    return (await (inSnapshot ?? pool).query<Row>(sql.replace(/\?/g, () => `$${++n}`), params)).rows;
  };
  return {
    all,
    tables: async () =>
      (await all("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", [])).map(
        (r) => r.name as string,
      ),
    columns: async (table) =>
      (await all('SELECT column_name AS name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position', ['public', table])).map(
        (r) => r.name as string,
      ),
    async snapshot(work) {
      const client = (inSnapshot = await pool.connect());
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await work();
      } finally {
        inSnapshot = undefined;
        await client.query('COMMIT');
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

export class DbSnapshots {
  private constructor(private readonly db: Reader) {}

  /** `database`: the core's CM_DATABASE, a SQLite path or a postgres:// URL. */
  static async open(database: string): Promise<DbSnapshots> {
    return new DbSnapshots(/^postgres(ql)?:\/\//.test(database) ? await postgresReader(database) : sqliteReader(database));
  }

  /** Every table except audit_log, every row, ordered; bytes as hex. One read transaction. */
  take(): Promise<Snapshot> {
    return this.db.snapshot(async () => {
      const dump: Snapshot = {};
      for (const table of (await this.db.tables()).filter((name) => !EXCLUDED.has(name))) {
        const columns = (await this.db.columns(table)).map((c) => `"${c}"`);
        const rows = await this.db.all(`SELECT * FROM "${table}" ORDER BY ${columns.join(', ')}`, []);
        dump[table] = rows.map((row) =>
          Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? `blob:${v.toString('hex')}` : v])),
        );
      }
      return dump;
    });
  }

  /** One row (or undefined) of a query, for checking the state left behind. */
  async row<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T | undefined> {
    return (await this.db.all(sql, params))[0] as T | undefined;
  }

  async rows<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]> {
    return (await this.db.all(sql, params)) as T[];
  }

  close(): Promise<void> {
    return this.db.close();
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
  const before = await db.take();
  const res = await call();
  checkErrorBody(t, res, status, code, label);
  expectSame(t, await db.take(), before, `${label}: nothing changed in storage`);
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
