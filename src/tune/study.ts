import { badInput, errorMessage, HoneError } from '../errors.js';
import { checkCompatible, contains, validateDistribution } from './distributions.js';
import type { Pruner } from './pruners/base.js';
import { MedianPruner } from './pruners/percentile.js';
import { constraintViolation, type Sampler, type StudyView } from './samplers/base.js';
import { AutoSampler } from './samplers/auto.js';
import { InMemoryStorage } from './storage/memory.js';
import type { Storage } from './storage/storage.js';
import { Trial, TrialPruned, type TrialContext } from './trial.js';
import type { Direction, Distribution, FrozenTrial, ParamValue, TrialState } from './types.js';

export interface CreateStudyOptions {
  /** Default: a generated unique name. */
  name?: string;
  direction?: Direction;
  /** One per objective (multi-objective); excludes `direction`. */
  directions?: Direction[];
  /** Default: the auto sampler (TPE, GP or multi-objective TPE, chosen per trial). */
  sampler?: Sampler;
  /** Default: MedianPruner. */
  pruner?: Pruner;
  /** Default: a new in-memory storage. */
  storage?: Storage;
  loadIfExists?: boolean;
  /**
   * Constraints of a finished trial: values ≤ 0 are satisfied. Stored in its systemAttrs.constraints;
   * TPE and NSGA-II prefer feasible trials and `bestTrial` considers feasible trials only.
   */
  constraintsFunc?: (trial: FrozenTrial) => number[];
}

export type Objective = (trial: Trial) => number | number[] | Promise<number | number[]>;

export interface OptimizeOptions {
  /** Trials to run in this call (default: until timeout, `stop()` or an exhausted sampler). */
  nTrials?: number;
  /** No new trial starts after this many seconds. */
  timeoutS?: number;
  /** Trials run at once in this process (objectives are async). Default 1. */
  concurrency?: number;
  /**
   * Which objective errors fail the trial and let the study go on (default: all but HoneError, which means
   * the search space itself is wrong and ends `optimize`). Return false to fail the trial and rethrow.
   */
  catch?: (error: unknown) => boolean;
  /** Called after each finished trial. */
  callbacks?: ((study: Study, trial: FrozenTrial) => void | Promise<void>)[];
  /** Heartbeats for multi-process workers: beat every intervalS; trials silent for graceS are failed at the next ask. */
  heartbeat?: { intervalS: number; graceS: number };
}

export async function createStudy(opts: CreateStudyOptions = {}): Promise<Study> {
  if (opts.direction && opts.directions) throw badInput('give either direction or directions, not both');
  const directions = opts.directions ?? [opts.direction ?? 'minimize'];
  if (directions.length === 0) throw badInput('directions is empty; give at least one direction');
  for (const d of directions) {
    if (d !== 'minimize' && d !== 'maximize') throw badInput(`direction '${String(d)}' is not 'minimize' or 'maximize'`);
  }
  const storage = opts.storage ?? new InMemoryStorage();
  const name = opts.name ?? `study-${Date.now().toString(36)}-${Math.floor(Math.random() * 36 ** 6).toString(36)}`;
  const id = await storage.createStudy(name, directions, { loadIfExists: opts.loadIfExists });
  const summary = await storage.getStudy(id);
  const study = new Study(storage, id, name, summary.directions, opts);
  await study.refresh();
  return study;
}

export async function loadStudy(
  opts: { name: string; storage: Storage } & Pick<CreateStudyOptions, 'sampler' | 'pruner' | 'constraintsFunc'>,
): Promise<Study> {
  const id = await opts.storage.getStudyId(opts.name);
  if (id === undefined) throw badInput(`study '${opts.name}' does not exist in this storage; create it first or check the name`);
  const summary = await opts.storage.getStudy(id);
  const study = new Study(opts.storage, id, opts.name, summary.directions, opts);
  await study.refresh();
  return study;
}

/**
 * A study: the trials of one optimization. Its getters (`trials`, `bestTrial`, …) read the snapshot
 * taken by the last ask/tell/optimize/refresh; `await study.refresh()` after other workers ran trials.
 */
export class Study {
  readonly sampler: Sampler;
  readonly pruner: Pruner;
  private readonly constraintsFunc?: (trial: FrozenTrial) => number[];
  private cache: FrozenTrial[] = [];
  private readonly live = new Map<number, Trial>();
  private readonly knownDistributions = new Map<string, Distribution>();
  private readonly learned = new Set<number>();
  private stopped = false;

  /** @internal Use createStudy / loadStudy. */
  constructor(
    readonly storage: Storage,
    readonly id: number,
    readonly name: string,
    readonly directions: Direction[],
    opts: Pick<CreateStudyOptions, 'sampler' | 'pruner' | 'constraintsFunc'>,
  ) {
    this.sampler = opts.sampler ?? new AutoSampler();
    this.pruner = opts.pruner ?? new MedianPruner();
    this.constraintsFunc = opts.constraintsFunc;
  }

  get direction(): Direction {
    if (this.directions.length > 1) throw badInput(`study '${this.name}' has several objectives; use directions`);
    return this.directions[0]!;
  }

  /** All trials, in number order (snapshot). */
  get trials(): FrozenTrial[] {
    return this.cache;
  }

  /** The best complete (and feasible, when constraints are used) trial of a single-objective study. */
  get bestTrial(): FrozenTrial {
    const maximize = this.direction === 'maximize';
    let best: FrozenTrial | undefined;
    for (const t of this.candidates()) {
      const v = t.values![0]!;
      if (!best || (maximize ? v > best.values![0]! : v < best.values![0]!)) best = t;
    }
    if (!best)
      throw badInput(`study '${this.name}' has no complete${this.usesConstraints() ? ' feasible' : ''} trial yet; run trials first`);
    return best;
  }

  get bestValue(): number {
    return this.bestTrial.values![0]!;
  }

  get bestParams(): Record<string, ParamValue> {
    return this.bestTrial.params;
  }

  /** The Pareto front: complete (feasible) trials no other trial dominates. */
  get bestTrials(): FrozenTrial[] {
    const ts = this.candidates();
    const loss = ts.map((t) => t.values!.map((v, i) => (this.directions[i] === 'maximize' ? -v : v)));
    return ts.filter((_, i) => !loss.some((o, j) => j !== i && dominates(o, loss[i]!)));
  }

  /** Stops `optimize` after the running trials finish. */
  stop(): void {
    this.stopped = true;
  }

  async refresh(): Promise<void> {
    this.cache = await this.storage.getAllTrials(this.id);
    for (const t of this.cache) this.learnDistributions(t);
  }

  async getTrials(states?: TrialState[]): Promise<FrozenTrial[]> {
    await this.refresh();
    return states ? this.cache.filter((t) => states.includes(t.state)) : this.cache;
  }

  async setUserAttr(key: string, value: unknown): Promise<void> {
    await this.storage.setStudyUserAttr(this.id, key, value);
  }

  /** Adds a trial with fixed parameter values; the next `ask` runs it before sampling new ones. */
  async enqueueTrial(
    params: Record<string, ParamValue>,
    opts: { userAttrs?: Record<string, unknown>; skipIfExists?: boolean } = {},
  ): Promise<void> {
    if (opts.skipIfExists) {
      await this.refresh();
      const same = (t: FrozenTrial) => {
        const fixed = (t.systemAttrs.fixed_params as Record<string, ParamValue> | undefined) ?? t.params;
        const keys = Object.keys(params);
        return keys.length === Object.keys(fixed).length && keys.every((k) => fixed[k] === params[k]);
      };
      if (this.cache.some(same)) return;
    }
    await this.storage.createTrial(this.id, {
      state: 'waiting',
      userAttrs: opts.userAttrs ?? {},
      systemAttrs: { fixed_params: { ...params } },
    });
  }

  /**
   * Starts a trial (an enqueued one first) for the ask-and-tell interface. `fixedDistributions` are
   * suggested at once, so `trial.params` holds them on return.
   */
  async ask(fixedDistributions: Record<string, Distribution> = {}): Promise<Trial> {
    const checked = Object.entries(fixedDistributions).map(([n, d]) => [n, validateDistribution(n, d)] as const);
    const frozen = structuredClone(
      (await this.storage.popWaitingTrial(this.id)) ?? (await this.storage.createTrial(this.id, { state: 'running' })),
    );
    await this.refresh();
    const view = this.view(frozen.id);
    this.sampler.beforeTrial?.(view, frozen);
    const space = this.sampler.inferRelativeSearchSpace(view, frozen);
    const relative = Object.keys(space).length ? this.sampler.sampleRelative(view, frozen, space) : {};
    await Promise.all(view.writes);
    for (const [name, v] of Object.entries(relative)) {
      if (!space[name] || !contains(space[name], v)) {
        throw new HoneError(`sampler returned ${JSON.stringify(v)} for '${name}', outside its distribution`, 1);
      }
    }
    const ctx: TrialContext = {
      storage: this.storage,
      sampler: this.sampler,
      pruner: this.pruner,
      directions: this.directions,
      view,
      checkDistribution: (name, d) => {
        const prev = this.knownDistributions.get(name);
        if (prev) checkCompatible(name, prev, d);
        else this.knownDistributions.set(name, d);
      },
      refreshTrials: async () => {
        (view as { trials: readonly FrozenTrial[] }).trials = await this.storage.getAllTrials(this.id);
      },
    };
    const trial = new Trial(ctx, frozen, relative, space);
    view.current = trial;
    this.live.set(trial.number, trial);
    for (const [name, d] of checked) trial.suggest(name, d);
    return trial;
  }

  /**
   * Finishes a trial: with values (one number per objective) it completes, or give a state
   * ('pruned' | 'fail'). NaN or a wrong number of values fails the trial. Returns the stored trial.
   */
  async tell(
    trialOrNumber: Trial | number,
    result: number | number[] | TrialState,
    opts: { skipIfFinished?: boolean; failReason?: string; pruneReason?: string } = {},
  ): Promise<FrozenTrial> {
    const number = typeof trialOrNumber === 'number' ? trialOrNumber : trialOrNumber.number;
    const live = typeof trialOrNumber === 'number' ? this.live.get(number) : trialOrNumber;
    let frozen: FrozenTrial;
    if (live) {
      await live.flush();
      frozen = live.snapshot();
    } else {
      const found = (await this.storage.getAllTrials(this.id)).find((t) => t.number === number);
      if (!found) throw badInput(`study '${this.name}' has no trial number ${number}`);
      frozen = structuredClone(found);
    }
    this.live.delete(number);
    const stored = await this.storage.getTrial(frozen.id);
    if (stored.state !== 'running' && stored.state !== 'waiting') {
      if (opts.skipIfFinished) return stored;
      throw badInput(`trial ${number} is already finished (${stored.state}); tell each trial once`);
    }

    let state: TrialState;
    let values: number[] | undefined;
    let failReason = opts.failReason;
    if (typeof result === 'string') {
      if (!['complete', 'pruned', 'fail'].includes(result)) throw badInput(`cannot tell state '${result}'; use complete, pruned or fail`);
      if (result === 'complete') throw badInput('tell a complete trial with its values, not the state');
      state = result;
    } else {
      // Objectives are untyped at run time: anything but a number or an array of numbers fails the trial.
      values = typeof result === 'number' ? [result] : Array.isArray(result) ? [...result] : [];
      state = 'complete';
      if (values.length !== this.directions.length || values.some((v) => typeof v !== 'number')) {
        failReason = `objective returned ${JSON.stringify(result)}; expected ${this.directions.length} number(s), one per direction`;
        state = 'fail';
        values = undefined;
      } else if (values.some(Number.isNaN)) {
        failReason = `objective returned NaN (${JSON.stringify(result)})`;
        state = 'fail';
        values = undefined;
      }
    }
    if (state === 'pruned' && this.directions.length === 1) {
      const steps = Object.keys(frozen.intermediateValues).map(Number);
      if (steps.length) {
        const v = frozen.intermediateValues[Math.max(...steps)]!;
        if (!Number.isNaN(v)) values = [v];
      }
    }
    frozen.state = state;
    frozen.values = values;
    if (this.constraintsFunc && (state === 'complete' || state === 'pruned')) {
      try {
        const c = this.constraintsFunc(frozen);
        if (!Array.isArray(c) || c.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
          throw new Error(`constraintsFunc returned ${JSON.stringify(c)}; return an array of numbers`);
        }
        frozen.systemAttrs.constraints = [...c];
        await this.storage.setTrialSystemAttr(frozen.id, 'constraints', c);
      } catch (e) {
        failReason = `constraintsFunc failed: ${errorMessage(e)}`;
        state = frozen.state = 'fail';
        values = frozen.values = undefined;
      }
    }
    if (opts.pruneReason !== undefined && state === 'pruned') {
      frozen.systemAttrs.prune_reason = opts.pruneReason;
      await this.storage.setTrialSystemAttr(frozen.id, 'prune_reason', opts.pruneReason);
    }
    if (failReason !== undefined && state === 'fail') {
      frozen.systemAttrs.fail_reason = failReason;
      await this.storage.setTrialSystemAttr(frozen.id, 'fail_reason', failReason);
    }
    this.sampler.afterTrial?.(this.view(frozen.id), frozen, state, values);
    await this.storage.setTrialState(frozen.id, state, values);
    const final = await this.storage.getTrial(frozen.id);
    const i = this.cache.findIndex((t) => t.id === final.id);
    if (i >= 0) this.cache[i] = final;
    else this.cache = await this.storage.getAllTrials(this.id);
    return final;
  }

  /** Runs the objective on new trials until nTrials / timeout / stop; a failing objective fails only its trial. */
  async optimize(objective: Objective, opts: OptimizeOptions = {}): Promise<void> {
    const concurrency = opts.concurrency ?? 1;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw badInput(`concurrency must be an integer ≥ 1 (got ${concurrency})`);
    if (opts.nTrials !== undefined && !(Number.isInteger(opts.nTrials) && opts.nTrials >= 0)) {
      throw badInput(`nTrials must be an integer ≥ 0 (got ${opts.nTrials})`);
    }
    if (opts.timeoutS !== undefined && !(opts.timeoutS > 0)) throw badInput(`timeoutS must be > 0 (got ${opts.timeoutS})`);
    const deadline = opts.timeoutS === undefined ? Infinity : Date.now() + opts.timeoutS * 1000;
    const catchFn = opts.catch ?? ((e: unknown) => !(e instanceof HoneError));
    this.stopped = false;
    let started = 0;
    let fatal: { error: unknown } | undefined;

    const worker = async () => {
      while (!this.stopped && !fatal && (opts.nTrials === undefined || started < opts.nTrials) && Date.now() < deadline) {
        if (this.sampler.isExhausted?.(this.view(-1))) break;
        started++;
        if (opts.heartbeat) await this.storage.failStaleTrials(this.id, opts.heartbeat.graceS);
        const trial = await this.ask();
        const beat = opts.heartbeat
          ? setInterval(() => void this.storage.recordHeartbeat(trial.id).catch(() => undefined), opts.heartbeat.intervalS * 1000)
          : undefined;
        beat?.unref();
        let finished: FrozenTrial;
        try {
          finished = await this.runOne(objective, trial, catchFn);
        } catch (error) {
          fatal ??= { error };
          break;
        } finally {
          if (beat) clearInterval(beat);
        }
        for (const cb of opts.callbacks ?? []) await cb(this, finished);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, () => worker().catch((error) => void (fatal ??= { error }))));
    await this.refresh();
    if (fatal) throw fatal.error;
  }

  private async runOne(objective: Objective, trial: Trial, catchFn: (e: unknown) => boolean): Promise<FrozenTrial> {
    let result: number | number[];
    try {
      result = await objective(trial);
    } catch (e) {
      if (e instanceof TrialPruned) return this.tell(trial, 'pruned', pruneReasonOf(e));
      const finished = await this.tell(trial, 'fail', { failReason: errorMessage(e) || String(e) });
      if (!catchFn(e)) throw e;
      return finished;
    }
    if (typeof result === 'number' || Array.isArray(result)) return this.tell(trial, result);
    const got = typeof result === 'string' ? JSON.stringify(result) : String(result);
    return this.tell(trial, 'fail', { failReason: `objective returned ${got}; return a number (one per direction)` });
  }

  /**
   * What the sampler and pruner of trial `currentId` see. Their attribute writes go through the live
   * trial's ordered write queue once it exists; before that (while `ask` samples) they are collected in
   * `writes`, which `ask` awaits.
   */
  private view(currentId: number): StudyView & { current?: Trial; writes: Promise<unknown>[] } {
    const storage = this.storage;
    const v: StudyView & { current?: Trial; writes: Promise<unknown>[] } = {
      name: this.name,
      directions: this.directions,
      trials: this.cache,
      writes: [],
      setTrialSystemAttr: (trial, key, value) => {
        if (trial.id === currentId && v.current) {
          v.current.setSystemAttr(key, value);
          return;
        }
        if (trial.id === currentId) (trial.systemAttrs as Record<string, unknown>)[key] = structuredClone(value);
        v.writes.push(storage.setTrialSystemAttr(trial.id, key, value));
      },
    };
    return v;
  }

  private candidates(): FrozenTrial[] {
    const complete = this.cache.filter((t) => t.state === 'complete' && t.values);
    return this.usesConstraints() ? complete.filter((t) => constraintViolation(t) === 0) : complete;
  }

  private usesConstraints(): boolean {
    return this.constraintsFunc !== undefined || this.cache.some((t) => Array.isArray(t.systemAttrs.constraints));
  }

  /** Records the parameter definitions of finished trials, once each (they no longer change). */
  private learnDistributions(t: FrozenTrial): void {
    if (this.learned.has(t.id)) return;
    if (t.state === 'complete' || t.state === 'pruned' || t.state === 'fail') this.learned.add(t.id);
    for (const [name, d] of Object.entries(t.distributions)) if (!this.knownDistributions.has(name)) this.knownDistributions.set(name, d);
  }
}

/** a dominates b (both "lower is better"). */
export function dominates(a: number[], b: number[]): boolean {
  let strictly = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > b[i]!) return false;
    if (a[i]! < b[i]!) strictly = true;
  }
  return strictly;
}

/** A TrialPruned's message as the trial's prune_reason, unless it is the default one (it says nothing). */
export function pruneReasonOf(e: TrialPruned): { pruneReason?: string } {
  return e.message && e.message !== new TrialPruned().message ? { pruneReason: e.message } : {};
}
