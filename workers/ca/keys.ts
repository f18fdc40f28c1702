// Subject public keys: which keys the CA certifies (RSA 1024..8192 bits, ECDSA P-256), read from
// a SubjectPublicKeyInfo and re-encoded canonically; and whether a key fits a certificate template.
import crypto from 'node:crypto';
import type BN from 'bn.js';
import { magnitudeOf, positiveInteger } from './fields.js';
import { invalid } from './errors.js';
import { NamedCurve, Null, RsaPublicKey, decodeDer, oid, oidText, rfc5280, type Oid } from './schemas.js';

export type KeyAlgorithm = 'RSA' | 'ECDSA_P256';

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

/** rfc5280.AlgorithmIdentifier's value: parameters are the DER of whatever they are. */
export interface AlgorithmIdentifier {
  algorithm: Oid;
  parameters?: Buffer;
}

/** rfc5280.SubjectPublicKeyInfo's value. */
export interface SubjectPublicKeyInfo {
  algorithm: AlgorithmIdentifier;
  subjectPublicKey: { unused: number; data: Buffer };
}

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

const NULL_DER = Null.encode(null, 'der');
const P256_DER = NamedCurve.encode(oid(OID.prime256v1), 'der');

const spkiDerOf = (spki: SubjectPublicKeyInfo): Buffer => rfc5280.SubjectPublicKeyInfo!.encode(spki, 'der');

/**
 * Identifies a SubjectPublicKeyInfo, checks that it is a usable RSA or P-256 key, and re-encodes
 * it canonically. Read by schema rather than crypto.createPublicKey: OpenSSL 3's decoder costs
 * ~130 us per SPKI, more than the rest of an issuance. An EC point is still checked to be on the
 * curve, by OpenSSL (ECDH.convertKey).
 */
export function describeSpki(spkiDer: Buffer | SubjectPublicKeyInfo): SpkiInfo {
  const spki = Buffer.isBuffer(spkiDer) ? decodeDer<SubjectPublicKeyInfo>(rfc5280.SubjectPublicKeyInfo!, spkiDer, 'the public key', false) : spkiDer;
  if (spki.subjectPublicKey.unused !== 0) throw invalid('the public key is malformed');
  const algorithm = oidText(spki.algorithm.algorithm);
  const params = spki.algorithm.parameters;
  const keyBytes = spki.subjectPublicKey.data;

  if (algorithm === OID.rsaEncryption) {
    if (params && !params.equals(NULL_DER)) throw invalid('the RSA key parameters are invalid');
    const key = decodeDer<{ modulus: BN; publicExponent: BN }>(RsaPublicKey, keyBytes, 'the RSA public key', false);
    const size = key.modulus.bitLength();
    if (size < RSA_MIN_BITS || size > RSA_MAX_BITS) throw invalid(`RSA keys of ${size} bits are not supported`);
    // e = 1 (or even) is not RSA: with e = 1 anybody can "sign" for the key.
    if (key.publicExponent.isEven() || key.publicExponent.cmpn(3) < 0) throw invalid('the RSA public exponent is invalid');
    const n = magnitudeOf(key.modulus);
    const e = magnitudeOf(key.publicExponent);
    const rsaKey = RsaPublicKey.encode({ modulus: positiveInteger(n), publicExponent: positiveInteger(e) }, 'der');
    // asn1.js reads every INTEGER as unsigned. The canonical encoding is the shortest there is:
    // a longer one means an integer of the key lacked its sign byte, i.e. was negative.
    if (rsaKey.length > keyBytes.length) throw invalid('the RSA public key is malformed (a negative integer)');
    const canonical = spkiDerOf({ algorithm: { algorithm: oid(OID.rsaEncryption), parameters: NULL_DER }, subjectPublicKey: { unused: 0, data: rsaKey } });
    return {
      keyAlgorithm: 'RSA',
      keySize: size,
      spkiDer: canonical,
      jwk: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') },
    };
  }

  if (algorithm === OID.ecPublicKey) {
    if (!params || !params.equals(P256_DER)) {
      let curve = 'explicit parameters';
      try {
        if (params) curve = oidText(NamedCurve.decode(params, 'der'));
      } catch {
        // explicit parameters, or garbage: named as such
      }
      throw invalid(`EC keys on curve ${CURVE_NAMES[curve] ?? curve} are not supported (only P-256)`);
    }
    let point: Buffer;
    try {
      // Decompresses a compressed point, and refuses one that is not on the curve.
      point = crypto.ECDH.convertKey(keyBytes, 'prime256v1', undefined, undefined, 'uncompressed') as Buffer;
    } catch {
      throw invalid('the EC public key is not a valid P-256 point');
    }
    const canonical = spkiDerOf({
      algorithm: { algorithm: oid(OID.ecPublicKey), parameters: P256_DER },
      subjectPublicKey: { unused: 0, data: point },
    });
    return {
      keyAlgorithm: 'ECDSA_P256',
      keySize: 256,
      spkiDer: canonical,
      jwk: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    };
  }

  throw invalid(`${KEY_ALGORITHM_NAMES[algorithm] ?? algorithm} keys are not supported (only RSA and ECDSA P-256)`);
}

/** The same checks for a key already loaded by node:crypto (the CA key, once at start-up). */
export function describePublicKey(key: crypto.KeyObject): SpkiInfo {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec') {
    throw invalid(`${type ?? 'unknown'} keys are not supported (only RSA and ECDSA P-256)`);
  }
  return describeSpki(key.export({ format: 'der', type: 'spki' }));
}

/** The subjectPublicKey BIT STRING's bits (what key identifiers and OCSP key hashes hash). */
export function publicKeyBits(spkiDer: Buffer): Buffer {
  return decodeDer<SubjectPublicKeyInfo>(rfc5280.SubjectPublicKeyInfo!, spkiDer, 'the public key', false).subjectPublicKey.data;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function subjectKeyIdentifier(spkiDer: Buffer): Buffer {
  return crypto.createHash('sha1').update(publicKeyBits(spkiDer)).digest();
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
 * Refuses a key that does not fit the certificate template. KeySize is read as a minimum, as in
 * an AD CS template ("Minimum key size"): a 4096-bit key satisfies a 2048 entry.
 */
export function checkKeyFitsTemplate(parsed: Pick<SpkiInfo, 'keyAlgorithm' | 'keySize'>, template: TemplateKeyPolicy): void {
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
