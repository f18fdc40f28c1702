// The operator's storage commands (`cm-admin migrate`, `cm-admin backup`), decided by the store
// that CM_DATABASE names: SQLite here; a PostgreSQL store adds its branch (SPEC 15: backup
// says to use pg_dump and exits 2).
import { backupSqliteFile, migrateSqliteFile } from './sqlite.js';

export class StorageAdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageAdminError';
  }
}

export async function migrateDatabase(database: string): Promise<{ applied: number[]; version: number }> {
  return migrateSqliteFile(database);
}

export async function backupDatabase(database: string, file: string): Promise<void> {
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
