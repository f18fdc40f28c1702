// The service under test, as a child process of the bench (bench/processes.ts): the core and the
// gateway in one process over loopback gRPC, exactly as the embedded default runs them, with
// every setting from the environment the bench prepares (temp SQLite, token secret, key ring, CA).
//
// The inline variant of issue 3 (the pool must cost no more than 10% against inline) is the same
// process with CM_CRYPTO_MODE=inline, which core/app.ts honours: nothing is composed here.
import { startCore } from '../core/app.js';
import { loadCoreConfig } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';
import { announceFailure, announceReady, stopOnSignal } from './processes.js';

async function main(): Promise<void> {
  const coreConfig = loadCoreConfig(process.env, { embedded: false });
  const log = createLogger(coreConfig.logLevel, `cm-bench-${coreConfig.cryptoMode}`);
  const core = await startCore(coreConfig, { log, embedded: false });
  // CM_BENCH_ROLE=core: a core alone, which another service's gateway balances over with its own
  // (CM_BENCH_MORE_CORES, comma list): the rows of two cores on PostgreSQL.
  if (process.env.CM_BENCH_ROLE === 'core') {
    stopOnSignal(() => core.close());
    announceReady({ grpc: core.port });
    return;
  }
  const cores = [`127.0.0.1:${core.port}`, ...(process.env.CM_BENCH_MORE_CORES?.split(',') ?? [])];
  const gatewayConfig = loadGatewayConfig({ ...process.env, CM_CORE_ADDRESS: cores.join(',') });
  const gateway = await startGateway(gatewayConfig, { logger: log });
  stopOnSignal(async () => {
    await gateway.close();
    await core.close();
  });
  announceReady({ http: Number(new URL(gateway.url).port), grpc: core.port });
}

main().catch(announceFailure);
