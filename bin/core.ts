// The core service on its own: `node dist/bin/core.js`, configured by SPEC 11's variables.

import { startCore } from '../core/app.js';
import { loadCoreConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { closeOnSignals, exitOnStartFailure } from './lifecycle.js';

async function main(): Promise<void> {
  const config = loadCoreConfig(process.env, { embedded: false });
  const log = createLogger(config.logLevel, 'cm-core');
  const core = await startCore(config, { log, embedded: false });
  closeOnSignals(log, () => core.close());
}

main().catch(exitOnStartFailure('cm-core'));
