// Certificate routes (SPEC 7): the caller's certificates, and a request's certificate
// generation options and CSR upload. Each the twin of one CertificateService RPC.
import type { FastifyInstance } from 'fastify';
import { guid, read } from '../../conventions/values.js';
import { pascalList, registerRpcRoutes, rpcRoute } from '../../rpc-route.js';
import type { IssuedCertificate__Output } from '../../../proto/gen/cm/v1/IssuedCertificate.js';
import { arrayOf } from '../../schemas.js';
import {
  certificateDataBody,
  generationOptionsSchema,
  issuedCertificateSchema,
  requestParams,
  userCertificateSchema,
} from './schemas.js';

const tags = ['certificates'];

/** The MIM shape of an issued certificate: a PKCS#7 of a card key, nothing server-generated. */
export function mimIssuedCertificate(certificate: IssuedCertificate__Output) {
  return {
    TemplateCommonName: certificate.templateCommonName,
    CertificateId: certificate.certificateId,
    Flags: certificate.flags,
    UseLocalMachineStore: false,
    Error: null,
    Pkcs7: certificate.pkcs7,
    Pfx: null,
    IsExternal: false,
    isServerGenerated: false,
    isPfx: false,
    isPkcs7: true,
    isKeyHistory: false,
  };
}

export const certificateRoutes = [
  rpcRoute({
    method: 'GET',
    paths: ['/certificates'],
    summary: "List the caller's certificates",
    tags,
    service: 'CertificateService',
    rpc: 'ListMyCertificates',
    refuses: [],
    responses: { 200: arrayOf(userCertificateSchema) },
    request: () => ({}),
    reply: pascalList('certificates'),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/requests/:id/certificaterequestgenerationoptions'],
    summary: 'Get the certificate request generation options of a request',
    tags,
    service: 'CertificateService',
    rpc: 'GetCertificateRequestGenerationOptions',
    refuses: [404],
    params: requestParams,
    responses: { 200: arrayOf(generationOptionsSchema) },
    request: ({ params }) => ({ uuid: read(guid, params.id, 'id') }),
    reply: pascalList('options'),
  }),
  rpcRoute({
    method: 'POST',
    paths: ['/requests/:id/certificatedata'],
    summary: 'Submit certificate requests (PKCS#10) and get the issued certificates',
    tags,
    service: 'CertificateService',
    rpc: 'SubmitCertificateRequests',
    refuses: [403, 404, 409],
    params: requestParams,
    body: certificateDataBody,
    responses: { 200: arrayOf(issuedCertificateSchema) },
    request: ({ params, body }) => ({
      requestUuid: read(guid, params.id, 'id'),
      certificateRequests: body.certificaterequests as string[],
      pfxPassword: (body.pfxpassword as string | undefined) ?? '',
      comments: (body.comments as string | undefined) ?? '',
    }),
    reply: (answer) => ({ status: 200, body: answer.certificates.map(mimIssuedCertificate) }),
  }),
];

export default async function certificates(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, certificateRoutes);
}
