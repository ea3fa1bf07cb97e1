import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoneError } from '../../src/errors.js';
import { createStudy, loadStudy } from '../../src/tune/study.js';
import { TrialPruned } from '../../src/tune/trial.js';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { validateDistribution } from '../../src/tune/distributions.js';

test('optimize runs nTrials and tracks the best trial', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 1 }) });
  await study.optimize((t) => (t.suggestFloat('x', -2, 2) - 1) ** 2, { nTrials: 30 });
  assert.equal(study.trials.length, 30);
  assert.ok(study.trials.every((t) => t.state === 'complete'));
  const min = Math.min(...study.trials.map((t) => t.values![0]!));
  assert.equal(study.bestValue, min);
  assert.equal(study.bestParams.x, study.bestTrial.params.x);
});

test('maximize picks the largest value', async () => {
  const study = await createStudy({ direction: 'maximize', sampler: new RandomSampler({ seed: 2 }) });
  await study.optimize((t) => t.suggestInt('n', 0, 10), { nTrials: 20 });
  assert.equal(study.bestValue, Math.max(...study.trials.map((t) => t.values![0]!)));
});

test('a throwing objective fails its trial, keeps the reason, and the study goes on', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 3 }) });
  let calls = 0;
  await study.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      if (++calls % 2 === 0) throw new Error('diverged');
      return x;
    },
    { nTrials: 6 },
  );
  const failed = study.trials.filter((t) => t.state === 'fail');
  assert.equal(failed.length, 3);
  assert.equal(failed[0]!.systemAttrs.fail_reason, 'diverged');
  assert.equal(study.trials.filter((t) => t.state === 'complete').length, 3);
});

test('NaN and malformed results fail the trial', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 4 }) });
  const results: unknown[] = [NaN, 'x', [1, 2], 5];
  let i = 0;
  await study.optimize(() => results[i++] as number, { nTrials: 4 });
  assert.deepEqual(
    study.trials.map((t) => t.state),
    ['fail', 'fail', 'fail', 'complete'],
  );
  assert.match(String(study.trials[0]!.systemAttrs.fail_reason), /NaN/);
});

test('invalid search spaces throw a HoneError naming the parameter before the objective runs on', async () => {
  const cases: [string, (t: import('../../src/tune/trial.js').Trial) => number][] = [
    ['lr', (t) => t.suggestFloat('lr', 1, 0)],
    ['lr', (t) => t.suggestFloat('lr', 0, 1, { log: true })],
    [
      'c',
      (t) => {
        t.suggestCategorical('c', []);
        return 0;
      },
    ],
    ['n', (t) => t.suggestInt('n', 1, 10, { step: 2, log: true })],
  ];
  for (const [name, objective] of cases) {
    const study = await createStudy({ sampler: new RandomSampler({ seed: 0 }) });
    let after = 0;
    await assert.rejects(
      study.optimize(
        (t) => {
          const v = objective(t);
          after++;
          return v;
        },
        { nTrials: 5 },
      ),
      (e: unknown) => e instanceof HoneError && e.exitCode === 2 && e.message.includes(`'${name}'`),
    );
    assert.equal(after, 0);
    assert.equal(study.trials.length, 1, 'the study stops at the first trial');
  }
});

test('a step that does not divide the range moves high down, as Optuna does', () => {
  assert.deepEqual(validateDistribution('x', { type: 'float', low: 0, high: 1, log: false, step: 0.3 }), {
    type: 'float',
    low: 0,
    high: 0.9,
    log: false,
    step: 0.3,
  });
  assert.equal((validateDistribution('n', { type: 'int', low: 1, high: 10, log: false, step: 4 }) as { high: number }).high, 9);
});

test('redefining a parameter with another distribution is an error naming it', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 0 }) });
  await study.optimize((t) => t.suggestFloat('p', 0, 1), { nTrials: 2 });
  await assert.rejects(
    study.optimize((t) => t.suggestInt('p', 0, 1), { nTrials: 1 }),
    (e: unknown) => e instanceof HoneError && /'p'/.test(e.message),
  );
  // Within one trial too.
  const s2 = await createStudy({ sampler: new RandomSampler({ seed: 0 }) });
  await assert.rejects(
    s2.optimize((t) => t.suggestFloat('q', 0, 1) + (t.suggestCategorical('q', ['a']) as unknown as number), { nTrials: 1 }),
    /'q'/,
  );
});

test('suggesting the same parameter twice in a trial returns the same value', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 5 }) });
  await study.optimize(
    (t) => {
      const a = t.suggestFloat('x', 0, 1);
      assert.equal(t.suggestFloat('x', 0, 1), a);
      return a;
    },
    { nTrials: 3 },
  );
});

test('conditional search spaces: each branch defines its own parameters', async () => {
  const study = await createStudy({ sampler: new TPESampler({ seed: 0, nStartupTrials: 5 }) });
  await study.optimize(
    (t) => {
      const kind = t.suggestCategorical('kind', ['svm', 'forest']);
      if (kind === 'svm') return (Math.log10(t.suggestFloat('c', 1e-3, 1e3, { log: true })) - 1) ** 2;
      return Math.abs(t.suggestInt('depth', 1, 32) - 7);
    },
    { nTrials: 40 },
  );
  for (const t of study.trials) {
    assert.ok('kind' in t.params);
    if (t.params.kind === 'svm') assert.deepEqual(Object.keys(t.params).sort(), ['c', 'kind']);
    else assert.deepEqual(Object.keys(t.params).sort(), ['depth', 'kind']);
  }
});

test('enqueued trials run first with their fixed values', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 6 }) });
  await study.enqueueTrial({ x: 0.25, opt: 'b' });
  await study.enqueueTrial({ x: 0.75 });
  await study.optimize((t) => t.suggestFloat('x', 0, 1) + (t.suggestCategorical('opt', ['a', 'b']) === 'b' ? 1 : 0), {
    nTrials: 3,
  });
  assert.equal(study.trials[0]!.params.x, 0.25);
  assert.equal(study.trials[0]!.params.opt, 'b');
  assert.equal(study.trials[1]!.params.x, 0.75);
  assert.equal(study.trials.length, 3);
});

test('ask and tell, by trial or by number, and states', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 7 }) });
  const a = await study.ask();
  const b = await study.ask({ y: { type: 'int', low: 0, high: 3, log: false, step: 1 } });
  assert.ok(typeof b.params.y === 'number');
  const x = a.suggestFloat('x', 0, 1);
  await study.tell(a, x);
  await study.tell(b.number, 'pruned');
  await assert.rejects(study.tell(a, 1), /already finished/);
  const c = await study.ask();
  await study.tell(c, 'fail');
  assert.deepEqual(
    study.trials.map((t) => t.state),
    ['complete', 'pruned', 'fail'],
  );
  assert.equal(study.bestTrial.number, 0);
});

test('user attrs and reports are stored', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 8 }) });
  await study.optimize(
    (t) => {
      t.setUserAttr('note', { a: 1 });
      t.report(3, 0);
      t.report(2, 1);
      return 1;
    },
    { nTrials: 1 },
  );
  assert.deepEqual(study.trials[0]!.userAttrs.note, { a: 1 });
  assert.deepEqual(study.trials[0]!.intermediateValues, { 0: 3, 1: 2 });
});

test('concurrency runs trials at once and loses none', async () => {
  const study = await createStudy({ sampler: new TPESampler({ seed: 9, constantLiar: true }) });
  let running = 0;
  let peak = 0;
  // Each trial waits until 4 run at once (or all that are left): a study that runs fewer at once never
  // gets there, and the hang guard (not the clock) fails it.
  let release: () => void = () => undefined;
  let full = new Promise<void>((r) => (release = r));
  let started = 0;
  await study.optimize(
    async (t) => {
      const x = t.suggestFloat('x', -1, 1);
      running++;
      started++;
      peak = Math.max(peak, running);
      if (running === 4 || started === 24) {
        release();
        full = new Promise<void>((r) => (release = r));
      } else {
        let timer: NodeJS.Timeout | undefined;
        const guard = new Promise<void>(
          (_, reject) => (timer = setTimeout(() => reject(new Error('fewer than 4 trials ran at once')), 30_000)),
        );
        try {
          await Promise.race([full, guard]);
        } finally {
          clearTimeout(timer);
        }
      }
      running--;
      return x * x;
    },
    { nTrials: 24, concurrency: 4, catch: () => false },
  );
  assert.equal(peak, 4);
  assert.equal(study.trials.length, 24);
  assert.deepEqual(
    study.trials.map((t) => t.number),
    Array.from({ length: 24 }, (_, i) => i),
  );
  assert.ok(study.trials.every((t) => t.state === 'complete'));
});

test('timeoutS stops starting new trials: none starts after it, and the study runs until it', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 10 }) });
  const timeoutS = 0.3;
  const starts: number[] = [];
  const ends: number[] = [];
  const t0 = Date.now();
  await study.optimize(
    async (t) => {
      starts.push(Date.now());
      // The third trial runs past the deadline, whenever the first two ended.
      if (t.number === 2) await new Promise((r) => setTimeout(r, timeoutS * 1000 + 50));
      ends.push(Date.now());
      return t.suggestFloat('x', 0, 1);
    },
    // A study that ignores the timeout stops at 50 trials, failing the checks below.
    { timeoutS, nTrials: 50 },
  );
  // The deadline is set before the first trial starts: at most timeoutS after that start. A trial
  // starts only when the one before ended before the deadline; the last one ends after it.
  const deadlineAtMost = starts[0]! + timeoutS * 1000;
  for (const end of ends.slice(0, -1)) assert.ok(end <= deadlineAtMost, `a trial started after the deadline (${ends.length} trials)`);
  assert.ok(Date.now() - t0 >= timeoutS * 1000, 'the study stopped before its timeout');
  assert.ok(study.trials.length <= 3);
});

test('TrialPruned ends the trial as pruned with its last reported value', async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 11 }) });
  await study.optimize(
    (t) => {
      t.report(0.5, 3);
      throw new TrialPruned();
    },
    { nTrials: 1 },
  );
  assert.equal(study.trials[0]!.state, 'pruned');
  assert.deepEqual(study.trials[0]!.values, [0.5]);
});

test('constraints are stored and bestTrial is the best feasible trial', async () => {
  const study = await createStudy({
    sampler: new RandomSampler({ seed: 12 }),
    constraintsFunc: (t) => [(t.params.x as number) - 0.5],
  });
  await study.optimize((t) => -t.suggestFloat('x', 0, 1), { nTrials: 30 });
  for (const t of study.trials) assert.deepEqual(t.systemAttrs.constraints, [(t.params.x as number) - 0.5]);
  assert.ok((study.bestParams.x as number) <= 0.5);
  const feasible = study.trials.filter((t) => (t.params.x as number) <= 0.5).map((t) => t.values![0]!);
  assert.equal(study.bestValue, Math.min(...feasible));
});

test('multi-objective: bestTrials is the Pareto front', async () => {
  const study = await createStudy({ directions: ['minimize', 'maximize'], sampler: new RandomSampler({ seed: 13 }) });
  await study.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      const y = t.suggestFloat('y', 0, 1);
      return [x + y, x - y];
    },
    { nTrials: 40 },
  );
  const front = study.bestTrials;
  assert.ok(front.length >= 1);
  for (const a of front) {
    for (const b of study.trials) {
      const dom =
        b.values![0]! <= a.values![0]! &&
        b.values![1]! >= a.values![1]! &&
        (b.values![0]! < a.values![0]! || b.values![1]! > a.values![1]!);
      assert.ok(!dom, `front trial ${a.number} dominated by ${b.number}`);
    }
  }
  assert.throws(() => study.bestTrial, HoneError);
});

test('createStudy with loadIfExists and loadStudy share one storage', async () => {
  const storage = new InMemoryStorage();
  const s1 = await createStudy({ name: 'shared', storage, sampler: new RandomSampler({ seed: 14 }) });
  await s1.optimize((t) => t.suggestFloat('x', 0, 1), { nTrials: 3 });
  await assert.rejects(createStudy({ name: 'shared', storage }), HoneError);
  const s2 = await createStudy({ name: 'shared', storage, loadIfExists: true, sampler: new RandomSampler({ seed: 15 }) });
  await s2.optimize((t) => t.suggestFloat('x', 0, 1), { nTrials: 2 });
  const s3 = await loadStudy({ name: 'shared', storage });
  assert.equal(s3.trials.length, 5);
  await assert.rejects(loadStudy({ name: 'missing', storage }), /does not exist/);
});

test('heartbeats: a running trial whose worker went silent is failed at the next ask', async () => {
  const storage = new InMemoryStorage();
  const study = await createStudy({ name: 'hb', storage, sampler: new RandomSampler({ seed: 16 }) });
  const orphan = await storage.createTrial(study.id, { state: 'running' });
  // The orphan is silent for ≥ 0.5 s, twice the grace. The study's own trials cannot go stale: one runs at
  // a time, it beats every 0.05 s, and stale trials are looked for only between trials.
  await new Promise((r) => setTimeout(r, 500));
  await study.optimize((t) => t.suggestFloat('x', 0, 1), { nTrials: 2, heartbeat: { intervalS: 0.05, graceS: 0.25 } });
  const t = study.trials.find((x) => x.id === orphan.id)!;
  assert.equal(t.state, 'fail');
  assert.match(String(t.systemAttrs.fail_reason), /heartbeat/);
  assert.equal(study.trials.filter((x) => x.state === 'complete').length, 2);
});

test('validateSearchSpace checks a whole space up front, naming the bad parameter', async () => {
  const { validateSearchSpace } = await import('../../src/tune/distributions.js');
  assert.throws(
    () =>
      validateSearchSpace({
        ok: { type: 'float', low: 0, high: 1, log: false },
        bad: { type: 'int', low: 5, high: 1, log: false, step: 1 },
      }),
    (e: unknown) => e instanceof HoneError && /'bad'/.test(e.message),
  );
});

test('TPE on a multi-objective study samples from both fronts and stays valid', async () => {
  const study = await createStudy({ directions: ['minimize', 'minimize'], sampler: new TPESampler({ seed: 2 }) });
  await study.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      const y = t.suggestFloat('y', 0, 1);
      return [x + y * y, 1 - x + y];
    },
    { nTrials: 40 },
  );
  assert.equal(study.trials.filter((t) => t.state === 'complete').length, 40);
  // The front lies at y = 0; later (TPE) trials concentrate there.
  const meanY = (ts: typeof study.trials) => ts.reduce((s, t) => s + (t.params.y as number), 0) / ts.length;
  assert.ok(meanY(study.trials.slice(25)) < meanY(study.trials.slice(0, 10)));
});
