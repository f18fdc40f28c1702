// OCSP at the server root, no token (SPEC 14): POST with an application/ocsp-request body, and
// GET /ocsp/{url-encoded base64 request} (RFC 5019). Either way the request's bytes go to the
// core in one call and its answer comes back as application/ocsp-response; a request that
// cannot be read (including base64 that does not decode) is answered by the core with OCSP's
// malformedRequest, never with a JSON error.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { registerRpcRoutes, rpcRoute, type RestReply } from '../../rpc-route.js';

const OCSP_REQUEST = 'application/ocsp-request';
const OCSP_RESPONSE = 'application/ocsp-response';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const ocspResponses = {
  200: {
    description: 'DER-encoded OCSPResponse (RFC 6960): successful and signed, or malformedRequest',
    content: { [OCSP_RESPONSE]: { schema: { type: 'string', format: 'binary' } } },
  },
};

/** The answer: bytes, never cached by intermediaries (answers are per request, nonces included). */
const ocspReply = (answer: { der: Buffer | Uint8Array }): RestReply => ({
  status: 200,
  body: Buffer.from(answer.der),
  headers: { 'content-type': OCSP_RESPONSE, 'cache-control': 'no-cache' },
});

/**
 * The request of a GET: the rest of the path (the router has URL-decoded it once; what is still
 * percent-encoded is decoded here), base64; nothing when it is not base64.
 */
function getRequestBytes(encoded: string | undefined): Buffer {
  let text = encoded ?? '';
  try {
    if (text.includes('%')) text = decodeURIComponent(text);
  } catch {
    return Buffer.alloc(0);
  }
  return BASE64.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
}

export const ocspRoutes = [
  rpcRoute({
    method: 'POST',
    paths: ['/ocsp'],
    summary: 'Certificate status over OCSP (RFC 6960): the request as an application/ocsp-request body',
    tags: ['certificates'],
    service: 'CertificateService',
    rpc: 'GetOcspResponse',
    refuses: [],
    public: true,
    consumes: [OCSP_REQUEST],
    responses: ocspResponses,
    request: ({ body }) => ({ der: Buffer.isBuffer(body) ? body : Buffer.alloc(0) }),
    reply: ocspReply,
  }),
  rpcRoute({
    method: 'GET',
    paths: ['/ocsp/*'],
    summary: 'Certificate status over OCSP (RFC 5019): the request base64-encoded, URL-encoded, in the path',
    tags: ['certificates'],
    service: 'CertificateService',
    rpc: 'GetOcspResponse',
    refuses: [],
    public: true,
    responses: ocspResponses,
    request: ({ params }) => ({ der: getRequestBytes(params['*']) }),
    reply: ocspReply,
  }),
];

export default async function ocsp(fastify: FastifyInstance): Promise<void> {
  // Only here: the rest of the gateway takes JSON bodies.
  fastify.addContentTypeParser(OCSP_REQUEST, { parseAs: 'buffer' }, async (_request: FastifyRequest, body: Buffer) => body);
  registerRpcRoutes(fastify, ocspRoutes);
}
