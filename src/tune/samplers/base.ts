import { distributionsEqual } from '../distributions.js';
import type { Direction, Distribution, FrozenTrial, ParamValue, TrialState } from '../types.js';

/**
 * The sampler interface, Optuna's: a sampler may sample several parameters jointly ("relative", once per
 * trial, before the objective runs) and samples any other parameter alone ("independent", at the moment
 * the objective asks for it). Methods are synchronous: the study hands them a snapshot of the study's
 * trials taken when the trial started, so `suggestFloat` can be synchronous over an async storage.
 */
export interface Sampler {
  /** Parameters to sample jointly for `trial` (empty: everything independent). */
  inferRelativeSearchSpace(study: StudyView, trial: FrozenTrial): Record<string, Distribution>;
  /** Values (external form) for some or all of `space`; the rest are sampled independently. */
  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue>;
  sampleIndependent(study: StudyView, trial: FrozenTrial, name: string, distribution: Distribution): ParamValue;
  beforeTrial?(study: StudyView, trial: FrozenTrial): void;
  /** Called before the trial's final state is stored (Optuna's after_trial). */
  afterTrial?(study: StudyView, trial: FrozenTrial, state: TrialState, values: number[] | undefined): void;
  /** True when the sampler has nothing left to propose (a finished grid): `optimize` stops. */
  isExhausted?(study: StudyView): boolean;
}

/** What a sampler or pruner sees of the study. */
export interface StudyView {
  readonly name: string;
  readonly directions: Direction[];
  /** All trials of the study (any state) when the current trial started, in number order. */
  readonly trials: readonly FrozenTrial[];
  /** Stores a system attribute on a trial of this study (e.g. a CMA-ES generation). */
  setTrialSystemAttr(trial: FrozenTrial, key: string, value: unknown): void;
}

/** Trials in `states`, in number order. */
export function trialsIn(study: StudyView, states: TrialState[]): FrozenTrial[] {
  return study.trials.filter((t) => states.includes(t.state));
}

/** Objective values turned into "lower is better" for each direction. */
export function lossValues(study: StudyView, values: number[]): number[] {
  return values.map((v, i) => (study.directions[i] === 'maximize' ? -v : v));
}

/** Sum of positive constraint values (0 = feasible); Infinity when the trial has no constraints stored. */
export function constraintViolation(trial: FrozenTrial): number {
  const c = trial.systemAttrs.constraints;
  if (!Array.isArray(c)) return Infinity;
  let s = 0;
  for (const v of c as number[]) s += v > 0 ? v : Number.isNaN(v) ? Infinity : 0;
  return s;
}

export function hasConstraints(study: StudyView): boolean {
  return study.trials.some((t) => Array.isArray(t.systemAttrs.constraints));
}

/**
 * The intersection of the distributions of all complete (and pruned) trials: parameters every one of them
 * had, with one and the same distribution (Optuna's IntersectionSearchSpace). Single-valued ones are left out.
 */
export function intersectionSearchSpace(trials: readonly FrozenTrial[], includePruned = true): Record<string, Distribution> {
  let space: Record<string, Distribution> | undefined;
  for (const t of trials) {
    if (!(t.state === 'complete' || (includePruned && t.state === 'pruned'))) continue;
    if (!space) {
      space = { ...t.distributions };
      continue;
    }
    for (const name of Object.keys(space)) {
      const d = t.distributions[name];
      if (!d || !distributionsEqual(d, space[name]!)) delete space[name];
    }
  }
  const out: Record<string, Distribution> = {};
  for (const name of Object.keys(space ?? {}).sort()) {
    const d = space![name]!;
    if (d.type === 'categorical' ? d.choices.length > 1 : d.low !== d.high) out[name] = d;
  }
  return out;
}

/** Last reported step of a trial, or undefined. */
export function lastStep(trial: FrozenTrial): number | undefined {
  let last: number | undefined;
  for (const k of Object.keys(trial.intermediateValues)) {
    const s = Number(k);
    if (last === undefined || s > last) last = s;
  }
  return last;
}
