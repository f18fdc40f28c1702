/**
 * PKCS#10 certificate requests, as MIM CM clients send them to
 * `POST /requests/{id}/certificatedata` (SPEC 5.6, 5.7, 7).
 *
 * Everything here is a pure function over plain data so that it can run inside a piscina
 * worker: strings and Buffers in, plain objects out.
 *
 * This module also holds the small DER/ASN.1 helpers and the error type shared by the other
 * CA modules (issue.ts, crl.ts, core/ca/ca-store.ts): the CA is four files and the helpers are
 * needed by all of them; the CSR parser is the lowest layer, so they live here.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';
import type { ErrorCode } from '../../core/errors.js';

const asn1 = forge.asn1;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** Stable codes; INVALID_ARGUMENT maps to HTTP 400 (SPEC 9). */
export type CaErrorCode = Extract<ErrorCode, 'INVALID_ARGUMENT' | 'CA_CONFIG_INVALID' | 'INTERNAL'>;

/**
 * A coded error. Messages are written for a person and never carry key material.
 * Note: structured clone (worker_threads / piscina) drops custom properties such as `code`;
 * a worker entry point should return `caErrorToPlain(err)` and the caller rebuild the error
 * with `caErrorFromPlain`.
 */
export class CaError extends Error {
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string) {
    super(message);
    this.name = 'CaError';
    this.code = code;
  }
}

export const invalid = (message: string): CaError => new CaError('INVALID_ARGUMENT', message);

export interface PlainCaError {
  caError: true;
  code: CaErrorCode;
  message: string;
}

/** Turns a thrown value into a structured-clone-safe object (unknown errors become INTERNAL). */
export function caErrorToPlain(err: unknown): PlainCaError {
  if (err instanceof CaError) return { caError: true, code: err.code, message: err.message };
  // An unexpected failure: do not pass its message on, it could hold anything.
  return { caError: true, code: 'INTERNAL', message: 'internal error in the certificate authority' };
}

export function isPlainCaError(value: unknown): value is PlainCaError {
  return typeof value === 'object' && value !== null && (value as PlainCaError).caError === true;
}

export function caErrorFromPlain(plain: PlainCaError): CaError {
  return new CaError(plain.code, plain.message);
}

// ---------------------------------------------------------------------------------------------
// DER helpers (shared)
// ---------------------------------------------------------------------------------------------

export type Asn1 = forge.asn1.Asn1;

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
} as const;

/** Binary string (forge's byte representation) from bytes. */
export const bin = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
/** Bytes from a binary string. */
export const buf = (binary: string): Buffer => Buffer.from(binary, 'latin1');

/**
 * Parses DER with forge. BIT STRING contents are left alone (forge would otherwise guess
 * whether they hold ASN.1, and a signature that happens to look like ASN.1 would be mangled).
 */
export function fromDer(der: Uint8Array): Asn1 {
  const options = { strict: true, parseAllBytes: true, decodeBitStrings: false };
  return asn1.fromDer(forge.util.createBuffer(bin(der)), options as unknown as boolean);
}

export const toDer = (node: Asn1): Buffer => buf(asn1.toDer(node).getBytes());

/** One TLV inside a DER buffer: where its contents start and end. */
export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/**
 * Reads one definite-length TLV at `offset`. Used to slice the exact bytes a signature covers,
 * rather than trusting a parse-and-re-encode round trip to reproduce them.
 */
export function readTlv(der: Uint8Array, offset: number): Tlv {
  if (offset + 2 > der.length) throw invalid('truncated DER');
  const tag = der[offset];
  if ((tag & 0x1f) === 0x1f) throw invalid('unsupported high-tag-number form in DER');
  let len = der[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw invalid('unsupported DER length form');
    if (p + n > der.length) throw invalid('truncated DER');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i];
    p += n;
  }
  if (p + len > der.length) throw invalid('truncated DER');
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** Bytes of a DER length field. */
function derLengthSize(n: number): number {
  if (n < 0x80) return 1;
  let size = 1;
  for (let v = n; v > 0; v = Math.floor(v / 256)) size++;
  return size;
}

/**
 * A TLV from raw content bytes. Used to wrap DER that came from elsewhere (a certificate, a
 * signature) without parsing and re-encoding it, and to build certificates from parts. One
 * allocation, each content copied once.
 */
export function derTlv(tag: number, ...contents: Uint8Array[]): Buffer {
  let length = 0;
  for (const c of contents) length += c.length;
  const lengthSize = derLengthSize(length);
  const out = Buffer.allocUnsafe(1 + lengthSize + length);
  out[0] = tag;
  if (lengthSize === 1) {
    out[1] = length;
  } else {
    out[1] = 0x80 | (lengthSize - 1);
    for (let i = lengthSize, v = length; i > 1; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  let p = 1 + lengthSize;
  for (const c of contents) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

export const oidNode = (oid: string): Asn1 =>
  asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes());

const OID_DER = new Map<string, Buffer>();

/** The DER of an OBJECT IDENTIFIER, encoded once per OID (they come from a short fixed list). */
export function oidDer(oid: string): Buffer {
  let der = OID_DER.get(oid);
  if (!der) {
    der = toDer(oidNode(oid));
    if (OID_DER.size < 256) OID_DER.set(oid, der);
  }
  return der;
}

export const oidOf = (node: Asn1 | undefined): string | undefined =>
  node && node.tagClass === asn1.Class.UNIVERSAL && node.type === asn1.Type.OID && typeof node.value === 'string'
    ? asn1.derToOid(node.value)
    : undefined;

export const children = (node: Asn1 | undefined): Asn1[] =>
  node && Array.isArray(node.value) ? (node.value as Asn1[]) : [];

export const isSeq = (node: Asn1 | undefined): node is Asn1 =>
  !!node && node.tagClass === asn1.Class.UNIVERSAL && node.type === asn1.Type.SEQUENCE && Array.isArray(node.value);

/** Lower-case hex of a DER INTEGER's magnitude, without a sign-padding zero byte. */
export function integerHex(node: Asn1): string {
  if (node.tagClass !== asn1.Class.UNIVERSAL || node.type !== asn1.Type.INTEGER || typeof node.value !== 'string') {
    throw invalid('expected an INTEGER');
  }
  let hex = Buffer.from(node.value, 'latin1').toString('hex');
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}

// ---------------------------------------------------------------------------------------------
// Distinguished names to text
// ---------------------------------------------------------------------------------------------

/** Attribute short names of RFC 4514 plus the ones Windows prints. Shared with issue.ts. */
export const DN_ATTRIBUTES: ReadonlyArray<readonly [string, string]> = [
  ['CN', '2.5.4.3'],
  ['SN', '2.5.4.4'],
  ['SERIALNUMBER', '2.5.4.5'],
  ['C', '2.5.4.6'],
  ['L', '2.5.4.7'],
  ['ST', '2.5.4.8'],
  ['STREET', '2.5.4.9'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['T', '2.5.4.12'],
  ['GN', '2.5.4.42'],
  ['DC', '0.9.2342.19200300.100.1.25'],
  ['UID', '0.9.2342.19200300.100.1.1'],
  ['E', '1.2.840.113549.1.9.1'],
];
const NAME_BY_OID = new Map(DN_ATTRIBUTES.map(([n, o]) => [o, n]));

function decodeDirectoryString(node: Asn1): string | undefined {
  if (node.tagClass !== asn1.Class.UNIVERSAL || typeof node.value !== 'string') return undefined;
  const raw = Buffer.from(node.value, 'latin1');
  switch (node.type as number) {
    case asn1.Type.UTF8:
      return raw.toString('utf8');
    case asn1.Type.PRINTABLESTRING:
    case asn1.Type.IA5STRING:
    case 20 /* TeletexString, read as Latin-1 as most software does */:
    case 26 /* VisibleString */:
      return raw.toString('latin1');
    case asn1.Type.BMPSTRING: {
      const swapped = Buffer.from(raw);
      return swapped.length % 2 === 0 ? swapped.swap16().toString('utf16le') : undefined;
    }
    default:
      return undefined;
  }
}

/** RFC 4514 escaping of one attribute value. */
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\"+,;<>\u0000]/g, (c) => (c === '\u0000' ? '\\00' : `\\${c}`));
  // Spaces are not escaped above, so the raw first and last characters are still in place.
  if (value.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  if ((value.startsWith(' ') && value !== ' ') || value.startsWith('#')) out = `\\${out}`;
  return out;
}

/** One attribute as dnToString writes it: `CN=Doe\, Jane`. */
export const attributeText = (oid: string, text: string): string => `${NAME_BY_OID.get(oid) ?? oid}=${escapeDnValue(text)}`;

/**
 * An RDNSequence as an RFC 4514 string: most specific RDN first ("CN=Jane Doe,O=Contoso"),
 * the reverse of the encoded order, as OpenSSL's RFC2253 mode and .NET print it.
 */
export function dnToString(rdnSequence: Asn1): string {
  const rdns = children(rdnSequence).map((set) =>
    children(set)
      .map((atv) => {
        const [typeNode, valueNode] = children(atv);
        const oid = oidOf(typeNode) ?? '?';
        const text = valueNode ? decodeDirectoryString(valueNode) : undefined;
        // A value we cannot read as text is written as #hex of its DER, as RFC 4514 says.
        return text === undefined ? `${NAME_BY_OID.get(oid) ?? oid}=#${valueNode ? toDer(valueNode).toString('hex') : ''}` : attributeText(oid, text);
      })
      .join('+'),
  );
  return rdns.reverse().join(',');
}

// ---------------------------------------------------------------------------------------------
// Base64 and PEM
// ---------------------------------------------------------------------------------------------

const MAX_TEXT = 64 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*(?:={1,2})?$/;

/**
 * Strict standard base64 (SPEC 2: `+` `/`, padding optional), whitespace and line breaks
 * ignored. Buffer.from(..., 'base64') on its own silently skips junk, so check first.
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw invalid(`${what} is empty`);
  if (!BASE64.test(compact)) throw invalid(`${what} is not valid base64`);
  const padded = compact.includes('=');
  if ((padded && compact.length % 4 !== 0) || compact.length % 4 === 1) {
    throw invalid(`${what} is not valid base64 (bad length)`);
  }
  return Buffer.from(compact, 'base64');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** The DER of every PEM block with one of `labels`, in file order. */
export function pemBlocks(text: string, labels: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1] !== m[3]) throw invalid(`PEM block "${m[1]}" ends with "${m[3]}"`);
    if (!labels.includes(m[1])) continue;
    out.push(decodeBase64Strict(m[2], `PEM block "${m[1]}"`));
  }
  return out;
}

export const toPem = (label: string, der: Uint8Array): string =>
  `-----BEGIN ${label}-----\n${(Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;

const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'] as const;

/** The CSR's DER from base64 (any line breaks) or a PEM armour. */
export function certificateRequestDer(text: string): Buffer {
  if (typeof text !== 'string') throw invalid('certificate request must be a string');
  if (text.length > MAX_TEXT) throw invalid('certificate request is too large');
  const trimmed = text.trim();
  if (!trimmed.startsWith('-----BEGIN')) return decodeBase64Strict(trimmed, 'certificate request');
  // Exactly one armoured block and nothing else around it.
  const m = /^-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END ([A-Z ]+)-----$/.exec(trimmed);
  if (!m) throw invalid('certificate request PEM armour is malformed');
  if (!(CSR_LABELS as readonly string[]).includes(m[1]) || m[1] !== m[3]) {
    throw invalid(`expected a "CERTIFICATE REQUEST" PEM block, got "${m[1]}"`);
  }
  return decodeBase64Strict(m[2], 'certificate request');
}

// ---------------------------------------------------------------------------------------------
// Subject public keys
// ---------------------------------------------------------------------------------------------

export type KeyAlgorithm = 'RSA' | 'ECDSA_P256';

export interface SpkiInfo {
  keyAlgorithm: KeyAlgorithm;
  keySize: number;
  /** Canonical DER SubjectPublicKeyInfo (minimal integers, uncompressed EC point). */
  spkiDer: Buffer;
  /** The key as a JWK, for node:crypto when the key has to be used (plain data). */
  jwk: crypto.JsonWebKey;
}

/** Keys we refuse outright whatever a template says: too weak to sign with, or absurd. */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 8192;

/** Names for the refusal message of keys people actually send. */
const KEY_ALGORITHM_NAMES: Record<string, string> = {
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
  '1.3.101.110': 'x25519',
  '1.2.840.10040.4.1': 'dsa',
  '1.2.840.113549.1.1.10': 'rsassa-pss',
};
const CURVE_NAMES: Record<string, string> = {
  '1.3.132.0.34': 'secp384r1',
  '1.3.132.0.35': 'secp521r1',
  '1.3.132.0.10': 'secp256k1',
};

/** Unsigned big-endian magnitude of a DER INTEGER; undefined when negative. */
function unsignedInteger(node: Asn1 | undefined): Buffer | undefined {
  if (!node || node.tagClass !== asn1.Class.UNIVERSAL || node.type !== asn1.Type.INTEGER || typeof node.value !== 'string') {
    return undefined;
  }
  const bytes = buf(node.value);
  if (bytes.length === 0 || bytes[0] & 0x80) return undefined;
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

const bitLength = (magnitude: Buffer): number =>
  magnitude.length === 0 || magnitude[0] === 0 ? 0 : (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]));

const derUnsignedInteger = (magnitude: Buffer): Buffer =>
  derTlv(0x02, magnitude[0] & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);

// The AlgorithmIdentifiers of the canonical SubjectPublicKeyInfos (RSA with NULL parameters).
const RSA_ALGORITHM_DER = derTlv(0x30, oidDer(OID.rsaEncryption), Buffer.from([0x05, 0x00]));
const P256_ALGORITHM_DER = derTlv(0x30, oidDer(OID.ecPublicKey), oidDer(OID.prime256v1));

/**
 * Identifies a SubjectPublicKeyInfo and checks that it is a usable RSA or P-256 key, and
 * re-encodes it canonically. Read with forge.asn1 rather than crypto.createPublicKey: OpenSSL
 * 3's decoder costs ~130 us per SPKI (and ~200 us to export one), more than the rest of an
 * issuance. An EC point is still checked to be on the curve, by OpenSSL (ECDH.convertKey).
 */
export function describeSpki(spkiDer: Uint8Array): SpkiInfo {
  let root: Asn1;
  try {
    root = fromDer(spkiDer);
  } catch {
    throw invalid('the public key is malformed');
  }
  const [algorithm, bits] = children(root);
  const [algOid, params] = children(algorithm);
  const oid = oidOf(algOid);
  if (
    !isSeq(root) ||
    children(root).length !== 2 ||
    !isSeq(algorithm) ||
    !oid ||
    bits.type !== asn1.Type.BITSTRING ||
    typeof bits.value !== 'string' ||
    !bits.value.startsWith('\x00')
  ) {
    throw invalid('the public key is malformed');
  }
  const keyBytes = buf(bits.value.slice(1));

  if (oid === OID.rsaEncryption) {
    if ((params && params.type !== asn1.Type.NULL) || children(algorithm).length > 2) throw invalid('the RSA key parameters are invalid');
    let rsaKey: Asn1;
    try {
      rsaKey = fromDer(keyBytes);
    } catch {
      throw invalid('the RSA public key is malformed');
    }
    const [nNode, eNode] = children(rsaKey);
    const n = unsignedInteger(nNode);
    const e = unsignedInteger(eNode);
    if (!isSeq(rsaKey) || children(rsaKey).length !== 2 || !n || !e) throw invalid('the RSA public key is malformed');
    const size = bitLength(n);
    if (size < RSA_MIN_BITS || size > RSA_MAX_BITS) throw invalid(`RSA keys of ${size} bits are not supported`);
    // e = 1 (or even) is not RSA: with e = 1 anybody can "sign" for the key.
    if (!(e[e.length - 1] & 1) || (e.length === 1 && e[0] < 3)) throw invalid('the RSA public exponent is invalid');
    const canonical = derTlv(
      0x30,
      RSA_ALGORITHM_DER,
      derTlv(0x03, Buffer.from([0]), derTlv(0x30, derUnsignedInteger(n), derUnsignedInteger(e))),
    );
    return {
      keyAlgorithm: 'RSA',
      keySize: size,
      spkiDer: canonical,
      jwk: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') },
    };
  }

  if (oid === OID.ecPublicKey) {
    const curve = oidOf(params);
    if (curve !== OID.prime256v1 || children(algorithm).length !== 2) {
      const name = curve ? (CURVE_NAMES[curve] ?? curve) : 'explicit parameters';
      throw invalid(`EC keys on curve ${name} are not supported (only P-256)`);
    }
    let point: Buffer;
    try {
      // Decompresses a compressed point, and refuses one that is not on the curve.
      point = crypto.ECDH.convertKey(keyBytes, 'prime256v1', undefined, undefined, 'uncompressed') as Buffer;
    } catch {
      throw invalid('the EC public key is not a valid P-256 point');
    }
    const canonical = derTlv(
      0x30,
      P256_ALGORITHM_DER,
      derTlv(0x03, Buffer.from([0]), point),
    );
    return {
      keyAlgorithm: 'ECDSA_P256',
      keySize: 256,
      spkiDer: canonical,
      jwk: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    };
  }

  const name = KEY_ALGORITHM_NAMES[oid] ?? oid;
  throw invalid(`${name} keys are not supported (only RSA and ECDSA P-256)`);
}

/**
 * The same checks for a key already loaded by node:crypto (the CA key, once at start-up, so
 * the slow export does not matter).
 */
export function describePublicKey(key: crypto.KeyObject): SpkiInfo {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') {
    throw invalid(`${type ?? 'unknown'} keys are not supported (only RSA and ECDSA P-256)`);
  }
  return describeSpki(key.export({ format: 'der', type: 'spki' }));
}

// ---------------------------------------------------------------------------------------------
// PKCS#10
// ---------------------------------------------------------------------------------------------

const CSR_SIGNATURES: Record<string, { hash: string; key: KeyAlgorithm; name: string }> = {
  [OID.sha256WithRSA]: { hash: 'sha256', key: 'RSA', name: 'sha256WithRSAEncryption' },
  [OID.sha384WithRSA]: { hash: 'sha384', key: 'RSA', name: 'sha384WithRSAEncryption' },
  [OID.sha512WithRSA]: { hash: 'sha512', key: 'RSA', name: 'sha512WithRSAEncryption' },
  [OID.ecdsaSha256]: { hash: 'sha256', key: 'ECDSA_P256', name: 'ecdsa-with-SHA256' },
  [OID.ecdsaSha384]: { hash: 'sha384', key: 'ECDSA_P256', name: 'ecdsa-with-SHA384' },
  [OID.ecdsaSha512]: { hash: 'sha512', key: 'ECDSA_P256', name: 'ecdsa-with-SHA512' },
};

const MAX_CSR_DER = 16 * 1024;

export interface ParsedCertificateRequest {
  keyAlgorithm: KeyAlgorithm;
  keySize: number;
  /** Canonical DER SubjectPublicKeyInfo: the only thing the CA takes from the request. */
  spkiDer: Buffer;
  /** The subject the client asked for, RFC 4514 text (informational; the template decides). */
  subjectDn: string;
  signatureAlgorithm: string;
  /** The request's DER as received. */
  der: Buffer;
}

/**
 * Parses and checks a PKCS#10 request: base64 DER (line breaks allowed) or PEM. The request's
 * own signature (proof of possession of the private key) must verify. Anything wrong is
 * INVALID_ARGUMENT with a message fit for the client.
 */
export function parseCertificateRequest(text: string): ParsedCertificateRequest {
  const der = certificateRequestDer(text);
  if (der.length > MAX_CSR_DER) throw invalid('certificate request is too large');

  // Raw slices first: the signature covers the CertificationRequestInfo bytes exactly as sent.
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw invalid('certificate request is not a DER SEQUENCE');
  const criTlv = readTlv(der, outer.contentStart);
  if (criTlv.tag !== 0x30) throw invalid('certificate request is malformed');
  const criDer = der.subarray(criTlv.start, criTlv.end);

  let root: Asn1;
  try {
    root = fromDer(der);
  } catch {
    throw invalid('certificate request is not valid DER');
  }
  const [cri, sigAlg, sigBits] = children(root);
  const [version, subject, spki, attributes] = children(cri);
  if (
    children(root).length !== 3 ||
    !isSeq(cri) ||
    children(cri).length > 4 ||
    !isSeq(sigAlg) ||
    !isSeq(subject) ||
    !isSeq(spki)
  ) {
    throw invalid('certificate request is not a PKCS#10 CertificationRequest');
  }
  if (
    version.tagClass !== asn1.Class.UNIVERSAL ||
    version.type !== asn1.Type.INTEGER ||
    version.value !== '\x00' ||
    (attributes && !(attributes.tagClass === asn1.Class.CONTEXT_SPECIFIC && attributes.type === 0))
  ) {
    throw invalid('certificate request is not a PKCS#10 v1 CertificationRequest');
  }
  if (sigBits?.type !== asn1.Type.BITSTRING || typeof sigBits.value !== 'string' || !sigBits.value.startsWith('\x00')) {
    throw invalid('certificate request signature is malformed');
  }

  const sigOid = oidOf(children(sigAlg)[0]) ?? '';
  const sigInfo = CSR_SIGNATURES[sigOid];
  if (!sigInfo) throw invalid(`certificate request signature algorithm ${sigOid || '?'} is not supported`);
  const params = children(sigAlg)[1];
  const paramsOk = sigInfo.key === 'RSA' ? !params || params.type === asn1.Type.NULL : !params;
  if (!paramsOk || children(sigAlg).length > 2) throw invalid('certificate request signature parameters are invalid');

  // forge.pki cannot hold EC keys, so the key is read from the SPKI DER by node:crypto.
  const spkiTlv = findSpkiSlice(der, criTlv);
  const key = describeSpki(spkiTlv);
  if (key.keyAlgorithm !== sigInfo.key) {
    throw invalid(`certificate request is signed with ${sigInfo.name} but holds an ${key.keyAlgorithm} key`);
  }

  const signature = buf(sigBits.value.slice(1));
  let ok = false;
  try {
    // From the JWK: OpenSSL's SPKI decoder is slow (see describeSpki).
    const publicKey = crypto.createPublicKey({ key: key.jwk, format: 'jwk' });
    ok = crypto.verify(sigInfo.hash, criDer, publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('certificate request signature does not verify (no proof of possession of the key)');

  return {
    keyAlgorithm: key.keyAlgorithm,
    keySize: key.keySize,
    spkiDer: key.spkiDer,
    subjectDn: dnToString(subject),
    signatureAlgorithm: sigInfo.name,
    der,
  };
}

/** The raw SubjectPublicKeyInfo bytes: third element of the CertificationRequestInfo. */
function findSpkiSlice(der: Buffer, cri: Tlv): Buffer {
  const version = readTlv(der, cri.contentStart);
  const subject = readTlv(der, version.end);
  const spki = readTlv(der, subject.end);
  if (spki.tag !== 0x30 || spki.end > cri.end) throw invalid('certificate request public key is malformed');
  return der.subarray(spki.start, spki.end);
}

export interface TemplateKeyPolicy {
  /** `RSA` or `ECDSA_P256` (SPEC 5.6), case-insensitive. */
  keyAlgorithmName: string;
  /** The template's KeySize: the minimum RSA modulus; 256 (or 0, unset) for ECDSA_P256. */
  keySize: number;
  /** When given, the EnrollKeyUsages bits are checked against the key type too. */
  keyUsages?: number;
}

/**
 * Refuses a request whose key does not fit the certificate template. KeySize is read as a
 * minimum, as in an AD CS template ("Minimum key size"): a 4096-bit key satisfies a 2048 entry.
 */
export function checkKeyFitsTemplate(
  parsed: Pick<ParsedCertificateRequest, 'keyAlgorithm' | 'keySize'>,
  template: TemplateKeyPolicy,
): void {
  const wanted = String(template.keyAlgorithmName ?? '').toUpperCase();
  if (wanted !== 'RSA' && wanted !== 'ECDSA_P256') {
    throw invalid(`the certificate template's key algorithm "${template.keyAlgorithmName}" is not supported`);
  }
  if (parsed.keyAlgorithm !== wanted) {
    throw invalid(`the request holds an ${parsed.keyAlgorithm} key; the certificate template requires ${wanted}`);
  }
  if (wanted === 'RSA' && parsed.keySize < (template.keySize || 2048)) {
    throw invalid(`the request holds a ${parsed.keySize}-bit RSA key; the certificate template requires ${template.keySize || 2048} bits`);
  }
  if (wanted === 'ECDSA_P256' && template.keySize && template.keySize !== 256) {
    throw invalid(`the certificate template asks for ECDSA_P256 with key size ${template.keySize}; P-256 keys are 256 bits`);
  }
  if (template.keyUsages !== undefined) keyUsageFlags(template.keyUsages, parsed.keyAlgorithm);
}

/**
 * EnrollKeyUsages bits (SPEC 5.6: Decryption 1, Signing 2, KeyAgreement 4) to X.509 keyUsage
 * names. Decryption on an EC key means key agreement (ECDH is how an EC key "decrypts");
 * KeyAgreement on an RSA key has no meaning and is refused.
 */
export function keyUsageFlags(
  bits: number,
  keyAlgorithm: KeyAlgorithm,
): { digitalSignature: boolean; keyEncipherment: boolean; keyAgreement: boolean } {
  if (!Number.isInteger(bits) || bits < 1 || bits > 7) {
    throw invalid(`key usages ${bits} are invalid (bits: Decryption 1, Signing 2, KeyAgreement 4)`);
  }
  if (keyAlgorithm === 'RSA' && bits & 4) throw invalid('the KeyAgreement usage needs an ECDSA_P256 key, not RSA');
  return {
    digitalSignature: (bits & 2) !== 0,
    keyEncipherment: keyAlgorithm === 'RSA' && (bits & 1) !== 0,
    keyAgreement: (bits & 4) !== 0 || (keyAlgorithm === 'ECDSA_P256' && (bits & 1) !== 0),
  };
}
