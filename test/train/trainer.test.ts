import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { createSession } from '../../src/runtime/index.js';
import { firstSamples, mnist, type Dataset } from '../../src/data/index.js';
import { buildTrainingGraph, train } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { rand, signData } from './gradcheck-util.js';

/** A 2-layer MLP over 4 features; class = sign of the feature sum (learnable). */
function tinyMlp(): ModelProto {
  const b = new GraphBuilder('tiny');
  const x = b.input('input', DataType.FLOAT, ['batch', 4]);
  const h = b.op('Relu', [
    b.op('Gemm', [x, b.floatInit('w1', [8, 4], rand(32, 1, -0.5, 0.5)), b.floatInit('b1', [8], new Float32Array(8))], { transB: 1 }),
  ]);
  b.op(
    'Gemm',
    [h, b.floatInit('w2', [2, 8], rand(16, 2, -0.5, 0.5)), b.floatInit('b2', [2], new Float32Array(2))],
    { transB: 1 },
    { output: 'logits' },
  );
  b.output('logits', DataType.FLOAT, ['batch', 2]);
  return b.model({ opset: 17 });
}

const weights = (m: ModelProto) => new Map(m.graph!.initializer.map((t) => [t.name!, Float32Array.from(tensorArray(t) as Float32Array)]));

describe('trainer', () => {
  it('learns a separable problem and exports an inference model with the same interface', async () => {
    const model = tinyMlp();
    const r = await train(model, signData(512, 3), { epochs: 15, batchSize: 32, lr: 0.01, test: signData(256, 4) });
    assert.ok(r.testAccuracy! > 0.9, `test accuracy ${r.testAccuracy}`);
    assert.ok(r.history[r.history.length - 1]!.trainLoss < r.history[0]!.trainLoss);
    const g = r.model.graph!;
    assert.deepEqual(
      g.input.map((i) => i.name),
      model.graph!.input.map((i) => i.name),
    );
    assert.deepEqual(
      g.output.map((o) => o.name),
      ['logits'],
    );
    assert.deepEqual(
      g.node.map((n) => n.opType),
      model.graph!.node.map((n) => n.opType),
    );
    assert.notDeepEqual(weights(r.model).get('w1'), weights(model).get('w1'));
    // The exported model runs and agrees with the accuracy the trainer measured.
    const s = await createSession(r.model);
    const t = signData(256, 4);
    const out = (await s.run({ input: new ort.Tensor('float32', t.features.input!.data as Float32Array, [256, 4]) })).logits!
      .data as Float32Array;
    let correct = 0;
    for (let i = 0; i < 256; i++) if (Number(out[2 * i + 1]! > out[2 * i]!) === Number((t.labels.data as BigInt64Array)[i])) correct++;
    assert.equal(correct / 256, r.testAccuracy);
  });

  it('learns from int64 token ids and a bool mask (embedding lookup, masked mean), with the ids given as float data too', async () => {
    // Class = whether token 3 occurs among the unmasked tokens: learnable only through the embedding rows.
    const b = new GraphBuilder('tokens');
    const ids = b.input('ids', DataType.INT64, ['batch', 6]);
    const mask = b.input('mask', DataType.BOOL, ['batch', 6]);
    const emb = b.op('Gather', [b.floatInit('emb', [8, 4], rand(32, 5, -0.1, 0.1)), ids], { axis: 0 });
    const m = b.op('Unsqueeze', [b.op('Cast', [mask], { to: DataType.FLOAT }), b.int64Init('ax', [2])]);
    const pooled = b.op('ReduceSum', [b.op('Mul', [emb, m]), b.int64Init('ax1', [1])], { keepdims: 0 });
    b.op(
      'Gemm',
      [pooled, b.floatInit('w', [2, 4], rand(8, 6, -0.5, 0.5)), b.floatInit('bias', [2], new Float32Array(2))],
      { transB: 1 },
      { output: 'logits' },
    );
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const model = b.model({ opset: 17 });
    const data = (n: number, seed: number, asFloat: boolean): Dataset => {
      const r = rand(n * 12, seed, 0, 1);
      const idv = Array.from({ length: n * 6 }, (_, k) => Math.floor(r[k]! * 8));
      const mk = Uint8Array.from({ length: n * 6 }, (_, k) => (r[n * 6 + k]! < 0.8 ? 1 : 0));
      const y = BigInt64Array.from({ length: n }, (_, i) =>
        idv.slice(i * 6, i * 6 + 6).some((t, j) => t === 3 && mk[i * 6 + j]) ? 1n : 0n,
      );
      const idData = asFloat ? Float32Array.from(idv) : BigInt64Array.from(idv, (v) => BigInt(v));
      return {
        features: { ids: { data: idData, dims: [n, 6] }, mask: { data: mk, dims: [n, 6] } },
        labels: { data: y, dims: [n] },
        size: n,
      };
    };
    const r = await train(model, data(512, 1, false), { epochs: 20, batchSize: 32, lr: 0.05, test: data(256, 2, true) });
    assert.ok(r.testAccuracy! > 0.9, `test accuracy ${r.testAccuracy}`);
    assert.deepEqual(
      r.model.graph!.input.map((i) => i.type!.tensorType!.elemType),
      [DataType.INT64, DataType.BOOL],
    );
    // Ids that are not whole numbers are refused before training.
    const bad = data(64, 3, true);
    (bad.features.ids!.data as Float32Array)[5] = 2.5;
    await assert.rejects(train(model, bad, { epochs: 1, batchSize: 32 }), /input 'ids' is int64, but value 5 of the data is 2.5/);
  });

  it('trains LeNet-5 on real MNIST digits above chance in one short epoch', async () => {
    const { train: tr, test } = mnist();
    const r = await train(zooModel('lenet5'), firstSamples(tr, 1024), {
      epochs: 1,
      batchSize: 32,
      lr: 2e-3,
      test: firstSamples(test, 500),
    });
    assert.ok(r.testAccuracy! > 0.6, `test accuracy ${r.testAccuracy}`);
  });

  it('resume from a checkpoint gives the same weights as an uninterrupted run', async () => {
    const data = signData(256, 5);
    const opts = {
      batchSize: 16,
      lr: 0.02,
      optimizer: { kind: 'adam' as const },
      schedule: { kind: 'cosine' as const, period: 48 },
      seed: 3,
    };
    const full = await train(tinyMlp(), data, { ...opts, epochs: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'hone-ckpt-'));
    await train(tinyMlp(), data, { ...opts, epochs: 2, checkpointDir: dir });
    assert.ok(existsSync(join(dir, 'checkpoint.bin')));
    const resumed = await train(tinyMlp(), data, { ...opts, epochs: 3, checkpointDir: dir, resume: true });
    assert.deepEqual(weights(resumed.model), weights(full.model));
    assert.equal(resumed.history.length, 3);
    assert.deepEqual(
      resumed.history.map((h) => h.trainLoss),
      full.history.map((h) => h.trainLoss),
    );
  });

  it('micro-batches average their gradients into the same update as the whole batch', async () => {
    const data = signData(128, 8);
    const opts = { epochs: 2, batchSize: 16, lr: 0.02, seed: 4, test: signData(64, 9) };
    const whole = await train(tinyMlp(), data, { ...opts, microBatch: 16 });
    for (const microBatch of [8, 4]) {
      const split = await train(tinyMlp(), data, { ...opts, microBatch });
      const a = weights(whole.model);
      for (const [name, w] of weights(split.model))
        w.forEach((v, i) => assert.ok(Math.abs(v - a.get(name)![i]!) < 1e-4, `${name}[${i}] ${v} vs ${a.get(name)![i]}`));
      assert.ok(Math.abs(split.trainLoss - whole.trainLoss) < 1e-4);
      assert.equal(split.trainAccuracy, whole.trainAccuracy);
    }
    await assert.rejects(
      train(tinyMlp(), data, { ...opts, microBatch: 5 }),
      /micro-batch 5 must be a positive integer that divides the batch size 16/,
    );
    const bn = zooModel('resnet:blocks=1-1-1,widths=4-4-4,size=8');
    await assert.rejects(
      train(
        bn,
        {
          features: { input: { data: rand(4 * 3 * 64, 1), dims: [4, 3, 8, 8] } },
          labels: { data: new BigInt64Array(4), dims: [4] },
          size: 4,
        },
        { epochs: 1, batchSize: 4, microBatch: 2 },
      ),
      /BatchNorm running statistics/,
    );
  });

  it('with Dropout too, resuming gives the same weights as an uninterrupted run (the trainer draws the masks)', async () => {
    const dropMlp = () => {
      const m = tinyMlp();
      const g = m.graph!;
      const relu = g.node.find((n) => n.opType === 'Relu')!;
      const gemm2 = g.node.find((n) => n.input.includes(relu.output[0]!))!;
      g.node.splice(g.node.indexOf(gemm2), 0, {
        opType: 'Dropout',
        input: [relu.output[0]!, 'p'],
        output: ['dropped'],
        attribute: [],
        metadataProps: [],
        deviceConfigurations: [],
      });
      gemm2.input[0] = 'dropped';
      g.initializer.push(makeTensor('p', DataType.FLOAT, [], Float32Array.of(0.3)));
      return m;
    };
    const data = signData(256, 5);
    const opts = { batchSize: 16, lr: 0.02, seed: 3, microBatch: 8 };
    const full = await train(dropMlp(), data, { ...opts, epochs: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'hone-ckpt-drop-'));
    await train(dropMlp(), data, { ...opts, epochs: 2, checkpointDir: dir });
    const resumed = await train(dropMlp(), data, { ...opts, epochs: 3, checkpointDir: dir, resume: true });
    assert.deepEqual(weights(resumed.model), weights(full.model));
    // Dropout really drops: without it the run ends elsewhere.
    const plain = await train(tinyMlp(), data, { ...opts, epochs: 3 });
    assert.notDeepEqual(weights(plain.model).get('w1'), weights(full.model).get('w1'));
    assert.deepEqual(
      full.model.graph!.node.map((n) => n.opType),
      dropMlp().graph!.node.map((n) => n.opType),
    );
  });

  it('the same seed gives the same weights; another seed does not', async () => {
    const data = signData(128, 6);
    const a = await train(tinyMlp(), data, { epochs: 2, batchSize: 16, seed: 1 });
    const b = await train(tinyMlp(), data, { epochs: 2, batchSize: 16, seed: 1 });
    const c = await train(tinyMlp(), data, { epochs: 2, batchSize: 16, seed: 2 });
    assert.deepEqual(weights(a.model), weights(b.model));
    assert.notDeepEqual(weights(a.model), weights(c.model));
  });

  it('stops on a NaN loss with a clear message and keeps the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-nan-'));
    const data = signData(64, 7);
    await train(tinyMlp(), data, { epochs: 1, batchSize: 16, checkpointDir: dir });
    const bad: Dataset = {
      ...data,
      features: {
        input: { data: Float32Array.from(data.features.input!.data as Float32Array, (v, i) => (i === 5 ? NaN : v)), dims: [64, 4] },
      },
    };
    await assert.rejects(
      train(tinyMlp(), bad, { epochs: 2, batchSize: 16, checkpointDir: dir, resume: true }),
      /loss became NaN.*last good checkpoint/,
    );
    assert.ok(existsSync(join(dir, 'checkpoint.bin')));
  });

  it('rejects out-of-range labels and mismatched data before training', async () => {
    const data = signData(64, 8);
    (data.labels.data as BigInt64Array)[3] = 5n;
    await assert.rejects(
      train(tinyMlp(), data, { epochs: 1, batchSize: 16 }),
      /label 5 \(sample 3\) is out of range for a model with 2 classes/,
    );
    const wrong: Dataset = { ...signData(64, 9), features: { input: { data: new Float32Array(64 * 5), dims: [64, 5] } } };
    await assert.rejects(train(tinyMlp(), wrong, { epochs: 1, batchSize: 16 }), /expects samples of shape \[4\].*\[5\]/);
  });

  it('early stopping ends training when validation loss stops improving', async () => {
    // A learning rate this large makes validation loss bounce; patience 1 stops at the first bad epoch.
    const r = await train(tinyMlp(), signData(256, 10), {
      epochs: 30,
      batchSize: 16,
      lr: 0.5,
      optimizer: { kind: 'sgd' },
      validationSplit: 0.25,
      earlyStopping: { patience: 1 },
    });
    assert.equal(r.stopped, 'early-stopping');
    assert.ok(r.epochs < 30);
  });

  it('frozen parameters keep their values and get no gradient output', async () => {
    const model = tinyMlp();
    const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, frozen: ['w1', 'b1'] });
    assert.deepEqual(
      tg.params.map((p) => p.name),
      ['w2', 'b2'],
    );
    const r = await train(model, signData(64, 11), { epochs: 1, batchSize: 16, frozen: ['w1'] });
    assert.deepEqual(weights(r.model).get('w1'), weights(model).get('w1'));
    assert.notDeepEqual(weights(r.model).get('b1'), weights(model).get('b1'));
  });

  it('an op without a gradient rule is an error naming the op and node', () => {
    const b = new GraphBuilder('g');
    const x = b.input('input', DataType.FLOAT, ['batch', 4]);
    const y = b.op('Hardmax', [b.op('MatMul', [x, b.floatInit('w', [4, 2], rand(8, 1))])], {}, { name: 'hm', output: 'logits' });
    b.output(y, DataType.FLOAT, ['batch', 2]);
    assert.throws(
      () => buildTrainingGraph(b.model({ opset: 17 }), { loss: { kind: 'mse' } }),
      /no gradient rule for op Hardmax \(node 'hm'\)/,
    );
  });
});
