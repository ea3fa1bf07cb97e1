// Static int8's default accuracy guard (quantize/pipeline.ts): it acts only when quantizing everything
// loses more than cosine 0.99, keeps the fewest sensitive layers float, chooses on the calibration data and
// reports before/after on the held-out data, and turns off with --no-accuracy-guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { quantizeModel } from '../../src/quantize/pipeline.js';
import { calibrateStatic, quantizeStatic } from '../../src/quantize/static.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { tuneForAccuracy } from '../../src/quantize/tune.js';
import { quantizeText } from '../../src/report/quantize-text.js';
import { mulberry32 } from '../../src/util/random.js';
import { honeArgs as cli } from '../helpers/cli.js';
import { writeNpy } from '../helpers/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'hone-guard-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function rand(n: number, seed: number, scale: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/**
 * Eight 1×1 Convs (8 channels, ReLU between) on [batch, 8, 4, 4]. With `outlier` = i, conv i puts output
 * channel 0 at 3000× the others and conv i+1 scales it back: the tensor between them, on one per-tensor
 * uint8 grid, rounds every other channel to a few levels, and only keeping both Convs float removes it.
 */
function chain(outlier?: number): ModelProto {
  const b = new GraphBuilder();
  let h = b.input('x', DataType.FLOAT, ['batch', 8, 4, 4]);
  for (let i = 0; i < 8; i++) {
    const w = rand(64, 100 + i, 0.15);
    for (let k = 0; k < 8; k++) w[k * 9]! += 1;
    if (i === outlier) for (let k = 0; k < 8; k++) w[k]! *= 3000;
    if (outlier !== undefined && i === outlier + 1) for (let o = 0; o < 8; o++) w[o * 8]! /= 3000;
    h = b.op(
      'Conv',
      [h, b.floatInit(`w${i}`, [8, 8, 1, 1], w), b.floatInit(`b${i}`, [8], rand(8, 300 + i, 0.1))],
      {},
      { name: `conv${i}` },
    );
    // A ReLU as Clip with a finite max: cross-layer equalization leaves such pairs alone (it would even out
    // this outlier; the corpus detector's errors survive it).
    if (i < 7) h = b.op('Clip', [h, b.floatInit(`lo${i}`, [], Float32Array.of(0)), b.floatInit(`hi${i}`, [], Float32Array.of(1e6))]);
  }
  b.output(h, DataType.FLOAT, ['batch', 8, 4, 4]);
  return b.model({ opset: 17 });
}

/** Calibration (32 samples) and held-out evaluation (32 others) data for the chain, as .npy files. */
function dataFiles(): { calib: string; eval: string } {
  const files = { calib: join(dir, 'calib.npy'), eval: join(dir, 'eval.npy') };
  mkdirSync(dir, { recursive: true });
  writeNpy(files.calib, { data: rand(32 * 128, 41, 1), dims: [32, 8, 4, 4] });
  writeNpy(files.eval, { data: rand(32 * 128, 42, 1), dims: [32, 8, 4, 4] });
  return files;
}

const job = (model: ModelProto, extra: Partial<Parameters<typeof quantizeModel>[0]> = {}) =>
  quantizeModel({ model, mode: 'static', ...dataFiles(), latency: false, ...extra });

test('the guard keeps the outlier pair float deep in the chain (found by sensitivity), and reports before/after on held-out data', async () => {
  const model = chain(4);
  const { model: q, summary } = await job(model);
  const t = summary.tuning!;
  assert.equal(t.guard, true);
  assert.equal(t.metric, '100·(1 − cosine)');
  assert.ok(t.initialDrop > 1, `everything quantized already meets the target: drop ${t.initialDrop}`);
  assert.ok(t.met && t.drop <= 1, JSON.stringify(t));
  assert.deepEqual([...t.keptFloat].sort(), ['conv4', 'conv5'], JSON.stringify(t));
  assert.equal(t.order, 'by sensitivity');
  assert.match(t.data, /calib\.npy$/, 'chosen on the calibration data');
  // The reported fidelity is the held-out data's, and so is the before/after.
  assert.match(summary.fidelity!.source, /eval\.npy$/);
  assert.ok(t.heldOut && t.heldOut.cosineAfter === summary.fidelity!.cosine);
  assert.ok(t.heldOut.cosineBefore < 0.99 && t.heldOut.cosineAfter >= 0.99, JSON.stringify(t.heldOut));
  assert.equal(t.caveat, undefined);
  const floatConvs = summary.report.nodes.filter((d) => d.opType === 'Conv' && !d.quantized).map((d) => d.node);
  assert.deepEqual(floatConvs.sort(), ['conv4', 'conv5']);
  assert.equal(q.graph!.node.filter((n) => n.opType === 'QuantizeLinear').length > 0, true);
  const text = quantizeText(summary, 'out.onnx');
  assert.match(text, /Accuracy guard \(static default; --no-accuracy-guard skips it/);
  assert.match(text, /kept float: conv4, conv5|kept float: conv5, conv4/);
  assert.match(text, /output cosine on .*eval\.npy: 0\.\d+ with every layer quantized → 0\.99/);
});

test('the guard finds sensitive first layers in graph order, and without --eval says it chose on the data it reports', async () => {
  const { summary } = await job(chain(0), { eval: undefined });
  const t = summary.tuning!;
  assert.ok(t.met, JSON.stringify(t));
  assert.deepEqual(t.keptFloat, ['conv0', 'conv1']);
  assert.equal(t.order, 'from the input');
  assert.equal(t.heldOut, undefined);
  assert.match(t.caveat!, /chosen on the same data the fidelity is measured on .*--eval/);
  assert.ok(summary.fidelity!.cosine >= 0.99);
});

test('the guard does not act on a model within the target; --no-accuracy-guard (accuracyGuard: false) skips it', async () => {
  const clean = await job(chain());
  const t = clean.summary.tuning!;
  assert.ok(t.guard && t.met && t.initialDrop <= 1, JSON.stringify(t));
  assert.deepEqual(t.keptFloat, []);
  assert.equal(t.trials, 1);
  assert.ok(clean.summary.report.nodes.filter((d) => d.opType === 'Conv').every((d) => d.quantized));
  assert.ok(clean.summary.fidelity!.cosine >= 0.99);

  const off = await job(chain(4), { accuracyGuard: false });
  assert.equal(off.summary.tuning, undefined);
  assert.ok(off.summary.fidelity!.cosine < 0.99, `cosine ${off.summary.fidelity!.cosine}`);
  assert.ok(off.summary.report.nodes.filter((d) => d.opType === 'Conv').every((d) => d.quantized));
});

test("the guard's answer does not depend on the machine's speed; an explicit budget stops the search", async () => {
  // A machine a million times slower: every clock reading advances 1,000 s. The guard has no time budget of
  // its own, so it still searches to the outlier pair (the budget in seconds it had until 2026-12-06 stopped
  // it once a model met the target, here right after the first hit in graph order).
  const model = chain(4);
  const real = performance.now;
  let t = 0;
  performance.now = () => (t += 1e6);
  let slow: Awaited<ReturnType<typeof job>>;
  try {
    slow = await job(model);
  } finally {
    performance.now = real;
  }
  const fast = await job(model);
  assert.ok(t > 0, 'the fake clock was read');
  assert.ok(slow.summary.tuning!.met && !slow.summary.tuning!.budgetExhausted, JSON.stringify(slow.summary.tuning));
  assert.deepEqual([...slow.summary.tuning!.keptFloat].sort(), ['conv4', 'conv5']);
  assert.deepEqual(slow.summary.tuning!.keptFloat, fast.summary.tuning!.keptFloat);
  assert.equal(slow.summary.tuning!.trials, fast.summary.tuning!.trials);

  const calib = await loadSampleData(dataFiles().calib, model);
  const calibration = await calibrateStatic(model, calib);
  const quantize = (exclude: string[]) => quantizeStatic(model, calibration, { excludeNodes: exclude });
  let u = 0;
  const explicit = await tuneForAccuracy(model, quantize, calib, 1, { budgetSeconds: 0.5, now: () => (u += 1e6) });
  assert.ok(!explicit.tuning.met && explicit.tuning.budgetExhausted && explicit.tuning.trials === 1, JSON.stringify(explicit.tuning));
  assert.match(explicit.tuning.reason!, /time budget of 0.5 s ran out/);
});

test('cli: --no-accuracy-guard is refused outside static mode and beside --max-accuracy-drop', async () => {
  const dyn = await cli(['quantize', 'zoo:lenet5', '-o', join(dir, 'x.onnx'), '--mode', 'dynamic', '--no-accuracy-guard']);
  assert.equal(dyn.code, 2);
  assert.match(dyn.stderr, /^hone: --no-accuracy-guard applies to --mode static/);
  const both = await cli([
    'quantize',
    'zoo:lenet5',
    '-o',
    join(dir, 'x.onnx'),
    '--mode',
    'static',
    '--no-accuracy-guard',
    '--max-accuracy-drop',
    '1',
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^hone: --no-accuracy-guard contradicts --max-accuracy-drop/);
});
