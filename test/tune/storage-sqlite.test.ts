import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS, SqliteStorage, migrateSqlite } from '../../src/tune/storage/sqlite.js';
import { openStorage, storageKind } from '../../src/tune/storage/open.js';
import { HoneError } from '../../src/errors.js';
import { runTsx } from '../helpers/spawn.js';

const HAMMER = fileURLToPath(new URL('./fixtures/storage-hammer.ts', import.meta.url));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hone-sqlite-'));
}

describe('SQLite storage', () => {
  it('migrates a version-1 database and keeps its trials', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'old.db');
      const old = new Database(path);
      assert.equal(migrateSqlite(old, 1), 1);
      old.prepare("INSERT INTO studies (name, directions, created_at) VALUES ('legacy', '[\"minimize\"]', 1)").run();
      old
        .prepare(`INSERT INTO trials (study_id, number, state, vals, params, distributions, datetime_start)
                   VALUES (1, 0, 'running', NULL, '{"x":1}', '{"x":{"type":"int","low":0,"high":3,"log":false,"step":1}}', 1)`)
        .run();
      old.close();

      const s = new SqliteStorage(path);
      const db = new Database(path, { readonly: true });
      assert.equal((db.prepare('SELECT version FROM schema_version').get() as { version: number }).version, SQLITE_MIGRATIONS.length);
      db.close();
      const id = (await s.getStudyId('legacy'))!;
      const [t] = await s.getAllTrials(id);
      assert.deepEqual(t!.params, { x: 1 });
      // The heartbeat column came with migration 2; a pre-heartbeat running trial is judged by its start.
      assert.deepEqual(await s.failStaleTrials(id, 1), [t!.id]);
      await s.recordHeartbeat((await s.createTrial(id)).id);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database from a newer Hone, and a file that is not a database', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'new.db');
      const db = new Database(path);
      migrateSqlite(db);
      db.prepare('UPDATE schema_version SET version = 99').run();
      db.close();
      assert.throws(
        () => new SqliteStorage(path),
        (e: unknown) => e instanceof HoneError && /schema version 99.*upgrade Hone/.test(e.message),
      );
      const junk = join(dir, 'junk.db');
      writeFileSync(junk, 'this is not sqlite '.repeat(100));
      assert.throws(
        () => new SqliteStorage(junk),
        (e: unknown) => e instanceof HoneError && e.exitCode === 2 && /junk\.db/.test(e.message),
      );
      assert.throws(
        () => new SqliteStorage(join(dir, 'no', 'such', 'dir.db')),
        (e: unknown) => e instanceof HoneError && /cannot open SQLite/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens by URL: sqlite:PATH and PATH.db', async () => {
    assert.equal(storageKind('sqlite:x'), 'sqlite');
    assert.equal(storageKind('runs/x.db'), 'sqlite');
    assert.equal(storageKind('memory'), 'memory');
    assert.equal(storageKind('postgres://h/db'), 'postgres');
    assert.throws(() => storageKind('mysql://h/db'), /unknown storage/);
    const dir = tempDir();
    try {
      for (const url of [`sqlite:${join(dir, 'a.db')}`, join(dir, 'b.db')]) {
        const s = await openStorage(url);
        await s.createStudy('s', ['minimize']);
        await s.close();
        const again = await openStorage(url);
        assert.ok((await again.getStudyId('s')) !== undefined);
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('8 processes share one file without "database is locked", losing or duplicating no trial', async () => {
    const dir = tempDir();
    try {
      const url = `sqlite:${join(dir, 'shared.db')}`;
      const budget = 240;
      const results = await Promise.all(Array.from({ length: 8 }, () => runTsx([HAMMER, url, 'hammer', String(budget)])));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const finished = results.reduce((sum, r) => sum + Number(r.stdout.trim()), 0);
      assert.equal(finished, budget);
      const s = await openStorage(url);
      const trials = await s.getAllTrials((await s.getStudyId('hammer'))!);
      assert.deepEqual(
        trials.map((t) => t.number),
        Array.from({ length: budget }, (_, i) => i),
      );
      assert.ok(trials.every((t) => t.state === 'complete' && t.values![0] === t.number && t.params.x === t.number / 1000));
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
