import { badInput } from '../../errors.js';
import { lastStep, type StudyView } from '../samplers/base.js';
import type { FrozenTrial } from '../types.js';
import type { Pruner } from './base.js';

export interface PercentilePrunerOptions {
  /** No pruning until this many trials completed. Default 5. */
  nStartupTrials?: number;
  /** No pruning before this step. Default 0. */
  nWarmupSteps?: number;
  /** Prune only at warmup + k·interval. Default 1. */
  intervalSteps?: number;
  /** At least this many completed trials must have reported the step. Default 1. */
  nMinTrials?: number;
}

/**
 * Prunes a trial whose best value so far is worse than the given percentile of the completed trials'
 * values at the same step (Optuna's PercentilePruner, same rules).
 */
export class PercentilePruner implements Pruner {
  private readonly nStartupTrials: number;
  private readonly nWarmupSteps: number;
  private readonly intervalSteps: number;
  private readonly nMinTrials: number;

  constructor(
    private readonly percentile: number,
    opts: PercentilePrunerOptions = {},
  ) {
    if (!(percentile >= 0 && percentile <= 100)) throw badInput(`percentile must be in [0, 100] (got ${percentile})`);
    this.nStartupTrials = opts.nStartupTrials ?? 5;
    this.nWarmupSteps = opts.nWarmupSteps ?? 0;
    this.intervalSteps = opts.intervalSteps ?? 1;
    this.nMinTrials = opts.nMinTrials ?? 1;
    if (this.nStartupTrials < 0 || this.nWarmupSteps < 0) throw badInput('nStartupTrials and nWarmupSteps must be ≥ 0');
    if (this.intervalSteps < 1 || this.nMinTrials < 1) throw badInput('intervalSteps and nMinTrials must be ≥ 1');
  }

  prune(study: StudyView, trial: FrozenTrial): boolean {
    const completed = study.trials.filter((t) => t.state === 'complete' && t.id !== trial.id);
    if (completed.length === 0 || completed.length < this.nStartupTrials) return false;
    const step = lastStep(trial);
    if (step === undefined || step < this.nWarmupSteps) return false;
    if (!isFirstInIntervalStep(step, Object.keys(trial.intermediateValues).map(Number), this.nWarmupSteps, this.intervalSteps)) {
      return false;
    }
    const maximize = study.directions[0] === 'maximize';
    const best = bestIntermediate(trial, maximize);
    if (Number.isNaN(best)) return true;
    const atStep = completed.map((t) => t.intermediateValues[step]).filter((v): v is number => v !== undefined && !Number.isNaN(v));
    if (atStep.length < this.nMinTrials) return false;
    const p = percentileOf(atStep, maximize ? 100 - this.percentile : this.percentile);
    return maximize ? best < p : best > p;
  }
}

/** Prunes trials worse than the median of completed trials at the same step. */
export class MedianPruner extends PercentilePruner {
  constructor(opts: PercentilePrunerOptions = {}) {
    super(50, opts);
  }
}

/** True when no earlier report of this trial falls in the current interval (so each interval prunes once). */
function isFirstInIntervalStep(step: number, steps: number[], warmup: number, interval: number): boolean {
  const nearestLower = Math.floor((step - warmup) / interval) * interval + warmup;
  let secondLast = -1;
  for (const s of steps) if (s > secondLast && s !== step) secondLast = s;
  return secondLast < nearestLower;
}

function bestIntermediate(trial: FrozenTrial, maximize: boolean): number {
  const vs = Object.values(trial.intermediateValues).filter((v) => !Number.isNaN(v));
  if (vs.length === 0) return NaN;
  return maximize ? Math.max(...vs) : Math.min(...vs);
}

/** numpy.percentile with linear interpolation. */
export function percentileOf(values: number[], q: number): number {
  const xs = [...values].sort((a, b) => a - b);
  const pos = (q / 100) * (xs.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(xs.length - 1, lo + 1);
  return xs[lo]! + (xs[hi]! - xs[lo]!) * (pos - lo);
}
