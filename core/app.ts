// Composes the core: storage, key ring, crypto pool, domain, gRPC server. Used by the core's
// own entry point and by the embedded default, which runs it beside the gateway.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { applyHeapGrowingPercent } from '../common/heap.js';
import { TokenVerifier } from './auth/token.js';
import { poolCertificateAuthority } from './ca/authority.js';
import { loadOrCreateCa } from './ca/ca-store.js';
import { ConfigError, isPostgresUrl, type CoreConfig } from './config.js';
import { loadOrCreateKeyRingFile, type MasterKeyRing } from './crypto/key-ring.js';
import { TokenKeyRing } from './crypto/token-key-ring.js';
import { Pkcs11Token } from '../workers/crypto/pkcs11-token.js';
import { useThreadToken } from '../workers/crypto/thread-token.js';
import { KeyRingVault } from './crypto/pin-vault.js';
import { CryptoPool } from './crypto/pool.js';
import { createDomain, type Domain } from './domain/index.js';
import { createCoreServer } from './grpc/server.js';
import { CoreMetrics, serveMetrics } from './metrics.js';
import { openStore } from './storage/open.js';
import type { Store } from './storage/repository.js';

/** How often the core asks the database whether it answers (its health status follows). */
const READINESS_INTERVAL_MS = 1000;

export interface RunningCore {
  port: number;
  domain: Domain;
  store: Store;
  keyRing: MasterKeyRing;
  metrics: CoreMetrics;
  /** Where a core on its own serves /metrics (CM_METRICS_PORT set), for tests on port 0. */
  metricsPort?: number;
  /** Set when the embedded default generated the token secret (so it may print a dev token). */
  generatedJwtSecret?: string;
  close(): Promise<void>;
}

/** The folder of the database, where the embedded default keeps what it generates. */
export function dataDirOf(config: CoreConfig): string {
  return dirname(resolve(config.database));
}

function readOrCreateSecretFile(path: string, make: () => string): string {
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return readFileSync(path, 'utf8').trim();
}

function loadKeyRing(config: CoreConfig, embedded: boolean, token: Pkcs11Token | undefined): MasterKeyRing {
  if (token && config.pkcs11) return new TokenKeyRing(token, config.pkcs11.tokenLabel);
  if (config.keyRing) return config.keyRing;
  if (!embedded) throw new ConfigError('CM_MASTER_KEYS', 'set CM_MASTER_KEYS or CM_MASTER_KEYS_FILE (or CM_PKCS11_*): the key ring');
  return loadOrCreateKeyRingFile(join(dataDirOf(config), 'master-keys'));
}

/**
 * SPEC 12: the database records the CA and, per key ring version, the key check value of the
 * first core that used it; a core whose CA or key for a recorded version differs refuses to start.
 * One transaction: a refused core records nothing.
 */
export async function checkDeployment(store: Store, caCertDer: Buffer, keyRing: MasterKeyRing): Promise<void> {
  const fingerprint = createHash('sha256').update(caCertDer).digest('hex');
  await store.transaction(async (tx) => {
    const mismatches: string[] = [];
    const ca = await tx.deployment.record('ca.sha256', fingerprint);
    if (ca !== fingerprint) mismatches.push(`the CA certificate's SHA-256 fingerprint is ${fingerprint}, the database's CA is ${ca}`);
    for (const version of keyRing.versions()) {
      const kcv = keyRing.keyCheckValue(version).toString('hex');
      const recorded = await tx.deployment.record(`kcv.${version}`, kcv);
      if (recorded !== kcv) mismatches.push(`master key version ${version} has key check value ${kcv}, the database recorded ${recorded}`);
    }
    if (mismatches.length) {
      throw new ConfigError('CM_DATABASE', `this core's CA or master keys differ from those the database was set up with: ${mismatches.join('; ')}`);
    }
  });
}

export async function startCore(config: CoreConfig, options: { log: Logger; embedded: boolean }): Promise<RunningCore> {
  const { log, embedded } = options;
  const heapGrowingPercent = applyHeapGrowingPercent(config.heapGrowingPercent);
  // Only the embedded default on SQLite generates what is not configured (never with PostgreSQL).
  const generates = embedded && !isPostgresUrl(config.database);
  const metrics = new CoreMetrics();
  let store: Store | undefined;
  let pool: CryptoPool | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  let keyRing: MasterKeyRing | undefined;
  let token: Pkcs11Token | undefined;
  try {
    // The main thread's session: the key ring's derivations, and the inline crypto mode's jobs.
    token = config.pkcs11 && Pkcs11Token.open(config.pkcs11);
    if (token) useThreadToken(token);
    const ring = (keyRing = loadKeyRing(config, generates, token));
    // The key ring first: the store seals and opens templates' default admin keys with it.
    const vault = new KeyRingVault(ring);
    const db = (store = await openStore(config.database, vault, metrics.store));
    const missing = (await db.read.smartcards.keyVersionsInUse()).filter((v) => !ring.has(v));
    if (missing.length) {
      throw new ConfigError('CM_MASTER_KEYS', `smart cards use master key version(s) ${missing.join(', ')}, which the key ring lacks`);
    }
    let generatedJwtSecret: string | undefined;
    let jwt = config.jwt;
    if (!jwt.secret && !jwt.publicKeyPem) {
      if (!generates) throw new ConfigError('CM_JWT_SECRET', 'set CM_JWT_SECRET or CM_JWT_PUBLIC_KEY: the core verifies tokens');
      generatedJwtSecret = readOrCreateSecretFile(join(dataDirOf(config), 'dev-token-secret'), () => randomBytes(32).toString('base64url'));
      jwt = { ...jwt, secret: generatedJwtSecret };
    }
    const verifier = new TokenVerifier({ ...jwt, adminGroup: config.adminGroup });
    const ca = await loadOrCreateCa(config.ca ?? { dir: dataDirOf(config) });
    await checkDeployment(db, ca.certDer, ring);
    const workers = (pool = new CryptoPool({
      threads: config.workers,
      mode: config.cryptoMode,
      pkcs11: config.pkcs11,
      onTaskDone: (kind, seconds, jobs) => metrics.poolTaskDone(kind, seconds, jobs),
    }));
    metrics.watchPool(workers, config.workers);
    const domain = createDomain({
      ca: poolCertificateAuthority(ca, workers, config.publicUrl),
      store: db,
      crypto: workers,
      keys: ring,
      vault,
      maxResponsesPerRequest: config.maxResponsesPerRequest,
      requestTtlHours: config.requestTtlHours,
    });
    const server = createCoreServer({ domain, verifier, log, metrics, tls: config.tls, caCertificateDer: ca.certDer, streams: config.streams, rateLimitPerMinute: config.rateLimitPerMinute });
    const port = await server.listen(config.grpcHost, config.grpcPort);
    // The embedded default shows these on the gateway's /metrics instead.
    if (!embedded && config.metrics) {
      metricsServer = await serveMetrics(metrics, config.metrics.host, config.metrics.port).catch(async (err) => {
        await server.close(0);
        throw err;
      });
      log.info({ host: config.metrics.host, port: metricsServer.port }, 'metrics listening');
    }

    const sweep = () =>
      domain.requests.abandonExpired().then(
        (n) => n && log.info({ abandoned: n }, 'abandoned expired requests'),
        (err: unknown) => log.error({ err }, 'expired request sweep failed'),
      );
    await sweep();
    const timer = setInterval(sweep, 60_000);
    timer.unref();
    // Readiness follows the database: NOT_SERVING while it cannot be reached (the gateway's
    // /readyz answers 503), SERVING again once it answers.
    let pinging = false;
    const readiness = setInterval(() => {
      if (pinging) return;
      pinging = true;
      void db.ping().then((up) => {
        pinging = false;
        server.setServing(up);
      });
    }, READINESS_INTERVAL_MS);
    readiness.unref();
    log.info({ host: config.grpcHost, port, keyVersion: ring.newestVersion, caCreated: ca.created, heapGrowingPercent }, 'core listening');

    return {
      port,
      domain,
      store: db,
      keyRing: ring,
      metrics,
      metricsPort: metricsServer?.port,
      generatedJwtSecret,
      async close() {
        clearInterval(timer);
        clearInterval(readiness);
        await metricsServer?.close();
        await server.close();
        await workers.close();
        await db.close();
        keyRing?.destroy();
      },
    };
  } catch (err) {
    await pool?.close();
    await store?.close();
    keyRing?.destroy();
    token?.close();
    throw err;
  }
}
