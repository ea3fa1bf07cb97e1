import { badInput } from '../errors.js';
import { hypervolume } from './hypervolume.js';
import type { Sampler } from './samplers/base.js';
import { createStudy, type Study } from './study.js';

/**
 * Standard test functions for black-box optimizers (domains and optima as in Surjanovic & Bingham's
 * library), used by the tests, `bench/tune.ts` and `hone tune --objective bench:NAME`.
 */
export interface BenchmarkFunction {
  name: string;
  dims: number;
  /** [low, high] per dimension. */
  bounds: [number, number][];
  /** Global minimum value. */
  optimum: number;
  evaluate(x: number[]): number;
}

export const branin: BenchmarkFunction = {
  name: 'branin',
  dims: 2,
  bounds: [
    [-5, 10],
    [0, 15],
  ],
  optimum: 0.397887357729738,
  evaluate([x1, x2]) {
    const b = 5.1 / (4 * Math.PI ** 2);
    const c = 5 / Math.PI;
    const t = 1 / (8 * Math.PI);
    return (x2! - b * x1! ** 2 + c * x1! - 6) ** 2 + 10 * (1 - t) * Math.cos(x1!) + 10;
  },
};

const H6_ALPHA = [1.0, 1.2, 3.0, 3.2];
const H6_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H6_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((r) => r.map((v) => v * 1e-4));

export const hartmann6: BenchmarkFunction = {
  name: 'hartmann6',
  dims: 6,
  bounds: Array.from({ length: 6 }, () => [0, 1] as [number, number]),
  optimum: -3.32236801141551,
  evaluate(x) {
    let s = 0;
    for (let i = 0; i < 4; i++) {
      let inner = 0;
      for (let j = 0; j < 6; j++) inner += H6_A[i]![j]! * (x[j]! - H6_P[i]![j]!) ** 2;
      s += H6_ALPHA[i]! * Math.exp(-inner);
    }
    return -s;
  },
};

export const rosenbrock4: BenchmarkFunction = {
  name: 'rosenbrock4',
  dims: 4,
  bounds: Array.from({ length: 4 }, () => [-5, 10] as [number, number]),
  optimum: 0,
  evaluate(x) {
    let s = 0;
    for (let i = 0; i < x.length - 1; i++) s += 100 * (x[i + 1]! - x[i]! ** 2) ** 2 + (x[i]! - 1) ** 2;
    return s;
  },
};

export const ackley5: BenchmarkFunction = {
  name: 'ackley5',
  dims: 5,
  bounds: Array.from({ length: 5 }, () => [-32.768, 32.768] as [number, number]),
  optimum: 0,
  evaluate(x) {
    const d = x.length;
    let sq = 0;
    let cs = 0;
    for (const v of x) {
      sq += v * v;
      cs += Math.cos(2 * Math.PI * v);
    }
    return -20 * Math.exp(-0.2 * Math.sqrt(sq / d)) - Math.exp(cs / d) + 20 + Math.E;
  },
};

export const levy5: BenchmarkFunction = {
  name: 'levy5',
  dims: 5,
  bounds: Array.from({ length: 5 }, () => [-10, 10] as [number, number]),
  optimum: 0,
  evaluate(x) {
    const w = x.map((v) => 1 + (v - 1) / 4);
    const d = w.length;
    let s = Math.sin(Math.PI * w[0]!) ** 2;
    for (let i = 0; i < d - 1; i++) s += (w[i]! - 1) ** 2 * (1 + 10 * Math.sin(Math.PI * w[i]! + 1) ** 2);
    s += (w[d - 1]! - 1) ** 2 * (1 + Math.sin(2 * Math.PI * w[d - 1]!) ** 2);
    return s;
  },
};

export const benchmarkFunctions: Record<string, BenchmarkFunction> = { branin, hartmann6, rosenbrock4, ackley5, levy5 };

export function getBenchmark(name: string): BenchmarkFunction {
  const f = benchmarkFunctions[name];
  if (!f) throw badInput(`unknown benchmark '${name}'; use one of ${Object.keys(benchmarkFunctions).join(', ')}`);
  return f;
}

/** The objective for a benchmark: parameters x0 … x{d−1} over its domain. */
export function benchmarkObjective(
  f: BenchmarkFunction,
): (trial: { suggestFloat(name: string, low: number, high: number): number }) => number {
  return (trial) => f.evaluate(f.bounds.map(([lo, hi], i) => trial.suggestFloat(`x${i}`, lo, hi)));
}

/** Runs a minimizing study of `nTrials` on `f`; returns the study and the simple regret (best − optimum). */
export async function runBenchmark(
  f: BenchmarkFunction,
  opts: { sampler: Sampler; nTrials: number; name?: string },
): Promise<{ study: Study; bestValue: number; regret: number }> {
  const study = await createStudy({ sampler: opts.sampler, name: opts.name, direction: 'minimize' });
  await study.optimize(benchmarkObjective(f), { nTrials: opts.nTrials });
  const bestValue = study.bestValue;
  return { study, bestValue, regret: bestValue - f.optimum };
}

/**
 * Multi-objective test problems (all objectives minimized) for `bench/tune-multi.ts`: the quality of a
 * run is the hypervolume of its final front up to `reference`, which bounds every point the domain can
 * produce, against the hypervolume of the true Pareto front (`optimalHypervolume`, analytic).
 */
export interface MultiObjectiveBenchmark {
  name: string;
  dims: number;
  bounds: [number, number][];
  objectives: number;
  reference: number[];
  optimalHypervolume: number;
  evaluate(x: number[]): number[];
}

/**
 * ZDT1 (Zitzler, Deb & Thiele 2000) with 10 variables on [0, 1]: f1 = x0, f2 = g·(1 − √(f1/g)),
 * g = 1 + 9·mean(x1…); the front is f2 = 1 − √f1 (g = 1). f2 ≤ g ≤ 10, so (1.1, 11) bounds everything;
 * the front dominates 1.1·11 − ∫₀¹(1 − √f)df = 12.1 − 1/3 of that box.
 */
export const zdt1: MultiObjectiveBenchmark = {
  name: 'zdt1',
  dims: 10,
  bounds: Array.from({ length: 10 }, () => [0, 1] as [number, number]),
  objectives: 2,
  reference: [1.1, 11],
  optimalHypervolume: 12.1 - 1 / 3,
  evaluate(x) {
    let s = 0;
    for (let i = 1; i < x.length; i++) s += x[i]!;
    const g = 1 + (9 * s) / (x.length - 1);
    return [x[0]!, g * (1 - Math.sqrt(x[0]! / g))];
  },
};

/**
 * DTLZ2 (Deb, Thiele, Laumanns & Zitzler 2002) with 3 objectives and 7 variables on [0, 1]: the front is
 * the unit sphere's positive octant (g = Σ_{i≥2}(x_i − 0.5)² = 0). Values are ≤ 1 + g ≤ 2.25, so
 * (2.5, 2.5, 2.5) bounds everything; the front dominates 2.5³ − π/6 of that box.
 */
export const dtlz2: MultiObjectiveBenchmark = {
  name: 'dtlz2',
  dims: 7,
  bounds: Array.from({ length: 7 }, () => [0, 1] as [number, number]),
  objectives: 3,
  reference: [2.5, 2.5, 2.5],
  optimalHypervolume: 2.5 ** 3 - Math.PI / 6,
  evaluate(x) {
    let g = 0;
    for (let i = 2; i < x.length; i++) g += (x[i]! - 0.5) ** 2;
    const a = (x[0]! * Math.PI) / 2;
    const b = (x[1]! * Math.PI) / 2;
    return [(1 + g) * Math.cos(a) * Math.cos(b), (1 + g) * Math.cos(a) * Math.sin(b), (1 + g) * Math.sin(a)];
  },
};

export const multiObjectiveBenchmarks: Record<string, MultiObjectiveBenchmark> = { zdt1, dtlz2 };

/**
 * Runs a study of `nTrials` on `f` (every objective minimized); returns the study, the hypervolume of its
 * final front and the gap to the true front's (lower is better, 0 at best).
 */
export async function runMultiObjectiveBenchmark(
  f: MultiObjectiveBenchmark,
  opts: { sampler: Sampler; nTrials: number; name?: string },
): Promise<{ study: Study; hypervolume: number; gap: number }> {
  const study = await createStudy({ sampler: opts.sampler, name: opts.name, directions: f.reference.map(() => 'minimize' as const) });
  await study.optimize((t) => f.evaluate(f.bounds.map(([lo, hi], i) => t.suggestFloat(`x${i}`, lo, hi))), { nTrials: opts.nTrials });
  const hv = hypervolume(
    study.bestTrials.map((t) => t.values!),
    f.reference,
  );
  return { study, hypervolume: hv, gap: f.optimalHypervolume - hv };
}
