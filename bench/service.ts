// The service under test, as a child process of the bench (bench/processes.ts): the core and the
// gateway in one process over loopback gRPC, exactly as the embedded default runs them, with
// every setting from the environment the bench prepares (temp SQLite, token secret, key ring, CA).
//
// BENCH_CRYPTO_MODE=inline builds the core with the crypto handlers running on the main thread
// instead of the worker pool (issue 3: the pool must cost no more than 10% against inline). The
// core's own start-up (core/app.ts) always builds a pool, so inline mode composes the core here
// from the same pieces; pool mode uses core/app.ts itself.
import type { Logger } from 'pino';
import { TokenVerifier } from '../core/auth/token.js';
import { startCore, type RunningCore } from '../core/app.js';
import { poolCertificateAuthority } from '../core/ca/authority.js';
import { loadOrCreateCa } from '../core/ca/ca-store.js';
import { loadCoreConfig, type CoreConfig } from '../core/config.js';
import { parseKeyRing } from '../core/crypto/key-ring.js';
import { KeyRingPinVault } from '../core/crypto/pin-vault.js';
import { CryptoPool } from '../core/crypto/pool.js';
import { createDomain } from '../core/domain/index.js';
import { createCoreServer } from '../core/grpc/server.js';
import { createLogger } from '../core/log.js';
import { SqliteStore } from '../core/storage/sqlite.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/server.js';
import { announceFailure, announceReady, stopOnSignal } from './processes.js';

type Core = Pick<RunningCore, 'port' | 'close'>;

/** core/app.ts's composition with an inline CryptoPool; the bench always sets every secret. */
async function startInlineCore(config: CoreConfig, log: Logger): Promise<Core> {
  if (!config.masterKeys || !config.jwt.secret || !config.ca) throw new Error('the bench sets CM_MASTER_KEYS, CM_JWT_SECRET and CM_CA_*');
  const store = new SqliteStore(config.database);
  const keys = parseKeyRing(config.masterKeys);
  const verifier = new TokenVerifier({ ...config.jwt, adminGroup: config.adminGroup });
  const ca = await loadOrCreateCa(config.ca);
  const crypto = new CryptoPool({ threads: config.workers, mode: 'inline' });
  const domain = createDomain({
    ca: poolCertificateAuthority(ca, crypto, config.publicUrl),
    store,
    crypto,
    keys,
    vault: new KeyRingPinVault(keys),
    maxResponsesPerRequest: config.maxResponsesPerRequest,
    requestTtlHours: config.requestTtlHours,
  });
  const server = createCoreServer({ domain, verifier, log, tls: config.tls, caCertificateDer: ca.certDer });
  const port = await server.listen(config.grpcHost, config.grpcPort);
  return {
    port,
    async close() {
      await server.close();
      await crypto.close();
      await store.close();
    },
  };
}

async function main(): Promise<void> {
  const mode = process.env.BENCH_CRYPTO_MODE === 'inline' ? 'inline' : 'pool';
  const coreConfig = loadCoreConfig(process.env, { embedded: false });
  const log = createLogger(coreConfig.logLevel, `cm-bench-${mode}`);
  const core: Core = mode === 'inline' ? await startInlineCore(coreConfig, log) : await startCore(coreConfig, { log, embedded: false });
  const gatewayConfig = loadGatewayConfig({ ...process.env, CM_CORE_ADDRESS: `127.0.0.1:${core.port}` });
  const gateway = await startGateway(gatewayConfig, { logger: log });
  stopOnSignal(async () => {
    await gateway.close();
    await core.close();
  });
  announceReady({ http: Number(new URL(gateway.url).port), grpc: core.port });
}

main().catch(announceFailure);
