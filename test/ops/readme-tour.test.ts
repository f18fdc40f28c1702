// The README for a newcomer: its tour block, run as written (bash, curl, openssl, npx buf,
// npx cm-admin) against a service this test starts on free ports, must take a card from a new
// template to Active; and the configuration table must name every variable the loaders read.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CORE_ENV } from '../../core/config.js';
import { GATEWAY_ENV } from '../../gateway/config.js';
import { REPO, run } from '../support/process.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const DEFAULTS = 'export URL=http://127.0.0.1:8080 GRPC=127.0.0.1:50051';

function tourBlock(): string {
  const match = /<!-- tour:[^\n]*-->\n```sh\n([\s\S]*?)```/.exec(README);
  if (!match) throw new Error('the README has no tour block');
  return match[1]!;
}

t.test('the README starts with the two commands', async (t) => {
  t.match(README, /^```sh\nnpm ci && npm start\nnpm ci && npm test\n```\n/);
});

t.test('the tour, run as written, enrolls a card end to end', async (t) => {
  const block = tourBlock();
  const [first, ...rest] = block.split('\n');
  t.equal(first, DEFAULTS, 'the tour uses the default addresses');
  const dir = mkdtempSync(join(tmpdir(), 'cm-tour-'));
  const env = { CM_DATABASE: join(dir, 'data', 'cm.sqlite'), CM_HTTP_PORT: '0', CM_GRPC_PORT: '0', CM_WORKERS: '1' };
  const service = run(process.execPath, ['dist/bin/embedded.js'], env);
  t.teardown(() => void service.child.kill('SIGKILL'));
  const [, url] = await service.waitFor(/"url":"(http:\/\/[^"]+)"/);
  const [, grpcPort] = await service.waitFor(/"port":(\d+),"keyVersion"/);
  const script = [`export URL=${url} GRPC=127.0.0.1:${grpcPort}`, ...rest].join('\n');

  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const shell = spawn('bash', ['-e', '-c', script], { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, CM_DATABASE: env.CM_DATABASE } });
    let out = '';
    let err = '';
    shell.stdout.on('data', (c) => (out += c));
    shell.stderr.on('data', (c) => (err += c));
    shell.on('exit', (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  t.equal(code, 0, `the tour runs: ${stderr}`);
  const lines = stdout.trim().split('\n');
  t.equal(lines[0], '{"Status":"Ready"}');
  t.match(stdout, /^cm_core_pool_threads 1$/m, 'the core\'s metrics on the gateway\'s /metrics');
  t.match(stdout, /^issuer=CN ?= ?CM Embedded Issuing CA$/m, 'OpenSSL reads the CRL');
  for (const s of ['cm.v1.SmartcardService', 'cm.v1.RequestService', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection']) {
    t.match(stdout, new RegExp(`^${s.replace(/\./g, '\\.')}$`, 'm'), `buf curl lists ${s}`);
  }
  t.match(stdout, /^template [0-9a-f-]{36}$/m);
  t.match(stdout, /^request [0-9a-f-]{36}$/m);
  t.match(stdout, /^card [0-9a-f-]{36}$/m);
  const [key, response, pin] = lines.filter((l) => /^"[^"]*"$/.test(l));
  t.equal(Buffer.from(JSON.parse(key!), 'base64').length, 24, 'a 3DES diversified key');
  t.equal(Buffer.from(JSON.parse(response!), 'base64').length, 8, 'an 8-byte answer to the challenge');
  t.match(JSON.parse(pin!), /^\d{8}$/, 'an 8-digit PIN');
  t.match(stdout, /^\[\{"TemplateCommonName":"SmartcardLogon","CertificateId":"[0-9a-f]+"/m, 'a certificate issued');
  const request = JSON.parse(lines[lines.length - 2]!);
  t.equal(request.Status, 8, 'the request is Completed');
  const card = JSON.parse(lines[lines.length - 1]!);
  t.equal(card.Status, 3, 'the card is Active');
  t.equal(card.AssignedUserUuid, '22222222-2222-4222-8222-222222222222', 'the plain user\'s card, with the token cm-admin made');
  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0);
});

t.test('the configuration table names every variable the loaders read', async (t) => {
  const section = README.slice(README.indexOf('## Configuration'));
  for (const name of new Set([...Object.keys(CORE_ENV), ...Object.keys(GATEWAY_ENV)])) {
    t.match(section, new RegExp(`\`${name}\``), `${name} is documented`);
  }
});
