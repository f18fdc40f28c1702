/**
 * The CA's X.509 v2 CRL (RFC 5280 section 5), served at `GET /crl` (SPEC 6, 7): disabled and
 * retired cards' certificates revoked, suspended cards' certificates on hold.
 *
 * node-forge has no CRL support: the CertificateList is built with forge.asn1 and signed by
 * node:crypto. Pure function over plain data, meant to run in a piscina worker.
 */
import forge from 'node-forge';
import { type Asn1, invalid } from './csr.js';
import {
  extensionNode,
  normalizeSerialHex,
  serialNode,
  signToBeSigned,
  signingCa,
  smallIntegerNode,
  type SigningCa,
  timeNode,
  toDate,
  wholeSeconds,
} from './issue.js';

const asn1 = forge.asn1;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;
const node = (type: number, value: string | Asn1[]): Asn1 => asn1.create(U, type, Array.isArray(value), value);
const seq = (...items: Asn1[]): Asn1 => node(T.SEQUENCE, items);

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
const ALLOWED_REASONS = new Set<number>(Object.values(CRL_REASONS));

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

function integerFromNumber(n: number): Asn1 {
  if (!Number.isSafeInteger(n) || n < 0) throw invalid('CRL number must be a non-negative integer');
  if (n <= 0x7fffffff) return smallIntegerNode(n);
  // forge's integerToDer is 32-bit; larger safe integers are encoded from their hex.
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return node(T.INTEGER, Buffer.from(hex, 'hex').toString('latin1'));
}

function entryNode(entry: CrlEntry): { serialHex: string; node: Asn1 } {
  const serialHex = normalizeSerialHex(entry?.serialHex);
  if (!Number.isInteger(entry.reason) || !ALLOWED_REASONS.has(entry.reason)) {
    throw invalid(`CRL reason ${entry.reason} for serial ${serialHex} is not a valid CRLReason`);
  }
  const parts = [serialNode(serialHex), timeNode(wholeSeconds(toDate(entry.revokedAt, 'revocation date')))];
  // RFC 5280 5.3.1: the reasonCode extension SHOULD be absent for unspecified (0).
  if (entry.reason !== CRL_REASONS.unspecified) {
    const reasonCode = node(T.ENUMERATED, String.fromCharCode(entry.reason));
    parts.push(seq(extensionNode('2.5.29.21', false, reasonCode)));
  }
  return { serialHex, node: seq(...parts) };
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

  const seen = new Set<string>();
  const revoked = input.entries.map((e) => {
    const built = entryNode(e);
    if (seen.has(built.serialHex)) throw invalid(`serial ${built.serialHex} is listed twice`);
    seen.add(built.serialHex);
    return built.node;
  });

  const tbs = seq(
    smallIntegerNode(1), // v2
    ca.signatureAlgorithm,
    ca.cert.subjectNode,
    timeNode(thisUpdate),
    timeNode(nextUpdate),
    // RFC 5280 5.1.2.6: with no revoked certificates the list is absent, not empty.
    ...(revoked.length ? [seq(...revoked)] : []),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      seq(
        extensionNode(
          '2.5.29.35',
          false,
          seq(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ca.cert.keyIdentifier.toString('latin1'))),
        ),
        extensionNode('2.5.29.20', false, integerFromNumber(input.crlNumber)),
      ),
    ]),
  );
  return signToBeSigned(Buffer.from(asn1.toDer(tbs).getBytes(), 'latin1'), ca.signatureAlgorithmDer, ca.signer);
}
