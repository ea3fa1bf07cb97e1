import type { FrozenTrial } from '../types.js';
import type { Storage } from './storage.js';

/**
 * What many workers on one study need beyond `Storage`: a trial budget that cannot be overshot, and
 * retries of crashed trials that cannot be done twice. SQLite and PostgreSQL do each in one
 * transaction; any other storage (memory: one process) gets the same behaviour from a process-local lock.
 *
 * Budget rule: a study of N trials ends with exactly N trials that count; a failed trial that was
 * retried (systemAttrs.retried_by set) stops counting, and its retry (systemAttrs.retried_from) counts.
 */
export interface CoordinatedStorage extends Storage {
  /** Creates a trial (default state 'waiting') only when fewer than `limit` trials count; else undefined. */
  createTrialWithinBudget(studyId: number, limit: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial | undefined>;
  /** Marks failed trial `trialId` retried and enqueues a waiting copy of its params; undefined when it is not failed or already retried. */
  retryFailedTrial(trialId: number): Promise<FrozenTrial | undefined>;
}

export function isCoordinated(s: Storage): s is CoordinatedStorage {
  const c = s as Partial<CoordinatedStorage>;
  return typeof c.createTrialWithinBudget === 'function' && typeof c.retryFailedTrial === 'function';
}

/** True when the trial counts against the study's budget. */
export function countsAgainstBudget(t: FrozenTrial): boolean {
  return t.systemAttrs.retried_by === undefined;
}

/**
 * The template of the retry of `failed`: same params, fixed (`fixed_params`, as an enqueued trial), a
 * pointer back, and how many retries led here.
 */
export function retryTemplate(failed: FrozenTrial): Partial<FrozenTrial> {
  return {
    state: 'waiting',
    params: failed.params,
    distributions: failed.distributions,
    userAttrs: {},
    systemAttrs: {
      fixed_params: failed.params,
      retried_from: failed.number,
      retry_count: Number(failed.systemAttrs.retry_count ?? 0) + 1,
    },
  };
}

const locks = new WeakMap<Storage, Promise<unknown>>();

/** Runs `fn` with no other `withLock` on the same storage object in between (one process only). */
function withLock<T>(s: Storage, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(s) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  locks.set(
    s,
    next.catch(() => undefined),
  );
  return next;
}

export function createTrialWithinBudget(
  s: Storage,
  studyId: number,
  limit: number,
  template?: Partial<FrozenTrial>,
): Promise<FrozenTrial | undefined> {
  if (isCoordinated(s)) return s.createTrialWithinBudget(studyId, limit, template);
  return withLock(s, async () => {
    const counted = (await s.getAllTrials(studyId)).filter(countsAgainstBudget).length;
    return counted < limit ? s.createTrial(studyId, { state: 'waiting', ...template }) : undefined;
  });
}

export function retryFailedTrial(s: Storage, trialId: number): Promise<FrozenTrial | undefined> {
  if (isCoordinated(s)) return s.retryFailedTrial(trialId);
  return withLock(s, async () => {
    const failed = await s.getTrial(trialId);
    if (failed.state !== 'fail' || !countsAgainstBudget(failed)) return undefined;
    const studyId = await studyOf(s, failed);
    const retry = await s.createTrial(studyId, retryTemplate(failed));
    await s.setTrialSystemAttr(trialId, 'retried_by', retry.number);
    return retry;
  });
}

/** The plain Storage interface has no trial → study lookup; find it by scanning (memory storage: cheap). */
async function studyOf(s: Storage, t: FrozenTrial): Promise<number> {
  for (const st of await s.listStudies()) {
    if ((await s.getAllTrials(st.id)).some((x) => x.id === t.id)) return st.id;
  }
  throw new Error(`trial ${t.id} belongs to no study`);
}
