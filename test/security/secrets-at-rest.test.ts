// Issue 9 item 7: a template's DefaultAdminKeyHex is never stored in clear. It is sealed
// (AES-256-GCM under a key derived from the key ring, the template Uuid as associated data),
// reads back the same through the routes that may show it, and a body written in clear before
// sealing existed is sealed when the core starts.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { makeCaller } from '../../core/auth/caller.js';
import { startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';

const KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00123456789abcdef';
const admin = { caller: makeCaller({ userUuid: USERS.admin.sub, groups: ['cm-admins'] }, 'cm-admins'), correlationId: randomUUID() };

/** Every byte the database keeps on disk: the file and its WAL. */
function databaseBytes(dir: string): Buffer {
  const files = ['cm.sqlite', 'cm.sqlite-wal'].map((f) => join(dir, f)).filter(existsSync);
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

function holdsKey(bytes: Buffer): boolean {
  return bytes.includes(KEY) || bytes.includes(KEY.toUpperCase()) || bytes.includes(Buffer.from(KEY, 'hex'));
}

t.test('DefaultAdminKeyHex is sealed at rest, and a clear one is sealed at start-up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-sealed-'));
  let core = await startTestCore({}, { dir });
  let open = true;
  t.teardown(async () => {
    if (open) await core.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const template = await core.core.domain.templates.create(admin, grpcTemplate({ defaultKey: KEY, diversify: false }));
  t.equal((await core.core.domain.templates.get(admin, template.uuid)).smartcardConfiguration.defaultAdminKeyHex, KEY, 'an administrator reads it');
  t.notOk(holdsKey(databaseBytes(dir)), 'the key is in neither the database file nor its WAL');
  await core.close();

  const db = new Database(join(dir, 'cm.sqlite'));
  const stored = JSON.parse((db.prepare('SELECT body FROM profile_templates WHERE uuid = ?').get(template.uuid) as { body: string }).body);
  t.match(stored.smartcardConfiguration.defaultAdminKeySealed, { keyVersion: 1, sealed: String }, 'the body holds the sealed key and its key version');
  t.notOk('defaultAdminKeyHex' in stored.smartcardConfiguration, 'and no clear key');
  // A body as the service wrote it before sealing existed.
  const { defaultAdminKeySealed: _, ...clear } = stored.smartcardConfiguration;
  db.prepare('UPDATE profile_templates SET body = ? WHERE uuid = ?').run(JSON.stringify({ ...stored, smartcardConfiguration: { ...clear, defaultAdminKeyHex: KEY } }), template.uuid);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  t.ok(holdsKey(databaseBytes(dir)), 'the clear body is on disk before the restart');

  core = await startTestCore({}, { dir });
  t.equal((await core.core.domain.templates.get(admin, template.uuid)).smartcardConfiguration.defaultAdminKeyHex, KEY, 'it reads the same after the restart');
  await core.close();
  open = false;
  const after = new Database(join(dir, 'cm.sqlite'));
  after.pragma('wal_checkpoint(TRUNCATE)');
  after.exec('VACUUM');
  after.close();
  t.notOk(holdsKey(databaseBytes(dir)), 'start-up sealed the clear key');
  core = await startTestCore({}, { dir });
  open = true;

  // Sealed under the template's Uuid: moved to another template, it does not open.
  const other = await core.core.domain.templates.create(admin, grpcTemplate({ name: 'other' }));
  await core.close();
  open = false;
  const swap = new Database(join(dir, 'cm.sqlite'));
  const body = (uuid: string) => JSON.parse((swap.prepare('SELECT body FROM profile_templates WHERE uuid = ?').get(uuid) as { body: string }).body);
  const moved = body(other.uuid);
  moved.smartcardConfiguration.defaultAdminKeySealed = body(template.uuid).smartcardConfiguration.defaultAdminKeySealed;
  swap.prepare('UPDATE profile_templates SET body = ? WHERE uuid = ?').run(JSON.stringify(moved), other.uuid);
  swap.close();
  core = await startTestCore({}, { dir });
  open = true;
  await t.rejects(core.core.domain.templates.get(admin, other.uuid), { code: 'SEAL_INVALID' }, "a sealed key copied to another template does not open");
});
