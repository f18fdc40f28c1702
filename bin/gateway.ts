// The REST gateway as its own process: reads the configuration (a clear message and exit 1 when
// it is bad), starts, and on SIGINT/SIGTERM stops accepting, finishes the requests in flight,
// closes the core channel and exits.
import { ConfigError, loadGatewayConfig, type GatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';

const FORCED_EXIT_MS = 30_000;

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`cm gateway: bad configuration: ${error.message}\n`);
    process.exit(1);
  }
  const gateway = await startGateway(config);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    gateway.app.log.info({ signal }, 'gateway stopping');
    setTimeout(() => {
      gateway.app.log.error('gateway did not stop in time; exiting');
      process.exit(1);
    }, FORCED_EXIT_MS).unref();
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.app.log.error({ err: error }, 'gateway close failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`cm gateway: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
