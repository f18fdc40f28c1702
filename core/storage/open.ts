// Opens the store that CM_DATABASE names: a postgres:// URL the PostgreSQL store, anything else
// a SQLite file.

import { isPostgresUrl } from '../config.js';
import { PostgresStore } from './postgres.js';
import type { Store, TemplateSecrets } from './repository.js';
import { SqliteStore } from './sqlite.js';

export async function openStore(database: string, secrets: TemplateSecrets): Promise<Store> {
  return isPostgresUrl(database) ? PostgresStore.open(database, secrets) : new SqliteStore(database, secrets);
}
