// The gateway's log: pino, one line per event, the correlation id on every line of a request
// (Fastify binds it as `correlationId`). Secrets never reach it: the Authorization header, the
// challenge in a query string and body fields carrying keys, PINs or passwords are redacted, and
// bodies (of requests and of answers) are never logged at all.
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../common/formats.js';
import type { LogLevel } from './config.js';

const SECRET_QUERY_PARAMETERS = /([?&](?:challenge|pfxpassword)=)[^&]*/gi;


/** A request URL with the values of secret query parameters replaced. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMETERS, '$1[REDACTED]');
}

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
  socket?: { remotePort?: number };
}

export const serializers = {
  req(request: LoggedRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
  res(reply: { statusCode: number }) {
    return { statusCode: reply.statusCode };
  },
  err: pino.stdSerializers.err,
};

const redact = { paths: REDACT_PATHS, censor: '[REDACTED]' };

/** The gateway's logger: a new one at `level`, or a child of the one handed in (embedded). */
export function createGatewayLogger(level: LogLevel, parent?: Logger): Logger {
  if (parent) return parent.child({ component: 'gateway' }, { serializers, redact });
  return pino({ level, serializers, redact, base: { component: 'gateway' } });
}
