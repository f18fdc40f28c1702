// Opens the store that CM_DATABASE names: a postgres:// URL the PostgreSQL store, anything else
// a SQLite file.

import { isPostgresUrl } from '../config.js';
import { PostgresStore } from './postgres.js';
import type { Store } from './repository.js';
import { SqliteStore } from './sqlite.js';

export async function openStore(database: string): Promise<Store> {
  return isPostgresUrl(database) ? PostgresStore.open(database) : new SqliteStore(database);
}
