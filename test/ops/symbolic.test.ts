// Symbolic dims, dims/shapes overrides, strict mode, per-node errors, topological order and subgraphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, makeNode, valueInfo, emptyGraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { HoneError } from '../../src/errors.js';
import { createOpContext, inferShapes } from '../../src/ops/infer.js';
import { getOpRule } from '../../src/ops/registry.js';
import { tensorNumbers } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/ir/codec.js';
import * as ort from 'onnxruntime-node';

const F = DataType.FLOAT;
const zeros = (n: number) => new Float32Array(n);

function mlp() {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 16]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.floatInit('w1', [16, 32], zeros(512))]), b.floatInit('b1', [32], zeros(32))])]);
  const y = b.op('Softmax', [b.op('MatMul', [h, b.floatInit('w2', [32, 10], zeros(320))])]);
  b.output(y, F);
  return { model: b.model(), y, h };
}

test('batch stays symbolic through an MLP; dims fixes it', () => {
  const { model, y, h } = mlp();
  assert.deepEqual(inferShapes(model).types.get(y)?.shape, ['batch', 10]);
  assert.deepEqual(inferShapes(model).types.get(h)?.shape, ['batch', 32]);
  assert.deepEqual(inferShapes(model, { dims: { batch: 8 } }).types.get(y)?.shape, [8, 10]);
  assert.deepEqual(inferShapes(model, { shapes: { x: [3, 16] } }).types.get(y)?.shape, [3, 10]);
  assert.throws(
    () => inferShapes(model, { shapes: { nope: [1] } }),
    (e: Error) => e instanceof HoneError && /no input named 'nope'/.test(e.message),
  );
});

test('broadcasting: a symbol with 1 keeps the symbol, two different symbols give a fresh one', () => {
  const b = new GraphBuilder();
  const a = b.input('a', F, ['batch', 1, 'seq']);
  const c = b.input('c', F, [4, 'seq']);
  const d = b.input('d', F, ['other']);
  const s1 = b.op('Add', [a, c]);
  const s2 = b.op('Mul', [c, d]);
  const s3 = b.op('Sub', [b.input('e', F, [4, 1]), b.input('f', F, ['n'])]);
  const inf = inferShapes(b.model());
  assert.deepEqual(inf.types.get(s1)?.shape, ['batch', 4, 'seq']);
  const [four, fresh] = inf.types.get(s2)!.shape!;
  assert.equal(four, 4);
  assert.match(String(fresh), /^unk__\d+$/);
  assert.deepEqual(inf.types.get(s3)?.shape, [4, 'n']);
});

test('Reshape, Flatten, Conv and Concat keep symbols where the arithmetic allows', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 3, 4]);
  const r1 = b.op('Reshape', [x, b.int64Init('s', [0, -1])]);
  const r2 = b.op('Reshape', [r1, b.int64Init('s', [-1, 3, 4])]);
  const fl = b.op('Flatten', [x], { axis: 1 });
  const img = b.input('img', F, ['n', 3, 'h', 'w']);
  const same = b.op('Conv', [img, b.floatInit('k', [8, 3, 3, 3], zeros(216))], { pads: [1, 1, 1, 1] });
  const strided = b.op('Conv', [img, b.floatInit('k', [8, 3, 3, 3], zeros(216))], { pads: [1, 1, 1, 1], strides: [2, 2] });
  const cat = b.op('Concat', [x, x], { axis: 0 });
  const inf = inferShapes(b.model());
  assert.deepEqual(inf.types.get(r1)?.shape, ['batch', 12]);
  assert.deepEqual(inf.types.get(r2)?.shape, ['batch', 3, 4]);
  assert.deepEqual(inf.types.get(fl)?.shape, ['batch', 12]);
  assert.deepEqual(inf.types.get(same)?.shape, ['n', 8, 'h', 'w']);
  const s = inf.types.get(strided)!.shape!;
  assert.deepEqual(s.slice(0, 2), ['n', 8]);
  assert.ok(typeof s[2] === 'string' && s[2] !== 'h', 'a strided conv of a symbolic size gives a fresh symbol');
  assert.deepEqual(inf.types.get(cat)!.shape!.slice(1), [3, 4]);
});

test('shape arithmetic folds: constants hold Shape/Gather/Concat results and reach Reshape', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 3, 4]);
  const s = b.op('Shape', [x]);
  const n = b.op('Gather', [s, b.int64Init('i', [0])], { axis: 0 });
  const prod = b.op('ReduceProd', [b.op('Slice', [s, b.int64Init('a', [1]), b.int64Init('z', [9])])], { keepdims: 1 });
  const target = b.op('Concat', [n, prod], { axis: 0 });
  const y = b.op('Reshape', [x, target]);
  const inf = inferShapes(b.model({ opset: 17 }));
  assert.deepEqual(tensorNumbers(inf.constants.get(target)!), [2, 12]);
  assert.deepEqual(inf.types.get(y)?.shape, [2, 12]);
  assert.ok(inf.constants.has('i_1') || [...inf.constants.keys()].some((k) => k.startsWith('i')), 'initializers are constants');
});

test('nodes are inferred in topological order, not file order', () => {
  const g = emptyGraph();
  g.input.push(valueInfo('x', F, [2, 3]));
  g.node.push(makeNode('Relu', ['t'], ['y']), makeNode('Transpose', ['x'], ['t']));
  g.output.push(valueInfo('y', F));
  const inf = inferShapes({ ...new GraphBuilder().model(), graph: g });
  assert.deepEqual(
    inf.order.map((n) => n.opType),
    ['Transpose', 'Relu'],
  );
  assert.deepEqual(inf.types.get('y')?.shape, [3, 2]);
});

test('invalid inputs are per-node errors; strict mode throws a HoneError naming node, op and fix', () => {
  const b = new GraphBuilder();
  const a = b.input('a', F, [2, 3]);
  const bad = b.op('MatMul', [a, b.floatInit('w', [4, 5], zeros(20))], {}, { name: 'proj' });
  b.output(b.op('Relu', [bad]), F);
  const model = b.model();
  const inf = inferShapes(model);
  assert.equal(inf.errors.length, 1);
  assert.match(inf.errors[0]!.message, /proj.*MatMul.*inner dims differ/);
  assert.throws(
    () => inferShapes(model, { strict: true }),
    (e: Error) => e instanceof HoneError && /proj.*MatMul.*--shape/.test(e.message),
  );

  const u = new GraphBuilder();
  u.output(u.op('Frobnicate', [u.input('x', F, [1])], {}, { name: 'f' }), F);
  assert.deepEqual(
    inferShapes(u.model()).unknownOps.map((n) => n.opType),
    ['Frobnicate'],
  );
  assert.throws(() => inferShapes(u.model(), { strict: true }), /node 'f' \(Frobnicate\): Hone has no shape rule/);

  const r = new GraphBuilder();
  const x = r.input('x', F, [4]);
  r.output(r.op('Reshape', [x, r.input('shape', DataType.INT64, [2])]), F);
  assert.equal(inferShapes(r.model()).errors.length, 0);
  // A shape target of unknown length leaves the rank unknown: fine by default, an error when strict.
  const rankless = new GraphBuilder();
  const shapeIn = rankless.input('target', DataType.INT64, ['n']);
  rankless.output(rankless.op('Reshape', [rankless.input('v', F, [4]), shapeIn], {}, { name: 'rs' }), F);
  assert.deepEqual(inferShapes(rankless.model()).errors, []);
  assert.throws(
    () => inferShapes(rankless.model(), { strict: true }),
    /node 'rs' \(Reshape\): the shape of output .* cannot be inferred; pass --shape/,
  );
  const bcast = new GraphBuilder();
  bcast.op('Add', [bcast.input('p', F, [2, 3]), bcast.input('q', F, [4, 3])], {}, { name: 'sum' });
  assert.match(inferShapes(bcast.model()).errors[0]!.message, /cannot be broadcast \(2 vs 4\)/);
});

test('If takes its outputs from the branches (merged, or the taken branch when the condition is constant)', () => {
  const branch = (dims: number[], name: string) => {
    const g = emptyGraph(name);
    g.node.push(makeNode('Reshape', ['x', `${name}_shape`], [`${name}_out`]));
    g.initializer.push({
      name: `${name}_shape`,
      dataType: DataType.INT64,
      dims: [dims.length],
      int64Data: BigInt64Array.from(dims, BigInt),
      stringData: [],
      externalData: [],
      metadataProps: [],
    });
    g.output.push(valueInfo(`${name}_out`, F));
    return g;
  };
  const b = new GraphBuilder();
  b.input('x', F, [2, 6]);
  const c = b.input('c', DataType.BOOL, []);
  const y = b.op('If', [c], { then_branch: branch([3, 4], 'then'), else_branch: branch([3, 2, 2], 'else') });
  const z = b.op('If', [c], { then_branch: branch([3, 4], 't2'), else_branch: branch([4, 3], 'e2') });
  const k = b.op('If', [b.initializer('yes', DataType.BOOL, [], Uint8Array.of(1))], {
    then_branch: branch([12], 't3'),
    else_branch: branch([6, 2], 'e3'),
  });
  const inf = inferShapes(b.model());
  assert.deepEqual(inf.errors, []);
  assert.equal(inf.types.get(y)?.shape, undefined, 'branches of different rank: rank unknown');
  assert.equal(inf.types.get(y)?.elemType, F);
  assert.equal(inf.types.get(z)?.shape?.length, 2);
  assert.deepEqual(inf.types.get(k)?.shape, [12]);
});

test('Loop: carried state keeps its type, scan outputs gain the trip count', () => {
  const body = emptyGraph('body');
  body.input.push(valueInfo('i', DataType.INT64, []), valueInfo('cond', DataType.BOOL, []), valueInfo('acc', F, [3]));
  body.node.push(
    makeNode('Add', ['acc', 'x'], ['acc2']),
    makeNode('Identity', ['cond'], ['cond2']),
    makeNode('Unsqueeze', ['acc2', 'ax'], ['row']),
  );
  body.initializer.push({
    name: 'ax',
    dataType: DataType.INT64,
    dims: [1],
    int64Data: BigInt64Array.of(0n),
    stringData: [],
    externalData: [],
    metadataProps: [],
  });
  body.output.push(valueInfo('cond2', DataType.BOOL, []), valueInfo('acc2', F), valueInfo('row', F));
  const b = new GraphBuilder();
  b.input('x', F, [3]);
  const [acc, rows] = b.opN('Loop', [b.initializer('n', DataType.INT64, [], BigInt64Array.of(5n)), '', 'x'], 2, { body });
  const model = b.model();
  const inf = inferShapes(model);
  assert.deepEqual(inf.errors, []);
  assert.deepEqual(inf.types.get(acc!)?.shape, [3]);
  assert.deepEqual(inf.types.get(rows!)?.shape, [5, 1, 3]);
});

test('createOpContext lets other code evaluate rules on an inferred model', () => {
  const { model } = mlp();
  const inf = inferShapes(model, { dims: { batch: 4 } });
  const node = model.graph!.node.find((n) => n.opType === 'MatMul')!;
  const ctx = createOpContext(model, inf, node);
  assert.deepEqual(
    ctx.inputs.map((t) => t?.shape),
    [
      [4, 16],
      [16, 32],
    ],
  );
  assert.equal(ctx.opset, 21);
  const rule = getOpRule(node.domain, node.opType!)!;
  assert.deepEqual(rule.infer(ctx), [{ elemType: F, shape: [4, 32] }]);
  assert.ok(ctx.constant(1), 'weights are known constants');
});

test('dynamic-shape chains keep their symbols (PyTorch export with dynamic batch and sequence)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 'seq', 64]);
  const s = b.op('Shape', [x]);
  const scalar = (v: number) => b.initializer('k', DataType.INT64, [], BigInt64Array.of(BigInt(v)));
  const bt = b.op('Gather', [s, scalar(0)], { axis: 0 });
  const sq = b.op('Gather', [s, scalar(1)], { axis: 0 });
  const u = (v: string) => b.op('Unsqueeze', [v, b.int64Init('ax', [0])]);
  const heads = b.op('Reshape', [x, b.op('Concat', [u(bt), u(sq), b.int64Init('hd', [4, 16])], { axis: 0 })]);
  const back = b.op('Reshape', [
    b.op('Transpose', [heads], { perm: [0, 1, 2, 3] }),
    b.op('Concat', [u(bt), u(sq), b.int64Init('m1', [-1])], { axis: 0 }),
  ]);
  const flat = b.op('Reshape', [x, b.op('Concat', [u(b.op('Mul', [bt, sq])), b.int64Init('d', [64])], { axis: 0 })]);
  const pos = b.op('Range', [scalar(0), sq, scalar(1)]);
  const zeros = b.op('ConstantOfShape', [s]);
  const ex = b.op('Expand', [b.floatInit('one', [1], [1]), s]);
  const tail = b.op('Slice', [s, b.int64Init('st', [-1]), b.int64Init('en', [2 ** 40])]);
  const outs = [heads, back, flat, pos, zeros, ex];
  for (const o of outs) b.output(o, o === pos ? DataType.INT64 : F);
  const model = b.model();
  const inf = inferShapes(model);
  assert.deepEqual(inf.errors, []);
  assert.deepEqual(inf.types.get(heads)?.shape, ['batch', 'seq', 4, 16]);
  assert.deepEqual(inf.types.get(back)?.shape, ['batch', 'seq', 64]);
  const [n, d] = inf.types.get(flat)!.shape!;
  assert.match(String(n), /^unk__/);
  assert.equal(d, 64);
  assert.deepEqual(inf.types.get(pos)?.shape, ['seq']);
  assert.deepEqual(inf.types.get(zeros)?.shape, ['batch', 'seq', 64]);
  assert.deepEqual(inf.types.get(ex)?.shape, ['batch', 'seq', 64]);
  assert.deepEqual(inf.symbolic.get(s), ['batch', 'seq', 64]);
  assert.deepEqual(tensorNumbers(inf.constants.get(tail)!), [64], 'a numeric slice of a symbolic shape is a constant');

  // The same model in ORT with batch=2, seq=5: substituting the symbols gives the real shapes.
  const session = await ort.InferenceSession.create(encodeModel(model));
  const res = await session.run({ x: new ort.Tensor('float32', new Float32Array(2 * 5 * 64), [2, 5, 64]) });
  const sub = (shape: (number | string)[]) => shape.map((v) => (v === 'batch' ? 2 : v === 'seq' ? 5 : v));
  for (const o of [heads, back, pos, zeros, ex]) assert.deepEqual([...res[o]!.dims], sub(inf.types.get(o)!.shape!), o);
  assert.deepEqual(inferShapes(model, { dims: { batch: 2, seq: 5 } }).types.get(flat)?.shape, [10, 64]);
  await session.release();
});

test('sequences are tracked beside tensor types: element types, lengths, symbolic dims', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, ['batch', 6]);
  const parts = b.op('SplitToSequence', [x, b.int64Init('sizes', [1, 2, 3])], { axis: 1 });
  const len = b.op('SequenceLength', [parts]);
  const last = b.op('SequenceAt', [parts, b.initializer('i', DataType.INT64, [], BigInt64Array.of(-1n))]);
  const any = b.op('SequenceAt', [parts, b.input('k', DataType.INT64, [])]);
  const joined = b.op('ConcatFromSequence', [parts], { axis: 1 });
  const inf = inferShapes(b.model());
  assert.deepEqual(inf.errors, []);
  assert.deepEqual(
    inf.sequences.get(parts)?.items?.map((t) => t.shape),
    [
      ['batch', 1],
      ['batch', 2],
      ['batch', 3],
    ],
  );
  assert.equal(inf.types.has(parts), false, 'a sequence is not a tensor type');
  assert.deepEqual(tensorNumbers(inf.constants.get(len)!), [3]);
  assert.deepEqual(inf.types.get(last)?.shape, ['batch', 3]);
  const [bt, d] = inf.types.get(any)!.shape!;
  assert.equal(bt, 'batch');
  assert.match(String(d), /^unk__/, 'an element at an unknown position: dims that differ become a symbol');
  assert.deepEqual(inf.types.get(joined)?.shape, ['batch', 6]);
});

test('constants whose external data is not loaded do not break inference', () => {
  const b = new GraphBuilder();
  const x = b.input('x', F, [2, 6]);
  b.graph.initializer.push({
    name: 'target',
    dataType: DataType.INT64,
    dims: [2],
    dataLocation: 1,
    stringData: [],
    metadataProps: [],
    externalData: [
      { key: 'location', value: 'weights.bin' },
      { key: 'offset', value: '0' },
      { key: 'length', value: '16' },
    ],
  });
  const y = b.op('Reshape', [x, 'target']);
  const z = b.op('Add', [b.op('Shape', [y]), b.op('Cast', ['target'], { to: DataType.INT64 })]);
  const inf = inferShapes(b.model());
  assert.deepEqual(inf.errors, []);
  const s = inf.types.get(y)!.shape!;
  assert.equal(s.length, 2, 'the target is unknown but its length is not');
  assert.ok(s.every((d) => typeof d === 'string'));
  assert.deepEqual(inf.types.get(z)?.shape, [2]);
});

test("pads built as Concat(Split(constant)) (tf2onnx) are evaluated, so Pad's output dims stay concrete", () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 3, 8, 8]);
  const all = b.int64Init('all', [0, 0, 1, 2, 0, 0, 1, 2]);
  const parts = b.opN('Split', [all], 4, { axis: 0 }, { outputs: ['p0', 'p1', 'p2', 'p3'] });
  const pads = b.op('Concat', parts, { axis: 0 });
  b.op('Pad', [x, pads], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, undefined);
  const inf = inferShapes(b.model({ opset: 13 }));
  assert.deepEqual(inf.types.get('p1')!.shape, [2]);
  assert.deepEqual(tensorNumbers(inf.constants.get('p1')!), [1, 2]);
  assert.deepEqual(inf.types.get('y')!.shape, [1, 3, 10, 12]);
});
