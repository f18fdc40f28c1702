// OCSP (RFC 6960, with the RFC 5019 profile) for the embedded CA (SPEC 14): requests read by
// schema, answers signed by the CA key through the signing seam. The certificate statuses come
// from the core (one read of committed state); this file only reads and writes the messages.
import crypto from 'node:crypto';
import type BN from 'bn.js';
import { invalid } from './errors.js';
import { serialHexOf, normalizeSerialHex } from './fields.js';
import { reasonName } from './crl.js';
import type { CertificateFacts, SigningCa } from './ca-certificate.js';
import { publicKeyBits, subjectKeyIdentifier, type AlgorithmIdentifier } from './keys.js';
import { Null, OcspRequest, OcspResponseData, decodeDer, oid, oidText, rfc2560 } from './schemas.js';
import { signToBeSigned } from './ca-signer.js';

const ID_PKIX_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';
const HASHES: Record<string, string> = { '1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.1': 'sha256' };
/** Certificates asked about in one request; more is refused as malformed. */
const MAX_QUERIES = 32;
/** RFC 8954 allows nonces of 1 to 32 octets; a little room for clients that send more. */
const MAX_NONCE = 128;
const MAX_REQUEST = 16 * 1024;

/** What a CertID must carry to name this CA: its name and key hashes, per hash algorithm. */
export type OcspIssuer = Record<string, { nameHash: Buffer; keyHash: Buffer }>;

export function ocspIssuerOf(cert: Pick<CertificateFacts, 'subjectDer' | 'spkiDer'>): OcspIssuer {
  const keyBits = publicKeyBits(cert.spkiDer);
  const out: OcspIssuer = {};
  for (const [algorithm, hash] of Object.entries(HASHES)) {
    out[algorithm] = {
      nameHash: crypto.createHash(hash).update(cert.subjectDer).digest(),
      keyHash: crypto.createHash(hash).update(keyBits).digest(),
    };
  }
  return out;
}


interface CertIdValue {
  hashAlgorithm: AlgorithmIdentifier;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  serialNumber: BN;
}

/** One certificate asked about: its CertID (echoed in the answer) and its serial when this CA issued it. */
export interface OcspQuery {
  certIdDer: Buffer;
  /** Undefined when the CertID names another issuer, or no serial this CA could have issued. */
  serialHex?: string;
}

export interface ParsedOcspRequest {
  queries: OcspQuery[];
  /** The nonce extension's value as sent, echoed in the answer. */
  nonce?: Buffer;
}

const NULL_DER = Null.encode(null, 'der');

/** Reads an OCSPRequest (DER). Anything malformed throws INVALID_ARGUMENT: answer MALFORMED_REQUEST. */
export function parseOcspRequest(der: Buffer, issuer: OcspIssuer): ParsedOcspRequest {
  if (der.length === 0 || der.length > MAX_REQUEST) throw invalid('the OCSP request is empty or too large');
  const request = decodeDer<{
    tbsRequest: {
      version: string;
      requestList: Array<{ reqCert: CertIdValue }>;
      requestExtensions?: Array<{ extnID: number[]; extnValue: Buffer }>;
    };
  }>(OcspRequest, der, 'the OCSP request');
  const tbs = request.tbsRequest;
  if (tbs.version !== 'v1') throw invalid('the OCSP request version is not v1');
  if (tbs.requestList.length === 0 || tbs.requestList.length > MAX_QUERIES) throw invalid(`an OCSP request asks about 1 to ${MAX_QUERIES} certificates`);
  const nonce = tbs.requestExtensions?.find((e) => oidText(e.extnID) === ID_PKIX_OCSP_NONCE)?.extnValue;
  if (nonce && (nonce.length === 0 || nonce.length > MAX_NONCE)) throw invalid('the OCSP nonce is empty or too long');
  const queries = tbs.requestList.map(({ reqCert }): OcspQuery => {
    const certIdDer = rfc2560.CertID!.encode(reqCert, 'der');
    const params = reqCert.hashAlgorithm.parameters;
    const ours = issuer[oidText(reqCert.hashAlgorithm.algorithm)];
    const named =
      ours !== undefined &&
      (!params || params.equals(NULL_DER)) &&
      ours.nameHash.equals(reqCert.issuerNameHash) &&
      ours.keyHash.equals(reqCert.issuerKeyHash);
    if (!named) return { certIdDer };
    try {
      return { certIdDer, serialHex: normalizeSerialHex(serialHexOf(reqCert.serialNumber)) };
    } catch {
      return { certIdDer }; // zero or longer than 20 octets: not a serial this CA issued
    }
  });
  return { queries, ...(nonce ? { nonce } : {}) };
}

/** The unsigned answer to a request that could not be read (RFC 6960 4.2.1). */
export const MALFORMED_REQUEST: Buffer = rfc2560.OCSPResponse!.encode({ responseStatus: 'malformed_request' }, 'der');

export type OcspStatus = { status: 'good' } | { status: 'unknown' } | { status: 'revoked'; revokedAt: string; reason: number };

export interface OcspAnswerInput {
  answers: Array<{ certIdDer: Uint8Array } & OcspStatus>;
  nonce?: Uint8Array;
  /** thisUpdate and producedAt. */
  now: Date | string;
  /** At most an hour after now (SPEC 14). */
  nextUpdate: Date | string;
}

function certStatus(answer: OcspStatus): { type: string; value: unknown } {
  if (answer.status === 'good') return { type: 'good', value: null };
  if (answer.status === 'unknown') return { type: 'unknown', value: null };
  const revocationTime = new Date(answer.revokedAt).getTime();
  if (Number.isNaN(revocationTime)) throw invalid('the revocation time is not a valid date');
  return { type: 'revoked', value: { revocationTime, revocationReason: reasonName(answer.reason) } };
}

const wholeSecond = (value: Date | string): number => Math.floor(new Date(value).getTime() / 1000) * 1000;

/** A successful BasicOCSPResponse signed by the CA key (its responder id: the key's SHA-1 hash). */
export function buildOcspResponse(ca: SigningCa, input: OcspAnswerInput): Buffer {
  const now = wholeSecond(input.now);
  const nextUpdate = wholeSecond(input.nextUpdate);
  if (Number.isNaN(now) || Number.isNaN(nextUpdate) || nextUpdate <= now) throw invalid('nextUpdate must be after thisUpdate');
  const responseData = OcspResponseData.encode(
    {
      version: 'v1',
      responderID: { type: 'byKey', value: subjectKeyIdentifier(ca.cert.spkiDer) },
      producedAt: now,
      responses: input.answers.map((a) => ({ certId: Buffer.from(a.certIdDer), certStatus: certStatus(a), thisUpdate: now, nextUpdate })),
      ...(input.nonce ? { responseExtensions: [{ extnID: oid(ID_PKIX_OCSP_NONCE), critical: false, extnValue: Buffer.from(input.nonce) }] } : {}),
    },
    'der',
  );
  return rfc2560.OCSPResponse!.encode(
    { responseStatus: 'successful', responseBytes: { responseType: 'id-pkix-ocsp-basic', response: signToBeSigned(responseData, ca.signer) } },
    'der',
  );
}
