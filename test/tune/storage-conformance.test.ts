import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import { PostgresStorage } from '../../src/tune/storage/postgres.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';
import { PG_URL, dropSchema, uniqueSchema } from './pg-helpers.js';
import { storageConformance } from './storage-suite.js';

storageConformance('memory', async () => ({ storage: new InMemoryStorage(), cleanup: async () => {} }));

storageConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-sqlite-'));
  const storage = new SqliteStorage(join(dir, 'study.db'));
  return { storage, cleanup: async () => { await storage.close(); rmSync(dir, { recursive: true, force: true }); } };
});

storageConformance('postgres', async () => {
  const schema = uniqueSchema();
  const storage = await PostgresStorage.connect(PG_URL, { schema });
  return { storage, cleanup: async () => { await storage.close(); await dropSchema(schema); } };
});
