import { badInput } from '../../errors.js';
import { greedyHypervolumeSubset, hypervolumeContributions, referencePoint } from '../hypervolume.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import {
  constraintViolation,
  hasConstraints,
  intersectionSearchSpace,
  lastStep,
  lossValues,
  type Sampler,
  type StudyView,
} from './base.js';
import { crowdingDistance, nonDominatedRanks } from './nsga2.js';
import { ParzenEstimator, specOf, transformValue, untransformValue, type BandwidthStrategy, type ParzenParameters } from './parzen.js';
import { sampleUniform } from './random.js';
import { Rng } from './rng.js';

/**
 * TPE options. The multivariate defaults are the recommended setting of Watanabe 2023, "Tree-Structured
 * Parzen Estimator: Understanding Its Algorithm Components and Their Roles for Better Empirical
 * Performance" (arXiv 2304.11127): γ = ceil(0.15·n), EI weights for the good set, Hyperopt's
 * neighbour-distance bandwidths with the magic clip at α = 2 and a minimum of 0.03 of the range — chosen
 * over Hone's earlier defaults and other component settings on held-out seeds 10–59 of the five benchmark
 * functions (docs/benchmarks.md). Univariate TPE (`multivariate: false`) keeps Optuna's defaults.
 * `OPTUNA_TPE_OPTIONS` turn the multivariate sampler into Optuna's.
 */
export interface TPEOptions {
  seed?: number;
  /** Random trials before TPE starts. Default 10. */
  nStartupTrials?: number;
  /** Candidates drawn from l(x) per sample; the one maximizing l(x)/g(x) wins. Default 24. */
  nEiCandidates?: number;
  /** Joint kernels over the intersection search space (Optuna ≥ 4's recommended setting). Default true. */
  multivariate?: boolean;
  /** Decompose conditional spaces into groups of parameters that appear together (needs multivariate). Default false. */
  group?: boolean;
  /** Treat running trials as the worst (for parallel workers). Default false. */
  constantLiar?: boolean;
  considerPrior?: boolean;
  /** Weight of the prior kernel relative to an average observation kernel. Default 1. */
  priorWeight?: number;
  /**
   * Numeric bandwidth rule (Watanabe 2023's "bandwidth selection"): 'hyperopt' (each kernel's distance
   * to its farther neighbour among the sorted centres, per dimension), 'optuna' (one width per dimension,
   * bandwidthFactor · n^(−1/(d+4)) · range: Optuna's multivariate rule) or 'scott' (Scott's rule; it
   * collapses as the good points converge unless `minBandwidthFactor` holds it up). Default 'hyperopt'
   * (Optuna: 'hyperopt' univariate, 'optuna' multivariate).
   */
  bandwidthStrategy?: BandwidthStrategy;
  /**
   * Factor of the 'optuna' bandwidth rule (unused by the others). Default 0.065, Hone's earlier
   * multivariate default; Optuna uses 0.2.
   */
  bandwidthFactor?: number;
  /**
   * Lower-bound bandwidths by range · (1 + n + prior)^(−magicClipExponent) ("magic clip"). Default true
   * (as Optuna).
   */
  considerMagicClip?: boolean;
  /**
   * The magic clip's exponent α (Watanabe 2023): larger lets kernels narrow sooner as observations
   * accumulate. Default 2 when multivariate, 1 (Optuna's) when univariate.
   */
  magicClipExponent?: number;
  /**
   * Smallest numeric bandwidth as a fraction of the range (Watanabe 2023's minimum bandwidth factor),
   * with or without the magic clip. Default 0.03 when multivariate; univariate 0.01 with the magic clip
   * (Optuna's range/100 cap), else 0.
   */
  minBandwidthFactor?: number;
  /** Hyperopt rule: the outermost kernels also measure the distance to the range end. Default false (Optuna). */
  considerEndpoints?: boolean;
  /**
   * Splitting rule (Watanabe 2023): the "good" set holds ceil(β·n) ('linear') or ceil(β·√n) ('sqrt')
   * of the n finished trials, at most 25. Default 'linear'. Ignored when `gamma` is given.
   */
  gammaStrategy?: 'linear' | 'sqrt';
  /** β of `gammaStrategy`. Default 0.15 when multivariate, 0.1 (Optuna's min(ceil(0.1·n), 25)) when univariate. */
  gammaBeta?: number;
  /** Size of the "good" set from the number of finished trials; overrides gammaStrategy/gammaBeta. */
  gamma?: (n: number) => number;
  /**
   * Kernel weights of the observations (Watanabe 2023's "weighting"): 'ei' — each good observation
   * weighted by its improvement y* − y over the best value y* of the other set (scaled to mean 1, so
   * `priorWeight` keeps its meaning), the other set uniform; 'optuna' (flat for the newest 25, an age
   * ramp before); or 'uniform'. 'ei' needs a single objective and weighs the good set uniformly where one
   * of its trials has no usable value (pruned, infeasible) or the other set has no complete trial.
   * Default 'ei' when multivariate, 'optuna' when univariate.
   */
  weightStrategy?: 'optuna' | 'uniform' | 'ei';
  /** Kernel weights by age (oldest first); overrides weightStrategy except for 'ei's good set. */
  weights?: (n: number) => number[];
  /**
   * Draw the EI candidates from l(x) with its numeric bandwidths multiplied by this (BOHB's bandwidth
   * factor): a wider proposal, scored by the unwidened l(x)/g(x). Default 1 (no widening; 1.5–3 did
   * worse on the held-out benchmark seeds).
   */
  candidateWidening?: number;
  /**
   * Several objectives: how the "good" set is chosen and weighted. 'hypervolume' (Optuna's MOTPE, Ozaki et
   * al. 2022): by non-domination rank, the rank that does not fit whole cut by greedy hypervolume subset
   * selection, and each good trial weighted by its exclusive hypervolume contribution. 'crowding': by
   * rank, then crowding distance (NSGA-II's rule), with the `weights` rule. 'lexicographic': by the first
   * objective, ties by the next, with the `weights` rule — for a search whose answer is the best first
   * objective within constraints on the others (hone nas with a budget), where the rest of the front is
   * only reported. Default 'hypervolume' (docs/benchmarks.md, "Multi-objective TPE").
   */
  multiObjectiveSplit?: MultiObjectiveSplit;
}

export type MultiObjectiveSplit = 'hypervolume' | 'crowding' | 'lexicographic';
const MULTI_OBJECTIVE_SPLITS: readonly MultiObjectiveSplit[] = ['hypervolume', 'crowding', 'lexicographic'];

/**
 * The options that turn TPESampler (multivariate) into Optuna's multivariate TPE with Optuna's defaults:
 * `new TPESampler({ ...OPTUNA_TPE_OPTIONS, seed })`. (`{ multivariate: false }` alone is Optuna's univariate TPE.)
 */
export const OPTUNA_TPE_OPTIONS = {
  bandwidthStrategy: 'optuna',
  bandwidthFactor: 0.2,
  considerMagicClip: true,
  magicClipExponent: 1,
  minBandwidthFactor: 0.01,
  gammaStrategy: 'linear',
  gammaBeta: 0.1,
  weightStrategy: 'optuna',
} as const satisfies TPEOptions;

export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

/** Watanabe 2023's splitting rules: ceil(β·n) or ceil(β·√n), at most 25. */
export function gammaFunction(strategy: 'linear' | 'sqrt', beta: number): (n: number) => number {
  return strategy === 'linear' ? (n) => Math.min(Math.ceil(beta * n), 25) : (n) => Math.min(Math.ceil(beta * Math.sqrt(n)), 25);
}

export function defaultWeights(n: number): number[] {
  if (n === 0) return [];
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = linspace(1 / n, 1, n - 25);
  return [...ramp, ...new Array<number>(25).fill(1)];
}

export function uniformWeights(n: number): number[] {
  return new Array<number>(n).fill(1);
}

/**
 * Watanabe 2023's EI weights for the good set: max(1e-12, y* − loss) per observation, y* the best loss
 * of the other set, scaled to mean 1.
 */
export function eiWeights(losses: number[], threshold: number): number[] {
  const w = losses.map((l) => Math.max(1e-12, threshold - l));
  const mean = w.reduce((a, b) => a + b, 0) / Math.max(1, w.length);
  return w.map((x) => x / mean);
}

/**
 * Tree-structured Parzen Estimator, following Optuna's TPESampler: finished trials are split into a
 * "below" (best γ(n)) and an "above" set, a Parzen estimator is fitted to each, and of `nEiCandidates`
 * draws from the below-estimator l the one maximizing log l(x) − log g(x) is chosen. Beyond Optuna's
 * options it has the components studied in Watanabe 2023 (splitting rule and β, EI weighting, bandwidth
 * rule, magic clip exponent, minimum bandwidth) and a widened proposal (BOHB). Its multivariate defaults
 * are that paper's recommended setting (see TPEOptions); `OPTUNA_TPE_OPTIONS` give Optuna's multivariate
 * TPE, and `{ multivariate: false }` Optuna's univariate one.
 */
export class TPESampler implements Sampler {
  private readonly rng: Rng;
  private readonly nStartupTrials: number;
  private readonly nEiCandidates: number;
  private readonly multivariate: boolean;
  private readonly group: boolean;
  private readonly constantLiar: boolean;
  private readonly gamma: (n: number) => number;
  private readonly weightStrategy: 'optuna' | 'uniform' | 'ei';
  private readonly candidateWidening: number;
  private readonly multiObjectiveSplit: MultiObjectiveSplit;
  private readonly parzen: ParzenParameters;
  private groups: Record<string, Distribution>[] = [];
  private groupCursor = 0;

  constructor(opts: TPEOptions = {}) {
    this.rng = new Rng(opts.seed);
    this.nStartupTrials = opts.nStartupTrials ?? 10;
    this.nEiCandidates = opts.nEiCandidates ?? 24;
    this.multivariate = opts.multivariate ?? true;
    this.group = opts.group ?? false;
    this.constantLiar = opts.constantLiar ?? false;
    const gammaStrategy = opts.gammaStrategy ?? 'linear';
    const gammaBeta = opts.gammaBeta ?? (this.multivariate ? 0.15 : 0.1);
    if (gammaStrategy !== 'linear' && gammaStrategy !== 'sqrt')
      throw badInput(`TPE: gammaStrategy must be 'linear' or 'sqrt' (got ${JSON.stringify(gammaStrategy)})`);
    if (!(gammaBeta > 0 && Number.isFinite(gammaBeta))) throw badInput('TPE: gammaBeta must be a finite number > 0');
    this.gamma = opts.gamma ?? (gammaStrategy === 'linear' && gammaBeta === 0.1 ? defaultGamma : gammaFunction(gammaStrategy, gammaBeta));
    this.weightStrategy = opts.weightStrategy ?? (this.multivariate ? 'ei' : 'optuna');
    if (!['optuna', 'uniform', 'ei'].includes(this.weightStrategy)) {
      throw badInput(`TPE: weightStrategy must be 'optuna', 'uniform' or 'ei' (got ${JSON.stringify(this.weightStrategy)})`);
    }
    this.candidateWidening = opts.candidateWidening ?? 1;
    this.multiObjectiveSplit = opts.multiObjectiveSplit ?? 'hypervolume';
    if (!MULTI_OBJECTIVE_SPLITS.includes(this.multiObjectiveSplit)) {
      throw badInput(
        `TPE: multiObjectiveSplit must be ${MULTI_OBJECTIVE_SPLITS.map((m) => `'${m}'`).join(', ')} (got ${JSON.stringify(this.multiObjectiveSplit)})`,
      );
    }
    const considerMagicClip = opts.considerMagicClip ?? true;
    this.parzen = {
      considerPrior: opts.considerPrior ?? true,
      priorWeight: opts.priorWeight ?? 1,
      considerMagicClip,
      considerEndpoints: opts.considerEndpoints ?? false,
      multivariate: this.multivariate,
      bandwidthStrategy: opts.bandwidthStrategy ?? 'hyperopt',
      bandwidthFactor: opts.bandwidthFactor ?? 0.065,
      magicClipExponent: opts.magicClipExponent ?? (this.multivariate ? 2 : 1),
      minBandwidthFactor: opts.minBandwidthFactor ?? (this.multivariate ? 0.03 : considerMagicClip ? 0.01 : 0),
      weights: opts.weights ?? (this.weightStrategy === 'optuna' ? defaultWeights : uniformWeights),
    };
    if (this.group && !this.multivariate) throw badInput('TPE: group=true needs multivariate=true');
    if (this.parzen.considerPrior && !(this.parzen.priorWeight > 0)) throw badInput('TPE: priorWeight must be > 0');
    if (!(this.nEiCandidates >= 1)) throw badInput('TPE: nEiCandidates must be ≥ 1');
    if (!(this.parzen.bandwidthFactor > 0)) throw badInput('TPE: bandwidthFactor must be > 0');
    if (!['optuna', 'hyperopt', 'scott'].includes(this.parzen.bandwidthStrategy)) {
      throw badInput(
        `TPE: bandwidthStrategy must be 'optuna', 'hyperopt' or 'scott' (got ${JSON.stringify(this.parzen.bandwidthStrategy)})`,
      );
    }
    if (!(this.parzen.magicClipExponent > 0)) throw badInput('TPE: magicClipExponent must be > 0');
    if (!(this.parzen.minBandwidthFactor >= 0 && this.parzen.minBandwidthFactor <= 1))
      throw badInput('TPE: minBandwidthFactor must be in [0, 1]');
    if (!(this.candidateWidening >= 1 && Number.isFinite(this.candidateWidening)))
      throw badInput('TPE: candidateWidening must be a finite number ≥ 1');
  }

  inferRelativeSearchSpace(study: StudyView): Record<string, Distribution> {
    if (!this.multivariate) return {};
    if (!this.group) return intersectionSearchSpace(study.trials);
    this.updateGroups(study.trials);
    const union: Record<string, Distribution> = {};
    for (const g of this.groups) for (const [name, d] of Object.entries(g)) if (!isSingleValued(d)) union[name] = d;
    return union;
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    if (Object.keys(space).length === 0) return {};
    if (this.finishedCount(study) < this.nStartupTrials) return {};
    if (!this.group) return this.sample(study, trial, space);
    const out: Record<string, ParamValue> = {};
    for (const g of this.groups) {
      const sub: Record<string, Distribution> = {};
      for (const name of Object.keys(g).sort()) if (space[name]) sub[name] = space[name];
      if (Object.keys(sub).length) Object.assign(out, this.sample(study, trial, sub));
    }
    return out;
  }

  sampleIndependent(study: StudyView, trial: FrozenTrial, name: string, d: Distribution): ParamValue {
    if (this.finishedCount(study) < this.nStartupTrials) return sampleUniform(this.rng, d);
    return this.sample(study, trial, { [name]: d })[name]!;
  }

  private finishedCount(study: StudyView): number {
    let n = 0;
    for (const t of study.trials) if (t.state === 'complete' || t.state === 'pruned') n++;
    return n;
  }

  private sample(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    const trials = study.trials.filter(
      (t) => t.state === 'complete' || t.state === 'pruned' || (this.constantLiar && t.state === 'running' && t.id !== trial.id),
    );
    const n = trials.filter((t) => t.state !== 'running').length;
    const [below, above] = splitTrials(study, trials, this.gamma(n), hasConstraints(study), this.multiObjectiveSplit);
    const names = Object.keys(space);
    const specs = names.map((k) => specOf(space[k]!));
    const usable = (ts: FrozenTrial[]) => ts.filter((t) => names.every((k) => k in t.params));
    const observe = (ts: FrozenTrial[]) => ts.map((t) => names.map((k) => transformValue(space[k]!, t.params[k]!)));
    const usableBelow = usable(below);
    const mpeBelow = new ParzenEstimator(observe(usableBelow), specs, this.parzen, this.belowWeights(study, usableBelow, above));
    const mpeAbove = new ParzenEstimator(observe(usable(above)), specs, this.parzen);
    const candidates = mpeBelow.sample(this.rng, this.nEiCandidates, this.candidateWidening);
    const lb = mpeBelow.logPdf(candidates);
    const la = mpeAbove.logPdf(candidates);
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const score = lb[i]! - la[i]!;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    const out: Record<string, ParamValue> = {};
    names.forEach((k, j) => (out[k] = untransformValue(space[k]!, candidates[best]![j]!)));
    return out;
  }

  /**
   * EI weights of the good set (weightStrategy 'ei', single objective), from the losses of its trials and
   * the best loss among the other set's complete, feasible trials; with several objectives its hypervolume
   * weights (multiObjectiveSplit 'hypervolume'); undefined (the `weights` rule) otherwise.
   */
  private belowWeights(study: StudyView, below: FrozenTrial[], above: FrozenTrial[]): number[] | undefined {
    if (study.directions.length > 1) return this.multiObjectiveSplit === 'hypervolume' ? hypervolumeWeights(study, below) : undefined;
    if (this.weightStrategy !== 'ei' || below.length === 0) return undefined;
    const constrained = hasConstraints(study);
    const loss = (t: FrozenTrial) =>
      t.state === 'complete' && t.values && !(constrained && constraintViolation(t) > 0) ? lossValues(study, t.values)[0]! : undefined;
    let threshold = Infinity;
    for (const t of above) {
      const l = loss(t);
      if (l !== undefined && l < threshold) threshold = l;
    }
    const losses = below.map(loss);
    if (!Number.isFinite(threshold) || losses.some((l) => l === undefined || !Number.isFinite(l))) return undefined;
    return eiWeights(losses as number[], threshold);
  }

  /** Optuna's group decomposition: split groups so each holds parameters that always occur together. */
  private updateGroups(trials: readonly FrozenTrial[]): void {
    for (; this.groupCursor < trials.length; this.groupCursor++) {
      const t = trials[this.groupCursor]!;
      if (t.state === 'running' || t.state === 'waiting') break;
      if (t.state === 'fail') continue;
      let keys = new Set(Object.keys(t.distributions));
      const next: Record<string, Distribution>[] = [];
      for (const g of this.groups) {
        const gk = Object.keys(g);
        next.push(Object.fromEntries(gk.filter((k) => keys.has(k)).map((k) => [k, g[k]!])));
        next.push(Object.fromEntries(gk.filter((k) => !keys.has(k)).map((k) => [k, g[k]!])));
        keys = new Set([...keys].filter((k) => !(k in g)));
      }
      next.push(Object.fromEntries([...keys].map((k) => [k, t.distributions[k]!])));
      this.groups = next.filter((g) => Object.keys(g).length > 0);
    }
  }
}

/**
 * MOTPE's weights of the good set (Ozaki et al. 2022): each trial's exclusive hypervolume contribution
 * within the set (reference: its worst values plus a tenth of their range), scaled to mean 1, so trials
 * the others dominate hardly count. Undefined (the `weights` rule) where a good trial has no usable
 * values (infeasible, not finite) or no trial contributes.
 */
function hypervolumeWeights(study: StudyView, below: FrozenTrial[]): number[] | undefined {
  if (below.length === 0) return undefined;
  const constrained = hasConstraints(study);
  const losses: number[][] = [];
  for (const t of below) {
    if (t.state !== 'complete' || !t.values || (constrained && constraintViolation(t) > 0)) return undefined;
    const l = lossValues(study, t.values);
    if (!l.every(Number.isFinite)) return undefined;
    losses.push(l);
  }
  const c = hypervolumeContributions(losses, referencePoint(losses));
  const mean = c.reduce((a, b) => a + b, 0) / c.length;
  if (!(mean > 0)) return undefined;
  return c.map((x) => Math.max(1e-12, x / mean));
}

/**
 * Optuna's _split_trials: the best `nBelow` go below — complete trials by value (multi-objective: by
 * non-domination rank, the last rank cut by hypervolume subset selection or crowding distance), then
 * pruned trials by (last step, value), then infeasible ones by total violation. Running trials
 * (constant liar) always go above.
 */
export function splitTrials(
  study: StudyView,
  trials: FrozenTrial[],
  nBelow: number,
  constraintsEnabled: boolean,
  multiObjectiveSplit: MultiObjectiveSplit = 'hypervolume',
): [FrozenTrial[], FrozenTrial[]] {
  const complete: FrozenTrial[] = [];
  const pruned: FrozenTrial[] = [];
  const running: FrozenTrial[] = [];
  const infeasible: FrozenTrial[] = [];
  for (const t of trials) {
    if (t.state === 'running') running.push(t);
    else if (constraintsEnabled && constraintViolation(t) > 0) infeasible.push(t);
    else if (t.state === 'complete') complete.push(t);
    else if (t.state === 'pruned') pruned.push(t);
  }
  const [bc, ac] = splitComplete(study, complete, nBelow, multiObjectiveSplit);
  nBelow = Math.max(0, nBelow - bc.length);
  const [bp, ap] = splitBy(pruned, nBelow, (t) => prunedScore(study, t));
  nBelow = Math.max(0, nBelow - bp.length);
  const [bi, ai] = splitBy(infeasible, nBelow, (t) => [constraintViolation(t)]);
  const byNumber = (a: FrozenTrial, b: FrozenTrial) => a.number - b.number;
  return [[...bc, ...bp, ...bi].sort(byNumber), [...ac, ...ap, ...ai, ...running].sort(byNumber)];
}

function splitComplete(
  study: StudyView,
  trials: FrozenTrial[],
  nBelow: number,
  multiObjectiveSplit: MultiObjectiveSplit,
): [FrozenTrial[], FrozenTrial[]] {
  if (study.directions.length === 1) return splitBy(trials, nBelow, (t) => [lossValues(study, t.values!)[0]!]);
  if (multiObjectiveSplit === 'lexicographic') return splitBy(trials, nBelow, (t) => lossValues(study, t.values!));
  if (nBelow <= 0) return [[], trials];
  const losses = trials.map((t) => lossValues(study, t.values!));
  const ranks = nonDominatedRanks(losses);
  const chosen = new Set<number>();
  for (let r = 0; chosen.size < nBelow; r++) {
    const front = ranks.map((rk, i) => (rk === r ? i : -1)).filter((i) => i >= 0);
    if (front.length === 0) break;
    const frontLosses = front.map((i) => losses[i]!);
    if (chosen.size + front.length <= nBelow) front.forEach((i) => chosen.add(i));
    else if (multiObjectiveSplit === 'hypervolume' && frontLosses.every((l) => l.every(Number.isFinite))) {
      for (const k of greedyHypervolumeSubset(frontLosses, nBelow - chosen.size, referencePoint(frontLosses))) chosen.add(front[k]!);
    } else {
      const cd = crowdingDistance(front.map((i) => losses[i]!));
      const order = front.map((i, k) => [i, cd[k]!] as const).sort((a, b) => b[1] - a[1]);
      for (const [i] of order.slice(0, nBelow - chosen.size)) chosen.add(i);
    }
  }
  return [trials.filter((_, i) => chosen.has(i)), trials.filter((_, i) => !chosen.has(i))];
}

function prunedScore(study: StudyView, t: FrozenTrial): number[] {
  const step = lastStep(t);
  if (step === undefined) return [1, 0];
  const v = t.intermediateValues[step]!;
  if (Number.isNaN(v)) return [-step, Infinity];
  return [-step, study.directions[0] === 'maximize' ? -v : v];
}

/** Stable sort by a lexicographic key, then cut at n. */
function splitBy(trials: FrozenTrial[], n: number, key: (t: FrozenTrial) => number[]): [FrozenTrial[], FrozenTrial[]] {
  const keyed = trials.map((t, i) => ({ t, k: key(t), i }));
  keyed.sort((a, b) => {
    for (let j = 0; j < a.k.length; j++) if (a.k[j] !== b.k[j]) return a.k[j]! < b.k[j]! ? -1 : 1;
    return a.i - b.i;
  });
  const sorted = keyed.map((x) => x.t);
  return [sorted.slice(0, n), sorted.slice(n)];
}

function isSingleValued(d: Distribution): boolean {
  return d.type === 'categorical' ? d.choices.length === 1 : d.low === d.high;
}

function linspace(a: number, b: number, n: number): number[] {
  if (n <= 0) return [];
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}
