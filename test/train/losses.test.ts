import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { buildTrainingGraph, train, type LossSpec } from '../../src/train/index.js';
import { checkTrainingGradients, rand } from './gradcheck-util.js';

/** logits = x·Wᵀ + b over 3 features and 4 classes. */
function linear(): ModelProto {
  const b = new GraphBuilder('lin');
  const x = b.input('input', DataType.FLOAT, ['batch', 3]);
  b.op('Gemm', [x, b.floatInit('w', [4, 3], rand(12, 1)), b.floatInit('b', [4], rand(4, 2))], { transB: 1 }, { output: 'logits' });
  b.output('logits', DataType.FLOAT, ['batch', 4]);
  return b.model({ opset: 17 });
}

const X = rand(5 * 3, 3);
const logitsOf = (): number[][] => {
  const w = rand(12, 1),
    bias = rand(4, 2);
  return Array.from({ length: 5 }, (_, n) =>
    Array.from({ length: 4 }, (_, k) => bias[k]! + [0, 1, 2].reduce((s, j) => s + X[n * 3 + j]! * w[k * 3 + j]!, 0)),
  );
};
const logSoftmax = (z: number[]) => {
  const m = Math.max(...z);
  const l = Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
  return z.map((v) => v - l);
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function check(loss: LossSpec, labels: ort.Tensor, expected: number) {
  const tg = buildTrainingGraph(linear(), { loss });
  const { outputs: out } = await checkTrainingGradients(tg, { input: new ort.Tensor('float32', X, [5, 3]), label: labels });
  const got = (out[tg.lossName]!.data as Float32Array)[0]!;
  assert.ok(Math.abs(got - expected) < 1e-5 * Math.max(1, Math.abs(expected)), `${loss.kind}: loss ${got}, expected ${expected}`);
}

describe('losses: values and gradients', () => {
  const y = [0, 3, 1, 1, 2];
  const idx = new ort.Tensor('int64', BigInt64Array.from(y, BigInt), [5]);
  it('cross-entropy on class indices', async () => {
    await check({ kind: 'cross-entropy' }, idx, mean(logitsOf().map((z, n) => -logSoftmax(z)[y[n]!]!)));
  });
  it('cross-entropy with label smoothing (PyTorch definition)', async () => {
    const eps = 0.1;
    await check(
      { kind: 'cross-entropy', labelSmoothing: eps },
      idx,
      mean(
        logitsOf().map((z, n) => {
          const lp = logSoftmax(z);
          return -lp.reduce((s, v, k) => s + v * ((k === y[n] ? 1 - eps : 0) + eps / 4), 0);
        }),
      ),
    );
  });
  it('cross-entropy on class indices refuses an output that is not [batch, classes], naming it and the fix', async () => {
    // A dense-prediction head ([batch, H, W, C], as M-LSD's): index labels [batch] cannot be its targets.
    const b = new GraphBuilder('dense');
    const x = b.input('input', DataType.FLOAT, ['batch', 2, 3, 4]);
    b.op('Mul', [x, b.floatInit('w', [4], rand(4, 5))], {}, { output: 'map' });
    b.output('map', DataType.FLOAT, ['batch', 2, 3, 4]);
    const n = 4;
    const features = { input: { data: rand(n * 24, 6), dims: [n, 2, 3, 4] } };
    const indices = { features, labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)), dims: [n] }, size: n };
    await assert.rejects(
      train(b.model({ opset: 17 }), indices, { epochs: 1, batchSize: 2 }),
      /^HoneError: cross-entropy with class-index labels needs \[batch, classes\] logits, and the output 'map' is \[batch, 2, 3, 4\]; train it with --loss mse \(or l1\)/,
    );
    // The same output trains with MSE against targets of its shape.
    const targets = { features, labels: { data: rand(n * 24, 7), dims: [n, 2, 3, 4] }, size: n };
    const r = await train(b.model({ opset: 17 }), targets, { epochs: 1, batchSize: 2, loss: { kind: 'mse' } });
    assert.ok(Number.isFinite(r.trainLoss));
  });
  it('cross-entropy on probabilities', async () => {
    const p = rand(20, 9, 0, 1);
    for (let n = 0; n < 5; n++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += p[n * 4 + k]!;
      for (let k = 0; k < 4; k++) p[n * 4 + k]! /= s;
    }
    await check(
      { kind: 'cross-entropy', target: 'probabilities' },
      new ort.Tensor('float32', p, [5, 4]),
      mean(logitsOf().map((z, n) => -logSoftmax(z).reduce((s, v, k) => s + v * p[n * 4 + k]!, 0))),
    );
  });
  it('MSE and L1', async () => {
    const t = rand(20, 10);
    const z = logitsOf().flat();
    await check({ kind: 'mse' }, new ort.Tensor('float32', t, [5, 4]), mean(z.map((v, i) => (v - t[i]!) ** 2)));
    await check({ kind: 'l1' }, new ort.Tensor('float32', t, [5, 4]), mean(z.map((v, i) => Math.abs(v - t[i]!))));
  });
  it('distillation: T²·KL(teacher ‖ student) at temperature T', async () => {
    const teacher = rand(20, 11, -2, 2);
    const T = 2;
    await check(
      { kind: 'kd', temperature: T },
      new ort.Tensor('float32', teacher, [5, 4]),
      T *
        T *
        mean(
          logitsOf().map((z, n) => {
            const ls = logSoftmax(z.map((v) => v / T));
            const lt = logSoftmax(Array.from({ length: 4 }, (_, k) => teacher[n * 4 + k]! / T));
            return lt.reduce((s, v, k) => s + Math.exp(v) * (v - ls[k]!), 0);
          }),
        ),
    );
  });
});

describe('extra loss terms (TrainingGraphOptions.extraLoss)', () => {
  /** The linear model with a second output: 0.1·Σ w², a weight penalty. */
  const penalized = () => {
    const m = linear();
    const b = new GraphBuilder('pen');
    const sq = b.op('Mul', ['w', 'w']);
    const sum = b.op('ReduceSum', [sq], { keepdims: 0 });
    b.op('Mul', [sum, b.floatInit('k', [], [0.1])], {}, { output: 'penalty' });
    m.graph!.node.push(...b.graph.node);
    m.graph!.initializer.push(...b.graph.initializer);
    m.graph!.output.push(valueInfo('penalty', DataType.FLOAT, []));
    return m;
  };
  it('adds each term to the loss, value and gradient (finite differences)', async () => {
    const t = rand(20, 10);
    const tg = buildTrainingGraph(penalized(), { loss: { kind: 'mse' }, extraLoss: ['penalty'] });
    const { outputs } = await checkTrainingGradients(tg, {
      input: new ort.Tensor('float32', X, [5, 3]),
      label: new ort.Tensor('float32', t, [5, 4]),
    });
    const z = logitsOf().flat();
    const w = rand(12, 1);
    const expected = mean(z.map((v, i) => (v - t[i]!) ** 2)) + 0.1 * w.reduce((s, v) => s + v * v, 0);
    const got = (outputs[tg.lossName]!.data as Float32Array)[0]!;
    assert.ok(Math.abs(got - expected) < 1e-5 * Math.max(1, expected), `loss ${got}, expected ${expected}`);
  });
  it('refuses a term that is not a scalar output of the model', () => {
    assert.throws(() => buildTrainingGraph(linear(), { loss: { kind: 'mse' }, extraLoss: ['w'] }), /'w' is not an output of the model/);
    assert.throws(() => buildTrainingGraph(linear(), { loss: { kind: 'mse' }, extraLoss: ['logits'] }), /must be a scalar/);
  });
});

describe('Dropout in training', () => {
  const dropModel = (batch: string | number) => {
    const b = new GraphBuilder('drop');
    const x = b.input('input', DataType.FLOAT, [batch, 8]);
    const h = b.op('Mul', [x, b.floatInit('w', [8], rand(8, 3, 0.5, 1.5))]);
    b.op('Dropout', [h, b.floatInit('ratio', [], [0.5])], {}, { output: 'logits' });
    b.output('logits', DataType.FLOAT, [batch, 8]);
    return b.model({ opset: 17 });
  };
  /** Checks y = x·w·mask (mask values 0 or 1/(1−ratio) = 2) and d mean(y²)/dw against the same mask. */
  const checkMasked = (xs: Float32Array, w: Float32Array, yv: Float32Array, g: Float32Array, mask: (i: number) => number) => {
    let dropped = 0;
    const grad = new Float64Array(8);
    for (let i = 0; i < 512; i++) {
      const m = mask(i);
      assert.ok(m === 0 || m === 2, `mask ${m}`);
      if (m === 0) dropped++;
      assert.ok(Math.abs(yv[i]! - m * xs[i]! * w[i % 8]!) < 1e-5, 'kept values are scaled by 1/(1-ratio)');
      grad[i % 8]! += (2 * yv[i]! * m * xs[i]!) / 512;
    }
    assert.ok(dropped > 150 && dropped < 362, `dropped ${dropped} of 512`);
    grad.forEach((v, k) => assert.ok(Math.abs(g[k]! - v) < 1e-4 * Math.max(1, Math.abs(v)), `grad[${k}] ${g[k]} vs ${v}`));
  };

  it('with a batch dim, the trainer feeds a seeded mask: x·mask, the gradient through the same mask', async () => {
    const model = dropModel('batch');
    const tg = buildTrainingGraph(model, { loss: { kind: 'mse' } });
    assert.equal(tg.dropoutMasks.length, 1);
    assert.deepEqual(tg.dropoutMasks[0]!.sampleDims, [8]);
    assert.ok(!tg.model.graph!.node.some((n) => n.opType === 'Dropout'));
    const { fillDropoutMasks } = await import('../../src/train/training-mode.js');
    const mask = new Float32Array(512);
    fillDropoutMasks(tg.dropoutMasks, [mask], 3, 7, 0);
    const again = new Float32Array(512);
    fillDropoutMasks(tg.dropoutMasks, [again], 3, 7, 0);
    assert.deepEqual(again, mask, 'same seed and step, same mask');
    fillDropoutMasks(tg.dropoutMasks, [again], 3, 8, 0);
    assert.notDeepEqual(again, mask, 'the next step draws a new mask');
    const { createSession } = await import('../../src/runtime/index.js');
    const s = await createSession(tg.model);
    const xs = rand(64 * 8, 4, 0.5, 1);
    const w = tg.params[0]!.init;
    const r = await s.run({
      input: new ort.Tensor('float32', xs, [64, 8]),
      label: new ort.Tensor('float32', new Float32Array(512), [64, 8]),
      w: new ort.Tensor('float32', w, [8]),
      [tg.dropoutMasks[0]!.name]: new ort.Tensor('float32', mask, [64, 8]),
    });
    checkMasked(xs, w, r.logits!.data as Float32Array, r[tg.params[0]!.grad]!.data as Float32Array, (i) => mask[i]!);
    // The original (inference) model is untouched.
    assert.equal(model.graph!.node[1]!.opType, 'Dropout');
    assert.equal(model.graph!.node[1]!.input.length, 2);
  });

  it('without a batch dim to shape a mask, ORT draws it and the gradient reads its mask output', async () => {
    const tg = buildTrainingGraph(dropModel(64), { loss: { kind: 'mse' } });
    assert.equal(tg.dropoutMasks.length, 0);
    const { createSession } = await import('../../src/runtime/index.js');
    const s = await createSession(tg.model);
    const xs = rand(64 * 8, 4, 0.5, 1);
    const w = tg.params[0]!.init;
    const r = await s.run({
      input: new ort.Tensor('float32', xs, [64, 8]),
      label: new ort.Tensor('float32', new Float32Array(512), [64, 8]),
      w: new ort.Tensor('float32', w, [8]),
    });
    const yv = r.logits!.data as Float32Array;
    checkMasked(xs, w, yv, r[tg.params[0]!.grad]!.data as Float32Array, (i) => (yv[i] === 0 ? 0 : 2));
  });
});
