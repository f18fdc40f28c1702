// What is particular to the SQLite store: a BEGIN that fails (the database locked by someone
// else past the busy timeout) rejects the units queued for it and leaves the queue working.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { throwawayVault } from '../../core/crypto/pin-vault.js';
import { SqliteStore } from '../../core/storage/sqlite.js';

t.test('a failed BEGIN rejects its units and the next transaction still runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'cm.sqlite');
  const store = new SqliteStore(path, throwawayVault());
  t.teardown(() => store.close());

  // Another connection holds the write lock past the store's busy timeout (5 s).
  const other = new Database(path);
  other.exec('BEGIN IMMEDIATE');
  await t.rejects(
    store.transaction((tx) => tx.deployment.record('x', '1')),
    { code: 'SQLITE_BUSY' },
    'the unit is rejected, not left waiting',
  );
  other.exec('ROLLBACK');
  other.close();
  t.equal(await store.transaction((tx) => tx.deployment.record('x', '2')), '2', 'the queue still runs');
});
