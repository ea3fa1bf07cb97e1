import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStudy } from '../../src/tune/study.js';
import { TrialPruned, type Trial } from '../../src/tune/trial.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { MedianPruner, PercentilePruner } from '../../src/tune/pruners/percentile.js';
import { SuccessiveHalvingPruner } from '../../src/tune/pruners/successive-halving.js';
import { HyperbandPruner } from '../../src/tune/pruners/hyperband.js';
import { NopPruner, type Pruner } from '../../src/tune/pruners/base.js';

/**
 * Synthetic learning curves: trial i has quality q_i (from a fixed list); its loss at step s is
 * q_i + 1/(s+1), so a worse trial is worse at every step.
 */
async function runCurves(pruner: Pruner, qualities: number[], steps: number): Promise<{ q: number; state: string; lastStep: number }[]> {
  // A fixed name: Hyperband assigns brackets from the study name and trial number.
  const study = await createStudy({ name: 'curves', sampler: new RandomSampler({ seed: 0 }), pruner });
  let i = 0;
  const out: { q: number; state: string; lastStep: number }[] = [];
  await study.optimize(
    (trial: Trial) => {
      const q = qualities[i++]!;
      const rec = { q, state: 'complete', lastStep: -1 };
      out.push(rec);
      for (let s = 0; s < steps; s++) {
        const v = q + 1 / (s + 1);
        trial.report(v, s);
        rec.lastStep = s;
        if (trial.shouldPrune()) {
          rec.state = 'pruned';
          throw new TrialPruned();
        }
      }
      return q + 1 / steps;
    },
    { nTrials: qualities.length },
  );
  const states = study.trials.map((t) => t.state);
  assert.deepEqual(
    states,
    out.map((o) => o.state),
  );
  return out;
}

test('MedianPruner prunes trials worse than the median and spares better ones', async () => {
  const qualities = [5, 3, 8, 1, 6, /* after startup: */ 9, 0.5, 7, 2, 10];
  const out = await runCurves(new MedianPruner({ nStartupTrials: 5 }), qualities, 10);
  for (const o of out.slice(0, 5)) assert.equal(o.state, 'complete', 'startup trials are never pruned');
  // The median of completed trials is 5 at every step: 9, 7, 10 lie above it, 0.5 and 2 below.
  for (const o of out.slice(5)) assert.equal(o.state, o.q > 5 ? 'pruned' : 'complete', `q=${o.q}`);
  for (const o of out.filter((x) => x.state === 'pruned')) assert.equal(o.lastStep, 0, 'pruned at the first step');
});

test('MedianPruner respects warmup steps and maximize', async () => {
  const study = await createStudy({
    direction: 'maximize',
    sampler: new RandomSampler({ seed: 0 }),
    pruner: new MedianPruner({ nStartupTrials: 2, nWarmupSteps: 3 }),
  });
  const qualities = [1, 2, 0.1, 5];
  let i = 0;
  const prunedAt: (number | undefined)[] = [];
  await study.optimize(
    (trial) => {
      const q = qualities[i++]!;
      for (let s = 0; s < 6; s++) {
        trial.report(q, s);
        if (trial.shouldPrune()) {
          prunedAt.push(s);
          throw new TrialPruned();
        }
      }
      prunedAt.push(undefined);
      return q;
    },
    { nTrials: 4 },
  );
  assert.deepEqual(prunedAt, [undefined, undefined, 3, undefined]);
});

test('PercentilePruner(25) prunes all but the top quarter', async () => {
  const qualities = [1, 2, 3, 4, 5, 6, 7, 8, 1.5, 1.8, 7.5];
  const out = await runCurves(new PercentilePruner(25, { nStartupTrials: 8 }), qualities, 5);
  // Offsets aside: the 25th percentile of 1..8 is 2.75, of {1, 1.5, 2, …, 8} it is 2, then 1.9.
  assert.deepEqual(
    out.slice(8).map((o) => o.state),
    ['complete', 'complete', 'pruned'],
  );
});

test('SuccessiveHalvingPruner records rungs and promotes only the top 1/η', async () => {
  const qualities = [4, 3, 2, 1, 5, 6, 0.5, 7];
  const study = await createStudy({
    sampler: new RandomSampler({ seed: 0 }),
    pruner: new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 2 }),
  });
  let i = 0;
  await study.optimize(
    (trial) => {
      const q = qualities[i++]!;
      for (let s = 1; s <= 8; s++) {
        trial.report(q, s);
        if (trial.shouldPrune()) throw new TrialPruned();
      }
      return q;
    },
    { nTrials: qualities.length },
  );
  const t = study.trials;
  // Rung 0 is at step 1, rung k at step 2^k; each reached rung is stored.
  assert.equal(t[0]!.systemAttrs.completed_rung_0, 4);
  for (const tr of t) {
    const rungs = Object.keys(tr.systemAttrs).filter((k) => k.startsWith('completed_rung_'));
    assert.ok(rungs.length >= 1);
  }
  // The first trial is alone at every rung, so it is promoted through all of them.
  assert.equal(t[0]!.state, 'complete');
  // Trial with q=5 (number 4): at rung 0 competing [4,3,2,1,5], top 1/2 → idx 1 → 2; 5 > 2 → pruned at step 1.
  assert.equal(t[4]!.state, 'pruned');
  assert.deepEqual(Object.keys(t[4]!.intermediateValues), ['1']);
  // The best trial so far (q=0.5) survives every rung.
  assert.equal(t[6]!.state, 'complete');
  assert.equal(t[7]!.state, 'pruned');
});

test('HyperbandPruner assigns brackets deterministically and prunes bad trials', async () => {
  const hb = new HyperbandPruner({ minResource: 1, maxResource: 27, reductionFactor: 3 });
  const qualities = Array.from({ length: 40 }, (_, i) => ((i * 37) % 40) / 4);
  const out = await runCurves(hb, qualities, 27);
  assert.ok(out.some((o) => o.state === 'pruned'));
  assert.ok(out.some((o) => o.state === 'complete'));
  const first = hb.bracketOf('s', 5);
  assert.equal(hb.bracketOf('s', 5), first);
  const brackets = new Set(Array.from({ length: 200 }, (_, i) => hb.bracketOf('study', i)));
  assert.equal(brackets.size, 4, 'log_3(27) + 1 brackets, all used');
  // The worst trial that ran past startup is pruned.
  const worst = out.reduce((a, b) => (b.q > a.q ? b : a));
  assert.equal(worst.state, 'pruned');
});

test('NopPruner never prunes', async () => {
  const out = await runCurves(new NopPruner(), [1, 9, 9, 9, 9, 9, 9], 3);
  assert.ok(out.every((o) => o.state === 'complete'));
});
