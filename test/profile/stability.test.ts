import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { profileModel } from '../../src/profile/profile.js';

/**
 * Issue 10: the verdict and the ranking of the advice must hold across runs of `hone profile` while
 * another process keeps a core busy (on this 2-core machine, half of it). Before the measurements were
 * made to hold (robust spread, rounds when noisy, the fastest round's median, per-run kernel shares), the
 * same runs agreed 7 of 10 times on LeNet-5 (and 6 of 10 on zoo:mlp), flipping between overhead, memory
 * and compute. Agreement, not any particular verdict, is asserted: 'undecided' is an answer too, if it holds.
 */
let busy: ChildProcess | undefined;
const stop = () => {
  busy?.kill('SIGKILL');
};

before(() => {
  busy = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
  process.once('exit', stop); // never orphaned, even when the runner dies first
});
after(stop);

// LeNet-5 at batch 1 is the hard case: about half of each run is spent in kernels, the line between
// overhead- and compute/memory-bound. Peaks go through the real cache and its probe, as in `hone profile`.
//
// Two runs agree when they do not contradict each other: the verdicts they allow overlap (a run that
// decides 'memory' agrees with one undecided between memory and overhead; 'memory' and 'overhead' decided
// do not) and they give the same unconditional advice in the same order (advice for only one of an
// undecided run's verdicts is conditional and says so). On an AMD EPYC Zen 3 without AVX-512, LeNet-5's
// kernel share read 49–57% across profiles, around the 50% line plus its 10% margin, so a run now and then
// decided 'memory' where the others stayed undecided between memory and overhead: the same guidance, not
// the flip this test guards against (before the measurements were made to hold, runs went between
// overhead, memory and compute, each decided).
interface Outcome {
  text: string;
  candidates: string[];
  unconditional: string;
}
const agree = (a: Outcome, b: Outcome) => a.candidates.some((k) => b.candidates.includes(k)) && a.unconditional === b.unconditional;

for (const model of ['zoo:lenet5']) {
  test(`${model}: verdict and advice ranking agree in at least 9 of 10 profiles beside a busy core`, async (t) => {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await profileModel(model, { batchSizes: [1, 8], runs: 10, warmup: 2, profileRuns: 5, budgetMs: 1000 });
      const b = r.bottleneck!;
      outcomes.push({
        text: `${b.kind}(${b.candidates.join('/')}): ${b.advice.map((a) => `${a.id}${a.condition ? `[${a.condition}]` : ''}`).join(' > ') || 'none'}`,
        candidates: b.candidates,
        unconditional: b.advice
          .filter((a) => !a.condition)
          .map((a) => a.id)
          .join(' > '),
      });
    }
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o.text, (counts.get(o.text) ?? 0) + 1);
    t.diagnostic([...counts].map(([o, n]) => `${n}/10 ${o}`).join('; '));
    // The most runs any one outcome agrees with (itself included).
    const top = Math.max(...outcomes.map((o) => outcomes.filter((p) => agree(o, p)).length));
    assert.ok(top >= 9, `only ${top} of 10 agree:\n${outcomes.map((o) => o.text).join('\n')}`);
  });
}

test('agreement: overlapping verdicts with the same unconditional advice agree; disjoint verdicts do not', () => {
  const o = (candidates: string[], unconditional = ''): Outcome => ({ text: '', candidates, unconditional });
  assert.ok(agree(o(['memory']), o(['memory', 'overhead'])));
  assert.ok(!agree(o(['memory']), o(['overhead'])));
  assert.ok(!agree(o(['compute']), o(['memory', 'overhead'])));
  assert.ok(!agree(o(['memory'], 'batch'), o(['memory'], 'threads')));
});
