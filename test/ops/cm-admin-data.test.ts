// cm-admin (SPEC 15), run as the operator runs it (the built bin): --help for each, migrate, and
// backup while the service writes (token and keyring are in cm-admin.test.ts); exit 0 on success, 2 with one
// line on standard error otherwise; no key ever printed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { cmAdmin, folder, KEY1, refused, SECRET } from '../support/cm-admin.js';
import { run } from '../support/process.js';
import { startPostgres } from '../support/postgres.js';
import pg from 'pg';
import { createServer } from 'node:net';

t.test('--help: the whole list and each command; bad commands are refused with one line', async (t) => {
  const all = await cmAdmin(['--help']);
  t.equal(all.code, 0);
  for (const c of ['token --sub', 'keyring list', 'keyring add', 'migrate', 'backup <file>']) t.match(all.stdout, c);
  for (const c of [['token'], ['keyring', 'list'], ['keyring', 'add'], ['migrate'], ['backup']]) {
    const r = await cmAdmin([...c, '--help']);
    t.equal(r.code, 0, `${c.join(' ')} --help`);
    t.match(r.stdout, new RegExp(`^usage: cm-admin ${c.join(' ')}`));
  }
  refused(t, await cmAdmin([]), /^cm-admin: no command given/, 'no command');
  refused(t, await cmAdmin(['frobnicate']), /^cm-admin: unknown command "frobnicate"/, 'unknown command');
  refused(t, await cmAdmin(['keyring', 'drop']), /^cm-admin: unknown command "keyring drop"/, 'unknown keyring command');
  refused(t, await cmAdmin(['migrate'], { CM_WORKERS: 'lots' }), /^cm-admin: CM_WORKERS: "lots" is not a whole number/, 'bad configuration');
});

t.test('migrate: applies the migrations once, creates the database privately', async (t) => {
  const dir = folder();
  const env = { CM_DATABASE: join(dir, 'data', 'cm.sqlite') };
  const first = await cmAdmin(['migrate'], env);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^applied migration\(s\) 1, .*; the schema is at version (\d+)\n$/);
  const second = await cmAdmin(['migrate'], env);
  t.match(second.stdout, /^nothing to apply; the schema is at version \d+\n$/);
  t.equal(statSync(join(dir, 'data')).mode & 0o777, 0o700);
  t.equal(statSync(env.CM_DATABASE).mode & 0o777, 0o600);
  const db = new Database(env.CM_DATABASE, { readonly: true });
  t.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'smartcards'").get(), 'the tables exist');
  db.close();
});

t.test('backup: consistent while the service writes, with the key ring and CA beside it', async (t) => {
  const dir = folder();
  const env = { CM_DATABASE: join(dir, 'data', 'cm.sqlite'), CM_HTTP_PORT: '0', CM_GRPC_PORT: '0', CM_WORKERS: '1', CM_LOG_LEVEL: 'warn' };
  const service = run(process.execPath, ['dist/bin/embedded.js'], env);
  t.teardown(() => void service.child.kill('SIGKILL'));
  const [, url] = await service.waitFor(/Smart card management service: (http:\/\/\S+)/);
  const admin = (await cmAdmin(['token', '--sub', '0a0a0a0a-0000-4000-8000-000000000001', '--groups', 'cm-admins'], env)).stdout.trim();

  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      const response = await fetch(`${url}/CertificateManagement/api/v1.0/profiletemplates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ Name: `T${written}` }),
      });
      if (response.status === 201) written++;
    }
  })();
  while (written < 20) await new Promise((r) => setTimeout(r, 20));
  const target = join(dir, 'backup', 'cm.sqlite');
  execFileSync('mkdir', ['-p', join(dir, 'backup')]);
  const r = await cmAdmin(['backup', target], env);
  const atBackup = written;
  writing = false;
  await writer;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^database: .*\nkey ring: .*master-keys\nCA certificate: .*ca\.crt\nCA key: .*ca\.key\n$/);

  const db = new Database(target, { readonly: true });
  t.equal((db.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check, 'ok', 'SQLite finds the copy sound');
  const templates = (db.prepare('SELECT COUNT(*) AS n FROM profile_templates').get() as { n: number }).n;
  const audited = (db.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'CreateProfileTemplate'").get() as { n: number }).n;
  db.close();
  t.ok(templates >= 20 && templates <= atBackup + 1, `the copy holds the templates committed by then (${templates})`);
  t.equal(audited, templates, 'every template in the copy has its audit row: one commit, not a torn copy');
  t.equal(statSync(target).mode & 0o777, 0o600);
  t.equal(readFileSync(`${target}.master-keys`, 'utf8'), readFileSync(join(dir, 'data', 'master-keys'), 'utf8'));
  t.equal(statSync(`${target}.master-keys`).mode & 0o777, 0o600);
  t.equal(statSync(`${target}.ca.key`).mode & 0o777, 0o600);
  t.ok(readFileSync(`${target}.ca.crt`, 'utf8').includes('BEGIN CERTIFICATE'));

  refused(t, await cmAdmin(['backup', target], env), /exists; choose a new/, 'an existing target');
  refused(t, await cmAdmin(['backup'], env), /backup takes one argument/, 'no target');
  refused(t, await cmAdmin(['backup', join(dir, 'x.sqlite')], { CM_DATABASE: join(dir, 'none', 'cm.sqlite') }), /does not exist|cannot open/, 'no database');
  t.notOk(existsSync(join(dir, 'x.sqlite')), 'a refused backup writes nothing');
  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0);
});

t.test('PostgreSQL: migrate takes the cores\' migration lock (two at once apply each version once); backup names pg_dump and exits 2', async (t) => {
  const cluster = await startPostgres();
  t.teardown(() => cluster.close());
  const url = await cluster.createDatabase();
  const env = { CM_DATABASE: url, CM_JWT_SECRET: SECRET, CM_MASTER_KEYS: `1:${KEY1}` };
  const both = await Promise.all([cmAdmin(['migrate'], env), cmAdmin(['migrate'], env)]);
  for (const r of both) t.equal(r.code, 0, r.stderr);
  const applied = both.flatMap((r) => /^applied migration\(s\) ([\d, ]+);/.exec(r.stdout)?.[1]?.split(', ').map(Number) ?? []);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const versions = (await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
  t.ok((await client.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'smartcards'")).rowCount, 'the tables exist');
  await client.end();
  t.same([...applied].sort((a, b) => a - b), versions, 'every version applied by exactly one of the two');
  t.ok(both.some((r) => r.stdout === `nothing to apply; the schema is at version ${Math.max(...versions)}\n`), 'the other found it done');

  // pg_dump with the options backup names: a consistent dump that pg_restore reads.
  const backup = await cmAdmin(['backup', join(folder(), 'cm.backup')], env);
  refused(t, backup, /^cm-admin: with PostgreSQL, back up with pg_dump: pg_dump --format=custom --file=<file> --dbname="\$CM_DATABASE"/, 'backup on PostgreSQL');
  const dump = join(folder(), 'cm.dump');
  execFileSync('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${url}`]);
  t.match(execFileSync('pg_restore', ['--list', dump], { encoding: 'utf8' }), /TABLE public smartcards/, 'pg_restore reads the dump');

  refused(t, await cmAdmin(['token', '--sub', '8d3b9c2e-1111-4222-8333-444455556666'], { CM_DATABASE: url }), /^cm-admin: set CM_JWT_SECRET: with PostgreSQL nothing is generated/, 'no generated secret with PostgreSQL');

  // A database that cannot be reached: one line, exit 2, no password in it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = await cmAdmin(['migrate'], { ...env, CM_DATABASE: `postgres://app:pw-never-shown@127.0.0.1:${port}/cm` });
  refused(t, down, new RegExp(`^cm-admin: cannot reach the PostgreSQL database 127.0.0.1:${port}/cm \\(CM_DATABASE\\)`), 'an unreachable database');
  t.notMatch(down.stderr, /pw-never-shown/, 'the password is not shown');
});
