// Weight sharing: the elastic part of a space, the masked supernet computing exactly each extracted
// sub-network (with weights other than the initial ones too), spaces that are not prefixes refused, the
// sandwich-rule training, and BatchNormalization recalibration against statistics computed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  archSpec,
  buildSupernet,
  classifierAccuracy,
  elasticSpace,
  leadingSlice,
  recalibrate,
  trainSupernet,
  type Supernet,
} from '../../src/nas/supernet.js';
import { createSession } from '../../src/runtime/session.js';
import { floatTensor, tensorArray } from '../../src/ir/tensor.js';
import { withFloatOutputs } from '../../src/ir/builder.js';
import type { ModelProto, TensorProto } from '../../src/ir/proto.js';
import { mnist } from '../../src/data/mnist.js';
import { subset, type Dataset } from '../../src/data/dataset.js';
import { mulberry32 } from '../../src/util/random.js';

const LENET = { 'model.channels': ['4-8', '6-16', '12-32'], 'model.fc': ['32-16', '120-84'], 'model.pool': ['max', 'avg'] };

test('leadingSlice takes the leading block of every axis', () => {
  // 2×3×4 holding its own flat index; the leading 2×2×3 block.
  const data = Float32Array.from({ length: 24 }, (_, i) => i);
  assert.deepEqual([...leadingSlice(data, [2, 3, 4], [2, 2, 3])], [0, 1, 2, 4, 5, 6, 12, 13, 14, 16, 17, 18]);
  assert.deepEqual([...leadingSlice(data, [2, 3, 4], [2, 3, 4])], [...data]);
  assert.deepEqual([...leadingSlice(data, [24], [5])], [0, 1, 2, 3, 4]);
  assert.equal(leadingSlice(data, [2, 3, 4], [0, 3, 4]).length, 0);
});

test('the elastic space: widths searched (largest and smallest element-wise), other options kept, lists of one length', () => {
  const es = elasticSpace('zoo:lenet5', LENET, { pool: 'avg' });
  assert.deepEqual(es.options, { channels: ['4-8', '6-16', '12-32'], fc: ['32-16', '120-84'] });
  assert.deepEqual(es.fixed, { pool: 'avg' });
  assert.deepEqual(es.largest, { channels: '12-32', fc: '120-84' });
  assert.deepEqual(es.smallest, { channels: '4-8', fc: '32-16' });
  assert.equal(archSpec(es, es.largest), 'zoo:lenet5:pool=avg,channels=12-32,fc=120-84');
  // Element-wise: the largest need not be one of the choices.
  const mixed = elasticSpace('zoo:lenet5', { channels: ['4-32', '12-8'] });
  assert.deepEqual([mixed.largest, mixed.smallest], [{ channels: '12-32' }, { channels: '4-8' }]);
  assert.throws(() => elasticSpace('zoo:lenet5', { 'model.fc': ['64', '120-84'] }), /model\.fc has choices of different lengths/);
  assert.throws(() => elasticSpace('zoo:lenet5', { 'model.pool': ['max', 'avg'] }), /no option of widths or depths/);
  assert.throws(() => elasticSpace('zoo:lenet5', { 'model.nope': ['1', '2'] }), /zoo:lenet5 has no option 'nope'/);
  assert.throws(() => elasticSpace('model.onnx', { 'model.fc': ['1', '2'] }), /builds its supernet from a zoo model/);
});

/** The masked supernet's and the extracted sub-network's logits on one random batch. */
async function bothOutputs(net: Supernet, config: Record<string, string | number>, weights: Map<string, TensorProto>) {
  const withWeights: ModelProto = { ...net.model, graph: { ...net.model.graph!, initializer: [...weights.values()] } };
  const input = net.model.graph!.input[0]!;
  const shape = input.type!.tensorType!.shape!.dim!.map((d, i) => (i === 0 ? 3 : Number(d.dimValue)));
  const next = mulberry32(9);
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => next()),
    shape,
  );
  const feeds: Record<string, ort.Tensor> = { [input.name!]: x };
  net.maskValues(config).forEach((v, i) => {
    const m = net.masks[i]!;
    const data = new Float32Array(3 * v.length);
    for (let s = 0; s < 3; s++) data.set(v, s * v.length);
    feeds[m.input] = new ort.Tensor('float32', data, [3, m.channels, ...Array(m.rank - 2).fill(1)]);
  });
  const superS = await createSession(withWeights);
  const sub = net.extract(config, weights);
  const subS = await createSession(sub);
  const a = (await superS.run(feeds))[net.model.graph!.output[0]!.name!]!.data as Float32Array;
  const b = (await subS.run({ [input.name!]: x }))[sub.graph!.output[0]!.name!]!.data as Float32Array;
  await Promise.all([superS.release(), subS.release()]);
  return { a, b, sub };
}

/** The supernet's initializers with every float replaced by random values (weights unlike the initial ones). */
function randomWeights(net: Supernet, seed: number): Map<string, TensorProto> {
  const next = mulberry32(seed);
  return new Map(
    net.model.graph!.initializer.map((t) => {
      if (t.dataType !== 1) return [t.name!, t];
      const isVar = t.name!.endsWith('running_var');
      const data = Float32Array.from(tensorArray(t) as Float32Array, () => (isVar ? 0.5 + next() : next() - 0.5));
      return [t.name!, floatTensor(t.name!, t.dims.map(Number), data)];
    }),
  );
}

test('the masked supernet computes each sub-network exactly: widths (LeNet), widths and residual depth (ResNet)', async () => {
  const lenet = await buildSupernet(elasticSpace('zoo:lenet5', LENET));
  // conv1, conv2, fc1 and fc2 vary; the output layer does not and is not masked.
  assert.deepEqual(
    lenet.masks.map((m) => [m.weight, m.channels, m.rank]),
    [
      ['conv1.weight', 12, 4],
      ['conv2.weight', 32, 4],
      ['fc1.weight', 120, 2],
      ['fc2.weight', 84, 2],
    ],
  );
  assert.deepEqual(
    lenet.maskValues({ channels: '6-16', fc: '32-16' }).map((v) => v.reduce((a, b) => a + b)),
    [6, 16, 32, 16],
  );
  const w = randomWeights(lenet, 1);
  for (const config of [
    { channels: '4-8', fc: '120-84' },
    { channels: '6-16', fc: '32-16' },
  ]) {
    const { a, b, sub } = await bothOutputs(lenet, config, w);
    assert.equal(
      sub
        .graph!.initializer.find((t) => t.name === 'fc1.weight')!
        .dims.map(Number)
        .join('x'),
      `${config.fc.split('-')[0]}x${Number(config.channels.split('-')[1]) * 25}`,
    );
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-4, `${JSON.stringify(config)} logit ${i}: ${v} vs ${b[i]}`));
  }

  const resnet = await buildSupernet(
    elasticSpace('zoo:resnet:inputChannels=1,size=12', { widths: ['4-8-8', '8-8-16'], blocks: ['1-1-1', '2-1-2'] }),
  );
  const rw = randomWeights(resnet, 2);
  for (const config of [
    { widths: '4-8-8', blocks: '1-1-1' },
    { widths: '8-8-16', blocks: '1-1-1' },
    { widths: '4-8-8', blocks: '2-1-2' },
  ]) {
    const { a, b, sub } = await bothOutputs(resnet, config, rw);
    assert.equal(
      sub.graph!.initializer.some((t) => t.name!.startsWith('layer1.1.')),
      config.blocks === '2-1-2',
    );
    const scale = Math.max(1, ...a.map(Math.abs));
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-4 * scale, `${JSON.stringify(config)} logit ${i}: ${v} vs ${b[i]}`));
  }
});

test('a space whose architectures are not prefixes of the largest is refused before training', async () => {
  // At α 0.25 two stages both round to 8 channels and gain a residual connection α 0.75 lacks.
  await assert.rejects(
    buildSupernet(elasticSpace('zoo:mobilenet:inputChannels=1,size=28', { widthMultiplier: [0.25, 0.75] })),
    /weight sharing cannot express zoo:mobilenet:.*widthMultiplier=0\.25: the masked supernet computes something else/,
  );
  // Fewer stages: the head reads another layer, which the largest has no slice for.
  await assert.rejects(
    buildSupernet(elasticSpace('zoo:mobilenet:inputChannels=1,size=28', { stages: [3, 5] })),
    /is not a slice of the supernet's/,
  );
});

function digits(n: number): Dataset {
  const d = mnist().train;
  return subset(
    d,
    Array.from({ length: n }, (_, i) => i),
  );
}

test('supernet training: the sandwich rule in turn, shared weights trained, sub-networks better than chance', async () => {
  const net = await buildSupernet(elasticSpace('zoo:lenet5', { channels: ['4-8', '8-16'], fc: ['32-16', '64-32'] }));
  const data = digits(640);
  const r = await trainSupernet(net, data, { epochs: 2, batchSize: 32, lr: 0.003, seed: 1 });
  assert.equal(r.steps, 40);
  assert.deepEqual(r.sampled, { largest: 10, smallest: 10, random: 20 });
  assert.ok(r.history[1]!.trainLoss < r.history[0]!.trainLoss, 'the loss falls');
  const before = tensorArray(net.model.graph!.initializer.find((t) => t.name === 'conv1.weight')!) as Float32Array;
  const after = tensorArray(r.weights.get('conv1.weight')!) as Float32Array;
  assert.ok(after.some((v, i) => v !== before[i]));
  for (const config of [net.space.smallest, net.space.largest]) {
    const acc = await classifierAccuracy(net.extract(config, r.weights), digits(800));
    assert.ok(acc > 0.3, `${JSON.stringify(config)}: accuracy ${acc}`);
  }
});

test("recalibration: BatchNormalization running means become the data's channel means, weights untouched", async () => {
  const net = await buildSupernet(elasticSpace('zoo:resnet:inputChannels=1,size=28', { widths: ['4-4-4', '8-8-8'], blocks: ['1-1-1'] }));
  const sub = net.extract({ widths: '4-4-4' }, new Map(net.model.graph!.initializer.map((t) => [t.name!, t])));
  const data = digits(400);
  const cal = await recalibrate(sub, data, { batches: 4, batchSize: 100 });
  // The stem's BN reads conv1's output: its per-channel mean over the 400 digits.
  const bn = sub.graph!.node.find((n) => n.opType === 'BatchNormalization')!;
  const s = await createSession(withFloatOutputs(sub, [bn.input[0]!]));
  const x = data.features.input!;
  const out = (await s.run({ input: new ort.Tensor('float32', x.data as Float32Array, x.dims) }))[bn.input[0]!]!;
  await s.release();
  const [n, c, h, w] = out.dims as number[];
  const v = out.data as Float32Array;
  const means = Array.from({ length: c! }, (_, ch) => {
    let sum = 0;
    for (let i = 0; i < n!; i++) for (let j = 0; j < h! * w!; j++) sum += v[(i * c! + ch) * h! * w! + j]!;
    return sum / (n! * h! * w!);
  });
  const got = tensorArray(cal.graph!.initializer.find((t) => t.name === bn.input[3])!) as Float32Array;
  means.forEach((m, i) => assert.ok(Math.abs(got[i]! - m) < 1e-4 * Math.max(1, Math.abs(m)), `channel ${i}: ${got[i]} vs ${m}`));
  const weight = (m: ModelProto) => tensorArray(m.graph!.initializer.find((t) => t.name === 'conv1.weight')!);
  assert.deepEqual([...weight(cal)], [...weight(sub)]);
  assert.equal(
    cal.graph!.node.find((n2) => n2.opType === 'BatchNormalization')!.attribute.find((a) => a.name === 'momentum'),
    bn.attribute.find((a) => a.name === 'momentum'),
    'the momentum used for it is not left in the model',
  );
});

test('the transformer space does not share weights: heads and widths are not prefixes of the largest', async () => {
  await assert.rejects(
    buildSupernet(
      elasticSpace('zoo:transformer:inputSize=28,seq=28,maxSeq=28,classes=10', { dModel: [32, 64], heads: [1, 2], ffn: [64, 128] }),
    ),
    /weight sharing cannot express zoo:transformer|is not a slice of the supernet's/,
  );
});
