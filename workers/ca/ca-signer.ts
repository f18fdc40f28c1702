// THE signing seam of the CA: every certificate, CRL and OCSP answer is the DER of a
// to-be-signed structure handed to a CaSigner, which answers the signature value as X.509 wants
// it (PKCS#1 v1.5 for RSA, a DER Ecdsa-Sig-Value for ECDSA). The key is a node:crypto KeyObject,
// or a private key on the PKCS#11 token named by an RFC 7512 URI (SPEC 13), used through this
// thread's session.
import crypto from 'node:crypto';
import { threadToken } from '../crypto/thread-token.js';
import { CaError } from './errors.js';
import { positiveInteger } from './fields.js';
import { OID, type AlgorithmIdentifier, type KeyAlgorithm } from './keys.js';
import { EcdsaSigValue, Null, Signed, oid } from './schemas.js';

export interface CaSigner {
  keyAlgorithm: KeyAlgorithm;
  /** The signature of `tbsDer` (a TBSCertificate, TBSCertList or ResponseData) with SHA-256. */
  sign(tbsDer: Buffer): Buffer;
}

export function keyObjectSigner(key: crypto.KeyObject, keyAlgorithm: KeyAlgorithm): CaSigner {
  return { keyAlgorithm, sign: (tbsDer) => crypto.sign('sha256', tbsDer, key) };
}

/** The label of `pkcs11:object=<label>[;type=private]`, or undefined when `text` is not such a URI. */
export function tokenKeyLabel(text: string): string | undefined {
  if (!/^pkcs11:/i.test(text)) return undefined;
  const attributes = new Map<string, string>();
  for (const part of text.slice('pkcs11:'.length).split('?')[0]!.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      throw new CaError('CA_CONFIG_INVALID', 'CM_CA_KEY: the pkcs11: URI is not well percent-encoded');
    }
    attributes.set(part.slice(0, eq).toLowerCase(), value);
  }
  const label = attributes.get('object');
  const type = attributes.get('type');
  if (!label || (type !== undefined && type !== 'private')) {
    throw new CaError('CA_CONFIG_INVALID', 'CM_CA_KEY: a pkcs11: URI must name a private key, as pkcs11:object=<label>');
  }
  return label;
}

/** An unsigned big-endian integer without its leading zero bytes. */
function magnitude(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

/** CKM_ECDSA answers r || s (IEEE P1363); X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new CaError('CA_CONFIG_INVALID', 'the token answered a malformed ECDSA signature');
  const half = raw.length / 2;
  return EcdsaSigValue.encode({ r: positiveInteger(magnitude(raw.subarray(0, half))), s: positiveInteger(magnitude(raw.subarray(half))) }, 'der');
}

/**
 * Signs on this thread's token session. RSA: CKM_SHA256_RSA_PKCS over the TBS. ECDSA: SoftHSM2
 * and many HSMs lack CKM_ECDSA_SHA256, so the hash is taken here and CKM_ECDSA signs it.
 */
export function tokenSigner(label: string): CaSigner {
  const token = threadToken();
  const type = token.privateKeyType(label);
  if (type === 'RSA') return { keyAlgorithm: 'RSA', sign: (tbsDer) => token.sign(label, 'RSA-SHA256', tbsDer) };
  return {
    keyAlgorithm: 'ECDSA_P256',
    sign: (tbsDer) => ecdsaRawToDer(token.sign(label, 'ECDSA', crypto.createHash('sha256').update(tbsDer).digest())),
  };
}

/** sha256WithRSAEncryption takes NULL parameters; ecdsa-with-SHA256 takes none (RFC 5758). */
const SIGNATURE_ALGORITHMS: Record<KeyAlgorithm, AlgorithmIdentifier> = {
  RSA: { algorithm: oid(OID.sha256WithRSA), parameters: Null.encode(null, 'der') },
  ECDSA_P256: { algorithm: oid(OID.ecdsaSha256) },
};

/** The AlgorithmIdentifier of the signatures a signer makes (inside the TBS and beside it). */
export const signatureAlgorithmOf = (signer: CaSigner): AlgorithmIdentifier => SIGNATURE_ALGORITHMS[signer.keyAlgorithm];

/** SIGNED{toBeSigned}: the structure, the algorithm and the signature, DER. */
export function signToBeSigned(toBeSigned: Buffer, signer: CaSigner): Buffer {
  return Signed.encode({ toBeSigned, signatureAlgorithm: signatureAlgorithmOf(signer), signature: { unused: 0, data: signer.sign(toBeSigned) } }, 'der');
}
