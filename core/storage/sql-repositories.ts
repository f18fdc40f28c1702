// The repositories in SQL that both stores run: the statements are written once, with `?`
// placeholders and SQL that SQLite and PostgreSQL both accept, over a `SqlConnection` that each
// store provides (SQLite: prepared statements of better-sqlite3; PostgreSQL: a pooled `pg`
// client, placeholders numbered). What differs between the dialects is named in `SqlDialect`.

import type {
  AuditEntry,
  AuditRecord,
  CertificateRecord,
  ProfileTemplate,
  RequestRecord,
  SmartcardRecord,
} from '../domain/types.js';
import { NIL_UUID } from '../domain/types.js';
import type { AuditFilter, Repositories, RequestFilter, RequestPatch, RowLock, TemplateSecrets } from './repository.js';
import { decodeTemplate, encodeTemplate } from './template-codec.js';

export type Row = Record<string, unknown>;

/** One database connection (or transaction) as the repositories use it. */
export interface SqlConnection {
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  get(sql: string, params?: readonly unknown[]): Promise<Row | undefined>;
  /** Runs a write; how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface SqlDialect {
  /**
   * Whether a SELECT can lock the rows it reads until the transaction ends (`FOR UPDATE` and
   * the like): false on SQLite, whose writer holds the whole database for a transaction.
   */
  rowLocks: boolean;
  /**
   * A statement taking a lock on a name (the parameter) until the transaction ends, or
   * undefined where the writer already holds the whole database.
   */
  lockName?: string;
}

const REQUEST_COLUMNS = `uuid, request_type, status, flags, profile_template_uuid, profile_template_version,
  originator_user_uuid, originator_name, target_user_uuid, target_name, target_upn, submitted, completed,
  new_smartcard_uuid, old_smartcard_uuid, new_profile_uuid, old_profile_uuid, priority, comment,
  data_collection, responses_issued`;

const CARD_COLUMNS = `uuid, card_id, status, flags, parent_smartcard_uuid, primary_smartcard_uuid,
  permanent_smartcard_uuid, assigned_user_uuid, profile_template_uuid, profile_template_version, comment,
  middleware, atr, key_version, request_uuid, created_at`;

/** A request's columns and, prefixed `card_`, its card's (`requests.getWithTemplateAndCard`), from `requests r` and `smartcards c`. */
const REQUEST_AND_CARD_COLUMNS = [
  ...REQUEST_COLUMNS.split(',').map((column) => `r.${column.trim()}`),
  ...CARD_COLUMNS.split(',').map((column) => `c.${column.trim()} AS card_${column.trim()}`),
].join(', ');

const CERTIFICATE_COLUMNS = `serial_hex, smartcard_uuid, request_uuid, user_uuid, template_common_name, thumbprint,
  not_before, not_after, issuer, requester_name, status, revoked_at, reason, der, issued_at`;

export const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** An INSERT of every listed column: built once, not per call (the hot paths insert per request). */
const insertInto = (table: string, columns: string) => `INSERT INTO ${table} (${columns}) VALUES (${placeholders(columns.split(',').length)})`;

const INSERT_REQUEST = insertInto('requests', REQUEST_COLUMNS);
const INSERT_CARD = insertInto('smartcards', CARD_COLUMNS);
const INSERT_CERTIFICATE = insertInto('certificates', CERTIFICATE_COLUMNS);

/** Request statuses open for execution (Approved, Executing): see domain/enums.ts. */
const OPEN = '(3, 4)';
/** A request that may count one more challenge-response (parameters: the limit twice, 0 = none). */
const COUNTABLE = `status IN ${OPEN} AND (? = 0 OR responses_issued < ?)`;

const AUDIT_COLUMNS = 'at, correlation_id, caller_uuid, action, request_uuid, smartcard_uuid, outcome, detail';
const INSERT_AUDIT = `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (${placeholders(8)})`;
const auditParams = (e: AuditEntry) => [e.at, e.correlationId, e.callerUuid, e.action, e.requestUuid, e.smartcardUuid, e.outcome, e.detail];

/** Counts one challenge-response on an open request within its limit (0 = none): `markExecuted`'s UPDATE. */
const COUNT_RESPONSE = `UPDATE requests SET status = CASE status WHEN 3 THEN 4 ELSE status END,
  responses_issued = responses_issued + ?
  WHERE uuid = ? AND ${COUNTABLE}`;

/** The card `c` is the request's (the row `request`, an alias or the table) new or old card. */
const isCardOf = (request: string) => `(c.uuid = ${request}.new_smartcard_uuid OR c.uuid = ${request}.old_smartcard_uuid)`;

/** The status of a card that is the request's new or old card (`lockForKeyRelease`), without its lock clause. */
const CARD_OF_REQUEST_STATUS = `SELECT c.status FROM smartcards c JOIN requests r ON r.uuid = ?
  WHERE c.uuid = ? AND ${isCardOf('r')}`;

/**
 * `requests.recordResponse` on SQLite: COUNT_RESPONSE when the card (parameter) is the request's
 * and in one of the `statuses` live statuses that follow (parameters). Built once per count.
 */
const countsOnLiveCard = new Map<number, string>();
const countOnLiveCard = (statuses: number) => {
  let sql = countsOnLiveCard.get(statuses);
  if (sql === undefined) {
    sql = `${COUNT_RESPONSE} AND EXISTS (SELECT 1 FROM smartcards c WHERE c.uuid = ?
      AND ${isCardOf('requests')} AND c.status IN (${placeholders(statuses)}))`;
    countsOnLiveCard.set(statuses, sql);
  }
  return sql;
};

/**
 * `requests.recordResponse` on PostgreSQL, one statement: the counting UPDATE locks the request
 * row, the card row is then locked shared (the contract's lock order: the join cannot yield the
 * card before the UPDATE has run), the audit row is inserted when the card is live, and when it
 * is not, cm_refuse (migration 5) aborts the statement, the count with it (SQLSTATE CM001).
 * Answers 0 (not counted: nothing written) or 1 (recorded).
 */
const RECORD_RESPONSE = `WITH counted AS (
    ${COUNT_RESPONSE}
    RETURNING new_smartcard_uuid, old_smartcard_uuid
  ), card AS (
    SELECT c.status FROM smartcards c, counted r
    WHERE c.uuid = ? AND ${isCardOf('r')} FOR SHARE OF c
  ), audited AS (
    INSERT INTO audit_log (${AUDIT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM card WHERE card.status = ANY (?::int[])
    RETURNING 1
  )
  SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM counted) THEN 0
    WHEN EXISTS (SELECT 1 FROM audited) THEN 1
    ELSE cm_refuse('the card is not live') END AS outcome`;
const REFUSED = 'CM001';

/** Binds a card to an open, unbound request (parameters: the card, the request, the nil uuid): `bindCard`. */
const BIND_CARD = `UPDATE requests SET new_smartcard_uuid = ?, status = CASE status WHEN 3 THEN 4 ELSE status END
  WHERE uuid = ? AND new_smartcard_uuid = ? AND status IN ${OPEN}`;

/**
 * `requests.bindNewCard` on PostgreSQL, one statement: the bind, the card's row and the audit
 * row; when the request is no longer open and unbound, cm_refuse aborts it (nothing written).
 */
const BIND_NEW_CARD = `WITH bound AS (
    ${BIND_CARD}
    RETURNING 1
  ), card AS (
    ${INSERT_CARD}
  ), audited AS (
    ${INSERT_AUDIT}
  )
  SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN 1 ELSE cm_refuse('the request is no longer open and unbound') END AS bound`;

const LOCK_CLAUSES: Record<RowLock, string> = { keyShare: ' FOR KEY SHARE', share: ' FOR SHARE', update: ' FOR UPDATE' };

/** What `requests.patch` may write, in a fixed order (one prepared statement per combination). */
const PATCHABLE_REQUEST_COLUMNS: [keyof RequestPatch, string][] = [
  ['status', 'status'],
  ['completed', 'completed'],
  ['newSmartcardUuid', 'new_smartcard_uuid'],
];

function cardParams(c: SmartcardRecord): unknown[] {
  return [
    c.uuid, c.cardId, c.status, c.flags, c.parentSmartcardUuid, c.primarySmartcardUuid,
    c.permanentSmartcardUuid, c.assignedUserUuid, c.profileTemplateUuid, c.profileTemplateVersion, c.comment,
    c.middleware, c.atr, c.keyVersion, c.requestUuid, c.createdAt,
  ];
}

function requestParams(r: RequestRecord): unknown[] {
  return [
    r.uuid, r.requestType, r.status, r.flags, r.profileTemplateUuid, r.profileTemplateVersion,
    r.originatorUserUuid, r.originatorName, r.targetUserUuid, r.targetName, r.targetUpn, r.submitted, r.completed,
    r.newSmartcardUuid, r.oldSmartcardUuid, r.newProfileUuid, r.oldProfileUuid, r.priority, r.comment,
    JSON.stringify(r.dataCollection), r.responsesIssued,
  ];
}

/** A card from its row; `p`, the prefix of its columns in a joined row (`card_`: `REQUEST_AND_CARD_COLUMNS`). */
function cardFromRow(row: Row, p = ''): SmartcardRecord {
  return {
    uuid: row[`${p}uuid`] as string,
    cardId: row[`${p}card_id`] as string,
    status: row[`${p}status`] as number,
    flags: row[`${p}flags`] as number,
    parentSmartcardUuid: row[`${p}parent_smartcard_uuid`] as string,
    primarySmartcardUuid: row[`${p}primary_smartcard_uuid`] as string,
    permanentSmartcardUuid: row[`${p}permanent_smartcard_uuid`] as string,
    assignedUserUuid: row[`${p}assigned_user_uuid`] as string,
    profileTemplateUuid: row[`${p}profile_template_uuid`] as string,
    profileTemplateVersion: row[`${p}profile_template_version`] as number,
    comment: row[`${p}comment`] as string,
    middleware: row[`${p}middleware`] as string,
    atr: row[`${p}atr`] as string,
    keyVersion: row[`${p}key_version`] as number,
    requestUuid: row[`${p}request_uuid`] as string,
    createdAt: row[`${p}created_at`] as string,
  };
}

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
export type TemplateCache = Map<string, { version: number; template: ProfileTemplate }>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The repositories on one connection. Only a reader of committed data fills the template cache
 * (`fillsCache`): a body read in a transaction may belong to one that rolls back, and its
 * version number could later be committed with another body.
 */
export function sqlRepositories(
  db: SqlConnection,
  dialect: SqlDialect,
  templateCache: TemplateCache,
  fillsCache: boolean,
  secrets: TemplateSecrets,
  /** Told of the audit rows each write adds (the metrics count those that commit). */
  onAuditRows: (n: number) => void = () => {},
): Repositories {
  const approvalsOf = async (uuid: string): Promise<RequestRecord['approvals']> =>
    (await db.all('SELECT approver_uuid, approved, comment, at FROM request_approvals WHERE request_uuid = ? ORDER BY at, approver_uuid', [uuid])).map((a) => ({
      approverUuid: a.approver_uuid as string,
      approved: a.approved === 1,
      comment: a.comment as string,
      at: a.at as string,
    }));

  const requestFromRow = async (row: Row, withApprovals = true): Promise<RequestRecord> => ({
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
    approvals: withApprovals ? await approvalsOf(row.uuid as string) : [],
  });
  const requestsFrom = (rows: Row[], withApprovals = true) => Promise.all(rows.map((row) => requestFromRow(row, withApprovals)));

  const getTemplate = async (uuid: string, lock?: RowLock): Promise<ProfileTemplate | undefined> => {
    // One query: the body only when the cached version is not the current one.
    const hit = templateCache.get(uuid);
    const row = await db.get(`SELECT version, CASE version WHEN ? THEN NULL ELSE body END AS body FROM profile_templates WHERE uuid = ?${locking(lock)}`, [
      hit?.version ?? -1,
      uuid,
    ]);
    if (!row) return undefined;
    if (row.body === null && hit) return hit.template;
    // Shared between callers: frozen so that no caller can change another's copy.
    const template = deepFreeze(decodeTemplate(row.body as string, secrets));
    if (fillsCache) templateCache.set(uuid, { version: row.version as number, template });
    return template;
  };

  const bindCard = async (uuid: string, smartcardUuid: string) => (await db.run(BIND_CARD, [smartcardUuid, uuid, NIL_UUID])) === 1;

  /** Runs a statement that cm_refuse may abort: its row, or undefined when it refused (nothing written). */
  const refusable = async (sql: string, params: unknown[]): Promise<{ row: Row | undefined } | undefined> => {
    try {
      return { row: await db.get(sql, params) };
    } catch (err) {
      if ((err as { code?: unknown }).code === REFUSED) return undefined;
      throw err;
    }
  };

  const insertAudit = (e: AuditEntry) => db.run(INSERT_AUDIT, auditParams(e));

  const markExecuted = async (uuid: string, countResponse?: { limit: number }) => {
    const limit = countResponse?.limit ?? 0;
    return (await db.run(COUNT_RESPONSE, [countResponse ? 1 : 0, uuid, limit, limit])) === 1;
  };

  /** A narrow UPDATE of the fields given, when the request is (still) in `expectedStatus` if one is given. */
  const patchRequest = async (uuid: string, expectedStatus: number | undefined, fields: RequestPatch): Promise<boolean> => {
    const columns: string[] = [];
    const params: unknown[] = [];
    for (const [field, column] of PATCHABLE_REQUEST_COLUMNS) {
      if (fields[field] === undefined) continue;
      columns.push(`${column} = ?`);
      params.push(fields[field]);
    }
    if (columns.length === 0) return true;
    params.push(uuid);
    const condition = expectedStatus === undefined ? '' : ' AND status = ?';
    if (expectedStatus !== undefined) params.push(expectedStatus);
    return (await db.run(`UPDATE requests SET ${columns.join(', ')} WHERE uuid = ?${condition}`, params)) === 1;
  };

  /** What a SELECT appends to take `lock` on the rows it reads (of the table aliased `of`, when given). */
  const locking = (lock: RowLock | undefined, of?: string) =>
    lock && dialect.rowLocks ? `${LOCK_CLAUSES[lock]}${of ? ` OF ${of}` : ''}` : '';

  const certificates = (sql: string, params: unknown[]) => db.all(sql, params).then((rows) => rows.map(certificateFromRow));

  return {
    templates: {
      get: getTemplate,
      async list() {
        return (await db.all('SELECT body FROM profile_templates ORDER BY name, uuid')).map((row) => decodeTemplate(row.body as string, secrets));
      },
      async insert(t) {
        await db.run('INSERT INTO profile_templates (uuid, name, version, body) VALUES (?, ?, ?, ?)', [t.uuid, t.name, t.version, encodeTemplate(t, secrets)]);
      },
      async update(t) {
        await db.run('UPDATE profile_templates SET name = ?, version = ?, body = ? WHERE uuid = ?', [t.name, t.version, encodeTemplate(t, secrets), t.uuid]);
      },
      async delete(uuid) {
        await db.run('DELETE FROM profile_templates WHERE uuid = ?', [uuid]);
      },
      async isReferenced(uuid) {
        // Requests only: every card is bound to a request on its own template, and requests are
        // never deleted (migration 3 dropped the index on smartcards that a second query needed).
        return (await db.get('SELECT 1 AS one FROM requests WHERE profile_template_uuid = ? LIMIT 1', [uuid])) !== undefined;
      },
    },

    requests: {
      async get(uuid, withApprovals = true, lock) {
        const row = await db.get(`SELECT ${REQUEST_COLUMNS} FROM requests WHERE uuid = ?${locking(lock)}`, [uuid]);
        return row ? requestFromRow(row, withApprovals) : undefined;
      },
      async getWithTemplateAndCard(uuid, smartcardUuid = NIL_UUID, lock) {
        // After waiting for the request's lock, PostgreSQL re-reads the request row but not the
        // joined card: a card bound meanwhile would be missing.
        if (lock && smartcardUuid !== NIL_UUID) throw new Error('getWithTemplateAndCard: a lock with a card is not supported');
        // The template's version comes with the request: its body is read only when the cache
        // does not hold that version (as `templates.get` does it, in a statement of its own).
        const row = await db.get(
          `SELECT ${REQUEST_AND_CARD_COLUMNS}, t.version AS template_version FROM requests r
           LEFT JOIN smartcards c ON c.uuid = ? AND ${isCardOf('r')}
           LEFT JOIN profile_templates t ON t.uuid = r.profile_template_uuid
           WHERE r.uuid = ?${locking(lock, 'r')}`,
          [smartcardUuid, uuid],
        );
        if (!row) return {};
        const request = await requestFromRow(row, false);
        const hit = templateCache.get(request.profileTemplateUuid);
        let template: ProfileTemplate | undefined;
        if (hit && hit.version === row.template_version) template = hit.template;
        else if (row.template_version !== null) template = await getTemplate(request.profileTemplateUuid);
        return { request, template, card: row.card_uuid === null ? undefined : cardFromRow(row, 'card_') };
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
        return requestsFrom(await db.all(`SELECT ${REQUEST_COLUMNS} FROM requests ${clause} ORDER BY submitted DESC, uuid`, params));
      },
      async listByCard(smartcardUuid) {
        const rows = await db.all(
          `SELECT ${REQUEST_COLUMNS} FROM requests WHERE new_smartcard_uuid = ?
           UNION SELECT ${REQUEST_COLUMNS} FROM requests WHERE old_smartcard_uuid = ?
           ORDER BY submitted DESC, uuid`,
          [smartcardUuid, smartcardUuid],
        );
        return requestsFrom(rows, false);
      },
      async existsOpen(templateUuid, types, targetUserUuid) {
        if (types.length === 0) return false;
        const target = targetUserUuid === undefined ? '' : 'AND target_user_uuid = ?';
        const params: unknown[] = [templateUuid, ...types];
        if (targetUserUuid !== undefined) params.push(targetUserUuid);
        const sql = `SELECT 1 AS one FROM requests WHERE profile_template_uuid = ? AND status IN ${OPEN}
          AND request_type IN (${placeholders(types.length)}) ${target} LIMIT 1`;
        return (await db.get(sql, params)) !== undefined;
      },
      async listOpenSubmittedBefore(submittedBefore) {
        return requestsFrom(await db.all(`SELECT ${REQUEST_COLUMNS} FROM requests WHERE status IN ${OPEN} AND submitted < ? ORDER BY submitted`, [submittedBefore]));
      },
      async insert(r) {
        await db.run(INSERT_REQUEST, requestParams(r));
      },
      async patch(uuid, fields) {
        await patchRequest(uuid, undefined, fields);
      },
      patchIf: patchRequest,
      bindCard,
      async bindNewCard(card, entry) {
        if (dialect.rowLocks) {
          // PostgreSQL: one statement (BIND_NEW_CARD).
          if (!(await refusable(BIND_NEW_CARD, [card.uuid, card.requestUuid, NIL_UUID, ...cardParams(card), ...auditParams(entry)]))) return false;
          onAuditRows(1);
          return true;
        }
        if (!(await bindCard(card.requestUuid, card.uuid))) return false;
        await db.run(INSERT_CARD, cardParams(card));
        await insertAudit(entry);
        onAuditRows(1);
        return true;
      },
      markExecuted,
      async recordResponse(uuid, smartcardUuid, limit, liveStatuses, entry) {
        if (dialect.rowLocks) {
          // PostgreSQL: one statement (RECORD_RESPONSE), one round trip.
          const ran = await refusable(RECORD_RESPONSE, [1, uuid, limit, limit, smartcardUuid, ...auditParams(entry), liveStatuses]);
          if (!ran) return 'cardNotLive';
          if (ran.row?.outcome !== 1) return 'notCounted';
          onAuditRows(1);
          return 'recorded';
        }
        // SQLite (one writer: nothing runs between these statements): the count, on the condition
        // that the card is the request's and live, then the audit row. When nothing was counted,
        // the request's state takes precedence in saying why.
        const counted = await db.run(countOnLiveCard(liveStatuses.length), [
          1, uuid, limit, limit, smartcardUuid, ...liveStatuses,
        ]);
        if (counted !== 1) {
          const countable = await db.get(`SELECT 1 AS yes FROM requests WHERE uuid = ? AND ${COUNTABLE}`, [uuid, limit, limit]);
          return countable ? 'cardNotLive' : 'notCounted';
        }
        await insertAudit(entry);
        onAuditRows(1);
        return 'recorded';
      },
      async countResponses(uuid, wanted, limit) {
        // The row is locked from the read to the write, so no other unit counts in between.
        const row = await db.get(`SELECT status, responses_issued FROM requests WHERE uuid = ?${locking('update')}`, [uuid]);
        if (!row || (row.status !== 3 && row.status !== 4)) return undefined;
        const issued = row.responses_issued as number;
        const granted = limit === 0 ? wanted : Math.max(0, Math.min(wanted, limit - issued));
        if (granted > 0 || row.status === 3) {
          await db.run('UPDATE requests SET status = 4, responses_issued = responses_issued + ? WHERE uuid = ?', [granted, uuid]);
        }
        return granted;
      },
      async addApproval(requestUuid, a) {
        await db.run('INSERT INTO request_approvals (request_uuid, approver_uuid, approved, comment, at) VALUES (?, ?, ?, ?, ?)', [
          requestUuid, a.approverUuid, a.approved ? 1 : 0, a.comment, a.at,
        ]);
      },
      async lock(...uuids) {
        // Locked as the sorted rows come out of the sort: in uuid order.
        if (dialect.rowLocks && uuids.length > 0) {
          await db.all(`SELECT uuid FROM requests WHERE uuid IN (${placeholders(uuids.length)}) ORDER BY uuid${locking('update')}`, uuids);
        }
      },
    },

    smartcards: {
      async get(uuid, lock) {
        const row = await db.get(`SELECT ${CARD_COLUMNS} FROM smartcards WHERE uuid = ?${locking(lock)}`, [uuid]);
        return row ? cardFromRow(row) : undefined;
      },
      async findNewestByCardId(cardId) {
        const row = await db.get(`SELECT ${CARD_COLUMNS} FROM smartcards WHERE card_id = ? ORDER BY created_at DESC, uuid DESC LIMIT 1`, [cardId]);
        return row ? cardFromRow(row) : undefined;
      },
      async statusesByCardId(cardId) {
        return (await db.all('SELECT status FROM smartcards WHERE card_id = ?', [cardId])).map((r) => r.status as number);
      },
      async lockCardId(cardId) {
        if (dialect.lockName) await db.get(dialect.lockName, [`cardid:${cardId}`]);
      },
      async keyVersionsInUse() {
        return (await db.all('SELECT DISTINCT key_version FROM smartcards WHERE key_version > 0')).map((r) => r.key_version as number);
      },
      async insert(c) {
        await db.run(INSERT_CARD, cardParams(c));
      },
      async updateStatus(uuid, status) {
        await db.run('UPDATE smartcards SET status = ? WHERE uuid = ?', [status, uuid]);
      },
      async lockForKeyRelease(cardUuid, requestUuid) {
        // The card row only: the unit holds the request row already (see the interface).
        return (await db.get(`${CARD_OF_REQUEST_STATUS}${locking('share', 'c')}`, [requestUuid, cardUuid]))?.status as number | undefined;
      },
    },

    pins: {
      async get(smartcardUuid, requestUuid) {
        const row = await db.get('SELECT key_version, sealed FROM server_pins WHERE smartcard_uuid = ? AND request_uuid = ?', [smartcardUuid, requestUuid]);
        return row ? { keyVersion: row.key_version as number, sealed: row.sealed as Buffer } : undefined;
      },
      async put(smartcardUuid, requestUuid, keyVersion, sealed) {
        await db.run('INSERT INTO server_pins (smartcard_uuid, request_uuid, key_version, sealed) VALUES (?, ?, ?, ?)', [
          smartcardUuid, requestUuid, keyVersion, sealed,
        ]);
      },
      async deleteForRequest(requestUuid) {
        await db.run('DELETE FROM server_pins WHERE request_uuid = ?', [requestUuid]);
      },
    },

    certificates: {
      async insert(c) {
        await db.run(INSERT_CERTIFICATE, [
          c.serialHex, c.smartcardUuid, c.requestUuid, c.userUuid, c.templateCommonName, c.thumbprint,
          c.notBefore, c.notAfter, c.issuer, c.requesterName, c.status, c.revokedAt, c.reason, c.der, c.issuedAt,
        ]);
      },
      listByCard: (smartcardUuid) =>
        certificates(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE smartcard_uuid = ? ORDER BY issued_at, serial_hex`, [smartcardUuid]),
      listByRequest: (requestUuid) =>
        certificates(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE request_uuid = ? ORDER BY issued_at, serial_hex`, [requestUuid]),
      listByUser: (userUuid) =>
        certificates(
          `SELECT ${CERTIFICATE_COLUMNS.replace(/(\w+)/g, 'c.$1')} FROM certificates c
           JOIN smartcards s ON s.uuid = c.smartcard_uuid
           WHERE c.user_uuid = ? AND s.status <> 6 ORDER BY c.issued_at, c.serial_hex`,
          [userUuid],
        ),
      // One statement: a snapshot on both stores. At most a few dozen serials (one OCSP request).
      listBySerial: async (serialHexes) =>
        serialHexes.length === 0
          ? []
          : certificates(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE serial_hex IN (${serialHexes.map(() => '?').join(', ')})`, [...serialHexes]),
      async setStatus(serialHex, status, revokedAt, reason) {
        await db.run('UPDATE certificates SET status = ?, revoked_at = ?, reason = ? WHERE serial_hex = ?', [status, revokedAt, reason, serialHex]);
      },
      async crl() {
        // One statement, so one snapshot: the number and exactly the entries committed with it.
        const rows = await db.all(
          `SELECT s.crl_number, c.serial_hex, c.revoked_at, c.reason FROM ca_state s
           LEFT JOIN certificates c ON c.status IN (1, 2)
           WHERE s.id = 1 ORDER BY c.revoked_at, c.serial_hex`,
        );
        return {
          number: Number(rows[0]!.crl_number),
          entries: rows
            .filter((r) => r.serial_hex !== null)
            .map((r) => ({ serialHex: r.serial_hex as string, revokedAt: r.revoked_at as string, reason: r.reason as number })),
        };
      },
      async bumpCrlNumber() {
        await db.run('UPDATE ca_state SET crl_number = crl_number + 1 WHERE id = 1');
      },
    },

    audit: {
      async append(e: AuditEntry) {
        await insertAudit(e);
        onAuditRows(1);
      },
      async appendMany(entries) {
        // Single-row INSERTs: measured on SQLite, a 32-row VALUES list costs about twice as much per row.
        for (const e of entries) await insertAudit(e);
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
        const rows = await db.all(
          `SELECT id, at, correlation_id, caller_uuid, action, request_uuid, smartcard_uuid, outcome, detail
           FROM audit_log ${clause} ORDER BY id DESC LIMIT ?`,
          [...params, filter.limit],
        );
        return rows.map(
          (r): AuditRecord => ({
            id: Number(r.id),
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

    deployment: {
      async record(name, value) {
        await db.run('INSERT INTO deployment_facts (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, value]);
        return (await db.get('SELECT value FROM deployment_facts WHERE name = ?', [name]))!.value as string;
      },
    },
  };
}
