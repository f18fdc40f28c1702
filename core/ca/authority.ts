// The embedded CA as the domain sees it: issuance and CRL signing sent to the worker pool,
// with the CA's key material loaded once at start-up (core/ca/ca-store.ts).

import type { CertificateAuthority } from '../domain/certificates.js';
import type { CryptoPool } from '../crypto/pool.js';
import { toPem } from '../../workers/ca/csr.js';
import type { CaMaterial } from './ca-store.js';

/** How long a CRL is good for; clients fetch a new one before nextUpdate. */
const CRL_VALIDITY_MS = 24 * 3_600_000;

export function poolCertificateAuthority(ca: CaMaterial, pool: CryptoPool, publicUrl: string): CertificateAuthority {
  const chainPem = ca.chainDer.map((der) => toPem('CERTIFICATE', der)).join('');
  return {
    issue: ({ csr, template, subjectDn, upn }) =>
      pool.run('issue', {
        csr,
        keyAlgorithmName: template.keyAlgorithmName,
        keySize: template.keySize,
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        chainPem,
        subjectDn,
        validityDays: template.validityDays,
        keyUsages: template.keyUsages,
        upn,
        publicUrl,
      }),
    signCrl: async ({ entries, crlNumber, now }) =>
      Buffer.from(
        await pool.run('crl', {
          caCertPem: ca.certPem,
          caKeyPem: ca.keyPem,
          entriesJson: JSON.stringify(entries),
          thisUpdate: now.toISOString(),
          nextUpdate: new Date(now.getTime() + CRL_VALIDITY_MS).toISOString(),
          crlNumber,
        }),
      ),
  };
}
