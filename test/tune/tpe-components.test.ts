import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStudy } from '../../src/tune/study.js';
import { TrialPruned } from '../../src/tune/trial.js';
import type { StudyView } from '../../src/tune/samplers/base.js';
import type { FrozenTrial } from '../../src/tune/types.js';
import { HoneError } from '../../src/errors.js';
import { ParzenEstimator, neighbourBandwidths, scottBandwidth, type ParzenParameters, type Spec } from '../../src/tune/samplers/parzen.js';
import { Rng } from '../../src/tune/samplers/rng.js';
import {
  defaultGamma,
  eiWeights,
  gammaFunction,
  OPTUNA_TPE_OPTIONS,
  splitTrials,
  TPESampler,
  type TPEOptions,
} from '../../src/tune/samplers/tpe.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { levy5, rosenbrock4, runBenchmark } from '../../src/tune/benchmarks.js';

const unit: Spec = { kind: 'num', low: 0, high: 1, step: 0 };

function params(over: Partial<ParzenParameters> = {}): ParzenParameters {
  return {
    considerPrior: true,
    priorWeight: 1,
    considerMagicClip: false,
    considerEndpoints: false,
    multivariate: true,
    bandwidthStrategy: 'optuna',
    bandwidthFactor: 0.065,
    magicClipExponent: 1,
    minBandwidthFactor: 0,
    weights: (n) => new Array<number>(n).fill(1),
    ...over,
  };
}

/** The numeric kernels of dimension `j` (test access to the estimator's internals). */
function kernels(pe: ParzenEstimator, j = 0): { mus: number[]; sigmas: number[] } {
  const d = (pe as unknown as { dims: { mus: Float64Array; sigmas: Float64Array }[] }).dims[j]!;
  return { mus: Array.from(d.mus), sigmas: Array.from(d.sigmas) };
}

test('EI weights are proportional to the improvement over y*, floored at 1e-12, and average 1', () => {
  const w = eiWeights([0, 0.5, 0.9], 1);
  // Improvements 1, 0.5, 0.1 (sum 1.6), scaled to mean 1: × 3 / 1.6.
  assert.deepEqual(
    w.map((x) => Number(x.toFixed(12))),
    [1.875, 0.9375, 0.1875],
  );
  assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 3) < 1e-12, 'sum = count');
  assert.ok(Math.abs(w[0]! / w[1]! - 2) < 1e-12 && Math.abs(w[1]! / w[2]! - 5) < 1e-12, 'ratios follow the improvements');
  // A tie with y* keeps a tiny positive weight; all ties give uniform weights.
  const tied = eiWeights([0, 1], 1);
  assert.ok(tied[1]! > 0 && tied[1]! < 1e-9);
  assert.deepEqual(eiWeights([1, 1], 1), [1, 1]);
});

test('ParzenEstimator with EI weights: the prior keeps weight priorWeight / (n + priorWeight)', () => {
  const pe = new ParzenEstimator([[0.1], [0.5]], [unit], params(), eiWeights([0, 0.75], 1));
  // Weights 1.6, 0.4 (mean 1) and prior 1, normalized by 3.
  assert.deepEqual(
    Array.from(pe.weights).map((x) => Number(x.toFixed(12))),
    [Number((1.6 / 3).toFixed(12)), Number((0.4 / 3).toFixed(12)), Number((1 / 3).toFixed(12))],
  );
});

test('splitting rules: linear ceil(β·n) and sqrt ceil(β·√n), at most 25; linear 0.1 is the default', () => {
  const lin = gammaFunction('linear', 0.15);
  const sq = gammaFunction('sqrt', 1);
  assert.deepEqual([10, 11, 100, 1000].map(lin), [2, 2, 15, 25]);
  assert.deepEqual([10, 16, 100, 1000].map(sq), [4, 4, 10, 25]);
  for (const n of [0, 1, 9, 10, 11, 99, 250, 251, 5000]) assert.equal(gammaFunction('linear', 0.1)(n), defaultGamma(n));
});

test('minimum bandwidth factor bounds every numeric bandwidth, with and without the magic clip', () => {
  const obs = [[0.5], [0.501], [0.502], [0.9]];
  for (const considerMagicClip of [false, true]) {
    for (const bandwidthStrategy of ['optuna', 'hyperopt', 'scott'] as const) {
      const pe = new ParzenEstimator(
        obs,
        [{ kind: 'num', low: -2, high: 2, step: 0 }],
        params({ considerMagicClip, bandwidthStrategy, minBandwidthFactor: 0.03, magicClipExponent: 3 }),
      );
      const { sigmas } = kernels(pe);
      for (const s of sigmas.slice(0, -1)) assert.ok(s >= 0.03 * 4 - 1e-15, `${bandwidthStrategy} clip=${considerMagicClip}: ${s}`);
      assert.equal(sigmas.at(-1), 4, 'the prior kernel spans the range');
    }
  }
  // Without it the neighbour rule keeps its tiny widths.
  const free = kernels(new ParzenEstimator(obs, [unit], params({ bandwidthStrategy: 'hyperopt' })));
  assert.ok(Math.abs(free.sigmas[1]! - 0.001) < 1e-12);
});

test('magic clip exponent: lower bound range · (1 + n + prior)^(−α), Optuna at α = 1', () => {
  const obs = [[0.5], [0.5001], [0.5002]];
  const sig = (magicClipExponent: number, minBandwidthFactor: number) =>
    kernels(
      new ParzenEstimator(
        obs,
        [unit],
        params({ bandwidthStrategy: 'hyperopt', considerMagicClip: true, magicClipExponent, minBandwidthFactor }),
      ),
    ).sigmas;
  assert.ok(Math.abs(sig(1, 0.01)[1]! - 1 / 5) < 1e-15, 'Optuna: range / min(100, 1 + n + 1)');
  assert.ok(Math.abs(sig(2, 0)[1]! - 1 / 25) < 1e-15);
  assert.ok(Math.abs(sig(2, 0.05)[1]! - 0.05) < 1e-15, 'Δ wins when larger');
});

test('bandwidth rules: Hyperopt per-kernel neighbour distances in multivariate mode, Scott per dimension', () => {
  assert.deepEqual(
    neighbourBandwidths([0.2, 0.5, 0.6], 0, 1, true).map((x) => Number(x.toFixed(12))),
    [0.3, 0.3, 0.4],
  );
  assert.deepEqual(
    neighbourBandwidths([0.2, 0.5, 0.6], 0, 1, false).map((x) => Number(x.toFixed(12))),
    [0.3, 0.3, 0.1],
  );
  // numpy: 1.059 * min(iqr / 1.34, std(ddof=1)) * n ** -0.2 for [0, 1, 2, 3, 10].
  const xs = [0, 1, 2, 3, 10];
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - 3.2) ** 2, 0) / 4);
  assert.ok(Math.abs(scottBandwidth(xs) - 1.059 * Math.min(2 / 1.34, std) * 5 ** -0.2) < 1e-12);
  const pe = new ParzenEstimator(
    [
      [0.2, 0.9],
      [0.5, 0.1],
      [0.6, 0.5],
    ],
    [unit, unit],
    params({ bandwidthStrategy: 'hyperopt', considerEndpoints: true }),
  );
  // Centres 0.2, 0.5, 0.6 plus the prior's 0.5 (ties keep their order: the observation first).
  assert.deepEqual(
    kernels(pe, 0).sigmas.map((x) => Number(x.toFixed(12))),
    [0.3, 0.3, 0.4, 1],
  );
  assert.deepEqual(
    kernels(pe, 1).sigmas.map((x) => Number(x.toFixed(12))),
    [0.4, 0.4, 0.4, 1],
  );
});

test('candidate widening draws from l(x) with wider kernels', () => {
  const pe = new ParzenEstimator([[0.5]], [unit], params({ considerPrior: false }));
  const spread = (widen: number) => {
    const xs = pe.sample(new Rng(3), 4000, widen).map((x) => x[0]!);
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length);
  };
  const sigma = kernels(pe).sigmas[0]!;
  assert.ok(Math.abs(spread(1) / sigma - 1) < 0.05, `${spread(1)} vs ${sigma}`);
  assert.ok(Math.abs(spread(3) / sigma - 3) < 0.15, `${spread(3)} vs ${3 * sigma}`);
});

test('TPE options are validated', () => {
  const bad: [TPEOptions, RegExp][] = [
    [{ gammaStrategy: 'cubic' as 'linear' }, /gammaStrategy/],
    [{ gammaBeta: 0 }, /gammaBeta/],
    [{ gammaBeta: Infinity }, /gammaBeta/],
    [{ weightStrategy: 'newest' as 'ei' }, /weightStrategy/],
    [{ bandwidthStrategy: 'silverman' as 'scott' }, /bandwidthStrategy/],
    [{ magicClipExponent: 0 }, /magicClipExponent/],
    [{ minBandwidthFactor: -0.1 }, /minBandwidthFactor/],
    [{ minBandwidthFactor: 2 }, /minBandwidthFactor/],
    [{ candidateWidening: 0.5 }, /candidateWidening/],
    [{ candidateWidening: NaN }, /candidateWidening/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(
      () => new TPESampler(opts),
      (e: unknown) => e instanceof HoneError && re.test(e.message),
      JSON.stringify(opts),
    );
  }
});

/** Proposals of a TPE sampler for a study whose good set is x = 10 (loss 0) and x = 90 (loss 0.99). */
async function proposals(opts: TPEOptions): Promise<number[]> {
  const study = await createStudy({ sampler: new TPESampler({ seed: 11, nStartupTrials: 5, ...opts }) });
  const data: [number, number][] = [
    [10, 0],
    [90, 0.99],
    ...Array.from({ length: 18 }, (_, i): [number, number] => [30 + 2 * i, 1 + i / 10]),
  ];
  for (const [x, y] of data) {
    await study.enqueueTrial({ x });
    const t = await study.ask();
    t.suggestFloat('x', 0, 100);
    await study.tell(t, y);
  }
  const out: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t = await study.ask();
    out.push(t.suggestFloat('x', 0, 100));
    await study.tell(t, 'fail'); // leaves the model's data as it is
  }
  return out;
}

test("weightStrategy 'ei' concentrates on the good trial with the larger improvement", async () => {
  // γ(20) = 2: both x = 10 and x = 90 are "good"; y* = 1. EI weights them 1 : 0.01, uniform 1 : 1.
  const near = (xs: number[], c: number) => xs.filter((x) => Math.abs(x - c) < 8).length;
  for (const kernels of [{}, { bandwidthStrategy: 'optuna', considerMagicClip: false, minBandwidthFactor: 0 }] as TPEOptions[]) {
    const ei = await proposals({ ...kernels, weightStrategy: 'ei', gammaBeta: 0.1 });
    const uniform = await proposals({ ...kernels, weightStrategy: 'uniform', gammaBeta: 0.1 });
    const tag = JSON.stringify(kernels);
    assert.ok(near(ei, 90) <= 2, `${tag} ei: ${near(ei, 90)} of 40 near 90`);
    assert.ok(near(uniform, 90) >= 8, `${tag} uniform: ${near(uniform, 90)} of 40 near 90`);
    assert.ok(near(ei, 10) > near(uniform, 10) + 4, `${tag} near 10: ei ${near(ei, 10)}, uniform ${near(uniform, 10)}`);
  }
});

test('TPE defaults beat random search on Rosenbrock-4 and Levy-5 (one fixed seed, 60 trials)', async () => {
  for (const f of [rosenbrock4, levy5]) {
    const tpe = (await runBenchmark(f, { sampler: new TPESampler({ seed: 1 }), nTrials: 60 })).regret;
    const random = (await runBenchmark(f, { sampler: new RandomSampler({ seed: 1 }), nTrials: 60 })).regret;
    assert.ok(tpe < random / 2, `${f.name}: tpe ${tpe} vs random ${random}`);
  }
});

test('OPTUNA_TPE_OPTIONS give the Optuna rules (bandwidth 0.2·n^(−1/(d+4)), magic clip range/min(100, n+2), γ, age weights)', () => {
  const optuna = new TPESampler({ seed: 0, ...OPTUNA_TPE_OPTIONS });
  const p = (optuna as unknown as { parzen: ParzenParameters }).parzen;
  assert.equal(p.bandwidthStrategy, 'optuna');
  assert.equal(p.considerMagicClip, true);
  assert.equal(p.magicClipExponent, 1);
  assert.equal(p.minBandwidthFactor, 0.01);
  assert.equal(p.weights(30)[0], 1 / 30);
  assert.equal((optuna as unknown as { gamma: (n: number) => number }).gamma, defaultGamma);
  const pe = new ParzenEstimator([[0.1], [0.2]], [unit], p);
  assert.equal(kernels(pe).sigmas[0], 1 / 4, 'magic clip: range / (1 + 2 + 1) beats 0.2 · 2^(−1/5)');
  const many = Array.from({ length: 400 }, (_, i) => [i / 400]);
  assert.ok(Math.abs(kernels(new ParzenEstimator(many, [unit], p)).sigmas[0]! - 0.2 * 400 ** -0.2) < 1e-15);
});

test("weightStrategy 'ei' on maximize studies, and its fallback where a good trial has no usable value", async () => {
  const sampler = new TPESampler({ seed: 4, weightStrategy: 'ei' });
  const study = await createStudy({ direction: 'maximize', sampler });
  for (const [x, y] of [
    [1, 5],
    [2, 9],
    [3, 7],
    [4, 1],
    [5, 6],
  ] as const) {
    await study.enqueueTrial({ x });
    const t = await study.ask();
    t.suggestFloat('x', 0, 10);
    await study.tell(t, y);
  }
  const view: StudyView = { name: 's', directions: study.directions, trials: await study.getTrials(), setTrialSystemAttr: () => undefined };
  const weigh = (below: FrozenTrial[], above: FrozenTrial[]) =>
    (sampler as unknown as { belowWeights(v: StudyView, b: FrozenTrial[], a: FrozenTrial[]): number[] | undefined }).belowWeights(
      view,
      below,
      above,
    );
  const [below, above] = splitTrials(view, [...view.trials], 2, false);
  assert.deepEqual(
    below.map((t) => t.values![0]),
    [9, 7],
  );
  // y* = 6, the best of the rest: improvements 3 and 1, scaled to mean 1.
  assert.deepEqual(weigh(below, above), [1.5, 0.5]);
  // A pruned trial among the good ones (no value): uniform weights instead.
  const pruned = { ...below[1]!, state: 'pruned' as const, values: undefined };
  assert.equal(weigh([below[0]!, pruned], above), undefined);
  // No complete trial on the other side: no y*.
  assert.equal(weigh(below, []), undefined);
  // And a maximize study with pruned trials runs and finds the maximum.
  const run = await createStudy({ direction: 'maximize', sampler: new TPESampler({ seed: 4, nStartupTrials: 5, weightStrategy: 'ei' }) });
  await run.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 10);
      if (t.number % 4 === 3) {
        t.report(-((x - 3) ** 2), 1);
        throw new TrialPruned();
      }
      return -((x - 3) ** 2);
    },
    { nTrials: 40 },
  );
  assert.ok(Math.abs((run.bestParams.x as number) - 3) < 0.2, `best x ${run.bestParams.x}`);
});
