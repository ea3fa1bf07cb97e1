import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { floatAttrKind } from '../../src/ir/attr-types.js';
import { GraphBuilder, makeAttribute, makeNode } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import { AttributeType, type NodeProto } from '../../src/ir/proto.js';
import { floatTensor } from '../../src/ir/tensor.js';

const typeName = (t: number | undefined) => Object.entries(AttributeType).find(([, v]) => v === t)?.[0];

const typeOf = (n: NodeProto, name: string) => {
  const a = n.attribute.find((x) => x.name === name);
  assert.ok(a, `attribute ${name} missing on ${n.opType}`);
  return typeName(a.type);
};

interface Case {
  name: string;
  opset: number;
  ms?: boolean;
  x: number[];
  dims: number[];
  /** Adds the node(s) under test; returns the output. */
  build(b: GraphBuilder, x: string): string;
  /** Attribute → the type it must be written with, on the last node. */
  types: Record<string, string>;
  expected: number[];
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

// Every float attribute below is integral and not the op's default, so a node written with INT types
// fails to load in ORT, and one whose value were read as the default would give other numbers.
const cases: Case[] = [
  {
    name: 'LeakyRelu alpha 1',
    opset: 21,
    x: [-2, 3],
    dims: [2],
    build: (b, x) => b.op('LeakyRelu', [x], { alpha: 1 }),
    types: { alpha: 'FLOAT' },
    expected: [-2, 3],
  },
  {
    name: 'Elu alpha 2',
    opset: 21,
    x: [-1, 2],
    dims: [2],
    build: (b, x) => b.op('Elu', [x], { alpha: 2 }),
    types: { alpha: 'FLOAT' },
    expected: [2 * (Math.exp(-1) - 1), 2],
  },
  {
    name: 'HardSigmoid alpha 1 beta 0',
    opset: 21,
    x: [-1, 0.25, 2],
    dims: [3],
    build: (b, x) => b.op('HardSigmoid', [x], { alpha: 1, beta: 0 }),
    types: { alpha: 'FLOAT', beta: 'FLOAT' },
    expected: [0, 0.25, 1],
  },
  {
    name: 'Selu alpha 2 gamma 3',
    opset: 21,
    x: [-1, 1],
    dims: [2],
    build: (b, x) => b.op('Selu', [x], { alpha: 2, gamma: 3 }),
    types: { alpha: 'FLOAT', gamma: 'FLOAT' },
    expected: [3 * 2 * (Math.exp(-1) - 1), 3],
  },
  {
    name: 'Gemm alpha 2 beta 3 transB 1',
    opset: 21,
    x: [1, 2],
    dims: [1, 2],
    build: (b, x) =>
      b.op('Gemm', [x, b.floatInit('w', [3, 2], [1, 0, 0, 1, 1, 1]), b.floatInit('c', [3], [1, 1, 1])], { alpha: 2, beta: 3, transB: 1 }),
    types: { alpha: 'FLOAT', beta: 'FLOAT', transB: 'INT' },
    expected: [5, 7, 9],
  },
  {
    // epsilon 0 against the default 1e-5 moves 1/sqrt(1e-4 + eps) by 5%.
    name: 'BatchNormalization epsilon 0 momentum 1',
    opset: 15,
    x: [1, 2],
    dims: [1, 2, 1, 1],
    build: (b, x) =>
      b.op(
        'BatchNormalization',
        [
          x,
          b.floatInit('scale', [2], [1, 1]),
          b.floatInit('bias', [2], [0, 0]),
          b.floatInit('mean', [2], [0, 0]),
          b.floatInit('var', [2], [1e-4, 4]),
        ],
        { epsilon: 0, momentum: 1 },
      ),
    types: { epsilon: 'FLOAT', momentum: 'FLOAT' },
    expected: [100, 1],
  },
  {
    name: 'Clip (opset 6) min 0 max 6',
    opset: 6,
    x: [-1, 3, 10],
    dims: [3],
    build: (b, x) => b.op('Clip', [x], { min: 0, max: 6 }),
    types: { min: 'FLOAT', max: 'FLOAT' },
    expected: [0, 3, 6],
  },
  {
    name: 'Constant value_float 3 and value_floats [1, 2]',
    opset: 21,
    x: [1, 2],
    dims: [2],
    build: (b, x) =>
      b.op('Add', [b.op('Add', [x, b.op('Constant', [], { value_float: 3 })]), b.op('Constant', [], { value_floats: [1, 2] })]),
    types: {},
    expected: [5, 7],
  },
  {
    name: 'com.microsoft QuickGelu alpha 2',
    opset: 21,
    ms: true,
    x: [1, -1],
    dims: [2],
    build: (b, x) => b.op('QuickGelu', [x], { alpha: 2 }, { domain: 'com.microsoft' }),
    types: { alpha: 'FLOAT' },
    expected: [sigmoid(2), -sigmoid(-2)],
  },
  {
    name: 'com.microsoft FusedConv activation Clip, activation_params [0, 6], group 1',
    opset: 21,
    ms: true,
    x: [-1, 3, 10],
    dims: [1, 1, 1, 3],
    build: (b, x) =>
      b.op(
        'FusedConv',
        [x, b.floatInit('w', [1, 1, 1, 1], [1])],
        { activation: 'Clip', activation_params: [0, 6], group: 1, kernel_shape: [1, 1] },
        { domain: 'com.microsoft' },
      ),
    types: { activation_params: 'FLOATS', group: 'INT', kernel_shape: 'INTS', activation: 'STRING' },
    expected: [0, 3, 6],
  },
];

async function run(c: Case): Promise<Float32Array> {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, c.dims);
  b.output(c.build(b, x), DataType.FLOAT);
  const model = b.model({ opset: c.opset, ...(c.ms ? { extraOpsets: { 'com.microsoft': 1 } } : {}) });
  const s = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(c.x), c.dims) });
    return out[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const c of cases) {
  test(`${c.name}: written as FLOAT(S), loads in ORT and computes with the given values`, async () => {
    const b = new GraphBuilder();
    const y = c.build(b, b.input('x', DataType.FLOAT, c.dims));
    const node = b.graph.node.find((n) => n.output.includes(y))!;
    for (const [name, type] of Object.entries(c.types)) assert.equal(typeOf(node, name), type, `${c.name}: ${name}`);
    const got = await run(c);
    assert.equal(got.length, c.expected.length);
    for (const [i, e] of c.expected.entries())
      assert.ok(Math.abs(got[i]! - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${c.name}[${i}]: ${got[i]} vs ${e}`);
  });
}

test('Constant value_float(s): integral values are written FLOAT and FLOATS', () => {
  assert.equal(typeOf(makeNode('Constant', [], ['c'], { value_float: 3 }), 'value_float'), 'FLOAT');
  const floats = makeNode('Constant', [], ['c'], { value_floats: [1, 2] });
  assert.equal(typeOf(floats, 'value_floats'), 'FLOATS');
  assert.deepEqual(floats.attribute[0]!.floats, [1, 2]);
  assert.deepEqual(floats.attribute[0]!.ints, []);
  // An empty list for a FLOATS attribute is FLOATS too.
  assert.equal(typeOf(makeNode('Upsample', ['x'], ['y'], { scales: [] }), 'scales'), 'FLOATS');
});

test('int attributes stay INT(S), and ops or domains the table does not know keep the int/float guess', () => {
  const conv = makeNode('Conv', ['x', 'w'], ['y'], { group: 1, kernel_shape: [1, 1], pads: [0, 0, 0, 0] });
  assert.equal(typeOf(conv, 'group'), 'INT');
  assert.equal(typeOf(conv, 'kernel_shape'), 'INTS');
  assert.equal(typeOf(makeNode('Gemm', ['a', 'b'], ['y'], { transB: 1, transA: 0 }), 'transB'), 'INT');
  assert.equal(typeOf(makeNode('Concat', ['a'], ['y'], { axis: 0 }), 'axis'), 'INT');
  assert.equal(typeOf(makeNode('LayerNormalization', ['x', 's'], ['y'], { axis: -1, epsilon: 0 }), 'axis'), 'INT');
  // Dropout's seed (opset 12+) is an INT, unlike RandomNormal's; LpPool's p is an INT from opset 2.
  assert.equal(typeOf(makeNode('Dropout', ['x'], ['y'], { seed: 1 }), 'seed'), 'INT');
  assert.equal(typeOf(makeNode('RandomNormal', [], ['y'], { seed: 1, mean: 0, scale: 1 }), 'seed'), 'FLOAT');
  assert.equal(typeOf(makeNode('LpPool', ['x'], ['y'], { p: 2 }), 'p'), 'INT');
  // Same attribute name, other op or domain: not a float there.
  assert.equal(typeOf(makeNode('MyOp', ['x'], ['y'], { alpha: 1 }), 'alpha'), 'INT');
  assert.equal(typeOf(makeNode('LeakyRelu', ['x'], ['y'], { alpha: 1 }, { domain: 'my.domain' }), 'alpha'), 'INT');
  assert.equal(typeOf(makeNode('LeakyRelu', ['x'], ['y'], { alpha: 1 }, { domain: 'ai.onnx' }), 'alpha'), 'FLOAT');
  // makeAttribute without an op: today's guess; the explicit forms still say it.
  assert.equal(makeAttribute('alpha', 1).type, AttributeType.INT);
  assert.equal(makeAttribute('alpha', [1, 2]).type, AttributeType.INTS);
  assert.equal(makeAttribute('alpha', 0.5).type, AttributeType.FLOAT);
  assert.equal(makeAttribute('alpha', { float: 1 }).type, AttributeType.FLOAT);
  assert.equal(makeAttribute('alpha', 1, { opType: 'LeakyRelu' }).type, AttributeType.FLOAT);
  assert.equal(makeAttribute('activation_params', [0, 6], { opType: 'FusedConv', domain: 'com.microsoft' }).type, AttributeType.FLOATS);
  // A tensor attribute keeps its tensor.
  assert.equal(typeOf(makeNode('ConstantOfShape', ['s'], ['y'], { value: floatTensor('value', [1], [0]) }), 'value'), 'TENSOR');
  // Names that are Object.prototype's are not float attributes.
  assert.equal(floatAttrKind('Gemm', 'constructor'), undefined);
  assert.equal(floatAttrKind('constructor', 'alpha'), undefined);
  assert.equal(floatAttrKind('Gemm', 'alpha'), 'float');
});

test('int attributes written as INT load in ORT: Conv group 1, Concat axis 0', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 1, 1, 2]);
  const conv = b.op('Conv', [x, b.floatInit('w', [1, 1, 1, 1], [2])], { group: 1, kernel_shape: [1, 1] });
  const y = b.op('Concat', [conv, x], { axis: 0 });
  b.output(y, DataType.FLOAT);
  assert.deepEqual(
    b.graph.node.map((n) => n.attribute.map((a) => `${a.name}:${typeName(a.type)}`)),
    [['group:INT', 'kernel_shape:INTS'], ['axis:INT']],
  );
  const s = await ort.InferenceSession.create(encodeModel(b.model({ opset: 21 })), { logSeverityLevel: 3 });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 3), [1, 1, 1, 2]) });
    assert.deepEqual(Array.from(out[y]!.data as Float32Array), [2, 6, 1, 3]);
  } finally {
    await s.release();
  }
});
