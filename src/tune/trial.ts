import { badInput } from '../errors.js';
import { checkCompatible, contains, distributionsEqual, isSingle, snap, validateDistribution } from './distributions.js';
import type { Pruner } from './pruners/base.js';
import type { Sampler, StudyView } from './samplers/base.js';
import type { Storage } from './storage/storage.js';
import type { Distribution, FrozenTrial, ParamValue } from './types.js';

/** Throw this from an objective to end the trial as pruned (after `trial.shouldPrune()` said so). */
export class TrialPruned extends Error {
  override readonly name = 'TrialPruned';
  constructor(message = 'trial was pruned') {
    super(message);
  }
}

/**
 * One running trial, handed to the objective (define-by-run): each `suggest*` call defines a parameter
 * and returns its value. Calls are synchronous; writes to the storage are queued in order and awaited
 * by the study before the trial is finished, so no write is lost.
 */
export class Trial {
  private readonly t: FrozenTrial;
  private pending: Promise<void> = Promise.resolve();
  private writeError: unknown;
  private refreshing = false;

  /** @internal Built by `Study.ask`. */
  constructor(
    private readonly ctx: TrialContext,
    frozen: FrozenTrial,
    private readonly relativeParams: Record<string, ParamValue>,
    private readonly relativeSpace: Record<string, Distribution>,
  ) {
    this.t = structuredClone(frozen);
  }

  get number(): number {
    return this.t.number;
  }

  /** The trial's id in the storage. */
  get id(): number {
    return this.t.id;
  }

  get params(): Readonly<Record<string, ParamValue>> {
    return this.t.params;
  }

  get distributions(): Readonly<Record<string, Distribution>> {
    return this.t.distributions;
  }

  get userAttrs(): Readonly<Record<string, unknown>> {
    return this.t.userAttrs;
  }

  /** The study's other trials as they were when this one started (an objective may learn from them: NAS's latency model). */
  get studyTrials(): readonly FrozenTrial[] {
    return this.ctx.view.trials;
  }

  get systemAttrs(): Readonly<Record<string, unknown>> {
    return this.t.systemAttrs;
  }

  suggestFloat(name: string, low: number, high: number, opts: { step?: number; log?: boolean } = {}): number {
    return this.suggest(name, {
      type: 'float',
      low,
      high,
      log: opts.log ?? false,
      ...(opts.step !== undefined ? { step: opts.step } : {}),
    }) as number;
  }

  suggestInt(name: string, low: number, high: number, opts: { step?: number; log?: boolean } = {}): number {
    return this.suggest(name, { type: 'int', low, high, log: opts.log ?? false, step: opts.step ?? 1 }) as number;
  }

  suggestCategorical<T extends ParamValue>(name: string, choices: readonly T[]): T {
    return this.suggest(name, { type: 'categorical', choices: [...choices] }) as T;
  }

  /** Defines a parameter by its distribution (the CLI's search-space files use this). */
  suggest(name: string, distribution: Distribution): ParamValue {
    const d = validateDistribution(name, distribution);
    const prev = this.t.distributions[name];
    if (prev) {
      checkCompatible(name, prev, d);
      return this.t.params[name]!;
    }
    this.ctx.checkDistribution(name, d);
    const fixed = (this.t.systemAttrs.fixed_params as Record<string, ParamValue> | undefined)?.[name];
    let v: ParamValue;
    if (isSingle(d)) v = d.type === 'categorical' ? d.choices[0]! : d.low;
    else if (fixed !== undefined && contains(d, fixed)) v = fixed;
    else if (name in this.relativeParams && this.relativeSpace[name] && distributionsEqual(this.relativeSpace[name], d)) {
      v = this.relativeParams[name]!;
    } else v = this.ctx.sampler.sampleIndependent(this.ctx.view, this.t, name, d);
    if (d.type !== 'categorical') v = snap(d, v as number);
    this.t.params[name] = v;
    this.t.distributions[name] = d;
    this.write((s) => s.setTrialParam(this.t.id, name, v, d));
    return v;
  }

  /** Records an intermediate objective value at `step` (an integer ≥ 0); the first report of a step wins. */
  report(value: number, step: number): void {
    if (!Number.isInteger(step) || step < 0) throw badInput(`trial.report: step must be an integer ≥ 0 (got ${step})`);
    if (typeof value !== 'number') throw badInput(`trial.report: value must be a number (got ${typeof value})`);
    if (this.ctx.directions.length > 1) {
      throw badInput('trial.report is for single-objective studies; multi-objective trials cannot be pruned');
    }
    if (step in this.t.intermediateValues) return;
    this.t.intermediateValues[step] = value;
    this.write((s) => s.setTrialIntermediateValue(this.t.id, step, value));
    this.refreshView();
  }

  /** Asks the study's pruner whether this trial should stop now (from the values reported so far). */
  shouldPrune(): boolean {
    if (this.ctx.directions.length > 1) {
      throw badInput('trial.shouldPrune is not supported for multi-objective studies; drop the pruning check');
    }
    return this.ctx.pruner.prune(this.ctx.view, this.t);
  }

  setUserAttr(key: string, value: unknown): void {
    this.t.userAttrs[key] = structuredClone(value);
    this.write((s) => s.setTrialUserAttr(this.t.id, key, value));
  }

  /** System attributes are for samplers, pruners and the study; objectives should use `setUserAttr`. */
  setSystemAttr(key: string, value: unknown): void {
    this.t.systemAttrs[key] = structuredClone(value);
    this.write((s) => s.setTrialSystemAttr(this.t.id, key, value));
  }

  /** @internal Resolves when every queued write reached the storage; rethrows the first failed write. */
  async flush(): Promise<void> {
    await this.pending;
    if (this.writeError !== undefined) throw this.writeError;
  }

  /** @internal The trial as this process knows it (a copy). */
  snapshot(): FrozenTrial {
    return structuredClone(this.t);
  }

  private write(op: (s: Storage) => Promise<unknown>): void {
    this.pending = this.pending
      .then(() => op(this.ctx.storage).then(() => undefined))
      .catch((e) => {
        this.writeError ??= e;
      });
  }

  /** Pruners compare with other trials: refresh their view in the background after each report. */
  private refreshView(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    this.ctx
      .refreshTrials()
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = false;
      });
  }
}

/** @internal What a trial needs from its study. */
export interface TrialContext {
  storage: Storage;
  sampler: Sampler;
  pruner: Pruner;
  directions: readonly string[];
  view: StudyView;
  /** Throws if `name` was defined differently elsewhere in the study. */
  checkDistribution(name: string, d: Distribution): void;
  refreshTrials(): Promise<void>;
}
