import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import { PostgresStorage } from '../../src/tune/storage/postgres.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';
import { PG_URL, dropSchema, uniqueSchema } from './pg-helpers.js';
import { storageConformance } from './storage-suite.js';
import type { Storage } from '../../src/tune/storage/storage.js';
import { createStudy } from '../../src/tune/study.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { benchmarkObjective, branin } from '../../src/tune/benchmarks.js';

storageConformance('memory', async () => ({ storage: new InMemoryStorage(), cleanup: async () => {} }));

storageConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-sqlite-'));
  const storage = new SqliteStorage(join(dir, 'study.db'));
  return {
    storage,
    cleanup: async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

storageConformance('postgres', async () => {
  const schema = uniqueSchema();
  const storage = await PostgresStorage.connect(PG_URL, { schema });
  return {
    storage,
    cleanup: async () => {
      await storage.close();
      await dropSchema(schema);
    },
  };
});

describe('a study gives the same trials on every storage', () => {
  it('TPE with one seed proposes identical params on memory, SQLite and PostgreSQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-sqlite-'));
    const schema = uniqueSchema();
    const storages: [string, Storage][] = [
      ['memory', new InMemoryStorage()],
      ['sqlite', new SqliteStorage(join(dir, 'same.db'))],
      ['postgres', await PostgresStorage.connect(PG_URL, { schema })],
    ];
    try {
      const runs: unknown[][] = [];
      for (const [, storage] of storages) {
        const study = await createStudy({ name: 'same', storage, sampler: new TPESampler({ seed: 7, nStartupTrials: 5 }) });
        await study.optimize(benchmarkObjective(branin), { nTrials: 15 });
        runs.push((await storage.getAllTrials(study.id)).map((t) => [t.number, t.state, t.params, t.values]));
      }
      assert.deepEqual(runs[1], runs[0], 'sqlite = memory');
      assert.deepEqual(runs[2], runs[0], 'postgres = memory');
    } finally {
      for (const [, s] of storages) await s.close();
      rmSync(dir, { recursive: true, force: true });
      await dropSchema(schema);
    }
  });
});
