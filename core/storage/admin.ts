// The operator's storage commands (`cm-admin migrate`, `cm-admin backup`), decided by the store
// that CM_DATABASE names. `migrate` runs the path a starting core runs: on PostgreSQL under the
// same advisory lock, so it may run while cores start. `backup` is SQLite's online backup; with
// PostgreSQL it refuses and names pg_dump (SPEC 15), the tool that gives a consistent copy there.
import { CmError } from '../errors.js';
import { isPostgresUrl } from '../config.js';
import { migratePostgresDatabase } from './postgres.js';
import { backupSqliteFile, migrateSqliteFile } from './sqlite.js';

export class StorageAdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageAdminError';
  }
}

/** The database named for a message: a PostgreSQL URL without its user and password. */
function shown(database: string): string {
  if (!isPostgresUrl(database)) return database;
  try {
    const url = new URL(database);
    return `${url.host}${url.pathname}`;
  } catch {
    return 'the PostgreSQL database';
  }
}

export async function migrateDatabase(database: string): Promise<{ applied: number[]; version: number }> {
  if (!isPostgresUrl(database)) return migrateSqliteFile(database);
  try {
    return await migratePostgresDatabase(database);
  } catch (err) {
    if (err instanceof CmError && err.code === 'UNAVAILABLE') {
      const cause = (err.cause as Error | undefined)?.message ?? 'no answer';
      throw new StorageAdminError(`cannot reach the PostgreSQL database ${shown(database)} (CM_DATABASE): ${cause}`);
    }
    throw err;
  }
}

/** Why `backup` cannot copy this database, or undefined when it can. */
export function backupRefusal(database: string): string | undefined {
  if (!isPostgresUrl(database)) return undefined;
  return (
    'with PostgreSQL, back up with pg_dump: pg_dump --format=custom --file=<file> --dbname="$CM_DATABASE" ' +
    '(restore with pg_restore), and keep the key ring and the CA files with it'
  );
}

export async function backupDatabase(database: string, file: string): Promise<void> {
  const refusal = backupRefusal(database);
  if (refusal) throw new StorageAdminError(refusal);
  try {
    await backupSqliteFile(database, file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EEXIST') throw new StorageAdminError(`${file} exists; choose a new file name`);
    if (code === 'SQLITE_CANTOPEN') throw new StorageAdminError(`cannot open the database ${database}`);
    if (code === 'ENOENT') throw new StorageAdminError(`cannot create ${file}: no such folder`);
    throw err;
  }
}
