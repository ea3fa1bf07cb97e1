import Database from 'better-sqlite3';
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
  studyExists,
  trialFinished,
  type TrialRow,
} from './codec.js';

/**
 * Studies in one SQLite file, safe for many processes on one machine: WAL (readers never block the
 * writer), a busy timeout, every read-modify-write in a `BEGIN IMMEDIATE` transaction (the write lock is
 * taken up front, so two workers cannot both read "trial 7 is next"), and a retry with back-off for the
 * SQLITE_BUSY that still escapes the busy handler. better-sqlite3 is synchronous; the async methods
 * only satisfy `Storage`.
 */
export class SqliteStorage implements CoordinatedStorage {
  private readonly db: Database.Database;

  /** Opens (creating if needed) and migrates the database at `path`. */
  constructor(
    readonly path: string,
    opts: { busyTimeoutMs?: number } = {},
  ) {
    try {
      this.db = new Database(path, { timeout: opts.busyTimeoutMs ?? 10_000 });
    } catch (e) {
      // better-sqlite3 loads its native module here, on first use, so everything but SQLite storage works without it.
      if (nativeModuleMissing(e)) {
        throw new HoneError(
          `SQLite storage needs better-sqlite3's native module, which is missing from this install or was built for ` +
            `another Node.js; run 'npm rebuild better-sqlite3' where Hone is installed, or use the memory or PostgreSQL storage`,
          2,
          { cause: e },
        );
      }
      throw new HoneError(`cannot open SQLite database ${path}: ${errorMessage(e)}; check that its folder exists and is writable`, 2, {
        cause: e,
      });
    }
    try {
      // journal_mode needs a lock when it switches; it can be busy while other workers open the file.
      this.retrying(() => this.db.pragma('journal_mode = WAL'));
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.retrying(() => migrateSqlite(this.db));
    } catch (e) {
      this.db.close();
      if (e instanceof HoneError) throw e;
      throw new HoneError(`cannot use SQLite database ${path}: ${errorMessage(e)}; is it a Hone study database?`, 2, { cause: e });
    }
  }

  async createStudy(name: string, directions: Direction[], opts: { loadIfExists?: boolean } = {}): Promise<number> {
    checkDirections(directions);
    return this.tx(() => {
      const row = this.db.prepare('SELECT id, directions FROM studies WHERE name = ?').get(name) as
        | { id: number; directions: string }
        | undefined;
      if (row) {
        if (!opts.loadIfExists) throw studyExists(name);
        const have = JSON.parse(row.directions) as Direction[];
        if (have.join() !== directions.join()) throw directionsMismatch(name, have, directions);
        return row.id;
      }
      const r = this.db
        .prepare('INSERT INTO studies (name, directions, created_at) VALUES (?, ?, ?)')
        .run(name, JSON.stringify(directions), Date.now());
      return Number(r.lastInsertRowid);
    });
  }

  async getStudyId(name: string): Promise<number | undefined> {
    const row = this.read(() => this.db.prepare('SELECT id FROM studies WHERE name = ?').get(name)) as { id: number } | undefined;
    return row?.id;
  }

  async getStudy(studyId: number): Promise<StudySummary> {
    const s = this.read(() => this.studies('WHERE s.id = ?', studyId))[0];
    if (!s) throw noStudy(studyId);
    return s;
  }

  async listStudies(): Promise<StudySummary[]> {
    return this.read(() => this.studies('', undefined));
  }

  async deleteStudy(studyId: number): Promise<void> {
    this.tx(() => {
      this.db.prepare('DELETE FROM trials WHERE study_id = ?').run(studyId);
      if (this.db.prepare('DELETE FROM studies WHERE id = ?').run(studyId).changes === 0) throw noStudy(studyId);
    });
  }

  async setStudyUserAttr(studyId: number, key: string, value: unknown): Promise<void> {
    this.setStudyAttr(studyId, 'user_attrs', key, value);
  }

  async setStudySystemAttr(studyId: number, key: string, value: unknown): Promise<void> {
    this.setStudyAttr(studyId, 'system_attrs', key, value);
  }

  async createTrial(studyId: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial> {
    return this.tx(() => this.insertTrial(studyId, template));
  }

  async createTrialWithinBudget(studyId: number, limit: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial | undefined> {
    return this.tx(() => {
      const { n } = this.db
        .prepare("SELECT count(*) AS n FROM trials WHERE study_id = ? AND json_extract(system_attrs, '$.retried_by') IS NULL")
        .get(studyId) as { n: number };
      return n < limit ? this.insertTrial(studyId, { state: 'waiting', ...template }) : undefined;
    });
  }

  async retryFailedTrial(trialId: number): Promise<FrozenTrial | undefined> {
    return this.tx(() => {
      const failed = this.trialRow(trialId);
      if (failed.state !== 'fail' || failed.systemAttrs.retried_by !== undefined) return undefined;
      const retry = this.insertTrial(this.studyOf(trialId), retryTemplate(failed));
      this.patchTrialJson(trialId, 'system_attrs', 'retried_by', retry.number);
      return retry;
    });
  }

  async popWaitingTrial(studyId: number): Promise<FrozenTrial | undefined> {
    return this.tx(() => {
      const row = this.db.prepare("SELECT id FROM trials WHERE study_id = ? AND state = 'waiting' ORDER BY number LIMIT 1").get(studyId) as
        | { id: number }
        | undefined;
      if (!row) return undefined;
      const now = Date.now();
      this.db.prepare("UPDATE trials SET state = 'running', datetime_start = ?, heartbeat = ? WHERE id = ?").run(now, now, row.id);
      return this.trialRow(row.id);
    });
  }

  async setTrialParam(trialId: number, name: string, value: ParamValue, distribution: Distribution): Promise<void> {
    this.tx(() => {
      const t = this.unfinished(trialId);
      this.db
        .prepare('UPDATE trials SET params = ?, distributions = ? WHERE id = ?')
        .run(encodeJson({ ...t.params, [name]: value }), encodeJson({ ...t.distributions, [name]: distribution }), trialId);
    });
  }

  async setTrialState(trialId: number, state: TrialState, values?: number[]): Promise<boolean> {
    checkState(state);
    return this.tx(() => {
      const t = this.trialRow(trialId);
      if (isFinished(t.state)) return false;
      const now = Date.now();
      this.db
        .prepare(`UPDATE trials SET state = ?, vals = coalesce(?, vals),
                  datetime_start = CASE WHEN ? = 'running' THEN coalesce(datetime_start, ?) ELSE datetime_start END,
                  datetime_complete = CASE WHEN ? IN ('complete', 'pruned', 'fail') THEN ? ELSE datetime_complete END,
                  heartbeat = CASE WHEN ? = 'running' THEN ? ELSE heartbeat END
                  WHERE id = ?`)
        .run(state, encodeNumbers(values), state, now, state, now, state, now, trialId);
      return true;
    });
  }

  async setTrialIntermediateValue(trialId: number, step: number, value: number): Promise<void> {
    this.tx(() => {
      const t = this.unfinished(trialId);
      const iv = { ...t.intermediateValues, [step]: value };
      this.db.prepare('UPDATE trials SET intermediate = ? WHERE id = ?').run(encodeNumbers(iv), trialId);
    });
  }

  // Attributes may be written after the end (why a trial failed, that it was retried), as in memory storage.
  async setTrialUserAttr(trialId: number, key: string, value: unknown): Promise<void> {
    this.tx(() => {
      this.trialRow(trialId);
      this.patchTrialJson(trialId, 'user_attrs', key, value);
    });
  }

  async setTrialSystemAttr(trialId: number, key: string, value: unknown): Promise<void> {
    this.tx(() => {
      this.trialRow(trialId);
      this.patchTrialJson(trialId, 'system_attrs', key, value);
    });
  }

  async getTrial(trialId: number): Promise<FrozenTrial> {
    return this.read(() => this.trialRow(trialId));
  }

  async getAllTrials(studyId: number, states?: TrialState[]): Promise<FrozenTrial[]> {
    return this.read(() => {
      const rows = states
        ? (this.db
            .prepare(
              `SELECT ${TRIAL_COLUMNS} FROM trials WHERE study_id = ? AND state IN (${states.map(() => '?').join(', ')}) ORDER BY number`,
            )
            .all(studyId, ...states) as TrialRow[])
        : (this.db.prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE study_id = ? ORDER BY number`).all(studyId) as TrialRow[]);
      return rows.map(rowToTrial);
    });
  }

  async recordHeartbeat(trialId: number): Promise<void> {
    // One UPDATE is atomic on its own; no read-modify-write, so no explicit transaction.
    this.retrying(() => this.db.prepare("UPDATE trials SET heartbeat = ? WHERE id = ? AND state = 'running'").run(Date.now(), trialId));
  }

  async failStaleTrials(studyId: number, graceS: number): Promise<number[]> {
    return this.tx(() => {
      const now = Date.now();
      const rows = this.db
        .prepare(`UPDATE trials SET state = 'fail', datetime_complete = ?,
                  system_attrs = json_set(system_attrs, '$.fail_reason', 'heartbeat missed for ' || ? || ' s')
                  WHERE study_id = ? AND state = 'running' AND coalesce(heartbeat, datetime_start, 0) < ?
                  RETURNING id`)
        .all(now, graceS, studyId, now - graceS * 1000) as { id: number }[];
      return rows.map((r) => r.id).sort((a, b) => a - b);
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // ---- internals -------------------------------------------------------------------------------

  private insertTrial(studyId: number, template: Partial<FrozenTrial> = {}): FrozenTrial {
    if (!this.db.prepare('SELECT 1 FROM studies WHERE id = ?').get(studyId)) throw noStudy(studyId);
    const state = template.state ?? 'running';
    checkState(state);
    const { next } = this.db.prepare('SELECT coalesce(max(number) + 1, 0) AS next FROM trials WHERE study_id = ?').get(studyId) as {
      next: number;
    };
    const now = Date.now();
    const start = state === 'waiting' ? null : (template.datetimeStart ?? now);
    const complete = isFinished(state) ? (template.datetimeComplete ?? now) : null;
    const r = this.db
      .prepare(`INSERT INTO trials (study_id, number, state, vals, params, distributions, intermediate, user_attrs, system_attrs,
                datetime_start, datetime_complete, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(
        studyId,
        next,
        state,
        encodeNumbers(template.values),
        encodeJson(template.params),
        encodeJson(template.distributions),
        encodeNumbers(template.intermediateValues ?? {}),
        encodeJson(template.userAttrs),
        encodeJson(template.systemAttrs),
        start,
        complete,
        state === 'running' ? now : null,
      );
    return this.trialRow(Number(r.lastInsertRowid));
  }

  private trialRow(trialId: number): FrozenTrial {
    const row = this.db.prepare(`SELECT ${TRIAL_COLUMNS} FROM trials WHERE id = ?`).get(trialId) as TrialRow | undefined;
    if (!row) throw noTrial(trialId);
    return rowToTrial(row);
  }

  private unfinished(trialId: number): FrozenTrial {
    const t = this.trialRow(trialId);
    if (isFinished(t.state)) throw trialFinished(t.number, t.state);
    return t;
  }

  private studyOf(trialId: number): number {
    return (this.db.prepare('SELECT study_id FROM trials WHERE id = ?').get(trialId) as { study_id: number }).study_id;
  }

  private patchTrialJson(trialId: number, column: 'user_attrs' | 'system_attrs', key: string, value: unknown): void {
    const row = this.db.prepare(`SELECT ${column} AS j FROM trials WHERE id = ?`).get(trialId) as { j: string };
    const obj = decodeJson<Record<string, unknown>>(row.j, {});
    obj[key] = value;
    this.db.prepare(`UPDATE trials SET ${column} = ? WHERE id = ?`).run(encodeJson(obj), trialId);
  }

  private setStudyAttr(studyId: number, column: 'user_attrs' | 'system_attrs', key: string, value: unknown): void {
    this.tx(() => {
      const row = this.db.prepare(`SELECT ${column} AS j FROM studies WHERE id = ?`).get(studyId) as { j: string } | undefined;
      if (!row) throw noStudy(studyId);
      const obj = decodeJson<Record<string, unknown>>(row.j, {});
      obj[key] = value;
      this.db.prepare(`UPDATE studies SET ${column} = ? WHERE id = ?`).run(encodeJson(obj), studyId);
    });
  }

  private studies(where: string, arg: number | undefined): StudySummary[] {
    const rows = this.db
      .prepare(`SELECT s.id, s.name, s.directions, s.user_attrs, s.system_attrs,
                (SELECT count(*) FROM trials t WHERE t.study_id = s.id) AS n, s.created_at AS start
                FROM studies s ${where} ORDER BY s.id`)
      .all(...(arg === undefined ? [] : [arg])) as {
      id: number;
      name: string;
      directions: string;
      user_attrs: string;
      system_attrs: string;
      n: number;
      start: number | null;
    }[];
    return rows.map((r) => {
      const s: StudySummary = {
        id: r.id,
        name: r.name,
        directions: JSON.parse(r.directions) as Direction[],
        userAttrs: decodeJson(r.user_attrs, {}),
        systemAttrs: decodeJson(r.system_attrs, {}),
        nTrials: r.n,
      };
      if (r.start !== null) s.datetimeStart = r.start;
      return s;
    });
  }

  /** A write transaction that takes the write lock first (BEGIN IMMEDIATE), retried while the database is busy. */
  private tx<T>(fn: () => T): T {
    return this.retrying(() => this.db.transaction(fn).immediate());
  }

  private read<T>(fn: () => T): T {
    return this.retrying(fn);
  }

  /** busy_timeout covers most contention; SQLITE_BUSY can still surface (e.g. during WAL recovery), so retry with back-off. */
  private retrying<T>(fn: () => T): T {
    const deadline = Date.now() + 60_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        if (!(code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) || Date.now() > deadline) {
          if (code.startsWith('SQLITE_BUSY')) {
            throw new HoneError(
              `SQLite database ${this.path} stayed locked for 60 s; another process holds it — stop it or use PostgreSQL for many workers`,
              1,
              { cause: e },
            );
          }
          throw e;
        }
        sleepSync(backoffMs(attempt, 5, 500));
      }
    }
  }
}

const TRIAL_COLUMNS =
  'id, number, state, vals, params, distributions, intermediate, user_attrs, system_attrs, datetime_start, datetime_complete';

/** Blocks the thread briefly: better-sqlite3 calls are synchronous, so the retry is too. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Schema versions, oldest first. Never edit a shipped entry: add a new one. Opening a database runs
 * every migration past its `schema_version`, all in one transaction.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: studies and trials; JSON columns for params, distributions, intermediate values and attributes.
  `CREATE TABLE studies (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     directions TEXT NOT NULL,
     user_attrs TEXT NOT NULL DEFAULT '{}',
     system_attrs TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL
   );
   CREATE TABLE trials (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
     number INTEGER NOT NULL,
     state TEXT NOT NULL,
     vals TEXT,
     params TEXT NOT NULL DEFAULT '{}',
     distributions TEXT NOT NULL DEFAULT '{}',
     intermediate TEXT NOT NULL DEFAULT '{}',
     user_attrs TEXT NOT NULL DEFAULT '{}',
     system_attrs TEXT NOT NULL DEFAULT '{}',
     datetime_start INTEGER,
     datetime_complete INTEGER,
     UNIQUE (study_id, number)
   );`,
  // 2: heartbeats for crashed-worker detection; an index for "waiting/running trials of a study".
  `ALTER TABLE trials ADD COLUMN heartbeat INTEGER;
   CREATE INDEX trials_study_state ON trials (study_id, state);`,
];

/** Brings `db` to the newest schema (or to `upTo`, for tests that build an old database). Returns the version. */
export function migrateSqlite(db: Database.Database, upTo = SQLITE_MIGRATIONS.length): number {
  return db
    .transaction(() => {
      db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
      const have = row?.version ?? 0;
      if (have > SQLITE_MIGRATIONS.length) {
        throw new HoneError(
          `SQLite database ${db.name} has schema version ${have}, newer than this Hone knows (${SQLITE_MIGRATIONS.length}); upgrade Hone`,
        );
      }
      for (let v = have; v < upTo; v++) db.exec(SQLITE_MIGRATIONS[v]!);
      if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(Math.max(have, upTo));
      else if (upTo > have) db.prepare('UPDATE schema_version SET version = ?').run(upTo);
      return Math.max(have, upTo);
    })
    .immediate();
}

/** The errors better-sqlite3 throws when its compiled addon is absent (install scripts skipped) or built for another Node. */
function nativeModuleMissing(e: unknown): boolean {
  const err = e as { tries?: unknown; code?: unknown };
  return Array.isArray(err?.tries) || err?.code === 'ERR_DLOPEN_FAILED';
}
