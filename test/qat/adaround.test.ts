// Learned rounding (qat/adaround.ts): the layer's training graph (soft rounding, reconstruction and rounding
// term) against finite differences and its closed-form start; AdaRound on LeNet-5 picks floor or ceil of
// every weight, never reconstructs a layer worse than round-to-nearest, and writes a QDQ model ORT runs;
// `hone quantize --adaround` end to end and its bad input.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { firstSamples, mnist } from '../../src/data/index.js';
import { GraphBuilder, makeNode } from '../../src/ir/builder.js';
import { createSession } from '../../src/runtime/session.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { adaround, roundingModel, type RoundingLayer } from '../../src/qat/adaround.js';
import { compareOutputs } from '../../src/quantize/evaluate.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { quantizeStatic } from '../../src/quantize/static.js';
import { train } from '../../src/train/index.js';
import { buildTrainingGraph } from '../../src/train/autodiff.js';
import { lenet5 } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';
import { checkTrainingGradients, rand } from '../train/gradcheck-util.js';

/** A 3×2×3×3 Conv through Tanh, per-channel int8 grid, weights whose W/s sits away from integers and half-integers. */
function convLayer(): RoundingLayer {
  const scale = Float32Array.of(0.05, 0.1, 0.02);
  const r = rand(54, 5, 0.15, 0.4);
  const weight = Float32Array.from({ length: 54 }, (_, i) => {
    const c = Math.floor(i / 18);
    const k = (i % 7) - 3; // integer part in -3..3
    return (k + (i % 2 ? r[i]! : 1 - r[i]!)) * scale[c]!;
  });
  return {
    node: makeNode('Conv', ['x', 'w', 'b'], ['y'], { pads: [1, 1, 1, 1] }),
    activation: { node: makeNode('Tanh', ['y'], ['t']), constants: [] },
    weight,
    dims: [3, 2, 3, 3],
    scale,
    zeroPoint: [0, 0, 0],
    axis: 0,
    range: [-127, 127],
    bias: Float32Array.of(0.1, -0.2, 0.05),
    inputDims: [2, 4, 4],
    outputDims: [3, 4, 4],
    opset: 17,
  };
}

describe('adaround: the layer training graph (qat/adaround.ts)', () => {
  it('starts at the float weights and adds λ·Σ(1 − |2h − 1|^β); its gradient matches finite differences', async () => {
    const layer = convLayer();
    const { model, v, roundLoss, base, nearest } = roundingModel(layer);
    // ⌊W/s⌋ and round-to-nearest from the construction above.
    for (let i = 0; i < 54; i++) {
      const t = layer.weight[i]! / layer.scale[Math.floor(i / 18)]!;
      assert.equal(base[i], Math.floor(t), `base[${i}]`);
      assert.equal(nearest[i], Math.round(t) > Math.floor(t) ? 1 : 0, `nearest[${i}]`);
    }
    const tg = buildTrainingGraph(model, { loss: { kind: 'mse' }, trainable: [v], extraLoss: [roundLoss], labelsName: 'target' });
    const x = new ort.Tensor('float32', rand(2 * 32, 3), [2, 2, 4, 4]);
    // The float layer's output as the target: at the start the soft weights are W, so the reconstruction is 0.
    const b = new GraphBuilder('float');
    const conv = b.op(
      'Conv',
      [b.input('x', DataType.FLOAT, ['N', 2, 4, 4]), b.floatInit('w', layer.dims, layer.weight), b.floatInit('b', [3], layer.bias!)],
      {
        pads: [1, 1, 1, 1],
      },
    );
    b.output(b.op('Tanh', [conv], {}, { output: 'y' }), DataType.FLOAT);
    const s = await createSession(b.model({ opset: 17 }));
    const target = (await s.run({ x })).y as ort.Tensor;
    await s.release();
    const beta = 3;
    const lambda = 0.05;
    const { outputs } = await checkTrainingGradients(
      tg,
      {
        x,
        target,
        beta: new ort.Tensor('float32', [beta], []),
        lambda: new ort.Tensor('float32', [lambda], []),
      },
      { perParam: 16 },
    );
    let expected = 0;
    for (let i = 0; i < 54; i++) {
      const t = layer.weight[i]! / layer.scale[Math.floor(i / 18)]!;
      expected += 1 - Math.abs(2 * (t - Math.floor(t)) - 1) ** beta;
    }
    const got = (outputs[tg.lossName]!.data as Float32Array)[0]!;
    assert.ok(Math.abs(got - lambda * expected) < 1e-4 * lambda * expected, `loss ${got}, expected ${lambda * expected}`);
  });
});

describe('adaround on LeNet-5', () => {
  it('rounds every weight to floor or ceil, reconstructs no layer worse than nearest, and ORT runs the model', async () => {
    const model = (await train(lenet5(), firstSamples(mnist().train, 512), { epochs: 1, batchSize: 64 })).model;
    const calib = await loadSampleData('mnist', model, { samples: 64 });
    const ptq = await quantizeStatic(model, calib);
    const r = await adaround(ptq, calib, { iterations: 200 });
    assert.equal(r.report.layers.length, 5, JSON.stringify(r.report.skipped));
    assert.ok(r.report.layers.some((l) => l.flipped > 0));
    for (const l of r.report.layers) assert.ok(l.learnedError <= l.nearestError, JSON.stringify(l));
    const prepared = new Graph(ptq.prepared!.graph!);
    const out = new Graph(r.model.graph!);
    const before = new Graph(ptq.model.graph!);
    let flipped = 0;
    for (const w of ptq.weights!) {
      const f = tensorArray(prepared.initializer(w.float)!) as Float32Array;
      const s = tensorArray(before.initializer(w.scale)!) as Float32Array;
      const q = tensorArray(out.initializer(w.quantized)!) as Int8Array;
      const rtn = tensorArray(before.initializer(w.quantized)!) as Int8Array;
      const inner = f.length / s.length;
      for (let i = 0; i < f.length; i++) {
        const t = f[i]! / s[s.length === 1 ? 0 : Math.floor(i / inner)]!;
        const lo = Math.max(w.range[0], Math.floor(t));
        const hi = Math.min(w.range[1], Math.ceil(t));
        assert.ok(q[i]! === lo || q[i]! === hi, `${w.float}[${i}]: ${q[i]} is neither ⌊${t}⌋ nor ⌈${t}⌉`);
        if (q[i] !== rtn[i]) flipped++;
      }
    }
    assert.equal(
      flipped,
      r.report.layers.reduce((n, l) => n + l.flipped, 0),
    );
    const f = await compareOutputs(model, r.model, calib);
    assert.ok(f.cosine > 0.99, `cosine ${f.cosine}`);
  });
});

describe('hone quantize --adaround', () => {
  it('learns the rounding, reports it against round-to-nearest, and refuses bad flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-adaround-'));
    try {
      saveModel((await train(lenet5(), firstSamples(mnist().train, 512), { epochs: 1, batchSize: 64 })).model, join(dir, 'm.onnx'));
      const common = [join(dir, 'm.onnx'), '--mode', 'static', '--calib', 'mnist', '--samples', '64', '--no-latency'];
      const r = await hone('quantize', ...common, '--adaround', '--adaround-iters', '150', '-o', join(dir, 'q.onnx'), '--json', '--quiet');
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout);
      const ref = rep.refinement;
      assert.equal(ref.name, 'adaround');
      assert.equal(ref.detail.layers.length, 5);
      assert.match(ref.summary, /learned the rounding of 5 layer\(s\) on 64 calibration samples, 150 iterations each/);
      assert.ok(
        ref.kept ? ref.calibration.after >= ref.calibration.before : ref.calibration.after < ref.calibration.before,
        JSON.stringify(ref),
      );
      assert.equal(rep.fidelity.cosine, ref.kept ? ref.evaluation.after.cosine : ref.evaluation.before.cosine);
      assert.ok(loadModel(join(dir, 'q.onnx')).graph!.initializer.some((t) => t.dataType === DataType.INT8));

      // The default: 1,000 iterations per layer.
      const text = await hone('quantize', ...common, '--adaround', '-o', join(dir, 'q2.onnx'), '--quiet');
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /adaround: learned the rounding of 5 layer\(s\) on 64 calibration samples, 1000 iterations each/);
      assert.match(text.stdout, /on 16 held-out calibration samples: round-to-nearest cosine 0\.\d+ → 0\.\d+/);

      for (const [argv, message] of [
        [['--mode', 'dynamic', '--adaround'], /--adaround learns the rounding of static int8 weights; use --mode static/],
        [['--mode', 'static', '--adaround-iters', '10'], /--adaround-iters sets learned rounding; add --adaround/],
        [['--mode', 'static', '--adaround', '--adaround-iters', '0'], /--adaround-iters/],
        [['--mode', 'static', '--adaround', '--qat', 'mnist'], /--adaround and --qat both set the int8 weights/],
      ] as const) {
        const bad = await hone('quantize', join(dir, 'm.onnx'), ...argv, '-o', join(dir, 'bad.onnx'));
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, message);
        assert.ok(!existsSync(join(dir, 'bad.onnx')));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
