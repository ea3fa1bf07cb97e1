// The search space of `hone optimize`: a trial's parameters give back the settings they were made from
// (fixedParams → suggestChoice), the ORT fusions that may be turned off exist only where they apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStudy } from '../../src/tune/study.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { ORT_FUSIONS_OFF, fixedParams, suggestChoice, switchableOrtFusions, type SearchSpace } from '../../src/optimize/search.js';
import type { RuntimeSettings } from '../../src/optimize/types.js';
import { sameSettings, sessionOptionsFor, settingsText } from '../../src/optimize/optimize.js';
import { sessionOptions } from '../../src/runtime/session.js';

const space = (ortFusions: string[], sessionKnobs = true): SearchSpace => ({
  pipelines: new Map([
    ['quantize.dynamic', [{ pass: 'quantize.dynamic', options: {} }]],
    [
      'quantize.dynamic+ort.offline-optimize',
      [
        { pass: 'quantize.dynamic', options: {} },
        { pass: 'ort.offline-optimize', options: {} },
      ],
    ],
  ]),
  passes: new Map(),
  threads: [1, 2],
  interOpThreads: [1, 2],
  batchSizes: [1],
  sessionKnobs,
  ortFusions,
  fusionsThatApply: new Set(['fuse.attention', 'fuse.skip-layer-norm']),
});

async function roundTrip(s: SearchSpace, settings: RuntimeSettings, key = 'quantize.dynamic') {
  const study = await createStudy({ directions: ['maximize', 'minimize'], sampler: new TPESampler({ seed: 0 }) });
  await study.enqueueTrial(fixedParams(key, s, settings, 1));
  const trial = await study.ask();
  return { choice: suggestChoice(trial, s), params: trial.params };
}

test('switchable ORT fusions: SkipLayerNormFusion where the model has a LayerNormalization (or the ReduceMean it is fused from)', () => {
  assert.deepEqual(
    switchableOrtFusions(
      new Map([
        ['LayerNormalization', 2],
        ['Add', 3],
      ]),
    ),
    ['SkipLayerNormFusion'],
  );
  assert.deepEqual(switchableOrtFusions(new Map([['ReduceMean', 2]])), ['SkipLayerNormFusion']);
  assert.deepEqual(
    switchableOrtFusions(
      new Map([
        ['Conv', 2],
        ['Relu', 2],
      ]),
    ),
    [],
  );
  for (const f of ORT_FUSIONS_OFF) assert.ok(f.ops.length > 0, f.name);
});

test('a trial made from settings with an ORT fusion off gives those settings back; level basic has no fusion to turn off', async () => {
  const s = space(['SkipLayerNormFusion']);
  const off: RuntimeSettings = { intraOpThreads: 2, graphOptimizationLevel: 'all', disabledOptimizers: ['SkipLayerNormFusion'] };
  const a = await roundTrip(s, off);
  assert.equal(a.params['ort:SkipLayerNormFusion'], false);
  assert.deepEqual(a.choice.settings, off);
  const on = await roundTrip(s, { intraOpThreads: 1, graphOptimizationLevel: 'extended' });
  assert.equal(on.params['ort:SkipLayerNormFusion'], true);
  assert.equal(on.choice.settings.disabledOptimizers, undefined);
  const basic = await roundTrip(s, { intraOpThreads: 1, graphOptimizationLevel: 'basic' });
  assert.equal('ort:SkipLayerNormFusion' in basic.params, false);
  assert.equal(basic.choice.settings.disabledOptimizers, undefined);
  // Without session knobs (the browser's WASM session) nothing but threads and level.
  const web = await roundTrip(space(['SkipLayerNormFusion'], false), off);
  assert.deepEqual(Object.keys(web.params).sort(), ['batch', 'level', 'pipeline', 'threads']);
  assert.equal(web.choice.settings.disabledOptimizers, undefined);
});

test("a fusion turned off for the session is turned off in ORT's offline optimization of the same trial", async () => {
  const s = space(['SkipLayerNormFusion']);
  const key = 'quantize.dynamic+ort.offline-optimize';
  const off = await roundTrip(s, { intraOpThreads: 2, graphOptimizationLevel: 'all', disabledOptimizers: ['SkipLayerNormFusion'] }, key);
  assert.deepEqual(
    off.choice.steps.map((st) => [st.pass, st.options?.disable]),
    [
      ['quantize.dynamic', undefined],
      ['ort.offline-optimize', 'SkipLayerNormFusion'],
    ],
  );
  const on = await roundTrip(s, { intraOpThreads: 2, graphOptimizationLevel: 'all' }, key);
  assert.equal(on.choice.steps[1]!.options?.disable, undefined);
  // The planned pipeline is not changed by a trial.
  assert.deepEqual(s.pipelines.get(key)![1]!.options, {});
});

test('sampled trials turn the fusion off in some and leave it on in others', async () => {
  const s = space(['SkipLayerNormFusion']);
  const study = await createStudy({ directions: ['maximize', 'minimize'], sampler: new TPESampler({ seed: 3 }) });
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const trial = await study.ask();
    const { settings } = suggestChoice(trial, s);
    if (settings.graphOptimizationLevel !== 'basic') seen.add(settings.disabledOptimizers?.join() ?? 'on');
    else assert.equal(settings.disabledOptimizers, undefined);
    await study.tell(trial, [Math.random(), 0]);
  }
  assert.deepEqual([...seen].sort(), ['SkipLayerNormFusion', 'on']);
});

test('settings with a fusion off: the SessionOptions written for the user carry it as ORT reads it, the text names it, and order does not matter', () => {
  const off: RuntimeSettings = {
    intraOpThreads: 2,
    graphOptimizationLevel: 'all',
    disabledOptimizers: ['SkipLayerNormFusion', 'GeluFusion'],
  };
  // sessionOptions is what Hone's own sessions use (test/runtime/session.test.ts checks ORT then leaves the fusion out).
  assert.deepEqual(sessionOptionsFor(off, 'cpu').extra, sessionOptions({ disabledOptimizers: off.disabledOptimizers }).extra);
  assert.equal(sessionOptionsFor({ graphOptimizationLevel: 'all' }, 'cpu').extra, undefined);
  assert.equal(settingsText(off), 'threads 2, level all, ORT SkipLayerNormFusion, GeluFusion off');
  assert.ok(sameSettings(off, { ...off, disabledOptimizers: ['GeluFusion', 'SkipLayerNormFusion'] }));
  assert.ok(!sameSettings(off, { ...off, disabledOptimizers: ['GeluFusion'] }));
  assert.ok(sameSettings({ graphOptimizationLevel: 'all' }, { graphOptimizationLevel: 'all', disabledOptimizers: [] }));
});

test('a pipeline with several fusions: each that applies can be left out by the trial, and the planned pipeline keeps them all', async () => {
  const fused = [
    { pass: 'fold.constants', options: {} },
    { pass: 'fuse.layer-norm', options: {} },
    { pass: 'fuse.attention', options: {} },
    { pass: 'fuse.skip-layer-norm', options: {} },
    { pass: 'quantize.dynamic', options: {} },
  ];
  const s: SearchSpace = {
    ...space([]),
    pipelines: new Map([
      ['all', fused],
      ['one', fused.filter((f) => f.pass !== 'fuse.attention')],
    ]),
  };
  const settings: RuntimeSettings = { intraOpThreads: 1, graphOptimizationLevel: 'all' };
  const params = fixedParams('all', s, settings, 1);
  assert.equal(params['keep:fuse.attention'], true);
  assert.equal(params['keep:fuse.skip-layer-norm'], true);
  assert.equal('keep:fuse.layer-norm' in params, false, 'a fusion that changed nothing in the screening is not a dimension');
  assert.equal('keep:fuse.skip-layer-norm' in fixedParams('one', s, settings, 1), false, 'one fusion: nothing to leave out');
  const study = await createStudy({ directions: ['maximize', 'minimize'], sampler: new TPESampler({ seed: 0 }) });
  await study.enqueueTrial(params);
  await study.enqueueTrial({ ...params, 'keep:fuse.skip-layer-norm': false });
  const passes = async () => suggestChoice(await study.ask(), s).steps.map((x) => x.pass);
  assert.deepEqual(await passes(), ['fold.constants', 'fuse.layer-norm', 'fuse.attention', 'fuse.skip-layer-norm', 'quantize.dynamic']);
  assert.deepEqual(await passes(), ['fold.constants', 'fuse.layer-norm', 'fuse.attention', 'quantize.dynamic']);
});
