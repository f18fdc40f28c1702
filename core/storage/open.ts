// Opens the store that CM_DATABASE names: a postgres:// URL the PostgreSQL store, anything else
// a SQLite file.

import { isPostgresUrl } from '../config.js';
import { PostgresStore } from './postgres.js';
import type { Store, StoreObserver, TemplateSecrets } from './repository.js';
import { SqliteStore } from './sqlite.js';

/** `observer` hears of the store's commits (the core's metrics). */
export async function openStore(database: string, secrets: TemplateSecrets, observer?: StoreObserver): Promise<Store> {
  return isPostgresUrl(database) ? PostgresStore.open(database, secrets, { observer }) : new SqliteStore(database, secrets, observer);
}
