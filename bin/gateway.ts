// The REST gateway as its own process: reads the configuration (a clear message and exit 1 when
// it is bad), starts, and on SIGINT/SIGTERM stops accepting, finishes the requests in flight,
// closes the core channel and exits.
import { loadGatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';
import { closeOnSignals, exitOnStartFailure } from './lifecycle.js';

async function main(): Promise<void> {
  const gateway = await startGateway(loadGatewayConfig());
  closeOnSignals(gateway.app.log, () => gateway.close());
}

main().catch(exitOnStartFailure('cm gateway'));
