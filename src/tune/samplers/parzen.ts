import type { Distribution, ParamValue } from '../types.js';
import { logGaussMass, logPhi, truncnormPpf } from './normal.js';
import type { Rng } from './rng.js';

/**
 * Optuna's Parzen estimator for TPE: a mixture of product kernels (one per observation, plus a prior
 * kernel), truncated normals for numbers (discretized on a step grid) and smoothed one-hot weights for
 * categories. Works in the transformed space: log scales are logged, categories are indices.
 */

/** One parameter in the transformed space. `step` 0 = continuous. */
export type Spec = { kind: 'cat'; n: number } | { kind: 'num'; low: number; high: number; step: number };

/**
 * How numeric kernel bandwidths are chosen (the heuristics compared in Watanabe 2023, arXiv 2304.11127):
 * - 'optuna': one bandwidth per dimension, factor · n^(−1/(d+4)) · range (Optuna's multivariate rule);
 * - 'hyperopt': per kernel, the distance to its farther neighbour among the sorted centres (prior centre
 *   and range ends included), as Hyperopt and Optuna's univariate TPE do;
 * - 'scott': one bandwidth per dimension, Scott's rule 1.059 · min(IQR/1.34, std) · n^(−1/5).
 */
export type BandwidthStrategy = 'optuna' | 'hyperopt' | 'scott';

export interface ParzenParameters {
  considerPrior: boolean;
  priorWeight: number;
  considerMagicClip: boolean;
  considerEndpoints: boolean;
  multivariate: boolean;
  bandwidthStrategy: BandwidthStrategy;
  /** The 'optuna' rule's factor (Optuna's SIGMA0_MAGNITUDE is 0.2). */
  bandwidthFactor: number;
  /** Magic clip: bandwidths ≥ range · (1 + n + prior)^(−exponent); Optuna's exponent is 1. */
  magicClipExponent: number;
  /** Bandwidths ≥ range · this, with or without the magic clip (Optuna: 0.01 with it, none without). */
  minBandwidthFactor: number;
  weights: (n: number) => number[];
}

export function specOf(d: Distribution): Spec {
  if (d.type === 'categorical') return { kind: 'cat', n: d.choices.length };
  const step = d.step ?? 0;
  if (d.log) {
    // Log-scaled ints: a continuous kernel over the half-step-widened range, rounded afterwards (as Optuna).
    if (step) return { kind: 'num', low: Math.log(d.low - step / 2), high: Math.log(d.high + step / 2), step: 0 };
    return { kind: 'num', low: Math.log(d.low), high: Math.log(d.high), step: 0 };
  }
  return { kind: 'num', low: d.low, high: d.high, step };
}

/** External value → transformed number. */
export function transformValue(d: Distribution, v: ParamValue): number {
  if (d.type === 'categorical') {
    const i = d.choices.indexOf(v);
    return Math.max(i, 0);
  }
  return d.log ? Math.log(v as number) : (v as number);
}

/** Transformed number → external value on the distribution's grid. */
export function untransformValue(d: Distribution, x: number): ParamValue {
  if (d.type === 'categorical') return d.choices[Math.min(d.choices.length - 1, Math.max(0, Math.round(x)))]!;
  let v = d.log ? Math.exp(x) : x;
  const step = d.step;
  if (step) v = d.low + Math.round((v - d.low) / step) * step;
  v = Math.min(d.high, Math.max(d.low, v));
  if (d.type === 'int') v = Math.round(v);
  else if (step) v = Number(v.toPrecision(15));
  return v;
}

type Dim =
  | { kind: 'cat'; probs: Float64Array[] }
  | { kind: 'num'; mus: Float64Array; sigmas: Float64Array; logMass: Float64Array; low: number; high: number; step: number };

export class ParzenEstimator {
  readonly weights: Float64Array;
  private readonly logWeights: Float64Array;
  private readonly dims: Dim[];

  /** `observations[i][j]`: transformed value of parameter j in observation i. */
  constructor(observations: number[][], specs: Spec[], p: ParzenParameters, predeterminedWeights?: number[]) {
    const n = observations.length;
    let w = predeterminedWeights ? [...predeterminedWeights] : p.weights(n);
    if (n === 0) w = [1];
    else if (p.considerPrior) w.push(p.priorWeight);
    const total = w.reduce((a, b) => a + b, 0);
    this.weights = Float64Array.from(w, (x) => x / total);
    this.logWeights = this.weights.map(Math.log);
    this.dims = specs.map((s, j) => {
      const col = observations.map((o) => o[j]!);
      return s.kind === 'cat' ? categoricalDim(col, s.n, p) : numericalDim(col, s, p, specs.length);
    });
  }

  /**
   * `count` draws, transformed space. `widen` multiplies the numeric bandwidths for these draws only
   * (a wider proposal than the estimator itself, as BOHB's bandwidth factor).
   */
  sample(rng: Rng, count: number, widen = 1): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < count; i++) {
      const k = rng.choice(this.weights);
      out.push(
        this.dims.map((d) => {
          if (d.kind === 'cat') return rng.choice(d.probs[k]!);
          const mu = d.mus[k]!;
          const sigma = d.sigmas[k]! * widen;
          const lo = d.low - d.step / 2;
          const hi = d.high + d.step / 2;
          const x = mu + sigma * truncnormPpf(rng.random(), (lo - mu) / sigma, (hi - mu) / sigma);
          if (!d.step) return Math.min(d.high, Math.max(d.low, x));
          return Math.min(d.high, Math.max(d.low, d.low + Math.round((x - d.low) / d.step) * d.step));
        }),
      );
    }
    return out;
  }

  /** Log density (log probability mass on step grids and categories) of each transformed point. */
  logPdf(xs: number[][]): Float64Array {
    const K = this.weights.length;
    const out = new Float64Array(xs.length);
    const acc = new Float64Array(K);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      acc.set(this.logWeights);
      for (let j = 0; j < this.dims.length; j++) {
        const d = this.dims[j]!;
        const xj = x[j]!;
        if (d.kind === 'cat') {
          for (let k = 0; k < K; k++) acc[k]! += Math.log(d.probs[k]![xj]!);
        } else if (!d.step) {
          const inside = xj >= d.low && xj <= d.high;
          for (let k = 0; k < K; k++) {
            const s = d.sigmas[k]!;
            acc[k]! += inside ? logPhi((xj - d.mus[k]!) / s) - Math.log(s) - d.logMass[k]! : -Infinity;
          }
        } else {
          const lower = d.low - d.step / 2;
          const upper = d.high + d.step / 2;
          const xl = Math.max(xj - d.step / 2, lower);
          const xu = Math.min(xj + d.step / 2, upper);
          for (let k = 0; k < K; k++) {
            const s = d.sigmas[k]!;
            const m = d.mus[k]!;
            acc[k]! += logGaussMass((xl - m) / s, (xu - m) / s) - d.logMass[k]!;
          }
        }
      }
      let max = -Infinity;
      for (let k = 0; k < K; k++) if (acc[k]! > max) max = acc[k]!;
      if (max === -Infinity) {
        out[i] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) sum += Math.exp(acc[k]! - max);
      out[i] = Math.log(sum) + max;
    }
    return out;
  }
}

function categoricalDim(obs: number[], nChoices: number, p: ParzenParameters): Dim {
  if (obs.length === 0) return { kind: 'cat', probs: [new Float64Array(nChoices).fill(1 / nChoices)] };
  const nKernels = obs.length + (p.considerPrior ? 1 : 0);
  const probs: Float64Array[] = [];
  for (let k = 0; k < nKernels; k++) {
    const row = new Float64Array(nChoices).fill(p.priorWeight / nKernels);
    if (k < obs.length) row[obs[k]!]! += 1;
    const s = row.reduce((a, b) => a + b, 0);
    for (let c = 0; c < nChoices; c++) row[c]! /= s;
    probs.push(row);
  }
  return { kind: 'cat', probs };
}

/** Kernel centers are the observations; bandwidths by `p.bandwidthStrategy`, then clipped to [min, range]. */
function numericalDim(obs: number[], s: Extract<Spec, { kind: 'num' }>, p: ParzenParameters, nParams: number): Dim {
  const { low, high, step } = s;
  const n = obs.length;
  const considerPrior = p.considerPrior || n === 0;
  const range = high - low + step;
  const centres = considerPrior ? [...obs, 0.5 * (low + high)] : [...obs];
  let sigmas: number[];
  if (p.bandwidthStrategy === 'optuna') {
    const sigma = p.bandwidthFactor * Math.max(n, 1) ** (-1 / (nParams + 4)) * range;
    sigmas = obs.map(() => sigma);
  } else if (p.bandwidthStrategy === 'scott') {
    // All centres equal (zero spread): fall back to the 'optuna' rule's width.
    const sigma = scottBandwidth(centres) || p.bandwidthFactor * Math.max(n, 1) ** (-1 / (nParams + 4)) * range;
    sigmas = obs.map(() => sigma);
  } else {
    sigmas = neighbourBandwidths(centres, low - step / 2, high + step / 2, p.considerEndpoints).slice(0, n);
  }
  const maxSigma = range;
  // range · max(Δ, (1 + n + prior)^(−α)), written as Optuna's range / min(100, 1 + n + prior) for Δ = 0.01, α = 1.
  const minSigma = p.considerMagicClip
    ? range /
      Math.min(p.minBandwidthFactor > 0 ? 1 / p.minBandwidthFactor : Infinity, (1 + n + (considerPrior ? 1 : 0)) ** p.magicClipExponent)
    : Math.max(1e-12, p.minBandwidthFactor * range);
  sigmas = sigmas.map((x) => Math.min(maxSigma, Math.max(minSigma, x)));
  if (considerPrior) sigmas.push(range);
  const lo = low - step / 2;
  const hi = high + step / 2;
  const logMass = Float64Array.from(centres, (m, k) => logGaussMass((lo - m) / sigmas[k]!, (hi - m) / sigmas[k]!));
  return { kind: 'num', mus: Float64Array.from(centres), sigmas: Float64Array.from(sigmas), logMass, low, high, step };
}

/**
 * Hyperopt's rule: each centre's distance to its farther neighbour among the sorted centres and the
 * range ends [lo, hi]. Without `considerEndpoints` (Optuna's default) the outermost centres use their
 * inner neighbour only.
 */
export function neighbourBandwidths(centres: number[], lo: number, hi: number, considerEndpoints: boolean): number[] {
  // A native numeric sort and a binary search per centre (3× faster than sorting indices by a
  // comparator); equal centres take their block's positions in index order, as a stable sort would.
  const n = centres.length;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = centres[i]! + 0; // −0 → +0: the sort and `<` then agree
  sorted.sort();
  let ties = false;
  for (let r = 1; r < n && !ties; r++) ties = sorted[r] === sorted[r - 1];
  const seen = ties ? new Map<number, number>() : undefined;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = centres[i]! + 0;
    let a = 0;
    let b = n;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (sorted[m]! < x) a = m + 1;
      else b = m;
    }
    let r = a;
    if (seen) {
      const k = seen.get(x) ?? 0;
      seen.set(x, k + 1);
      r += k;
    }
    const prev = r > 0 ? sorted[r - 1]! : lo;
    const next = r < n - 1 ? sorted[r + 1]! : hi;
    let s = Math.max(x - prev, next - x);
    if (!considerEndpoints && n >= 2) {
      if (r === 0) s = next - x;
      else if (r === n - 1) s = x - prev;
    }
    out[i] = s;
  }
  return out;
}

/** Scott's rule 1.059 · min(IQR/1.34, std) · n^(−1/5) (sample std; linearly interpolated quartiles); 0 for no spread. */
export function scottBandwidth(xs: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const sorted = [...xs].sort((a, b) => a - b);
  const q = (f: number) => {
    const h = (n - 1) * f;
    const i = Math.floor(h);
    return i + 1 < n ? sorted[i]! + (h - i) * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
  };
  // As R's bw.nrd0: a zero IQR (many ties) falls back to the std.
  return 1.059 * (Math.min((q(0.75) - q(0.25)) / 1.34, std) || std) * n ** -0.2;
}
