// PKCS#10 certificate requests (RFC 2986), as MIM CM clients send them to
// `POST /requests/{id}/certificatedata` (SPEC 5.6, 5.7, 7): read by schema, in strict DER, and
// accepted only when the request's own signature verifies (proof of possession of the key).
import crypto from 'node:crypto';
import { invalid } from './errors.js';
import { describeSpki, OID, type AlgorithmIdentifier, type KeyAlgorithm, type SubjectPublicKeyInfo } from './keys.js';
import { nameToString, type NameValue } from './names.js';
import { decodeBase64Strict } from './pem.js';
import { CertificationRequest, CertificationRequestInfo, Null, Signed, decodeDer, oidText } from './schemas.js';

const CSR_SIGNATURES: Record<string, { hash: string; key: KeyAlgorithm; name: string }> = {
  [OID.sha256WithRSA]: { hash: 'sha256', key: 'RSA', name: 'sha256WithRSAEncryption' },
  [OID.sha384WithRSA]: { hash: 'sha384', key: 'RSA', name: 'sha384WithRSAEncryption' },
  [OID.sha512WithRSA]: { hash: 'sha512', key: 'RSA', name: 'sha512WithRSAEncryption' },
  [OID.ecdsaSha256]: { hash: 'sha256', key: 'ECDSA_P256', name: 'ecdsa-with-SHA256' },
  [OID.ecdsaSha384]: { hash: 'sha384', key: 'ECDSA_P256', name: 'ecdsa-with-SHA384' },
  [OID.ecdsaSha512]: { hash: 'sha512', key: 'ECDSA_P256', name: 'ecdsa-with-SHA512' },
};

const MAX_TEXT = 64 * 1024;
const MAX_CSR_DER = 16 * 1024;
const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'] as const;
const NULL_DER = Null.encode(null, 'der');

/** The CSR's DER from base64 (any line breaks) or a PEM armour. */
export function certificateRequestDer(text: string): Buffer {
  if (typeof text !== 'string') throw invalid('certificate request must be a string');
  if (text.length > MAX_TEXT) throw invalid('certificate request is too large');
  const trimmed = text.trim();
  if (!trimmed.startsWith('-----BEGIN')) return decodeBase64Strict(trimmed, 'certificate request');
  // Exactly one armoured block and nothing else around it.
  const m = /^-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END ([A-Z ]+)-----$/.exec(trimmed);
  if (!m) throw invalid('certificate request PEM armour is malformed');
  if (!(CSR_LABELS as readonly string[]).includes(m[1]!) || m[1] !== m[3]) {
    throw invalid(`expected a "CERTIFICATE REQUEST" PEM block, got "${m[1]}"`);
  }
  return decodeBase64Strict(m[2]!, 'certificate request');
}

export interface ParsedCertificateRequest {
  keyAlgorithm: KeyAlgorithm;
  keySize: number;
  /** Canonical DER SubjectPublicKeyInfo: the only thing the CA takes from the request. */
  spkiDer: Buffer;
  /** The subject the client asked for, RFC 4514 text (informational; the template decides). */
  subjectDn: string;
  signatureAlgorithm: string;
}

interface CertificationRequestValue {
  certificationRequestInfo: CertificationRequestInfoValue;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: { unused: number; data: Buffer };
}

interface CertificationRequestInfoValue {
  version: { isZero(): boolean };
  subject: NameValue;
  subjectPKInfo: SubjectPublicKeyInfo;
}

/**
 * Parses and checks a PKCS#10 request: base64 DER (line breaks allowed) or PEM. Anything wrong is
 * INVALID_ARGUMENT with a message fit for the client.
 */
export function parseCertificateRequest(text: string): ParsedCertificateRequest {
  const der = certificateRequestDer(text);
  if (der.length > MAX_CSR_DER) throw invalid('certificate request is too large');
  const request = decodeDer<CertificationRequestValue>(CertificationRequest, der, 'certificate request', false);
  const info = request.certificationRequestInfo;
  // Strict DER: the request is exactly the info's re-encoding, signed; so the signature below
  // covers the bytes received.
  const infoDer = CertificationRequestInfo.encode(info, 'der');
  const again = Signed.encode({ toBeSigned: infoDer, signatureAlgorithm: request.signatureAlgorithm, signature: request.signature }, 'der');
  if (!again.equals(der)) throw invalid('certificate request is not in DER form');
  if (!info.version.isZero()) throw invalid('certificate request is not a PKCS#10 v1 CertificationRequest');
  if (request.signature.unused !== 0) throw invalid('certificate request signature is malformed');

  const sigOid = oidText(request.signatureAlgorithm.algorithm);
  const sigInfo = CSR_SIGNATURES[sigOid];
  if (!sigInfo) throw invalid(`certificate request signature algorithm ${sigOid} is not supported`);
  const params = request.signatureAlgorithm.parameters;
  const paramsOk = sigInfo.key === 'RSA' ? !params || params.equals(NULL_DER) : !params;
  if (!paramsOk) throw invalid('certificate request signature parameters are invalid');

  const key = describeSpki(info.subjectPKInfo);
  if (key.keyAlgorithm !== sigInfo.key) {
    throw invalid(`certificate request is signed with ${sigInfo.name} but holds an ${key.keyAlgorithm} key`);
  }

  let ok = false;
  try {
    // From the JWK: OpenSSL's SPKI decoder is slow (see describeSpki).
    const publicKey = crypto.createPublicKey({ key: key.jwk, format: 'jwk' });
    ok = crypto.verify(sigInfo.hash, infoDer, publicKey, request.signature.data);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('certificate request signature does not verify (no proof of possession of the key)');

  return {
    keyAlgorithm: key.keyAlgorithm,
    keySize: key.keySize,
    spkiDer: key.spkiDer,
    subjectDn: nameToString(info.subject),
    signatureAlgorithm: sigInfo.name,
  };
}
