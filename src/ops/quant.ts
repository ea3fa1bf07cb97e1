/**
 * Quantization ops: QuantizeLinear / DequantizeLinear (per-tensor, per-axis and blocked: the scale's
 * shape does not change the output's), DynamicQuantizeLinear, and ORT's com.microsoft QLinear* ops.
 */
import { DataType } from '../ir/dtype.js';
import type { OpContext, OpRule, ValueType } from './types.js';
import { windowOutput } from './conv.js';
import { fakeQuantizeGrad } from './grad/quant.js';
import { broadcast, fail, hasInput, input, ioBytes, normAxis, numel, perElementCost, shapeStr } from './util.js';

/** Checks a per-axis or blocked scale against the input shape. */
function checkScale(ctx: OpContext): void {
  const x = ctx.inputs[0]?.shape;
  const s = ctx.inputs[1]?.shape;
  if (!x || !s || s.length === 0 || (s.length === 1 && s[0] === 1)) return;
  const block = ctx.attr.int('block_size', 0);
  if (block > 0) {
    if (s.length !== x.length) fail(`blocked quantization scale ${shapeStr(s)} must have the rank of the input ${shapeStr(x)}`);
    return;
  }
  if (s.length !== 1) return;
  const axis = normAxis(ctx.attr.int('axis', 1), x.length);
  const [d, n] = [x[axis], s[0]];
  if (typeof d === 'number' && typeof n === 'number' && d !== n)
    fail(`per-axis scale ${shapeStr(s)} does not match dim ${axis} of ${shapeStr(x)}`);
}

const quantize: OpRule = {
  opTypes: ['QuantizeLinear'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    checkScale(ctx);
    const elemType = hasInput(ctx, 2) ? input(ctx, 2).elemType : ctx.attr.int('output_dtype', 0) || DataType.UINT8;
    return [{ elemType, shape: x.shape }];
  },
  cost: perElementCost(3),
  // Scales and ranges are float32 whatever the model's precision (float-types.ts).
  props: { fp16Sensitive: true },
};

const dequantize: OpRule = {
  opTypes: ['DequantizeLinear'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    checkScale(ctx);
    const elemType = ctx.attr.int('output_dtype', 0) || input(ctx, 1).elemType;
    return [{ elemType, shape: x.shape }];
  },
  cost: perElementCost(2),
  props: { fp16Sensitive: true },
};

/** The domain of Hone's own training-only ops: they never reach ONNX Runtime (passes/fake-quant.ts lowers them). */
export const HONE_DOMAIN = 'ai.hone';

/**
 * FakeQuantize(x, scale, zero_point; axis, qmin, qmax): what DequantizeLinear(QuantizeLinear(x)) computes,
 * with the integer range [qmin, qmax] (7-bit or symmetric weights use less than their type), as one float op
 * that quantization-aware training differentiates (the straight-through estimator, ops/grad/quant.ts).
 * Lowered to Clip-like bounds → QuantizeLinear → DequantizeLinear before ORT runs a graph.
 */
const fakeQuantize: OpRule = {
  domain: HONE_DOMAIN,
  opTypes: ['FakeQuantize'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: perElementCost(5),
  grad: fakeQuantizeGrad,
  props: { settingInputs: [1, 2] },
};

const msQuantize: OpRule = { ...quantize, domain: 'com.microsoft' };
const msDequantize: OpRule = { ...dequantize, domain: 'com.microsoft' };

const dynamicQuantize: OpRule = {
  opTypes: ['DynamicQuantizeLinear'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    return [
      { elemType: DataType.UINT8, shape: x.shape },
      { elemType: DataType.FLOAT, shape: [] },
      { elemType: DataType.UINT8, shape: [] },
    ];
  },
  cost: perElementCost(4),
  props: { fp16Sensitive: true },
};

/** QLinearAdd/Mul(A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp): broadcast of A and B, A's type. */
const qlinearBinary: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QLinearAdd', 'QLinearMul'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: broadcast(ctx, [input(ctx, 0).shape, input(ctx, 3).shape]) }],
  cost: perElementCost(4),
};

const qlinearUnary: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearSoftmax'],
  infer: (ctx): ValueType[] => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: perElementCost(4),
};

const qlinearGlobalPool: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QLinearGlobalAveragePool'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const last = ctx.attr.int('channels_last', 0) !== 0;
    const shape = x.shape.map((d, i) => (i === 0 || i === (last ? x.shape!.length - 1 : 1) ? d : 1));
    return [{ elemType: x.elemType, shape }];
  },
  cost: perElementCost(1),
};

/** QLinearAveragePool(X, x_scale, x_zp, y_scale, y_zp): AveragePool's window arithmetic, NCHW or channels_last. */
const qlinearAvgPool: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QLinearAveragePool'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    if (x.shape.length < 3) fail(`QLinearAveragePool input must be at least 3-D, got ${shapeStr(x.shape)}`);
    const last = ctx.attr.int('channels_last', 0) !== 0;
    const kernel = ctx.attr.ints('kernel_shape') ?? fail('QLinearAveragePool needs kernel_shape');
    const spatialDims = last ? x.shape.slice(1, -1) : x.shape.slice(2);
    const out = windowOutput(ctx, spatialDims, kernel, ctx.attr.int('ceil_mode', 0) !== 0);
    return [
      { elemType: x.elemType, shape: last ? [x.shape[0]!, ...out, x.shape[x.shape.length - 1]!] : [x.shape[0]!, x.shape[1]!, ...out] },
    ];
  },
  cost: (ctx, outputs) => ({
    macs: 0,
    flops: numel(outputs[0]) * (ctx.attr.ints('kernel_shape') ?? []).reduce((p, k) => p * k, 1),
    ...ioBytes(ctx, outputs),
  }),
};

/** QGemm(A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?): quantized output with y_scale, else float. */
const qgemm: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QGemm'],
  infer: (ctx) => {
    const a = input(ctx, 0).shape;
    const b = input(ctx, 3).shape;
    const elemType = hasInput(ctx, 7) ? (hasInput(ctx, 8) ? input(ctx, 8).elemType : input(ctx, 0).elemType) : input(ctx, 1).elemType;
    if (!a || !b) return [{ elemType }];
    if (a.length !== 2 || b.length !== 2) fail(`QGemm needs 2-D A and B, got ${shapeStr(a)} and ${shapeStr(b)}`);
    const m = ctx.attr.int('transA', 0) ? a[1]! : a[0]!;
    const n = ctx.attr.int('transB', 0) ? b[0]! : b[1]!;
    return [{ elemType, shape: [m, n] }];
  },
  cost: (ctx, outputs) => {
    const a = ctx.inputs[0]?.shape;
    const k = a?.[ctx.attr.int('transA', 0) ? 0 : 1];
    const macs = numel(outputs[0]) * (typeof k === 'number' ? k : 1);
    return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
  },
};

/** QLinearConcat(y_scale, y_zp, x0, s0, z0, x1, s1, z1, …): Concat of the x's along `axis`. */
const qlinearConcat: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['QLinearConcat'],
  infer: (ctx) => {
    const xs = ctx.node.input
      .map((_, i) => i)
      .filter((i) => i >= 2 && (i - 2) % 3 === 0)
      .map((i) => input(ctx, i));
    const elemType = xs[0]?.elemType ?? fail('QLinearConcat needs at least one input');
    if (xs.some((t) => !t.shape)) return [{ elemType }];
    const r = xs[0]!.shape!.length;
    const axis = normAxis(ctx.attr.int('axis', 0), r);
    const dims = xs.map((t) => t.shape![axis]!);
    const sum = dims.every((d): d is number => typeof d === 'number') ? dims.reduce((p, d) => p + d, 0) : ctx.freshDim();
    return [{ elemType, shape: xs[0]!.shape!.map((d, i) => (i === axis ? sum : d)) }];
  },
  cost: perElementCost(2),
};

/**
 * Op types that only a quantized model holds: Q/DQ, the integer kernels and ORT's quantized contrib ops
 * (int8, 4-bit and block-quantized forms, including those Hone has no rule for), and the QLinear forms
 * Hone's quantizer writes. The one list behind `isQuantizedOp`, which both `hone quantize` (refusing a
 * model quantized already) and the profiler (no quantization advice for it) read.
 */
export const QUANTIZED_OP_TYPES: ReadonlySet<string> = new Set([
  // Quantize / dequantize (ai.onnx and com.microsoft), and ORT's other encodings of them.
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QuantizeWithOrder',
  'DequantizeWithOrder',
  'QuantizeBFP',
  'DequantizeBFP',
  // Integer kernels.
  'MatMulInteger',
  'ConvInteger',
  'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul',
  'MulInteger',
  'ReduceSumInteger',
  // QOperator forms: ai.onnx QLinearConv/QLinearMatMul, the com.microsoft ones, ORT's NHWC layouts.
  'QLinearConv',
  'QLinearMatMul',
  'QLinearAdd',
  'QLinearMul',
  'QLinearSigmoid',
  'QLinearLeakyRelu',
  'QLinearSoftmax',
  'QLinearAveragePool',
  'QLinearGlobalAveragePool',
  'QLinearConcat',
  'QLinearReduceMean',
  'QLinearWhere',
  'NhwcQLinearConv',
  'NhwcQLinearAveragePool',
  'QGemm',
  // Quantized contrib ops of transformers and RNNs.
  'QAttention',
  'QEmbedLayerNormalization',
  'DynamicQuantizeLSTM',
  'QOrderedMatMul',
  'QOrderedAttention',
  'QOrderedLongformerAttention',
  'QOrderedLayerNormalization',
  'QOrderedGelu',
  'QMoE',
  // Weight-only low-bit forms.
  'MatMulNBits',
  'MatMulBnb4',
  'MatMulFpQ4',
  'GatherBlockQuantized',
]);

/** Whether an op of this type means the model is quantized: `QUANTIZED_OP_TYPES`, or any other QLinear* op. */
export function isQuantizedOp(opType: string): boolean {
  return QUANTIZED_OP_TYPES.has(opType) || opType.startsWith('QLinear');
}

export const quantOps: OpRule[] = [
  fakeQuantize,
  quantize,
  dequantize,
  msQuantize,
  msDequantize,
  dynamicQuantize,
  qlinearBinary,
  qlinearUnary,
  qlinearGlobalPool,
  qgemm,
  qlinearConcat,
  qlinearAvgPool,
];
