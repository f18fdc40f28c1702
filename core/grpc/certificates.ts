// CertificateService handlers. Filled in by the certificate issue; until then every RPC
// answers UNIMPLEMENTED (REST 500) rather than pretending.

import * as grpc from '@grpc/grpc-js';
import type { CertificateServiceHandlers } from '../../proto/gen/cm/v1/CertificateService.js';
import type { CallEdge } from './call.js';

export type CertificateHandlersFactory = (edge: CallEdge) => CertificateServiceHandlers;

const unimplemented = (_call: unknown, callback: (err: Partial<grpc.StatusObject>) => void) =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: 'Not implemented yet.' });

export const unimplementedCertificates: CertificateHandlersFactory = () => ({
  GetCertificateRequestGenerationOptions: unimplemented,
  SubmitCertificateRequests: unimplemented,
  ListSmartcardCertificates: unimplemented,
  ListMyCertificates: unimplemented,
  GetCrl: unimplemented,
});
