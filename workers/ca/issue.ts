/**
 * Issues end-entity smart card logon certificates (SPEC 5.6, 5.7).
 *
 * node-forge builds the ASN.1; node:crypto signs (forge's pure-JS RSA is ~50x slower, and the
 * subject key may be EC, which forge's certificate object cannot hold). Pure function over
 * plain data, meant to run in a piscina worker.
 */
import crypto from 'node:crypto';
import forge from 'node-forge';
import {
  type Asn1,
  type KeyAlgorithm,
  type SpkiInfo,
  CaError,
  DN_ATTRIBUTES,
  OID,
  attributeText,
  bin,
  buf,
  children,
  derTlv,
  describePublicKey,
  describeSpki,
  dnToString,
  fromDer,
  integerHex,
  invalid,
  isSeq,
  keyUsageFlags,
  oidDer,
  oidNode,
  oidOf,
  pemBlocks,
  readTlv,
  toDer,
} from './csr.js';
import { keyObjectSigner, tokenKeyLabel, tokenSigner, type CaSigner } from './ca-signer.js';
import { CryptoError } from '../crypto/admin-key.js';

const asn1 = forge.asn1;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

const node = (type: number, value: string | Asn1[]): Asn1 => asn1.create(U, type, Array.isArray(value), value);
const seq = (...items: Asn1[]): Asn1 => node(T.SEQUENCE, items);

// ---------------------------------------------------------------------------------------------
// Numbers and times
// ---------------------------------------------------------------------------------------------

/**
 * A certificate serial as lower-case hex of the integer's magnitude, even length, without a
 * sign byte: the form stored and compared everywhere (SPEC 5.7). Without input: 16 random
 * bytes, high bit cleared so the INTEGER is positive, first byte non-zero so the encoding is
 * minimal and every generated serial is 32 hex digits.
 */
export function normalizeSerialHex(serialHex?: string): string {
  if (serialHex === undefined) {
    for (;;) {
      const b = randomSerialBytes();
      b[0] &= 0x7f;
      if (b[0] !== 0) return b.toString('hex');
    }
  }
  if (typeof serialHex !== 'string' || !/^[0-9a-fA-F]+$/.test(serialHex)) throw invalid('serial number must be hex');
  let hex = serialHex.toLowerCase().replace(/^0+/, '');
  if (hex.length === 0) throw invalid('serial number must be positive');
  if (hex.length % 2) hex = `0${hex}`;
  // RFC 5280 4.1.2.2: at most 20 octets, counting the sign byte a high first bit needs.
  const octets = hex.length / 2 + (parseInt(hex.slice(0, 2), 16) & 0x80 ? 1 : 0);
  if (octets > 20) throw invalid('serial number is longer than 20 octets');
  return hex;
}

// Serials draw 16 bytes each from a block of the CSPRNG: one randomBytes call per 256 serials
// instead of one per certificate (a call costs about as much as the rest of the serial's work).
const RANDOM_BLOCK = 4096;
let randomBlock = Buffer.alloc(0);
let randomOffset = 0;

function randomSerialBytes(): Buffer {
  if (randomOffset + 16 > randomBlock.length) {
    randomBlock = crypto.randomBytes(RANDOM_BLOCK);
    randomOffset = 0;
  }
  const bytes = Buffer.from(randomBlock.subarray(randomOffset, randomOffset + 16));
  randomBlock.fill(0, randomOffset, randomOffset + 16);
  randomOffset += 16;
  return bytes;
}

/** DER INTEGER for a normalised serial (a 00 byte in front when the high bit is set). */
export function serialDer(serialHex: string): Buffer {
  const bytes = Buffer.from(serialHex, 'hex');
  return bytes[0] & 0x80 ? derTlv(0x02, Buffer.from([0]), bytes) : derTlv(0x02, bytes);
}

export const serialNode = (serialHex: string): Asn1 => fromDer(serialDer(serialHex));

export const smallIntegerNode = (n: number): Asn1 => node(T.INTEGER, asn1.integerToDer(n).getBytes());

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; seconds, Z. */
function timeParts(date: Date): { type: number; text: string } {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return { type: T.UTCTIME, text: `${pad(y % 100)}${rest}` };
  if (y < 0 || y > 9999) throw invalid('date is out of range');
  return { type: T.GENERALIZEDTIME, text: `${pad(y, 4)}${rest}` };
}

export function timeNode(date: Date): Asn1 {
  const { type, text } = timeParts(date);
  return node(type, text);
}

export function timeDer(date: Date): Buffer {
  const { type, text } = timeParts(date);
  return derTlv(type, Buffer.from(text, 'latin1'));
}

export function timeFromNode(n: Asn1 | undefined): Date {
  if (n?.type === T.UTCTIME && typeof n.value === 'string') return asn1.utcTimeToDate(n.value);
  if (n?.type === T.GENERALIZEDTIME && typeof n.value === 'string') return asn1.generalizedTimeToDate(n.value);
  throw invalid('expected a time');
}

/** Whole seconds: what a certificate can hold, so the returned times match the DER exactly. */
export const wholeSeconds = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);

/** ISO 8601 UTC without milliseconds, like the service's other timestamps (SPEC 2). */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function toDate(value: Date | string | number, what: string): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : new Date(value);
  if (Number.isNaN(d.getTime())) throw invalid(`${what} is not a valid date`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Distinguished names from text
// ---------------------------------------------------------------------------------------------

const OID_BY_NAME = new Map<string, string>([
  ...DN_ATTRIBUTES.map(([n, o]) => [n, o] as [string, string]),
  ['EMAIL', '1.2.840.113549.1.9.1'],
  ['EMAILADDRESS', '1.2.840.113549.1.9.1'],
  ['S', '2.5.4.8'],
  ['G', '2.5.4.42'],
  ['GIVENNAME', '2.5.4.42'],
  ['SURNAME', '2.5.4.4'],
  ['TITLE', '2.5.4.12'],
]);
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const MAX_DN_VALUE = 256;

/** An attribute value's string type and text as encoded (a country is upper-cased). */
function attributeValue(oid: string, value: string): { type: number; text: string; encoding: 'latin1' | 'utf8' } {
  if (value.length === 0) throw invalid(`subject attribute ${oid} is empty`);
  if (value.length > MAX_DN_VALUE) throw invalid(`subject attribute value is longer than ${MAX_DN_VALUE} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid('subject attribute value holds control characters');
  switch (oid) {
    case '2.5.4.6': // countryName: two letters, PrintableString (RFC 5280 appendix A)
      if (!/^[A-Za-z]{2}$/.test(value)) throw invalid('subject country (C) must be two letters');
      return { type: T.PRINTABLESTRING, text: value.toUpperCase(), encoding: 'latin1' };
    case '2.5.4.5': // serialNumber: PrintableString
      if (!PRINTABLE.test(value)) throw invalid('subject SERIALNUMBER holds characters PrintableString lacks');
      return { type: T.PRINTABLESTRING, text: value, encoding: 'latin1' };
    case '0.9.2342.19200300.100.1.25': // domainComponent and emailAddress: IA5String
    case '1.2.840.113549.1.9.1':
      if (!/^[\x20-\x7e]+$/.test(value)) throw invalid('subject DC and E values must be ASCII');
      return { type: T.IA5STRING, text: value, encoding: 'latin1' };
    default: // RFC 5280 4.1.2.4: UTF8String for everything else
      return { type: T.UTF8, text: value, encoding: 'utf8' };
  }
}

function attributeOid(type: string): string {
  const t = type.trim();
  const dotted = /^(?:oid\.)?([0-2](?:\.(?:0|[1-9]\d*))+)$/i.exec(t);
  if (dotted) return dotted[1];
  const oid = OID_BY_NAME.get(t.toUpperCase());
  if (!oid) throw invalid(`subject attribute type "${t}" is not supported`);
  return oid;
}

const HEX2 = /^[0-9a-fA-F]{2}$/;
const ESCAPABLE = new Set([' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\']);

/**
 * Splits an RFC 4514-style string ("CN=Doe\, Jane+UID=jd,O=Contoso") into RDNs of
 * [type, value] pairs, most specific first as written. Backslash escapes (`\,` or `\2C`) and a
 * double-quoted value are understood; spaces around types, values and separators are dropped,
 * as people type "CN=Jane, O=Contoso". `#hex` values are not supported.
 */
export function splitDistinguishedName(text: string): Array<Array<[string, string]>> {
  if (typeof text !== 'string') throw invalid('subject must be a string');
  if (text.length > 4096) throw invalid('subject is too long');
  const rdns: Array<Array<[string, string]>> = [];
  if (text.trim() === '') return rdns;
  let i = 0;
  let rdn: Array<[string, string]> = [];
  for (;;) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw invalid(`subject "${text}" is not of the form TYPE=value,...`);
    const type = text.slice(i, eq).trim();
    if (type === '' || /[,+"\\]/.test(type)) throw invalid(`subject "${text}" is not of the form TYPE=value,...`);
    i = eq + 1;
    while (text[i] === ' ') i++;
    const bytes: number[] = [];
    const pushText = (s: string): void => {
      bytes.push(...Buffer.from(s, 'utf8'));
    };
    let quoted = false;
    let trailingSpaces = 0; // unescaped spaces at the end of an unquoted value are dropped
    if (text[i] === '#') throw invalid('hex-encoded (#...) subject values are not supported');
    if (text[i] === '"') {
      quoted = true;
      i++;
    }
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '\\') {
        const next2 = text.slice(i + 1, i + 3);
        if (HEX2.test(next2)) {
          bytes.push(parseInt(next2, 16));
          i += 2;
        } else if (ESCAPABLE.has(text[i + 1])) {
          pushText(text[i + 1]);
          i += 1;
        } else {
          throw invalid(`subject "${text}" has an invalid escape`);
        }
        trailingSpaces = 0;
        continue;
      }
      if (quoted) {
        if (c === '"') {
          quoted = false;
          i++;
          while (text[i] === ' ') i++;
          break;
        }
        pushText(c);
        continue;
      }
      if (c === ',' || c === '+') break;
      if (c === '"') throw invalid(`subject "${text}" has an unescaped quote`);
      pushText(c);
      trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
    }
    if (quoted) throw invalid(`subject "${text}" has an unterminated quote`);
    if (i < text.length && text[i] !== ',' && text[i] !== '+') throw invalid(`subject "${text}" has text after a quoted value`);
    const valueBytes = Buffer.from(bytes.slice(0, bytes.length - trailingSpaces));
    let value: string;
    try {
      value = new TextDecoder('utf-8', { fatal: true }).decode(valueBytes);
    } catch {
      throw invalid('subject value is not valid UTF-8');
    }
    rdn.push([type, value]);
    if (i >= text.length) break;
    const sep = text[i];
    i++;
    while (text[i] === ' ') i++;
    if (sep === ',') {
      rdns.push(rdn);
      rdn = [];
    }
    if (i >= text.length) throw invalid(`subject "${text}" ends with a separator`);
  }
  rdns.push(rdn);
  return rdns;
}

export interface EncodedName {
  /** The RDNSequence, DER. */
  der: Buffer;
  rdnCount: number;
  /** As dnToString prints the encoded name (canonical names, escapes, RDN members in DER order). */
  text: string;
}

/**
 * The DER RDNSequence for an RFC 4514-style string. The string names the most specific RDN
 * first, so the encoded sequence is its reverse ("CN=Jane,O=Contoso" encodes O then CN).
 */
export function encodeDistinguishedName(text: string): EncodedName {
  const written = splitDistinguishedName(text).map((atvs) => {
    const members = atvs.map(([type, value]) => {
      const oid = attributeOid(type);
      const v = attributeValue(oid, value);
      return { der: derTlv(0x30, oidDer(oid), derTlv(v.type, Buffer.from(v.text, v.encoding))), text: attributeText(oid, v.text) };
    });
    // DER: a SET OF is sorted by the encodings of its members.
    members.sort((a, b) => Buffer.compare(a.der, b.der));
    return { der: derTlv(0x31, ...members.map((m) => m.der)), text: members.map((m) => m.text).join('+') };
  });
  return {
    der: derTlv(0x30, ...written.map((r) => r.der).reverse()),
    rdnCount: written.length,
    text: written.map((r) => r.text).join(','),
  };
}

export const distinguishedNameNode = (text: string): Asn1 => fromDer(encodeDistinguishedName(text).der);

// ---------------------------------------------------------------------------------------------
// Certificates read back (CA certificates)
// ---------------------------------------------------------------------------------------------

export interface CertificateFacts {
  der: Buffer;
  /** The issuer's TBS node: used verbatim as the issuer of what this CA signs. */
  subjectNode: Asn1;
  subjectDn: string;
  issuerDn: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Buffer;
  /** The subjectKeyIdentifier extension, or RFC 5280 method 1 (SHA-1 of the key bits). */
  keyIdentifier: Buffer;
  /** Extension OID -> { critical, value (the OCTET STRING's contents) }. */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

/** Reads the fields of a certificate that the CA needs, with forge.asn1 (any key type). */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  let root: Asn1;
  try {
    root = fromDer(der);
  } catch {
    throw invalid('certificate is not valid DER');
  }
  const [tbs] = children(root);
  if (children(root).length !== 3 || !isSeq(tbs)) throw invalid('not an X.509 certificate');
  const fields = children(tbs);
  const hasVersion = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC && fields[0].type === 0;
  const [serial, , issuer, validity, subject, spki, ...rest] = hasVersion ? fields.slice(1) : fields;
  if (!isSeq(issuer) || !isSeq(validity) || !isSeq(subject) || !isSeq(spki)) throw invalid('not an X.509 certificate');

  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const extsWrapper = rest.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  for (const ext of children(children(extsWrapper)[0])) {
    const parts = children(ext);
    const id = oidOf(parts[0]);
    const critical = parts.length === 3 && parts[1].type === T.BOOLEAN && parts[1].value !== '\x00';
    const octets = parts[parts.length - 1];
    if (id && octets?.type === T.OCTETSTRING && typeof octets.value === 'string') {
      extensions.set(id, { critical, value: buf(octets.value) });
    }
  }

  const spkiDer = toDer(spki);
  const bits = children(spki)[1];
  const keyBits = typeof bits?.value === 'string' ? buf(bits.value).subarray(1) : Buffer.alloc(0);
  let keyIdentifier: Buffer = crypto.createHash('sha1').update(keyBits).digest();
  const ski = extensions.get('2.5.29.14');
  if (ski) {
    const inner = fromDer(ski.value);
    if (inner.type === T.OCTETSTRING && typeof inner.value === 'string') keyIdentifier = buf(inner.value);
  }

  const [notBefore, notAfter] = children(validity).map(timeFromNode);
  return {
    der: Buffer.from(der),
    subjectNode: subject,
    subjectDn: dnToString(subject),
    issuerDn: dnToString(issuer),
    serialHex: integerHex(serial),
    notBefore,
    notAfter,
    spkiDer,
    keyIdentifier,
    extensions,
  };
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

export interface SigningCa {
  cert: CertificateFacts;
  signer: CaSigner;
  keyAlgorithm: KeyAlgorithm;
  /** AlgorithmIdentifier DER of the signatures this CA makes. */
  signatureAlgorithmDer: Buffer;
  signatureAlgorithm: Asn1;
  /** The CA's subject as the issuer of what it signs (DER of cert.subjectNode). */
  issuerNameDer: Buffer;
  /** The authorityKeyIdentifier extension of what it signs, DER. */
  authorityKeyIdExtensionDer: Buffer;
}

const SIGNING_CACHE = new Map<string, SigningCa>();
const SIGNING_CACHE_MAX = 8;
let lastUsed: { certPem: string; keyPem: string; ca: SigningCa } | undefined;

/**
 * signingCaFromPem, cached: callers that pass the CA's PEM with every call (tests, buildCrl,
 * issueCertificate) parse it once per thread. The pool's jobs use workers/ca/loaded-cas.ts.
 */
export function signingCa(caCertPem: string, caKeyPem: string): SigningCa {
  // Fast path: the same CA as last time. Comparing two strings is cheaper than hashing the
  // concatenation, and strings that crossed a worker boundary are new objects every call.
  if (lastUsed && lastUsed.certPem === caCertPem && lastUsed.keyPem === caKeyPem) return lastUsed.ca;
  const cacheKey = `${caCertPem}\u0000${caKeyPem}`;
  const hit = SIGNING_CACHE.get(cacheKey);
  if (hit) {
    lastUsed = { certPem: caCertPem, keyPem: caKeyPem, ca: hit };
    return hit;
  }
  const ca = signingCaFromPem(caCertPem, caKeyPem);
  if (SIGNING_CACHE.size >= SIGNING_CACHE_MAX) SIGNING_CACHE.delete(SIGNING_CACHE.keys().next().value as string);
  SIGNING_CACHE.set(cacheKey, ca);
  lastUsed = { certPem: caCertPem, keyPem: caKeyPem, ca };
  return ca;
}

/**
 * Parses and checks the CA certificate and key (the key must match the certificate), and
 * encodes what every certificate and CRL it signs repeats. A createPrivateKey costs about as
 * much as a signature: callers keep the result.
 */
export function signingCaFromPem(caCertPem: string, caKeyPem: string): SigningCa {
  const certs = pemBlocks(String(caCertPem ?? ''), ['CERTIFICATE']);
  if (certs.length === 0) throw new CaError('CA_CONFIG_INVALID', 'the CA certificate PEM holds no certificate');
  const cert = certificateFacts(certs[0]);
  const tokenLabel = tokenKeyLabel(String(caKeyPem ?? ''));
  const signer = tokenLabel === undefined ? pemKeySigner(cert, String(caKeyPem ?? '')) : tokenKeySigner(cert, tokenLabel);
  const keyAlgorithm = signer.keyAlgorithm;
  // sha256WithRSAEncryption takes NULL parameters; ecdsa-with-SHA256 takes none (RFC 5758).
  const signatureAlgorithm =
    keyAlgorithm === 'RSA' ? seq(oidNode(OID.sha256WithRSA), node(T.NULL, '')) : seq(oidNode(OID.ecdsaSha256));
  return {
    cert,
    signer,
    keyAlgorithm,
    signatureAlgorithm,
    signatureAlgorithmDer: toDer(signatureAlgorithm),
    issuerNameDer: toDer(cert.subjectNode),
    authorityKeyIdExtensionDer: extensionDer('2.5.29.35', false, derTlv(0x30, derTlv(0x80, cert.keyIdentifier))),
  };
}

function pemKeySigner(cert: CertificateFacts, caKeyPem: string): CaSigner {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(caKeyPem);
  } catch {
    // Never echo the key or OpenSSL's message about it.
    throw new CaError('CA_CONFIG_INVALID', 'the CA private key cannot be read (expected an unencrypted PEM key)');
  }
  let keyAlgorithm: KeyAlgorithm;
  let matches: boolean;
  try {
    const fromKey = describePublicKey(crypto.createPublicKey(key));
    keyAlgorithm = fromKey.keyAlgorithm;
    // Both sides canonical: a certificate may carry a compressed EC point, for instance.
    matches = fromKey.spkiDer.equals(describeSpki(cert.spkiDer).spkiDer);
  } catch (err) {
    throw new CaError('CA_CONFIG_INVALID', `the CA key is not usable: ${(err as Error).message}`);
  }
  if (!matches) {
    throw new CaError('CA_CONFIG_INVALID', 'the CA private key does not match the CA certificate');
  }
  return keyObjectSigner(key, keyAlgorithm);
}

/**
 * A CA key on the token: a token key cannot be compared with the certificate, so a probe is
 * signed on the token and verified with the certificate's public key.
 */
function tokenKeySigner(cert: CertificateFacts, label: string): CaSigner {
  let signer: CaSigner;
  let matches: boolean;
  try {
    signer = tokenSigner(label);
    const probe = crypto.randomBytes(32);
    const publicKey = crypto.createPublicKey({ key: Buffer.from(cert.spkiDer), format: 'der', type: 'spki' });
    matches = signer.keyAlgorithm === describeSpki(cert.spkiDer).keyAlgorithm && crypto.verify('sha256', probe, publicKey, signer.sign(probe));
  } catch (err) {
    if (err instanceof CryptoError && err.code === 'UNAVAILABLE') throw err;
    throw new CaError('CA_CONFIG_INVALID', `the CA key "${label}" on the token is not usable: ${(err as Error).message}`);
  }
  if (!matches) throw new CaError('CA_CONFIG_INVALID', `the CA key "${label}" on the token does not match the CA certificate`);
  return signer;
}

/**
 * SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }: the shape of a Certificate and
 * of a CertificateList, signed by the CA's signer (ECDSA signatures DER encoded, as X.509 wants).
 */
export function signToBeSigned(tbsDer: Buffer, signatureAlgorithmDer: Buffer, signer: CaSigner): Buffer {
  const signature = signer.sign(tbsDer);
  return derTlv(0x30, tbsDer, signatureAlgorithmDer, derTlv(0x03, Buffer.from([0]), signature));
}

// ---------------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------------

export function extensionNode(oid: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oidNode(oid)];
  if (critical) parts.push(node(T.BOOLEAN, '\xff'));
  parts.push(node(T.OCTETSTRING, asn1.toDer(value).getBytes()));
  return seq(...parts);
}

const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);

/** extensionNode's DER, from the extension value's DER. */
export function extensionDer(oid: string, critical: boolean, valueDer: Uint8Array): Buffer {
  return critical ? derTlv(0x30, oidDer(oid), CRITICAL, derTlv(0x04, valueDer)) : derTlv(0x30, oidDer(oid), derTlv(0x04, valueDer));
}

/** DER BIT STRING of a NamedBitList: trailing zero bits dropped (X.690 11.2.2). */
export function namedBits(bitNumbers: number[]): Asn1 {
  const bytes = Buffer.alloc(2);
  for (const n of bitNumbers) bytes[n >> 3] |= 0x80 >> (n & 7);
  let len = bytes.length;
  while (len > 0 && bytes[len - 1] === 0) len--;
  if (len === 0) return node(T.BITSTRING, '\x00');
  const last = bytes[len - 1];
  let unused = 0;
  while (!((last >> unused) & 1)) unused++;
  return node(T.BITSTRING, String.fromCharCode(unused) + bin(bytes.subarray(0, len)));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function subjectKeyIdentifier(spkiDer: Uint8Array): Buffer {
  const bits = children(fromDer(spkiDer))[1]?.value;
  if (typeof bits !== 'string') throw invalid('the public key is malformed');
  return crypto.createHash('sha1').update(buf(bits).subarray(1)).digest();
}

/** subjectKeyIdentifier of a canonical SPKI (describeSpki's), read without parsing it whole. */
function canonicalSubjectKeyIdentifier(spkiDer: Uint8Array): Buffer {
  const spki = readTlv(spkiDer, 0);
  const algorithm = readTlv(spkiDer, spki.contentStart);
  const bits = readTlv(spkiDer, algorithm.end);
  if (bits.tag !== 0x03 || bits.end !== spki.end) throw invalid('the public key is malformed');
  return crypto.createHash('sha1').update(spkiDer.subarray(bits.contentStart + 1, bits.end)).digest();
}

/** The base of the CRL and AIA URLs (SPEC 11 CM_PUBLIC_URL), without a trailing slash. */
export function publicBaseUrl(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(String(publicUrl));
  } catch {
    throw invalid('the public URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('the public URL must be http or https');
  if (url.search || url.hash || url.username || url.password) {
    throw invalid('the public URL must not hold a query, fragment or credentials');
  }
  // URL.href is ASCII (punycode, percent-encoding): what an IA5String can hold.
  return url.href.replace(/\/+$/, '');
}

const UPN_OID = '1.3.6.1.4.1.311.20.2.3';
const EKU_SMARTCARD_LOGON = '1.3.6.1.4.1.311.20.2.2';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** GeneralName otherName { type-id UPN, value [0] EXPLICIT UTF8String } (MS-WCCE). */
export function upnGeneralName(upn: string): Asn1 {
  return fromDer(upnGeneralNameDer(upn));
}

function upnGeneralNameDer(upn: string): Buffer {
  return derTlv(0xa0, oidDer(UPN_OID), derTlv(0xa0, derTlv(T.UTF8, Buffer.from(upn, 'utf8'))));
}

// Extensions that are the same in every certificate, or for every certificate of one public URL
// (the CRL distribution point and the AIA), encoded once.
const EXTENDED_KEY_USAGE_DER = extensionDer('2.5.29.37', false, derTlv(0x30, oidDer(EKU_SMARTCARD_LOGON), oidDer(EKU_CLIENT_AUTH)));
const BASIC_CONSTRAINTS_DER = extensionDer('2.5.29.19', false, derTlv(0x30));
const KEY_USAGE_DER = new Map<string, Buffer>();
const URL_EXTENSIONS_DER = new Map<string, Buffer>();

function keyUsageDer(bits: number[]): Buffer {
  const key = bits.join(',');
  let der = KEY_USAGE_DER.get(key);
  if (!der) KEY_USAGE_DER.set(key, (der = extensionDer('2.5.29.15', true, toDer(namedBits(bits)))));
  return der;
}

/** The cRLDistributionPoints and authorityInfoAccess extensions for CM_PUBLIC_URL. */
function urlExtensionsDer(publicUrl: string): Buffer {
  let der = URL_EXTENSIONS_DER.get(publicUrl);
  if (der) return der;
  const base = publicBaseUrl(publicUrl);
  const uri = (text: string): Buffer => derTlv(0x86, Buffer.from(text, 'latin1'));
  der = Buffer.concat([
    extensionDer('2.5.29.31', false, derTlv(0x30, derTlv(0x30, derTlv(0xa0, derTlv(0xa0, uri(`${base}/crl`)))))),
    extensionDer('1.3.6.1.5.5.7.1.1', false, derTlv(0x30, derTlv(0x30, oidDer('1.3.6.1.5.5.7.48.2'), uri(`${base}/ca.crt`)))),
  ]);
  if (URL_EXTENSIONS_DER.size >= 16) URL_EXTENSIONS_DER.clear();
  URL_EXTENSIONS_DER.set(publicUrl, der);
  return der;
}

// ---------------------------------------------------------------------------------------------
// PKCS#7
// ---------------------------------------------------------------------------------------------

const PKCS7_SIGNED_DATA_HEAD = Buffer.concat([
  derTlv(0x02, Buffer.from([1])), // version 1
  derTlv(0x31), // digestAlgorithms: none
  derTlv(0x30, oidDer('1.2.840.113549.1.7.1')), // contentInfo: data, absent
]);

/**
 * A "certs-only" PKCS#7 SignedData (RFC 2315 / the .p7b Windows imports): no content, no
 * signers, the certificates in the order given. Built from raw bytes so the certificates are
 * embedded exactly as signed.
 */
export function certsOnlyPkcs7(certs: Uint8Array[]): Buffer {
  const signedData = derTlv(
    0x30,
    PKCS7_SIGNED_DATA_HEAD,
    derTlv(0xa0, ...certs), // certificates [0] IMPLICIT
    derTlv(0x31), // signerInfos: none
  );
  return derTlv(0x30, oidDer('1.2.840.113549.1.7.2'), derTlv(0xa0, signedData));
}

// ---------------------------------------------------------------------------------------------
// Issuance
// ---------------------------------------------------------------------------------------------

export interface CertificateBody {
  serialHex: string;
  /** RDNSequence node (distinguishedNameNode). */
  subject: Asn1;
  spkiDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** Extension nodes (extensionNode). */
  extensions: Asn1[];
}

/**
 * The low-level step: a v3 TBSCertificate under `ca`, signed. issueCertificate fills in the
 * smart card policy; tests use this directly to make subordinate CA certificates.
 */
export function signCertificate(ca: SigningCa, body: CertificateBody): Buffer {
  const spki = readTlv(body.spkiDer, 0);
  if (spki.tag !== 0x30 || spki.end !== body.spkiDer.length) throw invalid('the public key is malformed');
  return signCertificateDer(ca, {
    serialHex: body.serialHex,
    subjectDer: toDer(body.subject),
    spkiDer: body.spkiDer,
    notBefore: body.notBefore,
    notAfter: body.notAfter,
    extensionsDer: body.extensions.map(toDer),
  });
}

const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);

/** signCertificate from DER parts (the SPKI as given: callers pass a canonical one). */
function signCertificateDer(
  ca: SigningCa,
  body: { serialHex: string; subjectDer: Buffer; spkiDer: Uint8Array; notBefore: Date; notAfter: Date; extensionsDer: Uint8Array[] },
): Buffer {
  const tbs = derTlv(
    0x30,
    VERSION_3,
    serialDer(body.serialHex),
    ca.signatureAlgorithmDer,
    ca.issuerNameDer, // the issuer name as the CA certificate encodes its subject
    derTlv(0x30, timeDer(body.notBefore), timeDer(body.notAfter)),
    body.subjectDer,
    body.spkiDer,
    ...(body.extensionsDer.length ? [derTlv(0xa3, derTlv(0x30, ...body.extensionsDer))] : []),
  );
  return signToBeSigned(tbs, ca.signatureAlgorithmDer, ca.signer);
}

/** A certificate's contents, all from the caller (the certificate template), never from the CSR. */
interface CertificateContents {
  /** RFC 4514-style, most specific first: "CN=Jane Doe,O=Contoso". May be "" when upn is given. */
  subjectDn: string;
  serialHex?: string;
  validityDays: number;
  /** EnrollKeyUsages bits: Decryption 1, Signing 2, KeyAgreement 4. */
  keyUsages: number;
  upn?: string;
  /** CM_PUBLIC_URL: CRL at `${publicUrl}/crl`, CA certificate at `${publicUrl}/ca.crt`. */
  publicUrl: string;
  /** Exact notBefore (then notAfter = notBefore + validityDays); default now - 10 minutes. */
  notBefore?: Date | string;
}

export interface IssueCertificateInput extends CertificateContents {
  caCertPem: string;
  caKeyPem: string;
  /** The issuing CA and its issuers (loadOrCreateCa's chainDer). The CA is added if missing. */
  chainDer: Uint8Array[];
  /** The subject's SubjectPublicKeyInfo (ParsedCertificateRequest.spkiDer). */
  spkiDer: Uint8Array;
}

export interface IssuedCertificate {
  der: Buffer;
  /** Certs-only PKCS#7: the new certificate, then the issuing CA and its issuers. */
  pkcs7Der: Buffer;
  serialHex: string;
  thumbprintHex: string;
  notBefore: string;
  notAfter: string;
  issuerDn: string;
  subjectDn: string;
}

/** AD CS's default clock-skew allowance: certificates start 10 minutes in the past. */
const CLOCK_SKEW_MS = 10 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_VALIDITY_DAYS = 36500;

export function validityWindow(
  validityDays: number,
  notBeforeInput: Date | string | undefined,
  caNotAfter: Date,
  now: Date = new Date(),
): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw invalid(`validity of ${validityDays} days is invalid (1 to ${MAX_VALIDITY_DAYS})`);
  }
  const issuedAt = wholeSeconds(notBeforeInput === undefined ? now : toDate(notBeforeInput, 'notBefore'));
  const notBefore = notBeforeInput === undefined ? new Date(issuedAt.getTime() - CLOCK_SKEW_MS) : issuedAt;
  let notAfter = new Date(issuedAt.getTime() + validityDays * DAY_MS);
  // Never outlive the issuer (as AD CS does): a chain is only as valid as its CA.
  if (notAfter > caNotAfter) notAfter = wholeSeconds(caNotAfter);
  if (notAfter <= notBefore) throw new CaError('CA_CONFIG_INVALID', 'the CA certificate expires before the new certificate would start');
  return { notBefore, notAfter };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkUpn(upn: string): string {
  if (typeof upn !== 'string' || upn.length === 0 || upn.length > 1024 || /[\u0000-\u001f\u007f]/.test(upn)) {
    throw invalid('the UPN is empty, too long or holds control characters');
  }
  if (LONE_SURROGATE.test(upn)) throw invalid('the UPN is not valid Unicode');
  return upn;
}

/** What issueUnder needs besides the CA: IssueCertificateInput with the key already checked. */
export interface IssueUnderCa extends CertificateContents {
  /** describeSpki's (or parseCertificateRequest's) reading of the subject's key. */
  subjectKey: Pick<SpkiInfo, 'keyAlgorithm' | 'spkiDer'>;
}

/**
 * Issues one certificate for `spkiDer` under the CA. The subject, key usage and validity come
 * from the caller (the certificate template), never from the CSR.
 */
export function issueCertificate(input: IssueCertificateInput): IssuedCertificate {
  const ca = signingCa(input.caCertPem, input.caKeyPem);
  const chain = input.chainDer?.length && Buffer.from(input.chainDer[0]).equals(ca.cert.der) ? input.chainDer : [ca.cert.der, ...(input.chainDer ?? [])];
  return issueUnder(ca, Buffer.concat(chain), { ...input, subjectKey: describeSpki(input.spkiDer) });
}

/**
 * issueCertificate for a CA already loaded: `chainDer` is the issuing CA's certificate and its
 * issuers' as the PKCS#7 carries them after the new certificate, concatenated.
 */
export function issueUnder(ca: SigningCa, chainDer: Buffer, input: IssueUnderCa): IssuedCertificate {
  const subjectKey = input.subjectKey;
  const usage = keyUsageFlags(input.keyUsages, subjectKey.keyAlgorithm);
  const serialHex = normalizeSerialHex(input.serialHex);
  const subject = encodeDistinguishedName(input.subjectDn);
  const upn = input.upn === undefined || input.upn === null ? undefined : checkUpn(input.upn);
  if (subject.rdnCount === 0 && !upn) throw invalid('the subject is empty and there is no UPN');
  const urlExtensions = urlExtensionsDer(input.publicUrl);
  const { notBefore, notAfter } = validityWindow(input.validityDays, input.notBefore, ca.cert.notAfter);

  const kuBits: number[] = [];
  if (usage.digitalSignature) kuBits.push(0);
  if (usage.keyEncipherment) kuBits.push(2);
  if (usage.keyAgreement) kuBits.push(4);

  const extensionsDer = [
    keyUsageDer(kuBits),
    EXTENDED_KEY_USAGE_DER,
    // RFC 5280 4.2.1.6: the SAN is critical when the subject is empty.
    ...(upn ? [extensionDer('2.5.29.17', subject.rdnCount === 0, derTlv(0x30, upnGeneralNameDer(upn)))] : []),
    urlExtensions, // cRLDistributionPoints, authorityInfoAccess
    ca.authorityKeyIdExtensionDer,
    extensionDer('2.5.29.14', false, derTlv(0x04, canonicalSubjectKeyIdentifier(subjectKey.spkiDer))),
    BASIC_CONSTRAINTS_DER,
  ];

  const der = signCertificateDer(ca, { serialHex, subjectDer: subject.der, spkiDer: subjectKey.spkiDer, notBefore, notAfter, extensionsDer });
  return {
    der,
    pkcs7Der: certsOnlyPkcs7([der, chainDer]),
    serialHex,
    thumbprintHex: crypto.createHash('sha1').update(der).digest('hex'),
    notBefore: isoSeconds(notBefore),
    notAfter: isoSeconds(notAfter),
    issuerDn: ca.cert.subjectDn,
    subjectDn: subject.text,
  };
}
