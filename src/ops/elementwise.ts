/**
 * Elementwise ops: unary maps, binary and variadic ops with numpy broadcasting, comparisons and logic
 * (bool outputs), Where, Cast/CastLike, Clip, Dropout. Transcendental functions count a few flops per
 * element (an exp or tanh costs several multiply-adds on a CPU); simple arithmetic counts one. Each op's
 * gradient, quantization, folding and properties are in the tables below, beside its shape rule.
 */
import { DataType, isByteInteger, isNumberType } from '../ir/dtype.js';
import { arithDims, broadcastValues, mapValues, sameDims, sameValues } from './fold-values.js';
import { clipGrad, geluGrad, hardSigmoidGrad, hardSwishGrad, leakyReluGrad, reluGrad, sigmoidGrad, tanhGrad } from './grad/activation.js';
import { addSubGrad, castGrad, divGrad, maxMinGrad, mulGrad, powGrad, unaryMathGrads, whereGrad } from './grad/math.js';
import { dropoutGrad } from './grad/tensor.js';
import { passthroughQuant, qlinearBinary, qlinearUnary } from './quant-rules.js';
import type { OpContext, OpProps, OpRule, ValueType } from './types.js';
import { broadcast, eachOp, fail, input, ioBytes, numel, type OpExtras, perElementCost, sameElemType } from './util.js';

const ELEMENTWISE: OpProps = { elementwise: true };
const NO_GRADIENT: OpProps = { nonDifferentiable: true };

/**
 * The unary maps: flops per element (1 for arithmetic, more for transcendental functions) and each op's
 * own rules. ortFusedIntoProducer: the activations ORT fuses into a Conv/MatMul before them.
 */
const unaryOps: Readonly<Record<string, OpExtras & { flops: number }>> = {
  Relu: { flops: 1, grad: reluGrad, quant: { ...passthroughQuant, foldsIntoRange: {} }, props: { ortFusedIntoProducer: true } },
  Abs: { flops: 1, grad: unaryMathGrads.Abs, fold: { value: mapValues(Math.abs) } },
  Neg: { flops: 1, grad: unaryMathGrads.Neg, fold: { value: mapValues((a) => -a) } },
  Identity: { flops: 0, grad: unaryMathGrads.Identity, fold: { value: sameValues, dims: sameDims } },
  Ceil: { flops: 1, props: NO_GRADIENT, fold: { value: mapValues(Math.ceil) } },
  Floor: { flops: 1, props: NO_GRADIENT, fold: { value: mapValues(Math.floor) } },
  Round: { flops: 1, props: NO_GRADIENT },
  Sign: { flops: 1, props: NO_GRADIENT },
  Reciprocal: { flops: 1, grad: unaryMathGrads.Reciprocal },
  Not: { flops: 1, props: NO_GRADIENT, fold: { value: mapValues((a) => Number(!a), DataType.BOOL) } },
  BitwiseNot: { flops: 1 },
  LeakyRelu: { flops: 2, grad: leakyReluGrad, quant: qlinearUnary('QLinearLeakyRelu'), props: { ortFusedIntoProducer: true } },
  ThresholdedRelu: { flops: 1 },
  Shrink: { flops: 2 },
  HardSigmoid: { flops: 3, grad: hardSigmoidGrad, props: { ortFusedIntoProducer: true } },
  HardSwish: { flops: 4, grad: hardSwishGrad },
  Softsign: { flops: 3 },
  Sqrt: { flops: 4, grad: unaryMathGrads.Sqrt, fold: { value: mapValues(Math.sqrt) } },
  Sigmoid: { flops: 4, grad: sigmoidGrad, quant: qlinearUnary('QLinearSigmoid'), props: { ortFusedIntoProducer: true } },
  Swish: { flops: 5 },
  Tanh: { flops: 4, grad: tanhGrad, props: { ortFusedIntoProducer: true } },
  Exp: { flops: 4, grad: unaryMathGrads.Exp, props: { fp16Sensitive: true } },
  Log: { flops: 4, grad: unaryMathGrads.Log, props: { fp16Sensitive: true } },
  Erf: { flops: 4, grad: unaryMathGrads.Erf },
  Elu: { flops: 4 },
  Selu: { flops: 5 },
  Celu: { flops: 5 },
  Softplus: { flops: 5 },
  Mish: { flops: 8 },
  Gelu: { flops: 8, grad: geluGrad },
  Sin: { flops: 4, grad: unaryMathGrads.Sin },
  Cos: { flops: 4, grad: unaryMathGrads.Cos },
  Tan: { flops: 4 },
  Asin: { flops: 4 },
  Acos: { flops: 4 },
  Atan: { flops: 4 },
  Sinh: { flops: 4 },
  Cosh: { flops: 4 },
  Asinh: { flops: 4 },
  Acosh: { flops: 4 },
  Atanh: { flops: 4 },
};

function unary(ctx: OpContext): ValueType[] {
  const x = input(ctx, 0);
  return [{ elemType: x.elemType, shape: x.shape && [...x.shape] }];
}

function unaryRules(): OpRule[] {
  return Object.entries(unaryOps).map(([op, { flops, ...extra }]) => ({
    ...extra,
    opTypes: [op],
    infer: unary,
    cost: perElementCost(flops),
    props: { ...ELEMENTWISE, ...extra.props },
  }));
}

/** Binary/variadic broadcasting. Before opset 7, B broadcasts onto A (legacy `broadcast` attr) and A's shape is kept. */
function broadcastShape(ctx: OpContext, idx: number[]): ValueType['shape'] {
  if (ctx.opset < 7 && idx.length === 2) return input(ctx, 0).shape && [...input(ctx, 0).shape!];
  return broadcast(
    ctx,
    idx.map((i) => input(ctx, i).shape),
  );
}

const allIdx = (ctx: OpContext) => ctx.node.input.map((_, i) => i);

/** Binary arithmetic; legacyBroadcast: the ops that had the `broadcast`/`axis` attributes before opset 7. */
const binaryArith = eachOp(
  {
    infer: (ctx) => [{ elemType: sameElemType(ctx, [0, 1]), shape: broadcastShape(ctx, [0, 1]) }],
    cost: perElementCost(1),
    props: ELEMENTWISE,
  },
  {
    Add: {
      grad: addSubGrad,
      quant: qlinearBinary('QLinearAdd'),
      fold: { value: mapValues((a, b) => a + b), dims: arithDims((a, b) => a + b, { left: 0, right: 0 }) },
      props: { legacyBroadcast: true, ortForms: ['QLinearAdd'], ortFusedIntoProducer: true },
    },
    Sub: {
      grad: addSubGrad,
      fold: { value: mapValues((a, b) => a - b), dims: arithDims((a, b) => a - b, { right: 0 }) },
      props: { legacyBroadcast: true },
    },
    Mul: {
      grad: mulGrad,
      quant: qlinearBinary('QLinearMul'),
      fold: { value: mapValues((a, b) => a * b), dims: arithDims((a, b) => a * b, { left: 1, right: 1 }) },
      props: { legacyBroadcast: true, ortForms: ['QLinearMul'], ortFusedIntoProducer: true },
    },
    Div: {
      grad: divGrad,
      fold: { value: mapValues((a, b) => a / b), dims: arithDims((a, b) => Math.trunc(a / b), { right: 1 }) },
      props: { legacyBroadcast: true },
    },
    Mod: { fold: { value: mapValues((a, b) => a - Math.floor(a / b) * b) } },
    BitwiseAnd: {},
    BitwiseOr: {},
    BitwiseXor: {},
    BitShift: {},
    PRelu: { props: { legacyBroadcast: true } },
  },
);

const pow: OpRule = {
  opTypes: ['Pow'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: broadcastShape(ctx, [0, 1]) }],
  cost: perElementCost(4),
  grad: powGrad,
  props: { ...ELEMENTWISE, fp16Sensitive: true, legacyBroadcast: true },
};

const compare = eachOp(
  {
    infer: (ctx) => {
      sameElemType(ctx, [0, 1]);
      return [{ elemType: DataType.BOOL, shape: broadcastShape(ctx, [0, 1]) }];
    },
    cost: perElementCost(1),
    props: { ...ELEMENTWISE, ...NO_GRADIENT },
  },
  {
    Equal: { fold: { value: mapValues((a, b) => Number(a === b), DataType.BOOL) }, props: { legacyBroadcast: true } },
    Less: { fold: { value: mapValues((a, b) => Number(a < b), DataType.BOOL) }, props: { legacyBroadcast: true } },
    Greater: { fold: { value: mapValues((a, b) => Number(a > b), DataType.BOOL) }, props: { legacyBroadcast: true } },
    LessOrEqual: {},
    GreaterOrEqual: {},
    And: { props: { legacyBroadcast: true } },
    Or: { props: { legacyBroadcast: true } },
    Xor: { props: { legacyBroadcast: true } },
  },
);

const variadic = eachOp(
  {
    infer: (ctx) => {
      const idx = allIdx(ctx);
      if (idx.length === 0) fail(`${ctx.node.opType} needs at least one input`);
      const shape =
        idx.length === 1 || ctx.opset >= 8
          ? broadcast(
              ctx,
              idx.map((i) => input(ctx, i).shape),
            )
          : input(ctx, 0).shape;
      return [{ elemType: sameElemType(ctx, idx), shape }];
    },
    cost: (ctx, outputs) => ({ macs: 0, flops: Math.max(1, ctx.inputs.length - 1) * numel(outputs[0]), ...ioBytes(ctx, outputs) }),
    props: ELEMENTWISE,
  },
  {
    Sum: { grad: addSubGrad },
    Mean: {},
    Max: { grad: maxMinGrad, fold: { value: mapValues(Math.max), dims: arithDims(Math.max, { same: true }) } },
    Min: { grad: maxMinGrad, fold: { value: mapValues(Math.min), dims: arithDims(Math.min, { same: true }) } },
  },
);

const isNanInf: OpRule = {
  opTypes: ['IsNaN', 'IsInf'],
  infer: (ctx) => [{ elemType: DataType.BOOL, shape: input(ctx, 0).shape }],
  cost: perElementCost(1),
  props: { ...ELEMENTWISE, ...NO_GRADIENT },
};

const where: OpRule = {
  opTypes: ['Where'],
  infer: (ctx) => {
    if (input(ctx, 0).elemType !== DataType.BOOL) fail('Where condition must be bool');
    return [
      {
        elemType: sameElemType(ctx, [1, 2]),
        shape: broadcast(
          ctx,
          [0, 1, 2].map((i) => input(ctx, i).shape),
        ),
      },
    ];
  },
  cost: perElementCost(1),
  grad: whereGrad,
  fold: {
    value(_ctx, [c, a, b], outDims) {
      if (!c || !a || !b) return undefined;
      const [cc, ca, cb] = [c, a, b].map((x) => broadcastValues(x, outDims)) as [number[], number[], number[]];
      return { dataType: a.dataType, values: cc.map((v, k) => (v ? ca[k]! : cb[k]!)) };
    },
  },
  props: ELEMENTWISE,
};

const cast: OpRule = {
  opTypes: ['Cast'],
  infer: (ctx) => {
    const to = ctx.attr.int('to');
    if (to === undefined) fail('Cast needs the attribute to');
    return [{ elemType: to, shape: input(ctx, 0).shape }];
  },
  cost: perElementCost(1),
  grad: castGrad,
  fold: {
    value(ctx, [x]) {
      const to = ctx.attr.int('to', 0);
      if (!x || !isNumberType(to)) return undefined;
      const values = x.values.map((v) =>
        to === DataType.BOOL ? Number(v !== 0) : isByteInteger(to) ? Math.trunc(v) : to === DataType.FLOAT ? Math.fround(v) : v,
      );
      return { dataType: to, values };
    },
    dims: sameDims,
  },
  props: ELEMENTWISE,
};

const castLike: OpRule = {
  opTypes: ['CastLike'],
  infer: (ctx) => [{ elemType: input(ctx, 1).elemType, shape: input(ctx, 0).shape }],
  cost: perElementCost(1),
  props: ELEMENTWISE,
};

const clip: OpRule = {
  opTypes: ['Clip'],
  infer: unary,
  cost: perElementCost(2),
  grad: clipGrad,
  quant: { ...passthroughQuant, foldsIntoRange: { lowerInput: 1, lowerAttr: 'min' } },
  props: { ...ELEMENTWISE, ortFusedIntoProducer: true },
};

/** Dropout: output plus an optional mask (bool from opset 10, the input type before). */
const dropout: OpRule = {
  opTypes: ['Dropout'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const out: ValueType[] = [{ elemType: x.elemType, shape: x.shape }];
    if (ctx.node.output.length > 1) out.push({ elemType: ctx.opset >= 10 ? DataType.BOOL : x.elemType, shape: x.shape });
    return out;
  },
  cost: perElementCost(0),
  grad: dropoutGrad,
  props: ELEMENTWISE,
};

/** com.microsoft activations that ORT's transformers fuse into (FastGelu, BiasGelu…). */
const msActivations: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['FastGelu', 'BiasGelu', 'Gelu', 'QuickGelu', 'BiasAdd'],
  infer: (ctx) => {
    const idx = allIdx(ctx).filter((i) => (ctx.node.input[i] ?? '') !== '');
    return [
      {
        elemType: input(ctx, 0).elemType,
        shape: broadcast(
          ctx,
          idx.map((i) => input(ctx, i).shape),
        ),
      },
    ];
  },
  cost: perElementCost(8),
  props: ELEMENTWISE,
};

export const elementwiseOps: OpRule[] = [
  ...unaryRules(),
  ...binaryArith,
  pow,
  ...compare,
  ...variadic,
  isNanInf,
  where,
  cast,
  castLike,
  clip,
  dropout,
  msActivations,
];
