import pg from 'pg';
import { HoneError, errorMessage } from '../../errors.js';
import type { Direction, Distribution, FrozenTrial, ParamValue, StudySummary, TrialState } from '../types.js';
import type { CoordinatedStorage } from './coordination.js';
import { retryTemplate } from './coordination.js';
import {
  backoffMs,
  checkDirections,
  checkState,
  decodeJson,
  directionsMismatch,
  encodeJson,
  encodeNumbers,
  isFinished,
  noStudy,
  noTrial,
  rowToTrial,
  sleep,
  studyExists,
  trialFinished,
  type TrialRow,
} from './codec.js';

export interface PostgresOptions {
  /** A schema of its own (created if missing); default: the connection's search_path (normally `public`). */
  schema?: string;
  /** Connection attempts before giving up (exponential back-off between them). */
  connectAttempts?: number;
  /** Connections per process. */
  poolSize?: number;
}

/**
 * Studies in PostgreSQL, for workers on many machines. Each change is one statement or one short
 * transaction: trial numbers come from a per-study counter row (its row lock serializes creation, so no
 * duplicates), waiting trials are popped with `FOR UPDATE SKIP LOCKED` (two workers never take the same
 * one, and neither waits on the other), JSON attributes are merged in SQL (`jsonb ||`) instead of
 * read-modify-write. Transient failures (lost connection, serialization failure, deadlock) are retried.
 */
export class PostgresStorage implements CoordinatedStorage {
  private constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
  ) {}

  /** Connects (retrying with back-off), then creates or migrates the schema. */
  static async connect(url: string, opts: PostgresOptions = {}): Promise<PostgresStorage> {
    const where = describeUrl(url);
    const schema = opts.schema;
    if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new HoneError(`PostgreSQL schema name '${schema}' is not a plain identifier; use letters, digits and _`);
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 4,
      connectionTimeoutMillis: 5000,
      // The schema goes in the startup packet: every connection has it before its first query.
      ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle client that loses its server emits 'error' on the pool; without a listener that kills the process.
    pool.on('error', () => undefined);
    const storage = new PostgresStorage(pool, where);
    const attempts = opts.connectAttempts ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        const c = await pool.connect();
        c.release();
        break;
      } catch (e) {
        if (attempt + 1 >= attempts || !isTransient(e)) {
          await pool.end().catch(() => undefined);
          throw new HoneError(`cannot reach PostgreSQL at ${where}: ${reason(e)}; check that the server runs and the URL`, 2, { cause: e });
        }
        await sleep(backoffMs(attempt, 250, 4000));
      }
    }
    try {
      await storage.migrate(schema);
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof HoneError) throw e;
      throw new HoneError(
        `cannot set up Hone's tables in PostgreSQL at ${where}: ${reason(e)}; check the user's rights on the database`,
        2,
        { cause: e },
      );
    }
    return storage;
  }

  async createStudy(name: string, directions: Direction[], opts: { loadIfExists?: boolean } = {}): Promise<number> {
    checkDirections(directions);
    return this.tx(async (c) => {
      const ins = await c.query(
        'INSERT INTO studies (name, directions, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id',
        [name, JSON.stringify(directions), Date.now()],
      );
      if (ins.rowCount === 1) return Number(ins.rows[0].id);
      if (!opts.loadIfExists) throw studyExists(name);
      const row = (await c.query('SELECT id, directions FROM studies WHERE name = $1', [name])).rows[0] as {
        id: string;
        directions: Direction[];
      };
      if (row.directions.join() !== directions.join()) throw directionsMismatch(name, row.directions, directions);
      return Number(row.id);
    });
  }

  async getStudyId(name: string): Promise<number | undefined> {
    const r = await this.q('SELECT id FROM studies WHERE name = $1', [name]);
    return r.rows[0] ? Number(r.rows[0].id) : undefined;
  }

  async getStudy(studyId: number): Promise<StudySummary> {
    const s = (await this.studies('WHERE s.id = $1', [studyId]))[0];
    if (!s) throw noStudy(studyId);
    return s;
  }

  async listStudies(): Promise<StudySummary[]> {
    return this.studies('', []);
  }

  async deleteStudy(studyId: number): Promise<void> {
    const r = await this.q('DELETE FROM studies WHERE id = $1', [studyId]);
    if (r.rowCount === 0) throw noStudy(studyId);
  }

  async setStudyUserAttr(studyId: number, key: string, value: unknown): Promise<void> {
    await this.setStudyAttr(studyId, 'user_attrs', key, value);
  }

  async setStudySystemAttr(studyId: number, key: string, value: unknown): Promise<void> {
    await this.setStudyAttr(studyId, 'system_attrs', key, value);
  }

  async createTrial(studyId: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial> {
    return this.tx((c) => this.insertTrial(c, studyId, template));
  }

  async createTrialWithinBudget(studyId: number, limit: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial | undefined> {
    return this.tx(async (c) => {
      // The study row lock makes count-then-insert atomic across workers (insertTrial takes it too).
      await this.lockStudy(c, studyId);
      const r = await c.query("SELECT count(*) AS n FROM trials WHERE study_id = $1 AND NOT (system_attrs ? 'retried_by')", [studyId]);
      return Number(r.rows[0].n) < limit ? this.insertTrial(c, studyId, { state: 'waiting', ...template }) : undefined;
    });
  }

  async retryFailedTrial(trialId: number): Promise<FrozenTrial | undefined> {
    return this.tx(async (c) => {
      const r = await c.query(`SELECT study_id, ${TRIAL_COLUMNS} FROM trials WHERE id = $1 FOR UPDATE`, [trialId]);
      if (!r.rows[0]) throw noTrial(trialId);
      const failed = rowToTrial(r.rows[0] as TrialRow);
      if (failed.state !== 'fail' || failed.systemAttrs.retried_by !== undefined) return undefined;
      const retry = await this.insertTrial(c, Number(r.rows[0].study_id), retryTemplate(failed));
      await c.query("UPDATE trials SET system_attrs = system_attrs || jsonb_build_object('retried_by', $2::int) WHERE id = $1", [
        trialId,
        retry.number,
      ]);
      return retry;
    });
  }

  async popWaitingTrial(studyId: number): Promise<FrozenTrial | undefined> {
    const now = Date.now();
    const r = await this.q(
      `UPDATE trials SET state = 'running', datetime_start = $2, heartbeat = ${SERVER_NOW_MS}
       WHERE id = (SELECT id FROM trials WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${TRIAL_COLUMNS}`,
      [studyId, now],
    );
    return r.rows[0] ? rowToTrial(r.rows[0] as TrialRow) : undefined;
  }

  async setTrialParam(trialId: number, name: string, value: ParamValue, distribution: Distribution): Promise<void> {
    await this.updateUnfinished(
      trialId,
      `params = params || jsonb_build_object($2::text, $3::jsonb), distributions = distributions || jsonb_build_object($2::text, $4::jsonb)`,
      [name, JSON.stringify(value), JSON.stringify(distribution)],
    );
  }

  async setTrialState(trialId: number, state: TrialState, values?: number[]): Promise<boolean> {
    checkState(state);
    const now = Date.now();
    const r = await this.q(
      `UPDATE trials SET state = $2, vals = coalesce($3::jsonb, vals),
         datetime_start = CASE WHEN $2 = 'running' THEN coalesce(datetime_start, $4) ELSE datetime_start END,
         datetime_complete = CASE WHEN $2 IN ('complete', 'pruned', 'fail') THEN $4 ELSE datetime_complete END,
         heartbeat = CASE WHEN $2 = 'running' THEN ${SERVER_NOW_MS} ELSE heartbeat END
       WHERE id = $1 AND state NOT IN ('complete', 'pruned', 'fail')`,
      [trialId, state, encodeNumbers(values), now],
    );
    if (r.rowCount === 1) return true;
    await this.getTrial(trialId);
    return false;
  }

  async setTrialIntermediateValue(trialId: number, step: number, value: number): Promise<void> {
    const v = Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify(String(value));
    await this.updateUnfinished(trialId, 'intermediate = intermediate || jsonb_build_object($2::text, $3::jsonb)', [String(step), v]);
  }

  // Attributes may be written after the end (why a trial failed, that it was retried), as in memory storage.
  async setTrialUserAttr(trialId: number, key: string, value: unknown): Promise<void> {
    const r = await this.q('UPDATE trials SET user_attrs = user_attrs || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1', [
      trialId,
      key,
      jsonOrNull(value),
    ]);
    if (r.rowCount === 0) throw noTrial(trialId);
  }

  async setTrialSystemAttr(trialId: number, key: string, value: unknown): Promise<void> {
    const r = await this.q('UPDATE trials SET system_attrs = system_attrs || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1', [
      trialId,
      key,
      jsonOrNull(value),
    ]);
    if (r.rowCount === 0) throw noTrial(trialId);
  }

  async getTrial(trialId: number): Promise<FrozenTrial> {
    const r = await this.q(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE id = $1`, [trialId]);
    if (!r.rows[0]) throw noTrial(trialId);
    return rowToTrial(r.rows[0] as TrialRow);
  }

  async getAllTrials(studyId: number, states?: TrialState[]): Promise<FrozenTrial[]> {
    const r = states
      ? await this.q(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE study_id = $1 AND state = ANY($2) ORDER BY number`, [studyId, states])
      : await this.q(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE study_id = $1 ORDER BY number`, [studyId]);
    return r.rows.map((row) => rowToTrial(row as TrialRow));
  }

  async recordHeartbeat(trialId: number): Promise<void> {
    await this.q(`UPDATE trials SET heartbeat = ${SERVER_NOW_MS} WHERE id = $1 AND state = 'running'`, [trialId]);
  }

  async failStaleTrials(studyId: number, graceS: number): Promise<number[]> {
    // One UPDATE: concurrent callers re-check the row after each other's commit, so each id is returned once.
    // Heartbeats are in the server's clock, so workers on machines with skewed clocks agree on staleness.
    const r = await this.q(
      `UPDATE trials SET state = 'fail', datetime_complete = $2,
         system_attrs = system_attrs || jsonb_build_object('fail_reason', 'heartbeat missed for ' || $3::text || ' s')
       WHERE study_id = $1 AND state = 'running' AND coalesce(heartbeat, datetime_start, 0) < ${SERVER_NOW_MS} - $4::bigint
       RETURNING id`,
      [studyId, Date.now(), String(graceS), Math.round(graceS * 1000)],
    );
    return r.rows.map((row) => Number(row.id)).sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  // ---- internals -------------------------------------------------------------------------------

  private async insertTrial(c: pg.PoolClient, studyId: number, template: Partial<FrozenTrial> = {}): Promise<FrozenTrial> {
    const state = template.state ?? 'running';
    checkState(state);
    const n = await c.query('UPDATE studies SET next_number = next_number + 1 WHERE id = $1 RETURNING next_number - 1 AS number', [
      studyId,
    ]);
    if (!n.rows[0]) throw noStudy(studyId);
    const now = Date.now();
    const r = await c.query(
      `INSERT INTO trials (study_id, number, state, vals, params, distributions, intermediate, user_attrs, system_attrs,
         datetime_start, datetime_complete, heartbeat)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $12::boolean THEN ${SERVER_NOW_MS} END)
       RETURNING ${TRIAL_COLUMNS}`,
      [
        studyId,
        n.rows[0].number,
        state,
        encodeNumbers(template.values),
        encodeJson(template.params),
        encodeJson(template.distributions),
        encodeNumbers(template.intermediateValues ?? {}),
        encodeJson(template.userAttrs),
        encodeJson(template.systemAttrs),
        state === 'waiting' ? null : (template.datetimeStart ?? now),
        isFinished(state) ? (template.datetimeComplete ?? now) : null,
        state === 'running',
      ],
    );
    return rowToTrial(r.rows[0] as TrialRow);
  }

  private async lockStudy(c: pg.PoolClient, studyId: number): Promise<void> {
    const r = await c.query('SELECT id FROM studies WHERE id = $1 FOR UPDATE', [studyId]);
    if (!r.rows[0]) throw noStudy(studyId);
  }

  /** One UPDATE on a trial that must not be finished; tells "no such trial" from "already finished". */
  private async updateUnfinished(trialId: number, set: string, args: unknown[]): Promise<void> {
    const r = await this.q(`UPDATE trials SET ${set} WHERE id = $1 AND state IN ('running', 'waiting')`, [trialId, ...args]);
    if (r.rowCount === 1) return;
    const t = await this.getTrial(trialId);
    throw trialFinished(t.number, t.state);
  }

  private async setStudyAttr(studyId: number, column: 'user_attrs' | 'system_attrs', key: string, value: unknown): Promise<void> {
    const r = await this.q(`UPDATE studies SET ${column} = ${column} || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1`, [
      studyId,
      key,
      jsonOrNull(value),
    ]);
    if (r.rowCount === 0) throw noStudy(studyId);
  }

  private async studies(where: string, args: unknown[]): Promise<StudySummary[]> {
    const r = await this.q(
      `SELECT s.id, s.name, s.directions, s.user_attrs, s.system_attrs,
         (SELECT count(*) FROM trials t WHERE t.study_id = s.id) AS n, s.created_at AS start
       FROM studies s ${where} ORDER BY s.id`,
      args,
    );
    return r.rows.map((row) => {
      const s: StudySummary = {
        id: Number(row.id),
        name: row.name as string,
        directions: row.directions as Direction[],
        userAttrs: decodeJson(row.user_attrs, {}),
        systemAttrs: decodeJson(row.system_attrs, {}),
        nTrials: Number(row.n),
      };
      if (row.start !== null) s.datetimeStart = Number(row.start);
      return s;
    });
  }

  /** One statement, retried on transient failures (each statement here is idempotent or all-or-nothing). */
  private q(sql: string, args: unknown[]): Promise<pg.QueryResult> {
    return this.retrying(() => this.pool.query(sql, args));
  }

  /** A transaction on one connection, retried as a whole on transient failures. */
  private tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.retrying(async () => {
      const c = await this.pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw e;
      } finally {
        c.release(broken);
      }
    });
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= 6 || !isTransient(e)) {
          if (isTransient(e))
            throw new HoneError(`lost PostgreSQL at ${this.where}: ${reason(e)}; check that the server runs`, 1, { cause: e });
          throw e;
        }
        await sleep(backoffMs(attempt, 50, 2000));
      }
    }
  }

  private async migrate(schema: string | undefined): Promise<void> {
    await this.tx(async (c) => {
      // Workers start together; one migrates while the others wait on this lock, then see the new version.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hone-schema:${schema ?? ''}`]);
      if (schema !== undefined) {
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
        await c.query(`SET LOCAL search_path TO "${schema}"`);
      }
      await migratePostgres(c, this.where);
    });
  }
}

/** Now in ms by the server's clock: heartbeats are written and judged by this one clock. */
const SERVER_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** JSON columns come back as text so one row codec (with its NaN/Infinity handling) serves both SQL storages. */
const TRIAL_COLUMNS = `id, number, state, vals::text AS vals, params::text AS params, distributions::text AS distributions,
  intermediate::text AS intermediate, user_attrs::text AS user_attrs, system_attrs::text AS system_attrs, datetime_start, datetime_complete`;

/** Schema versions, oldest first; never edit a shipped entry, add a new one. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: studies (with the per-study trial-number counter) and trials; JSONB for params and attributes.
  `CREATE TABLE studies (
     id BIGSERIAL PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     directions JSONB NOT NULL,
     user_attrs JSONB NOT NULL DEFAULT '{}',
     system_attrs JSONB NOT NULL DEFAULT '{}',
     next_number INTEGER NOT NULL DEFAULT 0,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE trials (
     id BIGSERIAL PRIMARY KEY,
     study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
     number INTEGER NOT NULL,
     state TEXT NOT NULL,
     vals JSONB,
     params JSONB NOT NULL DEFAULT '{}',
     distributions JSONB NOT NULL DEFAULT '{}',
     intermediate JSONB NOT NULL DEFAULT '{}',
     user_attrs JSONB NOT NULL DEFAULT '{}',
     system_attrs JSONB NOT NULL DEFAULT '{}',
     datetime_start BIGINT,
     datetime_complete BIGINT,
     UNIQUE (study_id, number)
   );`,
  // 2: heartbeats for crashed-worker detection; an index for "waiting/running trials of a study".
  `ALTER TABLE trials ADD COLUMN heartbeat BIGINT;
   CREATE INDEX trials_study_state ON trials (study_id, state);`,
];

/** Brings the tables on `c`'s search_path to the newest schema (or `upTo`). Call inside a transaction. */
export async function migratePostgres(c: pg.ClientBase, where: string, upTo = POSTGRES_MIGRATIONS.length): Promise<number> {
  await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = (await c.query('SELECT version FROM schema_version')).rows[0] as { version: number } | undefined;
  const have = row?.version ?? 0;
  if (have > POSTGRES_MIGRATIONS.length) {
    throw new HoneError(
      `PostgreSQL database at ${where} has Hone schema version ${have}, newer than this Hone knows (${POSTGRES_MIGRATIONS.length}); upgrade Hone`,
    );
  }
  for (let v = have; v < upTo; v++) await c.query(POSTGRES_MIGRATIONS[v]!);
  if (!row) await c.query('INSERT INTO schema_version (version) VALUES ($1)', [Math.max(have, upTo)]);
  else if (upTo > have) await c.query('UPDATE schema_version SET version = $1', [upTo]);
  return Math.max(have, upTo);
}

function jsonOrNull(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '40001',
  '40P01',
]);

function isTransient(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  if (TRANSIENT_CODES.has(code) || code.startsWith('08')) return true;
  const msg = errorMessage(e);
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/i.test(msg);
}

function reason(e: unknown): string {
  const err = e as { code?: string; errors?: unknown[] };
  // Node reports "localhost" refusals as an AggregateError over IPv4 and IPv6 with an empty message.
  if (Array.isArray(err.errors) && err.errors.length && !errorMessage(e)) return errorMessage(err.errors[0]);
  return errorMessage(e) || String(err.code ?? e);
}

/** host:port/database, without the password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || ''}`;
  } catch {
    return 'the given URL';
  }
}
