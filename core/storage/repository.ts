// The storage interface the domain sees. Every method is asynchronous so that a networked
// database (PostgreSQL) can implement it; SQLite answers at once. Writes happen only inside
// `transaction`, which runs its callback atomically and in isolation from other writers.

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
  addApproval(requestUuid: string, approval: RequestRecord['approvals'][number]): Promise<void>;
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
  /** Revoked and on-hold certificates: the CRL's entries. */
  listUnusable(): Promise<CertificateRecord[]>;
  setStatus(serialHex: string, status: number, revokedAt: string, reason: number): Promise<void>;
  /** The CRL number: bumped in every transaction that changes what the CRL says. */
  crlNumber(): Promise<number>;
  bumpCrlNumber(): Promise<void>;
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
}

/** What a store reports about its commits, for metrics; optional. */
export interface StoreObserver {
  /** A transaction (one group commit of `units` units of work) committed, with the audit rows it wrote. */
  committed(units: number, seconds: number, auditRows: number): void;
  /** A transaction failed as a whole (nothing of it was kept). */
  failed(units: number): void;
}

export interface Store {
  /** Reads of committed data, outside any transaction. */
  readonly read: Repositories;
  /** Runs `work` atomically; concurrent transactions never interleave their writes. */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
  /** Whether the database answers (readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
