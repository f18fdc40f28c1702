// Card admin-key cryptography of SPEC section 8: challenge-response and per-card key
// diversification. Pure functions of bytes; nothing here keeps state or logs.
import { createCipheriv, createHmac } from 'node:crypto';
import type { ErrorCode } from '../../core/errors.js';

export type AdminKeyAlgorithm = '3DES' | 'AES128' | 'AES192' | 'AES256';

// The codes every card-crypto function may throw. Messages name the problem, never a value,
// because the value may be key material.
export type CryptoErrorCode = Extract<
  ErrorCode,
  | 'INVALID_ARGUMENT' // caller input: challenge size, cardid syntax, PIN policy, unknown algorithm
  | 'INVALID_KEY' // a key of the wrong length: a configuration or storage fault, not user input
  | 'WEAK_KEY' // a diversified 3DES key whose three parts are not pairwise different
  | 'SEAL_INVALID' // a sealed PIN that fails authentication (tampered, wrong card, wrong key)
  | 'UNAVAILABLE' // the pool is closed or its worker died
  | 'INTERNAL'
>;

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CryptoError';
    this.code = code;
  }
}

interface AlgorithmSpec {
  cipher: string;
  blockSize: number;
  keyLength: number;
  kdfLabel: string;
  parity: boolean;
}

const ALGORITHMS: Readonly<Record<AdminKeyAlgorithm, AlgorithmSpec>> = {
  '3DES': { cipher: 'des-ede3-cbc', blockSize: 8, keyLength: 24, kdfLabel: 'MIMCM-ADMINKEY', parity: true },
  AES128: { cipher: 'aes-128-cbc', blockSize: 16, keyLength: 16, kdfLabel: 'MIMCM-ADMINKEY-AES', parity: false },
  AES192: { cipher: 'aes-192-cbc', blockSize: 16, keyLength: 24, kdfLabel: 'MIMCM-ADMINKEY-AES', parity: false },
  AES256: { cipher: 'aes-256-cbc', blockSize: 16, keyLength: 32, kdfLabel: 'MIMCM-ADMINKEY-AES', parity: false },
};

const MAX_CHALLENGE_BYTES = 64;
const MASTER_KEY_BYTES = 32;
const CARD_ID_BYTES = 16;

export function parseAdminKeyAlgorithm(s: string): AdminKeyAlgorithm | undefined {
  if (typeof s !== 'string') return undefined;
  const upper = s.toUpperCase();
  return Object.hasOwn(ALGORITHMS, upper) ? (upper as AdminKeyAlgorithm) : undefined;
}

// Jobs cross a thread boundary as plain data, so the algorithm is re-checked at runtime.
function specOf(alg: AdminKeyAlgorithm): AlgorithmSpec {
  if (typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg)) {
    throw new CryptoError('INVALID_ARGUMENT', 'unknown admin key algorithm');
  }
  return ALGORITHMS[alg];
}

export function blockSizeOf(alg: AdminKeyAlgorithm): number {
  return specOf(alg).blockSize;
}

export function keyLengthOf(alg: AdminKeyAlgorithm): number {
  return specOf(alg).keyLength;
}

export function wipe(...bufs: Array<Uint8Array | null | undefined>): void {
  for (const b of bufs) b?.fill(0);
}

/** Response = E_K(challenge) in CBC mode with a zero IV and no padding. */
export function computeChallengeResponse(alg: AdminKeyAlgorithm, key: Uint8Array, challenge: Uint8Array): Buffer {
  const spec = specOf(alg);
  if (key.length !== spec.keyLength) {
    throw new CryptoError('INVALID_KEY', `a ${alg} admin key must be ${spec.keyLength} bytes`);
  }
  const n = challenge.length;
  if (n < spec.blockSize || n > MAX_CHALLENGE_BYTES || n % spec.blockSize !== 0) {
    throw new CryptoError(
      'INVALID_ARGUMENT',
      `a ${alg} challenge must be whole ${spec.blockSize}-byte blocks, ${spec.blockSize} to ${MAX_CHALLENGE_BYTES} bytes`,
    );
  }
  const cipher = createCipheriv(spec.cipher, key, Buffer.alloc(spec.blockSize));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(challenge), cipher.final()]);
}

function uint32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * HMAC-SHA256 under a master key. With a key ring file the key's bytes are here; with a token
 * (SPEC 13) the HMAC runs on the token and only its result is seen.
 */
export type HmacSha256 = (data: Buffer) => Buffer;

export function hmacSha256With(key: Uint8Array): HmacSha256 {
  return (data) => createHmac('sha256', key).update(data).digest();
}

/**
 * NIST SP 800-108 KDF in counter mode, PRF HMAC-SHA-256, 32-bit counter and length fields:
 * K(i) = HMAC(keyIn, [i]32 || label || 0x00 || context || [L]32). Same layout as OpenSSL's KBKDF,
 * which the tests use as an independent implementation. `keyIn` is the key's bytes or an HMAC
 * that holds it (a token's).
 */
export function kbkdfHmacSha256(keyIn: Uint8Array | HmacSha256, label: string, context: Uint8Array, outBits: number): Buffer {
  if (!Number.isInteger(outBits) || outBits <= 0 || outBits % 8 !== 0) {
    throw new CryptoError('INVALID_ARGUMENT', 'KDF output length must be a positive whole number of bytes');
  }
  const prf = typeof keyIn === 'function' ? keyIn : hmacSha256With(keyIn);
  const outBytes = outBits / 8;
  const fixed = Buffer.concat([Buffer.from(label, 'utf8'), Buffer.of(0), context, uint32be(outBits)]);
  const out = Buffer.alloc(outBytes);
  for (let i = 1, filled = 0; filled < outBytes; i++) {
    const input = Buffer.concat([uint32be(i), fixed]);
    const block = prf(input);
    filled += block.copy(out, filled);
    wipe(block, input);
  }
  // fixed holds the cardid, not a secret, but costs nothing to clear.
  wipe(fixed);
  return out;
}

/** Returns a copy with the low bit of every byte set so that the byte has odd weight. */
export function setOddParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const high = out[i] & 0xfe;
    let ones = 0;
    for (let v = high; v !== 0; v &= v - 1) ones++;
    out[i] = high | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}

/**
 * Refuses a three-key 3DES key with two equal 8-byte parts: K1 = K2 or K2 = K3 degrades
 * EDE3 to single DES, and K1 = K3 to two-key 3DES.
 */
export function assertDistinctTdesParts(key: Uint8Array): void {
  if (key.length !== 24) throw new CryptoError('INVALID_KEY', 'a 3DES key must be 24 bytes');
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const [k1, k2, k3] = [k.subarray(0, 8), k.subarray(8, 16), k.subarray(16, 24)];
  if (k1.equals(k2) || k2.equals(k3) || k1.equals(k3)) {
    throw new CryptoError('WEAK_KEY', 'the diversified 3DES key has repeated parts and is refused');
  }
}

/**
 * The per-card admin key of SPEC section 8, derived from a 32-byte master key (its bytes, or an
 * HMAC that holds it) and the cardid.
 */
export function diversifyAdminKey(alg: AdminKeyAlgorithm, masterKey32: Uint8Array | HmacSha256, cardId16: Uint8Array): Buffer {
  const spec = specOf(alg);
  if (typeof masterKey32 !== 'function' && masterKey32.length !== MASTER_KEY_BYTES) {
    throw new CryptoError('INVALID_KEY', `a master key must be ${MASTER_KEY_BYTES} bytes`);
  }
  if (cardId16.length !== CARD_ID_BYTES) {
    throw new CryptoError('INVALID_ARGUMENT', `a cardid must be ${CARD_ID_BYTES} bytes`);
  }
  const derived = kbkdfHmacSha256(masterKey32, spec.kdfLabel, cardId16, spec.keyLength * 8);
  if (!spec.parity) return derived;

  const key = setOddParity(derived);
  wipe(derived);
  try {
    assertDistinctTdesParts(key);
  } catch (err) {
    wipe(key);
    throw err;
  }
  return key;
}

const GUID_FORMS = [
  /^\{([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}$/i,
  /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i,
  /^([0-9a-f]{32})$/i,
];

/**
 * The 16 bytes of a GUID in RFC 4122 order, i.e. the hex digits as written (not the
 * little-endian field order Windows uses in memory). Accepts braces, any case, or bare hex.
 */
export function guidToBytes(guid: string): Buffer {
  for (const form of GUID_FORMS) {
    const m = form.exec(guid);
    if (m) return Buffer.from(m.slice(1).join(''), 'hex');
  }
  throw new CryptoError('INVALID_ARGUMENT', 'not a GUID');
}

/** The cardid is written as a GUID; see guidToBytes for the byte order. */
export const cardIdToBytes: (guid: string) => Buffer = guidToBytes;
