// `npm start` as a supervisor runs it: the process npm leaves running takes SIGTERM and SIGINT
// itself, turns readiness to 503 while it drains, logs "stopped" and leaves nothing behind; the
// data folder and the database files are private whatever the umask; and start-up failures are
// one line naming the cause and the variable, exit code 1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { run } from '../support/process.js';

const folder = () => mkdtempSync(join(tmpdir(), 'cm-start-'));
const serviceEnv = (dir: string) => ({
  CM_DATABASE: join(dir, 'data', 'cm.sqlite'),
  CM_HTTP_PORT: '0',
  CM_GRPC_PORT: '0',
  CM_WORKERS: '1',
});

/** npm start under `sh -c 'umask 000; exec npm start'`: the worst umask a supervisor could leave. */
function npmStart(env: Record<string, string>) {
  return run('sh', ['-c', 'umask 000; exec npm start --silent'], env);
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`npm start: ${signal} to npm drains and stops the service; nothing is left running`, async (t) => {
    const dir = folder();
    const service = npmStart(serviceEnv(dir));
    t.teardown(() => void service.child.kill('SIGKILL'));
    const [, url] = await service.waitFor(/"url":"(http:\/\/[^"]+)"/, 240_000);
    t.ok(url, 'the gateway logged its URL');
    t.equal((await fetch(`${url}/readyz`)).status, 200, 'ready');
    const node = childrenOf(service.child.pid!);
    t.equal(node.length, 1, 'npm runs one process: the service itself');

    if (signal === 'SIGTERM') {
      const mode = (p: string) => statSync(p).mode & 0o777;
      t.equal(mode(join(dir, 'data')), 0o700, 'the data folder is 0700');
      for (const file of ['cm.sqlite', 'cm.sqlite-wal', 'cm.sqlite-shm', 'master-keys', 'dev-token-secret']) {
        t.equal(mode(join(dir, 'data', file)), 0o600, `${file} is 0600 under umask 000`);
      }
    }

    service.child.kill(signal);
    t.equal(await service.exited, 0, 'npm exits 0');
    t.match(service.stdout(), /"msg":"shutting down: finishing in-flight calls"/);
    t.match(service.stdout(), /"msg":"stopped"/, 'a last "stopped" line');
    for (const pid of node) t.notOk(alive(pid), `the service process ${pid} is gone`);
    await t.rejects(fetch(`${url}/healthz`), 'nothing listens any more');
  });
}

t.test('readiness turns 503 as soon as the drain starts', async (t) => {
  const dir = folder();
  const service = run(process.execPath, ['dist/bin/embedded.js'], serviceEnv(dir));
  t.teardown(() => void service.child.kill('SIGKILL'));
  const [, url] = await service.waitFor(/"url":"(http:\/\/[^"]+)"/, 240_000);
  const { hostname, port } = new URL(url!);
  t.equal((await fetch(`${url}/readyz`)).status, 200, 'ready before the signal');
  // A probe whose request is under way when the signal comes: its connection is not idle, so
  // the drain waits for it, and it is answered once the drain has started.
  const socket = connect(Number(port), hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  socket.write('GET /readyz HTTP/1.1\r\nHost: probe\r\n');
  await new Promise((r) => setTimeout(r, 100));
  service.child.kill('SIGTERM');
  await service.waitFor(/shutting down/);
  socket.end('\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
  t.match(answer, /^HTTP\/1\.1 503 /, 'readiness answers 503 during the drain');
  t.match(answer, /connection: close/i);
  t.equal(await service.exited, 0);
});

t.test('start-up failures: one line naming the cause and the variable, no stack, exit 1', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const busy = String((blocker.address() as { port: number }).port);
  const dir = folder();
  const cases: [string, Record<string, string>, RegExp][] = [
    ['the gRPC port in use', { CM_GRPC_PORT: busy }, new RegExp(`^cm: cannot start: CM_GRPC_HOST/CM_GRPC_PORT: 127\\.0\\.0\\.1:${busy} is already in use\\n$`)],
    ['the HTTP port in use', { CM_HTTP_PORT: busy }, new RegExp(`^cm: cannot start: CM_HTTP_HOST/CM_HTTP_PORT: 127\\.0\\.0\\.1:${busy} is already in use\\n$`)],
    [
      'bad values of the core and of the gateway, all at once',
      { CM_WORKERS: 'many', CM_RATE_LIMIT: 'fast', CM_MASTER_KEYS: 'garbage' },
      /^cm: bad configuration: CM_MASTER_KEYS: key ring entry 1 is not <version>:<64 hex digits>; CM_WORKERS: "many" is not a whole number from 1 to 64; CM_RATE_LIMIT: "fast" is not a whole number from 0 to 1000000\n$/,
    ],
    ['an unreadable file', { CM_TLS_CERT: join(dir, 'missing.pem'), CM_TLS_KEY: join(dir, 'missing.pem') }, /^cm: bad configuration: CM_TLS_CERT: cannot read ".*missing\.pem" \(ENOENT\); CM_TLS_KEY: cannot read/],
  ];
  for (const [what, env, line] of cases) {
    const data = join(folder(), 'data');
    const service = run(process.execPath, ['dist/bin/embedded.js'], { ...serviceEnv(data), CM_DATABASE: join(data, 'cm.sqlite'), ...env });
    t.equal(await service.exited, 1, `${what}: exit 1`);
    t.match(service.stderr(), line, what);
    t.notMatch(service.stderr(), /\n\s+at /, `${what}: no stack trace`);
    if (what.includes('configuration')) t.throws(() => statSync(data), `${what}: nothing created on disk`);
  }
});
