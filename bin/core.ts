// The core service on its own: `node dist/bin/core.js`, configured by SPEC 11's variables.

import { startCore } from '../core/app.js';
import { ConfigError, loadCoreConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';

async function main(): Promise<void> {
  const config = loadCoreConfig(process.env, { embedded: false });
  const log = createLogger(config.logLevel, 'cm-core');
  const core = await startCore(config, { log, embedded: false });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight calls');
    core.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || (err instanceof Error && err.name.endsWith('Error')) ? (err as Error).message : String(err);
  process.stderr.write(`cm-core: cannot start: ${message}\n`);
  process.exit(1);
});
