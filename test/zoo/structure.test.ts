// Options change the structure: parameter counts checked against hand computation, op counts per option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lenet5, mlp, mobilenet, resnet, transformer, zooModel } from '../../src/zoo/index.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { countOps, floatParams } from './helpers.js';

test('mlp parameter counts', () => {
  // 784·512+512 + 512·256+256 + 256·10+10
  assert.equal(floatParams(mlp()), 401_920 + 131_328 + 2_570);
  // 784·128+128 + 128·64+64 + 64·10+10
  assert.equal(floatParams(zooModel('mlp:hidden=128-64')), 100_480 + 8_256 + 650);
  // logistic regression: 20·3+3
  assert.equal(floatParams(mlp({ inputSize: 20, hidden: [], classes: 3 })), 63);
  assert.equal(countOps(zooModel('mlp:hidden=8-8-8-8'), 'Gemm'), 5);
  assert.equal(countOps(zooModel('mlp:hidden=8-8,activation=tanh'), 'Tanh'), 2);
});

test('mlp Gemm weights are [out, in] with transB=1', () => {
  const g = mlp({ hidden: [32] }).graph!;
  const w = g.initializer.find((t) => t.name === 'fc1.weight')!;
  assert.deepEqual(w.dims, [32, 784]);
  const gemm = g.node.find((n) => n.opType === 'Gemm')!;
  assert.equal(gemm.attribute.find((a) => a.name === 'transB')!.i, 1);
});

test('lenet5 has 61,706 parameters, and its options change them', () => {
  // conv1 6·1·25+6, conv2 16·6·25+16, fc1 400·120+120, fc2 120·84+84, fc3 84·10+10
  assert.equal(floatParams(lenet5()), 156 + 2_416 + 48_120 + 10_164 + 850);
  assert.equal(floatParams(lenet5()), 61_706);
  // conv1 8·25+8, conv2 24·8·25+24, fc1 (24·5·5)·64+64, fc2 64·10+10
  assert.equal(floatParams(zooModel('lenet5:channels=8-24,fc=64')), 208 + 4_824 + 38_464 + 650);
  // 32×32×3 input: conv1 6·3·25+6; conv2 unchanged; flatten 16·6·6 = 576 → fc1 576·120+120
  assert.equal(floatParams(lenet5({ inputChannels: 3, size: 32 })), 456 + 2_416 + 69_240 + 10_164 + 850);
  // 3×3 kernels: conv1 6·9+6 (padded: 28×28 kept), conv2 16·6·9+16 on 14×14 → 12×12 → pooled 6×6: fc1 576·120+120
  assert.equal(floatParams(zooModel('lenet5:kernel=3')), 60 + 880 + 69_240 + 10_164 + 850);
  assert.throws(() => zooModel('lenet5:kernel=4'), /kernel must be odd/);
  assert.throws(() => lenet5({ kernel: 7, size: 12 }), /a 7×7 kernel leaves nothing of a 12×12 image/);
  // Strided convs: conv1 (padded) 28 → 14, conv2 14 → 5 (5×5) or 6 (3×3), no pooling; the same weights as pooling's.
  assert.equal(floatParams(lenet5({ pool: 'stride' })), 61_706);
  assert.equal(floatParams(zooModel('lenet5:kernel=3,pool=stride')), 60 + 880 + 69_240 + 10_164 + 850);
  assert.deepEqual(
    lenet5({ pool: 'stride' }).graph!.node.map((n) => n.opType),
    ['Conv', 'Relu', 'Conv', 'Relu', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'],
  );
  for (const n of lenet5({ pool: 'stride' }).graph!.node.filter((x) => x.opType === 'Conv'))
    assert.deepEqual(n.attribute.find((a) => a.name === 'strides')!.ints, [2, 2]);
  assert.throws(() => lenet5({ kernel: 7, size: 12, pool: 'stride' }), /a 7×7 kernel leaves nothing of a 12×12 image/);
  assert.equal(countOps(lenet5({ pool: 'avg' }), 'AveragePool'), 2);
  assert.equal(countOps(lenet5(), 'MaxPool'), 2);
  assert.deepEqual(
    lenet5().graph!.node.map((n) => n.opType),
    ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'],
  );
});

test('resnet stages, depth and projection shortcuts', () => {
  // stem + 2 convs per block + one 1×1 projection per stage that changes width
  assert.equal(countOps(resnet(), 'Conv'), 1 + 12 + 2);
  assert.equal(countOps(zooModel('resnet:depth=20'), 'Conv'), 1 + 18 + 2);
  assert.equal(countOps(zooModel('resnet:depth=20'), 'Add'), 9);
  assert.equal(countOps(zooModel('resnet:blocks=1-1,widths=8-8'), 'Conv'), 1 + 4 + 1);
  assert.equal(countOps(resnet(), 'BatchNormalization'), countOps(resnet(), 'Conv'));
  assert.equal(countOps(resnet(), 'GlobalAveragePool'), 1);
  assert.ok(floatParams(zooModel('resnet:widths=32-64-128')) > 3.5 * floatParams(resnet()));
});

test('mobilenet depthwise convs, inverted residuals, width multiplier', () => {
  const g = mobilenet().graph!;
  const dw = g.node.filter((n) => n.opType === 'Conv' && (n.attribute.find((a) => a.name === 'group')!.i ?? 1) > 1);
  assert.equal(dw.length, 17); // 1+2+3+4+3+3+1 blocks, one depthwise conv each
  for (const n of dw) {
    const w = g.initializer.find((t) => t.name === n.input[1])!;
    assert.equal(w.dims[1], 1, 'depthwise weight is [C, 1, k, k]');
    assert.equal(n.attribute.find((a) => a.name === 'group')!.i, w.dims[0]);
  }
  assert.equal(countOps(mobilenet(), 'Add'), 10); // residuals where stride 1 and width unchanged
  assert.ok(countOps(mobilenet(), 'Clip') > 30);
  assert.equal(countOps(mobilenet({ activation: 'relu' }), 'Clip'), 0);
  assert.ok(floatParams(mobilenet({ widthMultiplier: 0.5 })) < 0.7 * floatParams(mobilenet()));
  assert.ok(countOps(mobilenet({ stages: 3 }), 'Conv') < countOps(mobilenet(), 'Conv'));
});

test('transformer layers, widths, and 2-D MatMul weight initializers', () => {
  const m = transformer();
  const g = m.graph!;
  assert.equal(countOps(m, 'LayerNormalization'), 2 * 4 + 1);
  assert.equal(countOps(m, 'Softmax'), 4);
  assert.equal(countOps(zooModel('transformer:layers=2,finalNorm=false'), 'LayerNormalization'), 4);
  // 6 weight MatMuls per layer (q, k, v, out, fc1, fc2), each on a 2-D initializer
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const weightMatMuls = g.node.filter((n) => n.opType === 'MatMul' && inits.has(n.input[1]!));
  assert.equal(weightMatMuls.length, 6 * 4);
  for (const n of weightMatMuls) assert.equal(inits.get(n.input[1]!)!.dims.length, 2);
  // per layer: 4·(d²+d) + (d·f+f) + (f·d+d) + 2 LayerNorms·2d; plus the final LayerNorm
  const d = 256,
    f = 1024;
  // −4: the scalar constants √dₕ, and √2, 1, ½ of the Erf-based Gelu
  assert.equal(floatParams(m) - 4, 4 * (4 * (d * d + d) + d * f + f + f * d + d + 4 * d) + 2 * d);
  assert.ok(countOps(m, 'Erf') === 4 && countOps(transformer({ activation: 'relu' }), 'Erf') === 0);
  const heads = g.initializer.find((t) => t.name === 'heads_shape')!;
  assert.deepEqual(Array.from(tensorArray(heads), Number), [0, 0, 4, 64]);
});
