import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStudy } from '../../src/tune/study.js';
import type { Trial } from '../../src/tune/trial.js';
import type { Sampler } from '../../src/tune/samplers/base.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { NSGAIISampler } from '../../src/tune/samplers/nsga2.js';
import { GPSampler } from '../../src/tune/samplers/gp.js';
import { Rng } from '../../src/tune/samplers/rng.js';
import { branin, runBenchmark } from '../../src/tune/benchmarks.js';
import { samplerFactories } from './sampler-factories.js';

/** A space with every kind of distribution; the objective checks each value against its definition. */
function mixedObjective(trial: Trial): number {
  const f = trial.suggestFloat('f', -3, 2);
  const lf = trial.suggestFloat('lf', 1e-4, 10, { log: true });
  const sf = trial.suggestFloat('sf', 0, 1, { step: 0.25 });
  const i = trial.suggestInt('i', -5, 5);
  const si = trial.suggestInt('si', 2, 20, { step: 3 });
  const li = trial.suggestInt('li', 1, 1000, { log: true });
  const c = trial.suggestCategorical('c', ['a', 'b', 7, null]);
  assert.ok(f >= -3 && f <= 2, `f=${f}`);
  assert.ok(lf >= 1e-4 && lf <= 10, `lf=${lf}`);
  assert.ok([0, 0.25, 0.5, 0.75, 1].includes(sf), `sf=${sf}`);
  assert.ok(Number.isInteger(i) && i >= -5 && i <= 5, `i=${i}`);
  assert.ok([2, 5, 8, 11, 14, 17, 20].includes(si), `si=${si}`);
  assert.ok(Number.isInteger(li) && li >= 1 && li <= 1000, `li=${li}`);
  assert.ok(['a', 'b', 7, null].includes(c), `c=${String(c)}`);
  return (f - 1) ** 2 + Math.log10(lf) ** 2 + sf + Math.abs(i) + si / 10 + Math.log10(li) + (c === 7 ? 0 : 1);
}

for (const [name, make] of Object.entries(samplerFactories)) {
  test(`${name}: every value lies in its distribution (bounds, log, steps, ints, choices)`, async () => {
    const study = await createStudy({ sampler: make(1) });
    await study.optimize(mixedObjective, { nTrials: 40 });
    assert.equal(study.trials.filter((t) => t.state === 'complete').length, 40);
  });

  test(`${name}: the same seed gives the same trials`, async () => {
    const run = async () => {
      const study = await createStudy({ sampler: make(42) });
      await study.optimize(mixedObjective, { nTrials: 25 });
      return study.trials.map((t) => t.params);
    };
    const a = await run();
    assert.deepEqual(await run(), a);
    const other = await createStudy({ sampler: make(43) });
    await other.optimize(mixedObjective, { nTrials: 25 });
    assert.notDeepEqual(
      other.trials.map((t) => t.params),
      a,
    );
  });
}

test('Rng: uniform mean and normal moments are right', () => {
  const r = new Rng(123);
  let s = 0;
  let s2 = 0;
  let m = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    m += r.random();
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(m / n - 0.5) < 0.01);
  assert.ok(Math.abs(s / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.05);
});

/** Median regret over seeds on Branin after `n` trials. */
async function medianRegret(make: (seed: number) => Sampler, n: number, seeds: number[]): Promise<number> {
  const r: number[] = [];
  for (const s of seeds) r.push((await runBenchmark(branin, { sampler: make(s), nTrials: n })).regret);
  r.sort((a, b) => a - b);
  return r[Math.floor(r.length / 2)]!;
}

test('TPE beats random search on Branin (median regret over 5 seeds, 40 trials)', async () => {
  const seeds = [0, 1, 2, 3, 4];
  const tpe = await medianRegret((s) => new TPESampler({ seed: s }), 40, seeds);
  const random = await medianRegret((s) => new RandomSampler({ seed: s + 100 }), 40, seeds);
  assert.ok(tpe < random, `tpe ${tpe} vs random ${random}`);
});

test('TPE univariate and group modes run and stay in bounds', async () => {
  for (const opts of [{ multivariate: false }, { group: true }, { constantLiar: true }]) {
    const study = await createStudy({ sampler: new TPESampler({ seed: 3, nStartupTrials: 5, ...opts }) });
    await study.optimize(
      (t) => {
        const k = t.suggestCategorical('k', ['a', 'b']);
        const x = k === 'a' ? t.suggestFloat('xa', 0, 1) : t.suggestInt('xb', 0, 10);
        return x + t.suggestFloat('y', -1, 1) ** 2;
      },
      { nTrials: 30 },
    );
    assert.equal(study.trials.filter((t) => t.state === 'complete').length, 30);
  }
});

test('TPE focuses on the good region of a 1-D quadratic', async () => {
  const study = await createStudy({ sampler: new TPESampler({ seed: 7 }) });
  await study.optimize((t) => (t.suggestFloat('x', -10, 10) - 3) ** 2, { nTrials: 60 });
  const late = study.trials.slice(40).map((t) => Math.abs((t.params.x as number) - 3));
  late.sort((a, b) => a - b);
  assert.ok(late[10]! < 2, `median distance of late trials ${late[10]}`);
  assert.ok(study.bestValue < 0.05);
});

test('TPE with constraints prefers feasible trials', async () => {
  const study = await createStudy({
    sampler: new TPESampler({ seed: 5 }),
    constraintsFunc: (t) => [1 - (t.params.x as number)],
  });
  // Unconstrained optimum at x = -5; feasible region x ≥ 1.
  await study.optimize((t) => (t.suggestFloat('x', -5, 5) + 5) ** 2, { nTrials: 50 });
  // Late trials gather at the constrained optimum x = 1 (about half fall just short of it), not at −5.
  const late = study.trials.slice(25).map((t) => t.params.x as number);
  const nearOptimum = late.filter((x) => Math.abs(x - 1) < 0.5).length;
  assert.ok(nearOptimum >= 20, `only ${nearOptimum} of the last 25 trials within 0.5 of x = 1`);
  assert.ok(late.filter((x) => x >= 1).length >= 8, 'feasible trials among the late ones');
  assert.ok((study.bestParams.x as number) >= 1);
});

test('GP with constraints: constrained EI finds the constrained optimum, unconstrained GP does not', async () => {
  // min (x−2)² + (y−2)² subject to x + y ≤ 2: the optimum is (1, 1) with value 2; unconstrained (2, 2) with 0.
  const objective = (t: Trial) => (t.suggestFloat('x', -3, 3) - 2) ** 2 + (t.suggestFloat('y', -3, 3) - 2) ** 2;
  const constraintsFunc = (t: { params: Record<string, unknown> }) => [(t.params.x as number) + (t.params.y as number) - 2];
  const constrained = await createStudy({ sampler: new GPSampler({ seed: 3 }), constraintsFunc });
  await constrained.optimize(objective, { nTrials: 30 });
  const best = constrained.bestTrial!;
  assert.ok(constraintsFunc(best)[0]! <= 0);
  assert.ok(best.values![0]! < 2.1, `best feasible value ${best.values![0]}`);
  const late = constrained.trials.slice(20);
  assert.ok(late.filter((t) => constraintsFunc(t)[0]! <= 0.05).length >= 7, 'late trials sit on the feasible side of the boundary');
  // Without constraints the same sampler heads for (2, 2), which is infeasible.
  const free = await createStudy({ sampler: new GPSampler({ seed: 3 }) });
  await free.optimize(objective, { nTrials: 30 });
  const lateFree = free.trials.slice(20);
  assert.ok(lateFree.filter((t) => constraintsFunc(t)[0]! > 0.5).length >= 7);
});

test('GP with constraints and no feasible trial yet: it searches for feasibility', async () => {
  // Feasible only for x > 2.7 (3% of the range); the objective prefers x near −3.
  const constraintsFunc = (t: { params: Record<string, unknown> }) => [2.7 - (t.params.x as number)];
  const study = await createStudy({ sampler: new GPSampler({ seed: 1, nStartupTrials: 5 }), constraintsFunc });
  await study.optimize((t) => t.suggestFloat('x', -3, 3), { nTrials: 20 });
  assert.ok(
    study.trials.slice(5).some((t) => constraintsFunc(t)[0]! <= 0),
    'found a feasible point',
  );
});

test('NSGA-II: the front is non-dominated and improves on the first generation', async () => {
  const study = await createStudy({ directions: ['minimize', 'minimize'], sampler: new NSGAIISampler({ seed: 0, populationSize: 20 }) });
  // ZDT1-like, 3 variables: the front is f2 = 1 − √f1 with x1 = x2 = 0.
  const objective = (t: Trial) => {
    const x = [0, 1, 2].map((i) => t.suggestFloat(`x${i}`, 0, 1));
    const g = 1 + (9 * (x[1]! + x[2]!)) / 2;
    return [x[0]!, g * (1 - Math.sqrt(x[0]! / g))];
  };
  await study.optimize(objective, { nTrials: 200 });
  const front = study.bestTrials;
  for (const a of front) {
    for (const b of study.trials) {
      const [a0, a1] = a.values!;
      const [b0, b1] = b.values!;
      assert.ok(!(b0! <= a0! && b1! <= a1! && (b0! < a0! || b1! < a1!)), 'front member dominated');
    }
  }
  const gens = new Set(study.trials.map((t) => t.systemAttrs['nsga2:generation']));
  assert.ok(gens.size >= 5, 'several generations ran');
  const meanG = (ts: typeof study.trials) => ts.reduce((s, t) => s + ((t.params.x1 as number) + (t.params.x2 as number)), 0) / ts.length;
  assert.ok(meanG(study.trials.slice(180)) < meanG(study.trials.slice(0, 20)) * 0.6, 'later generations approach the front');
});

test('NSGA-II with constraints keeps feasible trials in the elite', async () => {
  const study = await createStudy({
    directions: ['minimize', 'minimize'],
    sampler: new NSGAIISampler({ seed: 1, populationSize: 10 }),
    constraintsFunc: (t) => [0.3 - (t.params.x as number)],
  });
  await study.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      const y = t.suggestFloat('y', 0, 1);
      return [x, 1 - x + y];
    },
    { nTrials: 80 },
  );
  const late = study.trials.slice(50);
  assert.ok(late.filter((t) => (t.params.x as number) >= 0.3).length >= 20);
  for (const t of study.bestTrials) assert.ok((t.params.x as number) >= 0.3);
});
