import { badInput } from '../../errors.js';
import { NopPruner, type Pruner } from '../pruners/base.js';
import { HyperbandPruner } from '../pruners/hyperband.js';
import { MedianPruner, PercentilePruner } from '../pruners/percentile.js';
import { SuccessiveHalvingPruner } from '../pruners/successive-halving.js';
import type { Sampler } from '../samplers/base.js';
import { CmaEsSampler } from '../samplers/cmaes.js';
import { GPSampler } from '../samplers/gp.js';
import { GridSampler } from '../samplers/grid.js';
import { NSGAIISampler } from '../samplers/nsga2.js';
import { QMCSampler } from '../samplers/qmc.js';
import { RandomSampler } from '../samplers/random.js';
import { TPESampler } from '../samplers/tpe.js';
import type { Distribution, ParamValue } from '../types.js';
import type { TuneConfig } from './config.js';

/**
 * Samplers and pruners by the names a config file uses. Options pass through to the constructors,
 * which check them. Workers of one study get different seeds (seed + worker index): the same seed in
 * every process would make them propose the same points.
 */
export function makeSampler(spec: TuneConfig['sampler'], space: Record<string, Distribution>, workerIndex = 0): Sampler {
  const seed = spec.seed === undefined ? undefined : spec.seed + workerIndex;
  const opts = { ...spec.options, ...(seed !== undefined ? { seed } : {}) };
  switch (spec.name) {
    case 'random': return new RandomSampler(opts);
    case 'tpe': return new TPESampler(opts);
    case 'nsga2': return new NSGAIISampler(opts);
    case 'gp': return new GPSampler(opts);
    case 'cmaes': return new CmaEsSampler(opts);
    case 'qmc': return new QMCSampler(opts);
    case 'grid': {
      // Every worker walks the same grid; the shared seed only orders it, and taken points are skipped.
      const { space: given, ...rest } = spec.options;
      return new GridSampler(gridValues(space, given), { ...rest, ...(spec.seed !== undefined ? { seed: spec.seed } : {}) });
    }
  }
}

/**
 * The grid's values per parameter: `sampler.options.space` where given, else from the search space —
 * categorical choices, every int, every point of a float with a step. A float without a step has no
 * grid of its own.
 */
export function gridValues(space: Record<string, Distribution>, given: unknown): Record<string, ParamValue[]> {
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw badInput('grid sampler: options.space must map parameter names to lists of values');
  }
  const explicit = (given ?? {}) as Record<string, unknown>;
  const out: Record<string, ParamValue[]> = {};
  for (const [name, values] of Object.entries(explicit)) {
    if (!Array.isArray(values) || values.length === 0) throw badInput(`grid sampler: options.space.${name} must be a non-empty list of values`);
    out[name] = values as ParamValue[];
  }
  for (const [name, d] of Object.entries(space)) {
    if (name in out) continue;
    if (d.type === 'categorical') out[name] = [...d.choices];
    else if ((d.type === 'int' || (d.step !== undefined && !d.log)) && (d.high - d.low) / (d.step ?? 1) < 10_000) {
      const low = d.low;
      const step = d.step ?? 1;
      const n = Math.round((d.high - low) / step) + 1;
      out[name] = Array.from({ length: n }, (_, i) => (d.type === 'int' ? low + i * step : Number((low + i * step).toPrecision(15))));
    } else {
      throw badInput(`grid sampler: parameter '${name}' has no finite grid; give it a step in 'space', or list its values in sampler.options.space.${name}`);
    }
  }
  if (Object.keys(out).length === 0) throw badInput('grid sampler: no parameters to grid; list values in sampler.options.space');
  return out;
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
