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
for (const model of ['zoo:lenet5']) {
  test(`${model}: verdict and advice ranking agree in at least 9 of 10 profiles beside a busy core`, async (t) => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await profileModel(model, { batchSizes: [1, 8], runs: 10, warmup: 2, profileRuns: 5, budgetMs: 1000 });
      const b = r.bottleneck!;
      outcomes.push(
        `${b.kind}(${b.candidates.join('/')}): ${b.advice.map((a) => `${a.id}${a.condition ? `[${a.condition}]` : ''}`).join(' > ') || 'none'}`,
      );
    }
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    const top = Math.max(...counts.values());
    t.diagnostic([...counts].map(([o, n]) => `${n}/10 ${o}`).join('; '));
    assert.ok(top >= 9, `only ${top} of 10 agree:\n${outcomes.join('\n')}`);
  });
}
