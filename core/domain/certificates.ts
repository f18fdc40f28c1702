// Certificates on the card (SPEC 5.6, 5.7, 6): generation options, issuance from the card's
// PKCS#10 requests by the embedded CA, reads, and the certificate side of the card life cycle
// (hold, release, revoke) that the CRL reflects.

import type { IssuedJobResult as IssuedCertificate } from '../../workers/ca/jobs.js';
import type { OcspStatus, ParsedOcspRequest } from '../../workers/ca/ocsp.js';
import { forbidden, invalidArgument, wrongState } from '../errors.js';
import type { Repositories, Store } from '../storage/repository.js';
import { auditEntry, type CallContext, type Clock } from './context.js';
import { CARD_ISSUING_TYPES, RequestStatus, SmartcardStatus } from './enums.js';
import { requireGuid } from './ids.js';
import { mayExecute } from './policy.js';
import type { RequestEffects } from './requests.js';
import { visibleRequest } from './smartcards.js';
import type { CertificateRecord, CertificateTemplate, RequestRecord } from './types.js';
import { CertificateStatus, NIL_UUID } from './types.js';

// The worker's result bytes arrive in buffers of their own (transferred): viewed, not copied.
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** RFC 5280 CRLReason codes used here. */
const REASON = { CessationOfOperation: 5, CertificateHold: 6, PrivilegeWithdrawn: 9 } as const;

export const KEY_STORAGE_PROVIDER = 'Microsoft Smart Card Key Storage Provider';
const MAX_CSR_TEXT = 16 * 1024;

/** The CA as the domain needs it; core/ca wires the embedded CA and the worker pool behind it. */
export interface CertificateAuthority {
  /** Parses and verifies one PKCS#10 request, checks its key against the template, signs. */
  issue(input: { csr: string; template: CertificateTemplate; subjectDn: string; upn: string }): Promise<IssuedCertificate>;
  /** A CRL listing `entries`, signed. */
  signCrl(input: { entries: { serialHex: string; revokedAt: string; reason: number }[]; crlNumber: number; now: Date }): Promise<Buffer>;
  /** Reads an OCSP request; throws INVALID_ARGUMENT when it is malformed. */
  readOcspRequest(der: Buffer): ParsedOcspRequest;
  /** The (unsigned) answer to a malformed OCSP request. */
  readonly malformedOcspResponse: Buffer;
  /** An OCSP answer with one status per CertID asked about, signed. */
  signOcsp(input: { answers: Array<{ certIdDer: Buffer } & OcspStatus>; nonce?: Buffer; now: Date }): Promise<Buffer>;
}

export interface GenerationOptions {
  subject: string;
  keyAlgorithmName: string;
  keySize: number;
  friendlyName: string;
  hashAlgorithmName: string;
  keyStorageProviderNames: string[];
  exportable: number;
  keyProtectionLevel: number;
  keyUsages: number;
}

export interface CertificateView {
  isKeyHistory: boolean;
  archivedOnCa: boolean;
  certificateType: number;
  templateCommonName: string;
  serialNumber: string;
  thumbprint: string;
  notBefore: string;
  notAfter: string;
  issuer: string;
  requesterName: string;
  status: number;
}

function view(c: CertificateRecord): CertificateView {
  return {
    isKeyHistory: false,
    archivedOnCa: false,
    certificateType: 1,
    templateCommonName: c.templateCommonName,
    serialNumber: c.serialHex,
    thumbprint: c.thumbprint,
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    issuer: c.issuer,
    requesterName: c.requesterName,
    status: c.status,
  };
}

/** Fills `{name}`, `{userid}` and `{upn}` of a SubjectTemplate, escaping RFC 4514 specials. */
export function subjectFor(template: CertificateTemplate, request: RequestRecord): string {
  const escape = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
  const values: Record<string, string> = {
    name: request.targetName || request.targetUserUuid,
    userid: request.targetUserUuid,
    upn: request.targetUpn,
  };
  return template.subjectTemplate.replace(/\{(name|userid|upn)\}/gi, (_m, key: string) => escape(values[key.toLowerCase()] ?? ''));
}

export class CertificateService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ca: CertificateAuthority,
    /** Loads a card the caller may see, or throws 404. */
    private readonly visibleCard: (ctx: CallContext, uuid: string) => Promise<unknown>,
  ) {}

  async generationOptions(ctx: CallContext, requestUuid: string): Promise<GenerationOptions[]> {
    const { request, template } = await visibleRequest(this.store.read, ctx, requireGuid(requestUuid, 'The request id'));
    return template.certificateTemplates.map((c) => ({
      subject: subjectFor(c, request),
      keyAlgorithmName: c.keyAlgorithmName,
      keySize: c.keySize,
      friendlyName: c.templateCommonName,
      hashAlgorithmName: c.hashAlgorithmName,
      keyStorageProviderNames: [KEY_STORAGE_PROVIDER],
      exportable: 0,
      keyProtectionLevel: 0,
      keyUsages: c.keyUsages,
    }));
  }

  /** Issues one certificate per certificate template, from the card's requests in that order. */
  async submit(ctx: CallContext, requestUuidText: string, csrs: string[]): Promise<(CertificateRecord & { pkcs7: Buffer })[]> {
    const requestUuid = requireGuid(requestUuidText, 'The request id');
    if (csrs.some((c) => typeof c !== 'string' || c.length === 0 || c.length > MAX_CSR_TEXT)) {
      throw invalidArgument('certificaterequests must hold base64 PKCS#10 requests.');
    }
    const { request, template } = await visibleRequest(this.store.read, ctx, requestUuid);
    if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor of the request may submit certificate requests.');
    const card = request.newSmartcardUuid === NIL_UUID ? undefined : await this.store.read.smartcards.get(request.newSmartcardUuid);
    if (!CARD_ISSUING_TYPES.has(request.requestType) || request.status !== RequestStatus.Executing || !card) {
      throw wrongState('Certificates are issued only for an Executing card-issuing request with a bound card.');
    }
    if (card.status !== SmartcardStatus.Assigned) throw wrongState('Certificates go only on a card being initialised (Assigned).');
    if (csrs.length !== template.certificateTemplates.length) {
      throw invalidArgument(`certificaterequests must hold ${template.certificateTemplates.length} request(s), one per certificate template.`);
    }
    // All or nothing: every request is checked and signed before anything is stored.
    const issued = await Promise.all(
      template.certificateTemplates.map((c, i) =>
        this.ca.issue({ csr: csrs[i]!, template: c, subjectDn: subjectFor(c, request), upn: request.targetUpn }),
      ),
    );
    return this.store.transaction(async (tx) => {
      // One upload per request: the request is locked from the check below to the commit, and
      // the card shared (it stays Assigned until then: a retirement waits, then revokes these).
      const current = await tx.requests.get(requestUuid, false, 'update');
      const cardStatus = await tx.smartcards.lockForKeyRelease(card.uuid, requestUuid);
      if (current?.status !== RequestStatus.Executing || cardStatus !== SmartcardStatus.Assigned) {
        throw wrongState('The request or its card changed while the certificates were being issued.');
      }
      if ((await tx.certificates.listByRequest(requestUuid)).length > 0) {
        throw wrongState('Certificates were already issued for this request.');
      }
      const now = this.clock.now().toISOString();
      const records = issued.map(
        (cert, i): CertificateRecord => ({
          serialHex: cert.serialHex,
          smartcardUuid: card.uuid,
          requestUuid,
          userUuid: request.targetUserUuid,
          templateCommonName: template.certificateTemplates[i]!.templateCommonName,
          thumbprint: cert.thumbprintHex,
          notBefore: cert.notBefore,
          notAfter: cert.notAfter,
          issuer: cert.issuerDn,
          requesterName: request.originatorName,
          // Valid once the request completes and the card is Active; until then on hold.
          status: CertificateStatus.OnHold,
          revokedAt: now,
          reason: REASON.CertificateHold,
          der: asBuffer(cert.der),
          issuedAt: now,
        }),
      );
      for (const r of records) await tx.certificates.insert(r);
      await tx.certificates.bumpCrlNumber();
      await tx.audit.append(
        auditEntry(ctx, this.clock.now(), 'SubmitCertificateRequests', 'Succeeded', { requestUuid, smartcardUuid: card.uuid }, {
          certificates: records.length,
          serials: records.map((r) => r.serialHex).join(' '),
        }),
      );
      return records.map((r, i) => Object.assign(r, { pkcs7: asBuffer(issued[i]!.pkcs7Der) }));
    });
  }

  async listForCard(ctx: CallContext, cardUuid: string): Promise<CertificateView[]> {
    const id = requireGuid(cardUuid, 'The smart card id');
    await this.visibleCard(ctx, id);
    return (await this.store.read.certificates.listByCard(id)).map(view);
  }

  async listMine(ctx: CallContext): Promise<CertificateView[]> {
    return (await this.store.read.certificates.listByUser(ctx.caller.userUuid)).map(view);
  }

  private crlCache: { number: number; der: Buffer } | undefined;

  /** The current CRL: rebuilt when anything it lists changed since the cached one. */
  async crl(): Promise<Buffer> {
    // The number and the entries come from one read: what was committed at that number.
    const { number, entries } = await this.store.read.certificates.crl();
    if (this.crlCache?.number === number) return this.crlCache.der;
    const der = await this.ca.signCrl({ entries, crlNumber: number, now: this.clock.now() });
    if (!this.crlCache || this.crlCache.number < number) this.crlCache = { number, der };
    return der;
  }

  /**
   * The OCSP answer to `requestDer` (SPEC 14): good, revoked with the reason (on hold:
   * certificateHold, as on the CRL) or unknown, from one read of committed state. A request that
   * cannot be read gets malformedRequest, not an error.
   */
  async ocsp(requestDer: Buffer): Promise<Buffer> {
    let request: ParsedOcspRequest;
    try {
      request = this.ca.readOcspRequest(requestDer);
    } catch (err) {
      if ((err as { code?: string }).code === 'INVALID_ARGUMENT') return this.ca.malformedOcspResponse;
      throw err;
    }
    const serials = request.queries.flatMap((q) => (q.serialHex ? [q.serialHex] : []));
    const known = new Map((await this.store.read.certificates.listBySerial(serials)).map((c) => [c.serialHex, c]));
    const answers = request.queries.map((q): { certIdDer: Buffer } & OcspStatus => {
      const c = q.serialHex === undefined ? undefined : known.get(q.serialHex);
      if (!c) return { certIdDer: q.certIdDer, status: 'unknown' };
      if (c.status === CertificateStatus.Valid) return { certIdDer: q.certIdDer, status: 'good' };
      return { certIdDer: q.certIdDer, status: 'revoked', revokedAt: c.revokedAt, reason: c.reason };
    });
    return this.ca.signOcsp({ answers, ...(request.nonce ? { nonce: request.nonce } : {}), now: this.clock.now() });
  }

  /** What card changes do to the card's certificates, in the same transaction. */
  readonly effects: Pick<RequestEffects, 'onCardActivated' | 'onCardStatusChanged'> = {
    onCardActivated: (tx, cardUuid) => this.setCardCertificates(tx, cardUuid, SmartcardStatus.Active),
    onCardStatusChanged: (tx, cardUuid, status) => this.setCardCertificates(tx, cardUuid, status),
  };

  private async setCardCertificates(tx: Repositories, cardUuid: string, cardStatus: number): Promise<void> {
    const now = this.clock.now().toISOString();
    let changed = false;
    for (const c of await tx.certificates.listByCard(cardUuid)) {
      if (c.status === CertificateStatus.Revoked) continue;
      let next: { status: number; reason: number } | undefined;
      if (cardStatus === SmartcardStatus.Active) next = { status: CertificateStatus.Valid, reason: 0 };
      else if (cardStatus === SmartcardStatus.Suspended) next = { status: CertificateStatus.OnHold, reason: REASON.CertificateHold };
      else if (cardStatus === SmartcardStatus.Disabled) next = { status: CertificateStatus.Revoked, reason: REASON.PrivilegeWithdrawn };
      else if (cardStatus === SmartcardStatus.Retired) next = { status: CertificateStatus.Revoked, reason: REASON.CessationOfOperation };
      if (!next || (next.status === c.status && next.reason === c.reason)) continue;
      await tx.certificates.setStatus(c.serialHex, next.status, next.status === CertificateStatus.Valid ? '' : now, next.reason);
      changed = true;
    }
    if (changed) await tx.certificates.bumpCrlNumber();
  }
}
