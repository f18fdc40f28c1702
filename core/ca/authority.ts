// The embedded CA as the domain sees it: issuance, CRL and OCSP signing sent to the worker pool,
// with the CA's key material loaded once at start-up (core/ca/ca-store.ts). Jobs name the CA by
// id; a pool thread that does not have the CA yet answers so, and only then is the job sent
// again with the CA's certificate, key and chain, which that thread keeps (workers/ca/loaded-cas.ts).

import type { CertificateAuthority } from '../domain/certificates.js';
import type { CryptoPool } from '../crypto/pool.js';
import { CmError } from '../errors.js';
import { certificateFacts } from '../../workers/ca/ca-certificate.js';
import { MALFORMED_REQUEST, ocspIssuerOf, parseOcspRequest } from '../../workers/ca/ocsp.js';
import { toPem } from '../../workers/ca/pem.js';
import type { IssuedJobResult } from '../../workers/ca/jobs.js';
import { caIdOf, isCaNotLoaded, type CaNotLoaded, type CaReference } from '../../workers/ca/loaded-cas.js';
import type { TaskJobs, TaskValues } from '../../workers/tasks.js';
import type { CaMaterial } from './ca-store.js';

/** How long a CRL is good for; clients fetch a new one before nextUpdate. */
const CRL_VALIDITY_MS = 24 * 3_600_000;
/** How long an OCSP answer is good for (SPEC 14: at most an hour). */
const OCSP_VALIDITY_MS = 3_600_000;

type CaJobKind = 'issue' | 'crl' | 'ocsp';

export function poolCertificateAuthority(ca: CaMaterial, pool: CryptoPool, publicUrl: string): CertificateAuthority {
  const caId = caIdOf(ca.certDer);
  const ocspIssuer = ocspIssuerOf(certificateFacts(ca.certDer));
  const material: Required<CaReference> = {
    caId,
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    chainPem: ca.chainDer.map((der) => toPem('CERTIFICATE', der)).join(''),
  };

  async function run<K extends CaJobKind>(kind: K, job: Omit<TaskJobs[K], keyof CaReference>): Promise<Exclude<TaskValues[K], CaNotLoaded>> {
    const first = await pool.run(kind, { ...job, caId } as TaskJobs[K]);
    if (!isCaNotLoaded(first)) return first as Exclude<TaskValues[K], CaNotLoaded>;
    const again = await pool.run(kind, { ...job, ...material } as TaskJobs[K]);
    if (isCaNotLoaded(again)) throw new CmError('INTERNAL', 'the crypto worker did not load the CA');
    return again as Exclude<TaskValues[K], CaNotLoaded>;
  }

  return {
    issue: ({ csr, template, subjectDn, upn }): Promise<IssuedJobResult> =>
      run('issue', {
        csr,
        keyAlgorithmName: template.keyAlgorithmName,
        keySize: template.keySize,
        subjectDn,
        validityDays: template.validityDays,
        keyUsages: template.keyUsages,
        upn,
        publicUrl,
      }),
    signCrl: async ({ entries, crlNumber, now }) =>
      Buffer.from(
        await run('crl', {
          entriesJson: JSON.stringify(entries),
          thisUpdate: now.toISOString(),
          nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS).toISOString(),
          crlNumber,
        }),
      ),
    readOcspRequest: (der) => parseOcspRequest(der, ocspIssuer),
    malformedOcspResponse: MALFORMED_REQUEST,
    signOcsp: async ({ answers, nonce, now }) =>
      Buffer.from(
        await run('ocsp', {
          answersJson: JSON.stringify(answers.map(({ certIdDer, ...status }) => ({ certIdHex: certIdDer.toString('hex'), ...status }))),
          ...(nonce ? { nonce: new Uint8Array(nonce) } : {}),
          now: now.toISOString(),
          nextUpdate: new Date(now.getTime() + OCSP_VALIDITY_MS).toISOString(),
        }),
      ),
  };
}
