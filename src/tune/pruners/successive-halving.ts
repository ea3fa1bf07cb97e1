import { badInput } from '../../errors.js';
import { lastStep, type StudyView } from '../samplers/base.js';
import type { FrozenTrial } from '../types.js';
import type { Pruner } from './base.js';

export interface SuccessiveHalvingOptions {
  /** Steps before the first rung; 'auto' = max(last step of the first completed trials / 100, 1). Default 'auto'. */
  minResource?: number | 'auto';
  /** η: the top 1/η of a rung is promoted. Default 4. */
  reductionFactor?: number;
  /** s: the first rung sits at minResource·η^s. Default 0. */
  minEarlyStoppingRate?: number;
  /** Prune until a rung has more than this many values. Default 0. */
  bootstrapCount?: number;
}

/**
 * Asynchronous successive halving (ASHA; Optuna's SuccessiveHalvingPruner). When a trial reaches rung k
 * (step ≥ minResource·η^(s+k)) its value is stored in its system attrs as `completed_rung_k`; it goes on
 * only if that value is in the top 1/η of all values recorded at rung k so far.
 */
export class SuccessiveHalvingPruner implements Pruner {
  private minResource: number | undefined;
  private readonly reductionFactor: number;
  private readonly minEarlyStoppingRate: number;
  private readonly bootstrapCount: number;

  constructor(opts: SuccessiveHalvingOptions = {}) {
    const mr = opts.minResource ?? 'auto';
    if (mr !== 'auto' && !(Number.isInteger(mr) && mr >= 1)) throw badInput(`minResource must be an integer ≥ 1 or 'auto' (got ${mr})`);
    this.minResource = mr === 'auto' ? undefined : mr;
    this.reductionFactor = opts.reductionFactor ?? 4;
    this.minEarlyStoppingRate = opts.minEarlyStoppingRate ?? 0;
    this.bootstrapCount = opts.bootstrapCount ?? 0;
    if (!(this.reductionFactor >= 2)) throw badInput(`reductionFactor must be ≥ 2 (got ${this.reductionFactor})`);
    if (!(Number.isInteger(this.minEarlyStoppingRate) && this.minEarlyStoppingRate >= 0)) {
      throw badInput(`minEarlyStoppingRate must be an integer ≥ 0 (got ${this.minEarlyStoppingRate})`);
    }
    if (!(Number.isInteger(this.bootstrapCount) && this.bootstrapCount >= 0)) {
      throw badInput(`bootstrapCount must be an integer ≥ 0 (got ${this.bootstrapCount})`);
    }
  }

  prune(study: StudyView, trial: FrozenTrial): boolean {
    const step = lastStep(trial);
    if (step === undefined) return false;
    let rung = 0;
    while (rungKey(rung) in trial.systemAttrs) rung++;
    const value = trial.intermediateValues[step]!;
    const others = study.trials.filter((t) => t.id !== trial.id);
    if (this.minResource === undefined) {
      this.minResource = estimateMinResource(others);
      if (this.minResource === undefined) return false;
    }
    for (;;) {
      const promotionStep = this.minResource * this.reductionFactor ** (this.minEarlyStoppingRate + rung);
      if (step < promotionStep) return false;
      if (Number.isNaN(value)) return true;
      const key = rungKey(rung);
      study.setTrialSystemAttr(trial, key, value);
      const competing = others.filter((t) => key in t.systemAttrs).map((t) => t.systemAttrs[key] as number);
      competing.push(value);
      if (competing.length <= this.bootstrapCount) return true;
      if (!promotable(value, competing, this.reductionFactor, study.directions[0] === 'maximize')) return true;
      rung++;
    }
  }
}

export function rungKey(rung: number): string {
  return `completed_rung_${rung}`;
}

function estimateMinResource(trials: FrozenTrial[]): number | undefined {
  let last: number | undefined;
  for (const t of trials) {
    if (t.state !== 'complete') continue;
    const s = lastStep(t);
    if (s !== undefined && (last === undefined || s > last)) last = s;
  }
  return last === undefined ? undefined : Math.max(Math.floor(last / 100), 1);
}

function promotable(value: number, competing: number[], eta: number, maximize: boolean): boolean {
  let idx = Math.floor(competing.length / eta) - 1;
  // Trials cannot be paused and resumed, so among the first η−1 only the best one goes on.
  if (idx === -1) idx = 0;
  competing.sort((a, b) => a - b);
  return maximize ? value >= competing[competing.length - 1 - idx]! : value <= competing[idx]!;
}
