import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greedyHypervolumeSubset, hypervolume, hypervolumeContributions, referencePoint } from '../../src/tune/hypervolume.js';
import type { StudyView } from '../../src/tune/samplers/base.js';
import { Rng } from '../../src/tune/samplers/rng.js';
import { splitTrials, TPESampler } from '../../src/tune/samplers/tpe.js';
import type { FrozenTrial } from '../../src/tune/types.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** Inclusion–exclusion over all subsets: the union of the boxes [p, ref], exact and independent of WFG. */
function inclusionExclusion(points: number[][], ref: number[]): number {
  const inside = points.filter((p) => p.every((v, k) => v < ref[k]!));
  let total = 0;
  for (let mask = 1; mask < 1 << inside.length; mask++) {
    const corner = ref.map(() => -Infinity);
    let bits = 0;
    inside.forEach((p, i) => {
      if (mask & (1 << i)) {
        bits++;
        p.forEach((v, k) => (corner[k] = Math.max(corner[k]!, v)));
      }
    });
    const box = corner.reduce((a, v, k) => a * (ref[k]! - v), 1);
    total += bits % 2 ? box : -box;
  }
  return total;
}

function randomSet(rng: Rng, n: number, m: number): number[][] {
  // Points near a simplex-like front (so few dominate each other), plus some dominated ones.
  return Array.from({ length: n }, () => {
    const p = Array.from({ length: m }, () => rng.random());
    const s = p.reduce((a, b) => a + b, 0);
    const shift = rng.random() < 0.3 ? 0.3 : 0;
    return p.map((v) => v / s + shift);
  });
}

test('hypervolume: hand-computed values in 1, 2, 3 and 4 objectives', () => {
  close(hypervolume([[3], [1], [2]], [4]), 3);
  // Staircase (1,3) (2,2) (3,1) under (4,4): 3·1 + 2·1 + 1·1.
  close(
    hypervolume(
      [
        [1, 3],
        [2, 2],
        [3, 1],
      ],
      [4, 4],
    ),
    6,
  );
  // A dominated point, a duplicate and a point outside the reference box change nothing.
  close(
    hypervolume(
      [
        [1, 3],
        [2, 2],
        [3, 1],
        [3, 3],
        [2, 2],
        [0, 5],
      ],
      [4, 4],
    ),
    6,
  );
  // A point on the reference boundary has no volume.
  close(hypervolume([[4, 0]], [4, 4]), 0);
  // Two boxes 2·2·1 and 1·1·2 overlapping in a unit cube.
  close(
    hypervolume(
      [
        [0, 0, 1],
        [1, 1, 0],
      ],
      [2, 2, 2],
    ),
    5,
  );
  // Three 2·1·1 boxes: 6 − 3 pairwise unit overlaps + the unit triple overlap.
  close(
    hypervolume(
      [
        [0, 1, 1],
        [1, 0, 1],
        [1, 1, 0],
      ],
      [2, 2, 2],
    ),
    4,
  );
  // The same pattern in 4-D: four 2·1·1·1 boxes; every intersection is the unit cube: 8 − 6 + 4 − 1.
  const four = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((k) => (k === i ? 0 : 1)));
  close(hypervolume(four, [2, 2, 2, 2]), 5);
  close(hypervolume([], [1, 1, 1]), 0);
  assert.throws(() => hypervolume([[1, 2]], [3, 3, 3]), /2 objectives, the reference 3/);
});

test('hypervolume equals inclusion–exclusion on random sets (2–5 objectives)', () => {
  const rng = new Rng(7);
  for (const m of [2, 3, 4, 5]) {
    for (let rep = 0; rep < 6; rep++) {
      const pts = randomSet(rng, 3 + rng.int(7), m);
      const ref = new Array<number>(m).fill(1.2);
      close(hypervolume(pts, ref), inclusionExclusion(pts, ref));
    }
  }
});

test('hypervolume agrees with a Monte Carlo estimate (3 and 4 objectives)', () => {
  const rng = new Rng(11);
  for (const m of [3, 4]) {
    const pts = randomSet(rng, 25, m);
    const ref = new Array<number>(m).fill(1.5);
    const N = 40_000;
    let hits = 0;
    for (let s = 0; s < N; s++) {
      const x = Array.from({ length: m }, () => rng.random() * 1.5);
      if (pts.some((p) => p.every((v, k) => v <= x[k]!))) hits++;
    }
    const volume = 1.5 ** m;
    const p = hits / N;
    const estimate = p * volume;
    const sd = Math.sqrt((p * (1 - p)) / N) * volume;
    const exact = hypervolume(pts, ref);
    assert.ok(Math.abs(exact - estimate) < 4 * sd, `m=${m}: exact ${exact}, Monte Carlo ${estimate} ± ${sd}`);
  }
});

test('hypervolumeContributions: each point’s loss of volume; dominated and duplicate points get 0', () => {
  const staircase = [
    [1, 3],
    [2, 2],
    [3, 1],
    [3, 3],
  ];
  assert.deepEqual(hypervolumeContributions(staircase, [4, 4]), [1, 1, 1, 0]);
  const cube = [
    [0, 1, 1],
    [1, 0, 1],
    [1, 1, 0],
  ];
  assert.deepEqual(hypervolumeContributions(cube, [2, 2, 2]), [1, 1, 1]);
  assert.deepEqual(
    hypervolumeContributions(
      [
        [1, 1],
        [1, 1],
        [0, 3],
      ],
      [2, 4],
    ),
    [0, 0, 1],
  );
  const rng = new Rng(3);
  for (const m of [2, 3, 4]) {
    const pts = randomSet(rng, 8, m);
    const ref = new Array<number>(m).fill(1.4);
    const all = hypervolume(pts, ref);
    const c = hypervolumeContributions(pts, ref);
    pts.forEach((_, i) =>
      close(
        c[i]!,
        all -
          hypervolume(
            pts.filter((__, j) => j !== i),
            ref,
          ),
        1e-9,
      ),
    );
  }
});

test('greedyHypervolumeSubset picks the largest box first, then the largest gain', () => {
  const pts = [
    [0, 9], // box 10·1 = 10
    [3, 3], // box 7·7 = 49
    [9, 0], // box 1·10 = 10
    [4, 4], // dominated by (3,3)
  ];
  const ref = [10, 10];
  assert.deepEqual(greedyHypervolumeSubset(pts, 1, ref), [1]);
  // After (3,3): (0,9) adds 3·1, (9,0) adds 1·3, (4,4) nothing — the tie goes to the lower index.
  assert.deepEqual(greedyHypervolumeSubset(pts, 3, ref), [1, 0, 2]);
  assert.deepEqual(greedyHypervolumeSubset(pts, 9, ref).sort(), [0, 1, 2, 3]);
  // The lazy evaluation picks exactly what plain greedy (every gain recomputed each step) picks.
  const plainGreedy = (ps: number[][], k: number, r: number[]) => {
    const out: number[] = [];
    while (out.length < Math.min(k, ps.length)) {
      const base = hypervolume(
        out.map((i) => ps[i]!),
        r,
      );
      let best = -1;
      let gain = -Infinity;
      ps.forEach((p, i) => {
        if (out.includes(i)) return;
        const g = hypervolume([...out.map((j) => ps[j]!), p], r) - base;
        if (g > gain + 1e-12) {
          gain = g;
          best = i;
        }
      });
      out.push(best);
    }
    return out;
  };
  const rng0 = new Rng(9);
  for (const m of [2, 3]) {
    const ps = randomSet(rng0, 30, m);
    const r = new Array<number>(m).fill(1.3);
    assert.deepEqual(greedyHypervolumeSubset(ps, 10, r), plainGreedy(ps, 10, r));
  }
  // Hypervolume is submodular, so the greedy subset has at least (1 − 1/e) of the best subset's volume of its
  // size: check against enumeration on random 3-D fronts.
  const rng = new Rng(5);
  for (let rep = 0; rep < 5; rep++) {
    const front = randomSet(rng, 7, 3);
    const r = [1.3, 1.3, 1.3];
    const k = 3;
    const greedy = hypervolume(
      greedyHypervolumeSubset(front, k, r).map((i) => front[i]!),
      r,
    );
    let best = 0;
    for (let mask = 0; mask < 1 << front.length; mask++) {
      const sub = front.filter((_, i) => mask & (1 << i));
      if (sub.length === k) best = Math.max(best, hypervolume(sub, r));
    }
    assert.ok(greedy >= (1 - 1 / Math.E) * best - 1e-12, `greedy ${greedy} vs best ${best}`);
  }
});

test('referencePoint: worst value plus a tenth of the range, 1 past a constant objective', () => {
  assert.deepEqual(
    referencePoint([
      [0, 5, 2],
      [10, 3, 2],
    ]),
    [11, 5.2, 3],
  );
});

test('multi-objective TPE: the good set is cut by hypervolume, and weighted by hypervolume contribution', () => {
  const trial = (number: number, values: number[]) =>
    ({
      id: number,
      number,
      state: 'complete',
      values,
      params: { x: number },
      distributions: { x: { type: 'float', low: 0, high: 10, log: false } },
      intermediateValues: {},
      userAttrs: {},
      systemAttrs: {},
    }) as FrozenTrial;
  const front = [
    [0, 10],
    [1, 5],
    [2, 4],
    [3, 3.5],
    [10, 0],
  ];
  const view: StudyView = {
    name: 'mo',
    directions: ['minimize', 'minimize'],
    trials: [...front.map((v, i) => trial(i, v)), trial(5, [11, 11])],
    setTrialSystemAttr: () => undefined,
  };
  const pick = (rule: 'hypervolume' | 'crowding' | 'lexicographic') =>
    splitTrials(view, [...view.trials], 2, false, rule)[0].map((t) => t.values);
  // Reference (11, 11): (2,4) has the largest box (63); then (1,5) adds 6, more than (3,3.5) or the extremes.
  assert.deepEqual(pick('hypervolume'), [
    [1, 5],
    [2, 4],
  ]);
  // Crowding distance keeps the two extremes instead.
  assert.deepEqual(pick('crowding'), [
    [0, 10],
    [10, 0],
  ]);
  // Lexicographic: the best first objectives, whatever the second (the answer is the best first objective).
  assert.deepEqual(pick('lexicographic'), [
    [0, 10],
    [1, 5],
  ]);
  // Infeasible trials go after every feasible one, however good their first objective.
  const withConstraint = (t: FrozenTrial, c: number) => ({ ...t, systemAttrs: { constraints: [c] } });
  const constrained: StudyView = { ...view, trials: view.trials.map((t) => withConstraint(t, t.number === 0 ? 1 : -1)) };
  assert.deepEqual(
    splitTrials(constrained, [...constrained.trials], 2, true, 'lexicographic')[0].map((t) => t.values),
    [
      [1, 5],
      [2, 4],
    ],
  );
  // Weights: contributions 0.4, 2 and 0.9 (reference (4.3, 5.4)) scaled to mean 1; a dominated one ~0.
  type Weighing = { belowWeights(v: StudyView, b: FrozenTrial[], a: FrozenTrial[]): number[] | undefined };
  const sampler = new TPESampler({ seed: 0 });
  const weigh = (below: FrozenTrial[]) => (sampler as unknown as Weighing).belowWeights(view, below, []);
  const w = weigh([trial(0, [1, 5]), trial(1, [2, 4]), trial(2, [4, 1])])!;
  [0.4 / 1.1, 2 / 1.1, 0.9 / 1.1].forEach((v, i) => close(w[i]!, v));
  assert.ok(weigh([trial(0, [1, 5]), trial(1, [2, 4]), trial(2, [4, 1]), trial(3, [3, 4.5])])![3]! < 1e-9);
  // The crowding and lexicographic rules keep the `weights` rule (undefined here).
  for (const rule of ['crowding', 'lexicographic'] as const)
    assert.equal(
      (new TPESampler({ seed: 0, multiObjectiveSplit: rule }) as unknown as Weighing).belowWeights(view, [trial(0, [1, 5])], []),
      undefined,
    );
  assert.throws(() => new TPESampler({ multiObjectiveSplit: 'nsga' as 'crowding' }), /multiObjectiveSplit must be/);
});
