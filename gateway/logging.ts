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

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogArgs = Parameters<Logger['info']>;

/**
 * A request's logger, made on its first line of output. Fastify gives every request a child
 * logger bound to its correlation id; with redaction configured, pino copies and redacts those
 * bindings for each child, which at the default level (warn) no request ever writes with. This
 * stands in for that child and creates it (the same bindings and options) only when a line is
 * at an enabled level.
 */
class RequestLogger {
  readonly level: string;
  #child: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: Record<string, unknown>,
  ) {
    this.level = typeof options.level === 'string' ? options.level : parent.level;
  }

  private real(): Logger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  private write(level: LevelName, args: LogArgs): void {
    const values = this.parent.levels.values;
    if (values[level]! >= (values[this.level] ?? Infinity)) (this.real()[level] as (...a: LogArgs) => void)(...args);
  }

  fatal(...args: LogArgs): void {
    this.write('fatal', args);
  }
  error(...args: LogArgs): void {
    this.write('error', args);
  }
  warn(...args: LogArgs): void {
    this.write('warn', args);
  }
  info(...args: LogArgs): void {
    this.write('info', args);
  }
  debug(...args: LogArgs): void {
    this.write('debug', args);
  }
  trace(...args: LogArgs): void {
    this.write('trace', args);
  }
  silent(): void {}
  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): Logger {
    return this.real().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory` for the gateway: see RequestLogger. */
export function requestLogger(logger: Logger, bindings: Record<string, unknown>, options: Record<string, unknown>): Logger {
  return new RequestLogger(logger, bindings, options) as unknown as Logger;
}
