import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { buildTrainingGraph, train } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { checkTrainingGradients, rand, readingAttributes, scaledBy, withWrongRule } from './gradcheck-util.js';
import type { GradContext, GradRule } from '../../src/ops/grad/index.js';
import { tensorArray } from '../../src/ir/tensor.js';

/** A wrong BatchNorm rule: the batch statistics taken as constants (the inference-form gradient, a term dropped). */
const statisticsAsConstants = (original: GradRule) => (ctx: GradContext) => original.grad({ ...ctx, batchStatistics: undefined });

/**
 * Conv → BatchNorm → Tanh → Gemm. Tanh, not Relu: finite differences need a smooth loss. Epsilon 0.5 is of
 * the size of the batch variances, so a gradient rule that left it out would be visibly wrong.
 */
function bnModel() {
  const b = new GraphBuilder('bn');
  const x = b.input('input', DataType.FLOAT, ['batch', 2, 3, 3]);
  const c = b.op('Conv', [x, b.floatInit('w', [3, 2, 2, 2], rand(24, 1)), b.floatInit('cb', [3], rand(3, 2))]);
  const bn = b.op(
    'BatchNormalization',
    [
      c,
      b.floatInit('gamma', [3], rand(3, 3, 0.5, 1.5)),
      b.floatInit('beta', [3], rand(3, 4)),
      b.floatInit('rmean', [3], [0.1, 0.2, 0.3]),
      b.floatInit('rvar', [3], [1, 2, 3]),
    ],
    { epsilon: 0.5, momentum: 0.8 },
  );
  b.op(
    'Gemm',
    [b.op('Flatten', [b.op('Tanh', [bn])]), b.floatInit('fw', [4, 12], rand(48, 5)), b.floatInit('fb', [4], rand(4, 6))],
    { transB: 1 },
    { output: 'logits' },
  );
  b.output('logits', DataType.FLOAT, ['batch', 4]);
  return b.model({ opset: 15 });
}

describe('normalization layers in training mode', () => {
  it('BatchNormalization: batch statistics, gradients match finite differences, running stats updated', async () => {
    const [model, spec] = [bnModel(), { loss: { kind: 'cross-entropy' as const } }];
    const tg = buildTrainingGraph(model, spec);
    assert.deepEqual(
      tg.buffers.map((b) => b.name),
      ['rmean', 'rvar'],
    );
    const x = rand(4 * 18, 9);
    const check = () =>
      checkTrainingGradients(buildTrainingGraph(model, spec), {
        input: new ort.Tensor('float32', x, [4, 2, 3, 3]),
        label: new ort.Tensor('int64', BigInt64Array.of(0n, 3n, 1n, 2n), [4]),
      });
    const { outputs: base } = await check();
    // The check fails for a rule that ignores epsilon or treats the batch statistics as constants.
    await assert.rejects(withWrongRule('BatchNormalization', readingAttributes({ epsilon: 0 }), check), /analytic .* numeric/);
    await assert.rejects(withWrongRule('BatchNormalization', statisticsAsConstants, check), /analytic .* numeric/);
    // Running mean = 0.8·old + 0.2·(batch mean of the conv output per channel).
    const conv = await (await import('../../src/runtime/index.js')).createSession(
      (() => {
        const b = new GraphBuilder('c');
        const xi = b.input('input', DataType.FLOAT, [4, 2, 3, 3]);
        b.op('Conv', [xi, b.floatInit('w', [3, 2, 2, 2], rand(24, 1)), b.floatInit('cb', [3], rand(3, 2))], {}, { output: 'y' });
        b.output('y', DataType.FLOAT, [4, 3, 2, 2]);
        return b.model({ opset: 15 });
      })(),
    );
    const y = (await conv.run({ input: new ort.Tensor('float32', x, [4, 2, 3, 3]) })).y!.data as Float32Array;
    const upd = base[tg.buffers[0]!.update]!.data as Float32Array;
    for (let ch = 0; ch < 3; ch++) {
      let s = 0;
      for (let n = 0; n < 4; n++) for (let k = 0; k < 4; k++) s += y[n * 12 + ch * 4 + k]!;
      assert.ok(Math.abs(upd[ch]! - (0.8 * [0.1, 0.2, 0.3][ch]! + 0.2 * (s / 16))) < 1e-5);
    }
  });

  it('BatchNormalization over [N, C] (BatchNorm1d): gradients match finite differences', async () => {
    const b = new GraphBuilder('bn1d');
    const x = b.input('input', DataType.FLOAT, ['batch', 5]);
    const h = b.op('Gemm', [x, b.floatInit('w', [4, 5], rand(20, 11)), b.floatInit('wb', [4], rand(4, 12))], { transB: 1 });
    const bn = b.op('BatchNormalization', [
      h,
      b.floatInit('gamma', [4], rand(4, 13, 0.5, 1.5)),
      b.floatInit('beta', [4], rand(4, 14)),
      b.floatInit('rmean', [4], [0, 0, 0, 0]),
      b.floatInit('rvar', [4], [1, 1, 1, 1]),
    ]);
    b.op(
      'Gemm',
      [b.op('Tanh', [bn]), b.floatInit('fw', [3, 4], rand(12, 15)), b.floatInit('fb', [3], rand(3, 16))],
      { transB: 1 },
      { output: 'logits' },
    );
    b.output('logits', DataType.FLOAT, ['batch', 3]);
    const [model, spec] = [b.model({ opset: 15 }), { loss: { kind: 'cross-entropy' as const } }];
    const tg = buildTrainingGraph(model, spec);
    assert.deepEqual(
      tg.buffers.map((t) => t.name),
      ['rmean', 'rvar'],
    );
    const check = () =>
      checkTrainingGradients(buildTrainingGraph(model, spec), {
        input: new ort.Tensor('float32', rand(6 * 5, 17), [6, 5]),
        label: new ort.Tensor('int64', BigInt64Array.of(0n, 2n, 1n, 1n, 0n, 2n), [6]),
      });
    await check();
    await assert.rejects(withWrongRule('BatchNormalization', statisticsAsConstants, check), /analytic .* numeric/);
    await assert.rejects(withWrongRule('Tanh', scaledBy(1.1), check), /analytic .* numeric/);
  });

  it('the trained model carries the updated running statistics', async () => {
    const data = {
      features: { input: { data: rand(64 * 18, 3), dims: [64, 2, 3, 3] } },
      labels: { data: BigInt64Array.from({ length: 64 }, (_, i) => BigInt(i % 4)), dims: [64] },
      size: 64,
    };
    const r = await train(bnModel(), data, { epochs: 1, batchSize: 16 });
    const rm = r.model.graph!.initializer.find((t) => t.name === 'rmean')!;
    assert.notDeepEqual(Array.from(tensorArray(rm) as Float32Array), [0.1, 0.2, 0.3].map(Math.fround));
    assert.deepEqual(
      r.model.graph!.node.map((n) => n.opType),
      bnModel().graph!.node.map((n) => n.opType),
    );
  });

  it('LayerNormalization, Gelu (Erf), attention: zoo transformer gradients match finite differences', async () => {
    const [model, spec] = [zooModel('transformer:layers=1,dModel=16,heads=2,ffn=32'), { loss: { kind: 'mse' as const } }];
    const tg = buildTrainingGraph(model, spec);
    assert.ok(
      tg.params.every((p) => p.dims.length > 0),
      'scalar constants (attention scale, GELU constants) are not trained',
    );
    assert.ok(
      tg.params.some((p) => p.name.includes('ln') || p.name.includes('norm')),
      tg.params.map((p) => p.name).join(' '),
    );
    const inp = tg.forward.graph!.input[0]!;
    assert.equal(inp.type?.tensorType?.elemType, DataType.FLOAT);
    const check = () =>
      checkTrainingGradients(buildTrainingGraph(model, spec), {
        [inp.name!]: new ort.Tensor('float32', rand(2 * 5 * 16, 4), [2, 5, 16]),
        label: new ort.Tensor('float32', rand(2 * 5 * 16, 5), [2, 5, 16]),
      });
    await check();
    for (const op of ['LayerNormalization', 'Softmax', 'Erf'])
      await assert.rejects(withWrongRule(op, scaledBy(1.1), check), /analytic .* numeric/, op);
  });

  it('residual block (BatchNorm, strided and 1x1 downsample convs, Add, GlobalAveragePool) gradients match finite differences', async () => {
    // Tanh keeps the loss smooth: deep ReLU stacks at tiny batches have kinks within any usable eps.
    const b = new GraphBuilder('res');
    const x = b.input('input', DataType.FLOAT, ['batch', 3, 8, 8]);
    const bn = (v: string, c: number, s: number) =>
      b.op('BatchNormalization', [
        v,
        b.floatInit('g', [c], rand(c, s, 0.5, 1.5)),
        b.floatInit('b', [c], rand(c, s + 1)),
        b.floatInit('m', [c], new Float32Array(c)),
        b.floatInit('v', [c], new Float32Array(c).fill(1)),
      ]);
    const h = b.op('Tanh', [bn(b.op('Conv', [x, b.floatInit('w', [4, 3, 3, 3], rand(108, 1))], { pads: [1, 1, 1, 1] }), 4, 10)]);
    const r = bn(b.op('Conv', [h, b.floatInit('w2', [4, 4, 3, 3], rand(144, 2))], { pads: [1, 1, 1, 1], strides: [2, 2] }), 4, 20);
    const d = bn(b.op('Conv', [h, b.floatInit('wd', [4, 4, 1, 1], rand(16, 3))], { strides: [2, 2] }), 4, 30);
    const o = b.op('Tanh', [b.op('Add', [r, d])]);
    b.op(
      'Gemm',
      [b.op('Flatten', [b.op('GlobalAveragePool', [o])]), b.floatInit('fw', [10, 4], rand(40, 5))],
      { transB: 1 },
      { output: 'logits' },
    );
    b.output('logits', DataType.FLOAT, ['batch', 10]);
    const [model, spec] = [b.model({ opset: 17 }), { loss: { kind: 'cross-entropy' as const } }];
    const check = () =>
      checkTrainingGradients(buildTrainingGraph(model, spec), {
        input: new ort.Tensor('float32', rand(4 * 3 * 64, 6), [4, 3, 8, 8]),
        label: new ort.Tensor('int64', BigInt64Array.of(1n, 2n, 3n, 9n), [4]),
      });
    await check();
    await assert.rejects(withWrongRule('BatchNormalization', statisticsAsConstants, check), /analytic .* numeric/);
    await assert.rejects(withWrongRule('GlobalAveragePool', scaledBy(1.1), check), /analytic .* numeric/);
  });

  it('zoo ResNet and MobileNet (BatchNorm, Clip/ReLU6, depthwise convs) fit a fixed batch', async () => {
    for (const spec of ['resnet:blocks=1-1-1,widths=4-8-8,size=8', 'mobilenet:widthMultiplier=0.25,stages=2,size=16']) {
      const m = zooModel(spec);
      const size = Number(/size=(\d+)/.exec(spec)![1]);
      const n = 16;
      const data = {
        features: { input: { data: rand(n * 3 * size * size, 8), dims: [n, 3, size, size] } },
        labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), dims: [n] },
        size: n,
      };
      const r = await train(m, data, { epochs: 15, batchSize: n, lr: 1e-2 });
      assert.ok(
        r.history[r.history.length - 1]!.trainLoss < 0.5 * r.history[0]!.trainLoss,
        `${spec}: ${r.history.map((h) => h.trainLoss.toFixed(3)).join(' ')}`,
      );
    }
  });
});
