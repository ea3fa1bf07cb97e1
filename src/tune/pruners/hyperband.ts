import { badInput } from '../../errors.js';
import { lastStep, type StudyView } from '../samplers/base.js';
import type { FrozenTrial } from '../types.js';
import type { Pruner } from './base.js';
import { SuccessiveHalvingPruner } from './successive-halving.js';

export interface HyperbandOptions {
  /** Default 1. */
  minResource?: number;
  /** Steps of a full trial; 'auto' = last step + 1 of the first completed trial. Default 'auto'. */
  maxResource?: number | 'auto';
  /** η. Default 3. */
  reductionFactor?: number;
  bootstrapCount?: number;
}

/**
 * Hyperband (Optuna's HyperbandPruner): several successive-halving brackets with different early-stopping
 * rates; each trial is assigned to a bracket by a hash of (study name, trial number), with bracket sizes
 * proportional to Hyperband's budgets, and competes only with trials of its own bracket.
 */
export class HyperbandPruner implements Pruner {
  private readonly minResource: number;
  private maxResource: number | undefined;
  private readonly eta: number;
  private readonly bootstrapCount: number;
  private brackets: SuccessiveHalvingPruner[] = [];
  private budgets: number[] = [];

  constructor(opts: HyperbandOptions = {}) {
    this.minResource = opts.minResource ?? 1;
    const mr = opts.maxResource ?? 'auto';
    this.maxResource = mr === 'auto' ? undefined : mr;
    this.eta = opts.reductionFactor ?? 3;
    this.bootstrapCount = opts.bootstrapCount ?? 0;
    if (!(this.minResource >= 1)) throw badInput(`minResource must be ≥ 1 (got ${this.minResource})`);
    if (this.maxResource !== undefined && !(this.maxResource >= this.minResource)) {
      throw badInput(`maxResource (${this.maxResource}) must be ≥ minResource (${this.minResource})`);
    }
    if (!(this.eta >= 2)) throw badInput(`reductionFactor must be ≥ 2 (got ${this.eta})`);
  }

  prune(study: StudyView, trial: FrozenTrial): boolean {
    if (this.brackets.length === 0) {
      if (this.maxResource === undefined) {
        const steps = study.trials
          .filter((t) => t.state === 'complete')
          .map(lastStep)
          .filter((s) => s !== undefined);
        if (steps.length === 0) return false;
        this.maxResource = Math.max(...(steps as number[])) + 1;
      }
      const n = Math.floor(Math.log(this.maxResource / this.minResource) / Math.log(this.eta) + 1e-9) + 1;
      for (let i = 0; i < n; i++) {
        const s = n - 1 - i;
        this.budgets.push(Math.ceil((n * this.eta ** s) / (s + 1)));
        this.brackets.push(
          new SuccessiveHalvingPruner({
            minResource: this.minResource,
            reductionFactor: this.eta,
            minEarlyStoppingRate: i,
            bootstrapCount: this.bootstrapCount,
          }),
        );
      }
    }
    const id = this.bracketOf(study.name, trial.number);
    const sameBracket: StudyView = {
      name: study.name,
      directions: study.directions,
      trials: study.trials.filter((t) => this.bracketOf(study.name, t.number) === id),
      setTrialSystemAttr: (t, k, v) => study.setTrialSystemAttr(t, k, v),
    };
    return this.brackets[id]!.prune(sameBracket, trial);
  }

  /** Bracket of a trial: a pure function of study name and number, so every worker agrees without storing it. */
  bracketOf(studyName: string, trialNumber: number): number {
    const total = this.budgets.reduce((a, b) => a + b, 0);
    let n = crc32(`${studyName}_${trialNumber}`) % total;
    for (let i = 0; i < this.budgets.length; i++) {
      n -= this.budgets[i]!;
      if (n < 0) return i;
    }
    return this.budgets.length - 1;
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the zlib one Optuna hashes with), over the UTF-8 bytes of `s`. */
export function crc32(s: string): number {
  let c = 0xffffffff;
  for (const b of Buffer.from(s, 'utf8')) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
