// Constant folding turns weights kept in Constant nodes and constant chains (of any size, in subgraphs too)
// into initializers, and the folded model computes exactly what the original computes in ORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import type { GraphProto, ModelProto } from '../../src/ir/proto.js';
import { floatTensor, tensorArray } from '../../src/ir/tensor.js';
import { nodeGraphs } from '../../src/ir/walk.js';
import { foldConstants, foldedCopy } from '../../src/passes/fold.js';
import { modelWeights } from '../../src/ops/weights.js';
import { fromHalf, toHalf } from '../../src/quantize/math.js';
import {
  constant,
  constantNodeModel,
  constantOfShapeModel,
  dequantizeModel,
  floatFeed,
  ifModel,
  runOrt,
  wave,
} from '../helpers/weight-models.js';

type Feeds = Record<string, ort.Tensor>;

/** Op types of every graph, subgraphs as 'If{then:[…] else:[…]}'. */
function ops(g: GraphProto): string[] {
  return g.node.map((n) => {
    const subs = nodeGraphs(n);
    return subs.length ? `${n.opType}{${subs.map((s) => `${s.attr}:${ops(s.graph).join(',')}`).join(' ')}}` : n.opType!;
  });
}

/** Bits of every output, so -0, NaN payloads and infinities must match too. */
function bits(out: Record<string, ort.Tensor>): Record<string, number[]> {
  const r: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(out)) {
    const d = t.data as ArrayLike<number | bigint | boolean>;
    r[k] = d instanceof Float32Array ? Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length)) : Array.from(d, Number);
  }
  return r;
}

/**
 * Folds a copy of `model` and checks ORT's outputs against the original's: bit for bit where the outputs are
 * the folded values themselves (`exact`), else to float rounding, since ORT's MatMul and Gemm pack a constant
 * weight ahead of time and sum in another order than with a weight computed at run time.
 */
async function foldChecked(model: ModelProto, feeds: Feeds, exact = false): Promise<{ folded: ModelProto; count: number }> {
  const before = JSON.stringify(ops(model.graph!));
  const { model: folded, folded: count } = foldedCopy(model);
  assert.equal(JSON.stringify(ops(model.graph!)), before, 'foldedCopy leaves its input alone');
  const [got, want] = [await runOrt(folded, feeds), await runOrt(model, feeds)];
  if (exact) {
    assert.deepEqual(bits(got), bits(want));
  } else {
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const [k, t] of Object.entries(want)) {
      const [a, b] = [got[k]!.data as Float32Array, t.data as Float32Array];
      assert.equal(a.length, b.length, k);
      b.forEach((w, i) => assert.ok(Math.abs(a[i]! - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${k}[${i}]: ${a[i]} vs ${w}`));
    }
  }
  return { folded, count };
}

test('Constant-node weights become initializers', async () => {
  const { folded, count } = await foldChecked(constantNodeModel(), { x: floatFeed([3, 8]) });
  assert.equal(count, 3);
  assert.deepEqual(ops(folded.graph!), ['MatMul', 'Add', 'Relu', 'Reshape']);
  assert.deepEqual(
    folded.graph!.initializer.map((t) => t.name),
    ['w', 'b', 'shape'],
  );
  assert.deepEqual(modelWeights(folded).params, 144);
});

test('a 4M-element ConstantOfShape → Cast → Reshape weight and an fp16 → Cast bias are computed', async () => {
  const { folded, count } = await foldChecked(constantOfShapeModel(2048, 2048, 0.0123), { x: floatFeed([1, 2048]) });
  assert.equal(count, 4);
  assert.deepEqual(ops(folded.graph!), ['MatMul', 'Add']);
  const w = folded.graph!.initializer.find((t) => t.name === 'w')!;
  assert.deepEqual([w.dataType, w.dims], [DataType.FLOAT, [2048, 2048]]);
  const fill = fromHalf(toHalf(0.0123));
  assert.ok(fill !== 0.0123 && (tensorArray(w) as Float32Array).every((v) => v === fill), 'the fp16 fill, widened exactly');
});

test('DequantizeLinear of int8 weights and int32 biases folds to ORT’s float values', async () => {
  const { folded } = await foldChecked(dequantizeModel(), { x: floatFeed([2, 8]) });
  assert.deepEqual(ops(folded.graph!), ['Gemm']);
  assert.deepEqual(
    folded.graph!.initializer.map((t) => [t.name, t.dataType]),
    [
      ['w', DataType.FLOAT],
      ['bias', DataType.FLOAT],
    ],
  );
});

test('DequantizeLinear per tensor with a zero point, per axis, and blocked int4 (opset 21)', async () => {
  const b = new GraphBuilder('dq');
  const outs = [
    b.op('DequantizeLinear', [
      b.initializer(
        'u8',
        DataType.UINT8,
        [3, 4],
        Uint8Array.from({ length: 12 }, (_, i) => i * 21),
      ),
      b.floatInit('s0', [], [0.037]),
      b.initializer('z0', DataType.UINT8, [], Uint8Array.of(131)),
    ]),
    b.op(
      'DequantizeLinear',
      [
        b.initializer(
          'i8',
          DataType.INT8,
          [3, 4],
          Int8Array.from({ length: 12 }, (_, i) => i * 23 - 128),
        ),
        b.floatInit('s1', [4], [0.1, 0.02, 3, 1e-3]),
        b.initializer('z1', DataType.INT8, [4], Int8Array.of(0, -3, 7, 127)),
      ],
      { axis: 1 },
    ),
    // int4 packed low nibble first: 8 values per row in 4 bytes; blocks of 4 along axis 1 (2 scales per row).
    b.op(
      'DequantizeLinear',
      [
        b.initializer('i4', DataType.INT4, [2, 8], Uint8Array.of(0x10, 0x32, 0x98, 0xf7, 0x8f, 0x01, 0x7e, 0x25)),
        b.floatInit('s2', [2, 2], [0.5, 0.25, 2, 0.125]),
      ],
      { axis: 1, block_size: 4 },
    ),
  ];
  b.input('x', DataType.FLOAT, [1]);
  outs.forEach((o, i) => b.op('Mul', [o, 'x'], {}, { output: `y${i}` }));
  outs.forEach((_, i) => b.output(`y${i}`, DataType.FLOAT));
  const { folded, count } = await foldChecked(b.model({ opset: 21 }), { x: new ort.Tensor('float32', Float32Array.of(1), [1]) }, true);
  assert.equal(count, 3);
  assert.deepEqual(ops(folded.graph!), ['Mul', 'Mul', 'Mul']);
});

test('Cast rounds as ORT does: fp16 and bf16 ties, overflow to inf, subnormals, NaN, ints', async () => {
  const values = [
    0,
    -0,
    1,
    1 / 3,
    65504,
    65519.99,
    65520,
    70000,
    -1e9,
    5.96e-8,
    2.98e-8,
    2.99e-8,
    1e-10,
    1.00048828125,
    1.0009765625 + 2 ** -11,
    NaN,
    Infinity,
    -3.7,
    3.7,
    100.5,
  ];
  const b = new GraphBuilder('casts');
  b.input('x', DataType.FLOAT, [1]);
  const f = b.floatInit('f', [values.length], values);
  const f16 = b.initializer('h', DataType.FLOAT16, [values.length], Uint16Array.from(values, toHalf));
  const i64 = b.initializer('l', DataType.INT64, [4], BigInt64Array.of(-1n, 2n ** 40n + 1n, 0n, -(2n ** 62n)));
  const casts: [string, number][] = [
    [f, DataType.FLOAT16],
    [f16, DataType.FLOAT],
    [i64, DataType.FLOAT],
    [i64, DataType.INT32],
    [f, DataType.BOOL],
    [f16, DataType.DOUBLE],
  ];
  casts.forEach(([src, to], i) => b.op('Cast', [src], { to }, { output: `c${i}` }));
  // bfloat16 is checked through a round trip: ORT's Node binding has no bfloat16 tensors.
  const back = b.op('Cast', [b.op('Cast', [f], { to: DataType.BFLOAT16 })], { to: DataType.FLOAT });
  const ints = b.initializer('small', DataType.FLOAT, [4], Float32Array.of(-3.7, 3.7, 100.5, -128));
  b.op('Cast', [ints], { to: DataType.INT8 }, { output: 'i8' });
  b.op('Add', [back, 'x'], {}, { output: 'bf' });
  casts.forEach(([, to], i) => b.output(`c${i}`, to));
  b.output('i8', DataType.INT8);
  b.output('bf', DataType.FLOAT);
  const { folded } = await foldChecked(b.model({ opset: 13 }), { x: new ort.Tensor('float32', Float32Array.of(0), [1]) }, true);
  assert.equal(folded.graph!.node.filter((n) => n.opType === 'Cast').length, 0);
});

test('Transpose of any rank and element width, int64 bit patterns kept', async () => {
  const b = new GraphBuilder('transposes');
  b.input('x', DataType.FLOAT, [1]);
  const f = b.floatInit('f', [2, 3, 4], wave(24, 12));
  const l = b.initializer('l', DataType.INT64, [3, 2], BigInt64Array.of(-1n, 0n, -(2n ** 63n), 2n ** 63n - 1n, -5n, 9n));
  const h = b.initializer('h', DataType.FLOAT16, [4, 1, 3], Uint16Array.from(wave(12, 13), toHalf));
  const u = b.initializer(
    'u',
    DataType.UINT8,
    [5, 2],
    Uint8Array.from({ length: 10 }, (_, i) => i * 25),
  );
  b.op('Transpose', [f], { perm: [2, 0, 1] }, { output: 't0' });
  b.op('Transpose', [l], {}, { output: 't1' });
  b.op('Transpose', [h], { perm: [1, 2, 0] }, { output: 't2' });
  b.op('Transpose', [u], { perm: [1, 0] }, { output: 't3' });
  ['t0', 't1', 't2', 't3'].forEach((o, i) => b.output(o, [DataType.FLOAT, DataType.INT64, DataType.FLOAT16, DataType.UINT8][i]!));
  const { count } = await foldChecked(b.model({ opset: 13 }), { x: new ort.Tensor('float32', Float32Array.of(0), [1]) }, true);
  assert.equal(count, 4);
});

test('in If branches: Constant nodes become the branch’s initializers, chains of outer weights fold inside', async () => {
  const model = ifModel();
  for (const cond of [true, false])
    await foldChecked(model, { x: floatFeed([1, 4]), cond: new ort.Tensor('bool', Uint8Array.of(cond ? 1 : 0), []) });
  const { model: folded } = foldedCopy(model);
  assert.deepEqual(ops(folded.graph!), ['If{then_branch:MatMul,MatMul else_branch:MatMul,MatMul,Mul}']);
  const [then, other] = nodeGraphs(folded.graph!.node[0]!).map((s) => s.graph);
  assert.deepEqual(
    then!.initializer.map((t) => t.name),
    ['then_w', 'then_outer_t'],
  );
  assert.deepEqual(
    other!.initializer.map((t) => t.name),
    ['else_w', 'else_half', 'else_outer_t'],
  );
  assert.deepEqual(
    folded.graph!.initializer.map((t) => t.name),
    ['outer'],
    'the outer weight stays where it is',
  );
});

test('in a Loop body: a Constant weight folds, while body inputs shadow outer constants of the same name', async () => {
  const b = new GraphBuilder('loop');
  b.input('x', DataType.FLOAT, [1, 4]);
  b.floatInit('state', [1, 4], wave(4, 14)); // shadowed by the body's carried input of the same name
  const body = new GraphBuilder('body');
  body.input('i', DataType.INT64, []);
  body.input('c', DataType.BOOL, []);
  body.input('state', DataType.FLOAT, [1, 4]);
  const w = body.op('Transpose', [constant(body, floatTensor('', [4, 4], wave(16, 15)))], { perm: [1, 0] });
  body.op('Identity', ['c'], {}, { output: 'c_out' });
  const s = body.op('Identity', ['state']); // would fold to the outer 'state' if the body input did not shadow it
  body.op('Tanh', [body.op('Add', [body.op('MatMul', [s, w]), s])], {}, { output: 'state_out' });
  body.output('c_out', DataType.BOOL, []);
  body.output('state_out', DataType.FLOAT, [1, 4]);
  b.op('Loop', [b.int64Init('trips', [3]), '', 'x'], { body: body.graph }, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 4]);
  const { folded, count } = await foldChecked(b.model({ opset: 13 }), { x: floatFeed([1, 4]) });
  assert.equal(count, 2);
  assert.deepEqual(ops(folded.graph!), ['Loop{body:Identity,Identity,MatMul,Add,Tanh}']);
});

test('weights in external data fold once loaded, and are left alone when not loaded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-fold-'));
  try {
    const path = join(dir, 'qdq.onnx');
    saveModel(dequantizeModel(), path, { externalData: true, sizeThreshold: 16 });
    const feeds = { x: floatFeed([2, 8]) };
    const { folded } = await foldChecked(loadModel(path), feeds);
    assert.deepEqual(ops(folded.graph!), ['Gemm']);
    const lazy = loadModel(path, { externalData: false });
    foldConstants(lazy);
    assert.ok(
      lazy.graph!.node.some((n) => n.opType === 'DequantizeLinear'),
      'no values to compute from',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('initializers that are graph inputs are not folded; a folded graph output keeps an Identity', async () => {
  const b = new GraphBuilder('io');
  b.input('x', DataType.FLOAT, [2]);
  const d = b.floatInit('d', [2], [1, 2]);
  b.graph.input.push({ name: d, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } }, metadataProps: [] });
  b.op('Add', ['x', b.op('Neg', [d])], {}, { output: 'y' });
  b.op('Cast', [b.floatInit('k', [2], [3, 4])], { to: DataType.FLOAT16 }, { output: 'z' });
  b.output('y', DataType.FLOAT, [2]);
  b.output('z', DataType.FLOAT16, [2]);
  const { folded, count } = await foldChecked(b.model({ opset: 13 }), { x: floatFeed([2]) }, true);
  assert.equal(count, 1);
  assert.deepEqual(ops(folded.graph!), ['Neg', 'Add', 'Identity']);
  assert.deepEqual(Array.from(tensorArray(folded.graph!.initializer.find((t) => t.name === 'z_const')!) as Uint16Array), [
    toHalf(3),
    toHalf(4),
  ]);
});

test('Shape and Size of a tensor with static dims fold (whatever it holds); symbolic dims do not', async () => {
  const build = (batch: number | string) => {
    const b = new GraphBuilder('meta');
    const x = b.input('x', DataType.FLOAT, [batch, 3, 4]);
    const y = b.op('Relu', [x]);
    // x / Size(y) as float, and Reshape(y, Shape(x)): the pattern of BatchNormalization's gradient.
    const n = b.op('Cast', [b.op('Size', [y])], { to: DataType.FLOAT });
    const scaled = b.op('Div', [y, n]);
    b.op('Reshape', [scaled, b.op('Shape', [x])], {}, { output: 'out' });
    b.output('out', DataType.FLOAT, [batch, 3, 4]);
    return b.model();
  };
  const fixed = build(2);
  const folded = foldedCopy(fixed);
  assert.equal(folded.folded, 3, 'Size, its Cast and Shape');
  assert.deepEqual(ops(folded.model.graph!), ['Relu', 'Div', 'Reshape']);
  const feed = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 24 }, (_, i) => i - 11),
      [2, 3, 4],
    ),
  };
  assert.deepEqual(bits(await runOrt(folded.model, feed)), bits(await runOrt(fixed, feed)));
  const symbolic = foldedCopy(build('N'));
  assert.equal(symbolic.folded, 0, 'a symbolic batch leaves Shape and Size to run time');
});

test('Size in a Loop body stays: a carried value can change shape from one iteration to the next', async () => {
  const b = new GraphBuilder('growing');
  b.input('x', DataType.FLOAT, [1]);
  const body = new GraphBuilder('body');
  body.input('i', DataType.INT64, []);
  body.input('c', DataType.BOOL, []);
  body.input('state', DataType.FLOAT, [1]); // as declared; the Concat doubles it every iteration
  body.op('Identity', ['c'], {}, { output: 'c_out' });
  body.op('Concat', ['state', 'state'], { axis: 0 }, { output: 'state_out' });
  body.op('Cast', [body.op('Size', ['state'])], { to: DataType.FLOAT }, { output: 'size' });
  body.output('c_out', DataType.BOOL, []);
  body.output('state_out', DataType.FLOAT, ['n']);
  body.output('size', DataType.FLOAT, []);
  b.opN('Loop', [b.int64Init('trips', [3]), '', 'x'], 2, { body: body.graph }, { outputs: ['final', 'sizes'] });
  b.output('final', DataType.FLOAT, ['m']);
  b.output('sizes', DataType.FLOAT, [3]);
  const { folded } = await foldChecked(b.model({ opset: 13 }), { x: floatFeed([1]) }, true);
  assert.deepEqual(Array.from((await runOrt(folded, { x: floatFeed([1]) })).sizes!.data as Float32Array), [1, 2, 4]);
});
