import { badInput } from '../../errors.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import { constraintViolation, hasConstraints, intersectionSearchSpace, lossValues, type Sampler, type StudyView } from './base.js';
import { specOf, transformValue, untransformValue } from './parzen.js';
import { sampleUniform } from './random.js';
import { Rng } from './rng.js';

export interface NSGAIIOptions {
  seed?: number;
  /** Default 50. */
  populationSize?: number;
  /** Probability that a child comes from crossover rather than a copy of one parent. Default 0.9. */
  crossoverProb?: number;
  /** Per-parameter mutation probability. Default 1 / number of parameters. */
  mutationProb?: number;
  /** SBX distribution index (larger: children nearer their parents). Default 20. */
  etaCrossover?: number;
  /** Polynomial mutation distribution index. Default 20. */
  etaMutation?: number;
}

const GENERATION_KEY = 'nsga2:generation';

/**
 * NSGA-II (Deb et al. 2002), organized like Optuna's NSGAIISampler: each trial records its generation;
 * once a generation has `populationSize` complete trials, the next parent population is the elite of
 * that generation plus the previous parents (non-dominated sorting, then crowding distance; constrained
 * domination when constraints are stored). Children: binary tournament, SBX crossover and polynomial
 * mutation in the normalized (log-aware) space; categories by uniform crossover and random reset.
 * The state is derived from the trials alone, so many workers can share one study.
 */
export class NSGAIISampler implements Sampler {
  private readonly rng: Rng;
  private readonly populationSize: number;
  private readonly crossoverProb: number;
  private readonly mutationProb: number | undefined;
  private readonly etaC: number;
  private readonly etaM: number;
  private cache: { generation: number; key: string; parents: FrozenTrial[] } | undefined;

  constructor(opts: NSGAIIOptions = {}) {
    this.rng = new Rng(opts.seed);
    this.populationSize = opts.populationSize ?? 50;
    this.crossoverProb = opts.crossoverProb ?? 0.9;
    this.mutationProb = opts.mutationProb;
    this.etaC = opts.etaCrossover ?? 20;
    this.etaM = opts.etaMutation ?? 20;
    if (!(Number.isInteger(this.populationSize) && this.populationSize >= 2))
      throw badInput('NSGA-II: populationSize must be an integer ≥ 2');
    if (!(this.crossoverProb >= 0 && this.crossoverProb <= 1)) throw badInput('NSGA-II: crossoverProb must be in [0, 1]');
  }

  inferRelativeSearchSpace(study: StudyView): Record<string, Distribution> {
    return intersectionSearchSpace(study.trials, false);
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    const [parentGeneration, parents] = this.parentPopulation(study);
    study.setTrialSystemAttr(trial, GENERATION_KEY, parentGeneration + 1);
    if (parentGeneration < 0 || Object.keys(space).length === 0) return {};
    const constrained = hasConstraints(study);
    const p1 = this.tournament(study, parents, constrained);
    const p2 = this.tournament(study, parents, constrained);
    const names = Object.keys(space).filter((k) => k in p1.params && k in p2.params);
    const mutationProb = this.mutationProb ?? 1 / Math.max(1, names.length);
    const cross = this.rng.random() < this.crossoverProb;
    const out: Record<string, ParamValue> = {};
    for (const name of names) {
      const d = space[name]!;
      if (d.type === 'categorical') {
        let v: ParamValue = cross && this.rng.random() < 0.5 ? p2.params[name]! : p1.params[name]!;
        if (this.rng.random() < mutationProb) v = sampleUniform(this.rng, d);
        out[name] = v;
        continue;
      }
      const s = specOf(d) as { low: number; high: number };
      const norm = (v: ParamValue) => (transformValue(d, v) - s.low) / (s.high - s.low);
      let x = norm(p1.params[name]!);
      if (cross) x = this.sbx(x, norm(p2.params[name]!));
      if (this.rng.random() < mutationProb) x = this.polynomialMutation(x);
      out[name] = untransformValue(d, s.low + Math.min(1, Math.max(0, x)) * (s.high - s.low));
    }
    return out;
  }

  sampleIndependent(_study: StudyView, _trial: FrozenTrial, _name: string, d: Distribution): ParamValue {
    return sampleUniform(this.rng, d);
  }

  /** [generation of the parents, parents]; generation −1 = still sampling the first population at random. */
  private parentPopulation(study: StudyView): [number, FrozenTrial[]] {
    const byGeneration = new Map<number, FrozenTrial[]>();
    for (const t of study.trials) {
      const g = t.systemAttrs[GENERATION_KEY];
      if (typeof g !== 'number' || t.state !== 'complete') continue;
      if (!byGeneration.has(g)) byGeneration.set(g, []);
      byGeneration.get(g)!.push(t);
    }
    let generation = -1;
    let parents: FrozenTrial[] = [];
    const constrained = hasConstraints(study);
    for (;;) {
      const population = byGeneration.get(generation + 1) ?? [];
      if (population.length < this.populationSize) break;
      const key = population.map((t) => t.id).join(',');
      if (this.cache && this.cache.generation === generation + 1 && this.cache.key === key) parents = this.cache.parents;
      else {
        parents = this.selectElite(study, [...population, ...parents], constrained);
        this.cache = { generation: generation + 1, key, parents };
      }
      generation++;
    }
    return [generation, parents];
  }

  private selectElite(study: StudyView, population: FrozenTrial[], constrained: boolean): FrozenTrial[] {
    const losses = population.map((t) => lossValues(study, t.values!));
    const viol = population.map((t) => (constrained ? constraintViolation(t) : 0));
    const ranks = nonDominatedRanks(losses, viol);
    const elite: FrozenTrial[] = [];
    for (let r = 0; elite.length < this.populationSize; r++) {
      const front = population.map((_, i) => i).filter((i) => ranks[i] === r);
      if (front.length === 0) break;
      if (elite.length + front.length <= this.populationSize) {
        for (const i of front) elite.push(population[i]!);
        continue;
      }
      const cd = crowdingDistance(front.map((i) => losses[i]!));
      const order = front.map((i, k) => ({ i, d: cd[k]! })).sort((a, b) => b.d - a.d);
      for (const { i } of order.slice(0, this.populationSize - elite.length)) elite.push(population[i]!);
    }
    return elite;
  }

  private tournament(study: StudyView, parents: FrozenTrial[], constrained: boolean): FrozenTrial {
    const a = parents[this.rng.int(parents.length)]!;
    const b = parents[this.rng.int(parents.length)]!;
    const la = lossValues(study, a.values!);
    const lb = lossValues(study, b.values!);
    const va = constrained ? constraintViolation(a) : 0;
    const vb = constrained ? constraintViolation(b) : 0;
    if (constrainedDominates(la, va, lb, vb)) return a;
    if (constrainedDominates(lb, vb, la, va)) return b;
    return this.rng.random() < 0.5 ? a : b;
  }

  /** Simulated binary crossover on [0, 1] (Deb & Agrawal, bounded form); returns one child. */
  private sbx(x1: number, x2: number): number {
    if (Math.abs(x1 - x2) < 1e-14) return x1;
    const y1 = Math.min(x1, x2);
    const y2 = Math.max(x1, x2);
    const u = this.rng.random();
    const e = this.etaC + 1;
    const betaq = (beta: number) => {
      const alpha = 2 - beta ** -e;
      return u <= 1 / alpha ? (u * alpha) ** (1 / e) : (1 / (2 - u * alpha)) ** (1 / e);
    };
    const c1 = 0.5 * (y1 + y2 - betaq(1 + (2 * y1) / (y2 - y1)) * (y2 - y1));
    const c2 = 0.5 * (y1 + y2 + betaq(1 + (2 * (1 - y2)) / (y2 - y1)) * (y2 - y1));
    return this.rng.random() < 0.5 ? c1 : c2;
  }

  /** Polynomial mutation on [0, 1] (Deb's bounded form). */
  private polynomialMutation(y: number): number {
    const u = this.rng.random();
    const e = this.etaM + 1;
    let dq: number;
    if (u < 0.5) dq = (2 * u + (1 - 2 * u) * (1 - y) ** e) ** (1 / e) - 1;
    else dq = 1 - (2 * (1 - u) + 2 * (u - 0.5) * y ** e) ** (1 / e);
    return Math.min(1, Math.max(0, y + dq));
  }
}

/** Feasible beats infeasible, less violation beats more, and among feasible points Pareto dominance. */
export function constrainedDominates(a: number[], va: number, b: number[], vb: number): boolean {
  if (va === 0 && vb > 0) return true;
  if (va > 0 && vb === 0) return false;
  if (va > 0 && vb > 0) return va < vb;
  let strictly = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > b[i]!) return false;
    if (a[i]! < b[i]!) strictly = true;
  }
  return strictly;
}

/** Non-domination rank of each point (0 = Pareto front), losses to minimize; optional constraint violations. */
export function nonDominatedRanks(losses: number[][], violations?: number[]): number[] {
  const n = losses.length;
  const v = violations ?? new Array<number>(n).fill(0);
  const dominatedBy = new Array<number>(n).fill(0);
  const dominates: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (constrainedDominates(losses[i]!, v[i]!, losses[j]!, v[j]!)) {
        dominates[i]!.push(j);
        dominatedBy[j]!++;
      } else if (constrainedDominates(losses[j]!, v[j]!, losses[i]!, v[i]!)) {
        dominates[j]!.push(i);
        dominatedBy[i]!++;
      }
    }
  }
  const ranks = new Array<number>(n).fill(-1);
  let front = dominatedBy.map((c, i) => (c === 0 ? i : -1)).filter((i) => i >= 0);
  for (let r = 0; front.length; r++) {
    const next: number[] = [];
    for (const i of front) {
      ranks[i] = r;
      for (const j of dominates[i]!) if (--dominatedBy[j]! === 0) next.push(j);
    }
    front = next;
  }
  return ranks;
}

/** Crowding distance of each point within one front (boundary points: Infinity). */
export function crowdingDistance(points: number[][]): number[] {
  const n = points.length;
  const d = new Array<number>(n).fill(0);
  if (n === 0) return d;
  const m = points[0]!.length;
  for (let k = 0; k < m; k++) {
    const order = points.map((_, i) => i).sort((a, b) => points[a]![k]! - points[b]![k]!);
    const lo = points[order[0]!]![k]!;
    const hi = points[order[n - 1]!]![k]!;
    d[order[0]!] = Infinity;
    d[order[n - 1]!] = Infinity;
    if (hi === lo) continue;
    for (let r = 1; r < n - 1; r++) d[order[r]!]! += (points[order[r + 1]!]![k]! - points[order[r - 1]!]![k]!) / (hi - lo);
  }
  return d;
}
