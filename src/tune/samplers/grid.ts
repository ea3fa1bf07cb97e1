import { badInput } from '../../errors.js';
import { contains } from '../distributions.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import type { Sampler, StudyView } from './base.js';
import { Rng } from './rng.js';

const GRID_KEY = 'grid_id';

/**
 * Exhaustive search over the cross product of given values (Optuna's GridSampler): each trial takes a
 * grid point no running or finished (failed included) trial holds, in seeded random order; `optimize` stops
 * once every point has been evaluated. Suggesting a parameter the grid lacks, or a value outside the
 * parameter's distribution, is an error.
 */
export class GridSampler implements Sampler {
  private readonly names: string[];
  private readonly grid: ParamValue[][];
  private readonly total: number;
  private readonly rng: Rng;

  constructor(space: Record<string, ParamValue[]>, opts: { seed?: number } = {}) {
    this.names = Object.keys(space).sort();
    this.grid = this.names.map((k) => {
      const vs = space[k]!;
      if (!Array.isArray(vs) || vs.length === 0) throw badInput(`grid: parameter '${k}' has no values; give at least one`);
      return [...vs];
    });
    this.total = this.grid.reduce((a, vs) => a * vs.length, 1);
    this.rng = new Rng(opts.seed);
  }

  inferRelativeSearchSpace(): Record<string, Distribution> {
    return {};
  }

  sampleRelative(): Record<string, ParamValue> {
    return {};
  }

  beforeTrial(study: StudyView, trial: FrozenTrial): void {
    if (typeof trial.systemAttrs[GRID_KEY] === 'number') return;
    // A retry (of a crashed or interrupted trial) arrives with its params: it holds their point, which
    // a fresh id would leave marked taken by the failed trial yet never evaluated.
    const given = this.idOf({ ...(trial.systemAttrs.fixed_params as Record<string, ParamValue> | undefined), ...trial.params });
    if (given !== undefined) {
      study.setTrialSystemAttr(trial, GRID_KEY, given);
      return;
    }
    const taken = this.taken(study);
    const free: number[] = [];
    for (let i = 0; i < this.total; i++) if (!taken.has(i)) free.push(i);
    // Once all points are taken (other workers still running), revisit one at random rather than fail.
    const id = free.length ? free[this.rng.int(free.length)]! : this.rng.int(this.total);
    study.setTrialSystemAttr(trial, GRID_KEY, id);
  }

  sampleIndependent(_study: StudyView, trial: FrozenTrial, name: string, d: Distribution): ParamValue {
    const j = this.names.indexOf(name);
    if (j < 0) throw badInput(`grid: parameter '${name}' is not in the grid; add it to the grid's space`);
    const id = trial.systemAttrs[GRID_KEY] as number;
    const v = this.point(id)[j]!;
    if (!contains(d, v))
      throw badInput(`grid: value ${JSON.stringify(v)} of '${name}' is outside its distribution; fix the grid or the range`);
    return v;
  }

  isExhausted(study: StudyView): boolean {
    return this.taken(study).size >= this.total;
  }

  /** Values of grid point `id`, one per parameter in name order. */
  point(id: number): ParamValue[] {
    const out: ParamValue[] = new Array(this.names.length);
    for (let j = this.names.length - 1; j >= 0; j--) {
      const vs = this.grid[j]!;
      out[j] = vs[id % vs.length]!;
      id = Math.floor(id / vs.length);
    }
    return out;
  }

  /** The id of the grid point `params` name in full, if they name one. */
  private idOf(params: Record<string, ParamValue>): number | undefined {
    let id = 0;
    for (let j = 0; j < this.names.length; j++) {
      const p = params[this.names[j]!];
      // Stored floats may differ from the grid's values in the last bits (snapped to their step).
      const k = this.grid[j]!.findIndex(
        (v) => v === p || (typeof v === 'number' && typeof p === 'number' && Math.abs(v - p) <= 1e-9 * Math.max(1, Math.abs(v))),
      );
      if (k < 0) return undefined;
      id = id * this.grid[j]!.length + k;
    }
    return id;
  }

  private taken(study: StudyView): Set<number> {
    const s = new Set<number>();
    for (const t of study.trials) {
      const id = t.systemAttrs[GRID_KEY];
      if (typeof id === 'number' && t.state !== 'waiting') s.add(id);
    }
    return s;
  }
}
