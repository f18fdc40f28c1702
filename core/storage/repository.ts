// The storage interface the domain sees, and the contract every store keeps (SQLite, one core;
// PostgreSQL, any number of cores). Every method is asynchronous so that a networked database can
// implement it; SQLite answers at once.
//
// What a store guarantees, and what the domain may therefore rely on:
// - Writes happen only inside `Store.transaction(unit)`, or `Store.atomicCall(unit)` for a unit
//   of one call that is atomic on its own. A unit is atomic: all of its writes commit or none do.
// - Isolation is READ COMMITTED, not serializable: each statement of a unit sees what was
//   committed before it began, and the unit's own writes. (SQLite gives more: one writer runs the
//   units one after another. PostgreSQL runs them at READ COMMITTED, chosen over SERIALIZABLE,
//   whose page-level predicate locks made unrelated binds conflict: see the README.) So a value a
//   unit read may have changed by the time it writes, unless the unit holds a lock that covers it.
//   Every check-then-write of the domain therefore rests on one of three things, never on luck:
//   1. A row lock taken by the read (`RowLock`: `requests.get(.., 'update')`, `requests.lock`,
//      `smartcards.get(.., 'update' | 'share')`, `templates.get(.., 'update' | 'keyShare')`,
//      `smartcards.lockForKeyRelease`) or a named lock (`smartcards.lockCardId`), held until the
//      unit ends. A read that takes a lock waits for a unit holding a conflicting one, then sees
//      what that unit committed.
//   2. A conditional statement that checks and writes in one step (`bindCard`, `patchIf`,
//      `markExecuted`, `countResponses`, `recordResponse`, the CRL number's increment): on
//      PostgreSQL an UPDATE waits for a concurrent writer of its row and re-evaluates its WHERE
//      on the newest version.
//   3. A constraint: one approval per (request, approver), one server PIN per (card, request),
//      unique serials.
// - Lock order, so that units never wait for each other in a cycle: the request row(s) first (in
//   uuid order when there are several: `requests.lock`), then the cardid lock (bind only), then
//   card rows, then certificates and the CRL number. A template row is locked on its own only.
//   Which unit takes what:
//   - a change of a request's status, approvals, certificates, server PIN or counters: the
//     request row, exclusively (`get(.., 'update')`, `lock`, or a conditional UPDATE of it);
//   - a change of a card's status: that card row, exclusively (`smartcards.get(.., 'update')`),
//     after the request row of the request it acts through;
//   - an answer that gives out key material, a challenge-response or a PIN, and a certificate
//     upload: the request row exclusively, then the card row shared (`lockForKeyRelease`), so the
//     answer commits before a status change of either or not at all (SPEC 3 and 12);
//   - a new request naming a card: the card row shared, the template row against deletion;
//     a template's update or deletion: its row exclusively.
// - A unit may be run more than once: a store retries a unit that lost a deadlock (the order
//   above makes that an accident, not a rule) or a serialization conflict. So a unit has no
//   effect outside the transaction (no answer sent, no counter bumped, no file written); what it
//   returns is used once, after its last run committed.
// - A unit's promise resolves only after its transaction committed. It rejects with the unit's
//   own error (nothing of that unit was kept), or with CmError UNAVAILABLE when the database
//   cannot be reached or the commit's outcome is unknown (the connection was lost during COMMIT).
// - `read` sees committed data only, each call in one statement where it matters
//   (`certificates.crl` reads its number and entries in one snapshot, `listBySerial` its rows).

import type {
  AuditEntry,
  AuditRecord,
  CertificateRecord,
  ProfileTemplate,
  RequestRecord,
  SmartcardRecord,
} from '../domain/types.js';

/**
 * A row lock a read takes inside a transaction, held until the transaction ends (PostgreSQL:
 * SELECT ... FOR KEY SHARE / FOR SHARE / FOR UPDATE; SQLite: nothing, its one writer already
 * holds the whole database). 'keyShare' keeps the row from being deleted, 'share' also from
 * being changed, 'update' from being changed or locked by any other unit.
 */
export type RowLock = 'keyShare' | 'share' | 'update';

export interface TemplateRepository {
  /** `lock` only inside a transaction. */
  get(uuid: string, lock?: RowLock): Promise<ProfileTemplate | undefined>;
  list(): Promise<ProfileTemplate[]>;
  insert(template: ProfileTemplate): Promise<void>;
  update(template: ProfileTemplate): Promise<void>;
  delete(uuid: string): Promise<void>;
  /** Whether any request or card still refers to the template. */
  isReferenced(uuid: string): Promise<boolean>;
}

export interface RequestFilter {
  targetUserUuid?: string;
  status?: number;
}

/** The fields of a request that change after it is created (`patch`). */
export type RequestPatch = Partial<Pick<RequestRecord, 'status' | 'completed' | 'newSmartcardUuid'>>;

export interface RequestRepository {
  /**
   * With `withApprovals` false the approvals are left empty (hot paths that do not need them).
   * `lock` only inside a transaction.
   */
  get(uuid: string, withApprovals?: boolean, lock?: RowLock): Promise<RequestRecord | undefined>;
  /**
   * The request (its approvals not loaded) with, read in the same statement, its template's
   * version (the template from the cache when it holds that version, else read as
   * `templates.get` does) and, when `smartcardUuid` is given, that card when it is the request's
   * new or old card: what an operation on a request reads first, in one round trip when the
   * template is cached. `lock` locks the request row only, as `get` does, and only without a
   * card (after waiting for the lock PostgreSQL re-reads the request, not the joined card).
   */
  getWithTemplateAndCard(
    uuid: string,
    smartcardUuid?: string,
    lock?: RowLock,
  ): Promise<{ request?: RequestRecord; template?: ProfileTemplate; card?: SmartcardRecord }>;
  list(filter: RequestFilter): Promise<RequestRecord[]>;
  /** Requests naming the card as new or old card, newest first (approvals not loaded). */
  listByCard(smartcardUuid: string): Promise<RequestRecord[]>;
  /** Whether an Approved or Executing request of one of `types` on the template exists (for `targetUserUuid` when given). */
  existsOpen(templateUuid: string, types: number[], targetUserUuid?: string): Promise<boolean>;
  /** Approved or Executing requests submitted before `submittedBefore`. */
  listOpenSubmittedBefore(submittedBefore: string): Promise<RequestRecord[]>;
  insert(request: RequestRecord): Promise<void>;
  /**
   * Writes only the fields given (the response count and the approvals change through their own
   * methods; nothing else after creation): a narrow UPDATE rewrites only the indexes over them.
   */
  patch(uuid: string, fields: RequestPatch): Promise<void>;
  /** `patch`, only while the request's status is `expectedStatus` (when given): whether it wrote. */
  patchIf(uuid: string, expectedStatus: number | undefined, fields: RequestPatch): Promise<boolean>;
  /**
   * Binds a card: sets the request's new card and moves Approved to Executing, only while the
   * request is open and has no card. False when another unit bound it first.
   */
  bindCard(uuid: string, smartcardUuid: string): Promise<boolean>;
  /**
   * A new card bound to its request (`card.requestUuid`), all or nothing: `bindCard`, the card's
   * row (`smartcards.insert`) and `entry` appended to the audit log. False, nothing written, when
   * the request is no longer open and unbound. PostgreSQL runs it as one statement; a refusal
   * there aborts the transaction, so the unit must end (throw) on false: a unit that goes on is
   * rolled back at its end and rejects.
   */
  bindNewCard(card: SmartcardRecord, entry: AuditEntry): Promise<boolean>;
  /** One row per (request, approver): a second approval by the same approver fails. */
  addApproval(requestUuid: string, approval: RequestRecord['approvals'][number]): Promise<void>;
  /**
   * Locks the requests' rows exclusively until the transaction ends, in uuid order (see the lock
   * order of the contract): a unit that works on several requests takes them all first.
   */
  lock(...uuids: string[]): Promise<void>;
  /**
   * An execute operation on an open request: Approved becomes Executing. With `countResponse`,
   * also counts one more challenge-response, unless `limit` (0 = none) is reached. False when
   * the request is not open, or the limit was reached.
   */
  markExecuted(uuid: string, countResponse?: { limit: number }): Promise<boolean>;
  /**
   * The batch form of `markExecuted` with counting: grants up to `wanted` challenge-responses
   * within `limit` (0 = none) and records them; how many were granted, or undefined when the
   * request is not Approved or Executing.
   */
  countResponses(uuid: string, wanted: number, limit: number): Promise<number | undefined>;
  /**
   * One challenge-response given, all or nothing: `markExecuted` with counting (`limit`, 0 =
   * none), then `smartcards.lockForKeyRelease` of the card, then `entry` appended to the audit
   * log, exactly as a unit making those three calls would, in their lock order. 'recorded'; or
   * why nothing was written: 'notCounted' (the request is not open or at its limit, as
   * `markExecuted` false), 'cardNotLive' (the card is not the request's, or its status is not
   * in `liveStatuses`). PostgreSQL runs it as one statement: call it through `Store.atomicCall`.
   */
  recordResponse(
    uuid: string,
    smartcardUuid: string,
    limit: number,
    liveStatuses: readonly number[],
    entry: AuditEntry,
  ): Promise<'recorded' | 'notCounted' | 'cardNotLive'>;
}

export interface SmartcardRepository {
  /** `lock` only inside a transaction: 'update' before a status change, 'share' to keep the status. */
  get(uuid: string, lock?: RowLock): Promise<SmartcardRecord | undefined>;
  /** The newest card record with this cardid (32 hex digits). */
  findNewestByCardId(cardId: string): Promise<SmartcardRecord | undefined>;
  /** The statuses of every card record that has held this cardid (empty when none has). */
  statusesByCardId(cardId: string): Promise<number[]>;
  /**
   * Locks a cardid until the transaction ends (there may be no row yet): a bind takes it before
   * it checks that no live card holds the cardid.
   */
  lockCardId(cardId: string): Promise<void>;
  /** Master key versions that cards refer to. */
  keyVersionsInUse(): Promise<number[]>;
  insert(card: SmartcardRecord): Promise<void>;
  /** Changes the card's status (read it with `get(.., 'update')` first: the contract's lock order). */
  updateStatus(uuid: string, status: number): Promise<void>;
  /**
   * Inside the transaction that commits a key, a challenge-response, a PIN or certificates (SPEC
   * 3 and 12: the checks hold at commit time), after the unit locked the request's row (a
   * conditional UPDATE of it, or `requests.lock`): the card's status when the card is the
   * request's new or old card, undefined when it is not. It locks the card row only, shared
   * (PostgreSQL: `FOR SHARE OF` the card), until the transaction ends; a status change reads the
   * card with 'update' or UPDATEs it, so it waits, and the answer commits before the change or
   * not at all. That suffices: the request's own state is held by the unit's exclusive lock on
   * its row, and the card's binding never changes once made (a request's old card is set when it
   * is created, its new card once by `bindCard`, under that same request lock). Locking the
   * request row here too would reverse the lock order and deadlock with status changes.
   * SQLite's single writer gives the same: nothing runs between this read and the commit.
   */
  lockForKeyRelease(cardUuid: string, requestUuid: string): Promise<number | undefined>;
}

export interface ServerPinRepository {
  get(smartcardUuid: string, requestUuid: string): Promise<{ keyVersion: number; sealed: Buffer } | undefined>;
  put(smartcardUuid: string, requestUuid: string, keyVersion: number, sealed: Buffer): Promise<void>;
  deleteForRequest(requestUuid: string): Promise<void>;
}

export interface AuditFilter {
  requestUuid?: string;
  smartcardUuid?: string;
  limit: number;
}

export interface AuditRepository {
  append(entry: AuditEntry): Promise<void>;
  /** Appends the entries in their order. */
  appendMany(entries: readonly AuditEntry[]): Promise<void>;
  list(filter: AuditFilter): Promise<AuditRecord[]>;
}

export interface CertificateRepository {
  insert(certificate: CertificateRecord): Promise<void>;
  listByCard(smartcardUuid: string): Promise<CertificateRecord[]>;
  listByRequest(requestUuid: string): Promise<CertificateRecord[]>;
  /** The user's certificates on cards that are not Retired. */
  listByUser(userUuid: string): Promise<CertificateRecord[]>;
  /**
   * The certificates with these serials (the ones an OCSP request asks about), read in one
   * statement: every status is as one committed state left it. Serials not found are left out.
   */
  listBySerial(serialHexes: readonly string[]): Promise<CertificateRecord[]>;
  setStatus(serialHex: string, status: number, revokedAt: string, reason: number): Promise<void>;
  /**
   * The CRL number and the CRL's entries (revoked and on-hold certificates) in one read: exactly
   * what was committed at that number. The number is bumped in every transaction that changes
   * what the CRL says.
   */
  crl(): Promise<{ number: number; entries: CrlEntry[] }>;
  bumpCrlNumber(): Promise<void>;
}

export interface CrlEntry {
  serialHex: string;
  revokedAt: string;
  reason: number;
}

/** What the first core recorded in the database (CA fingerprint, key check values: SPEC 12). */
export interface DeploymentRepository {
  /** Records `value` under `name` unless a value is there already; the value stored. */
  record(name: string, value: string): Promise<string>;
}

/** A secret sealed under a key ring version (AES-256-GCM; the bytes base64). */
export interface SealedSecret {
  keyVersion: number;
  sealed: string;
}

/**
 * Seals templates' `DefaultAdminKeyHex` for storage (issue 9, SPEC 8: no secret stored in clear),
 * the template Uuid as associated data. A store writes template bodies with
 * `encodeTemplate` and reads them with `decodeTemplate` (storage/template-codec.ts), and at
 * start-up seals any body written before this existed (`sealClearTemplates`).
 */
export interface TemplateSecrets {
  sealAdminKey(templateUuid: string, keyHex: string): SealedSecret;
  openAdminKey(templateUuid: string, secret: SealedSecret): string;
}

export interface Repositories {
  templates: TemplateRepository;
  requests: RequestRepository;
  smartcards: SmartcardRepository;
  pins: ServerPinRepository;
  audit: AuditRepository;
  certificates: CertificateRepository;
  deployment: DeploymentRepository;
}

/** What a store reports about its commits, for metrics; optional. */
export interface StoreObserver {
  /** A transaction (one group commit of `units` units of work) committed, with the audit rows it wrote. */
  committed(units: number, seconds: number, auditRows: number): void;
  /** A transaction failed as a whole (nothing of it was kept). */
  failed(units: number): void;
  /** A transaction lost a serialization conflict or a deadlock and runs again (PostgreSQL). */
  retried(): void;
}

export interface Store {
  /** Reads of committed data, outside any transaction. */
  readonly read: Repositories;
  /** Runs `work` as one atomic unit, possibly more than once (see the contract above). */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
  /**
   * A unit of exactly one repository call that is atomic on its own (`requests.recordResponse`),
   * kept as `transaction` keeps a unit. PostgreSQL runs the call's one statement without BEGIN
   * and COMMIT (two round trips fewer; a second statement is refused as a bug); SQLite runs it
   * as any unit.
   */
  atomicCall<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
  /** Whether the database answers (readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
