// Warm starts (src/tune/warm-start.ts): the source's best trials become the target's first trials, mapped
// onto the target's space as documented (dropped, clipped, snapped, de-duplicated); bad sources are one
// line naming what exists; the prior sampler shows the source to the wrapped sampler without storing it;
// and on branin, a warm-started TPE beats a cold one at the same small budget, seed after seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { benchmarkObjective, branin } from '../../src/tune/benchmarks.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import type { StudyView } from '../../src/tune/samplers/base.js';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';
import type { Storage } from '../../src/tune/storage/storage.js';
import { createStudy } from '../../src/tune/study.js';
import type { Direction, Distribution, FrozenTrial, ParamValue } from '../../src/tune/types.js';
import { adaptParams, loadWarmStartSource, rankTrials, warmStart, WarmStartSampler } from '../../src/tune/warm-start.js';

/** Writes finished trials straight to a storage: [params, distributions, values]. */
async function sourceStudy(
  storage: Storage,
  name: string,
  trials: [Record<string, ParamValue>, Record<string, Distribution>, number[] | 'fail'][],
  directions: Direction[] = ['minimize'],
): Promise<void> {
  const id = await storage.createStudy(name, directions);
  for (const [params, dists, values] of trials) {
    const t = await storage.createTrial(id);
    for (const [k, v] of Object.entries(params)) await storage.setTrialParam(t.id, k, v, dists[k]!);
    if (values === 'fail') await storage.setTrialState(t.id, 'fail');
    else await storage.setTrialState(t.id, 'complete', values);
  }
}

const X10: Distribution = { type: 'float', low: 0, high: 10, log: false };
const ACT3: Distribution = { type: 'categorical', choices: ['relu', 'tanh', 'gelu'] };
const OLD: Distribution = { type: 'int', low: 1, high: 4, log: false, step: 1 };

test('adaptParams: kept, dropped (not in the space, not a choice, not a number), clipped and snapped', () => {
  const space: Record<string, Distribution> = {
    x: { type: 'float', low: 0, high: 5, log: false },
    act: { type: 'categorical', choices: ['relu', 'tanh'] },
    n: { type: 'int', low: 2, high: 6, log: false, step: 2 },
    s: { type: 'float', low: 0, high: 1, log: false, step: 0.25 },
    lr: { type: 'float', low: 1e-4, high: 1e-2, log: true },
  };
  const a = adaptParams({ x: 8, act: 'gelu', n: 3, s: 0.3, lr: 0.5, old: 2, y: 'big' }, { ...space, y: space.x! });
  assert.deepEqual(a.params, { x: 5, n: 4, s: 0.25, lr: 1e-2 });
  assert.deepEqual(a.dropped.sort(), ['act', 'old', 'y']);
  assert.deepEqual(a.adjusted.sort(), ['lr', 'n', 's', 'x']);
  const kept = adaptParams({ x: 2.5, act: 'tanh' }, space);
  assert.deepEqual(kept, { params: { x: 2.5, act: 'tanh' }, dropped: [], adjusted: [] });
  assert.deepEqual(adaptParams({ anything: 'goes' }, undefined).params, { anything: 'goes' }, 'no space: nothing to map onto');
});

test('the best K of the source run first in the target, best first, and record where they came from', async () => {
  const storage = new InMemoryStorage();
  await sourceStudy(storage, 'src', [
    [{ x: 1, act: 'relu' }, { x: X10, act: ACT3 }, [4]],
    [{ x: 2, act: 'tanh' }, { x: X10, act: ACT3 }, [1]],
    [{ x: 3, act: 'relu' }, { x: X10, act: ACT3 }, 'fail'],
    [{ x: 4, act: 'tanh' }, { x: X10, act: ACT3 }, [3]],
    [{ x: 5, act: 'relu' }, { x: X10, act: ACT3 }, [2]],
  ]);
  const target = await createStudy({ name: 'dst', storage, sampler: new RandomSampler({ seed: 1 }) });
  const r = await warmStart(target, { storage, study: 'src' }, { topK: 3 });
  assert.deepEqual(
    r.enqueued.map((e) => e.from),
    [1, 4, 3],
  );
  await target.optimize((t) => t.suggestFloat('x', 0, 10) + (t.suggestCategorical('act', ['relu', 'tanh', 'gelu']) === 'relu' ? 0 : 1), {
    nTrials: 6,
  });
  assert.deepEqual(
    target.trials.slice(0, 3).map((t) => t.params),
    [
      { x: 2, act: 'tanh' },
      { x: 5, act: 'relu' },
      { x: 4, act: 'tanh' },
    ],
  );
  assert.deepEqual(target.trials[0]!.systemAttrs.warm_start, { study: 'src', trial: 1 });
  assert.equal(target.trials[3]!.systemAttrs.warm_start, undefined, 'then the sampler takes over');
  assert.equal(target.trials.length, 6, 'the enqueued trials count in the budget');
  // Warm-starting again enqueues nothing the target already ran.
  const again = await warmStart(target, { storage, study: 'src' }, { topK: 3 });
  assert.deepEqual(
    again.enqueued.map((e) => e.from),
    [0],
  );
  assert.equal(again.skipped.length, 3);
});

test('a changed space: parameters dropped or clipped as documented, duplicates passed over, the rest sampled', async () => {
  const storage = new InMemoryStorage();
  await sourceStudy(storage, 'wide', [
    [{ x: 9, act: 'gelu', old: 2 }, { x: X10, act: ACT3, old: OLD }, [1]],
    [{ x: 8, act: 'gelu', old: 3 }, { x: X10, act: ACT3, old: OLD }, [2]],
    [{ old: 4 }, { old: OLD }, [3]],
    [{ x: 1.2, act: 'relu', old: 1 }, { x: X10, act: ACT3, old: OLD }, [4]],
  ]);
  const space: Record<string, Distribution> = {
    x: { type: 'float', low: 0, high: 5, log: false },
    act: { type: 'categorical', choices: ['relu', 'tanh'] },
    width: { type: 'int', low: 8, high: 64, log: false, step: 8 },
  };
  const target = await createStudy({ name: 'narrow', storage, sampler: new RandomSampler({ seed: 2 }) });
  const r = await warmStart(target, { storage, study: 'wide' }, { topK: 3, space });
  // #0: x clipped 9 → 5, act 'gelu' and old dropped. #1 maps onto the same {x: 5}: passed over. #2 has
  // nothing the new space knows. #3 fits as it is (old dropped).
  assert.deepEqual(
    r.enqueued.map((e) => [e.from, e.params, e.dropped.sort(), e.adjusted]),
    [
      [0, { x: 5 }, ['act', 'old'], ['x']],
      [3, { x: 1.2, act: 'relu' }, ['old'], []],
    ],
  );
  assert.deepEqual(
    r.skipped.map((s) => s.from),
    [1, 2],
  );
  assert.match(r.skipped[1]!.reason, /none of its parameters \(old\) fits/);
  await target.optimize(
    (t) => {
      const x = t.suggest('x', space.x!) as number;
      const act = t.suggest('act', space.act!);
      const width = t.suggest('width', space.width!) as number;
      return x + width / 100 + (act === 'relu' ? 0 : 1);
    },
    { nTrials: 4 },
  );
  const [first, second] = target.trials;
  assert.equal(first!.params.x, 5);
  assert.ok(['relu', 'tanh'].includes(first!.params.act as string), 'a dropped parameter is sampled in the new space');
  assert.ok((first!.params.width as number) % 8 === 0, 'a new parameter is sampled');
  assert.equal(second!.params.x, 1.2);
  assert.equal(second!.params.act, 'relu');
});

test('without a space, the target trials so far define it', async () => {
  const storage = new InMemoryStorage();
  await sourceStudy(storage, 'src', [[{ x: 9 }, { x: X10 }, [1]]]);
  const target = await createStudy({ name: 'dst', storage, sampler: new RandomSampler({ seed: 3 }) });
  await target.optimize((t) => t.suggestFloat('x', 0, 2), { nTrials: 1 });
  const r = await warmStart(target, { storage, study: 'src' }, { topK: 1 });
  assert.deepEqual(r.enqueued[0]!.params, { x: 2 });
});

test('several objectives: the Pareto front first, spread-out points before crowded ones', () => {
  const t = (number: number, values: number[]): FrozenTrial => ({
    id: number,
    number,
    state: 'complete',
    values,
    params: {},
    distributions: {},
    intermediateValues: {},
    userAttrs: {},
    systemAttrs: {},
  });
  // [minimize, maximize]: #1 (1, 9), #2 (5, 10) and #3 (3, 9.5) are the front, #3 between the other two.
  const ranked = rankTrials([t(0, [4, 2]), t(1, [1, 9]), t(2, [5, 10]), t(3, [3, 9.5]), t(4, [6, 1])], ['minimize', 'maximize']);
  assert.deepEqual(
    ranked.map((x) => x.number),
    [1, 2, 3, 0, 4],
  );
});

test('bad sources: one line naming what exists, before anything is enqueued', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-warm-'));
  try {
    const db = join(dir, 'runs.db');
    const s = new SqliteStorage(db);
    await sourceStudy(s, 'lr-search', [[{ x: 1 }, { x: X10 }, [1]]]);
    await sourceStudy(s, 'empty', [[{ x: 1 }, { x: X10 }, 'fail']]);
    await s.close();
    const bad = async (source: { storage: string; study: string }, re: RegExp) => {
      await assert.rejects(loadWarmStartSource(source), (e: unknown) => e instanceof HoneError && e.exitCode === 2 && re.test(e.message));
    };
    await bad({ storage: `sqlite:${db}`, study: 'lr-serch' }, /no study 'lr-serch' in sqlite:.*runs\.db; studies there: lr-search, empty$/);
    await bad({ storage: join(dir, 'nope.db'), study: 'x' }, /no storage at .*nope\.db \(no such file\)/);
    await bad({ storage: `sqlite:${db}`, study: 'empty' }, /study 'empty' .* has no complete trial to start from \(1 trial\(s\): 1 fail\)/);
    await bad({ storage: 'memory', study: 'x' }, /memory storage holds no earlier study/);
    const target = await createStudy({ storage: new InMemoryStorage() });
    await assert.rejects(warmStart(target, { storage: db, study: 'lr-search' }, { topK: 0 }), /topK must be an integer ≥ 1/);
    const ok = await warmStart(target, { storage: db, study: 'lr-search' }, { topK: 2 });
    assert.equal(ok.enqueued.length, 1, 'the source had one complete trial');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A sampler that records what it was shown. */
class Spy extends RandomSampler {
  seen: FrozenTrial[][] = [];
  override sampleIndependent(study: StudyView, trial: FrozenTrial, name: string, d: Distribution): ParamValue {
    this.seen.push([...study.trials]);
    for (const t of study.trials) study.setTrialSystemAttr(t, 'seen', true);
    return super.sampleIndependent(study, trial, name, d);
  }
}

test('the prior: the wrapped sampler sees the source mapped onto the space, the storage never does', async () => {
  const storage = new InMemoryStorage();
  await sourceStudy(storage, 'src', [
    [{ x: 9, act: 'relu' }, { x: X10, act: ACT3 }, [1]],
    [{ x: 3, act: 'gelu' }, { x: X10, act: ACT3 }, [2]],
    [{ x: 2, act: 'tanh' }, { x: X10, act: ACT3 }, [3]],
    [{ x: 1, act: 'tanh' }, { x: X10, act: ACT3 }, 'fail'],
  ]);
  const source = await loadWarmStartSource({ storage, study: 'src' });
  const spy = new Spy({ seed: 4 });
  const sampler = new WarmStartSampler(spy, source);
  assert.equal(sampler.priorSize, 3, 'complete trials only');
  const target = await createStudy({ name: 'dst', storage, sampler });
  await target.optimize((t) => t.suggestFloat('x', 0, 5) + (t.suggestCategorical('act', ['relu', 'tanh']) === 'relu' ? 0 : 1), {
    nTrials: 3,
  });
  // When the first trial asks for x, the prior is mapped onto x ∈ [0, 5]: 9 is clipped to 5.
  const first = spy.seen[0]!;
  assert.deepEqual(
    first.map((t) => [t.number, t.params.x, t.values]),
    [
      [-3, 5, [1]],
      [-2, 3, [2]],
      [-1, 2, [3]],
      [0, undefined, undefined],
    ],
  );
  assert.deepEqual(first[0]!.distributions.x, { type: 'float', low: 0, high: 5, log: false });
  // Once the space holds act, the trial with 'gelu' (not a choice any more) leaves the prior.
  const later = spy.seen[spy.seen.length - 1]!;
  assert.deepEqual(
    later.filter((t) => t.number < 0).map((t) => t.params),
    [
      { x: 5, act: 'relu' },
      { x: 2, act: 'tanh' },
    ],
  );
  assert.equal(target.trials.length, 3, 'the prior is not stored in the target');
  assert.ok(target.trials.every((t) => t.number >= 0 && t.systemAttrs.seen === true));
  const src = await loadWarmStartSource({ storage, study: 'src' });
  assert.ok(
    src.trials.every((t) => t.systemAttrs.seen === undefined),
    "the sampler's notes on prior trials go nowhere",
  );

  const max = await createStudy({ direction: 'maximize', sampler: new WarmStartSampler(new RandomSampler(), source) });
  await assert.rejects(
    max.optimize((t) => t.suggestFloat('x', 0, 1), { nTrials: 1 }),
    /a prior needs the same objectives/,
  );
  assert.throws(() => new WarmStartSampler(new RandomSampler(), source, { size: 0 }), /size must be an integer ≥ 1/);
});

test('the prior keeps at most `size` trials spread over the ranking, the best and the worst included', async () => {
  const storage = new InMemoryStorage();
  await sourceStudy(
    storage,
    'src',
    Array.from({ length: 9 }, (_, i): [Record<string, ParamValue>, Record<string, Distribution>, number[]] => [
      { x: i },
      { x: X10 },
      [(i * 7) % 9],
    ]),
  );
  const source = await loadWarmStartSource({ storage, study: 'src' });
  const spy = new Spy({ seed: 5 });
  const target = await createStudy({ storage, name: 'dst', sampler: new WarmStartSampler(spy, source, { size: 3 }) });
  await target.optimize((t) => t.suggestFloat('x', 0, 10), { nTrials: 1 });
  const prior = spy.seen[0]!.filter((t) => t.number < 0);
  assert.deepEqual(prior.map((t) => t.values![0]).sort(), [0, 4, 8]);
});

/** Best value of branin after `budget` trials of TPE (seed), cold or warm-started from `storage`'s 'src'. */
async function braninBest(storage: Storage, seed: number, budget: number, mode: 'cold' | 'enqueue' | 'prior'): Promise<number> {
  const source = await loadWarmStartSource({ storage, study: 'src' });
  const sampler = mode === 'prior' ? new WarmStartSampler(new TPESampler({ seed }), source) : new TPESampler({ seed });
  const study = await createStudy({ storage, name: `${mode}-${seed}`, sampler });
  if (mode === 'enqueue') await warmStart(study, source, { topK: 3 });
  await study.optimize(benchmarkObjective(branin), { nTrials: budget });
  assert.equal(study.trials.length, budget);
  return study.bestValue;
}

test('on branin, a warm-started TPE beats a cold one at the same 10-trial budget (5 seeds)', async () => {
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const results = { cold: [] as number[], enqueue: [] as number[], prior: [] as number[] };
  for (let seed = 0; seed < 5; seed++) {
    const storage = new InMemoryStorage();
    const src = await createStudy({ storage, name: 'src', sampler: new TPESampler({ seed: 100 + seed }) });
    await src.optimize(benchmarkObjective(branin), { nTrials: 30 });
    for (const mode of ['cold', 'enqueue', 'prior'] as const) results[mode].push(await braninBest(storage, seed, 10, mode));
  }
  for (const mode of ['enqueue', 'prior'] as const) {
    const wins = results[mode].filter((v, i) => v < results.cold[i]!).length;
    assert.ok(wins >= 4, `${mode} beat cold in ${wins}/5 seeds: ${results[mode].join(', ')} vs ${results.cold.join(', ')}`);
    assert.ok(
      median(results[mode]) - branin.optimum < 0.5 * (median(results.cold) - branin.optimum),
      `${mode}: median regret ${median(results[mode]) - branin.optimum} vs cold ${median(results.cold) - branin.optimum}`,
    );
  }
});
