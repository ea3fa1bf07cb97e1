// Hand-checked MAC, flop and byte counts on small graphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, emptyGraph, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { inferShapes, nodeCosts } from '../../src/ops/infer.js';

const F = DataType.FLOAT;
const zeros = (dims: number[]) => new Float32Array(dims.reduce((a, b) => a * b, 1));

/** Costs of each node of a one-graph model, by op type (first node of each type). */
function costs(b: GraphBuilder, dims?: Record<string, number>) {
  const model = b.model();
  const inf = inferShapes(model, { dims });
  assert.deepEqual(inf.errors, []);
  return nodeCosts(model, inf);
}

test('Conv 1x3x8x8 with 4 3x3 filters, pad 1: 4*8*8*3*9 = 6912 MACs, bias adds 256 flops', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 3, 8, 8]);
  b.output(
    b.op('Conv', [x, b.floatInit('w', [4, 3, 3, 3], zeros([4, 3, 3, 3])), b.floatInit('b', [4], zeros([4]))], { pads: [1, 1, 1, 1] }),
    F,
  );
  const [c] = costs(b);
  assert.equal(c!.cost.macs, 6912);
  assert.equal(c!.cost.flops, 2 * 6912 + 4 * 64);
  assert.equal(c!.cost.bytesRead, 4 * (3 * 64 + 4 * 27 + 4));
  assert.equal(c!.cost.bytesWritten, 4 * 4 * 64);
  assert.equal(c!.known, true);
});

test('grouped and strided Conv: MACs use Cin/groups and the output size', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 4, 8, 8]);
  // group 2, stride 2, pad 1 → out 2x6x4x4; each output takes 2*3*3 MACs.
  b.output(b.op('Conv', [x, b.floatInit('w', [6, 2, 3, 3], zeros([6, 2, 3, 3]))], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }), F);
  const [c] = costs(b);
  assert.equal(c!.cost.macs, 2 * 6 * 4 * 4 * 2 * 9);
  assert.equal(c!.cost.flops, 2 * c!.cost.macs);
});

test('MatMul [2,3,4] x [4,5] = 2*3*5*4 = 120 MACs', () => {
  const b = new GraphBuilder();
  const a = b.input('a', F, [2, 3, 4]);
  b.output(b.op('MatMul', [a, b.floatInit('w', [4, 5], zeros([4, 5]))]), F);
  const [c] = costs(b);
  assert.equal(c!.cost.macs, 120);
  assert.equal(c!.cost.flops, 240);
  assert.equal(c!.cost.bytesRead, 4 * (24 + 20));
  assert.equal(c!.cost.bytesWritten, 4 * 30);
});

test('Gemm: M*N*K MACs plus one flop per output for the bias; transA reads K from the right dim', () => {
  const b = new GraphBuilder();
  const a = b.input('a', F, [3, 4]);
  b.output(b.op('Gemm', [a, b.floatInit('w', [5, 4], zeros([20])), b.floatInit('c', [5], zeros([5]))], { transB: 1 }), F);
  const at = b.input('at', F, [4, 3]);
  b.output(b.op('Gemm', [at, b.floatInit('w', [4, 5], zeros([20]))], { transA: 1 }), F);
  const [g1, g2] = costs(b);
  assert.equal(g1!.cost.macs, 3 * 5 * 4);
  assert.equal(g1!.cost.flops, 2 * 60 + 15);
  assert.equal(g2!.cost.macs, 60);
  assert.equal(g2!.cost.flops, 120);
});

test('ConvTranspose: every input element scatters into Cout/groups*kh*kw outputs', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 2, 3, 3]);
  b.output(b.op('ConvTranspose', [x, b.floatInit('w', [2, 3, 2, 2], zeros([24]))], { strides: [2, 2] }), F);
  const [c] = costs(b);
  assert.equal(c!.cost.macs, 18 * 3 * 4);
});

test('elementwise, pooling and data movement costs', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [1, 1, 4, 4]);
  const r = b.op('Relu', [x]);
  const p = b.op('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] });
  const t = b.op('Transpose', [p], { perm: [0, 1, 3, 2] });
  b.output(b.op('Sigmoid', [t]), F);
  const [relu, pool, tr, sig] = costs(b);
  assert.deepEqual(relu!.cost, { macs: 0, flops: 16, bytesRead: 64, bytesWritten: 64 });
  assert.deepEqual(pool!.cost, { macs: 0, flops: 4 * 4, bytesRead: 64, bytesWritten: 16 });
  assert.deepEqual(tr!.cost, { macs: 0, flops: 0, bytesRead: 16, bytesWritten: 16 });
  assert.ok(sig!.cost.flops > 4, 'a transcendental op costs more than one flop per element');
});

test('a 784-512-10 MLP: MACs scale with the batch fixed by dims; symbolic dims count as 1, never NaN', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 784]);
  const h = b.op('Relu', [b.op('Gemm', [x, b.floatInit('w1', [784, 512], zeros([784 * 512])), b.floatInit('b1', [512], zeros([512]))])]);
  b.output(b.op('Gemm', [h, b.floatInit('w2', [512, 10], zeros([5120])), b.floatInit('b2', [10], zeros([10]))]), F);
  const total = (d?: Record<string, number>) => costs(b, d).reduce((s, c) => s + c.cost.macs, 0);
  assert.equal(total({ batch: 8 }), 8 * (784 * 512 + 512 * 10));
  assert.equal(total(), 784 * 512 + 512 * 10);
  for (const c of costs(b)) for (const v of Object.values(c.cost)) assert.ok(Number.isFinite(v));
});

test('an op without a rule costs its known bytes and is marked unknown', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 2]);
  const y = b.op('Mystery', [x], {}, { domain: 'example.custom' });
  b.graph.valueInfo.push({
    name: y,
    type: { tensorType: { elemType: F, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } } },
    metadataProps: [],
  });
  b.output(b.op('Relu', [y]), F);
  const model = b.model({ extraOpsets: { 'example.custom': 1 } });
  const inf = inferShapes(model);
  assert.deepEqual(
    inf.unknownOps.map((n) => n.opType),
    ['Mystery'],
  );
  const [m, r] = nodeCosts(model, inf);
  assert.equal(m!.known, false);
  assert.deepEqual(m!.cost, { macs: 0, flops: 0, bytesRead: 16, bytesWritten: 16 });
  assert.equal(r!.known, true);
  assert.deepEqual(inf.types.get(r!.node.output[0]!)?.shape, [2, 2], 'declared value_info types flow past the unknown op');
});

test('LSTM: seq*batch*dirs*4*hidden*(input+hidden) MACs; Attention: QKᵀ plus softmax·V', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [5, 2, 3]);
  b.opN('LSTM', [x, b.floatInit('w', [2, 16, 3], zeros([96])), b.floatInit('r', [2, 16, 4], zeros([128]))], 3, {
    hidden_size: 4,
    direction: 'bidirectional',
  });
  const q = b.input('q', F, [2, 4, 3, 8]);
  const kv = b.input('kv', F, [2, 2, 5, 8]);
  b.op('Attention', [q, kv, kv]);
  const model = b.model({ opset: 23 });
  const inf = inferShapes(model);
  assert.deepEqual(inf.errors, []);
  const [lstm, att] = nodeCosts(model, inf);
  assert.equal(lstm!.cost.macs, 5 * 2 * 2 * 4 * 4 * (3 + 4));
  assert.equal(att!.cost.macs, 2 * 4 * 3 * 5 * 8 * 2);
});

test('Shape reads metadata only; Constant writes its value and reads nothing', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [8, 16]);
  b.output(b.op('Shape', [x]), DataType.INT64);
  b.output(b.op('Constant', [], { value_floats: { floats: [1, 2, 3] } }), F);
  const [shape, constant] = costs(b);
  assert.deepEqual(shape!.cost, { macs: 0, flops: 0, bytesRead: 0, bytesWritten: 16 });
  assert.deepEqual(constant!.cost, { macs: 0, flops: 0, bytesRead: 0, bytesWritten: 12 });
});

test('Loop costs its body times the trip count; If costs its costlier branch', () => {
  const body = emptyGraph('body');
  body.input.push(valueInfo('i', DataType.INT64, []), valueInfo('c', DataType.BOOL, []), valueInfo('h', F, [1, 4]));
  body.node.push(makeNode('MatMul', ['h', 'w'], ['h2']), makeNode('Identity', ['c'], ['c2']));
  body.output.push(valueInfo('c2', DataType.BOOL, []), valueInfo('h2', F, [1, 4]));
  const b = new GraphBuilder();
  b.floatInit('w', [4, 4], zeros([16]));
  const h = b.input('h0', F, [1, 4]);
  const looped = b.op('Loop', [b.initializer('trips', DataType.INT64, [], BigInt64Array.of(5n)), '', h], { body });
  const cheap = emptyGraph('cheap');
  cheap.node.push(makeNode('Relu', [looped], ['r']));
  cheap.output.push(valueInfo('r', F));
  const dear = emptyGraph('dear');
  dear.node.push(makeNode('MatMul', [looped, 'w'], ['m']));
  dear.output.push(valueInfo('m', F));
  b.output(b.op('If', [b.input('cond', DataType.BOOL, [])], { then_branch: cheap, else_branch: dear }), F);
  const [loop, iff] = costs(b);
  assert.equal(loop!.opType, 'Loop');
  assert.equal(loop!.cost.macs, 5 * 16);
  assert.equal(loop!.known, true);
  assert.equal(iff!.cost.macs, 16);
});
