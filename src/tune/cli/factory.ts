import { badInput } from '../../errors.js';
import { NopPruner, type Pruner } from '../pruners/base.js';
import { HyperbandPruner } from '../pruners/hyperband.js';
import { MedianPruner, PercentilePruner } from '../pruners/percentile.js';
import { SuccessiveHalvingPruner } from '../pruners/successive-halving.js';
import type { Sampler } from '../samplers/base.js';
import { NSGAIISampler } from '../samplers/nsga2.js';
import { RandomSampler } from '../samplers/random.js';
import { TPESampler } from '../samplers/tpe.js';
import type { TuneConfig } from './config.js';

/**
 * Samplers and pruners by the names a config file uses. Options pass through to the constructors,
 * which check them. Workers of one study get different seeds (seed + worker index): the same seed in
 * every process would make them propose the same points.
 */
export function makeSampler(spec: TuneConfig['sampler'], workerIndex = 0): Sampler {
  const seed = spec.seed === undefined ? undefined : spec.seed + workerIndex;
  const opts = { ...spec.options, ...(seed !== undefined ? { seed } : {}) };
  switch (spec.name) {
    case 'random': return new RandomSampler(opts);
    case 'tpe': return new TPESampler(opts);
    case 'nsga2': return new NSGAIISampler(opts);
    default: throw badInput(`sampler '${spec.name}' is not available in hone tune yet; use random, tpe or nsga2`);
  }
}

export function makePruner(spec: TuneConfig['pruner']): Pruner {
  const o = spec.options;
  switch (spec.name) {
    case 'none': return new NopPruner();
    case 'median': return new MedianPruner(o);
    case 'percentile': {
      const p = o.percentile;
      if (typeof p !== 'number' || !(p > 0 && p < 100)) throw badInput(`pruner 'percentile' needs options.percentile between 0 and 100 (got ${JSON.stringify(p)})`);
      const { percentile: _, ...rest } = o;
      return new PercentilePruner(p, rest);
    }
    case 'successive-halving': return new SuccessiveHalvingPruner(o);
    case 'hyperband': return new HyperbandPruner(o);
  }
}
