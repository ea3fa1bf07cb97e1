import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { POSTGRES_MIGRATIONS, PostgresStorage, migratePostgres } from '../../src/tune/storage/postgres.js';
import { openStorage } from '../../src/tune/storage/open.js';
import { HoneError } from '../../src/errors.js';
import { PG_URL, dropSchema, uniqueSchema } from './pg-helpers.js';
import { runTsx } from '../helpers/spawn.js';

const HAMMER = fileURLToPath(new URL('./fixtures/storage-hammer.ts', import.meta.url));

function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

describe('PostgreSQL storage', () => {
  it('says clearly, after retrying, that the server cannot be reached', async () => {
    const t0 = Date.now();
    await assert.rejects(
      PostgresStorage.connect('postgresql://postgres:secret@127.0.0.1:1/test', { connectAttempts: 3 }),
      (e: unknown) =>
        e instanceof HoneError &&
        e.exitCode === 2 &&
        /^cannot reach PostgreSQL at 127\.0\.0\.1:1\/test: .*ECONNREFUSED.*; check that the server runs and the URL$/.test(e.message) &&
        !e.message.includes('secret'),
    );
    // Three attempts mean two back-off sleeps (≥ 125 ms and ≥ 250 ms with jitter).
    assert.ok(Date.now() - t0 >= 300);
  });

  it('migrates a version-1 schema, and refuses one from a newer Hone', async () => {
    const schema = uniqueSchema();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA "${schema}"`);
      await c.query(`SET search_path TO "${schema}"`);
      assert.equal(await migratePostgres(c, 'test', 1), 1);
      await c.query(`INSERT INTO studies (name, directions, next_number, created_at) VALUES ('legacy', '["maximize"]', 1, 1)`);
      await c.query(
        `INSERT INTO trials (study_id, number, state, vals, datetime_start, datetime_complete) VALUES (1, 0, 'complete', '[2.5]', 1, 2)`,
      );

      const s = await openStorage(withSchema(PG_URL, schema));
      assert.equal((await c.query('SELECT version FROM schema_version')).rows[0].version, POSTGRES_MIGRATIONS.length);
      const id = (await s.getStudyId('legacy'))!;
      assert.deepEqual(
        (await s.getAllTrials(id)).map((t) => [t.number, t.values]),
        [[0, [2.5]]],
      );
      const next = await s.createTrial(id);
      assert.equal(next.number, 1);
      await s.recordHeartbeat(next.id);
      await s.close();

      await c.query('UPDATE schema_version SET version = 42');
      await assert.rejects(PostgresStorage.connect(PG_URL, { schema }), /schema version 42.*upgrade Hone/);
    } finally {
      await c.end();
      await dropSchema(schema);
    }
  });

  it('8 processes migrate one fresh schema together and share a study without losing or duplicating a trial', async () => {
    const schema = uniqueSchema();
    try {
      const url = withSchema(PG_URL, schema);
      const budget = 240;
      const results = await Promise.all(Array.from({ length: 8 }, () => runTsx([HAMMER, url, 'hammer', String(budget)])));
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      assert.equal(
        results.reduce((sum, r) => sum + Number(r.stdout.trim()), 0),
        budget,
      );
      const s = await openStorage(url);
      const trials = await s.getAllTrials((await s.getStudyId('hammer'))!);
      assert.deepEqual(
        trials.map((t) => t.number),
        Array.from({ length: budget }, (_, i) => i),
      );
      assert.ok(trials.every((t) => t.state === 'complete' && t.values![0] === t.number));
      await s.close();
    } finally {
      await dropSchema(schema);
    }
  });
});
