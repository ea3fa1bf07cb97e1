import { badInput } from '../../errors.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import { intersectionSearchSpace, lossValues, type Sampler, type StudyView } from './base.js';
import { specOf, transformValue, untransformValue } from './parzen.js';
import { sampleUniform } from './random.js';
import { Rng } from './rng.js';

export interface CmaEsOptions {
  seed?: number;
  /** Initial step size in the [0, 1]-normalized space. Default 1/6. */
  sigma0?: number;
  /** Population size λ. Default 4 + ⌊3 ln n⌋. */
  popsize?: number;
  /** 'ipop': restart with a doubled population when the search stalls. Default 'ipop'; null: no restarts. */
  restartStrategy?: 'ipop' | null;
  /** Population growth per IPOP restart. Default 2. */
  incPopsize?: number;
}

const GEN_KEY = 'cmaes:generation';
const RESTART_KEY = 'cmaes:restart';

/**
 * CMA-ES (Hansen's (μ/μ_w, λ) form with rank-one and rank-μ updates and cumulative step-size adaptation)
 * over the numeric parameters, normalized to [0, 1] (log scales logged, ints rounded afterwards);
 * categorical parameters are sampled at random, as in Optuna. Each trial records its restart and
 * generation; the optimizer state is the deterministic replay of the completed generations, so a study
 * shared by many workers evolves one distribution. IPOP restarts on stagnation (tolx, tolfun, conditioning).
 */
export class CmaEsSampler implements Sampler {
  private readonly rng: Rng;
  private readonly sigma0: number;
  private readonly popsize?: number;
  private readonly restart: 'ipop' | null;
  private readonly incPopsize: number;
  private cached: { key: string; state: CmaState; restart: number; popsize: number } | undefined;

  constructor(opts: CmaEsOptions = {}) {
    this.rng = new Rng(opts.seed);
    this.sigma0 = opts.sigma0 ?? 1 / 6;
    this.popsize = opts.popsize;
    this.restart = opts.restartStrategy === undefined ? 'ipop' : opts.restartStrategy;
    this.incPopsize = opts.incPopsize ?? 2;
    if (!(this.sigma0 > 0)) throw badInput('CMA-ES: sigma0 must be > 0');
    if (this.popsize !== undefined && !(Number.isInteger(this.popsize) && this.popsize >= 2)) {
      throw badInput('CMA-ES: popsize must be an integer ≥ 2');
    }
  }

  inferRelativeSearchSpace(study: StudyView): Record<string, Distribution> {
    const space = intersectionSearchSpace(study.trials, false);
    for (const [k, d] of Object.entries(space)) if (d.type === 'categorical') delete space[k];
    return space;
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    if (study.directions.length > 1) throw badInput('CMA-ES is single-objective; use NSGA-II for several objectives');
    const names = Object.keys(space);
    if (names.length === 0) return {};
    const specs = names.map((k) => specOf(space[k]!) as { low: number; high: number });
    const key = names.join('\u0000');
    const n = names.length;
    const basePop = this.popsize ?? 4 + Math.floor(3 * Math.log(n));

    if (!this.cached || this.cached.key !== key) {
      this.cached = { key, state: newState(n, basePop, new Float64Array(n).fill(0.5), this.sigma0), restart: 0, popsize: basePop };
    }
    const c = this.cached;
    // Replay every generation completed since the last call.
    for (;;) {
      const gen = study.trials.filter(
        (t) => t.state === 'complete' && t.systemAttrs[RESTART_KEY] === c.restart && t.systemAttrs[GEN_KEY] === c.state.generation,
      );
      if (gen.length < c.popsize) break;
      const solutions = gen.slice(0, c.popsize).map((t) => ({
        x: Float64Array.from(names, (k, j) => (transformValue(space[k]!, t.params[k]!) - specs[j]!.low) / (specs[j]!.high - specs[j]!.low)),
        f: lossValues(study, t.values!)[0]!,
      }));
      tell(c.state, solutions);
      if (this.restart === 'ipop' && shouldStop(c.state)) {
        c.restart++;
        c.popsize *= this.incPopsize;
        // A fresh mean drawn from a generator seeded by the restart index, so every worker agrees.
        const r = new Rng(c.restart * 7919 + 17);
        c.state = newState(
          n,
          c.popsize,
          Float64Array.from({ length: n }, () => r.random()),
          this.sigma0,
        );
      }
    }
    study.setTrialSystemAttr(trial, RESTART_KEY, c.restart);
    study.setTrialSystemAttr(trial, GEN_KEY, c.state.generation);
    const x = ask(c.state, this.rng);
    const out: Record<string, ParamValue> = {};
    names.forEach((k, j) => (out[k] = untransformValue(space[k]!, specs[j]!.low + x[j]! * (specs[j]!.high - specs[j]!.low))));
    return out;
  }

  sampleIndependent(_study: StudyView, _trial: FrozenTrial, _name: string, d: Distribution): ParamValue {
    return sampleUniform(this.rng, d);
  }
}

interface CmaState {
  n: number;
  lambda: number;
  mu: number;
  weights: Float64Array;
  muEff: number;
  cSigma: number;
  dSigma: number;
  cc: number;
  c1: number;
  cMu: number;
  chiN: number;
  mean: Float64Array;
  sigma: number;
  sigma0: number;
  C: Float64Array;
  B: Float64Array;
  D: Float64Array;
  pSigma: Float64Array;
  pc: Float64Array;
  generation: number;
  bestHistory: number[];
  lastValues: number[];
}

function newState(n: number, lambda: number, mean: Float64Array, sigma: number): CmaState {
  const mu = Math.floor(lambda / 2);
  const raw = Float64Array.from({ length: mu }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
  const sum = raw.reduce((a, b) => a + b, 0);
  const weights = raw.map((w) => w / sum);
  const muEff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const cSigma = (muEff + 2) / (n + muEff + 5);
  const c1 = 2 / ((n + 1.3) ** 2 + muEff);
  const C = new Float64Array(n * n);
  const B = new Float64Array(n * n);
  for (let i = 0; i < n; i++) C[i * n + i] = B[i * n + i] = 1;
  return {
    n,
    lambda,
    mu,
    weights,
    muEff,
    cSigma,
    dSigma: 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cSigma,
    cc: (4 + muEff / n) / (n + 4 + (2 * muEff) / n),
    c1,
    cMu: Math.min(1 - c1, (2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff)),
    chiN: Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n)),
    mean: Float64Array.from(mean),
    sigma,
    sigma0: sigma,
    C,
    B,
    D: new Float64Array(n).fill(1),
    pSigma: new Float64Array(n),
    pc: new Float64Array(n),
    generation: 0,
    bestHistory: [],
    lastValues: [],
  };
}

/** x = m + σ·B·D·z, resampled (up to 100 times) until inside [0, 1]ⁿ, then clipped. */
function ask(s: CmaState, rng: Rng): Float64Array {
  const n = s.n;
  let x = new Float64Array(n);
  for (let attempt = 0; attempt < 100; attempt++) {
    const z = Float64Array.from({ length: n }, () => rng.normal());
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let k = 0; k < n; k++) v += s.B[i * n + k]! * s.D[k]! * z[k]!;
      x[i] = s.mean[i]! + s.sigma * v;
    }
    if (x.every((v) => v >= 0 && v <= 1)) return x;
  }
  x = x.map((v) => Math.min(1, Math.max(0, v)));
  return x;
}

function tell(s: CmaState, solutions: { x: Float64Array; f: number }[]): void {
  const n = s.n;
  const sorted = [...solutions].sort((a, b) => a.f - b.f);
  const old = s.mean;
  const ys = sorted.slice(0, s.mu).map((sol) => sol.x.map((v, i) => (v - old[i]!) / s.sigma));
  const yw = new Float64Array(n);
  ys.forEach((y, k) => y.forEach((v, i) => (yw[i]! += s.weights[k]! * v)));
  s.mean = old.map((m, i) => m + s.sigma * yw[i]!);

  // C^{-1/2}·y_w = B·D⁻¹·Bᵀ·y_w
  const bty = new Float64Array(n);
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) bty[k]! += s.B[i * n + k]! * yw[i]!;
  const invSqrtY = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) invSqrtY[i]! += (s.B[i * n + k]! * bty[k]!) / s.D[k]!;
  const csn = Math.sqrt(s.cSigma * (2 - s.cSigma) * s.muEff);
  s.pSigma = s.pSigma.map((p, i) => (1 - s.cSigma) * p + csn * invSqrtY[i]!);
  const psNorm = Math.hypot(...s.pSigma);
  const hSigma = psNorm / Math.sqrt(1 - (1 - s.cSigma) ** (2 * (s.generation + 1))) < (1.4 + 2 / (n + 1)) * s.chiN ? 1 : 0;
  const ccn = Math.sqrt(s.cc * (2 - s.cc) * s.muEff);
  s.pc = s.pc.map((p, i) => (1 - s.cc) * p + hSigma * ccn * yw[i]!);
  const decay = 1 - s.c1 - s.cMu + (1 - hSigma) * s.c1 * s.cc * (2 - s.cc);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let rankMu = 0;
      ys.forEach((y, k) => (rankMu += s.weights[k]! * y[i]! * y[j]!));
      const v = decay * s.C[i * n + j]! + s.c1 * s.pc[i]! * s.pc[j]! + s.cMu * rankMu;
      s.C[i * n + j] = s.C[j * n + i] = v;
    }
  }
  s.sigma *= Math.exp((s.cSigma / s.dSigma) * (psNorm / s.chiN - 1));
  const [vals, vecs] = jacobiEigen(s.C, n);
  s.D = vals.map((v) => Math.sqrt(Math.max(v, 1e-20)));
  s.B = vecs;
  s.generation++;
  s.lastValues = sorted.map((x) => x.f);
  s.bestHistory.push(sorted[0]!.f);
}

/** Stagnation tests from Hansen's recommendations (tolx, tolfun, condition number). */
function shouldStop(s: CmaState): boolean {
  const n = s.n;
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, Math.sqrt(s.C[i * n + i]!), Math.abs(s.pc[i]!));
  if (s.sigma * maxDiag < 1e-11) return true;
  const window = 10 + Math.ceil((30 * n) / s.lambda);
  const hist = s.bestHistory.slice(-window);
  const all = [...hist, ...s.lastValues];
  if (s.bestHistory.length >= window && Math.max(...all) - Math.min(...all) < 1e-12) return true;
  const dmax = Math.max(...s.D);
  const dmin = Math.min(...s.D);
  if ((dmax / dmin) ** 2 > 1e14) return true;
  return s.sigma * dmax > 1e3 * s.sigma0;
}

/** Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations: [eigenvalues, eigenvectors as columns]. */
export function jacobiEigen(a: Float64Array, n: number): [Float64Array, Float64Array] {
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q]! - A[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - sn * akq;
          A[k * n + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - sn * aqk;
          A[q * n + k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!;
          const vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - sn * vkq;
          V[k * n + q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  return [Float64Array.from({ length: n }, (_, i) => A[i * n + i]!), V];
}
