// The CA's X.509 v2 CRL (RFC 5280 section 5), served at `GET /crl` (SPEC 6, 7): disabled and
// retired cards' certificates revoked, suspended cards' certificates on hold.
import { invalid } from './errors.js';
import { normalizeSerialHex, safeInteger, serialInteger, toDate, wholeSeconds, x509Time } from './fields.js';
import { authorityKeyIdExtension, extension } from './certificate.js';
import { signingCa, type SigningCa } from './ca-certificate.js';
import { TbsCertList } from './schemas.js';
import { signToBeSigned, signatureAlgorithmOf } from './ca-signer.js';

/** RFC 5280 CRLReason values a CA may put on a full CRL (7 is unused, 8 is for delta CRLs). */
export const CRL_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
const REASON_NAMES = new Map<number, string>(Object.entries(CRL_REASONS).map(([name, code]) => [code, name]));

/** The rfc5280 ReasonCode name of a CRLReason value; refuses values a full CRL may not carry. */
export function reasonName(reason: number): string {
  const name = REASON_NAMES.get(reason);
  if (!Number.isInteger(reason) || name === undefined) throw invalid(`${reason} is not a valid CRLReason`);
  return name;
}

export interface CrlEntry {
  serialHex: string;
  /** ISO 8601. */
  revokedAt: string;
  /** RFC 5280 CRLReason (see CRL_REASONS). */
  reason: number;
}

export interface BuildCrlInput {
  caCertPem: string;
  caKeyPem: string;
  entries: CrlEntry[];
  thisUpdate: Date | string;
  nextUpdate: Date | string;
  /** Monotonic CRL number (RFC 5280 5.2.3); the caller keeps it. */
  crlNumber: number;
}

function revokedCertificate(entry: CrlEntry): { serialHex: string; value: object } {
  const serialHex = normalizeSerialHex(entry?.serialHex);
  const reason = reasonName(entry.reason);
  return {
    serialHex,
    value: {
      userCertificate: serialInteger(serialHex),
      revocationDate: x509Time(wholeSeconds(toDate(entry.revokedAt, 'revocation date'))),
      // RFC 5280 5.3.1: the reasonCode extension SHOULD be absent for unspecified (0).
      ...(entry.reason !== CRL_REASONS.unspecified ? { crlEntryExtensions: [extension('2.5.29.21', false, 'ReasonCode', reason)] } : {}),
    },
  };
}

/**
 * A DER X.509 v2 CRL over `entries`, signed by the CA, with the cRLNumber and
 * authorityKeyIdentifier extensions. A serial listed twice is a caller bug and is refused.
 */
export function buildCrl(input: BuildCrlInput): Buffer {
  return buildCrlUnder(signingCa(input.caCertPem, input.caKeyPem), input);
}

/** buildCrl for a CA already loaded. */
export function buildCrlUnder(ca: SigningCa, input: Omit<BuildCrlInput, 'caCertPem' | 'caKeyPem'>): Buffer {
  const thisUpdate = wholeSeconds(toDate(input.thisUpdate, 'thisUpdate'));
  const nextUpdate = wholeSeconds(toDate(input.nextUpdate, 'nextUpdate'));
  if (nextUpdate <= thisUpdate) throw invalid('nextUpdate must be after thisUpdate');
  if (!Array.isArray(input.entries)) throw invalid('CRL entries must be an array');
  if (!Number.isSafeInteger(input.crlNumber) || input.crlNumber < 0) throw invalid('CRL number must be a non-negative integer');

  const seen = new Set<string>();
  const revoked = input.entries.map((e) => {
    const built = revokedCertificate(e);
    if (seen.has(built.serialHex)) throw invalid(`serial ${built.serialHex} is listed twice`);
    seen.add(built.serialHex);
    return built.value;
  });

  const tbs = TbsCertList.encode(
    {
      version: 1, // v2
      signature: signatureAlgorithmOf(ca.signer),
      issuer: ca.cert.subject,
      thisUpdate: x509Time(thisUpdate),
      nextUpdate: x509Time(nextUpdate),
      // RFC 5280 5.1.2.6: with no revoked certificates the list is absent, not empty.
      ...(revoked.length ? { revokedCertificates: revoked } : {}),
      crlExtensions: [authorityKeyIdExtension(ca), extension('2.5.29.20', false, 'CRLNumber', safeInteger(input.crlNumber))],
    },
    'der',
  );
  return signToBeSigned(tbs, ca.signer);
}
