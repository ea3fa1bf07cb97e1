import { badInput } from '../../errors.js';
import { NopPruner, type Pruner } from '../../tune/pruners/base.js';
import { HyperbandPruner } from '../../tune/pruners/hyperband.js';
import { MedianPruner, PercentilePruner } from '../../tune/pruners/percentile.js';
import { SuccessiveHalvingPruner } from '../../tune/pruners/successive-halving.js';
import { AutoSampler } from '../../tune/samplers/auto.js';
import type { Sampler } from '../../tune/samplers/base.js';
import { CmaEsSampler } from '../../tune/samplers/cmaes.js';
import { GPSampler } from '../../tune/samplers/gp.js';
import { GridSampler } from '../../tune/samplers/grid.js';
import { NSGAIISampler } from '../../tune/samplers/nsga2.js';
import { QMCSampler } from '../../tune/samplers/qmc.js';
import { RandomSampler } from '../../tune/samplers/random.js';
import { TPESampler } from '../../tune/samplers/tpe.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
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
    case 'auto':
      return new AutoSampler(opts);
    case 'random':
      return new RandomSampler(opts);
    case 'tpe':
      return new TPESampler(opts);
    case 'nsga2':
      return new NSGAIISampler(opts);
    case 'gp':
      return new GPSampler(opts);
    case 'cmaes':
      return new CmaEsSampler(opts);
    case 'qmc':
      return new QMCSampler(opts);
    case 'grid': {
      // Every worker walks the same grid; the shared seed only orders it, and taken points are skipped.
      const { space: given, points, ...rest } = spec.options;
      return new GridSampler(gridValues(space, given, gridPoints(points)), {
        ...rest,
        ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
      });
    }
  }
}

/** Points per continuous parameter on a grid, unless `sampler.options.points` (or --grid-points) says otherwise. */
export const GRID_POINTS = 10;

function gridPoints(v: unknown): number {
  if (v === undefined) return GRID_POINTS;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2)
    throw badInput(`grid sampler: points must be an integer ≥ 2 (got ${JSON.stringify(v)})`);
  return v;
}

/**
 * The grid's values per parameter: `sampler.options.space` where given, else from the search space —
 * categorical choices, every int, every point of a float with a step, and `points` evenly spaced values
 * (log-spaced on a log scale, both ends included) of a float without one.
 */
export function gridValues(space: Record<string, Distribution>, given: unknown, points = GRID_POINTS): Record<string, ParamValue[]> {
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    throw badInput('grid sampler: options.space must map parameter names to lists of values');
  }
  const explicit = (given ?? {}) as Record<string, unknown>;
  const out: Record<string, ParamValue[]> = {};
  for (const [name, values] of Object.entries(explicit)) {
    if (!Array.isArray(values) || values.length === 0)
      throw badInput(`grid sampler: options.space.${name} must be a non-empty list of values`);
    out[name] = values as ParamValue[];
  }
  for (const [name, d] of Object.entries(space)) {
    if (name in out) continue;
    if (d.type === 'categorical') out[name] = [...d.choices];
    else if (d.type === 'float' && d.step === undefined) out[name] = spaced(d.low, d.high, points, d.log);
    else if ((d.type === 'int' || !d.log) && (d.high - d.low) / (d.step ?? 1) < 10_000) {
      const low = d.low;
      const step = d.step ?? 1;
      const n = Math.round((d.high - low) / step) + 1;
      out[name] = Array.from({ length: n }, (_, i) => (d.type === 'int' ? low + i * step : Number((low + i * step).toPrecision(15))));
    } else {
      throw badInput(
        `grid sampler: parameter '${name}' has no finite grid; give it a larger step in 'space', or list its values in sampler.options.space.${name}`,
      );
    }
  }
  if (Object.keys(out).length === 0) throw badInput('grid sampler: no parameters to grid; list values in sampler.options.space');
  return out;
}

/** `n` values from low to high (both exact), evenly spaced, or evenly in log space. */
function spaced(low: number, high: number, n: number, log: boolean): number[] {
  const [a, b] = log ? [Math.log(low), Math.log(high)] : [low, high];
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return low;
    if (i === n - 1) return high;
    const x = a + ((b - a) * i) / (n - 1);
    return Number((log ? Math.exp(x) : x).toPrecision(15));
  });
}

export function makePruner(spec: TuneConfig['pruner']): Pruner {
  const o = spec.options;
  switch (spec.name) {
    case 'none':
      return new NopPruner();
    case 'median':
      return new MedianPruner(o);
    case 'percentile': {
      const p = o.percentile;
      if (typeof p !== 'number' || !(p > 0 && p < 100))
        throw badInput(`pruner 'percentile' needs options.percentile between 0 and 100 (got ${JSON.stringify(p)})`);
      const { percentile: _, ...rest } = o;
      return new PercentilePruner(p, rest);
    }
    case 'successive-halving':
      return new SuccessiveHalvingPruner(o);
    case 'hyperband':
      return new HyperbandPruner(o);
  }
}
