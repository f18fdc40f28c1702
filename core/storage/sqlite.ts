// The SQLite store (better-sqlite3): the shared SQL repositories (sql-repositories.ts) on one
// writer connection whose transactions are queued so they never interleave (serializable by
// construction: see the contract in repository.ts), and a second connection for reads, which in
// WAL mode sees only committed data. One core per database file (lockDatabaseFile).

import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config.js';
import { WalCheckpointer } from './checkpointer.js';
import { migrationSql, pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from './migrations.js';
import type { Repositories, Store, StoreObserver, TemplateSecrets } from './repository.js';
import { sealedBodyOf } from './template-codec.js';
import { sqlRepositories, type Row, type SqlConnection, type SqlDialect, type TemplateCache } from './sql-repositories.js';

/** A prepared statement; one that returns rows also reads them as arrays, made objects by `row`. */
interface Prepared {
  stmt: Database.Statement;
  row?: (values: unknown[]) => Row;
}

/**
 * An object literal builder for a statement's columns. better-sqlite3 builds a row object
 * through V8's API one property at a time, which for the 16 to 21 columns of a request or card
 * row cost about as much as the lookup itself (measured: 17-22 against 9-13 us per primary-key
 * read of a request row, arrays mapped by a literal); an array and one literal of a fixed shape
 * are cheaper. The names are the statement's own result columns, quoted as JSON.
 */
function rowBuilder(stmt: Database.Statement): (values: unknown[]) => Row {
  const names = stmt.columns().map((column) => column.name);
  return new Function('v', `return {${names.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ')}};`) as (values: unknown[]) => Row;
}

class Statements {
  private readonly cache = new Map<string, Prepared>();
  constructor(private readonly db: Database.Database) {}

  get(sql: string): Prepared {
    let prepared = this.cache.get(sql);
    if (!prepared) {
      const stmt = this.db.prepare(sql);
      prepared = stmt.reader ? { stmt: stmt.raw(true), row: rowBuilder(stmt) } : { stmt };
      this.cache.set(sql, prepared);
    }
    return prepared;
  }
}

/** A connection as the shared repositories see it: each statement prepared once. */
function sqliteConnection(db: Database.Database): SqlConnection {
  const statements = new Statements(db);
  return {
    async all(sql, params = []) {
      const { stmt, row } = statements.get(sql);
      return (stmt.all(...params) as unknown[][]).map(row!);
    },
    async get(sql, params = []) {
      const { stmt, row } = statements.get(sql);
      const values = stmt.get(...params) as unknown[] | undefined;
      return values === undefined ? undefined : row!(values);
    },
    async run(sql, params = []) {
      return statements.get(sql).stmt.run(...params).changes;
    },
  };
}

/**
 * The read connection: committed data only. Outside a group commit the writer's connection is
 * used, whose page cache its own commits leave valid; the reader's is thrown away by every
 * commit of the writer (WAL), so a read after a commit there costs about twice as much (measured
 * here: 16-21 against 8-10 us per primary-key read with commits in between). While a group commit
 * is open the writer would see its uncommitted units: reads then go to the reader.
 */
function committedReads(writer: Database.Database, reader: Database.Database): SqlConnection {
  const onWriter = sqliteConnection(writer);
  const onReader = sqliteConnection(reader);
  const pick = () => (writer.inTransaction ? onReader : onWriter);
  return {
    all: (sql, params) => pick().all(sql, params),
    get: (sql, params) => pick().get(sql, params),
    // The read repositories never write: the read-only connection refuses it if one ever did.
    run: (sql, params) => onReader.run(sql, params),
  };
}

/** The writer holds the whole database for a transaction: no row locks are needed. */
const SQLITE: SqlDialect = { rowLocks: false };

/**
 * The database's folder is created 0700 and its files 0600 before SQLite opens them (SQLite would
 * create them 0644 less the umask), whatever the umask: secrets are sealed in it, but what cards
 * and users exist is nobody else's business either.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Applies the pending migrations, each in its own transaction; returns the versions applied. */
function migrate(db: Database.Database): number[] {
  db.exec(SCHEMA_MIGRATIONS_TABLE);
  const applied = (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number);
  const now: number[] = [];
  for (const m of pendingMigrations(applied)) {
    db.transaction(() => {
      for (const sql of migrationSql(m, 'sqlite')) db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
    })();
    now.push(m.version);
  }
  return now;
}

/**
 * `cm-admin migrate`: the database at `path` (created privately if new) brought to the newest
 * schema. It holds the file's core lock meanwhile: a running core refuses it, as a second core would.
 */
export function migrateSqliteFile(path: string): { applied: number[]; version: number } {
  createPrivately(path);
  const lock = lockDatabaseFile(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const applied = migrate(db);
    const { version } = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number };
    return { applied, version };
  } finally {
    db.close();
    lock.close();
  }
}

/**
 * `cm-admin backup`: a consistent copy of the live database at `file` (mode 0600), by SQLite's
 * online backup API on a read-only connection of its own. Writers go on meanwhile: the copy is
 * the database as of one commit (SQLite restarts the copy if a commit lands during it).
 */
export async function backupSqliteFile(path: string, file: string): Promise<void> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    closeSync(openSync(file, 'wx', 0o600));
    await db.backup(file);
    chmodSync(file, 0o600);
  } finally {
    db.close();
  }
}

/** Seals the default admin keys of template bodies written before they were sealed (issue 9); idempotent. */
function sealClearTemplates(db: Database.Database, secrets: TemplateSecrets): void {
  const rows = db.prepare('SELECT uuid, body FROM profile_templates').all() as Row[];
  const update = db.prepare('UPDATE profile_templates SET body = ? WHERE uuid = ?');
  db.transaction(() => {
    for (const row of rows) {
      const sealed = sealedBodyOf(row.body as string, secrets);
      if (sealed !== undefined) update.run(sealed, row.uuid);
    }
  })();
}

/**
 * One core per SQLite file (SPEC 12): the store holds an exclusive lock on a file beside the
 * database for as long as it is open (SQLite's own exclusive locking mode on a database of its
 * own, so the operating system drops the lock when the process ends, however it ends). A second
 * store on the same file finds it taken at once; nothing waits.
 */
function lockDatabaseFile(path: string): Database.Database {
  createPrivately(`${path}-core.lock`);
  const lock = new Database(`${path}-core.lock`, { timeout: 0 });
  try {
    lock.pragma('journal_mode = MEMORY');
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
    return lock;
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    throw new ConfigError(
      'CM_DATABASE',
      `another core process uses the SQLite database ${path}. A SQLite database serves one core; ` +
        'to run several cores, give them one PostgreSQL database (CM_DATABASE=postgres://...).',
    );
  }
}

interface PendingUnit {
  work: (tx: Repositories) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Page caches, KiB. The writer's is the larger: it also serves the reads made while no group
 * commit is open (committedReads), which with a large database spread over many pages; its
 * writes stay at the right-hand edges of the B-trees with time-ordered ids (plus one random leaf
 * of the cardid index per bind). The reader's serves only the reads made during a group commit
 * and is invalidated by every commit. Both count against the service's memory, as does the
 * checkpointer's thread (~10 MB).
 */
const WRITER_CACHE_KIB = 16 * 1024;
const READER_CACHE_KIB = 4 * 1024;

/** Most units in one group commit: bounds how long the first waits for the last. */
const MAX_GROUP = 256;

export class SqliteStore implements Store {
  readonly read: Repositories;
  private readonly writer: Database.Database;
  private readonly reader: Database.Database;
  private readonly lock: Database.Database;
  private readonly writes: Repositories;
  /** Units of work waiting for the next group commit. */
  private pending: PendingUnit[] = [];
  /** The group commit under way, if any. */
  private running: Promise<void> | undefined;
  private readonly control: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'undo', Database.Statement>;
  private readonly checkpointer: WalCheckpointer;
  /** Set while the checkpointer holds the next group commit back (see checkpointer.ts). */
  private held: Promise<void> | undefined;
  /** Whether a group commit's transaction is open, and who waits for it to end. */
  private inGroup = false;
  private groupEnded: (() => void)[] = [];
  /** Audit rows written by the kept units of the group commit under way. */
  private groupAuditRows = 0;

  /** `secrets` seals the templates' default admin keys (template-codec.ts); `observer` hears of commits (metrics). */
  constructor(path: string, secrets: TemplateSecrets, private readonly observer?: StoreObserver) {
    createPrivately(path);
    this.lock = lockDatabaseFile(path);
    this.writer = new Database(path);
    try {
      SqliteStore.configureWriter(this.writer);
      // SQLite gives the -wal and -shm files the database file's mode; chmod in case they predate it.
      for (const file of [`${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
      sealClearTemplates(this.writer, secrets);
    } catch (err) {
      // A database this core must not run on (a newer schema): let go of it before saying so.
      this.writer.close();
      this.lock.close();
      throw err;
    }
    const templateCache: TemplateCache = new Map();
    this.writes = sqlRepositories(sqliteConnection(this.writer), SQLITE, templateCache, false, secrets, (n) => (this.groupAuditRows += n));
    this.reader = new Database(path, { readonly: true });
    this.reader.pragma('busy_timeout = 5000');
    this.reader.pragma(`cache_size = -${READER_CACHE_KIB}`);
    this.read = sqlRepositories(committedReads(this.writer, this.reader), SQLITE, templateCache, true, secrets);
    this.checkpointer = new WalCheckpointer(path, (work) => this.holdWrites(work));
    this.control = {
      begin: this.writer.prepare('BEGIN IMMEDIATE'),
      commit: this.writer.prepare('COMMIT'),
      rollback: this.writer.prepare('ROLLBACK'),
      savepoint: this.writer.prepare('SAVEPOINT unit'),
      release: this.writer.prepare('RELEASE unit'),
      undo: this.writer.prepare('ROLLBACK TO unit'),
    };
  }

  private static configureWriter(writer: Database.Database): void {
    writer.pragma('journal_mode = WAL');
    writer.pragma('synchronous = NORMAL');
    writer.pragma('busy_timeout = 5000');
    // The page cache keeps the hot part of the indexes in memory. Checkpoints run on a thread of
    // their own (checkpointer.ts); the automatic one, at 20,000 pages (80 MiB) of WAL, is the fallback.
    writer.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
    writer.pragma('wal_autocheckpoint = 20000');
    writer.pragma('journal_size_limit = 67108864');
    migrate(writer);
  }

  /**
   * Group commit: units of work queued while a commit is under way run together in the next
   * database transaction, each inside its own savepoint, so one failing unit rolls back alone
   * while the commit (the expensive part) is shared. Units run one after another, never
   * interleaved; each unit's promise settles once the transaction holding it has committed.
   */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // Start on the next turn of the event loop, so that the units other calls queue in this
      // turn share the commit.
      this.running ??= new Promise<void>((started) => setImmediate(started)).then(() => this.drain());
    });
  }

  /** One writer: a unit of one call is a unit like any other, in the group commit. */
  atomicCall<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.transaction(work);
  }

  /** Runs `work` once no group commit is under way, and begins none until it is done. */
  private holdWrites(work: () => Promise<void>): Promise<void> {
    const quiet = this.inGroup ? new Promise<void>((ended) => this.groupEnded.push(ended)) : Promise.resolve();
    const held = quiet
      .then(work)
      .catch(() => {})
      .finally(() => {
        this.held = undefined;
      });
    this.held = held;
    return held;
  }

  private endGroup(): void {
    this.inGroup = false;
    for (const ended of this.groupEnded.splice(0)) ended();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      if (this.held) {
        await this.held;
        continue;
      }
      const group = this.pending.splice(0, MAX_GROUP);
      const outcomes: { ok: boolean; value: unknown }[] = [];
      const started = process.hrtime.bigint();
      this.groupAuditRows = 0;
      try {
        this.control.begin.run();
        this.inGroup = true;
        for (const unit of group) {
          this.control.savepoint.run();
          const auditRowsBefore = this.groupAuditRows;
          try {
            const value = await unit.work(this.writes);
            this.control.release.run();
            outcomes.push({ ok: true, value });
          } catch (err) {
            this.control.undo.run();
            this.control.release.run();
            this.groupAuditRows = auditRowsBefore;
            outcomes.push({ ok: false, value: err });
          }
        }
        this.control.commit.run();
      } catch (err) {
        // The commit itself (or the database) failed: nothing of this group was kept.
        if (this.writer.inTransaction) this.control.rollback.run();
        this.endGroup();
        this.observer?.failed(group.length);
        for (const unit of group) unit.reject(err);
        continue;
      }
      this.endGroup();
      this.observer?.committed(group.length, Number(process.hrtime.bigint() - started) / 1e9, this.groupAuditRows);
      group.forEach((unit, i) => (outcomes[i]!.ok ? unit.resolve(outcomes[i]!.value) : unit.reject(outcomes[i]!.value)));
    }
    this.running = undefined;
  }

  async ping(): Promise<boolean> {
    return this.reader.prepare('SELECT 1 AS ok').get() !== undefined;
  }

  async close(): Promise<void> {
    await this.running;
    await this.checkpointer.close();
    this.reader.close();
    this.writer.close();
    this.lock.close();
  }
}
