// Inferred shapes and element types equal what onnxruntime actually produces, for small models covering
// the op families (conv/pool window arithmetic, Gemm transposes, Reshape 0/-1, Slice clamping, Split…).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType, dtypeInfo, dtypeName } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { inferShapes } from '../../src/ops/infer.js';
import { makeTensor } from '../../src/ir/tensor.js';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

interface Case {
  name: string;
  opset?: number;
  extraOpsets?: Record<string, number>;
  /** Inputs with their dims (random data) or explicit data. */
  inputs: Record<string, { type: number; dims: number[]; data?: number[] }>;
  build(b: GraphBuilder, x: Record<string, string>): string[];
  /** Outputs whose sizes depend on input values: a fresh 'unk__' symbol stands for any size. */
  dataDependent?: boolean;
}

function feedFor(type: number, dims: number[], data?: number[]): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const vals = data ?? Array.from({ length: n }, (_, i) => ((i * 7919) % 13) - 6);
  const name = dtypeInfo(type)!.ort! as 'float32';
  switch (type) {
    case DataType.FLOAT:
      return new ort.Tensor(
        'float32',
        Float32Array.from(vals, (v) => v / 3),
        dims,
      );
    case DataType.INT64:
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(vals, (v) => BigInt(v)),
        dims,
      );
    case DataType.INT32:
      return new ort.Tensor('int32', Int32Array.from(vals), dims);
    case DataType.UINT8:
      return new ort.Tensor(
        'uint8',
        Uint8Array.from(vals, (v) => Math.abs(v)),
        dims,
      );
    case DataType.INT8:
      return new ort.Tensor('int8', Int8Array.from(vals), dims);
    case DataType.BOOL:
      return new ort.Tensor(
        'bool',
        Uint8Array.from(vals, (v) => (v > 0 ? 1 : 0)),
        dims,
      );
    default:
      throw new Error(`no feed for ${name}`);
  }
}

async function check(c: Case): Promise<void> {
  const b = new GraphBuilder();
  const names: Record<string, string> = {};
  for (const [name, spec] of Object.entries(c.inputs)) names[name] = b.input(name, spec.type, spec.dims);
  const outs = c.build(b, names);
  const bare: ModelProto = b.model({ opset: c.opset ?? 21, extraOpsets: c.extraOpsets });
  // Declare outputs with the inferred element type (ORT needs one); the shapes are what we compare.
  const inf = inferShapes(bare);
  assert.deepEqual(
    inf.errors.map((e) => e.message),
    [],
    'inference errors',
  );
  assert.deepEqual(
    inf.unknownOps.map((n) => n.opType),
    [],
    'unknown ops',
  );
  for (const o of outs) b.output(o, inf.types.get(o)?.elemType ?? F);
  const session = await ort.InferenceSession.create(encodeModel(b.model({ opset: c.opset ?? 21, extraOpsets: c.extraOpsets })), {
    logSeverityLevel: 3,
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(c.inputs)) feeds[name] = feedFor(spec.type, spec.dims, spec.data);
  const result = await session.run(feeds);
  for (const o of outs) {
    const got = inf.types.get(o)!;
    const real = result[o]!;
    const expected = c.dataDependent
      ? got.shape?.map((d, i) => (typeof d === 'string' && d.startsWith('unk__') ? d : real.dims[i]))
      : [...real.dims];
    assert.equal(got.shape?.length, real.dims.length, `${c.name}: rank of ${o}`);
    assert.deepEqual(got.shape, expected, `${c.name}: shape of ${o}`);
    assert.equal(dtypeInfo(got.elemType)?.ort, real.type, `${c.name}: element type of ${o} (${dtypeName(got.elemType)} vs ${real.type})`);
  }
  await session.release();
}

const w = (b: GraphBuilder, dims: number[]) =>
  b.floatInit(
    'w',
    dims,
    Array.from({ length: dims.reduce((p, d) => p * d, 1) }, (_, i) => (i % 5) / 10),
  );
const i64 = (b: GraphBuilder, v: number[]) => b.int64Init('c', v);
const scalarI64 = (b: GraphBuilder, v: number) => b.initializer('s', I64, [], BigInt64Array.of(BigInt(v)));

const cases: Case[] = [
  {
    name: 'Conv groups, dilations, asymmetric pads, strides',
    inputs: { x: { type: F, dims: [2, 4, 9, 11] } },
    build: (b, { x }) => [
      b.op('Conv', [x!, w(b, [6, 2, 3, 3]), w(b, [6])], { group: 2, dilations: [2, 1], pads: [1, 2, 0, 1], strides: [2, 3] }),
    ],
  },
  {
    name: 'Conv auto_pad SAME_UPPER / SAME_LOWER / VALID',
    inputs: { x: { type: F, dims: [1, 3, 7, 8] } },
    build: (b, { x }) => [
      b.op('Conv', [x!, w(b, [4, 3, 3, 2])], { auto_pad: 'SAME_UPPER', strides: [2, 3] }),
      b.op('Conv', [x!, w(b, [4, 3, 2, 2])], { auto_pad: 'SAME_LOWER' }),
      b.op('Conv', [x!, w(b, [4, 3, 3, 3])], { auto_pad: 'VALID', strides: [2, 2] }),
    ],
  },
  {
    name: 'Conv 1-D and 3-D, depthwise',
    inputs: { a: { type: F, dims: [1, 4, 17] }, v: { type: F, dims: [1, 2, 5, 6, 7] } },
    build: (b, { a, v }) => [
      b.op('Conv', [a!, w(b, [4, 1, 5])], { group: 4, pads: [2, 2], strides: [3] }),
      b.op('Conv', [v!, w(b, [3, 2, 3, 3, 2])], { dilations: [1, 2, 1], pads: [1, 1, 0, 1, 1, 1] }),
    ],
  },
  {
    name: 'ConvTranspose strides, pads, output_padding, group, output_shape, SAME_UPPER',
    inputs: { x: { type: F, dims: [1, 4, 5, 6] } },
    build: (b, { x }) => [
      b.op('ConvTranspose', [x!, w(b, [4, 3, 3, 3])], { strides: [2, 3], pads: [1, 0, 1, 1], output_padding: [1, 2], group: 2 }),
      b.op('ConvTranspose', [x!, w(b, [4, 2, 3, 3]), w(b, [2])], { strides: [2, 2], output_shape: [10, 12] }),
      b.op('ConvTranspose', [x!, w(b, [4, 2, 3, 3])], { strides: [2, 2], auto_pad: 'SAME_UPPER' }),
      b.op('ConvTranspose', [x!, w(b, [4, 1, 2, 2])], { dilations: [2, 2] }),
    ],
  },
  {
    name: 'MaxPool ceil_mode with indices, dilations; AveragePool; global pools; LpPool',
    inputs: { x: { type: F, dims: [1, 2, 10, 5] } },
    build: (b, { x }) => [
      ...b.opN('MaxPool', [x!], 2, { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }),
      b.op('MaxPool', [x!], { kernel_shape: [2, 2], strides: [3, 2], ceil_mode: 1 }),
      b.op('MaxPool', [x!], { kernel_shape: [3, 2], dilations: [2, 2], strides: [1, 1] }),
      b.op('AveragePool', [x!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }),
      b.op('AveragePool', [x!], { kernel_shape: [2, 2], auto_pad: 'SAME_UPPER', strides: [3, 3] }),
      b.op('GlobalAveragePool', [x!]),
      b.op('GlobalMaxPool', [x!]),
      b.op('LpPool', [x!], { kernel_shape: [2, 2], p: 2 }),
    ],
  },
  {
    name: 'Gemm transA/transB with bias broadcast; MatMul batched, broadcast and 1-D',
    inputs: { a: { type: F, dims: [3, 4] }, m: { type: F, dims: [2, 1, 3, 4] }, v: { type: F, dims: [4] } },
    build: (b, { a, m, v }) => [
      b.op('Gemm', [a!, w(b, [5, 4]), w(b, [5])], { transB: 1, alpha: 0.5 }),
      b.op('Gemm', [a!, w(b, [3, 6]), w(b, [4, 1])], { transA: 1 }),
      b.op('Gemm', [a!, w(b, [5, 3])], { transA: 1, transB: 1 }),
      b.op('MatMul', [m!, w(b, [5, 4, 6])]),
      b.op('MatMul', [m!, v!]),
      b.op('MatMul', [v!, w(b, [3, 4, 2])]),
      b.op('MatMul', [v!, v!]),
    ],
  },
  {
    name: 'Reshape with 0, -1 and allowzero; Flatten',
    inputs: { x: { type: F, dims: [2, 3, 4, 5] } },
    build: (b, { x }) => [
      b.op('Reshape', [x!, i64(b, [0, -1, 5])]),
      b.op('Reshape', [x!, i64(b, [-1])]),
      b.op('Reshape', [x!, i64(b, [2, 0, 2, -1])]),
      b.op('Reshape', [x!, i64(b, [6, 20])], { allowzero: 1 }),
      b.op('Flatten', [x!], { axis: 0 }),
      b.op('Flatten', [x!], { axis: -2 }),
    ],
  },
  {
    name: 'Slice with negatives, clamping, INT64_MAX, negative steps',
    inputs: { x: { type: F, dims: [6, 7, 8] } },
    build: (b, { x }) => {
      const big = b.initializer('big', I64, [2], BigInt64Array.of(2n ** 63n - 1n, -(2n ** 63n)));
      return [
        b.op('Slice', [x!, i64(b, [-3, 1]), i64(b, [100, -1])]),
        b.op('Slice', [x!, i64(b, [1, -1]), big, i64(b, [2, 1]), i64(b, [3, -2])]),
        b.op('Slice', [x!, i64(b, [5]), i64(b, [-100]), i64(b, [-1]), i64(b, [-1])]),
        b.op('Slice', [x!, i64(b, [-20, 2]), i64(b, [3, 2]), i64(b, [0, 1])]),
      ];
    },
  },
  {
    name: 'Slice opset 9 attributes',
    opset: 9,
    inputs: { x: { type: F, dims: [6, 7] } },
    build: (b, { x }) => [b.op('Slice', [x!], { starts: [1, -3], ends: [1000, -1], axes: [0, 1] })],
  },
  {
    name: 'Split by sizes, equal parts, num_outputs uneven',
    opset: 18,
    inputs: { x: { type: F, dims: [4, 10] } },
    build: (b, { x }) => [
      ...b.opN('Split', [x!, i64(b, [3, 7])], 2, { axis: 1 }),
      ...b.opN('Split', [x!], 2, { axis: 0, num_outputs: 2 }),
      ...b.opN('Split', [x!], 3, { axis: 1, num_outputs: 3 }),
    ],
  },
  {
    name: 'Split opset 11 attribute and equal default',
    opset: 11,
    inputs: { x: { type: F, dims: [6, 4] } },
    build: (b, { x }) => [...b.opN('Split', [x!], 2, { axis: 0, split: [1, 5] }), ...b.opN('Split', [x!], 3)],
  },
  {
    name: 'numpy broadcasting, comparisons, Where, variadic Max',
    inputs: { a: { type: F, dims: [3, 1, 5] }, c: { type: F, dims: [4, 1] }, s: { type: F, dims: [] } },
    build: (b, { a, c, s }) => {
      const lt = b.op('Less', [a!, c!]);
      return [
        b.op('Add', [a!, c!]),
        b.op('Mul', [c!, s!]),
        lt,
        b.op('Where', [lt, a!, s!]),
        b.op('Max', [a!, c!, s!]),
        b.op('Pow', [a!, s!]),
      ];
    },
  },
  {
    name: 'Transpose, Squeeze/Unsqueeze (inputs), Concat, Gather, GatherElements, GatherND',
    inputs: { x: { type: F, dims: [2, 1, 3, 4] }, idx: { type: I64, dims: [2, 3], data: [0, 1, 2, -1, 0, 1] } },
    build: (b, { x, idx }) => {
      const sq = b.op('Squeeze', [x!, i64(b, [1])]);
      return [
        b.op('Transpose', [x!], { perm: [3, 0, 2, 1] }),
        sq,
        b.op('Squeeze', [x!]),
        b.op('Unsqueeze', [sq, i64(b, [0, -1])]),
        b.op('Concat', [sq, sq, b.op('Transpose', [sq], { perm: [0, 1, 2] })], { axis: -1 }),
        b.op('Gather', [sq, idx!], { axis: 1 }),
        b.op('Gather', [x!, scalarI64(b, 1)], { axis: 0 }),
        b.op('GatherElements', [w(b, [3, 5]), idx!], { axis: 0 }),
        b.op('GatherND', [sq, b.int64Init('ix', [0, 1])]),
      ];
    },
  },
  {
    name: 'Expand, Tile, Pad (axes input), Shape start/end, Size, ConstantOfShape, Range',
    inputs: { x: { type: F, dims: [3, 1, 4] } },
    build: (b, { x }) => [
      b.op('Expand', [x!, i64(b, [2, 1, 5, 1])]),
      b.op('Tile', [x!, i64(b, [2, 3, 1])]),
      b.op('Pad', [x!, i64(b, [1, 2, 3, 4]), '', i64(b, [0, -1])]),
      b.op('Pad', [x!, i64(b, [0, 1, 1, 0, 2, 1])], { mode: 'edge' }),
      b.op('Shape', [x!], { start: 1 }),
      b.op('Shape', [x!], { start: -2, end: -1 }),
      b.op('Size', [x!]),
      b.op('ConstantOfShape', [b.op('Shape', [x!])], { value: makeTensor('v', DataType.INT32, [1], Int32Array.of(3)) }),
      b.op('Range', [
        b.initializer('r0', F, [], Float32Array.of(1)),
        b.initializer('r1', F, [], Float32Array.of(7.5)),
        b.initializer('r2', F, [], Float32Array.of(2)),
      ]),
    ],
  },
  {
    name: 'Resize by scales and sizes, DepthToSpace, SpaceToDepth',
    inputs: { x: { type: F, dims: [1, 8, 6, 4] } },
    build: (b, { x }) => [
      b.op('Resize', [x!, '', b.floatInit('sc', [4], [1, 1, 2.5, 0.5])]),
      b.op('Resize', [x!, '', '', i64(b, [1, 8, 9, 3])], { mode: 'linear' }),
      b.op('DepthToSpace', [x!], { blocksize: 2, mode: 'CRD' }),
      b.op('SpaceToDepth', [x!], { blocksize: 2 }),
    ],
  },
  {
    name: 'Reductions (axes input, keepdims, noop), ArgMax, TopK, Softmax, CumSum, Trilu',
    inputs: { x: { type: F, dims: [2, 3, 4] } },
    build: (b, { x }) => [
      b.op('ReduceMean', [x!, i64(b, [1])], { keepdims: 0 }),
      b.op('ReduceMax', [x!, i64(b, [-1, 0])]),
      b.op('ReduceSum', [x!]),
      b.op('ReduceSum', [x!], { keepdims: 0 }),
      b.op('ReduceL2', [x!], { noop_with_empty_axes: 1 }),
      b.op('ArgMax', [x!], { axis: 2, keepdims: 0 }),
      ...b.opN('TopK', [x!, i64(b, [2])], 2, { axis: 1 }),
      b.op('Softmax', [x!], { axis: 1 }),
      b.op('CumSum', [x!, scalarI64(b, 1)]),
      b.op('Trilu', [x!]),
    ],
  },
  {
    name: 'Reductions with axes attribute (opset 13)',
    opset: 13,
    inputs: { x: { type: F, dims: [2, 3, 4] } },
    build: (b, { x }) => [b.op('ReduceMean', [x!], { axes: [0, 2], keepdims: 0 }), b.op('ReduceProd', [x!], { axes: [-1] })],
  },
  {
    name: 'Norms: LayerNormalization with mean/invstd, BatchNormalization, Instance/Group norm',
    inputs: { x: { type: F, dims: [2, 4, 3, 5] } },
    build: (b, { x }) => [
      ...b.opN('LayerNormalization', [x!, w(b, [3, 5]), w(b, [3, 5])], 3, { axis: -2 }),
      b.op('BatchNormalization', [x!, w(b, [4]), w(b, [4]), w(b, [4]), b.floatInit('var', [4], [1, 2, 3, 4])]),
      b.op('InstanceNormalization', [x!, w(b, [4]), w(b, [4])]),
      b.op('GroupNormalization', [x!, w(b, [4]), w(b, [4])], { num_groups: 2 }),
      b.op('LpNormalization', [x!], { axis: 1 }),
    ],
  },
  {
    name: 'Casts, OneHot, Einsum, NonZero-free misc',
    inputs: { x: { type: F, dims: [2, 3, 4] }, k: { type: I64, dims: [5], data: [0, 2, 1, 3, 0] } },
    build: (b, { x, k }) => [
      b.op('Cast', [x!], { to: DataType.INT32 }),
      b.op('CastLike', [k!, x!]),
      b.op('OneHot', [k!, scalarI64(b, 4), b.floatInit('vals', [2], [0, 1])], { axis: 0 }),
      b.op('Einsum', [x!, w(b, [4, 6])], { equation: 'bij,jk->bik' }),
      b.op('Einsum', [x!], { equation: 'bij->jb' }),
      b.op('Einsum', [x!, x!], { equation: '...ij,...kj' }),
      b.op('Identity', [x!]),
      b.op('Dropout', [x!]),
    ],
  },
  {
    name: 'PyTorch Shape→Gather→Unsqueeze→Concat→Reshape chain resolves through folding',
    inputs: { x: { type: F, dims: [2, 3, 4] } },
    build: (b, { x }) => {
      const s = b.op('Shape', [x!]);
      const n = b.op('Gather', [s, scalarI64(b, 0)], { axis: 0 });
      const c = b.op('Gather', [s, scalarI64(b, 1)], { axis: 0 });
      const h = b.op('Gather', [s, scalarI64(b, 2)], { axis: 0 });
      const ch = b.op('Mul', [c, h]);
      const shape = b.op('Concat', [b.op('Unsqueeze', [n, i64(b, [0])]), b.op('Unsqueeze', [ch, i64(b, [0])])], { axis: 0 });
      const half = b.op('Div', [h, scalarI64(b, 2)]);
      const shape2 = b.op('Concat', [b.op('Unsqueeze', [n, i64(b, [0])]), i64(b, [-1]), b.op('Unsqueeze', [half, i64(b, [0])])], {
        axis: 0,
      });
      const sl = b.op('Slice', [s, i64(b, [1]), i64(b, [2 ** 31])]);
      return [b.op('Reshape', [x!, shape]), b.op('Reshape', [x!, shape2]), b.op('ConstantOfShape', [sl])];
    },
  },
  {
    name: 'Quantization: QuantizeLinear per-axis, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger',
    inputs: { x: { type: F, dims: [2, 3, 4] }, q: { type: DataType.UINT8, dims: [1, 2, 5, 5] } },
    build: (b, { x, q }) => {
      const sc = b.floatInit('scale', [3], [0.1, 0.2, 0.3]);
      const zp = b.initializer('zp', DataType.INT8, [3], Int8Array.of(0, 1, -1));
      const qx = b.op('QuantizeLinear', [x!, sc, zp], { axis: 1 });
      const [yq, ys, yz] = b.opN('DynamicQuantizeLinear', [x!], 3);
      const wq = b.initializer(
        'wq',
        DataType.UINT8,
        [4, 5],
        Uint8Array.from({ length: 20 }, (_, i) => i),
      );
      const s1 = b.floatInit('s1', [], [0.1]);
      const z1 = b.initializer('z1', DataType.UINT8, [], Uint8Array.of(3));
      const wc = b.initializer(
        'wc',
        DataType.UINT8,
        [3, 2, 3, 3],
        Uint8Array.from({ length: 54 }, (_, i) => i % 7),
      );
      return [
        qx,
        b.op('DequantizeLinear', [qx, sc, zp], { axis: 1 }),
        yq!,
        ys!,
        yz!,
        b.op('MatMulInteger', [yq!, wq, yz!, z1]),
        b.op('QLinearMatMul', [yq!, ys!, yz!, wq, s1, z1, s1, z1]),
        b.op('ConvInteger', [q!, wc], { pads: [1, 1, 1, 1], strides: [2, 2] }),
      ];
    },
  },
  {
    name: 'com.microsoft FusedMatMul and DynamicQuantizeMatMul',
    extraOpsets: { 'com.microsoft': 1 },
    inputs: { a: { type: F, dims: [2, 4, 3] } },
    build: (b, { a }) => {
      const wi = b.initializer(
        'wi',
        DataType.INT8,
        [3, 5],
        Int8Array.from({ length: 15 }, (_, i) => i - 7),
      );
      return [
        b.op('FusedMatMul', [a!, w(b, [2, 5, 4])], { transA: 1, transB: 1, alpha: { float: 1 } }, { domain: 'com.microsoft' }),
        b.op(
          'DynamicQuantizeMatMul',
          [a!, wi, b.floatInit('bs', [1], [0.1]), b.initializer('bz', DataType.INT8, [1], Int8Array.of(0))],
          {},
          { domain: 'com.microsoft' },
        ),
      ];
    },
  },
  {
    name: 'com.microsoft QGemm, QLinearConcat, QLinearAveragePool',
    extraOpsets: { 'com.microsoft': 1 },
    inputs: { a: { type: DataType.UINT8, dims: [3, 4] } },
    build: (b, { a }) => {
      const s = b.floatInit('s', [], [0.1]);
      const z = b.initializer('z', DataType.UINT8, [], Uint8Array.of(2));
      const wb = b.initializer(
        'wb',
        DataType.UINT8,
        [5, 4],
        Uint8Array.from({ length: 20 }, (_, i) => i),
      );
      const bias = b.initializer('bias', DataType.INT32, [5], Int32Array.of(1, 2, 3, 4, 5));
      return [
        b.op('QGemm', [a!, s, z, wb, s, z, bias, s, z], { transB: 1 }, { domain: 'com.microsoft' }),
        b.op('QGemm', [a!, s, z, wb, s, z], { transB: 1 }, { domain: 'com.microsoft' }),
        b.op('QLinearConcat', [s, z, a!, s, z, a!, s, z], { axis: 1 }, { domain: 'com.microsoft' }),
        b.op(
          'QLinearAveragePool',
          [b.op('Reshape', [a!, b.int64Init('r', [1, 1, 3, 4])]), s, z, s, z],
          { kernel_shape: [2, 2], ceil_mode: 1, strides: [2, 2] },
          { domain: 'com.microsoft' },
        ),
      ];
    },
  },
  {
    name: 'SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss',
    inputs: { x: { type: F, dims: [3, 5, 2] }, y: { type: I64, dims: [3, 2], data: [0, 1, 4, 2, 3, 0] } },
    build: (b, { x, y }) => [
      ...b.opN('SoftmaxCrossEntropyLoss', [x!, y!], 2),
      b.op('SoftmaxCrossEntropyLoss', [x!, y!], { reduction: 'none' }),
      b.op('NegativeLogLikelihoodLoss', [x!, y!], { reduction: 'sum' }),
    ],
  },
  {
    name: 'RNN, GRU, LSTM: bidirectional, reverse, all outputs (ORT runs layout 0 only)',
    opset: 22,
    inputs: { x: { type: F, dims: [5, 2, 3] } },
    build: (b, { x }) => [
      ...b.opN('LSTM', [x!, w(b, [2, 16, 3]), w(b, [2, 16, 4])], 3, { hidden_size: 4, direction: 'bidirectional' }),
      ...b.opN('GRU', [x!, w(b, [1, 12, 3]), w(b, [1, 12, 4])], 2, { hidden_size: 4 }),
      ...b.opN('RNN', [x!, w(b, [1, 6, 3]), w(b, [1, 6, 6])], 2, { hidden_size: 6, direction: 'reverse' }),
    ],
  },
  {
    name: 'Attention (opset 23) 4-D and 3-D with present key/value, RMSNormalization, RotaryEmbedding',
    opset: 23,
    inputs: {
      q: { type: F, dims: [2, 4, 3, 8] },
      kv: { type: F, dims: [2, 2, 5, 8] },
      q3: { type: F, dims: [2, 3, 32] },
      k3: { type: F, dims: [2, 5, 16] },
    },
    build: (b, { q, kv, q3, k3 }) => [
      ...b.opN('Attention', [q!, kv!, kv!], 1),
      ...b.opN('Attention', [q!, kv!, kv!, '', w(b, [2, 2, 7, 8]), w(b, [2, 2, 7, 8])], 3),
      b.op('Attention', [q3!, k3!, k3!], { q_num_heads: 4, kv_num_heads: 2 }),
      b.op('RMSNormalization', [q3!, w(b, [32])]),
      b.op('RotaryEmbedding', [q!, w(b, [2, 3, 4]), w(b, [2, 3, 4])]),
    ],
  },
  {
    name: 'com.microsoft Attention and MultiHeadAttention',
    extraOpsets: { 'com.microsoft': 1 },
    inputs: { x: { type: F, dims: [2, 5, 16] }, kv: { type: F, dims: [2, 7, 16] } },
    build: (b, { x, kv }) => [
      ...b.opN('Attention', [x!, w(b, [16, 48]), w(b, [48])], 1, { num_heads: 4 }, { domain: 'com.microsoft' }),
      b.op('MultiHeadAttention', [x!, kv!, kv!], { num_heads: 4 }, { domain: 'com.microsoft' }),
    ],
  },
  {
    name: 'Unique, Det, random generators',
    dataDependent: true,
    inputs: { x: { type: F, dims: [3, 4, 4] }, i: { type: I64, dims: [6], data: [3, 1, 3, 2, 1, 1] } },
    build: (b, { x, i }) => [
      ...b.opN('Unique', [i!], 4),
      b.op('Det', [x!]),
      b.op('RandomNormal', [], { shape: [2, 3] }),
      b.op('RandomUniformLike', [x!], { dtype: DataType.DOUBLE }),
      b.op('Bernoulli', [b.op('Sigmoid', [x!])]),
    ],
  },
  {
    name: 'Opset 19-22 ops: Col2Im, CenterCropPad, AffineGrid, DeformConv, StringConcat, RegexFullMatch',
    opset: 22,
    inputs: { x: { type: F, dims: [1, 4, 6] }, img: { type: F, dims: [1, 2, 5, 6] }, th: { type: F, dims: [2, 2, 3] } },
    build: (b, { x, img, th }) => {
      const strings = b.op('Constant', [], { value_strings: ['ab', 'cd'] });
      return [
        b.op('Col2Im', [x!, i64(b, [3, 4]), i64(b, [2, 2])]),
        b.op('CenterCropPad', [img!, i64(b, [3, 8])], { axes: [2, 3] }),
        b.op('AffineGrid', [th!, i64(b, [2, 3, 4, 5])]),
        b.op('DeformConv', [img!, w(b, [3, 2, 3, 3]), w(b, [1, 18, 3, 4])]),
        b.op('StringConcat', [strings, b.op('Constant', [], { value_string: 'x' })]),
        b.op('RegexFullMatch', [strings], { pattern: 'a.*' }),
      ];
    },
  },
  {
    name: 'Sequences: SplitToSequence, SequenceInsert/Erase/At, SequenceLength, ConcatFromSequence',
    inputs: { x: { type: F, dims: [5, 3] } },
    build: (b, { x }) => {
      const chunks = b.op('SplitToSequence', [x!, b.initializer('two', I64, [], BigInt64Array.of(2n))]);
      const rows = b.op('SplitToSequence', [x!], { axis: 0, keepdims: 0 });
      const built = b.op('SequenceInsert', [b.op('SequenceConstruct', [x!, x!]), b.op('Transpose', [x!]), scalarI64(b, 0)]);
      const erased = b.op('SequenceErase', [built, scalarI64(b, -1)]);
      return [
        b.op('SequenceAt', [chunks, scalarI64(b, -1)]),
        b.op('SequenceAt', [rows, scalarI64(b, 2)]),
        b.op('SequenceLength', [chunks]),
        b.op('ConcatFromSequence', [chunks], { axis: 0 }),
        b.op('ConcatFromSequence', [rows], { axis: 1, new_axis: 1 }),
        b.op('SequenceAt', [erased, scalarI64(b, 0)]),
        b.op('SequenceLength', [erased]),
      ];
    },
  },
  {
    name: 'StringSplit (data-dependent substring count)',
    opset: 22,
    dataDependent: true,
    inputs: {},
    build: (b) => b.opN('StringSplit', [b.op('Constant', [], { value_strings: ['a b c', 'd'] })], 2, { delimiter: ' ' }),
  },
];

for (const c of cases) test(c.name, () => check(c));
