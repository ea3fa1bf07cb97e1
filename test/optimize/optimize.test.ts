// optimizeModel on small zoo models: what it claims is checked again independently (the chosen model's
// fidelity by compareOutputs, its speedup by compareLatency in a separate side-by-side run), rejected
// candidates carry their reasons, and a budget too small for any candidate claims nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optimizeModel } from '../../src/optimize/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { compareLatency, compareOutputs } from '../../src/quantize/evaluate.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { syntheticData } from '../../src/quantize/pipeline.js';
import { foldConstantsPass } from '../../src/passes/fold.js';
import { dynamicPass, staticPass } from '../../src/passes/quantize.js';
import { fuseLayerNormPass } from '../../src/passes/fuse-transformer.js';
import { encodeModel } from '../../src/ir/codec.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'hone-optimize-cache-'));
/** Big enough that dynamic int8's integer MatMuls beat fp32 clearly (about 1.5x here), small enough to time in a few seconds. */
const TRANSFORMER = 'transformer:layers=1,dModel=256,heads=4,ffn=1024';
const dims = { seq: 64 };
const quick = { runs: 5, warmup: 1, cacheDir, dims, batchSizes: [4] };

test('transformer, no data: the chosen model meets the constraint and its speedup holds in an independent comparison', async () => {
  const model = zooModel(TRANSFORMER);
  // One intra-op thread for the baseline and every candidate (as --threads 1 does): the independent
  // comparison below then times both models as the search did. On a loaded 2-core machine, ORT's default
  // of two threads against one ran 2x slower at times, which is what a search over threads should find,
  // but which a second comparison minutes later need not see again.
  // Ended by trials (the settings seeded first: both levels for the best two variants), not by a budget a
  // loaded machine can spend before the first timing.
  const r = await optimizeModel({ model, ...quick, threads: 1, budget: 300, maxTrials: 4, passes: [foldConstantsPass, dynamicPass] });
  // Where this model's dynamic int8 version does not beat it clearly (AVX2 without VNNI: int8 MatMuls about
  // 1.0x fp32 on a Zen 2 EPYC, 1.3x on a Zen 3 where the whole model gained less), the search may claim
  // nothing, and a claim it makes need not hold beyond noise; elsewhere int8 must win. The premise is timed on
  // the model itself, side by side: a single MatMul's int8 gain (1.3x on the Zen 3) overstated the model's,
  // whose attention, LayerNorm and Gelu stay float, and the search rightly read 0.98x there.
  const int8Pays = async () => {
    const q = (await dynamicPass.run(model, {}, {})).model;
    const c = await compareLatency(model, q, [{ name: 'input', elemType: 1, shape: [4, 64, 256] }], {
      runs: 10,
      warmup: 1,
      blocks: 3,
      threads: 1,
    });
    return 1 / c.ratio >= 1.3;
  };
  if (!r.report.chosen) {
    // The A/A gate: the model as given, timed against itself, read this run's noise; on a loaded machine
    // (two test files on two cores) it has read 2.04x, above what int8 gains here (1.81x), and then the
    // search rightly claims nothing. Refusing is wrong only when the gate was narrower than the gain.
    const gate = Number(/a gain is claimed only from ([\d.]+)x/.exec(r.report.notes.join('\n'))?.[1] ?? 1);
    const best = Number(/best: \S+ at ([\d.]+)x/.exec(r.report.conclusion)?.[1] ?? 0);
    const noisy = gate > 1.3 && best < gate;
    assert.ok(noisy || !(await int8Pays()), `nothing chosen although int8 MatMuls beat fp32 by 1.3x on this CPU: ${r.report.conclusion}`);
    assert.match(r.report.conclusion, /nothing is claimed/);
    assert.deepEqual(encodeModel(r.model), encodeModel(model));
    return;
  }
  const chosen = r.report.chosen!;
  assert.ok(chosen.passes.includes('quantize.dynamic'), JSON.stringify(chosen));
  assert.ok(chosen.fidelity.drop <= 1 && chosen.fidelity.cosine >= 0.99, JSON.stringify(chosen.fidelity));
  // Fidelity on inputs the search never saw.
  const fresh = syntheticData(model, 16, { dims }, 7, 'fresh synthetic');
  const f = await compareOutputs(model, r.model, fresh);
  assert.ok(100 * (1 - f.cosine) <= 1, `independent cosine ${f.cosine}`);
  // The speedup, timed again in its own run (one thread; the level is ORT's default, all).
  const inputs = [{ name: 'input', elemType: 1, shape: [4, 64, 256] }];
  const c = await compareLatency(model, r.model, inputs, { runs: 10, warmup: 1, blocks: 3, threads: 1 });
  const independent = 1 / c.ratio;
  // Loose: beside another test file on 2 cores (the runner's concurrency) and a busy machine, block floors of
  // one model moved by 2x between runs (the search once read 2.35x where a comparison right after read 5.13x).
  // Only over-claiming is an error: on a loaded machine an independent run minutes later read 11.2x where the
  // search had claimed 2.24x, and a claim below what holds is safe.
  assert.ok(independent > chosen.speedup / 2.5, `reported ${chosen.speedup.toFixed(2)}x, independent ${independent.toFixed(2)}x`);
  if (independent <= 1) assert.ok(!(await int8Pays()), `independently faster too: ${independent.toFixed(2)}x`);
  // Every candidate has a status, the chosen one is measured, and the settings were searched.
  for (const k of r.candidates) assert.ok(['measured', 'rejected', 'skipped'].includes(k.status));
  assert.equal(r.candidates.find((k) => k.chosen)?.status, 'measured');
  // The threads the user fixed are kept; the graph optimization level is searched.
  assert.ok(r.candidates.every((k) => k.settings.intraOpThreads === 1));
  assert.ok(
    r.candidates.some((k) => k.settings.graphOptimizationLevel === 'extended'),
    'levels are searched',
  );
  assert.match(r.report.conclusion, /x the baseline's speed/);
  assert.equal(r.report.passes.find((p) => p.id === 'quantize.dynamic')?.used, true);
  // The model as given at the chosen settings, timed in the confirmation rounds: the settings' share of the
  // gain. (Absent only when the chosen one was not among the two confirmed, which a later block can cause.)
  const alone = chosen.settingsAlone;
  if (alone) {
    assert.equal(alone.blocks, 2);
    assert.ok(alone.latencyMs > 0 && alone.speedup > 0, JSON.stringify(alone));
    assert.ok(Math.abs(alone.speedup * alone.latencyMs - chosen.speedup * chosen.latencyMs) < 1e-6 * chosen.speedup * chosen.latencyMs);
  }
});

test('an accuracy constraint nothing quantized meets: those candidates are rejected with the drop, model.onnx stays the float model, and the closest is written marked as missing the goal', async () => {
  // The transformer whose dynamic int8 beats fp32 clearly at one thread (the first test), held to a drop
  // no int8 model meets.
  const model = zooModel(TRANSFORMER);
  const r = await optimizeModel({
    model,
    ...quick,
    threads: 1,
    // Ended by trials rather than by a budget a loaded machine can exhaust before the first build.
    budget: 300,
    maxTrials: 2,
    maxAccuracyDrop: 0.0001,
    passes: [foldConstantsPass, dynamicPass],
  });
  const rejected = r.candidates.filter((k) => k.status === 'rejected');
  assert.ok(rejected.length >= 1, JSON.stringify(r.candidates.map((k) => [k.id, k.status, k.reason])));
  for (const k of rejected) {
    assert.ok(k.passes.includes('quantize.dynamic'));
    assert.match(k.reason!, /drop \d+\.\d+ \(100·\(1 − cosine\)\) on \d+ samples > 0\.0001/);
    assert.ok(k.metrics.quick && k.metrics.quick.cosine < 1);
  }
  assert.ok(!r.report.chosen?.passes.includes('quantize.dynamic'), 'nothing quantized is chosen');
  const missed = r.report.missedGoal;
  if (r.report.chosen) {
    // A float candidate beat the baseline on settings alone (seen at 1.14x on a loaded machine): the goal is
    // met, so nothing is written as missing it.
    assert.equal(missed, undefined);
    assert.equal(r.missedGoal, undefined);
  } else if (missed) {
    assert.equal(r.model, model, 'model.onnx is the model as given');
    // The closest candidate: quantized, over the constraint on the full evaluation, timed against the baseline.
    assert.equal(missed.file, 'missed-goal.onnx');
    assert.ok(missed.passes.includes('quantize.dynamic'), JSON.stringify(missed));
    assert.ok(missed.fidelity.drop > 0.0001 && missed.fidelity.samples >= 16, JSON.stringify(missed.fidelity));
    assert.ok(missed.speedup >= 1.05 && missed.latencyMs > 0, JSON.stringify(missed));
    assert.ok(r.missedGoal && r.missedGoal !== model, 'its model comes with the result');
    assert.ok(r.missedGoal!.graph!.node.some((n) => n.opType === 'MatMulIntegerToFloat' || n.opType === 'DynamicQuantizeMatMul'));
    const k = r.candidates.find((c) => c.id === missed.candidate)!;
    assert.equal(k.status, 'rejected', 'it stays rejected in candidates.json, with its timing');
    assert.ok(k.metrics.latencyMs! > 0);
    assert.match(
      r.report.conclusion,
      /the closest to the goal, c\d+ \(.*quantize\.dynamic.*drop \d+\.\d+ .*\), is written as missed-goal\.onnx, marked as missing it/,
    );
  } else {
    // Only when the closest did not beat the baseline by the gain a claim needs in this run (a loaded machine).
    assert.equal(r.model, model, 'model.onnx is the model as given');
    assert.equal(r.missedGoal, undefined);
    assert.match(r.report.conclusion, /the closest to the goal, c\d+ \(.*\), does not beat the baseline by \d+\.\d+x either/);
  }
});

test('a budget too small for any candidate: the baseline is measured and reported, nothing is claimed', async () => {
  const model = zooModel('transformer:layers=1,dModel=64,heads=2,ffn=128');
  const r = await optimizeModel({ model, ...quick, budget: 0 });
  assert.equal(r.report.chosen, undefined);
  assert.equal(r.model, model, 'the model as given');
  assert.match(r.report.conclusion, /nothing is claimed/);
  assert.ok(r.report.budgetExhausted);
  assert.ok(r.report.baseline.byBatch[0]!.latencyMs > 0);
  assert.ok(r.candidates.length > 0);
  for (const k of r.candidates) {
    assert.equal(k.status, 'skipped');
    assert.match(k.reason!, /budget \(0 s\) ran out/);
  }
});

test('lenet5 without data: fusions that find nothing make no pipelines, nor steps, of their own', async () => {
  const r = await optimizeModel({
    model: 'zoo:lenet5',
    ...quick,
    dims: {},
    batchSizes: [1],
    budget: 300,
    // Past the seeded trials (threads × levels for the best two), so that the sampler picks pipelines.
    maxTrials: 20,
    passes: [foldConstantsPass, fuseLayerNormPass, dynamicPass],
  });
  // Planned {fold, fold + fusion} × {no quantizer, dynamic}; the fusion finds no LayerNorm in LeNet-5, so
  // only {fold} × {no quantizer, dynamic} are built, and no candidate names the fusion.
  const decision = r.report.passes.find((d) => d.id === 'fuse.layer-norm')!;
  assert.equal(decision.used, false);
  assert.match(decision.why ?? '', /finds nothing in this model/);
  assert.ok(r.candidates.length > 2, 'the search ran');
  for (const k of r.candidates) assert.ok(!k.passes.includes('fuse.layer-norm'), JSON.stringify(k.passes));
  assert.deepEqual(
    r.candidates.slice(0, 2).map((k) => k.passes.filter((p) => p.startsWith('quantize'))),
    [[], ['quantize.dynamic']],
  );
  assert.ok(!r.candidates.some((k) => /the same model as/.test(k.reason ?? '')));
});

test('lenet5 with mnist: static int8 is tried on the data, the chosen model keeps accuracy on the test digits', async () => {
  const r = await optimizeModel({
    model: 'zoo:lenet5',
    data: 'mnist',
    samples: 300,
    runs: 5,
    warmup: 1,
    cacheDir,
    // Ended by trials rather than by a budget: a loaded machine spent 40 s before static int8's full
    // fidelity was measured (the candidate then reads 'skipped').
    budget: 300,
    maxTrials: 4,
    passes: [foldConstantsPass, dynamicPass, staticPass],
  });
  assert.equal(r.report.metric, 'accuracy points');
  assert.deepEqual(r.report.data.calibration, 'mnist (train)');
  const stat = r.candidates.find((k) => k.passes.includes('quantize.static'));
  assert.ok(stat && stat.status !== 'skipped', JSON.stringify(stat));
  if (stat.status !== 'rejected') assert.ok(stat.metrics.full?.accuracy, 'labelled: accuracy measured');
  const model = zooModel('lenet5');
  const data = await loadSampleData('mnist', model, { samples: 300, split: 'test' });
  const f = await compareOutputs(model, r.model, data);
  assert.ok(f.accuracy);
  assert.ok(100 * (f.accuracy!.float - f.accuracy!.quantized) <= 1, JSON.stringify(f.accuracy));
  if (r.report.chosen) {
    assert.ok(
      Math.abs(r.report.chosen.fidelity.drop - 100 * (f.accuracy!.float - f.accuracy!.quantized)) < 1e-9,
      'the drop reported is the one measured',
    );
  } else assert.deepEqual(encodeModel(r.model), encodeModel(model));
});
