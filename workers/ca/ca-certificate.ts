// The issuing CA as the signing code needs it: its certificate read by schema (any key type),
// and its signer (workers/ca/signer.ts). Parsed once and kept: a createPrivateKey costs about as
// much as a signature.
import crypto from 'node:crypto';
import type BN from 'bn.js';
import { CaError, configError, invalid } from './errors.js';
import { serialHexOf } from './fields.js';
import { describePublicKey, describeSpki, subjectKeyIdentifier, type AlgorithmIdentifier, type SubjectPublicKeyInfo } from './keys.js';
import { nameToString, type NameValue } from './names.js';
import { pemBlocks } from './pem.js';
import { Certificate, OctetString, decodeDer, oidText, rfc5280 } from './schemas.js';
import { CryptoError } from '../crypto/admin-key.js';
import { keyObjectSigner, tokenKeyLabel, tokenSigner, type CaSigner } from './ca-signer.js';

export interface CertificateFacts {
  der: Buffer;
  /** The subject as decoded: used verbatim as the issuer of what this CA signs. */
  subject: NameValue;
  /** The subject's DER (the OCSP issuerNameHash is over it). */
  subjectDer: Buffer;
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

interface TbsForReading {
  serialNumber: BN;
  signature: AlgorithmIdentifier;
  issuer: NameValue;
  validity: { notBefore: { value: number }; notAfter: { value: number } };
  subject: NameValue;
  subjectPublicKeyInfo: SubjectPublicKeyInfo;
  extensions?: Array<{ extnID: number[]; critical: boolean; extnValue: Buffer }>;
}

/** Reads the fields of a certificate that the CA needs. */
export function certificateFacts(bytes: Uint8Array): CertificateFacts {
  const der = Buffer.from(bytes);
  const tbs = decodeDer<{ tbsCertificate: TbsForReading }>(Certificate, der, 'certificate', false).tbsCertificate;
  const spkiDer = rfc5280.SubjectPublicKeyInfo!.encode(tbs.subjectPublicKeyInfo, 'der');
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  for (const ext of tbs.extensions ?? []) extensions.set(oidText(ext.extnID), { critical: ext.critical, value: ext.extnValue });
  const ski = extensions.get('2.5.29.14');
  let keyIdentifier = subjectKeyIdentifier(spkiDer);
  if (ski) {
    try {
      keyIdentifier = OctetString.decode(ski.value, 'der') as Buffer;
    } catch {
      throw invalid('the certificate subjectKeyIdentifier is malformed');
    }
  }
  return {
    der,
    subject: tbs.subject,
    subjectDer: rfc5280.Name!.encode(tbs.subject, 'der'),
    subjectDn: nameToString(tbs.subject),
    issuerDn: nameToString(tbs.issuer),
    serialHex: serialHexOf(tbs.serialNumber),
    notBefore: new Date(tbs.validity.notBefore.value),
    notAfter: new Date(tbs.validity.notAfter.value),
    spkiDer,
    keyIdentifier,
    extensions,
  };
}

export interface SigningCa {
  cert: CertificateFacts;
  signer: CaSigner;
}

/** The CA for its certificate and a signer for its key; the signer's key must be the certificate's. */
export function signingCaFor(certDer: Buffer, signer: CaSigner, publicKeySpkiDer: Buffer): SigningCa {
  const cert = certificateFacts(certDer);
  let matches = false;
  try {
    // Both sides canonical: a certificate may carry a compressed EC point, for instance.
    matches = describeSpki(publicKeySpkiDer).spkiDer.equals(describeSpki(cert.spkiDer).spkiDer);
  } catch (err) {
    throw configError(`the CA key is not usable: ${(err as Error).message}`);
  }
  if (!matches) throw configError('the CA private key does not match the CA certificate');
  return { cert, signer };
}

/**
 * Parses and checks the CA certificate and its key: an unencrypted PEM key signing in memory, or
 * `pkcs11:object=<label>` naming a key on this thread's token session (SPEC 13).
 */
export function signingCaFromPem(caCertPem: string, caKeyPem: string): SigningCa {
  const certs = pemBlocks(String(caCertPem ?? ''), ['CERTIFICATE']);
  if (certs.length === 0) throw configError('the CA certificate PEM holds no certificate');
  const label = tokenKeyLabel(String(caKeyPem ?? ''));
  if (label !== undefined) return { cert: certificateFacts(certs[0]!), signer: tokenKeySigner(certs[0]!, label) };
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(String(caKeyPem ?? ''));
  } catch {
    // Never echo the key or OpenSSL's message about it.
    throw configError('the CA private key cannot be read (expected an unencrypted PEM key)');
  }
  let signer: CaSigner;
  try {
    signer = keyObjectSigner(key, describePublicKey(crypto.createPublicKey(key)).keyAlgorithm);
  } catch (err) {
    throw err instanceof CaError ? configError(`the CA key is not usable: ${err.message}`) : err;
  }
  return signingCaFor(certs[0]!, signer, crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }));
}

/**
 * A CA key on the token: a token key cannot be compared with the certificate, so a probe is
 * signed on the token and verified with the certificate's public key.
 */
function tokenKeySigner(certDer: Buffer, label: string): CaSigner {
  const cert = certificateFacts(certDer);
  let signer: CaSigner;
  let matches: boolean;
  try {
    signer = tokenSigner(label);
    const probe = crypto.randomBytes(32);
    const publicKey = crypto.createPublicKey({ key: cert.spkiDer, format: 'der', type: 'spki' });
    matches = signer.keyAlgorithm === describeSpki(cert.spkiDer).keyAlgorithm && crypto.verify('sha256', probe, publicKey, signer.sign(probe));
  } catch (err) {
    if (err instanceof CryptoError && err.code === 'UNAVAILABLE') throw err;
    throw configError(`the CA key "${label}" on the token is not usable: ${(err as Error).message}`);
  }
  if (!matches) throw configError(`the CA key "${label}" on the token does not match the CA certificate`);
  return signer;
}

const SIGNING_CACHE = new Map<string, SigningCa>();
const SIGNING_CACHE_MAX = 8;

/**
 * signingCaFromPem, cached: callers that pass the CA's PEM with every call (tests, buildCrl,
 * issueCertificate) parse it once per thread. The pool's jobs use workers/ca/loaded-cas.ts.
 */
export function signingCa(caCertPem: string, caKeyPem: string): SigningCa {
  const cacheKey = `${caCertPem}\u0000${caKeyPem}`;
  const hit = SIGNING_CACHE.get(cacheKey);
  if (hit) return hit;
  const ca = signingCaFromPem(caCertPem, caKeyPem);
  if (SIGNING_CACHE.size >= SIGNING_CACHE_MAX) SIGNING_CACHE.delete(SIGNING_CACHE.keys().next().value as string);
  SIGNING_CACHE.set(cacheKey, ca);
  return ca;
}
