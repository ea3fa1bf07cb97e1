import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { HoneError, errorMessage } from '../../errors.js';
import type { Storage } from '../../tune/storage/storage.js';
import { createTrialWithinBudget, retryFailedTrial } from '../../tune/storage/coordination.js';
import type { StudyView } from '../../tune/samplers/base.js';
import { loadStudy, pruneReasonOf, type Objective, type Study } from '../../tune/study.js';
import { TrialPruned, type Trial } from '../../tune/trial.js';
import type { TuneConfig } from './config.js';
import { makePruner, makeSampler } from './factory.js';
import { interruptReason } from './interrupt.js';
import { objectiveSpace } from './objective.js';
import { trainConstraints } from './train-spec.js';

/**
 * One worker of a study: ask, run the objective, tell, until the study's trial budget is spent or the
 * deadline passes. Many workers (processes on one machine or many, or loops in one process) run the same
 * study through its storage; none of them is special:
 *
 * - The budget is enforced by the storage: the only way a worker creates a trial is `createTrial`
 *   wrapped by `withTrialBudget`, which is atomic, so a study of N trials never gets N+1.
 * - Each running trial beats every `heartbeat.intervalS`. Before each ask, a worker fails the trials
 *   silent for `heartbeat.graceS` (a worker that crashed or was killed) and, with `heartbeat.retries`,
 *   enqueues a copy of each with the same params, which any worker then pops.
 * - When the budget is spent a worker waits (polling) until no trial is running or waiting, so a crashed
 *   worker's trial is still detected and retried.
 * - When `signal` aborts (SIGINT/SIGTERM), the worker starts no trial; the one it runs is stopped (its
 *   objective rejects), failed with the reason 'interrupted' and re-queued at once with the same params,
 *   so `hone tune --resume` runs it first instead of waiting for its heartbeat to go stale.
 */
export interface WorkerOptions {
  storage: Storage;
  config: TuneConfig;
  objective: Objective;
  /** Makes this worker's sampler seed differ from the others'. */
  workerIndex: number;
  /** ms since epoch after which no trial starts. */
  deadline: number;
  /** Stops the worker (see above); its reason (e.g. 'SIGINT') is kept in the interrupted trial's fail reason. */
  signal?: AbortSignal;
}

export interface WorkerResult {
  /** Trials this worker finished (complete, pruned or failed; interrupted ones not counted). */
  finished: number;
  /** Trials this worker stopped on `signal`, failed and re-queued. */
  interrupted: number;
}

/** Thrown by a budgeted storage's createTrial when the study already has its trials. */
export class BudgetSpent extends Error {
  override readonly name = 'BudgetSpent';
}

export async function runWorker(o: WorkerOptions): Promise<WorkerResult> {
  const { config } = o;
  const budget = config.trials ?? Number.POSITIVE_INFINITY;
  const constraints = config.objective.kind === 'train' ? trainConstraints(config.objective) : undefined;
  const study = await loadStudy({
    name: config.study,
    storage: withTrialBudget(o.storage, budget),
    sampler: makeSampler(config.sampler, objectiveSpace(config), o.workerIndex),
    pruner: makePruner(config.pruner),
    ...(constraints ? { constraintsFunc: constraints } : {}),
  });
  const { intervalS, graceS, retries } = config.heartbeat;
  const workerId = `${hostname()}:${process.pid}`;
  const pollMs = Math.min(250, intervalS * 1000);
  let finished = 0;
  let interrupted = 0;
  // Looking for stale trials takes the write lock (SQLite): once per heartbeat interval is enough.
  let nextReap = 0;
  while (Date.now() < o.deadline && !o.signal?.aborted) {
    if (Date.now() >= nextReap) {
      await reapStale(o.storage, study, graceS, retries);
      nextReap = Date.now() + intervalS * 1000;
    }
    if (study.sampler.isExhausted?.(samplerView(study))) break;
    let trial: Awaited<ReturnType<typeof study.ask>>;
    try {
      trial = await study.ask();
    } catch (e) {
      if (!(e instanceof BudgetSpent)) throw e;
      const open = await o.storage.getAllTrials(study.id, ['running', 'waiting']);
      if (open.length === 0) break;
      if (!open.some((t) => t.state === 'waiting')) await delay(pollMs, undefined, { signal: o.signal }).catch(() => undefined);
      continue;
    }
    trial.setSystemAttr('worker', workerId);
    const beat = setInterval(() => void o.storage.recordHeartbeat(trial.id).catch(() => undefined), intervalS * 1000);
    try {
      const outcome = await runTrial(study, trial, o);
      if (outcome === 'interrupted') {
        await requeueInterrupted(o.storage, study, trial, interruptReason(o.signal!));
        interrupted++;
        break;
      }
      finished++;
    } finally {
      clearInterval(beat);
    }
  }
  return { finished, interrupted };
}

/**
 * Runs the objective on `trial` and tells the study how it went; 'interrupted' (nothing told) when the
 * run was interrupted before or during it, whatever the objective threw then (a stopped command exits
 * with an error of its own): the trial was not at fault and runs again on resume.
 */
async function runTrial(study: Study, trial: Trial, o: WorkerOptions): Promise<'told' | 'interrupted'> {
  let result: number | number[];
  try {
    if (o.signal?.aborted) return 'interrupted';
    result = await o.objective(trial);
  } catch (e) {
    if (o.signal?.aborted) return 'interrupted';
    if (e instanceof TrialPruned) {
      await study.tell(trial, 'pruned', { skipIfFinished: true, ...pruneReasonOf(e) });
      return 'told';
    }
    await study.tell(trial, 'fail', { skipIfFinished: true, failReason: errorMessage(e) || String(e) });
    // A HoneError means the setup is wrong (e.g. the search space), not this trial: stop.
    if (e instanceof HoneError) throw e;
    return 'told';
  }
  await study.tell(trial, result, { skipIfFinished: true });
  return 'told';
}

/** Fails an interrupted trial (reason 'interrupted by …') and enqueues a copy with its params at once. */
async function requeueInterrupted(storage: Storage, study: Study, trial: Trial, reason: string): Promise<void> {
  trial.setSystemAttr('interrupted', reason);
  await study.tell(trial, 'fail', { skipIfFinished: true, failReason: `interrupted by ${reason}; re-queued with the same params` });
  await retryFailedTrial(storage, trial.id);
}

/** What `isExhausted` needs: the study's trials as of its last ask/tell (a grid counts taken points). */
function samplerView(study: Study): StudyView {
  return { name: study.name, directions: study.directions, trials: study.trials, setTrialSystemAttr: () => undefined };
}

/** Fails trials whose worker went silent; enqueues retries (up to `retries` per original trial). */
async function reapStale(storage: Storage, study: Study, graceS: number, retries: number): Promise<void> {
  const failed = await storage.failStaleTrials(study.id, graceS);
  if (retries === 0) return;
  for (const id of failed) {
    const t = await storage.getTrial(id);
    const attempt = Number(t.systemAttrs.retry_count ?? 0);
    if (attempt < retries) await retryFailedTrial(storage, id);
  }
}

/**
 * `storage` with trial creation limited to `limit` trials in a study (see coordination.ts for what
 * counts). Everything else passes through.
 */
export function withTrialBudget(storage: Storage, limit: number): Storage {
  if (limit === Number.POSITIVE_INFINITY) return storage;
  return new Proxy(storage, {
    get(target, prop) {
      if (prop === 'createTrial') {
        return async (studyId: number, template?: Parameters<Storage['createTrial']>[1]) => {
          const t = await createTrialWithinBudget(target, studyId, limit, { state: 'running', ...template });
          if (!t) throw new BudgetSpent(`study has its ${limit} trials`);
          return t;
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
