// The card population of the scale scenarios: finished enrolments (a Completed Enroll request,
// its Active card and the AssignSmartcard audit row), written straight into SQLite while the
// service is stopped. Seeding a million cards through the API would take longer than the whole
// benchmark, so the rows are generated inside SQLite (a recursive CTE into a temp table, then one
// INSERT ... SELECT per table), in one transaction. The service's own store opens the database
// first, so the schema is whatever its migrations make; the column lists below follow
// core/storage/migrations.ts (the smoke test notices when they drift).
import Database from 'better-sqlite3';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { RequestFlags, RequestStatus, RequestType, SmartcardFlags, SmartcardStatus } from '../core/domain/enums.js';
import { NIL_UUID } from '../core/domain/types.js';
import { SqliteStore } from '../core/storage/sqlite.js';
import { throwawayVault } from '../core/crypto/pin-vault.js';

export interface FillerOptions {
  templateUuid: string;
  templateVersion: number;
  /** The enrollment agent recorded as the originator. */
  agentUuid: string;
  keyVersion: number;
  /** How many of the new cards' uuids to return, spread evenly over them (for reads). */
  sampleSize: number;
}

const DAY_MS = 86_400_000;

/** A random version 4 UUID, in SQL, from 32 random hex digits `h` (user GUIDs, correlation ids). */
const uuidFrom = (h: string) =>
  `substr(${h},1,8)||'-'||substr(${h},9,4)||'-4'||substr(${h},14,3)||'-'||substr('89ab',1+(abs(random())%4),1)||substr(${h},18,3)||'-'||substr(${h},21,12)`;

/**
 * A version 7 UUID, in SQL, for the Unix milliseconds `ms` (an integer expression): the service
 * gives new requests and cards time-ordered ids (core/domain/ids.ts), so the filler's ids are
 * those of rows created at their `submitted`/`created_at` times.
 */
const uuidV7From = (ms: string) => {
  const t = `printf('%012x', ${ms})`;
  const r = 'lower(hex(randomblob(8)))';
  return `substr(${t},1,8)||'-'||substr(${t},9,4)||'-7'||substr(${r},1,3)||'-'||substr('89ab',1+(abs(random())%4),1)||substr(${r},1,3)||'-'||substr(${r},1,12)`;
};

/** Writes `count` finished enrolments; returns a sample of the new cards' uuids. */
export async function insertFillerCards(databasePath: string, count: number, options: FillerOptions): Promise<string[]> {
  // Creates or migrates the schema exactly as the service would.
  await new SqliteStore(databasePath, throwawayVault()).close();

  const db = new Database(databasePath);
  try {
    // A bulk load into a stopped service's database: no journal (the service turns WAL back on
    // when it opens the file), and secondary indexes rebuilt once at the end, by sorting, rather
    // than updated a row at a time at random places.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1000000');
    db.pragma('temp_store = MEMORY');
    db.pragma('threads = 2');
    const startMs = Date.now() - 730 * DAY_MS;
    const stepMs = (730 * DAY_MS) / Math.max(1, count);
    const every = Math.max(1, Math.floor(count / Math.max(1, options.sampleSize)));
    const p = {
      count,
      startMs,
      stepMs,
      startJulian: startMs / DAY_MS + 2440587.5,
      stepDays: stepMs / DAY_MS,
      template: options.templateUuid,
      version: options.templateVersion,
      agent: options.agentUuid,
      keyVersion: options.keyVersion,
      nil: NIL_UUID,
    };
    const iso = (offsetDays: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', :startJulian + i * :stepDays + ${offsetDays})`;
    let sample: string[] = [];
    db.transaction(() => {
      const indexes = db
        .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('requests', 'smartcards', 'audit_log')`)
        .all() as { name: string; sql: string }[];
      for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);
      db.exec('DROP TABLE IF EXISTS temp.filler');
      db.prepare(
        `CREATE TEMP TABLE filler AS
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count)
         SELECT i,
           ${uuidV7From('CAST(:startMs + i * :stepMs AS INTEGER)')} AS request_uuid,
           ${uuidV7From('CAST(:startMs + i * :stepMs + 60000 AS INTEGER)')} AS card_uuid,
           ${uuidFrom('lower(hex(randomblob(16)))')} AS target_uuid,
           lower(hex(randomblob(16))) AS card_id,
           ${iso('0')} AS submitted,
           ${iso('600.0 / 86400')} AS completed,
           ${iso('60.0 / 86400')} AS created_at
         FROM n`,
      ).run(p);
      db.prepare(
        `INSERT INTO requests (uuid, request_type, status, flags, profile_template_uuid, profile_template_version,
           originator_user_uuid, originator_name, target_user_uuid, target_name, target_upn, submitted, completed,
           new_smartcard_uuid, old_smartcard_uuid, new_profile_uuid, old_profile_uuid, priority, comment,
           data_collection, responses_issued)
         SELECT request_uuid, ${RequestType.Enroll}, ${RequestStatus.Completed}, ${RequestFlags.Smartcard | RequestFlags.EnrollmentAgent},
           :template, :version, :agent, 'Bench Agent', target_uuid, 'User ' || i, 'user' || i || '@bench.example',
           submitted, completed, card_uuid, :nil, :nil, :nil, 0, '', '[]', 2
         FROM temp.filler ORDER BY request_uuid`,
      ).run(p);
      db.prepare(
        `INSERT INTO smartcards (uuid, card_id, status, flags, parent_smartcard_uuid, primary_smartcard_uuid,
           permanent_smartcard_uuid, assigned_user_uuid, profile_template_uuid, profile_template_version, comment,
           middleware, atr, key_version, request_uuid, created_at)
         SELECT card_uuid, card_id, ${SmartcardStatus.Active}, ${SmartcardFlags.Primary}, :nil, :nil, :nil, target_uuid,
           :template, :version, '', 'MSBaseCSP', '3b8d0180fba000000397425446590301c8', :keyVersion, request_uuid, created_at
         FROM temp.filler ORDER BY card_uuid`,
      ).run(p);
      db.prepare(
        `INSERT INTO audit_log (at, correlation_id, caller_uuid, action, request_uuid, smartcard_uuid, outcome, detail)
         SELECT created_at, ${uuidFrom('lower(hex(randomblob(16)))')}, :agent, 'AssignSmartcard', request_uuid, card_uuid,
           'Succeeded', '{"keyVersion":' || :keyVersion || '}'
         FROM temp.filler ORDER BY i`,
      ).run(p);
      sample = (db.prepare('SELECT card_uuid FROM temp.filler WHERE i % ? = 0 LIMIT ?').pluck().all(every, options.sampleSize) as string[]);
      db.exec('DROP TABLE temp.filler');
      for (const index of indexes) db.exec(index.sql);
    })();
    return sample;
  } finally {
    db.close();
    // Written without syncing, the rows sit in the page cache as dirty pages; flush them now, or
    // the service's first checkpoint would pay for writing the whole file while being measured.
    const fd = openSync(databasePath, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** A consistent copy of a SQLite database that a service has open (VACUUM INTO reads one snapshot). */
export function copySqliteDatabase(from: string, to: string): void {
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    db.prepare('VACUUM INTO ?').run(to);
  } finally {
    db.close();
  }
}
