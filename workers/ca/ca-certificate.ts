// The issuing CA as the signing code needs it: its certificate read by schema (any key type),
// and its signer (workers/ca/signer.ts). Parsed once and kept: a createPrivateKey costs about as
// much as a signature.
import crypto from 'node:crypto';
import type BN from 'bn.js';
import { CaError, configError, invalid } from './errors.js';
import { serialHexOf } from './fields.js';
import { describeSpki, subjectKeyIdentifier, type AlgorithmIdentifier, type SubjectPublicKeyInfo } from './keys.js';
import { nameToString, type NameValue } from './names.js';
import { pemBlocks } from './pem.js';
import { Certificate, OctetString, decodeDer, oidText, rfc5280 } from './schemas.js';
import { keyObjectSigner, type CaSigner } from './signer.js';

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

/** Parses and checks the CA certificate and its key (PEM), the key signing in memory. */
export function signingCaFromPem(caCertPem: string, caKeyPem: string): SigningCa {
  const certs = pemBlocks(String(caCertPem ?? ''), ['CERTIFICATE']);
  if (certs.length === 0) throw configError('the CA certificate PEM holds no certificate');
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(String(caKeyPem ?? ''));
  } catch {
    // Never echo the key or OpenSSL's message about it.
    throw configError('the CA private key cannot be read (expected an unencrypted PEM key)');
  }
  let signer: CaSigner;
  try {
    signer = keyObjectSigner(key);
  } catch (err) {
    throw err instanceof CaError ? configError(`the CA key is not usable: ${err.message}`) : err;
  }
  return signingCaFor(certs[0]!, signer, crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }));
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
