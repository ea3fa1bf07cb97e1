import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStudy } from '../../src/tune/study.js';
import type { Sampler } from '../../src/tune/samplers/base.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { GPSampler, logH } from '../../src/tune/samplers/gp.js';
import { CmaEsSampler, jacobiEigen } from '../../src/tune/samplers/cmaes.js';
import { QMCSampler } from '../../src/tune/samplers/qmc.js';
import { GridSampler } from '../../src/tune/samplers/grid.js';
import { cholesky, minimize, solveLower, solveUpperT } from '../../src/tune/samplers/linalg.js';
import { logPhi, ndtr } from '../../src/tune/samplers/normal.js';
import { branin, runBenchmark } from '../../src/tune/benchmarks.js';
import { HoneError } from '../../src/errors.js';

async function medianRegret(make: (seed: number) => Sampler, n: number, seeds: number[]): Promise<number> {
  const r: number[] = [];
  for (const s of seeds) r.push((await runBenchmark(branin, { sampler: make(s), nTrials: n })).regret);
  r.sort((a, b) => a - b);
  return r[Math.floor(r.length / 2)]!;
}

test('GP beats random search on Branin (median regret over 5 seeds, 40 trials)', async () => {
  const seeds = [0, 1, 2, 3, 4];
  const gp = await medianRegret((s) => new GPSampler({ seed: s, nPreliminarySamples: 512, nLocalSearch: 4 }), 40, seeds);
  const random = await medianRegret((s) => new RandomSampler({ seed: s + 100 }), 40, seeds);
  assert.ok(gp < random / 5, `gp ${gp} vs random ${random}`);
});

test('GP handles categorical and integer parameters and rejects multi-objective studies', async () => {
  const study = await createStudy({ sampler: new GPSampler({ seed: 1, nStartupTrials: 5, nPreliminarySamples: 128, nLocalSearch: 2 }) });
  await study.optimize(
    (t) => {
      const c = t.suggestCategorical('c', ['a', 'b', 'c']);
      const k = t.suggestInt('k', 0, 20);
      return (c === 'b' ? 0 : 5) + (k - 13) ** 2;
    },
    { nTrials: 25 },
  );
  assert.equal(study.bestParams.c, 'b');
  assert.ok(Math.abs((study.bestParams.k as number) - 13) <= 1);
  const mo = await createStudy({ directions: ['minimize', 'minimize'], sampler: new GPSampler({ seed: 0, nStartupTrials: 2 }) });
  await assert.rejects(
    mo.optimize((t) => [t.suggestFloat('x', 0, 1), 1], { nTrials: 5 }),
    (e: unknown) => e instanceof HoneError && /single-objective/.test(e.message),
  );
});

test('log expected improvement helper matches the direct formula and stays finite in the tail', () => {
  for (const z of [2, 0, -1, -4.9]) {
    const h = Math.exp(logPhi(z)) + z * ndtr(z);
    const [lh, a, b] = logH(z);
    assert.ok(Math.abs(lh - Math.log(h)) < 1e-9, `z=${z}`);
    assert.ok(Math.abs(a - ndtr(z) / h) < 1e-6 * (ndtr(z) / h));
    assert.ok(Math.abs(b - Math.exp(logPhi(z)) / h) < 1e-6 * (Math.exp(logPhi(z)) / h));
  }
  // Continuity across the switch at z = −5 and finiteness far out.
  assert.ok(Math.abs(logH(-5.000001)[0] - logH(-4.999999)[0]) < 1e-4);
  for (const z of [-40, -1e3, -1e6]) assert.ok(Number.isFinite(logH(z)[0]));
  assert.ok(logH(-40)[0] < logH(-10)[0]);
});

test('Cholesky solves and L-BFGS minimizes Rosenbrock', () => {
  const a = Float64Array.from([4, 2, 0.6, 2, 5, 1, 0.6, 1, 3]);
  const l = cholesky(a, 3);
  const b = [1, 2, 3];
  const x = solveUpperT(l, 3, solveLower(l, 3, b));
  for (let i = 0; i < 3; i++) {
    const r = a[i * 3]! * x[0]! + a[i * 3 + 1]! * x[1]! + a[i * 3 + 2]! * x[2]! - b[i]!;
    assert.ok(Math.abs(r) < 1e-12);
  }
  const rosen = (v: Float64Array): [number, Float64Array] => {
    const [p, q] = [v[0]!, v[1]!];
    return [100 * (q - p * p) ** 2 + (1 - p) ** 2, Float64Array.from([-400 * p * (q - p * p) - 2 * (1 - p), 200 * (q - p * p)])];
  };
  const r = minimize(rosen, [-1.2, 1], { maxIter: 500 });
  assert.ok(Math.abs(r.x[0]! - 1) < 1e-3 && Math.abs(r.x[1]! - 1) < 1e-3, `${r.x}`);
  const boxed = minimize(rosen, [0, 0], { lower: [-2, -2], upper: [0.5, 2], maxIter: 500 });
  assert.ok(Math.abs(boxed.x[0]! - 0.5) < 1e-6, 'stops at the bound');
});

test('Jacobi eigen-decomposition reconstructs the matrix', () => {
  const a = Float64Array.from([2, -1, 0, -1, 2, -1, 0, -1, 2]);
  const [vals, V] = jacobiEigen(a, 3);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += V[i * 3 + k]! * vals[k]! * V[j * 3 + k]!;
      assert.ok(Math.abs(s - a[i * 3 + j]!) < 1e-10);
    }
  }
});

test('CMA-ES converges on a 5-D sphere', async () => {
  const study = await createStudy({ sampler: new CmaEsSampler({ seed: 0 }) });
  await study.optimize(
    (t) => {
      let s = 0;
      for (let i = 0; i < 5; i++) s += (t.suggestFloat(`x${i}`, -5, 5) - 1) ** 2;
      return s;
    },
    { nTrials: 500 },
  );
  assert.ok(study.bestValue < 1e-4, `best ${study.bestValue}`);
  const gens = study.trials.map((t) => t.systemAttrs['cmaes:generation'] as number).filter((g) => g !== undefined);
  assert.ok(Math.max(...gens) > 20);
});

test('CMA-ES restarts with a larger population (IPOP) after stagnation', async () => {
  const study = await createStudy({ sampler: new CmaEsSampler({ seed: 1 }) });
  // A flat objective stalls at once (tolfun), forcing restarts.
  await study.optimize((t) => Math.round(t.suggestFloat('a', 0, 1)) * 0 + Math.round(t.suggestFloat('b', 0, 1)) * 0, { nTrials: 200 });
  const restarts = new Set(study.trials.map((t) => t.systemAttrs['cmaes:restart']).filter((r) => r !== undefined));
  assert.ok(restarts.size >= 2, `restarts ${[...restarts]}`);
});

test('QMC: Halton points fill the unit square evenly', () => {
  const q = new QMCSampler({ seed: 3 });
  const counts = new Array(16).fill(0);
  for (let i = 0; i < 256; i++) {
    const [x, y] = q.point(i, 2);
    assert.ok(x! >= 0 && x! < 1 && y! >= 0 && y! < 1);
    counts[Math.floor(x! * 4) * 4 + Math.floor(y! * 4)]++;
  }
  // Low discrepancy: every 1/4 × 1/4 cell gets close to its share of 16.
  for (const c of counts) assert.ok(c >= 14 && c <= 18, `cell count ${c}`);
  assert.deepEqual(new QMCSampler({ scramble: false }).point(1, 2), [0.5, 1 / 3]);
});

test('grid: every point once, then optimize stops', async () => {
  const study = await createStudy({ sampler: new GridSampler({ x: [0, 1, 2], opt: ['a', 'b'] }, { seed: 0 }) });
  await study.optimize((t) => t.suggestInt('x', 0, 2) + (t.suggestCategorical('opt', ['a', 'b']) === 'a' ? 0 : 10), { nTrials: 100 });
  assert.equal(study.trials.length, 6);
  const seen = new Set(study.trials.map((t) => `${t.params.x}-${t.params.opt}`));
  assert.equal(seen.size, 6);
  assert.equal(study.bestValue, 0);
  const bad = await createStudy({ sampler: new GridSampler({ x: [5] }) });
  await assert.rejects(
    bad.optimize((t) => t.suggestInt('x', 0, 2), { nTrials: 1 }),
    /outside its distribution/,
  );
});
