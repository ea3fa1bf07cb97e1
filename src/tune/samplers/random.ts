import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import type { Sampler, StudyView } from './base.js';
import { Rng } from './rng.js';

/** Independent uniform sampling (log-uniform for log scales), seeded. */
export class RandomSampler implements Sampler {
  private rng: Rng;

  constructor(opts: { seed?: number } = {}) {
    this.rng = new Rng(opts.seed);
  }

  inferRelativeSearchSpace(): Record<string, Distribution> {
    return {};
  }

  sampleRelative(): Record<string, ParamValue> {
    return {};
  }

  sampleIndependent(_study: StudyView, _trial: FrozenTrial, _name: string, d: Distribution): ParamValue {
    return sampleUniform(this.rng, d);
  }
}

/** One draw from `d`: a step grid is sampled as the nearest grid point of a uniform draw over the widened range. */
export function sampleUniform(rng: Rng, d: Distribution): ParamValue {
  if (d.type === 'categorical') return d.choices[rng.int(d.choices.length)]!;
  if (d.log) {
    const lo = d.type === 'int' ? Math.log(d.low - 0.5) : Math.log(d.low);
    const hi = d.type === 'int' ? Math.log(d.high + 0.5) : Math.log(d.high);
    const v = Math.exp(rng.uniform(lo, hi));
    return d.type === 'int' ? Math.min(d.high, Math.max(d.low, Math.round(v))) : Math.min(d.high, Math.max(d.low, v));
  }
  const step = d.step;
  if (step === undefined) return rng.uniform(d.low, d.high);
  const n = Math.round((d.high - d.low) / step) + 1;
  const v = d.low + rng.int(n) * step;
  return d.type === 'int' ? v : Number(v.toPrecision(15));
}
