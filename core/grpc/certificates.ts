// CertificateService: generation options, certificatedata, certificate reads, and the CA's
// CRL, certificate and OCSP answers, which are served without a token.

import type { CertificateServiceHandlers } from '../../proto/gen/cm/v1/CertificateService.js';
import type { Domain } from '../domain/index.js';
import { anonymousUnary, unary, type CallEdge } from './call.js';

export function certificateHandlers(edge: CallEdge, d: Domain, caCertificateDer: Buffer): CertificateServiceHandlers {
  return {
    GetCertificateRequestGenerationOptions: unary(edge, 'GetCertificateRequestGenerationOptions', async (req, ctx) => ({
      options: await d.certificates.generationOptions(ctx, req.uuid),
    })),
    SubmitCertificateRequests: unary(edge, 'SubmitCertificateRequests', async (req, ctx) => ({
      certificates: (await d.certificates.submit(ctx, req.requestUuid, req.certificateRequests)).map((c) => ({
        templateCommonName: c.templateCommonName,
        certificateId: c.serialHex,
        flags: 0,
        pkcs7: c.pkcs7.toString('base64'),
      })),
    })),
    ListSmartcardCertificates: unary(edge, 'ListSmartcardCertificates', async (req, ctx) => ({
      certificates: await d.certificates.listForCard(ctx, req.uuid),
    })),
    ListMyCertificates: unary(edge, 'ListMyCertificates', async (_req, ctx) => ({ certificates: await d.certificates.listMine(ctx) })),
    GetCrl: anonymousUnary(edge, 'GetCrl', async () => ({ der: await d.certificates.crl() })),
    GetCaCertificate: anonymousUnary(edge, 'GetCaCertificate', async () => ({ der: caCertificateDer })),
    GetOcspResponse: anonymousUnary(edge, 'GetOcspResponse', async (req) => ({ der: await d.certificates.ocsp(Buffer.from(req.der)) })),
  };
}
