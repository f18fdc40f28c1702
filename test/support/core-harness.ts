// Starts a real core (gRPC on 127.0.0.1 port 0, SQLite in a temp folder, or a fresh database
// in this process's throwaway PostgreSQL cluster when CM_TEST_STORE=postgres) and gives tests
// tokens and promisified grpc-js clients.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { SignJWT } from 'jose';
import { startCore, type RunningCore } from '../../core/app.js';
import { createSelfSignedCa } from '../../core/ca/ca-store.js';
import { startPostgres, type PgCluster } from './postgres.js';
import { loadCoreConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { loadCmProto } from '../../proto/load.js';

export const JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';
export const MASTER_KEY_V1 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
export const ADMIN = { sub: 'a0000000-0000-4000-8000-000000000001', name: 'Ada Admin', groups: ['cm-admins'] };

export interface Claims {
  sub: string;
  name?: string;
  upn?: string;
  groups?: string[];
}

export async function mintToken(claims: Claims, options: { secret?: string; expiresIn?: string | number } = {}): Promise<string> {
  return new SignJWT({ name: claims.name, upn: claims.upn, groups: claims.groups ?? [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(Buffer.from(options.secret ?? JWT_SECRET));
}

/**
 * The store the test cores run on: PostgreSQL when CM_TEST_STORE=postgres (the entry files in
 * test/postgres/ set it and run a suite again), SQLite otherwise.
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.CM_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

let cluster: Promise<PgCluster> | undefined;
/** This process's throwaway PostgreSQL cluster: started on first use, removed when the process exits. */
export function testCluster(): Promise<PgCluster> {
  return (cluster ??= startPostgres());
}

let sharedCa: Record<string, string> | undefined;
/** With PostgreSQL nothing is generated: every core of the process is given one CA. */
function caEnv(): Record<string, string> {
  if (!sharedCa) {
    const dir = mkdtempSync(join(tmpdir(), 'cm-test-ca-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const ca = createSelfSignedCa({ commonName: 'CM Test Issuing CA' });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    sharedCa = { CM_CA_CERT: join(dir, 'ca.crt'), CM_CA_KEY: join(dir, 'ca.key') };
  }
  return sharedCa;
}

export interface TestCore {
  core: RunningCore;
  address: string;
  dir: string;
  /** Its CM_DATABASE: a SQLite path or a postgres:// URL. */
  database: string;
  clients: ReturnType<typeof makeClients>;
  close(): Promise<void>;
}

export function testEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CM_DATABASE: join(dir, 'cm.sqlite'),
    CM_GRPC_HOST: '127.0.0.1',
    CM_GRPC_PORT: '0',
    CM_JWT_SECRET: JWT_SECRET,
    CM_MASTER_KEYS: `1:${MASTER_KEY_V1}`,
    CM_WORKERS: '1',
    CM_LOG_LEVEL: 'silent',
    ...extra,
  };
}

export interface TestCoreOptions {
  /** Keep the database here (and leave it on close), e.g. to restart a core on the same data. */
  dir?: string;
  /** A CM_DATABASE to use instead of a fresh one (a PostgreSQL database another core uses). */
  database?: string;
  /** The logger to use (tests that read the logs); silent by default. */
  log?: Logger;
}

export async function startTestCore(extraEnv: Record<string, string> = {}, options: TestCoreOptions = {}): Promise<TestCore> {
  const existingDir = options.dir;
  const dir = existingDir ?? mkdtempSync(join(tmpdir(), 'cm-test-'));
  let database = options.database ?? join(dir, 'cm.sqlite');
  let storeEnv: Record<string, string> = {};
  if (TEST_STORE === 'postgres') {
    database = options.database ?? (await (await testCluster()).createDatabase());
    storeEnv = caEnv();
  }
  const config = loadCoreConfig(testEnv(dir, { CM_DATABASE: database, ...storeEnv, ...extraEnv }), { embedded: true });
  const log = options.log ?? createLogger(config.logLevel, 'cm-core-test');
  const core = await startCore(config, { log, embedded: true });
  const address = `127.0.0.1:${core.port}`;
  const clients = makeClients(address);
  return {
    core,
    address,
    dir,
    database,
    clients,
    async close() {
      for (const c of Object.values(clients)) c.close();
      await core.close();
      if (!existingDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function makeClients(address: string) {
  const v1 = loadCmProto().proto.cm.v1;
  const creds = grpc.credentials.createInsecure();
  return {
    templates: new v1.ProfileTemplateService(address, creds) as unknown as AnyClient,
    requests: new v1.RequestService(address, creds) as unknown as AnyClient,
    smartcards: new v1.SmartcardService(address, creds) as unknown as AnyClient,
    certificates: new v1.CertificateService(address, creds) as unknown as AnyClient,
    audit: new v1.AuditService(address, creds) as unknown as AnyClient,
  };
}

export function metadataFor(token?: string, correlationId?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  if (correlationId) md.set('x-correlation-id', correlationId);
  return md;
}

/** A unary call as a promise; rejects with the grpc ServiceError. */
export function rpc<T = any>(client: AnyClient, method: string, request: object, token?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    (client[method] as Function).call(client, request, metadataFor(token), (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export function errorCodeOf(err: grpc.ServiceError): string | undefined {
  return err.metadata?.get('cm-error-code')[0] as string | undefined;
}
