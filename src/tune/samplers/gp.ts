import { badInput } from '../../errors.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import { constraintViolation, hasConstraints, intersectionSearchSpace, lossValues, type Sampler, type StudyView } from './base.js';
import { cholesky, choleskyInverse, minimize, solveLower, solveUpperT } from './linalg.js';
import { logNdtr, logPhi, ndtr } from './normal.js';
import { specOf, transformValue, untransformValue } from './parzen.js';
import { sampleUniform } from './random.js';
import { Rng } from './rng.js';

export interface GPOptions {
  seed?: number;
  /** Random trials before the GP starts. Default 10. */
  nStartupTrials?: number;
  /** Fix the noise at its minimum (for noiseless objectives). Default false. */
  deterministicObjective?: boolean;
  /** Random points scored by the acquisition before local refinement. Default 1024. */
  nPreliminarySamples?: number;
  /** Best preliminary points refined by projected L-BFGS. Default 8. */
  nLocalSearch?: number;
}

const MIN_NOISE = 1e-6;

/**
 * Gaussian-process Bayesian optimization (the design of Optuna's GPSampler): parameters mapped to [0, 1]
 * (log scales logged first, categories kept as indices), a Matérn-5/2 ARD kernel (categories compared
 * by Hamming distance), hyperparameters fitted by maximizing the log marginal likelihood plus priors with
 * L-BFGS (warm-started from the previous fit; past 100 trials refitted when the data grew by 5%, and a
 * cold fit on more than 200 points starts from a fit on 200 of them), and log expected improvement
 * maximized by scoring many random points and refining the best with projected L-BFGS. Integer and step
 * parameters are optimized continuously and rounded. Single-objective only.
 *
 * Constraints (`constraintsFunc`; a value ≤ 0 is satisfied): one more GP per constraint, and the
 * acquisition becomes log EI over the best feasible value plus Σ log P(constraint ≤ 0) (constrained EI,
 * Gardner et al. 2014, as Optuna's GPSampler) — until a feasible trial exists, the probability of
 * feasibility alone.
 */
export class GPSampler implements Sampler {
  private readonly rng: Rng;
  private readonly nStartupTrials: number;
  private readonly deterministic: boolean;
  private readonly nPreliminary: number;
  private readonly nLocal: number;
  private warm = new Map<string, { theta: Float64Array; n: number }>();

  constructor(opts: GPOptions = {}) {
    this.rng = new Rng(opts.seed);
    this.nStartupTrials = opts.nStartupTrials ?? 10;
    this.deterministic = opts.deterministicObjective ?? false;
    this.nPreliminary = opts.nPreliminarySamples ?? 1024;
    this.nLocal = opts.nLocalSearch ?? 8;
  }

  inferRelativeSearchSpace(study: StudyView): Record<string, Distribution> {
    return intersectionSearchSpace(study.trials, false);
  }

  /**
   * `trustRegion` (a side length in the unit cube): the acquisition is maximized only inside a box around
   * the incumbent, each side scaled by that dimension's fitted lengthscale over their geometric mean (the
   * trust region of TuRBO, Eriksson et al. 2019), for local refinement; categories stay free.
   */
  sampleRelative(
    study: StudyView,
    _trial: FrozenTrial,
    space: Record<string, Distribution>,
    trustRegion?: number,
  ): Record<string, ParamValue> {
    if (study.directions.length > 1) throw badInput('the GP sampler is single-objective; use TPE or NSGA-II for several objectives');
    const names = Object.keys(space);
    if (names.length === 0) return {};
    const trials = study.trials.filter((t) => t.state === 'complete' && names.every((k) => k in t.params));
    if (trials.length < this.nStartupTrials) return {};

    const dims = names.map((k) => {
      const d = space[k]!;
      const s = specOf(d);
      return s.kind === 'cat'
        ? { name: k, d, cat: true, n: s.n, low: 0, high: 1 }
        : { name: k, d, cat: false, n: 0, low: s.low, high: s.high };
    });
    const isCat = dims.map((x) => x.cat);
    const X = trials.map((t) =>
      Float64Array.from(dims, (x) =>
        x.cat ? transformValue(x.d, t.params[x.name]!) : (transformValue(x.d, t.params[x.name]!) - x.low) / (x.high - x.low),
      ),
    );
    const y = standardizedScores(trials.map((t) => lossValues(study, t.values!)[0]!));
    const key = names.join('\u0000');
    const gp = this.fit(`${key}\u0001objective`, X, y, isCat);

    // Constraints: a GP per constraint on the trials that stored values; P(c ≤ 0) at the threshold that
    // 0 becomes after standardizing.
    const feasibility: { gp: GP; threshold: number }[] = [];
    let feasible = trials.map(() => true);
    if (hasConstraints(study)) {
      const withC = trials.map((t) => t.systemAttrs.constraints).map((c) => (Array.isArray(c) ? (c as number[]) : undefined));
      feasible = trials.map((t) => constraintViolation(t) === 0);
      const nc = Math.max(0, ...withC.map((c) => c?.length ?? 0));
      for (let j = 0; j < nc; j++) {
        const rows = withC
          .map((c, i) => [i, c?.[j]] as const)
          .filter((r): r is readonly [number, number] => typeof r[1] === 'number' && Number.isFinite(r[1]));
        if (rows.length < 2) continue;
        const vals = rows.map((r) => r[1]);
        const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
        const sd = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length) || 1;
        feasibility.push({
          gp: this.fit(
            `${key}\u0001c${j}`,
            rows.map((r) => X[r[0]]!),
            vals.map((v) => (v - mean) / sd),
            isCat,
          ),
          threshold: -mean / sd,
        });
      }
    }

    const feasibleY = y.filter((_, i) => feasible[i]);
    const best = feasibleY.length ? Math.max(...feasibleY) : undefined;
    // The incumbent: the best feasible trial, else the least violating one.
    const incumbentIndex =
      best !== undefined
        ? y.findIndex((v, i) => v === best && feasible[i])
        : trials.map((t) => constraintViolation(t)).reduce((bi, v, i, all) => (v < all[bi]! ? i : bi), 0);
    const acquisition: Acquisition = {
      value: (x) => (best !== undefined ? gp.logEI(x, best) : 0) + feasibility.reduce((a, f) => a + f.gp.logPFeasible(x, f.threshold), 0),
      withGrad: (x) => {
        const [v, g] = best !== undefined ? gp.logEIWithGrad(x, best) : [0, new Float64Array(x.length)];
        let total = v;
        for (const f of feasibility) {
          const [vf, gf] = f.gp.logPFeasibleWithGrad(x, f.threshold);
          total += vf;
          for (let j = 0; j < g.length; j++) g[j]! += gf[j]!;
        }
        return [total, g];
      },
    };
    const box = trustRegion === undefined ? undefined : trustBox(gp.theta, isCat, X[incumbentIndex]!, trustRegion);
    const x = this.optimizeAcquisition(acquisition, gp.n, dims, X[incumbentIndex]!, box);
    const out: Record<string, ParamValue> = {};
    dims.forEach((dm, j) => {
      // Categories are kept as indices, so untransformValue maps them back too.
      out[dm.name] = untransformValue(dm.d, dm.cat ? x[j]! : dm.low + x[j]! * (dm.high - dm.low));
    });
    return out;
  }

  /**
   * A GP on (X, y), hyperparameters warm-started from the last fit under `key`: past 100 points one more
   * barely moves them, so they are refitted only when the data grew by 5%.
   */
  private fit(key: string, X: Float64Array[], y: number[], isCat: boolean[]): GP {
    const warm = this.warm.get(key);
    if (warm && X.length > 100 && X.length < warm.n * 1.05)
      return buildPosterior(X, Float64Array.from(y), isCat, warm.theta, this.deterministic);
    const gp = fitGP(X, y, isCat, warm?.theta, this.deterministic, this.rng);
    this.warm.set(key, { theta: gp.theta, n: X.length });
    return gp;
  }

  sampleIndependent(_study: StudyView, _trial: FrozenTrial, _name: string, d: Distribution): ParamValue {
    return sampleUniform(this.rng, d);
  }

  private optimizeAcquisition(
    acq: Acquisition,
    n: number,
    dims: { cat: boolean; n: number; d: Distribution; low: number; high: number }[],
    incumbent: Float64Array,
    box?: { lower: number[]; upper: number[] },
  ): Float64Array {
    const D = dims.length;
    const lower = box?.lower ?? new Array<number>(D).fill(0);
    const upper = box?.upper ?? new Array<number>(D).fill(1);
    const randomPoint = () =>
      Float64Array.from(dims, (dm, j) => (dm.cat ? this.rng.int(dm.n) : lower[j]! + (upper[j]! - lower[j]!) * this.rng.random()));
    const scored: { x: Float64Array; v: number }[] = [];
    // Each acquisition value costs O(n²): with many trials, score fewer points and refine fewer.
    const shrink = Math.min(1, (200 / n) ** 2);
    const nPreliminary = Math.max(128, Math.round(this.nPreliminary * shrink));
    const nLocal = Math.max(2, Math.round(this.nLocal * Math.sqrt(shrink)));
    for (let i = 0; i < nPreliminary; i++) {
      const x = randomPoint();
      scored.push({ x, v: acq.value(x) });
    }
    scored.sort((a, b) => b.v - a.v);
    const starts = [incumbent, ...scored.slice(0, nLocal).map((s) => s.x)];
    const fixed = dims.map((dm) => dm.cat);
    let bestX = scored[0]!.x;
    let bestV = scored[0]!.v;
    const snapPoint = (x: Float64Array) =>
      Float64Array.from(x, (v, j) => {
        const dm = dims[j]!;
        if (dm.cat) return v;
        const ext = untransformValue(dm.d, dm.low + v * (dm.high - dm.low));
        return (transformValue(dm.d, ext) - dm.low) / (dm.high - dm.low);
      });
    for (const x0 of starts) {
      const r = minimize(
        (x) => {
          const [v, g] = acq.withGrad(x);
          return [-v, g.map((e) => -e)];
        },
        x0,
        { lower, upper, fixed, maxIter: 50 },
      );
      let x = snapPoint(r.x);
      let v = acq.value(x);
      // Categories: one sweep of coordinate search over each categorical dimension.
      for (let j = 0; j < D; j++) {
        if (!dims[j]!.cat) continue;
        for (let c = 0; c < dims[j]!.n; c++) {
          if (c === x[j]) continue;
          const xc = Float64Array.from(x);
          xc[j] = c;
          const vc = acq.value(xc);
          if (vc > v) {
            v = vc;
            x = xc;
          }
        }
      }
      if (v > bestV) {
        bestV = v;
        bestX = x;
      }
    }
    return snapPoint(bestX);
  }
}

/** The trust region's box in the unit cube: `length` × (lengthscale / their geometric mean) per numeric dimension, centred on `centre`. */
function trustBox(theta: Float64Array, isCat: boolean[], centre: Float64Array, length: number): { lower: number[]; upper: number[] } {
  // θ holds log ρ = −2 log lengthscale.
  const logScale = isCat.map((_, j) => -0.5 * theta[j]!);
  const numeric = logScale.filter((_, j) => !isCat[j]);
  const mean = numeric.reduce((a, b) => a + b, 0) / Math.max(1, numeric.length);
  const half = logScale.map((l, j) => (isCat[j] ? Infinity : 0.5 * length * Math.exp(l - mean)));
  return {
    lower: half.map((h, j) => (isCat[j] ? 0 : Math.max(0, centre[j]! - h))),
    upper: half.map((h, j) => (isCat[j] ? 1 : Math.min(1, centre[j]! + h))),
  };
}

/** Scores to maximize (negated losses), infinities clipped to the finite range, standardized. */
function standardizedScores(losses: number[]): number[] {
  const finite = losses.filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 0;
  const s = losses.map((l) => -(Number.isFinite(l) ? l : l > 0 ? hi : lo));
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / s.length);
  return s.map((v) => (v - mean) / Math.max(sd, 1e-10));
}

/** Matérn 5/2 of a squared scaled distance: (1 + √(5s) + 5s/3)·exp(−√(5s)), and its derivative in s. */
function matern52(s: number): number {
  const r = Math.sqrt(5 * s);
  return (1 + r + (5 * s) / 3) * Math.exp(-r);
}
function matern52Deriv(s: number): number {
  const r = Math.sqrt(5 * s);
  return (-5 / 6) * (1 + r) * Math.exp(-r);
}

interface GP {
  theta: Float64Array;
  /** Number of observations. */
  n: number;
  logEI(x: Float64Array, best: number): number;
  logEIWithGrad(x: Float64Array, best: number): [number, Float64Array];
  /** log P(f(x) ≤ threshold) under the posterior (a constraint's GP). */
  logPFeasible(x: Float64Array, threshold: number): number;
  logPFeasibleWithGrad(x: Float64Array, threshold: number): [number, Float64Array];
}

/** What the acquisition optimizer maximizes. */
interface Acquisition {
  value(x: Float64Array): number;
  withGrad(x: Float64Array): [number, Float64Array];
}

/**
 * θ = [log ρ₁…ρ_D (inverse squared lengthscales), log signal variance, log(noise − MIN_NOISE)].
 * Priors (Optuna's): −(0.1/ρ + 0.1ρ) per dimension, Gamma(2, 1) on the signal variance, Gamma(1.1, 30)
 * on the noise.
 */
function fitGP(X: Float64Array[], y: number[], isCat: boolean[], theta0: Float64Array | undefined, deterministic: boolean, rng: Rng): GP {
  const theta = fitHyperparameters(X, y, isCat, theta0, deterministic, rng);
  return buildPosterior(X, Float64Array.from(y), isCat, theta, deterministic);
}

const SUBSET = 200;

function fitHyperparameters(
  X: Float64Array[],
  y: number[],
  isCat: boolean[],
  theta0: Float64Array | undefined,
  deterministic: boolean,
  rng: Rng,
): Float64Array {
  // Each evaluation costs O(n³): a cold fit on many points starts from a fit on a random subset.
  if (!theta0 && X.length > SUBSET) {
    const idx = rng.shuffle(X.map((_, i) => i)).slice(0, SUBSET);
    theta0 = fitHyperparameters(
      idx.map((i) => X[i]!),
      idx.map((i) => y[i]!),
      isCat,
      undefined,
      deterministic,
      rng,
    );
  }
  const n = X.length;
  const D = isCat.length;
  // Per-dimension squared distances (Hamming for categories), computed once.
  const dist = Array.from({ length: D }, () => new Float64Array(n * n));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      for (let j = 0; j < D; j++) {
        const diff = X[a]![j]! - X[b]![j]!;
        const v = isCat[j] ? (diff === 0 ? 0 : 1) : diff * diff;
        dist[j]![a * n + b] = v;
        dist[j]![b * n + a] = v;
      }
    }
  }
  const yv = Float64Array.from(y);

  /** Negative (log marginal likelihood + log prior) and its gradient in θ. */
  const objective = (theta: Float64Array): [number, Float64Array] => {
    const rho = theta.subarray(0, D).map(Math.exp);
    const sig = Math.exp(theta[D]!);
    const noise = deterministic ? MIN_NOISE : MIN_NOISE + Math.exp(theta[D + 1]!);
    const S = new Float64Array(n * n);
    for (let j = 0; j < D; j++) {
      const dj = dist[j]!;
      const r = rho[j]!;
      for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) S[a * n + b]! += r * dj[a * n + b]!;
    }
    // Matérn values and derivatives per pair (upper triangle), sharing one exp.
    const M = new Float64Array(n * n);
    const MD = new Float64Array(n * n);
    const K = new Float64Array(n * n);
    for (let a = 0; a < n; a++) {
      K[a * n + a] = sig + noise;
      for (let b = a + 1; b < n; b++) {
        const idx = a * n + b;
        const sv = S[idx]!;
        const r = Math.sqrt(5 * sv);
        const e = Math.exp(-r);
        M[idx] = (1 + r + (5 * sv) / 3) * e;
        MD[idx] = (-5 / 6) * (1 + r) * e;
        K[idx] = K[b * n + a] = sig * M[idx]!;
      }
    }
    let L: Float64Array;
    try {
      L = cholesky(K, n);
    } catch {
      return [Infinity, new Float64Array(theta.length)];
    }
    const alpha = solveUpperT(L, n, solveLower(L, n, yv));
    let lml = 0;
    for (let i = 0; i < n; i++) lml -= 0.5 * yv[i]! * alpha[i]! + Math.log(L[i * n + i]!);
    lml -= 0.5 * n * Math.log(2 * Math.PI);
    let prior = 0;
    for (let j = 0; j < D; j++) prior -= 0.1 / rho[j]! + 0.1 * rho[j]!;
    prior += Math.log(sig) - sig;
    if (!deterministic) prior += 0.1 * Math.log(noise) - 30 * noise;

    const Kinv = choleskyInverse(L, n);
    const grad = new Float64Array(theta.length);
    // dL/dθ = ½ tr((ααᵀ − K⁻¹) dK/dθ); off-diagonal pairs counted twice.
    let trW = 0;
    let sigTerm = 0;
    const gRho = new Float64Array(D);
    for (let a = 0; a < n; a++) {
      const wd = alpha[a]! * alpha[a]! - Kinv[a * n + a]!;
      trW += wd;
      sigTerm += wd * sig;
      for (let b = a + 1; b < n; b++) {
        const idx = a * n + b;
        const w = 2 * (alpha[a]! * alpha[b]! - Kinv[idx]!);
        sigTerm += w * sig * M[idx]!;
        const fd = w * sig * MD[idx]!;
        for (let j = 0; j < D; j++) gRho[j]! += fd * dist[j]![idx]!;
      }
    }
    for (let j = 0; j < D; j++) grad[j] = 0.5 * gRho[j]! * rho[j]! + (0.1 / rho[j]! - 0.1 * rho[j]!);
    grad[D] = 0.5 * sigTerm + (1 - sig);
    if (!deterministic) grad[D + 1] = 0.5 * trW * (noise - MIN_NOISE) + (0.1 / noise - 30) * (noise - MIN_NOISE);
    return [-(lml + prior), grad.map((g) => -g)];
  };

  const P = D + (deterministic ? 1 : 2);
  const defaults = new Float64Array(P);
  if (!deterministic) defaults[D + 1] = Math.log(1e-2);
  // Warm start from the previous fit (the posterior changes little per trial); defaults otherwise.
  const starts = theta0 && theta0.length === P ? [theta0] : [defaults];
  let best: { x: Float64Array; value: number } | undefined;
  for (const s of starts) {
    const r = minimize(objective, s, {
      maxIter: !theta0 ? 80 : n <= 100 ? 30 : 10,
      lower: new Array<number>(P).fill(-12),
      upper: new Array<number>(P).fill(12),
    });
    if (!best || r.value < best.value) best = r;
  }
  return best!.x;
}

function buildPosterior(X: Float64Array[], y: Float64Array, isCat: boolean[], theta: Float64Array, deterministic: boolean): GP {
  const n = X.length;
  const D = isCat.length;
  const rho = theta.subarray(0, D).map(Math.exp);
  const sig = Math.exp(theta[D]!);
  const noise = deterministic ? MIN_NOISE : MIN_NOISE + Math.exp(theta[D + 1]!);
  const sqd = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let j = 0; j < D; j++) {
      const diff = a[j]! - b[j]!;
      s += rho[j]! * (isCat[j] ? (diff === 0 ? 0 : 1) : diff * diff);
    }
    return s;
  };
  const K = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b <= a; b++) {
      const v = sig * matern52(sqd(X[a]!, X[b]!));
      K[a * n + b] = v;
      K[b * n + a] = v;
    }
    K[a * n + a]! += noise;
  }
  const L = cholesky(K, n);
  const alpha = solveUpperT(L, n, solveLower(L, n, y));

  const moments = (x: Float64Array) => {
    const S = new Float64Array(n);
    const k = new Float64Array(n);
    let mean = 0;
    for (let i = 0; i < n; i++) {
      S[i] = sqd(x, X[i]!);
      k[i] = sig * matern52(S[i]!);
      mean += k[i]! * alpha[i]!;
    }
    const v = solveLower(L, n, k);
    let vv = 0;
    for (let i = 0; i < n; i++) vv += v[i]! * v[i]!;
    const variance = Math.max(sig - vv, 1e-12);
    return { S, v, mean, sd: Math.sqrt(variance) };
  };

  /** f's value at x and its gradient, for f of the posterior mean and sd with ∂f/∂μ and ∂f/∂σ given. */
  const withGrad = (x: Float64Array, f: (mean: number, sd: number) => [number, number, number]): [number, Float64Array] => {
    const m = moments(x);
    const [value, dMu, dSd] = f(m.mean, m.sd);
    const beta = solveUpperT(L, n, m.v);
    const g = new Float64Array(D);
    for (let i = 0; i < n; i++) {
      // ∂k_i/∂x_j = sig·f'(S_i)·2ρ_j(x_j − X_ij); ∂σ/∂x = −Σ β_i ∂k_i/∂x / σ.
      const c = (dMu * alpha[i]! - (dSd * beta[i]!) / m.sd) * sig * matern52Deriv(m.S[i]!) * 2;
      if (c === 0) continue;
      const xi = X[i]!;
      for (let j = 0; j < D; j++) if (!isCat[j]) g[j]! += c * rho[j]! * (x[j]! - xi[j]!);
    }
    return [value, g];
  };
  const logEI = (mean: number, sd: number, best: number): [number, number, number] => {
    const [lh, dPhiOverH, phiOverH] = logH((mean - best) / sd);
    // ∂logEI/∂μ = Φ(z)/(σH), ∂logEI/∂σ = φ(z)/(σH).
    return [Math.log(sd) + lh, dPhiOverH / sd, phiOverH / sd];
  };
  const logPF = (mean: number, sd: number, threshold: number): [number, number, number] => {
    // log Φ(z), z = (t − μ)/σ: ∂/∂μ = −r/σ, ∂/∂σ = −r·z/σ with r = φ(z)/Φ(z).
    const z = (threshold - mean) / sd;
    const lp = logNdtr(z);
    const r = Math.exp(logPhi(z) - lp);
    return [lp, -r / sd, (-r * z) / sd];
  };

  return {
    theta,
    n,
    logEI: (x, best) => {
      const m = moments(x);
      return logEI(m.mean, m.sd, best)[0];
    },
    logEIWithGrad: (x, best) => withGrad(x, (mean, sd) => logEI(mean, sd, best)),
    logPFeasible: (x, threshold) => {
      const m = moments(x);
      return logPF(m.mean, m.sd, threshold)[0];
    },
    logPFeasibleWithGrad: (x, threshold) => withGrad(x, (mean, sd) => logPF(mean, sd, threshold)),
  };
}

/**
 * log H(z) with H(z) = φ(z) + zΦ(z) (so EI = σ·H((μ − best)/σ)), plus Φ(z)/H(z) and φ(z)/H(z);
 * stable for very negative z through the Mills ratio R(t) = Φ(−t)/φ(t).
 */
export function logH(z: number): [number, number, number] {
  if (z > -5) {
    const phi = Math.exp(logPhi(z));
    const Phi = ndtr(z);
    const h = phi + z * Phi;
    return [Math.log(h), Phi / h, phi / h];
  }
  const t = -z;
  const R = millsRatio(t);
  // H = φ(z)(1 − tR); 1 − tR ≈ 1/t² for large t, computed by series there to avoid cancellation.
  const q = t > 30 ? (1 / (t * t)) * (1 - 3 / (t * t) + 15 / t ** 4 - 105 / t ** 6) : 1 - t * R;
  return [logPhi(z) + Math.log(q), R / q, 1 / q];
}

/** Φ(−t)/φ(t) for t ≥ 5 by its continued fraction 1/(t + 1/(t + 2/(t + 3/(t + …)))). */
function millsRatio(t: number): number {
  let f = 0;
  for (let k = 60; k >= 1; k--) f = k / (t + f);
  return 1 / (t + f);
}
