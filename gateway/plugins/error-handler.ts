// The gateway's one error handler, its not-found handler, and the answers to the errors Fastify
// and Node raise outside any route (bad URL, malformed HTTP, headers too large). All answer with
// the body {"Message","Code","CorrelationId"} and the X-Correlation-Id header.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { GatewayError, errorBody, toHttpError, type GatewayErrorCode } from '../errors.js';
import { JSON_CONTENT_TYPE } from '../schemas.js';
import { CORRELATION_HEADER } from './correlation-id.js';
import { sharedPlugin } from './define.js';

/** Answers with the error body; a 5xx is logged with its cause, which the body never shows. */
export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const http = toHttpError(error);
  const request = reply.request;
  if (http.internal) request.log.error({ err: error, code: http.code }, 'request failed');
  else request.log.info({ code: http.code, status: http.status }, http.message);
  return reply
    .code(http.status)
    .headers({ ...http.headers, [CORRELATION_HEADER]: request.id })
    .type(JSON_CONTENT_TYPE)
    .send(JSON.stringify(errorBody(http, request.id)));
}

/** Fastify's `frameworkErrors`: errors raised before routing (a malformed URL). */
export function answerFrameworkError(error: Error, _request: unknown, reply: FastifyReply): void {
  sendError(reply, error);
}

/** Fastify's `clientErrorHandler`: HTTP the parser refused, answered on the raw socket. */
export function answerClientError(log: FastifyBaseLogger) {
  return function clientError(error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const code: GatewayErrorCode =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'REQUEST_TIMEOUT'
          : 'INVALID_ARGUMENT';
    const http = toHttpError(
      new GatewayError(code, code === 'INVALID_ARGUMENT' ? 'The HTTP request is malformed.' : undefined),
    );
    const correlationId = randomUUID();
    log.info({ correlationId, code: http.code, reason: error.code }, 'client error');
    if (socket.writable) {
      const body = JSON.stringify(errorBody(http, correlationId));
      socket.write(
        `HTTP/1.1 ${http.status} ${STATUS_CODES[http.status]}\r\n` +
          `Content-Type: ${JSON_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Correlation-Id: ${correlationId}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}

export default sharedPlugin(
  'error-handler',
  async (fastify) => {
    fastify.setErrorHandler((error, request, reply) => sendError(reply, error));
    fastify.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0].slice(0, 200);
      sendError(reply, new GatewayError('NOT_FOUND', `No route ${request.method} ${path}.`));
    });
  },
  ['correlation-id'],
);
