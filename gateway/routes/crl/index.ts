// GET /crl and GET /ca.crt at the server root, no token: the CA's current CRL and the issuing CA
// certificate (the CRL distribution point and AIA URLs of issued certificates), both DER.
import type { FastifyInstance } from 'fastify';
import { registerRpcRoutes, rpcRoute } from '../../rpc-route.js';

export const crlRoutes = [
  rpcRoute({
    method: 'GET',
    paths: ['/crl'],
    summary: "The CA's current certificate revocation list (DER)",
    tags: ['certificates'],
    service: 'CertificateService',
    rpc: 'GetCrl',
    refuses: [],
    public: true,
    mediaType: 'application/pkix-crl',
    responses: { 200: { description: 'DER-encoded CRL (application/pkix-crl)', type: 'string', format: 'binary' } },
    request: () => ({}),
    reply: (answer) => ({
      status: 200,
      body: Buffer.from(answer.der),
      headers: { 'content-type': 'application/pkix-crl', 'cache-control': 'no-cache' },
    }),
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/ca.crt'],
    summary: "The issuing CA's certificate (DER), named by issued certificates' AIA extension",
    tags: ['certificates'],
    service: 'CertificateService',
    rpc: 'GetCaCertificate',
    refuses: [],
    public: true,
    mediaType: 'application/pkix-cert',
    responses: { 200: { description: 'DER-encoded certificate (application/pkix-cert)', type: 'string', format: 'binary' } },
    request: () => ({}),
    reply: (answer) => ({
      status: 200,
      body: Buffer.from(answer.der),
      headers: { 'content-type': 'application/pkix-cert', 'cache-control': 'max-age=3600' },
    }),
  }),
];

export default async function crl(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, crlRoutes);
}
