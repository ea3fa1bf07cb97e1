// Quantization-aware training (passes/fake-quant.ts, qat/qat.ts): the fake-quant form computes what the QDQ
// model computes and converts back to it exactly; the straight-through gradient against a hand computation;
// QAT on LeNet-5 writes an int8 model ORT runs.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { hone } from '../helpers/cli.js';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { firstSamples, mnist } from '../../src/data/index.js';
import { GraphBuilder, makeNode } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { HONE_DOMAIN } from '../../src/ops/quant.js';
import { fromFakeQuant, lowerFakeQuant, toFakeQuant } from '../../src/passes/fake-quant.js';
import { QAT_PASSES, quantizeAwareTraining } from '../../src/qat/index.js';
import { PRUNE_PASSES, pruneChannelsPass } from '../../src/prune/index.js';
import { PASSES } from '../../src/passes/registry.js';
import { planPipelines } from '../../src/optimize/candidates.js';
import { loadSampleData } from '../../src/quantize/data.js';
import { quantizeStatic } from '../../src/quantize/static.js';
import { createSession, mulberry32 } from '../../src/runtime/index.js';
import { train } from '../../src/train/index.js';
import { lenet5 } from '../../src/zoo/index.js';

async function run(model: ModelProto, x: ort.Tensor): Promise<Float32Array> {
  const s = await createSession(model, { intraOpThreads: 1 });
  try {
    return (await s.run({ input: x }))[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

async function lenetPtq() {
  const trained = (await train(lenet5(), firstSamples(mnist().train, 512), { epochs: 1, batchSize: 64 })).model;
  return (await quantizeStatic(trained, await loadSampleData('mnist', trained, { samples: 64 }))).model;
}

describe('fake quantization (passes/fake-quant.ts)', () => {
  it('lowered, computes what the QDQ model computes; converted back, is the QDQ model', async () => {
    const ptq = await lenetPtq();
    const fq = toFakeQuant(ptq, [-127, 127]);
    assert.ok(fq.weights.length >= 5);
    assert.ok(fq.model.graph!.node.some((n) => n.domain === HONE_DOMAIN));
    const r = mulberry32(2);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 4 * 784 }, () => r()),
      [4, 1, 28, 28],
    );
    const [want, got] = [await run(ptq, x), await run(lowerFakeQuant(fq.model), x)];
    for (let i = 0; i < want.length; i++)
      assert.ok(Math.abs(want[i]! - got[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)), `${i}: ${got[i]} vs ${want[i]}`);
    const back = fromFakeQuant(fq.model);
    const inits = new Map(ptq.graph!.initializer.map((t) => [t.name!, t]));
    const stored = back.graph!.initializer.filter(
      (t) => (t.dataType === DataType.INT8 || t.dataType === DataType.INT32) && inits.has(t.name!),
    );
    assert.ok(stored.length >= 5);
    for (const t of stored) assert.deepEqual(tensorArray(t), tensorArray(inits.get(t.name!)!), t.name);
    assert.deepEqual(await run(back, x), want);
  });

  const x = Float32Array.from([1, 2, -1, 0.5]); // [2, 2]
  const t = Float32Array.from([0.1, 0.2, 0.3, -0.1, 0, 0.4]); // [2, 3]

  /**
   * y = x · FakeQuantize(w) with one scale per column (axis 1), int8 in [-127, 127], loss = mean (y − t)²:
   * the gradient of `of` ('w', or the scales 's', then trained) after one step at a learning rate of ~0,
   * and dL/dŵ — the gradient reaching the quantized weights — computed by hand.
   */
  async function fakeQuantStep(w: Float32Array, scale: Float32Array, of: 'w' | 's'): Promise<{ grad: Float32Array; dwq: number[] }> {
    const b = new GraphBuilder('fq');
    b.input('input', DataType.FLOAT, ['batch', 2]);
    b.graph.initializer.push(
      makeTensor('w', DataType.FLOAT, [2, 3], w),
      makeTensor('s', DataType.FLOAT, [3], scale),
      makeTensor('zp', DataType.INT8, [3], [0, 0, 0]),
    );
    b.graph.node.push(
      makeNode('FakeQuantize', ['w', 's', 'zp'], ['wq'], { axis: 1, qmin: -127, qmax: 127 }, { domain: HONE_DOMAIN, name: 'fq' }),
    );
    b.op('MatMul', ['input', 'wq'], {}, { output: 'y' });
    b.output('y', DataType.FLOAT, ['batch', 3]);
    const model = b.model({ opset: 17 });
    model.opsetImport.push({ domain: HONE_DOMAIN, version: 1 });
    let grad: Float32Array | undefined;
    await train(
      model,
      { features: { input: { data: x, dims: [2, 2] } }, labels: { data: t, dims: [2, 3] }, size: 2 },
      {
        epochs: 1,
        batchSize: 2,
        loss: { kind: 'mse' },
        optimizer: { kind: 'sgd' },
        lr: 1e-30,
        nchwc: false,
        ...(of === 's' ? { alsoTrain: ['s'] } : {}),
        callbacks: [{ onStepEnd: (r) => void (grad = Float32Array.from(r.grads[r.graph.params.findIndex((p) => p.name === of)]!)) }],
      },
    );
    const wq = Array.from(w, (v, i) => Math.min(127, Math.max(-127, Math.round(v / scale[i % 3]!))) * scale[i % 3]!);
    const y = [0, 1].flatMap((n) => [0, 1, 2].map((j) => x[n * 2]! * wq[j]! + x[n * 2 + 1]! * wq[3 + j]!));
    const dy = y.map((v, i) => (2 * (v - t[i]!)) / 6);
    const dwq = [0, 1].flatMap((k) => [0, 1, 2].map((j) => x[k]! * dy[j]! + x[2 + k]! * dy[3 + j]!));
    return { grad: grad!, dwq };
  }

  it('passes the gradient straight through inside the range and stops it outside (checked by hand)', async () => {
    const w = Float32Array.from([0.5, -0.3, 0.9, 2.0, -0.1, 0.05]); // [2, 3]; 2.0 lies outside column 0's range
    const scale = Float32Array.from([1 / 127, 0.4 / 127, 1 / 127]); // column ranges ±1, ±0.4, ±1
    const { grad, dwq } = await fakeQuantStep(w, scale, 'w');
    const expected = dwq.map((g, i) => (Math.abs(w[i]!) <= 127 * scale[i % 3]! ? g : 0));
    assert.equal(expected[3], 0, 'the clipped weight gets no gradient');
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(grad[i]! - expected[i]!) < 1e-5, `${i}: ${grad[i]} vs ${expected[i]}`);
  });

  it('learns the scale (LSQ): Σ gy·(round(w/s) − w/s), ±qmax where clipped, over √(N·Qp) (checked by hand)', async () => {
    const w = Float32Array.from([0.5, -0.3, 0.9, 2.0, -0.1, -0.65]); // 2.0 above column 0's range, -0.65 below column 2's
    const scale = Float32Array.from([1 / 127, 0.4 / 127, 0.6 / 127]);
    const { grad, dwq } = await fakeQuantStep(w, scale, 's');
    const expected = [0, 1, 2].map((j) => {
      let sum = 0;
      for (const k of [0, 1]) {
        const r = w[k * 3 + j]! / scale[j]!;
        sum += dwq[k * 3 + j]! * (r > 127 ? 127 : r < -127 ? -127 : Math.round(r) - r);
      }
      return sum / Math.sqrt(2 * 127);
    });
    for (let j = 0; j < 3; j++)
      assert.ok(Math.abs(grad[j]! - expected[j]!) < 1e-5 * Math.max(1, Math.abs(expected[j]!)), `${j}: ${grad[j]} vs ${expected[j]}`);
  });
});

describe('quantization-aware training (qat/qat.ts)', () => {
  it('fine-tunes LeNet-5 through fake quantization and writes an int8 QDQ model', async () => {
    const model = (await train(lenet5(), firstSamples(mnist().train, 512), { epochs: 1, batchSize: 64 })).model;
    const calib = await loadSampleData('mnist', model, { samples: 64 });
    const r = await quantizeAwareTraining(model, firstSamples(mnist().train, 512), {
      calib,
      train: { epochs: 1, batchSize: 64 },
      test: firstSamples(mnist().test, 500),
    });
    assert.ok(!r.model.graph!.node.some((n) => n.domain === HONE_DOMAIN));
    assert.ok(r.model.graph!.initializer.filter((t) => t.dataType === DataType.INT8).length >= 5);
    assert.ok(r.report.qat!.accuracy! > 0.5 && r.report.ptq!.accuracy! > 0.5, JSON.stringify(r.report));
    assert.ok(r.report.qat!.cosine > 0.9);
  });
});

describe('compression passes that train (prune/passes.ts, qat/passes.ts)', () => {
  it('optimize lists them, says why it does not search them, and they run as passes', async () => {
    const plan = planPipelines(lenet5(), [...PASSES, ...PRUNE_PASSES, ...QAT_PASSES], { goal: 'latency', hasData: true, advice: [] });
    for (const id of ['prune.magnitude', 'prune.channels', 'quantize.qat', 'quantize.adaround']) {
      const d = plan.decisions.find((x) => x.id === id);
      assert.ok(d, id);
      assert.match(d.why ?? '', /training.*does not search/, id);
    }
    const r = await pruneChannelsPass.run(lenet5(), { sparsity: 0.5 }, {});
    assert.ok(r.changed);
    assert.match(r.report.summary, /pruned 50\.0% of the prunable channels/);
    assert.ok(r.model.graph!.initializer.reduce((n, t) => n + t.dims.reduce((a, b) => a * Number(b), 1), 0) < 20000);
  });
});

describe('hone train --qat and hone quantize --qat', () => {
  it('write QDQ int8 models and report float, post-training and QAT accuracy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-qat-'));
    try {
      saveModel((await train(lenet5(), firstSamples(mnist().train, 512), { epochs: 1, batchSize: 64 })).model, join(dir, 'm.onnx'));
      for (const argv of [
        [
          'train',
          '--model',
          join(dir, 'm.onnx'),
          '--data',
          'mnist',
          '--limit',
          '512',
          '--qat',
          '-o',
          join(dir, 't.onnx'),
          '--json',
          '--quiet',
        ],
        [
          'quantize',
          join(dir, 'm.onnx'),
          '--mode',
          'static',
          '--qat',
          'mnist',
          '--qat-ranges',
          'learned',
          '--samples',
          '64',
          '-o',
          join(dir, 'q.onnx'),
          '--json',
          '--quiet',
        ],
      ]) {
        const r = await hone(...argv);
        assert.equal(r.code, 0, r.stderr);
        const rep = JSON.parse(r.stdout);
        assert.ok(rep.qat.accuracy > 0.5 && rep.ptq.accuracy > 0.5 && rep.floatAccuracy > 0.5, r.stdout);
        assert.equal(rep.ranges, argv.includes('learned') ? 'learned' : 'fixed');
        if (argv.includes('learned')) assert.ok(rep.learnedScales >= 5, String(rep.learnedScales));
        const out = loadModel(rep.output);
        assert.ok(out.graph!.initializer.some((t) => t.dataType === DataType.INT8));
        assert.ok(!out.graph!.node.some((n) => n.domain === HONE_DOMAIN));
      }
      const bad = await hone(
        'train',
        '--model',
        join(dir, 'm.onnx'),
        '--data',
        'mnist',
        '--qat',
        '--checkpoint',
        join(dir, 'ck'),
        '-o',
        join(dir, 'x.onnx'),
      );
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--qat trains once/);
      const noQat = await hone(
        'train',
        '--model',
        join(dir, 'm.onnx'),
        '--data',
        'mnist',
        '--qat-ranges',
        'learned',
        '-o',
        join(dir, 'x.onnx'),
      );
      assert.equal(noQat.code, 2);
      assert.match(noQat.stderr, /--qat-ranges sets quantization-aware training; add --qat/);
      const badRanges = await hone(
        'quantize',
        join(dir, 'm.onnx'),
        '--mode',
        'static',
        '--qat',
        'mnist',
        '--qat-ranges',
        'ema',
        '-o',
        join(dir, 'x.onnx'),
      );
      assert.equal(badRanges.code, 2);
      assert.match(badRanges.stderr, /--qat-ranges must be one of fixed, learned, got 'ema'/);
      assert.ok(!existsSync(join(dir, 'x.onnx')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
