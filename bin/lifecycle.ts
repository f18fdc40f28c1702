// What every entry point does around its service: on SIGINT/SIGTERM, finish in-flight work, log
// a last "stopped" line and exit (forced after a grace period); on a failed start, one clear
// line on stderr naming the cause (and the variable, for configuration and listeners), no stack
// trace, exit code 1.

import { ConfigError } from '../common/env.js';

const FORCED_EXIT_MS = 30_000;

/** Pino or Fastify's logger: only these two levels are used. */
interface Log {
  info(obj: object, msg: string): void;
  error(obj: object | string, msg?: string): void;
}

export function closeOnSignals(log: Log, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight calls');
    setTimeout(() => {
      log.error('did not stop in time; exiting');
      process.exit(1);
    }, FORCED_EXIT_MS).unref();
    close().then(
      () => {
        log.info({ signal }, 'stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Errors raised for the operator (configuration, key ring, CA, token, listeners) print their message only. */
const OPERATOR_ERRORS = new Set(['ConfigError', 'KeyRingError', 'CaError', 'TokenError', 'ListenError']);

export function exitOnStartFailure(program: string): (err: unknown) => never {
  return (err) => {
    const name = err instanceof Error ? err.name : '';
    const what = err instanceof ConfigError ? 'bad configuration' : 'cannot start';
    const text = OPERATOR_ERRORS.has(name) ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`${program}: ${what}: ${text}\n`);
    process.exit(1);
  };
}
