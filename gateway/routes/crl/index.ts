// GET /crl at the server root, no token: the CA's current CRL in DER (CertificateService.GetCrl).
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
    public: true,
    responses: { 200: { description: 'DER-encoded CRL (application/pkix-crl)', type: 'string', format: 'binary' } },
    request: () => ({}),
    reply: (answer) => ({
      status: 200,
      body: Buffer.from(answer.der),
      headers: { 'content-type': 'application/pkix-crl', 'cache-control': 'no-cache' },
    }),
  }),
];

export default async function crl(fastify: FastifyInstance): Promise<void> {
  registerRpcRoutes(fastify, crlRoutes);
}
