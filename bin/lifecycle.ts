// What every entry point does around its service: on SIGINT/SIGTERM, finish in-flight work and
// exit (forced after a grace period); on a failed start, one clear line on stderr and exit 1.


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
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Configuration and start-up errors carry messages written for the operator; others are bugs. */
export function exitOnStartFailure(program: string): (err: unknown) => never {
  return (err) => {
    const kind = err instanceof Error ? err.name : '';
    const what = kind === 'ConfigError' ? 'bad configuration' : 'cannot start';
    const expected = /Config|KeyRing|Ca|Token/.test(kind);
    process.stderr.write(`${program}: ${what}: ${expected ? (err as Error).message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  };
}
