// `npm run cluster`: several cores on one PostgreSQL database, on loopback, to try SPEC 12 by
// hand: a throwaway PostgreSQL cluster in a temporary folder (Debian's PostgreSQL, as the
// `postgres` user), two core processes given the same token secret, key ring and CA, and one
// gateway balancing over them. Prints an administrator token and the addresses; Ctrl-C stops
// everything and removes the folder. Not for production: the secrets are made up on the spot.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { startPostgres } from '../bench/postgres-cluster.js';
import { createSelfSignedCa } from '../core/ca/ca-store.js';

const CORES = 2;
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Starts a child and resolves once a log line says it listens; the parsed line. */
function start(script: string, env: NodeJS.ProcessEnv, listening: string): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(process.execPath, [here(script)], { env: { ...process.env, CM_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.includes(`"${listening}"`));
      if (line) resolve({ child, line: JSON.parse(line) as Record<string, unknown> });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cm-cluster-'));
  const children: ChildProcess[] = [];
  const pg = await startPostgres({ fsync: true });
  const stop = (code = 0) => {
    for (const child of children) child.kill('SIGTERM');
    pg.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => stop());
  process.on('SIGTERM', () => stop());
  try {
    const ca = createSelfSignedCa({ commonName: 'CM Cluster Issuing CA' });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    const secret = randomBytes(32).toString('base64url');
    const shared = {
      CM_DATABASE: await pg.createDatabase(),
      CM_JWT_SECRET: secret,
      CM_MASTER_KEYS: `1:${randomBytes(32).toString('hex')}`,
      CM_CA_CERT: join(dir, 'ca.crt'),
      CM_CA_KEY: join(dir, 'ca.key'),
      CM_GRPC_HOST: '127.0.0.1',
      CM_GRPC_PORT: '0',
    };
    const cores = await Promise.all(Array.from({ length: CORES }, () => start('./core.js', shared, 'core listening')));
    children.push(...cores.map((c) => c.child));
    const addresses = cores.map((c) => `127.0.0.1:${String(c.line.port)}`);
    const gateway = await start('./gateway.js', { CM_CORE_ADDRESS: addresses.join(','), CM_HTTP_PORT: process.env.CM_HTTP_PORT ?? '8080' }, 'gateway listening');
    children.push(gateway.child);
    const token = await new SignJWT({ name: 'Cluster administrator', groups: ['cm-admins'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(randomUUID())
      .setExpirationTime('12h')
      .sign(Buffer.from(secret, 'utf8'));
    process.stdout.write(
      [
        '',
        `PostgreSQL: ${shared.CM_DATABASE} (folder ${pg.dir})`,
        `Cores: ${addresses.join(', ')} (pids ${cores.map((c) => c.child.pid).join(', ')}; try kill -9 on one)`,
        `Gateway: ${String(gateway.line.url)}`,
        `Administrator token (12 h): ${token}`,
        `  curl -s -H 'Authorization: Bearer ${token}' ${String(gateway.line.url)}/CertificateManagement/api/v1.0/profiletemplates`,
        'Ctrl-C stops everything and removes the folders.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    stop(1);
  }
}

void main();
