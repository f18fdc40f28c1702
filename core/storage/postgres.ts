// The PostgreSQL store (SPEC 12): the shared SQL repositories (sql-repositories.ts) over a `pg`
// pool, so that any number of cores can share one database. Units run at READ COMMITTED on the
// explicit row locks, conditional statements and constraints of the contract (repository.ts), and
// are run again when they lose a deadlock (or a serialization conflict, which READ COMMITTED does
// not raise today).
//
// Faults: every error that means the database cannot be reached (refused or dropped connections,
// a server shutting down, a pool that cannot connect in time, a statement not answered in time:
// a server that stopped answering without closing its connections) becomes CmError UNAVAILABLE,
// and a connection lost during COMMIT is UNAVAILABLE too (the outcome is unknown: the write may
// or may not have committed, so it is never answered as a success). The pool replaces broken
// connections by itself, so the core serves again as soon as the database is back.

import pg from 'pg';
import { CmError } from '../errors.js';
import { migrationSql, pendingMigrations, SCHEMA_MIGRATIONS_TABLE } from './migrations.js';
import type { Repositories, Store, StoreObserver, TemplateSecrets } from './repository.js';
import { sealedBodyOf } from './template-codec.js';
import { sqlRepositories, type Row, type SqlConnection, type SqlDialect, type TemplateCache } from './sql-repositories.js';

const POSTGRES: SqlDialect = {
  rowLocks: true,
  lockName: 'SELECT pg_advisory_xact_lock(hashtext(?)) AS locked',
};

/** The advisory lock that one core at a time holds while it migrates. */
const MIGRATION_LOCK = 0x4d494d434d; // "MIMCM"

/** Serialization failure and deadlock: the unit is run again. */
const RETRIED = new Set(['40001', '40P01']);
/**
 * Runs of one unit at most; between two, a random pause of up to 2, 4, ... 128 ms. The lock order
 * of the contract leaves no deadlock among the domain's units; this is for the unforeseen one.
 */
const MAX_ATTEMPTS = 10;
const MAX_BACKOFF_MS = 128;

const CONNECT_TIMEOUT_MS = 3000;
const QUERY_TIMEOUT_MS = 5000;
// A unit's statements follow one another within milliseconds; far longer means its core is gone.
const IDLE_IN_TRANSACTION_MS = 10_000;

/**
 * SQLSTATEs and socket errors that mean the database cannot be reached, or gave up on us: a
 * statement cancelled by the server's statement_timeout (57014) and a session it ended for
 * idling in a transaction (25P03) are UNAVAILABLE too.
 */
const UNREACHABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', '57014', '25P03']);
const UNREACHABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const UNREACHABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Connection ended|Query read timeout/i;

export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string' && (UNREACHABLE_STATES.has(e.code) || UNREACHABLE_ERRNOS.has(e.code))) return true;
  return typeof e?.message === 'string' && UNREACHABLE_MESSAGES.test(e.message);
}

const unavailable = (cause: unknown) => new CmError('UNAVAILABLE', 'The database cannot be reached; try again shortly.', { cause });

/** 64-bit integers (counts, identities, the CRL number) as numbers: ours stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** `?` placeholders as PostgreSQL's `$1, $2, ...`, and a prepared statement name per text. */
class StatementNames {
  private readonly names = new Map<string, { name: string; text: string }>();

  get(sql: string): { name: string; text: string } {
    let named = this.names.get(sql);
    if (!named) {
      let n = 0;
      named = { name: `cm${this.names.size}`, text: sql.replace(/\?/g, () => `$${++n}`) };
      this.names.set(sql, named);
    }
    return named;
  }
}

function connectionOn(queryable: pg.Pool | pg.PoolClient, names: StatementNames, mapErrors: boolean): SqlConnection {
  const query = async (sql: string, params: readonly unknown[] = []): Promise<pg.QueryResult<Row>> => {
    try {
      return await queryable.query<Row>({ ...names.get(sql), values: params as unknown[] });
    } catch (err) {
      throw mapErrors && isUnreachable(err) ? unavailable(err) : err;
    }
  };
  return {
    all: async (sql, params) => (await query(sql, params)).rows,
    get: async (sql, params) => (await query(sql, params)).rows[0],
    run: async (sql, params) => (await query(sql, params)).rowCount ?? 0,
  };
}

/** A connection that runs one statement and refuses a second (`Store.atomicCall`). */
function oneStatement(connection: SqlConnection): SqlConnection {
  let used = false;
  const once = <A extends unknown[], R>(run: (...args: A) => Promise<R>) => (...args: A): Promise<R> => {
    if (used) return Promise.reject(new Error('Store.atomicCall: a second statement, which would commit apart from the first'));
    used = true;
    return run(...args);
  };
  return { all: once(connection.all), get: once(connection.get), run: once(connection.run) };
}

/**
 * Applies the pending migrations on `client`, each in its own transaction, under the migration
 * advisory lock: cores (and `cm-admin migrate`) starting at the same moment take turns, the first
 * migrates and the others find it done. Returns the versions applied and the schema's version.
 */
async function migrateOn(client: pg.ClientBase): Promise<{ applied: number[]; version: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(SCHEMA_MIGRATIONS_TABLE);
    const done = (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version);
    const applied: number[] = [];
    for (const m of pendingMigrations(done)) {
      await client.query('BEGIN');
      try {
        for (const sql of migrationSql(m, 'postgres')) await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(m.version);
    }
    return { applied, version: Math.max(0, ...done, ...applied) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
  }
}

/**
 * Migrates the database at `url` on a connection of its own, without the pool's statement
 * timeout: a migration may take long, and so may the wait for another core's.
 */
async function migrateAt(url: string, connectTimeoutMs: number): Promise<{ applied: number[]; version: number }> {
  const client = new pg.Client({ connectionString: url, types: TYPES, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', () => {});
  await client.connect();
  try {
    return await migrateOn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** `cm-admin migrate` on PostgreSQL: the cores' migration path; an unreachable database is UNAVAILABLE. */
export async function migratePostgresDatabase(url: string): Promise<{ applied: number[]; version: number }> {
  try {
    return await migrateAt(url, CONNECT_TIMEOUT_MS);
  } catch (err) {
    throw isUnreachable(err) ? unavailable(err) : err;
  }
}

export interface PostgresStoreOptions {
  /** Connections in the pool. */
  poolSize?: number;
  /** How long a call waits for a connection before it answers UNAVAILABLE. */
  connectTimeoutMs?: number;
  /**
   * How long one statement may go unanswered before its call answers UNAVAILABLE and its
   * connection is dropped (a server that froze, or a network that drops packets, closes nothing).
   * The server is given the same limit (statement_timeout), so that a statement the core gave up
   * on, such as one waiting for a lock, does not go on waiting, and holding what its transaction
   * locked, for a connection nobody reads any more.
   */
  queryTimeoutMs?: number;
  /**
   * How long the server lets a transaction of ours sit idle before it ends the session and
   * releases its locks (idle_in_transaction_session_timeout): a core that froze, or lost its
   * network, in the middle of a unit does not block the other cores for longer.
   */
  idleInTransactionMs?: number;
  /** Hears of commits, failures and retries (metrics). */
  observer?: StoreObserver;
}

export class PostgresStore implements Store {
  readonly read: Repositories;
  private readonly pool: pg.Pool;
  private readonly names = new StatementNames();
  private readonly templateCache: TemplateCache = new Map();
  private readonly observer: StoreObserver | undefined;

  private constructor(
    private readonly url: string,
    private readonly secrets: TemplateSecrets,
    private readonly options: PostgresStoreOptions,
  ) {
    this.observer = options.observer;
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // Within the gateways' 10 s deadline, with room for the answer: a call that meets a frozen
      // database answers 503 UNAVAILABLE, not 504; and the readiness ping says false.
      query_timeout: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
      statement_timeout: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
      idle_in_transaction_session_timeout: options.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS,
      types: TYPES,
    });
    // An idle connection that the server drops (a restart, a failover) must not crash the core:
    // the pool discards it and connects afresh on the next call. The same for a connection in use
    // between two statements; the statement that follows fails and says so.
    this.pool.on('error', () => {});
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.read = sqlRepositories(connectionOn(this.pool, this.names, true), POSTGRES, this.templateCache, true, secrets);
  }

  /** Connects, applies the pending migrations (one core at a time), and refuses a newer schema. */
  /** `secrets` seals the templates' default admin keys (template-codec.ts). */
  static async open(url: string, secrets: TemplateSecrets, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const store = new PostgresStore(url, secrets, options);
    try {
      await store.migrate();
      await store.sealClearTemplates();
      return store;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private async migrate(): Promise<void> {
    await migrateAt(this.url, this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
  }

  /** Seals the default admin keys of template bodies written before they were sealed (issue 9); idempotent. */
  private async sealClearTemplates(): Promise<void> {
    const rows = (await this.pool.query<{ uuid: string; body: string }>('SELECT uuid, body FROM profile_templates')).rows;
    for (const row of rows) {
      const sealed = sealedBodyOf(row.body, this.secrets);
      // Conditional on the body read: a core sealing at the same moment wrote the same.
      if (sealed !== undefined) await this.pool.query('UPDATE profile_templates SET body = $1 WHERE uuid = $2 AND body = $3', [sealed, row.uuid, row.body]);
    }
  }

  /**
   * One unit in one transaction (the group commit of the metrics is always one unit here). A unit
   * that throws a domain error (CmError) is rolled back as the contract says; anything else that
   * ends a transaction (the database's errors, an unreachable database, retries run out) counts
   * as a failed transaction.
   */
  async transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.unit(work, true);
  }

  /**
   * The unit's one statement, autocommitted: no BEGIN, no COMMIT. A second statement is a bug in
   * the caller (it would commit apart from the first) and fails before it is sent.
   */
  async atomicCall<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.unit(work, false);
  }

  private async unit<T>(work: (tx: Repositories) => Promise<T>, inTransaction: boolean): Promise<T> {
    try {
      return await this.attempts(work, inTransaction);
    } catch (err) {
      if (!(err instanceof CmError) || err.code === 'UNAVAILABLE') this.observer?.failed(1);
      throw err;
    }
  }

  private async attempts<T>(work: (tx: Repositories) => Promise<T>, inTransaction: boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw unavailable(err);
      }
      // An autocommitted statement commits as it runs: its connection lost, its outcome is unknown.
      let committing = !inTransaction;
      const started = process.hrtime.bigint();
      let auditRows = 0;
      try {
        // Named, so that a server configured with another default_transaction_isolation changes nothing.
        if (inTransaction) await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const connection = connectionOn(client, this.names, false);
        const tx = sqlRepositories(inTransaction ? connection : oneStatement(connection), POSTGRES, this.templateCache, false, this.secrets, (n) => (auditRows += n));
        const value = await work(tx);
        if (inTransaction) {
          committing = true;
          // A statement of the unit failed and the unit went on (it caught the error): PostgreSQL
          // then answers COMMIT with ROLLBACK, and nothing of the unit was kept.
          if ((await client.query('COMMIT')).command === 'ROLLBACK') throw new Error('a statement of the unit failed, so its transaction was rolled back');
        }
        client.release();
        this.observer?.committed(1, Number(process.hrtime.bigint() - started) / 1e9, auditRows);
        return value;
      } catch (err) {
        const broken = isUnreachable(err);
        if (!broken && inTransaction) await client.query('ROLLBACK').catch(() => {});
        // A broken connection is destroyed, not returned to the pool.
        client.release(broken ? (err as Error) : undefined);
        if (broken && committing) {
          throw new CmError('UNAVAILABLE', 'The database connection was lost while committing; the outcome is unknown.', { cause: err });
        }
        if (broken) throw unavailable(err);
        const code = (err as { code?: string }).code;
        if (code !== undefined && RETRIED.has(code)) {
          if (attempt >= MAX_ATTEMPTS) throw new CmError('UNAVAILABLE', 'The database is too busy with conflicting writes; try again.', { cause: err });
          this.observer?.retried();
          // Back off a little, at random, so that the units that collided do not collide again.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt)));
          continue;
        }
        throw err;
      }
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
