// Certificate authority work as worker-pool jobs: flat inputs (strings, numbers, bytes) in,
// plain data out. One issuance job does the whole CSR path (parse, verify the request's own
// signature, check the key against the template, build and sign natively), so a batch of
// uploads costs one pool round trip.

import { buildCrl, type CrlEntry } from './crl.js';
import { checkKeyFitsTemplate, parseCertificateRequest, pemBlocks } from './csr.js';
import { issueCertificate } from './issue.js';

export interface IssueJob {
  csr: string;
  keyAlgorithmName: string;
  keySize: number;
  caCertPem: string;
  caKeyPem: string;
  /** The issuing CA and its issuers, concatenated PEM. */
  chainPem: string;
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

export function issueFromRequest(job: IssueJob): IssuedJobResult {
  const parsed = parseCertificateRequest(job.csr);
  checkKeyFitsTemplate(parsed, { keyAlgorithmName: job.keyAlgorithmName, keySize: job.keySize });
  const issued = issueCertificate({
    caCertPem: job.caCertPem,
    caKeyPem: job.caKeyPem,
    chainDer: pemBlocks(job.chainPem, ['CERTIFICATE']),
    spkiDer: parsed.spkiDer,
    subjectDn: job.subjectDn,
    validityDays: job.validityDays,
    keyUsages: job.keyUsages,
    upn: job.upn || undefined,
    publicUrl: job.publicUrl,
  });
  return {
    der: new Uint8Array(issued.der),
    pkcs7Der: new Uint8Array(issued.pkcs7Der),
    serialHex: issued.serialHex,
    thumbprintHex: issued.thumbprintHex,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    issuerDn: issued.issuerDn,
    subjectDn: issued.subjectDn,
  };
}

export interface CrlJob {
  caCertPem: string;
  caKeyPem: string;
  /** JSON of CrlEntry[]: jobs carry flat fields only. */
  entriesJson: string;
  thisUpdate: string;
  nextUpdate: string;
  crlNumber: number;
}

export function signCrl(job: CrlJob): Uint8Array {
  const entries = JSON.parse(job.entriesJson) as CrlEntry[];
  return new Uint8Array(
    buildCrl({ caCertPem: job.caCertPem, caKeyPem: job.caKeyPem, entries, thisUpdate: job.thisUpdate, nextUpdate: job.nextUpdate, crlNumber: job.crlNumber }),
  );
}
