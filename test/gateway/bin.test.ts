// bin/gateway.ts as a process: a bad configuration is a clear message and exit 1; SIGTERM
// closes gracefully and exits 0.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ENTRY = fileURLToPath(new URL('../../bin/gateway.ts', import.meta.url));

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

t.test('a bad configuration: a message naming the variable, exit 1', async (t) => {
  const process = run({ CM_HTTP_PORT: 'eighty' });
  t.equal(await process.exited, 1);
  t.match(process.output().stderr, /bad configuration: CM_HTTP_PORT: "eighty" is not a port number/);
});

t.test('starts, serves, and stops on SIGTERM', async (t) => {
  const gateway = run({ CM_HTTP_PORT: '0', CM_CORE_ADDRESS: '127.0.0.1:1' });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${JSON.stringify(gateway.output())}`)), 20_000);
    gateway.child.stdout.on('data', () => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(gateway.output().stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const response = await fetch(`${url}/healthz`);
  t.equal(response.status, 200);
  gateway.child.kill('SIGTERM');
  t.equal(await gateway.exited, 0);
  t.match(gateway.output().stdout, /shutting down: finishing in-flight calls/);
});
