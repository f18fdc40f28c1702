/**
 * A software model of a Windows minidriver smart card, the kind MIM CM initialises, for
 * end-to-end tests that drive the service the way a real card and client would.
 *
 * What is modelled, and why it is strict:
 * - Admin authentication by challenge-response (SPEC section 8): the card issues random
 *   challenges and checks the response with its own copy of the admin key (3DES-EDE3-CBC or
 *   AES-CBC, zero IV, no padding). A server that computes responses or diversified keys wrongly
 *   cannot authenticate to this card, so end-to-end tests fail, as they would with real cards.
 * - A challenge can be answered once; a new challenge or a reset drops admin authentication.
 * - The user PIN with a retry counter; unblock by challenge-response with the admin key.
 * - Key containers ("slots"): key pairs generated on the card, PKCS#10 requests signed by the
 *   card's private key, certificates stored next to their key. Private keys never leave the object.
 *
 * The admin key is never readable (a real card does not reveal it): tests use
 * `verifyAdminKeyIs(hex)` to check which key is in force.
 */
import {
  constants,
  createCipheriv,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  privateEncrypt,
  randomBytes,
  randomUUID,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import forge from 'node-forge';

// ---------------------------------------------------------------------------------------------
// Errors: one finite list of coded errors.

export const SIMCARD_ERRORS = {
  NO_CHALLENGE: 'no outstanding challenge: ask the card for one first',
  NOT_AUTHENTICATED: 'the operation needs admin authentication',
  USER_NOT_AUTHENTICATED: 'the operation needs the user PIN to be verified',
  PIN_BLOCKED: 'the user PIN is blocked',
  PIN_NOT_SET: 'no user PIN has been set on this card',
  BAD_PIN: 'the PIN does not satisfy the card\'s length rules',
  BAD_KEY_LENGTH: 'the admin key has the wrong length for the algorithm',
  BAD_KEY_FORMAT: 'the admin key is not a hex string',
  BAD_ALGORITHM: 'unsupported algorithm',
  BAD_CHALLENGE_LENGTH: 'challenges are whole cipher blocks, one block to 64 bytes',
  BAD_CARD_ID: 'the card id is not a GUID',
  BAD_ATR: 'the ATR is not 2 to 33 bytes of hex',
  BAD_OPTION: 'invalid card option',
  BAD_SLOT: 'no such key container slot',
  BAD_KEY_SIZE: 'unsupported key size for the key algorithm',
  NO_KEY: 'the slot holds no key pair',
  BAD_SUBJECT: 'the subject is not a distinguished name this card understands',
  BAD_HASH: 'unsupported hash algorithm',
  BAD_ENCODING: 'the input is neither DER, base64 nor PEM',
  BAD_DER: 'malformed DER',
  BAD_CERTIFICATE: 'the input is not an X.509 certificate or PKCS#7 holding certificates',
  NO_MATCHING_CERTIFICATE: 'the PKCS#7 holds no certificate for the slot\'s key',
} as const;

export type SimCardErrorCode = keyof typeof SIMCARD_ERRORS;

export class SimCardError extends Error {
  readonly code: SimCardErrorCode;
  constructor(code: SimCardErrorCode, detail?: string) {
    super(detail ? `${SIMCARD_ERRORS[code]}: ${detail}` : SIMCARD_ERRORS[code]);
    this.name = 'SimCardError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Admin key crypto (SPEC section 8).

export type AdminKeyAlgorithm = '3DES' | 'AES128' | 'AES192' | 'AES256';

const ADMIN_CIPHERS: Record<AdminKeyAlgorithm, { cipher: string; keyBytes: number; blockBytes: number }> = {
  '3DES': { cipher: 'des-ede3-cbc', keyBytes: 24, blockBytes: 8 },
  AES128: { cipher: 'aes-128-cbc', keyBytes: 16, blockBytes: 16 },
  AES192: { cipher: 'aes-192-cbc', keyBytes: 24, blockBytes: 16 },
  AES256: { cipher: 'aes-256-cbc', keyBytes: 32, blockBytes: 16 },
};

export const MAX_CHALLENGE_BYTES = 64;

function cipherOf(alg: AdminKeyAlgorithm) {
  const spec = ADMIN_CIPHERS[alg];
  if (!spec) throw new SimCardError('BAD_ALGORITHM', String(alg));
  return spec;
}

/** Cipher block size of the admin key algorithm: 8 for 3DES, 16 for AES. */
export function challengeBlockBytes(alg: AdminKeyAlgorithm): number {
  return cipherOf(alg).blockBytes;
}

function parseAdminKey(alg: AdminKeyAlgorithm, keyHex: string): Buffer {
  const spec = cipherOf(alg);
  if (typeof keyHex !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(keyHex)) {
    throw new SimCardError('BAD_KEY_FORMAT');
  }
  if (keyHex.length !== spec.keyBytes * 2) {
    throw new SimCardError('BAD_KEY_LENGTH', `${alg} needs ${spec.keyBytes * 2} hex characters, got ${keyHex.length}`);
  }
  return Buffer.from(keyHex, 'hex');
}

function checkChallengeLength(alg: AdminKeyAlgorithm, length: number): void {
  const block = cipherOf(alg).blockBytes;
  if (!Number.isInteger(length) || length < block || length > MAX_CHALLENGE_BYTES || length % block !== 0) {
    throw new SimCardError('BAD_CHALLENGE_LENGTH', `${alg}: ${length} bytes`);
  }
}

function encryptCbcZeroIv(alg: AdminKeyAlgorithm, key: Buffer, data: Buffer): Buffer {
  const spec = cipherOf(alg);
  const cipher = createCipheriv(spec.cipher, key, Buffer.alloc(spec.blockBytes));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/**
 * What a client holding the admin key computes for a challenge: CBC with a zero IV, no padding.
 * `challenge` may be bytes or base64.
 */
export function answerChallenge(alg: AdminKeyAlgorithm, keyHex: string, challenge: Buffer | string): Buffer {
  const key = parseAdminKey(alg, keyHex);
  try {
    const bytes = typeof challenge === 'string' ? decodeBase64Strict(challenge) : challenge;
    checkChallengeLength(alg, bytes.length);
    return encryptCbcZeroIv(alg, key, bytes);
  } finally {
    key.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Encodings and a small DER reader/writer (single-byte tags: all this card needs).

function decodeBase64Strict(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new SimCardError('BAD_ENCODING', 'not base64');
  }
  return Buffer.from(compact, 'base64');
}

/** DER bytes from a Buffer (DER, or PEM text), a PEM string or a base64 string. */
export function toDer(input: Buffer | Uint8Array | string): Buffer {
  const text = typeof input === 'string' ? input : null;
  const buf = text === null ? Buffer.from(input) : null;
  const asText = text ?? (buf!.subarray(0, 11).toString('latin1') === '-----BEGIN ' ? buf!.toString('latin1') : null);
  if (asText === null) return buf!;
  const trimmed = asText.trim();
  if (trimmed.startsWith('-----BEGIN ')) {
    const m = /-----BEGIN ([^-]+)-----([\s\S]*?)-----END \1-----/.exec(trimmed);
    if (!m) throw new SimCardError('BAD_ENCODING', 'unterminated PEM');
    return decodeBase64Strict(m[2]!);
  }
  return decodeBase64Strict(trimmed);
}

export interface DerNode {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  contentStart: number;
  /** offset just past the element */
  end: number;
}

export function readDer(buf: Buffer, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new SimCardError('BAD_DER', 'truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new SimCardError('BAD_DER', 'multi-byte tags are not supported');
  let lengthByte = buf[offset + 1]!;
  let pos = offset + 2;
  let length: number;
  if (lengthByte < 0x80) {
    length = lengthByte;
  } else {
    lengthByte &= 0x7f;
    if (lengthByte === 0 || lengthByte > 4) throw new SimCardError('BAD_DER', 'bad length');
    if (pos + lengthByte > buf.length) throw new SimCardError('BAD_DER', 'truncated length');
    length = 0;
    for (let i = 0; i < lengthByte; i++) length = length * 256 + buf[pos + i]!;
    pos += lengthByte;
  }
  const end = pos + length;
  if (end > buf.length) throw new SimCardError('BAD_DER', 'truncated content');
  return { tag, start: offset, contentStart: pos, end };
}

export function derChildren(buf: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let pos = node.contentStart; pos < node.end; ) {
    const child = readDer(buf, pos);
    if (child.end > node.end) throw new SimCardError('BAD_DER', 'child overruns parent');
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function derBytes(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.start, node.end);
}

export function derContent(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.contentStart, node.end);
}

/** Encode one DER element: tag, definite length, the concatenated content parts. */
export function derTlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, body]);
}

export function derOid(oid: string): Buffer {
  return derTlv(0x06, Buffer.from(forge.asn1.oidToDer(oid).getBytes(), 'binary'));
}

export function oidFromDer(buf: Buffer, node: DerNode): string {
  if (node.tag !== 0x06) throw new SimCardError('BAD_DER', 'expected an OID');
  return forge.asn1.derToOid(forge.util.createBuffer(derContent(buf, node).toString('binary')));
}

function parseTop(der: Buffer): DerNode {
  const top = readDer(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new SimCardError('BAD_DER', 'expected one SEQUENCE');
  return top;
}

// ---------------------------------------------------------------------------------------------
// PKCS#10, X.509 and PKCS#7 helpers (for the card and for the tests that check its output).

const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  idEcPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  signedData: '1.2.840.113549.1.7.2',
} as const;

export type CsrHash = 'SHA256' | 'SHA384' | 'SHA512';

const HASHES: Record<CsrHash, { node: string; ecdsaOid: string; rsaOid: string; digestInfoPrefix: string; forge: () => forge.md.MessageDigest }> = {
  SHA256: {
    node: 'sha256',
    ecdsaOid: '1.2.840.10045.4.3.2',
    rsaOid: '1.2.840.113549.1.1.11',
    digestInfoPrefix: '3031300d060960864801650304020105000420',
    forge: () => forge.md.sha256.create(),
  },
  SHA384: {
    node: 'sha384',
    ecdsaOid: '1.2.840.10045.4.3.3',
    rsaOid: '1.2.840.113549.1.1.12',
    digestInfoPrefix: '3041300d060960864801650304020205000430',
    forge: () => forge.md.sha384.create(),
  },
  SHA512: {
    node: 'sha512',
    ecdsaOid: '1.2.840.10045.4.3.4',
    rsaOid: '1.2.840.113549.1.1.13',
    digestInfoPrefix: '3051300d060960864801650304020305000440',
    forge: () => forge.md.sha512.create(),
  },
};

function hashOf(name: string): { key: CsrHash; spec: (typeof HASHES)[CsrHash] } {
  const key = String(name).toUpperCase().replace('-', '') as CsrHash;
  const spec = HASHES[key];
  if (!spec) throw new SimCardError('BAD_HASH', String(name));
  return { key, spec };
}

export interface CsrParts {
  /** the exact signed bytes */
  certificationRequestInfo: Buffer;
  /** DER of the subject Name */
  subject: Buffer;
  /** DER of the SubjectPublicKeyInfo */
  subjectPublicKeyInfo: Buffer;
  signatureAlgorithmOid: string;
  /** DER of the AlgorithmIdentifier parameters, or null when absent */
  signatureAlgorithmParameters: Buffer | null;
  signature: Buffer;
}

/** Split a PKCS#10 request (DER, base64 or PEM) into its parts, byte-exact. */
export function csrParts(input: Buffer | string): CsrParts {
  const der = toDer(input);
  const top = parseTop(der);
  const [cri, algId, sig, ...rest] = derChildren(der, top);
  if (!cri || !algId || !sig || rest.length || cri.tag !== 0x30 || algId.tag !== 0x30 || sig.tag !== 0x03) {
    throw new SimCardError('BAD_DER', 'not a CertificationRequest');
  }
  const criKids = derChildren(der, cri);
  if (criKids.length !== 4 || criKids[0]!.tag !== 0x02 || criKids[3]!.tag !== 0xa0) {
    throw new SimCardError('BAD_DER', 'not a CertificationRequestInfo');
  }
  const [algOid, algParams] = derChildren(der, algId);
  const sigContent = derContent(der, sig);
  if (sigContent[0] !== 0) throw new SimCardError('BAD_DER', 'signature BIT STRING has unused bits');
  return {
    certificationRequestInfo: derBytes(der, cri),
    subject: derBytes(der, criKids[1]!),
    subjectPublicKeyInfo: derBytes(der, criKids[2]!),
    signatureAlgorithmOid: oidFromDer(der, algOid!),
    signatureAlgorithmParameters: algParams ? derBytes(der, algParams) : null,
    signature: sigContent.subarray(1),
  };
}

/** Verify a PKCS#10 self-signature with node:crypto (RSA PKCS#1 v1.5 or ECDSA, SHA-2). */
export function verifyCsr(input: Buffer | string): boolean {
  const parts = csrParts(input);
  const key = createPublicKey({ key: parts.subjectPublicKeyInfo, format: 'der', type: 'spki' });
  for (const spec of Object.values(HASHES)) {
    if (parts.signatureAlgorithmOid === spec.rsaOid && key.asymmetricKeyType === 'rsa') {
      return cryptoVerify(spec.node, parts.certificationRequestInfo, key, parts.signature);
    }
    if (parts.signatureAlgorithmOid === spec.ecdsaOid && key.asymmetricKeyType === 'ec') {
      return cryptoVerify(spec.node, parts.certificationRequestInfo, { key, dsaEncoding: 'der' }, parts.signature);
    }
  }
  return false;
}

/** The SubjectPublicKeyInfo bytes of an X.509 certificate, exactly as encoded in it. */
export function certificateSpki(input: Buffer | string): Buffer {
  const der = toDer(input);
  const [tbs] = derChildren(der, parseTop(der));
  if (!tbs || tbs.tag !== 0x30) throw new SimCardError('BAD_CERTIFICATE');
  const kids = derChildren(der, tbs);
  const first = kids[0]?.tag === 0xa0 ? 1 : 0;
  const spki = kids[first + 5];
  if (!spki || spki.tag !== 0x30) throw new SimCardError('BAD_CERTIFICATE');
  return derBytes(der, spki);
}

/** The certificates of a PKCS#7 SignedData (DER, base64 or PEM), in the order they are encoded. */
export function certificatesFromPkcs7(input: Buffer | string): Buffer[] {
  const der = toDer(input);
  const [oid, explicit] = derChildren(der, parseTop(der));
  if (!oid || oid.tag !== 0x06 || oidFromDer(der, oid) !== OID.signedData || !explicit || explicit.tag !== 0xa0) {
    throw new SimCardError('BAD_CERTIFICATE', 'not a PKCS#7 SignedData');
  }
  const [signedData] = derChildren(der, explicit);
  if (!signedData || signedData.tag !== 0x30) throw new SimCardError('BAD_CERTIFICATE', 'not a PKCS#7 SignedData');
  const certSet = derChildren(der, signedData).find((n) => n.tag === 0xa0);
  if (!certSet) return [];
  return derChildren(der, certSet)
    .filter((n) => n.tag === 0x30)
    .map((n) => Buffer.from(derBytes(der, n)));
}

function isPkcs7(der: Buffer): boolean {
  try {
    const [first] = derChildren(der, parseTop(der));
    return first?.tag === 0x06 && oidFromDer(der, first) === OID.signedData;
  } catch {
    return false;
  }
}

// Subject strings: "CN=Jane Doe" or "CN=Jane Doe, OU=Users, O=Contoso". RDNs are encoded in the
// order written (as Windows CertStrToName and `openssl req -subj` do). Commas inside a value must
// be escaped (`\,`) or the value quoted, otherwise the subject is refused, as CertStrToName would.
const NAME_ATTRIBUTES: Record<string, { oid: string; tag: number }> = {
  CN: { oid: '2.5.4.3', tag: forge.asn1.Type.UTF8 },
  SN: { oid: '2.5.4.4', tag: forge.asn1.Type.UTF8 },
  SERIALNUMBER: { oid: '2.5.4.5', tag: forge.asn1.Type.PRINTABLESTRING },
  C: { oid: '2.5.4.6', tag: forge.asn1.Type.PRINTABLESTRING },
  L: { oid: '2.5.4.7', tag: forge.asn1.Type.UTF8 },
  ST: { oid: '2.5.4.8', tag: forge.asn1.Type.UTF8 },
  S: { oid: '2.5.4.8', tag: forge.asn1.Type.UTF8 },
  STREET: { oid: '2.5.4.9', tag: forge.asn1.Type.UTF8 },
  O: { oid: '2.5.4.10', tag: forge.asn1.Type.UTF8 },
  OU: { oid: '2.5.4.11', tag: forge.asn1.Type.UTF8 },
  T: { oid: '2.5.4.12', tag: forge.asn1.Type.UTF8 },
  TITLE: { oid: '2.5.4.12', tag: forge.asn1.Type.UTF8 },
  G: { oid: '2.5.4.42', tag: forge.asn1.Type.UTF8 },
  GIVENNAME: { oid: '2.5.4.42', tag: forge.asn1.Type.UTF8 },
  E: { oid: '1.2.840.113549.1.9.1', tag: forge.asn1.Type.IA5STRING },
  EMAIL: { oid: '1.2.840.113549.1.9.1', tag: forge.asn1.Type.IA5STRING },
  EMAILADDRESS: { oid: '1.2.840.113549.1.9.1', tag: forge.asn1.Type.IA5STRING },
  DC: { oid: '0.9.2342.19200300.100.1.25', tag: forge.asn1.Type.IA5STRING },
  UID: { oid: '0.9.2342.19200300.100.1.1', tag: forge.asn1.Type.UTF8 },
};

type NameAttribute = { type: string; value: string; valueTagClass: number };

export function parseSubject(subject: string): NameAttribute[] {
  if (typeof subject !== 'string') throw new SimCardError('BAD_SUBJECT', 'not a string');
  const attrs: NameAttribute[] = [];
  let i = 0;
  const s = subject;
  const skipSpaces = () => {
    while (i < s.length && s[i] === ' ') i++;
  };
  skipSpaces();
  if (i === s.length) return attrs;
  for (;;) {
    skipSpaces();
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new SimCardError('BAD_SUBJECT', `missing '=' in ${JSON.stringify(s.slice(i))}`);
    const rawType = s.slice(i, eq).trim();
    i = eq + 1;
    skipSpaces();
    let value = '';
    if (s[i] === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
      }
      if (s[i] !== '"') throw new SimCardError('BAD_SUBJECT', 'unterminated quote');
      i++;
      skipSpaces();
    } else {
      let trailingSpaces = 0;
      for (; i < s.length && s[i] !== ',' && s[i] !== ';'; i++) {
        const c = s[i]!;
        if (c === '+') throw new SimCardError('BAD_SUBJECT', 'multi-valued RDNs are not supported');
        if (c === '\\') {
          const hex = /^[0-9a-fA-F]{2}/.exec(s.slice(i + 1, i + 3));
          if (hex) {
            // \XX escapes: collect consecutive ones as UTF-8 bytes
            const bytes: number[] = [];
            while (s[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
              bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
              i += 3;
            }
            i--;
            value += Buffer.from(bytes).toString('utf8');
          } else {
            if (i + 1 >= s.length) throw new SimCardError('BAD_SUBJECT', 'dangling escape');
            value += s[++i];
          }
          trailingSpaces = 0;
          continue;
        }
        value += c;
        trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
      }
      value = value.slice(0, value.length - trailingSpaces);
    }
    const upper = rawType.toUpperCase();
    const oidMatch = /^(?:OID\.)?(\d+(?:\.\d+)+)$/i.exec(rawType);
    const known = NAME_ATTRIBUTES[upper];
    if (!known && !oidMatch) throw new SimCardError('BAD_SUBJECT', `unknown attribute ${JSON.stringify(rawType)}`);
    if (value === '') throw new SimCardError('BAD_SUBJECT', `empty value for ${rawType}`);
    attrs.push({
      type: known ? known.oid : oidMatch![1]!,
      value,
      valueTagClass: known ? known.tag : forge.asn1.Type.UTF8,
    });
    if (i >= s.length) break;
    if (s[i] !== ',' && s[i] !== ';') throw new SimCardError('BAD_SUBJECT', `unexpected ${JSON.stringify(s[i])}`);
    i++;
  }
  return attrs;
}

function nameDer(attrs: NameAttribute[]): Buffer {
  const asn = forge.pki.distinguishedNameToAsn1({ attributes: attrs as unknown as forge.pki.CertificateField[] });
  return Buffer.from(forge.asn1.toDer(asn).getBytes(), 'binary');
}

// ---------------------------------------------------------------------------------------------
// The card.

export type CardKeyAlgorithm = 'RSA' | 'ECDSA_P256';

export interface SimulatedSmartcardOptions {
  /** the minidriver cardid as a GUID; random by default */
  cardId?: string;
  /** answer-to-reset, hex */
  atr?: string;
  adminKeyAlgorithm: AdminKeyAlgorithm;
  /** the admin key in force when the card leaves the factory */
  adminKeyHex: string;
  /** user PIN tries before the PIN blocks; default 3 */
  pinRetries?: number;
  /** a user PIN already on the card; by default none until an admin sets one */
  userPin?: string;
  /** PIN length rules of the card, in UTF-8 bytes; defaults 4 and 127 */
  pinMinLength?: number;
  pinMaxLength?: number;
  /** number of key containers; default 16 (slots 0 to 15) */
  keySlots?: number;
  /**
   * When true, key generation, signing, CSRs, certificate writes and key deletion need the user
   * PIN verified since the last reset, as on a real card. Default false, to keep tests short.
   */
  requireUserPinForKeyOperations?: boolean;
}

export interface GenerateKeyPairOptions {
  algorithm: CardKeyAlgorithm;
  /** RSA: 1024, 2048 (default), 3072 or 4096; ECDSA_P256: 256 or omitted */
  keySize?: number;
}

export interface StoredCertificate {
  slot: number;
  der: Buffer;
  pem: string;
  /** lower-case hex SHA-1 of the DER */
  thumbprint: string;
  /** lower-case hex, no separators */
  serialNumber: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** the other certificates of the PKCS#7 it came in (none for a bare certificate) */
  chain: Buffer[];
}

interface KeySlot {
  algorithm: CardKeyAlgorithm;
  keySize: number;
  privateKey: KeyObject;
  publicKey: KeyObject;
  spki: Buffer;
  certificate: StoredCertificate | null;
}

export const DEFAULT_ATR = '3b8d0180fba000000397425446590301c8';
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class SimulatedSmartcard {
  readonly #cardId: string;
  readonly #atr: string;
  readonly #alg: AdminKeyAlgorithm;
  #adminKey: Buffer;
  #challenge: Buffer | null = null;
  #adminAuthenticated = false;

  readonly #maxPinRetries: number;
  readonly #pinMin: number;
  readonly #pinMax: number;
  #pinHash: Buffer | null = null;
  #pinRetriesLeft: number;
  #userAuthenticated = false;

  readonly #slotCount: number;
  readonly #requireUserPin: boolean;
  readonly #slots = new Map<number, KeySlot>();

  constructor(options: SimulatedSmartcardOptions) {
    if (!options || typeof options !== 'object') throw new SimCardError('BAD_OPTION', 'options are required');
    const cardId = (options.cardId ?? randomUUID()).toLowerCase();
    if (!GUID_RE.test(cardId)) throw new SimCardError('BAD_CARD_ID', String(options.cardId));
    const atr = (options.atr ?? DEFAULT_ATR).toLowerCase();
    if (!/^(?:[0-9a-f]{2}){2,33}$/.test(atr)) throw new SimCardError('BAD_ATR', String(options.atr));
    this.#cardId = cardId;
    this.#atr = atr;
    this.#alg = options.adminKeyAlgorithm;
    cipherOf(this.#alg);
    this.#adminKey = parseAdminKey(this.#alg, options.adminKeyHex);

    this.#maxPinRetries = options.pinRetries ?? 3;
    if (!Number.isInteger(this.#maxPinRetries) || this.#maxPinRetries < 1 || this.#maxPinRetries > 15) {
      throw new SimCardError('BAD_OPTION', 'pinRetries must be an integer from 1 to 15');
    }
    this.#pinMin = options.pinMinLength ?? 4;
    this.#pinMax = options.pinMaxLength ?? 127;
    if (!Number.isInteger(this.#pinMin) || !Number.isInteger(this.#pinMax) || this.#pinMin < 1 || this.#pinMax < this.#pinMin) {
      throw new SimCardError('BAD_OPTION', 'pinMinLength/pinMaxLength');
    }
    this.#pinRetriesLeft = this.#maxPinRetries;
    if (options.userPin !== undefined) this.#installPin(options.userPin);

    this.#slotCount = options.keySlots ?? 16;
    if (!Number.isInteger(this.#slotCount) || this.#slotCount < 1 || this.#slotCount > 255) {
      throw new SimCardError('BAD_OPTION', 'keySlots must be an integer from 1 to 255');
    }
    this.#requireUserPin = options.requireUserPinForKeyOperations ?? false;
  }

  get cardId(): string {
    return this.#cardId;
  }

  /** the cardid's 16 bytes in RFC 4122 order (the hex digits as written), as SPEC section 8 uses them */
  get cardIdBytes(): Buffer {
    return Buffer.from(this.#cardId.replace(/-/g, ''), 'hex');
  }

  get atr(): string {
    return this.#atr;
  }

  get adminKeyAlgorithm(): AdminKeyAlgorithm {
    return this.#alg;
  }

  /** one cipher block: 8 bytes for 3DES, 16 for AES */
  get challengeBlockBytes(): number {
    return cipherOf(this.#alg).blockBytes;
  }

  get isAdminAuthenticated(): boolean {
    return this.#adminAuthenticated;
  }

  get isUserAuthenticated(): boolean {
    return this.#userAuthenticated;
  }

  get hasOutstandingChallenge(): boolean {
    return this.#challenge !== null;
  }

  // --- admin authentication --------------------------------------------------------------

  /**
   * Issue a fresh random challenge (one block by default, or `length` bytes in whole blocks up
   * to 64), replacing any outstanding one and dropping admin authentication.
   * `{ fixed }` injects a known challenge: for tests against published vectors only.
   */
  getChallenge(options?: number | { length?: number; fixed?: Buffer | string }): Buffer {
    this.#adminAuthenticated = false;
    this.#challenge = null;
    const opts = typeof options === 'number' ? { length: options } : (options ?? {});
    let challenge: Buffer;
    if (opts.fixed !== undefined) {
      challenge = Buffer.from(typeof opts.fixed === 'string' ? decodeBase64Strict(opts.fixed) : opts.fixed);
      if (opts.length !== undefined && opts.length !== challenge.length) {
        throw new SimCardError('BAD_CHALLENGE_LENGTH', 'fixed challenge and length disagree');
      }
    } else {
      const length = opts.length ?? this.challengeBlockBytes;
      checkChallengeLength(this.#alg, length);
      challenge = randomBytes(length);
    }
    checkChallengeLength(this.#alg, challenge.length);
    this.#challenge = challenge;
    return Buffer.from(challenge);
  }

  /** Take the outstanding challenge: whatever happens next, it cannot be answered again. */
  #takeChallenge(): Buffer {
    const challenge = this.#challenge;
    this.#challenge = null;
    if (!challenge) throw new SimCardError('NO_CHALLENGE');
    return challenge;
  }

  #responseMatches(challenge: Buffer, response: Buffer | string): boolean {
    let given: Buffer;
    try {
      given = typeof response === 'string' ? decodeBase64Strict(response) : Buffer.from(response);
    } catch {
      return false;
    }
    const expected = encryptCbcZeroIv(this.#alg, this.#adminKey, challenge);
    // the length of a response is no secret; timingSafeEqual needs equal lengths
    if (given.length !== expected.length) return false;
    return timingSafeEqual(given, expected);
  }

  /** Answer the outstanding challenge (bytes or base64). Consumes the challenge either way. */
  authenticateAdmin(response: Buffer | string): boolean {
    this.#adminAuthenticated = false;
    const challenge = this.#takeChallenge();
    this.#adminAuthenticated = this.#responseMatches(challenge, response);
    return this.#adminAuthenticated;
  }

  /** Replace the admin key; admin authentication stays in force (the client goes on initialising). */
  changeAdminKey(newKeyHex: string): void {
    if (!this.#adminAuthenticated) throw new SimCardError('NOT_AUTHENTICATED');
    const next = parseAdminKey(this.#alg, newKeyHex);
    this.#adminKey.fill(0);
    this.#adminKey = next;
  }

  /** For tests: is this the admin key in force? (The key itself is never readable.) */
  verifyAdminKeyIs(keyHex: string): boolean {
    let candidate: Buffer;
    try {
      candidate = parseAdminKey(this.#alg, keyHex);
    } catch {
      return false;
    }
    try {
      return timingSafeEqual(candidate, this.#adminKey);
    } finally {
      candidate.fill(0);
    }
  }

  // --- user PIN ------------------------------------------------------------------------

  get pinRetriesLeft(): number {
    return this.#pinRetriesLeft;
  }

  get maxPinRetries(): number {
    return this.#maxPinRetries;
  }

  get isPinBlocked(): boolean {
    return this.#pinRetriesLeft === 0;
  }

  get hasUserPin(): boolean {
    return this.#pinHash !== null;
  }

  #pinDigest(pin: string): Buffer {
    return createHash('sha256').update(`simcard-pin\0${this.#cardId}\0`).update(pin, 'utf8').digest();
  }

  #checkPinFormat(pin: string): void {
    if (typeof pin !== 'string') throw new SimCardError('BAD_PIN', 'not a string');
    const n = Buffer.byteLength(pin, 'utf8');
    if (n < this.#pinMin || n > this.#pinMax) {
      throw new SimCardError('BAD_PIN', `length ${n}, allowed ${this.#pinMin} to ${this.#pinMax}`);
    }
  }

  #installPin(pin: string): void {
    this.#checkPinFormat(pin);
    this.#pinHash?.fill(0);
    this.#pinHash = this.#pinDigest(pin);
    this.#pinRetriesLeft = this.#maxPinRetries;
    this.#userAuthenticated = false;
  }

  /** Set the user PIN during initialisation (admin only); resets the retry counter and unblocks. */
  setUserPin(pin: string): void {
    if (!this.#adminAuthenticated) throw new SimCardError('NOT_AUTHENTICATED');
    this.#installPin(pin);
  }

  /**
   * Verify the user PIN. A wrong PIN costs one try and returns false (the try that reaches 0
   * blocks the PIN); the right one restores the counter. On a blocked card every call throws
   * PIN_BLOCKED, the right PIN included.
   */
  verifyUserPin(pin: string): boolean {
    if (this.#pinHash === null) throw new SimCardError('PIN_NOT_SET');
    if (this.isPinBlocked) throw new SimCardError('PIN_BLOCKED');
    const ok = typeof pin === 'string' && timingSafeEqual(this.#pinDigest(pin), this.#pinHash);
    if (ok) {
      this.#pinRetriesLeft = this.#maxPinRetries;
      this.#userAuthenticated = true;
    } else {
      this.#pinRetriesLeft -= 1;
      this.#userAuthenticated = false;
    }
    return ok;
  }

  /** Change the user PIN knowing the current one (same counter rules as verifyUserPin). */
  changeUserPin(currentPin: string, newPin: string): boolean {
    this.#checkPinFormat(newPin);
    if (!this.verifyUserPin(currentPin)) return false;
    this.#installPin(newPin);
    this.#userAuthenticated = true;
    return true;
  }

  /**
   * Unblock by challenge-response, as minidriver cards do: `response` answers the outstanding
   * challenge with the admin key. On success the new PIN is set and the counter reset. Any call
   * consumes the challenge; a wrong response returns false and changes nothing else.
   * Does not leave the admin authenticated.
   */
  unblockUserPin(response: Buffer | string, newPin: string): boolean {
    this.#adminAuthenticated = false;
    const challenge = this.#takeChallenge();
    this.#checkPinFormat(newPin);
    if (!this.#responseMatches(challenge, response)) return false;
    this.#installPin(newPin);
    return true;
  }

  /** A card reset: clears admin and user authentication and the outstanding challenge. */
  reset(): void {
    this.#adminAuthenticated = false;
    this.#userAuthenticated = false;
    this.#challenge = null;
  }

  // --- key containers ----------------------------------------------------------------------

  #checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.#slotCount) {
      throw new SimCardError('BAD_SLOT', `${slot}; this card has slots 0 to ${this.#slotCount - 1}`);
    }
  }

  #keySlot(slot: number): KeySlot {
    this.#checkSlot(slot);
    const record = this.#slots.get(slot);
    if (!record) throw new SimCardError('NO_KEY', `slot ${slot}`);
    return record;
  }

  #needUser(): void {
    if (this.#requireUserPin && !this.#userAuthenticated) throw new SimCardError('USER_NOT_AUTHENTICATED');
  }

  /** Generate a key pair in a slot, replacing any key and certificate there. Returns the public key PEM. */
  generateKeyPair(slot: number, options: GenerateKeyPairOptions): string {
    this.#checkSlot(slot);
    this.#needUser();
    let pair: { publicKey: KeyObject; privateKey: KeyObject };
    let keySize: number;
    if (options?.algorithm === 'RSA') {
      keySize = options.keySize ?? 2048;
      if (![1024, 2048, 3072, 4096].includes(keySize)) throw new SimCardError('BAD_KEY_SIZE', `RSA ${keySize}`);
      pair = generateKeyPairSync('rsa', { modulusLength: keySize, publicExponent: 0x10001 });
    } else if (options?.algorithm === 'ECDSA_P256') {
      keySize = options.keySize ?? 256;
      if (keySize !== 256) throw new SimCardError('BAD_KEY_SIZE', `ECDSA_P256 ${keySize}`);
      pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    } else {
      throw new SimCardError('BAD_ALGORITHM', String(options?.algorithm));
    }
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    this.#slots.set(slot, { algorithm: options.algorithm, keySize, ...pair, spki, certificate: null });
    return this.publicKeyPem(slot);
  }

  /** Delete a slot's key pair and certificate (as when a card is retired or reused). */
  deleteKeyPair(slot: number): void {
    this.#checkSlot(slot);
    this.#needUser();
    this.#slots.delete(slot);
  }

  /** Slots that hold a key pair, ascending. */
  keySlots(): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b);
  }

  keyInfo(slot: number): { algorithm: CardKeyAlgorithm; keySize: number } {
    const { algorithm, keySize } = this.#keySlot(slot);
    return { algorithm, keySize };
  }

  publicKeyPem(slot: number): string {
    return this.#keySlot(slot).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** DER SubjectPublicKeyInfo of the slot's key. */
  publicKeyDer(slot: number): Buffer {
    return Buffer.from(this.#keySlot(slot).spki);
  }

  /**
   * A PKCS#10 request for the slot's key, signed on the card; base64 DER.
   * RSA: built with node-forge, the card signing the PKCS#1 DigestInfo (sha256WithRSAEncryption).
   * ECDSA_P256: built from DER parts (node-forge cannot sign ECDSA), ecdsa-with-SHA256.
   */
  createCertificateRequest(slot: number, subject: string, hash: CsrHash | string = 'SHA256'): string {
    const record = this.#keySlot(slot);
    this.#needUser();
    const attrs = parseSubject(subject);
    const { spec } = hashOf(hash);
    if (record.algorithm === 'RSA') {
      const csr = forge.pki.createCertificationRequest();
      csr.publicKey = forge.pki.publicKeyFromPem(this.publicKeyPem(slot));
      csr.setSubject(attrs as unknown as forge.pki.CertificateField[]);
      // forge hands the digest to key.sign(md); the card performs the RSA operation on the
      // DigestInfo, as a smart card does, so the private key never leaves the KeyObject.
      const cardKey = {
        sign: (md: forge.md.MessageDigest) => {
          const digestInfo = Buffer.concat([
            Buffer.from(spec.digestInfoPrefix, 'hex'),
            Buffer.from(md.digest().getBytes(), 'binary'),
          ]);
          return privateEncrypt({ key: record.privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString('binary');
        },
      };
      csr.sign(cardKey as unknown as forge.pki.rsa.PrivateKey, spec.forge());
      return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary').toString('base64');
    }
    const cri = derTlv(
      0x30,
      derTlv(0x02, Buffer.from([0])), // version v1(0)
      nameDer(attrs),
      record.spki,
      derTlv(0xa0), // attributes [0] IMPLICIT SET OF, empty
    );
    const signature = cryptoSign(spec.node, cri, { key: record.privateKey, dsaEncoding: 'der' });
    const csr = derTlv(0x30, cri, derTlv(0x30, derOid(spec.ecdsaOid)), derTlv(0x03, Buffer.from([0]), signature));
    return csr.toString('base64');
  }

  /** Sign data with the slot's private key (RSA PKCS#1 v1.5 or ECDSA DER), e.g. a logon proof. */
  sign(slot: number, data: Buffer, hash: CsrHash | string = 'SHA256'): Buffer {
    const record = this.#keySlot(slot);
    this.#needUser();
    return cryptoSign(hashOf(hash).spec.node, data, { key: record.privateKey, dsaEncoding: 'der' });
  }

  /**
   * Write a certificate to the slot's container. Accepts a certificate (DER, base64 or PEM)
   * as given (a card does not check it: see certificateMatchesKey), or a PKCS#7 (as the service's
   * `Pkcs7`), from which the certificate for the slot's key is picked, as a client does.
   */
  storeCertificate(slot: number, derOrPem: Buffer | string): StoredCertificate {
    const record = this.#keySlot(slot);
    this.#needUser();
    const der = toDer(derOrPem);
    let leaf = der;
    let chain: Buffer[] = [];
    if (isPkcs7(der)) {
      const certs = certificatesFromPkcs7(der);
      const index = certs.findIndex((c) => {
        try {
          return certificateSpki(c).equals(record.spki);
        } catch {
          return false;
        }
      });
      if (index < 0) throw new SimCardError('NO_MATCHING_CERTIFICATE', `slot ${slot}`);
      leaf = certs[index]!;
      chain = certs.filter((_, i) => i !== index);
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(leaf);
      certificateSpki(leaf);
    } catch (err) {
      throw new SimCardError('BAD_CERTIFICATE', err instanceof Error ? err.message : undefined);
    }
    const stored: StoredCertificate = {
      slot,
      der: Buffer.from(leaf),
      pem: x509.toString(),
      thumbprint: createHash('sha1').update(leaf).digest('hex'),
      serialNumber: x509.serialNumber.toLowerCase(),
      subject: x509.subject,
      issuer: x509.issuer,
      notBefore: new Date(x509.validFrom),
      notAfter: new Date(x509.validTo),
      chain,
    };
    record.certificate = stored;
    return cloneStored(stored);
  }

  /** The certificates on the card, by slot. */
  certificates(): StoredCertificate[] {
    return this.keySlots()
      .map((slot) => this.#slots.get(slot)!.certificate)
      .filter((c): c is StoredCertificate => c !== null)
      .map(cloneStored);
  }

  certificate(slot: number): StoredCertificate | null {
    const c = this.#keySlot(slot).certificate;
    return c ? cloneStored(c) : null;
  }

  /**
   * Does the slot's certificate carry the slot's public key? Compares the certificate's
   * SubjectPublicKeyInfo, byte for byte, with the card's. False when the slot has no certificate.
   */
  certificateMatchesKey(slot: number): boolean {
    const record = this.#keySlot(slot);
    if (!record.certificate) return false;
    return certificateSpki(record.certificate.der).equals(record.spki);
  }
}

function cloneStored(c: StoredCertificate): StoredCertificate {
  return { ...c, der: Buffer.from(c.der), chain: c.chain.map((b) => Buffer.from(b)), notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) };
}
