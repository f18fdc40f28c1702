// THE signing seam of the CA: every certificate, CRL and OCSP answer is the DER of a
// to-be-signed structure, signed here and nowhere else. A CaSigner takes those bytes and returns
// the signature, for the CA key it stands for; `keyObjectSigner` signs with a key in memory
// (node:crypto). A signer for a key on a PKCS#11 token (SPEC 13) implements the same interface:
// RSA PKCS#1 v1.5 with SHA-256, or ECDSA P-256 with SHA-256 as a DER Ecdsa-Sig-Value.
import crypto from 'node:crypto';
import { describePublicKey, OID, type AlgorithmIdentifier, type KeyAlgorithm } from './keys.js';
import { Null, Signed, oid } from './schemas.js';

export interface CaSigner {
  keyAlgorithm: KeyAlgorithm;
  /** The AlgorithmIdentifier of the signatures it makes: sha256WithRSAEncryption or ecdsa-with-SHA256. */
  signatureAlgorithm: AlgorithmIdentifier;
  /** The signature over `toBeSigned` (the DER of a TBSCertificate, TBSCertList or ResponseData). */
  sign(toBeSigned: Buffer): Buffer;
}

/** sha256WithRSAEncryption takes NULL parameters; ecdsa-with-SHA256 takes none (RFC 5758). */
export function signatureAlgorithmFor(keyAlgorithm: KeyAlgorithm): AlgorithmIdentifier {
  return keyAlgorithm === 'RSA'
    ? { algorithm: oid(OID.sha256WithRSA), parameters: Null.encode(null, 'der') }
    : { algorithm: oid(OID.ecdsaSha256) };
}

/** A signer for a CA key held in memory. ECDSA signatures come out DER encoded, as X.509 wants. */
export function keyObjectSigner(key: crypto.KeyObject): CaSigner {
  const { keyAlgorithm } = describePublicKey(crypto.createPublicKey(key));
  return {
    keyAlgorithm,
    signatureAlgorithm: signatureAlgorithmFor(keyAlgorithm),
    sign: (toBeSigned) => crypto.sign('sha256', toBeSigned, key),
  };
}

/** SIGNED{toBeSigned}: the structure, the algorithm and the signature, DER. */
export function signToBeSigned(toBeSigned: Buffer, signer: CaSigner): Buffer {
  return Signed.encode({ toBeSigned, signatureAlgorithm: signer.signatureAlgorithm, signature: { unused: 0, data: signer.sign(toBeSigned) } }, 'der');
}
