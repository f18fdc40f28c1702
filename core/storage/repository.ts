// The storage interface the domain sees, and the contract every store keeps (SQLite, one core;
// PostgreSQL, any number of cores). Every method is asynchronous so that a networked database can
// implement it; SQLite answers at once.
//
// What a store guarantees, and what the domain may therefore rely on:
// - Writes happen only inside `Store.transaction(unit)`. A unit is atomic: all of its writes
//   commit or none do.
// - Units are serializable: whatever runs at the same time, in this process or another core, the
//   committed outcome is that of the units run one at a time in some order. (SQLite: one writer
//   runs them one after another. PostgreSQL: SERIALIZABLE isolation.) A unit's reads inside the
//   transaction therefore still hold when it writes.
// - A unit may be run more than once: a store retries a unit that lost a serialization conflict
//   or a deadlock. So a unit has no effect outside the transaction (no answer sent, no counter
//   bumped, no file written); what it returns is used once, after its last run committed.
// - A unit's promise resolves only after its transaction committed. It rejects with the unit's
//   own error (nothing of that unit was kept), or with CmError UNAVAILABLE when the database
//   cannot be reached or the commit's outcome is unknown (the connection was lost during COMMIT).
// - The invariants of SPEC 12 do not rest on serializability alone: each also has a conditional
//   statement, a constraint or an explicit lock below (`bindCard`, `patchIf`, `markExecuted`,
//   `countResponses`, `lock`, `lockCardId`, the primary keys of approvals and server PINs), so
//   that they hold on a store at a weaker isolation level too.
// - `read` sees committed data only (`certificates.crl` reads its number and entries in one snapshot).

import type {
  AuditEntry,
  AuditRecord,
  CertificateRecord,
  ProfileTemplate,
  RequestRecord,
  SmartcardRecord,
} from '../domain/types.js';

export interface TemplateRepository {
  get(uuid: string): Promise<ProfileTemplate | undefined>;
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
  /** With `withApprovals` false the approvals are left empty (hot paths that do not need them). */
  get(uuid: string, withApprovals?: boolean): Promise<RequestRecord | undefined>;
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
  /** One row per (request, approver): a second approval by the same approver fails. */
  addApproval(requestUuid: string, approval: RequestRecord['approvals'][number]): Promise<void>;
  /**
   * Locks the request's row until the transaction ends: units that check, then write, what
   * hangs off a request (its approvals, its certificates) take it first.
   */
  lock(uuid: string): Promise<void>;
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
}

export interface SmartcardRepository {
  get(uuid: string): Promise<SmartcardRecord | undefined>;
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
  /** Changes the card's status; takes the lock that `lockForKeyRelease` takes (see there). */
  updateStatus(uuid: string, status: number): Promise<void>;
  /**
   * Inside the transaction that commits a key, a challenge-response or a PIN (SPEC 3 and 12: the
   * checks hold at commit time): the card's status when the card is the request's new or old
   * card, undefined when it is not (any more) bound to it. It takes a lock that status changes
   * also take (PostgreSQL: `SELECT ... FOR SHARE` on the card row joined to the request row,
   * which conflicts with the status `UPDATE`, and whose WHERE is re-evaluated on the newest row
   * version under READ COMMITTED), held until the transaction ends, so a key answer commits
   * either before the status change or not at all. SQLite's single writer gives the same:
   * no status change can run between this read and the commit.
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
  /** Runs `work` as one serializable unit, possibly more than once (see the contract above). */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
  /** Whether the database answers (readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
