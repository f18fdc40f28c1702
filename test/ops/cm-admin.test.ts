// cm-admin (SPEC 15), run as the operator runs it (the built bin): token, keyring list and add
// (this file; --help, migrate and backup are in cm-admin-data.test.ts); exit 0 on success, 2 with one
// line on standard error otherwise; no key ever printed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import t from 'tap';
import { TokenVerifier } from '../../core/auth/token.js';
import { cmAdmin, folder, KEY1, refused, SECRET } from '../support/cm-admin.js';
import { softHsm, softHsmInstalled } from '../support/softhsm.js';

const KEY2 = 'a5'.repeat(32);

/** The key check value by OpenSSL: HMAC-SHA256(key, "MIMCM-KCV"), first 8 bytes. */
function opensslKcv(keyHex: string): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${keyHex}`], { input: 'MIMCM-KCV', encoding: 'utf8' });
  return out.trim().split(/\s+/).pop()!.slice(0, 16);
}

t.test('token: signed with CM_JWT_SECRET, accepted by the core\'s verifier with its claims', async (t) => {
  const dir = folder();
  const sub = '8d3b9c2e-1111-4222-8333-444455556666';
  const env = { CM_DATABASE: join(dir, 'cm.sqlite'), CM_JWT_SECRET: SECRET, CM_JWT_ISSUER: 'https://idp.example', CM_JWT_AUDIENCE: 'cm' };
  const r = await cmAdmin(['token', '--sub', sub.toUpperCase(), '--name', 'Ann Operator', '--upn', 'ann@example.org', '--groups', 'cm-admins, agents', '--ttl', '5m'], env);
  t.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  const { payload, protectedHeader } = await jwtVerify(token, Buffer.from(SECRET), { issuer: 'https://idp.example', audience: 'cm' });
  t.equal(protectedHeader.alg, 'HS256');
  t.equal(payload.sub, sub);
  t.same(payload.groups, ['cm-admins', 'agents']);
  t.equal(payload.exp! - payload.iat!, 300, '--ttl 5m');
  const caller = await new TokenVerifier({ secret: SECRET, issuer: 'https://idp.example', audience: 'cm', userClaim: 'sub', groupsClaim: 'groups', adminGroup: 'cm-admins' }).verify(`Bearer ${token}`);
  t.equal(caller.userUuid, sub);
  t.equal(caller.name, 'Ann Operator');
  t.equal(caller.upn, 'ann@example.org');
  t.ok(caller.isAdmin, 'a member of CM_ADMIN_GROUP');

  // The claims the deployment names.
  const custom = await cmAdmin(['token', '--sub', sub, '--groups', 'x'], { ...env, CM_JWT_ISSUER: '', CM_JWT_AUDIENCE: '', CM_JWT_USER_CLAIM: 'oid', CM_JWT_GROUPS_CLAIM: 'roles' });
  const claims = JSON.parse(Buffer.from(custom.stdout.split('.')[1]!, 'base64url').toString());
  t.equal(claims.oid, sub);
  t.same(claims.roles, ['x']);

  refused(t, await cmAdmin(['token', '--sub', 'bob'], env), /--sub must be the user's GUID/, 'a non-GUID subject');
  refused(t, await cmAdmin(['token', '--sub', sub, '--ttl', 'forever'], env), /--ttl must be/, 'a bad ttl');
  refused(t, await cmAdmin(['token', '--sub', sub], { CM_DATABASE: join(dir, 'cm.sqlite') }), /no token secret: set CM_JWT_SECRET/, 'no secret anywhere');
  writeFileSync(join(dir, 'dev-token-secret'), 'the embedded default generated this secret\n');
  const dev = await cmAdmin(['token', '--sub', sub], { CM_DATABASE: join(dir, 'cm.sqlite') });
  await t.resolves(jwtVerify(dev.stdout.trim(), Buffer.from('the embedded default generated this secret')), 'the embedded default\'s secret beside the database');
});

t.test('keyring list: versions and key check values (as OpenSSL computes them), never a key', async (t) => {
  const dir = folder();
  const r = await cmAdmin(['keyring', 'list'], { CM_DATABASE: join(dir, 'cm.sqlite'), CM_MASTER_KEYS: `1:${KEY1},2:${KEY2}` });
  t.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').slice(1).map((line) => line.split(/\s+/));
  t.same(rows.map((row) => row.slice(0, 2)), [['1', opensslKcv(KEY1)], ['2', opensslKcv(KEY2)]]);
  t.match(r.stdout, /2 +[0-9a-f]{16} +\(newest/);
  t.notMatch(r.stdout, KEY1);
  t.notMatch(r.stdout, KEY2);
  refused(t, await cmAdmin(['keyring', 'list'], { CM_DATABASE: join(dir, 'cm.sqlite') }), /no key ring/, 'no key ring');
  refused(t, await cmAdmin(['keyring', 'list'], { CM_DATABASE: join(dir, 'cm.sqlite'), CM_MASTER_KEYS: 'garbage' }), /^cm-admin: CM_MASTER_KEYS: key ring entry 1/, 'a bad key ring');
});

t.test('keyring add: the next version appended to the file, old keys kept, concurrent additions never share a version', async (t) => {
  const dir = folder();
  const file = join(dir, 'keys');
  writeFileSync(file, `# ring\n1:${KEY1}\n`, { mode: 0o600 });
  const env = { CM_DATABASE: join(dir, 'cm.sqlite'), CM_MASTER_KEYS_FILE: file };
  const r = await cmAdmin(['keyring', 'add'], env);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^added key version 2 \(key check value [0-9a-f]{16}\)/);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.same(lines.slice(0, 2), ['# ring', `1:${KEY1}`], 'the old key is untouched');
  t.match(lines[2], /^2:[0-9a-f]{64}$/);
  t.notMatch(r.stdout, lines[2]!.slice(2), 'the new key is not printed');
  t.equal(statSync(file).mode & 0o777, 0o600);
  const list = await cmAdmin(['keyring', 'list'], env);
  t.match(list.stdout, new RegExp(`2 +${opensslKcv(lines[2]!.slice(2))} +\\(newest`));

  const racers = await Promise.all(Array.from({ length: 6 }, () => cmAdmin(['keyring', 'add'], env)));
  const added = racers.filter((x) => x.code === 0).map((x) => Number(/version (\d+)/.exec(x.stdout)![1]));
  for (const x of racers.filter((x) => x.code !== 0)) t.match(x.stderr, /another key is being added/, 'a racer that lost is told why');
  t.ok(added.length >= 1);
  t.same([...added].sort((a, b) => a - b), added.map((_, i) => 3 + i).sort((a, b) => a - b), 'distinct consecutive versions');
  const versions = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(':')[0]));
  t.same(versions, Array.from({ length: 2 + added.length }, (_, i) => i + 1), 'the file holds every version once');
  t.notOk(existsSync(`${file}.lock`), 'no lock left behind');

  refused(t, await cmAdmin(['keyring', 'add'], { CM_DATABASE: join(dir, 'cm.sqlite'), CM_MASTER_KEYS: `1:${KEY1}` }), /given in CM_MASTER_KEYS/, 'a ring in the environment');
});


t.test('keyring on a PKCS#11 token: add generates cm-master-v<N> there (32 bytes, sensitive, never extractable), list shows the versions', { skip: !softHsmInstalled() && 'SoftHSM2 is not installed' }, async (t) => {
  const hsm = softHsm(t);
  const token = hsm.createToken('cm-admin-ring');
  const env = { ...hsm.env(token), CM_DATABASE: join(folder(), 'cm.sqlite') };
  refused(t, await cmAdmin(['keyring', 'list'], env), /token "cm-admin-ring" holds no cm-master-v<N> keys: create one with cm-admin keyring add/, 'an empty token');
  const kcvs: string[] = [];
  for (const version of [1, 2]) {
    const r = await cmAdmin(['keyring', 'add'], env);
    t.equal(r.code, 0, r.stderr);
    const kcv = new RegExp(`^added key version ${version} \\(key check value ([0-9a-f]{16})\\) on token "cm-admin-ring"`).exec(r.stdout)?.[1];
    t.ok(kcv, `version ${version} added: ${r.stdout.trim()}`);
    kcvs.push(kcv!);
  }
  t.not(kcvs[0], kcvs[1], 'two keys');
  const list = await cmAdmin(['keyring', 'list'], env);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, new RegExp(`^1 +${kcvs[0]}\n2 +${kcvs[1]}  \\(newest`, 'm'));
  t.notMatch(list.stdout, token.pin, 'no PIN printed');
  refused(t, await cmAdmin(['keyring', 'add'], { ...env, CM_PKCS11_PIN: '9999' }), /^cm-admin: .*(PIN|login)/i, 'a wrong PIN');

  // OpenSC's view of the keys: generic secrets of 32 bytes, generated on the token (local), never extractable.
  const listing = execFileSync('pkcs11-tool', ['--module', token.module, '--token-label', token.tokenLabel, '--login', '--pin', token.pin, '--list-objects', '--type', 'secrkey'], {
    env: { ...process.env, SOFTHSM2_CONF: hsm.conf },
    encoding: 'utf8',
  });
  const objects = listing.split(/\n(?=Secret Key Object)/);
  for (const version of [1, 2]) {
    const key = objects.find((o) => new RegExp(`label:\\s+cm-master-v${version}\\n`).test(o)) ?? '';
    t.match(key, /Generic secret length 32/, `pkcs11-tool: cm-master-v${version} is a generic secret of 32 bytes`, { listing });
    t.match(key, /Access:\s+sensitive, always sensitive, never extractable, local/, `pkcs11-tool: cm-master-v${version} sensitive, never extractable, made on the token`);
  }
});
