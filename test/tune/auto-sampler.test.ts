import assert from 'node:assert/strict';
import { test } from 'node:test';
import { branin, runBenchmark } from '../../src/tune/benchmarks.js';
import {
  AUTO_RULE,
  AUTO_SAMPLER_ATTR,
  type AutoStep,
  AutoSampler,
  autoHistory,
  AUTO_REFINEMENT,
  describeSpace,
  pickedBy,
  replayRefinement,
  trustLength,
  withLocalRefinement,
} from '../../src/tune/samplers/auto.js';
import type { StudyView } from '../../src/tune/samplers/base.js';
import { Rng } from '../../src/tune/samplers/rng.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { createStudy } from '../../src/tune/study.js';
import type { Trial } from '../../src/tune/trial.js';
import type { FrozenTrial } from '../../src/tune/types.js';

const proposers = (trials: readonly FrozenTrial[]) => trials.map((t) => t.systemAttrs[AUTO_SAMPLER_ATTR]);

test('auto: random startup, then GP and TPE on a small numeric space; every trial records its proposer', async () => {
  const { study } = await runBenchmark(branin, { sampler: new AutoSampler({ seed: 1 }), nTrials: 30 });
  const who = proposers(study.trials);
  assert.deepEqual(who.slice(0, 10), new Array(10).fill('random'));
  assert.ok(
    who.slice(10).every((w) => w === 'gp' || w === 'tpe' || w === 'local'),
    String(who),
  );
  // The local arm only after 5 proposals in a row that did not improve on the best.
  const h = autoHistory({ name: 's', directions: ['minimize'], trials: study.trials, setTrialSystemAttr: () => undefined });
  const firstLocal = h.findIndex((x) => x.who === 'local');
  if (firstLocal >= 0) assert.ok(firstLocal >= 5 && h.slice(firstLocal - 5, firstLocal).every((x) => !x.improved), String(who));
  // Whichever arm leads, the other is probed within 1, 2, 4, 8 trials of its misses.
  assert.ok(who.filter((w) => w === 'gp').length >= 3 && who.filter((w) => w === 'tpe').length >= 3, String(who));
});

test('auto beats random search on Branin within 40 trials (median of 5 seeds)', async () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const auto: number[] = [];
  const random: number[] = [];
  for (let seed = 0; seed < 5; seed++) {
    auto.push((await runBenchmark(branin, { sampler: new AutoSampler({ seed }), nTrials: 40 })).regret);
    random.push((await runBenchmark(branin, { sampler: new RandomSampler({ seed }), nTrials: 40 })).regret);
  }
  // Random search's median regret after 40 trials is about 0.5 (0.25 after 100): 0.05 needs a model.
  assert.ok(median(auto) < 0.05, `auto regrets ${auto}`);
  assert.ok(median(random) > 0.05, `random regrets ${random}`);
});

test('auto is deterministic for a seed', async () => {
  const run = async (seed: number) =>
    (await runBenchmark(branin, { sampler: new AutoSampler({ seed }), nTrials: 16 })).study.trials.map((t) => [t.params, proposers([t])]);
  assert.deepEqual(await run(5), await run(5));
  assert.notDeepEqual(await run(5), await run(6));
});

test("auto: the GP sees other workers' running trials as the worst so far (constant liar)", async () => {
  const study = await createStudy({ sampler: new RandomSampler({ seed: 2 }) });
  await study.optimize((t) => (t.suggestFloat('x', 0, 1) - 0.3) ** 2, { nTrials: 12 });
  const current = { ...study.trials[0]!, id: 1000, number: 12, state: 'running' as const, params: {}, distributions: {}, systemAttrs: {} };
  const propose = (others: FrozenTrial[]) => {
    const sampler = new AutoSampler({ seed: 1, rule: () => 'gp' });
    const view: StudyView = {
      name: 's',
      directions: ['minimize'],
      trials: [...study.trials, ...others, current],
      setTrialSystemAttr: () => undefined,
    };
    assert.equal(sampler.choose(view, current), 'gp');
    return sampler.sampleRelative(view, current, sampler.inferRelativeSearchSpace(view, current)).x as number;
  };
  const alone = propose([]);
  assert.ok(Math.abs(alone - 0.3) < 0.1, `GP proposal ${alone}`);
  // Another worker evaluates that very point: the GP looks elsewhere.
  const running = { ...study.trials[0]!, id: 999, number: 12, state: 'running' as const, values: undefined, params: { x: alone } };
  const beside = propose([running]);
  assert.ok(Math.abs(beside - alone) > 0.01, `proposals ${alone} and ${beside}`);
});

test('auto uses TPE for categorical and for conditional spaces', async () => {
  const categorical = await createStudy({ sampler: new AutoSampler({ seed: 2 }) });
  await categorical.optimize(
    (t) => {
      const x = t.suggestFloat('x', -3, 3);
      const act = t.suggestCategorical('act', ['relu', 'tanh', 'gelu']);
      return (x - 1) ** 2 + (act === 'tanh' ? 0 : 1);
    },
    { nTrials: 25 },
  );
  assert.ok(proposers(categorical.trials.slice(10)).every((w) => w === 'tpe'));
  assert.ok(categorical.bestValue < 0.5, `best ${categorical.bestValue}`);

  const conditional = await createStudy({ sampler: new AutoSampler({ seed: 2 }) });
  await conditional.optimize(
    (t: Trial) => {
      const deep = t.suggestInt('layers', 1, 4) > 2;
      const width = deep ? t.suggestFloat('width', 8, 64, { log: true }) : 16;
      return Math.abs(Math.log(width / 32)) + t.suggestFloat('lr', 1e-4, 1e-1, { log: true });
    },
    { nTrials: 25 },
  );
  assert.ok(proposers(conditional.trials.slice(10)).every((w) => w === 'tpe'));
  assert.ok(conditional.trials.some((t) => 'width' in t.params) && conditional.trials.some((t) => !('width' in t.params)));
});

test('auto uses multi-objective TPE for several objectives', async () => {
  const study = await createStudy({ directions: ['minimize', 'minimize'], sampler: new AutoSampler({ seed: 4 }) });
  // ZDT1 with 3 variables: the front is f2 = 1 − √f1 where x1 = x2 = 0.
  const g = (t: Trial) => 1 + (9 * (t.suggestFloat('x1', 0, 1) + t.suggestFloat('x2', 0, 1))) / 2;
  await study.optimize(
    (t) => {
      const f1 = t.suggestFloat('x0', 0, 1);
      const gv = g(t);
      return [f1, gv * (1 - Math.sqrt(f1 / gv))];
    },
    { nTrials: 60 },
  );
  assert.ok(proposers(study.trials.slice(10)).every((w) => w === 'tpe'));
  const meanG = (ts: FrozenTrial[]) => ts.reduce((s, t) => s + (t.params.x1 as number) + (t.params.x2 as number), 0) / ts.length;
  assert.ok(meanG(study.trials.slice(40)) < 0.5 * meanG(study.trials.slice(0, 10)), 'later trials approach the front');
});

test('auto in a tiny finite space evaluates each point once, then stops', async () => {
  const study = await createStudy({ sampler: new AutoSampler({ seed: 7, nStartupTrials: 2 }) });
  await study.optimize(
    (t) => {
      const a = t.suggestCategorical('a', ['x', 'y', 'z']);
      const b = t.suggestInt('b', 0, 1);
      return (a === 'y' ? 0 : 1) + b;
    },
    { nTrials: 20 },
  );
  const points = study.trials.map((t) => `${t.params.a}${t.params.b}`);
  assert.equal(points.length, 6);
  assert.equal(new Set(points).size, 6);
  assert.equal(study.bestValue, 0);
});

test('auto handles int parameters and maximization', async () => {
  const study = await createStudy({ direction: 'maximize', sampler: new AutoSampler({ seed: 8 }) });
  await study.optimize((t) => -((t.suggestInt('n', 0, 1000) - 637) ** 2) - (t.suggestFloat('x', 0, 1) - 0.3) ** 2, { nTrials: 35 });
  assert.ok(Number.isInteger(study.bestParams.n));
  assert.ok(Math.abs((study.bestParams.n as number) - 637) <= 30, `n ${study.bestParams.n}`);
});

test('AUTO_RULE: the arm whose proposals land more often proposes; the other is probed after doubling gaps', () => {
  const rng = new Rng(0);
  // Upper case: a proposal that improved on every earlier trial; lower case: one among the worst.
  const h = (s: string): AutoStep[] =>
    [...s].map((c) => {
      const lands = c === c.toUpperCase();
      return { who: c.toLowerCase() === 'g' ? 'gp' : 'tpe', improved: lands, better: lands ? 0 : 20, earlier: 30 };
    });
  assert.equal(AUTO_RULE([], rng), 'tpe');
  // TPE lands, the GP missed one probe: its next probe waits 2 trials, after a second miss 4.
  assert.equal(AUTO_RULE(h('TTgT'), rng), 'tpe');
  assert.equal(AUTO_RULE(h('TTgTT'), rng), 'gp');
  assert.equal(AUTO_RULE(h('TTgTTgTTT'), rng), 'tpe');
  assert.equal(AUTO_RULE(h('TTgTTgTTTT'), rng), 'gp');
  // The GP lands and TPE does not: the GP leads and TPE waits.
  assert.equal(AUTO_RULE(h('GGtG'), rng), 'gp');
  assert.equal(AUTO_RULE(h('GGtGG'), rng), 'tpe');
  // Landing among the best 10% counts without improving: 3 better of 40 earlier.
  const near: AutoStep = { who: 'gp', improved: false, better: 3, earlier: 40 };
  const far: AutoStep = { ...near, better: 20 };
  assert.equal(AUTO_RULE([...h('Ttt'), near, near], rng), 'gp');
  assert.equal(AUTO_RULE([...h('Ttt'), far, far], rng), 'tpe');
});

test('AUTO_RULE: after 5 proposals in a row that improved nothing, the local arm proposes 3 of every 4 trials', () => {
  const rng = new Rng(0);
  const step = (improved: boolean, who: AutoStep['who'] = 'tpe'): AutoStep => ({ who, improved, better: improved ? 0 : 20, earlier: 30 });
  const improving = [step(true), step(false), step(true)];
  const stalled = [...improving, ...new Array(5).fill(step(false))];
  const who = (h: AutoStep[]) => pickedBy(AUTO_RULE(h, rng));
  assert.notEqual(who([...improving, ...new Array(4).fill(step(false))]), 'local');
  assert.equal(who(stalled), 'local');
  const after = (n: number) => who([...stalled, ...new Array(n).fill(step(false, 'local'))]);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].map(after).map((w) => w === 'local'),
    [true, true, true, false, true, true, true, false],
  );
  // Once stalled, the local arm stays, whatever improves later (the bandit still gets every 4th).
  assert.equal(who([...stalled, step(true, 'local'), step(true, 'local')]), 'local');
});

test('trustLength: 0.8, halved after 4 local misses in a row, doubled after 3 local improvements, reset below 0.5^7', () => {
  const steps = (s: string): AutoStep[] =>
    [...s].map((c) => ({ who: c === 'g' ? 'gp' : 'local', improved: c === 'W', better: 0, earlier: 10 }));
  assert.equal(trustLength([]), 0.8);
  assert.equal(trustLength(steps('LLL')), 0.8);
  assert.equal(trustLength(steps('LLLL')), 0.4);
  // Other arms' proposals do not count; a win breaks a run of misses.
  assert.equal(trustLength(steps('LLgLgL')), 0.4);
  assert.equal(trustLength(steps('LLWLL')), 0.8);
  assert.equal(trustLength(steps('LLLLWWW')), 0.8);
  assert.equal(trustLength(steps('WWWWWW')), 1.6);
  // Six halvings leave 0.0125; a seventh would give 0.00625, below 0.5^7 (0.0078): back to 0.8.
  assert.equal(trustLength(steps('L'.repeat(24))), 0.8 / 64);
  assert.equal(trustLength(steps('L'.repeat(28))), 0.8);
});

test('replayRefinement: a collapsed trust region ends the local phase when asked; the GP may take the global turns', () => {
  const steps = (s: string): AutoStep[] =>
    [...s].map((c) => ({ who: c === 't' ? 'tpe' : c === 'g' ? 'gp' : 'local', improved: c === 'W', better: 0, earlier: 10 }));
  // 5 TPE misses start the phase; 28 local misses halve the side 7 times, below 0.5^7.
  const collapsed = steps(`ttttt${'L'.repeat(28)}`);
  const same = replayRefinement(collapsed, { ...AUTO_REFINEMENT, afterCollapse: 'same', every: 1000 });
  assert.deepEqual(same, { local: true, length: 0.8, explore: false });
  const global = { ...AUTO_REFINEMENT, afterCollapse: 'global' as const, every: 1000 };
  assert.equal(replayRefinement(collapsed.slice(0, -1), global).local, true);
  assert.deepEqual(replayRefinement(collapsed, global), { local: false, length: 0.8, explore: false });
  // A new stall of 5 starts the next phase.
  assert.equal(replayRefinement([...collapsed, ...steps('tttt')], global).local, false);
  assert.equal(replayRefinement([...collapsed, ...steps('ttttt')], global).local, true);
  // 'gp': the GP proposes between a collapse and the next phase.
  const toGP = withLocalRefinement(() => 'tpe', { ...global, afterCollapse: 'gp' });
  assert.equal(toGP(collapsed, new Rng(0)), 'gp');
  assert.equal(pickedBy(toGP([...collapsed, ...steps('ggggg')], new Rng(0))), 'local');
  // globalArm 'gp': the every-th proposal of a phase is the GP's, not the base rule's.
  const rule = withLocalRefinement(() => 'tpe', { ...AUTO_REFINEMENT, globalArm: 'gp' });
  const turns = [0, 1, 2, 3].map((n) => pickedBy(rule([...steps('ttttt'), ...steps('L'.repeat(n))], new Rng(0))));
  assert.deepEqual(turns, ['local', 'local', 'local', 'gp']);
});

test('the local arm proposes inside the trust region around the best trial', async () => {
  const study = await createStudy({ sampler: new AutoSampler({ seed: 3, rule: (h) => ({ local: trustLength(h) }) }) });
  const f = (x: number) => Math.sin(x) + 0.1 * (x - 6) ** 2;
  await study.optimize((t) => f(t.suggestFloat('x', 0, 10)), { nTrials: 30 });
  const trials = study.trials;
  assert.deepEqual(proposers(trials.slice(10)), new Array(20).fill('local'));
  for (let k = 10; k < trials.length; k++) {
    const before = trials.slice(0, k);
    const best = before.reduce((a, b) => (b.values![0]! < a.values![0]! ? b : a));
    const length = trustLength(autoHistory({ name: 's', directions: ['minimize'], trials: before, setTrialSystemAttr: () => undefined }));
    // One dimension: the box is length × the range, centred on the best (its lengthscale over itself is 1).
    const x = trials[k]!.params.x as number;
    assert.ok(
      Math.abs(x - (best.params.x as number)) <= (length * 10) / 2 + 1e-9,
      `trial ${k}: x ${x}, best ${best.params.x}, side ${length}`,
    );
  }
  // Refining near the best pays: the global minimum of f on [0, 10] is about −0.50 near x = 4.8.
  assert.ok(Math.min(...trials.map((t) => t.values![0]!)) < -0.49);
});

test('autoHistory: each GP/TPE proposal, whether it improved, and its rank among the earlier trials', () => {
  const trial = (number: number, value: number | undefined, who: string, state: FrozenTrial['state'] = 'complete') =>
    ({
      id: number,
      number,
      state,
      values: value === undefined ? undefined : [value],
      params: {},
      distributions: {},
      intermediateValues: {},
      userAttrs: {},
      systemAttrs: { [AUTO_SAMPLER_ATTR]: who },
    }) as FrozenTrial;
  const view: StudyView = {
    name: 's',
    directions: ['maximize'],
    trials: [
      trial(0, 1, 'random'),
      trial(1, 5, 'random'),
      trial(2, 3, 'gp'),
      trial(3, undefined, 'tpe', 'fail'),
      trial(4, 9, 'tpe'),
      trial(5, undefined, 'gp', 'pruned'),
      trial(6, undefined, 'tpe', 'running'),
    ],
    setTrialSystemAttr: () => undefined,
  };
  assert.deepEqual(autoHistory(view), [
    { who: 'gp', improved: false, better: 1, earlier: 2 },
    { who: 'tpe', improved: true, better: 0, earlier: 3 },
    { who: 'gp', improved: false, better: 4, earlier: 4 },
  ]);
});

test('describeSpace tells conditional and categorical spaces apart', () => {
  const t = (distributions: FrozenTrial['distributions']) => ({ distributions }) as FrozenTrial;
  const x = { type: 'float', low: 0, high: 1, log: false } as const;
  assert.deepEqual(describeSpace([t({ x }), t({ x })]), { conditional: false, categorical: false, dims: 1 });
  assert.deepEqual(describeSpace([t({ x }), t({ x, y: x })]), { conditional: true, categorical: false, dims: 2 });
  assert.deepEqual(describeSpace([t({ x, c: { type: 'categorical', choices: [1, 2] } })]), {
    conditional: false,
    categorical: true,
    dims: 1,
  });
});
