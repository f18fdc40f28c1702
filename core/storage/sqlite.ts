// The SQLite store (better-sqlite3). One writer connection whose transactions are queued so
// they never interleave (which is what makes two concurrent binds of one cardid impossible to
// both win), and a second connection for reads, which in WAL mode sees only committed data.

import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type {
  AuditEntry,
  AuditRecord,
  CertificateRecord,
  ProfileTemplate,
  RequestRecord,
  SmartcardRecord,
} from '../domain/types.js';
import { WalCheckpointer } from './checkpointer.js';
import { MIGRATIONS } from './migrations.js';
import type { AuditFilter, Repositories, RequestFilter, RequestPatch, Store, StoreObserver, TemplateSecrets } from './repository.js';
import { decodeTemplate, encodeTemplate, sealedBodyOf } from './template-codec.js';

type Row = Record<string, unknown>;

class Statements {
  private readonly cache = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  get(sql: string): Database.Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }
}

const REQUEST_COLUMNS = `uuid, request_type, status, flags, profile_template_uuid, profile_template_version,
  originator_user_uuid, originator_name, target_user_uuid, target_name, target_upn, submitted, completed,
  new_smartcard_uuid, old_smartcard_uuid, new_profile_uuid, old_profile_uuid, priority, comment,
  data_collection, responses_issued`;

const CARD_COLUMNS = `uuid, card_id, status, flags, parent_smartcard_uuid, primary_smartcard_uuid,
  permanent_smartcard_uuid, assigned_user_uuid, profile_template_uuid, profile_template_version, comment,
  middleware, atr, key_version, request_uuid, created_at`;

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** An INSERT of every listed column: built once, not per call (the hot paths insert per request). */
const insertInto = (table: string, columns: string) => `INSERT INTO ${table} (${columns}) VALUES (${placeholders(columns.split(',').length)})`;

const INSERT_AUDIT = `INSERT INTO audit_log (at, correlation_id, caller_uuid, action, request_uuid, smartcard_uuid, outcome, detail)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;

/** What `requests.patch` may write, in a fixed order (one prepared statement per combination). */
const PATCHABLE_REQUEST_COLUMNS: [keyof RequestPatch, string][] = [
  ['status', 'status'],
  ['completed', 'completed'],
  ['newSmartcardUuid', 'new_smartcard_uuid'],
];

function requestParams(r: RequestRecord): unknown[] {
  return [
    r.uuid, r.requestType, r.status, r.flags, r.profileTemplateUuid, r.profileTemplateVersion,
    r.originatorUserUuid, r.originatorName, r.targetUserUuid, r.targetName, r.targetUpn, r.submitted, r.completed,
    r.newSmartcardUuid, r.oldSmartcardUuid, r.newProfileUuid, r.oldProfileUuid, r.priority, r.comment,
    JSON.stringify(r.dataCollection), r.responsesIssued,
  ];
}

function cardFromRow(row: Row): SmartcardRecord {
  return {
    uuid: row.uuid as string,
    cardId: row.card_id as string,
    status: row.status as number,
    flags: row.flags as number,
    parentSmartcardUuid: row.parent_smartcard_uuid as string,
    primarySmartcardUuid: row.primary_smartcard_uuid as string,
    permanentSmartcardUuid: row.permanent_smartcard_uuid as string,
    assignedUserUuid: row.assigned_user_uuid as string,
    profileTemplateUuid: row.profile_template_uuid as string,
    profileTemplateVersion: row.profile_template_version as number,
    comment: row.comment as string,
    middleware: row.middleware as string,
    atr: row.atr as string,
    keyVersion: row.key_version as number,
    requestUuid: row.request_uuid as string,
    createdAt: row.created_at as string,
  };
}

const CERTIFICATE_COLUMNS = `serial_hex, smartcard_uuid, request_uuid, user_uuid, template_common_name, thumbprint,
  not_before, not_after, issuer, requester_name, status, revoked_at, reason, der, issued_at`;

const INSERT_REQUEST = insertInto('requests', REQUEST_COLUMNS);
const INSERT_CARD = insertInto('smartcards', CARD_COLUMNS);
const INSERT_CERTIFICATE = insertInto('certificates', CERTIFICATE_COLUMNS);

function certificateFromRow(row: Row): CertificateRecord {
  return {
    serialHex: row.serial_hex as string,
    smartcardUuid: row.smartcard_uuid as string,
    requestUuid: row.request_uuid as string,
    userUuid: row.user_uuid as string,
    templateCommonName: row.template_common_name as string,
    thumbprint: row.thumbprint as string,
    notBefore: row.not_before as string,
    notAfter: row.not_after as string,
    issuer: row.issuer as string,
    requesterName: row.requester_name as string,
    status: row.status as number,
    revokedAt: row.revoked_at as string,
    reason: row.reason as number,
    der: row.der as Buffer,
    issuedAt: row.issued_at as string,
  };
}

/** Parsed templates by uuid, checked against the row's version: hot paths skip the JSON parse. */
type TemplateCache = Map<string, { version: number; template: ProfileTemplate }>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The repositories on one connection. Only the reader fills the template cache: it sees committed
 * rows only, while a body the writer reads may belong to a transaction that rolls back, and its
 * version number could later be committed with another body.
 */
function repositoriesOn(db: Database.Database, templateCache: TemplateCache, fillsCache: boolean, secrets: TemplateSecrets, onAuditRows: (n: number) => void = () => {}): Repositories {
  const s = new Statements(db);

  const requestFromRow = (row: Row, withApprovals = true): RequestRecord => ({
    uuid: row.uuid as string,
    requestType: row.request_type as number,
    status: row.status as number,
    flags: row.flags as number,
    profileTemplateUuid: row.profile_template_uuid as string,
    profileTemplateVersion: row.profile_template_version as number,
    originatorUserUuid: row.originator_user_uuid as string,
    originatorName: row.originator_name as string,
    targetUserUuid: row.target_user_uuid as string,
    targetName: row.target_name as string,
    targetUpn: row.target_upn as string,
    submitted: row.submitted as string,
    completed: row.completed as string,
    newSmartcardUuid: row.new_smartcard_uuid as string,
    oldSmartcardUuid: row.old_smartcard_uuid as string,
    newProfileUuid: row.new_profile_uuid as string,
    oldProfileUuid: row.old_profile_uuid as string,
    priority: row.priority as number,
    comment: row.comment as string,
    dataCollection: JSON.parse(row.data_collection as string),
    responsesIssued: row.responses_issued as number,
    approvals: !withApprovals ? [] : (
      s
        .get('SELECT approver_uuid, approved, comment, at FROM request_approvals WHERE request_uuid = ? ORDER BY at, approver_uuid')
        .all(row.uuid) as Row[]
    ).map((a) => ({
      approverUuid: a.approver_uuid as string,
      approved: a.approved === 1,
      comment: a.comment as string,
      at: a.at as string,
    })),
  });

  const insertAudit = (e: AuditEntry) =>
    s.get(INSERT_AUDIT).run(e.at, e.correlationId, e.callerUuid, e.action, e.requestUuid, e.smartcardUuid, e.outcome, e.detail);

  return {
    templates: {
      async get(uuid) {
        // One query: the body only when the cached version is not the current one.
        const hit = templateCache.get(uuid);
        const row = s
          .get('SELECT version, CASE version WHEN ? THEN NULL ELSE body END AS body FROM profile_templates WHERE uuid = ?')
          .get(hit?.version ?? -1, uuid) as Row | undefined;
        if (!row) return undefined;
        if (row.body === null && hit) return hit.template;
        // Shared between callers: frozen so that no caller can change another's copy.
        const template = deepFreeze(decodeTemplate(row.body as string, secrets));
        if (fillsCache) templateCache.set(uuid, { version: row.version as number, template });
        return template;
      },
      async list() {
        return (s.get('SELECT body FROM profile_templates ORDER BY name, uuid').all() as Row[]).map(
          (row) => decodeTemplate(row.body as string, secrets),
        );
      },
      async insert(t) {
        s.get('INSERT INTO profile_templates (uuid, name, version, body) VALUES (?, ?, ?, ?)').run(
          t.uuid, t.name, t.version, encodeTemplate(t, secrets),
        );
      },
      async update(t) {
        s.get('UPDATE profile_templates SET name = ?, version = ?, body = ? WHERE uuid = ?').run(
          t.name, t.version, encodeTemplate(t, secrets), t.uuid,
        );
      },
      async delete(uuid) {
        s.get('DELETE FROM profile_templates WHERE uuid = ?').run(uuid);
      },
      async isReferenced(uuid) {
        // Requests only: every card is bound to a request on its own template, and requests are
        // never deleted (migration 3 dropped the index on smartcards that a second query needed).
        return s.get('SELECT 1 FROM requests WHERE profile_template_uuid = ? LIMIT 1').get(uuid) !== undefined;
      },
    },

    requests: {
      async get(uuid, withApprovals = true) {
        const row = s.get(`SELECT ${REQUEST_COLUMNS} FROM requests WHERE uuid = ?`).get(uuid) as Row | undefined;
        return row ? requestFromRow(row, withApprovals) : undefined;
      },
      async list(filter: RequestFilter) {
        const where: string[] = [];
        const params: unknown[] = [];
        if (filter.targetUserUuid !== undefined) {
          where.push('target_user_uuid = ?');
          params.push(filter.targetUserUuid);
        }
        if (filter.status !== undefined) {
          where.push('status = ?');
          params.push(filter.status);
        }
        const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
        return (s.get(`SELECT ${REQUEST_COLUMNS} FROM requests ${clause} ORDER BY submitted DESC, uuid`).all(...params) as Row[]).map((row) => requestFromRow(row));
      },
      async listByCard(smartcardUuid) {
        return (
          s
            .get(
              `SELECT ${REQUEST_COLUMNS} FROM requests WHERE new_smartcard_uuid = ?
               UNION SELECT ${REQUEST_COLUMNS} FROM requests WHERE old_smartcard_uuid = ?
               ORDER BY submitted DESC, uuid`,
            )
            .all(smartcardUuid, smartcardUuid) as Row[]
        ).map((row) => requestFromRow(row, false));
      },
      async existsOpen(templateUuid, types, targetUserUuid) {
        if (types.length === 0) return false;
        const target = targetUserUuid === undefined ? '' : 'AND target_user_uuid = ?';
        const params: unknown[] = [templateUuid, ...types];
        if (targetUserUuid !== undefined) params.push(targetUserUuid);
        return (
          s
            .get(
              `SELECT 1 FROM requests WHERE profile_template_uuid = ? AND status IN (3, 4)
               AND request_type IN (${placeholders(types.length)}) ${target} LIMIT 1`,
            )
            .get(...params) !== undefined
        );
      },
      async listOpenSubmittedBefore(submittedBefore) {
        return (
          s
            .get(`SELECT ${REQUEST_COLUMNS} FROM requests WHERE status IN (3, 4) AND submitted < ? ORDER BY submitted`)
            .all(submittedBefore) as Row[]
        ).map((row) => requestFromRow(row));
      },
      async insert(r) {
        s.get(INSERT_REQUEST).run(...requestParams(r));
      },
      async patch(uuid, fields) {
        const columns: string[] = [];
        const params: unknown[] = [];
        for (const [field, column] of PATCHABLE_REQUEST_COLUMNS) {
          if (fields[field] === undefined) continue;
          columns.push(`${column} = ?`);
          params.push(fields[field]);
        }
        if (columns.length === 0) return;
        s.get(`UPDATE requests SET ${columns.join(', ')} WHERE uuid = ?`).run(...params, uuid);
      },
      async markExecuted(uuid, countResponse) {
        const limit = countResponse?.limit ?? 0;
        return (
          s
            .get(
              `UPDATE requests SET status = CASE status WHEN 3 THEN 4 ELSE status END,
               responses_issued = responses_issued + ?
               WHERE uuid = ? AND status IN (3, 4) AND (? = 0 OR responses_issued < ?)`,
            )
            .run(countResponse ? 1 : 0, uuid, limit, limit).changes === 1
        );
      },
      async countResponses(uuid, wanted, limit) {
        const row = s.get('SELECT status, responses_issued FROM requests WHERE uuid = ?').get(uuid) as Row | undefined;
        if (!row || (row.status !== 3 && row.status !== 4)) return undefined;
        // Only the writer counts, one transaction at a time: what was read still holds.
        const issued = row.responses_issued as number;
        const granted = limit === 0 ? wanted : Math.max(0, Math.min(wanted, limit - issued));
        if (granted > 0 || row.status === 3) {
          s.get('UPDATE requests SET status = 4, responses_issued = responses_issued + ? WHERE uuid = ?').run(granted, uuid);
        }
        return granted;
      },
      async addApproval(requestUuid, a) {
        s.get('INSERT INTO request_approvals (request_uuid, approver_uuid, approved, comment, at) VALUES (?, ?, ?, ?, ?)').run(
          requestUuid, a.approverUuid, a.approved ? 1 : 0, a.comment, a.at,
        );
      },
    },

    smartcards: {
      async get(uuid) {
        const row = s.get(`SELECT ${CARD_COLUMNS} FROM smartcards WHERE uuid = ?`).get(uuid) as Row | undefined;
        return row ? cardFromRow(row) : undefined;
      },
      async findNewestByCardId(cardId) {
        const row = s
          .get(`SELECT ${CARD_COLUMNS} FROM smartcards WHERE card_id = ? ORDER BY created_at DESC, uuid DESC LIMIT 1`)
          .get(cardId) as Row | undefined;
        return row ? cardFromRow(row) : undefined;
      },
      async statusesByCardId(cardId) {
        return s.get('SELECT status FROM smartcards WHERE card_id = ?').pluck().all(cardId) as number[];
      },
      async keyVersionsInUse() {
        return (s.get('SELECT DISTINCT key_version FROM smartcards WHERE key_version > 0').all() as Row[]).map(
          (r) => r.key_version as number,
        );
      },
      async insert(c) {
        s.get(INSERT_CARD).run(
          c.uuid, c.cardId, c.status, c.flags, c.parentSmartcardUuid, c.primarySmartcardUuid,
          c.permanentSmartcardUuid, c.assignedUserUuid, c.profileTemplateUuid, c.profileTemplateVersion, c.comment,
          c.middleware, c.atr, c.keyVersion, c.requestUuid, c.createdAt,
        );
      },
      async updateStatus(uuid, status) {
        s.get('UPDATE smartcards SET status = ? WHERE uuid = ?').run(status, uuid);
      },
      async lockForKeyRelease(cardUuid, requestUuid) {
        // The single writer is the lock: no other transaction runs until this one has committed.
        return s
          .get(
            `SELECT c.status FROM smartcards c JOIN requests r ON r.uuid = ?
             WHERE c.uuid = ? AND (r.new_smartcard_uuid = c.uuid OR r.old_smartcard_uuid = c.uuid)`,
          )
          .pluck()
          .get(requestUuid, cardUuid) as number | undefined;
      },
    },

    pins: {
      async get(smartcardUuid, requestUuid) {
        const row = s
          .get('SELECT key_version, sealed FROM server_pins WHERE smartcard_uuid = ? AND request_uuid = ?')
          .get(smartcardUuid, requestUuid) as Row | undefined;
        return row ? { keyVersion: row.key_version as number, sealed: row.sealed as Buffer } : undefined;
      },
      async put(smartcardUuid, requestUuid, keyVersion, sealed) {
        s.get('INSERT INTO server_pins (smartcard_uuid, request_uuid, key_version, sealed) VALUES (?, ?, ?, ?)').run(
          smartcardUuid, requestUuid, keyVersion, sealed,
        );
      },
      async deleteForRequest(requestUuid) {
        s.get('DELETE FROM server_pins WHERE request_uuid = ?').run(requestUuid);
      },
    },

    certificates: {
      async insert(c) {
        s.get(INSERT_CERTIFICATE).run(
          c.serialHex, c.smartcardUuid, c.requestUuid, c.userUuid, c.templateCommonName, c.thumbprint,
          c.notBefore, c.notAfter, c.issuer, c.requesterName, c.status, c.revokedAt, c.reason, c.der, c.issuedAt,
        );
      },
      async listByCard(smartcardUuid) {
        return (
          s.get(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE smartcard_uuid = ? ORDER BY issued_at, serial_hex`).all(smartcardUuid) as Row[]
        ).map(certificateFromRow);
      },
      async listByRequest(requestUuid) {
        return (
          s.get(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE request_uuid = ? ORDER BY issued_at, serial_hex`).all(requestUuid) as Row[]
        ).map(certificateFromRow);
      },
      async listByUser(userUuid) {
        return (
          s
            .get(
              `SELECT ${CERTIFICATE_COLUMNS.replace(/(\w+)/g, 'c.$1')} FROM certificates c
               JOIN smartcards s ON s.uuid = c.smartcard_uuid
               WHERE c.user_uuid = ? AND s.status <> 6 ORDER BY c.issued_at, c.serial_hex`,
            )
            .all(userUuid) as Row[]
        ).map(certificateFromRow);
      },
      async listUnusable() {
        return (s.get(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE status IN (1, 2) ORDER BY revoked_at, serial_hex`).all() as Row[]).map(
          certificateFromRow,
        );
      },
      async setStatus(serialHex, status, revokedAt, reason) {
        s.get('UPDATE certificates SET status = ?, revoked_at = ?, reason = ? WHERE serial_hex = ?').run(status, revokedAt, reason, serialHex);
      },
      async crlNumber() {
        return (s.get('SELECT crl_number FROM ca_state WHERE id = 1').get() as Row).crl_number as number;
      },
      async bumpCrlNumber() {
        s.get('UPDATE ca_state SET crl_number = crl_number + 1 WHERE id = 1').run();
      },
    },

    audit: {
      async append(e: AuditEntry) {
        insertAudit(e);
        onAuditRows(1);
      },
      async appendMany(entries) {
        // Single-row INSERTs: measured here, a 32-row VALUES list costs about twice as much per row.
        for (const e of entries) insertAudit(e);
        onAuditRows(entries.length);
      },
      async list(filter: AuditFilter) {
        const where: string[] = [];
        const params: unknown[] = [];
        if (filter.requestUuid) {
          where.push('request_uuid = ?');
          params.push(filter.requestUuid);
        }
        if (filter.smartcardUuid) {
          where.push('smartcard_uuid = ?');
          params.push(filter.smartcardUuid);
        }
        const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
        return (
          s
            .get(
              `SELECT id, at, correlation_id, caller_uuid, action, request_uuid, smartcard_uuid, outcome, detail
               FROM audit_log ${clause} ORDER BY id DESC LIMIT ?`,
            )
            .all(...params, filter.limit) as Row[]
        ).map(
          (r): AuditRecord => ({
            id: r.id as number,
            at: r.at as string,
            correlationId: r.correlation_id as string,
            callerUuid: r.caller_uuid as string,
            action: r.action as string,
            requestUuid: r.request_uuid as string,
            smartcardUuid: r.smartcard_uuid as string,
            outcome: r.outcome as AuditEntry['outcome'],
            detail: r.detail as string,
          }),
        );
      },
    },
  };
}

/**
 * The database's folder is created 0700 and its file 0600 before SQLite opens it (SQLite would
 * create it 0644 less the umask), whatever the umask: secrets are sealed in it, but what cards
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
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number),
  );
  const now: number[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      for (const sql of m.sql) db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, new Date().toISOString());
    })();
    now.push(m.version);
  }
  return now;
}

/** `cm-admin migrate`: the database at `path` (created privately if new) brought to the newest schema. */
export function migrateSqliteFile(path: string): { applied: number[]; version: number } {
  createPrivately(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const applied = migrate(db);
    const { version } = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number };
    return { applied, version };
  } finally {
    db.close();
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

interface PendingUnit {
  work: (tx: Repositories) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Page caches, KiB. The writer's is the smaller: with time-ordered ids its writes stay at the
 * right-hand edges of the B-trees (plus one random leaf of the cardid index per bind, which no
 * cache of this size would hold), so 4 MiB holds what it reuses (measured: binds with a million
 * cards cost the same main-thread time as with 16 MiB); the reads of a large database spread
 * further. Both count against the service's memory, as does the checkpointer's thread (~10 MB).
 */
const WRITER_CACHE_KIB = 4 * 1024;
const READER_CACHE_KIB = 16 * 1024;

/** Most units in one group commit: bounds how long the first waits for the last. */
const MAX_GROUP = 256;

export class SqliteStore implements Store {
  readonly read: Repositories;
  private readonly writer: Database.Database;
  private readonly reader: Database.Database;
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

  /** `secrets` seals the templates' default admin keys (template-codec.ts). */
  constructor(path: string, secrets: TemplateSecrets, private readonly observer?: StoreObserver) {
    createPrivately(path);
    this.writer = new Database(path);
    this.writer.pragma('journal_mode = WAL');
    // SQLite gives the -wal and -shm files the database file's mode; chmod in case they predate it.
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    this.writer.pragma('synchronous = NORMAL');
    this.writer.pragma('busy_timeout = 5000');
    // The page cache keeps the hot part of the indexes in memory. Checkpoints run on a thread of
    // their own (checkpointer.ts); the automatic one, at 20,000 pages (80 MiB) of WAL, is the fallback.
    this.writer.pragma(`cache_size = -${WRITER_CACHE_KIB}`);
    this.writer.pragma('wal_autocheckpoint = 20000');
    this.writer.pragma('journal_size_limit = 67108864');
    migrate(this.writer);
    sealClearTemplates(this.writer, secrets);
    const templateCache: TemplateCache = new Map();
    this.writes = repositoriesOn(this.writer, templateCache, false, secrets, (n) => (this.groupAuditRows += n));
    this.reader = new Database(path, { readonly: true });
    this.reader.pragma('busy_timeout = 5000');
    this.reader.pragma(`cache_size = -${READER_CACHE_KIB}`);
    this.read = repositoriesOn(this.reader, templateCache, true, secrets);
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
      this.control.begin.run();
      this.inGroup = true;
      try {
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
  }
}
