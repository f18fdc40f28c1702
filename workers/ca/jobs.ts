// Certificate authority work as worker-pool jobs: flat inputs (strings, numbers, bytes) in,
// plain data out. One issuance job does the whole CSR path (parse, verify the request's own
// signature, check the key against the template, build and sign natively), so a batch of
// uploads costs one pool round trip. Jobs name their CA by id (workers/ca/loaded-cas.ts): a
// thread that does not have it answers CA_NOT_LOADED, and the caller sends the material once.

import { issueUnder } from './certificate.js';
import { buildCrlUnder, type CrlEntry } from './crl.js';
import { parseCertificateRequest } from './csr.js';
import { checkKeyFitsTemplate } from './keys.js';
import { CA_NOT_LOADED, loadedCa, type CaNotLoaded, type CaReference } from './loaded-cas.js';
import { buildOcspResponse, type OcspStatus } from './ocsp.js';

export interface IssueJob extends CaReference {
  csr: string;
  keyAlgorithmName: string;
  keySize: number;
  subjectDn: string;
  validityDays: number;
  keyUsages: number;
  upn: string;
  publicUrl: string;
}

export interface IssuedJobResult {
  der: Uint8Array;
  pkcs7Der: Uint8Array;
  serialHex: string;
  thumbprintHex: string;
  notBefore: string;
  notAfter: string;
  issuerDn: string;
  subjectDn: string;
}

// Results leave in their own exact-size ArrayBuffers (the pool transfers them): a Buffer built
// here may be a view into a shared slab, and posting a view would clone the whole slab.
const own = (bytes: Buffer): Uint8Array => new Uint8Array(bytes);

export function issueFromRequest(job: IssueJob): IssuedJobResult | CaNotLoaded {
  const ca = loadedCa(job);
  if (!ca) return CA_NOT_LOADED;
  const parsed = parseCertificateRequest(job.csr);
  checkKeyFitsTemplate(parsed, { keyAlgorithmName: job.keyAlgorithmName, keySize: job.keySize });
  const issued = issueUnder(ca.signing, ca.chainDer, {
    subjectKey: parsed,
    subjectDn: job.subjectDn,
    validityDays: job.validityDays,
    keyUsages: job.keyUsages,
    upn: job.upn || undefined,
    publicUrl: job.publicUrl,
  });
  return {
    der: own(issued.der),
    pkcs7Der: own(issued.pkcs7Der),
    serialHex: issued.serialHex,
    thumbprintHex: issued.thumbprintHex,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    issuerDn: issued.issuerDn,
    subjectDn: issued.subjectDn,
  };
}

export interface CrlJob extends CaReference {
  /** JSON of CrlEntry[]: jobs carry flat fields only. */
  entriesJson: string;
  thisUpdate: string;
  nextUpdate: string;
  crlNumber: number;
}

export function signCrl(job: CrlJob): Uint8Array | CaNotLoaded {
  const ca = loadedCa(job);
  if (!ca) return CA_NOT_LOADED;
  const entries = JSON.parse(job.entriesJson) as CrlEntry[];
  return own(buildCrlUnder(ca.signing, { entries, thisUpdate: job.thisUpdate, nextUpdate: job.nextUpdate, crlNumber: job.crlNumber }));
}

/** One answer of an OCSP job: OcspAnswerInput's, the CertID as hex (jobs carry flat fields only). */
export type OcspJobAnswer = { certIdHex: string } & OcspStatus;

export interface OcspJob extends CaReference {
  /** JSON of OcspJobAnswer[]. */
  answersJson: string;
  nonce?: Uint8Array;
  now: string;
  nextUpdate: string;
}

/** A signed OCSP answer (SPEC 14): the statuses were read by the core, the signing happens here. */
export function signOcsp(job: OcspJob): Uint8Array | CaNotLoaded {
  const ca = loadedCa(job);
  if (!ca) return CA_NOT_LOADED;
  const answers = (JSON.parse(job.answersJson) as OcspJobAnswer[]).map(({ certIdHex, ...status }) => ({ certIdDer: Buffer.from(certIdHex, 'hex'), ...status }));
  return own(buildOcspResponse(ca.signing, { answers, ...(job.nonce ? { nonce: job.nonce } : {}), now: job.now, nextUpdate: job.nextUpdate }));
}
