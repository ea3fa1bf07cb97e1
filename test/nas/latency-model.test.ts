// The NAS latency model: coefficients recovered from latencies made by known ones, never negative, its
// error measured on held-out samples, and features that follow the graph (kernels and MACs by kind).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLatencyModel, LATENCY_FEATURES, latencyFeatures, latencyVerdict, leaveOneOutMape, mape } from '../../src/nas/latency-model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { makeTensor } from '../../src/ir/tensor.js';
import { zooModel } from '../../src/zoo/index.js';

test('recovers the coefficients that made the latencies, and predicts held-out ones exactly', () => {
  const truth = [0.02, 0.001, 8, 3, 0.004];
  let seed = 5;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const samples = Array.from({ length: 30 }, () => {
    const features = [1, 5 + Math.floor(60 * rand()), 0.05 * rand(), 0.01 * rand(), 10 * rand()];
    return { features, ms: features.reduce((s, f, j) => s + f * truth[j]!, 0) };
  });
  const fit = fitLatencyModel(samples.slice(0, 20));
  fit.coef.forEach((c, j) => assert.ok(Math.abs(c - truth[j]!) < 1e-3 * Math.max(1, truth[j]!), `coef ${j}: ${c} vs ${truth[j]}`));
  assert.ok(mape(samples.slice(20).map((s) => ({ predicted: fit.predict(s.features), measured: s.ms }))) < 0.1);
  assert.ok(leaveOneOutMape(samples) < 0.1);
});

test('a cost that would speed a model up is fitted as 0, not negative', () => {
  // Latency falls as the third feature grows: no non-negative model explains that, and none goes below 0.
  const samples = [1, 2, 3, 4, 5].map((x) => ({ features: [1, x, 6 - x], ms: 1 + 0.5 * x }));
  const fit = fitLatencyModel(samples);
  assert.ok(fit.coef.every((c) => c >= 0));
  assert.equal(fit.coef[2], 0);
  assert.ok(Math.abs(fit.predict([1, 3, 3]) - 2.5) < 0.05);
});

test('features follow the graph: kernels by kind, MACs by kind of multiply', () => {
  const at = (name: (typeof LATENCY_FEATURES)[number]) => LATENCY_FEATURES.indexOf(name);
  const narrow = latencyFeatures(zooModel('lenet5:channels=4-8,batch=1'));
  const wide = latencyFeatures(zooModel('lenet5:channels=16-48,batch=1'));
  assert.equal(narrow.length, LATENCY_FEATURES.length);
  assert.equal(narrow[at('per run')], 1);
  assert.equal(narrow[at('per compute kernel')], wide[at('per compute kernel')], 'same kernels');
  assert.equal(narrow[at('per other kernel')], wide[at('per other kernel')]);
  // LeNet-5: 2 convolutions and 3 fully connected layers.
  assert.equal(narrow[at('per compute kernel')], 5);
  assert.ok(wide[at('conv GMACs')]! > 3 * narrow[at('conv GMACs')]!, `conv GMACs ${narrow[at('conv GMACs')]} → ${wide[at('conv GMACs')]}`);
  assert.ok(narrow[at('weight-matmul GMACs')]! > 0, 'the fully connected layers multiply by weights');
  assert.equal(narrow[at('activation-matmul GMACs')], 0);
  assert.equal(narrow[at('depthwise GMACs')], 0, 'LeNet has no grouped conv');
  const mobile = latencyFeatures(zooModel('mobilenet:inputChannels=1,size=28,widthMultiplier=0.5,batch=1'));
  assert.ok(mobile[at('depthwise GMACs')]! > 0, 'depthwise MACs counted');
  assert.ok(mobile[at('conv GMACs')]! > 0, 'pointwise convolutions are dense');
  assert.ok(mobile[at('MB moved')]! > 0);
  // Attention's Q·Kᵀ and P·V multiply two activations: heads × seq × seq × (dModel / heads) MACs each, per layer.
  const enc = latencyFeatures(zooModel('transformer:inputSize=28,seq=28,maxSeq=28,classes=10,layers=2,heads=2,dModel=32,ffn=64,batch=1'));
  assert.ok(
    Math.abs(enc[at('activation-matmul GMACs')]! * 1e9 - 2 * 2 * (2 * 28 * 28 * 16)) < 1e-3,
    String(enc[at('activation-matmul GMACs')]),
  );
  assert.ok(enc[at('weight-matmul GMACs')]! * 1e9 >= 2 * (4 * 28 * 32 * 32 + 2 * 28 * 32 * 64), 'projections and feed-forward');
  assert.equal(enc[at('conv GMACs')], 0);
});

test('a weight is a weight in any form an exporter gives it: MatMul by a transposed initializer or a Constant node', () => {
  const at = (name: (typeof LATENCY_FEATURES)[number]) => LATENCY_FEATURES.indexOf(name);
  const b = new GraphBuilder('forms');
  const x = b.input('x', DataType.FLOAT, [1, 4, 8]);
  const other = b.input('other', DataType.FLOAT, [1, 8, 4]);
  // x · Transpose(W): 4·8·16 MACs by a weight; x · Constant: 4·8·4; x · other (an activation): 4·8·4.
  const byTransposed = b.op('MatMul', [
    x,
    b.op('Transpose', [b.floatInit('W', [16, 8], new Float32Array(128).fill(0.1))], { perm: [1, 0] }),
  ]);
  const constant = b.op('Constant', [], { value: makeTensor('c', DataType.FLOAT, [8, 4], new Float32Array(32).fill(0.2)) });
  const byConstant = b.op('MatMul', [x, constant]);
  const byActivation = b.op('MatMul', [x, other]);
  for (const [name, v] of [
    ['a', byTransposed],
    ['b', byConstant],
    ['c', byActivation],
  ] as const) {
    b.op('Identity', [v], {}, { output: name });
    b.output(name, DataType.FLOAT);
  }
  const f = latencyFeatures(b.model({ opset: 17 }));
  assert.equal(f[at('weight-matmul GMACs')]! * 1e9, 4 * 8 * 16 + 4 * 8 * 4);
  assert.equal(f[at('activation-matmul GMACs')]! * 1e9, 4 * 8 * 4);
});

test('the verdict: none before six measured; over only beyond twice the model error', () => {
  const measured = [1, 2, 3, 4, 5, 6, 7].map((x) => ({ features: [1, x], ms: 0.01 + 0.01 * x }));
  assert.equal(latencyVerdict(measured.slice(0, 5), [1, 10], 0.05), undefined, 'five are not enough');
  const far = latencyVerdict(measured, [1, 20], 0.05)!;
  assert.ok(Math.abs(far.predictedMs - 0.21) < 1e-3 && far.over && far.fittedOn === 7);
  assert.equal(latencyVerdict(measured, [1, 4], 0.05)!.over, false, 'predicted at the budget: measured, not skipped');
});
