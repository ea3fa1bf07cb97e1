/**
 * Elementwise ops: unary maps, binary and variadic ops with numpy broadcasting, comparisons and logic
 * (bool outputs), Where, Cast/CastLike, Clip, Dropout. Transcendental functions count a few flops per
 * element (an exp or tanh costs several multiply-adds on a CPU); simple arithmetic counts one.
 */
import { DataType } from '../ir/dtype.js';
import type { OpContext, OpRule, ValueType } from './types.js';
import { broadcast, fail, input, ioBytes, numel, perElementCost, sameElemType } from './util.js';

/** Flops per element of the unary maps: 1 for arithmetic, more for transcendental functions. */
const unaryFlops: Record<string, number> = {
  Relu: 1,
  Abs: 1,
  Neg: 1,
  Identity: 0,
  Ceil: 1,
  Floor: 1,
  Round: 1,
  Sign: 1,
  Reciprocal: 1,
  Not: 1,
  BitwiseNot: 1,
  LeakyRelu: 2,
  ThresholdedRelu: 1,
  Shrink: 2,
  HardSigmoid: 3,
  HardSwish: 4,
  Softsign: 3,
  Sqrt: 4,
  Sigmoid: 4,
  Swish: 5,
  Tanh: 4,
  Exp: 4,
  Log: 4,
  Erf: 4,
  Elu: 4,
  Selu: 5,
  Celu: 5,
  Softplus: 5,
  Mish: 8,
  Gelu: 8,
  Sin: 4,
  Cos: 4,
  Tan: 4,
  Asin: 4,
  Acos: 4,
  Atan: 4,
  Sinh: 4,
  Cosh: 4,
  Asinh: 4,
  Acosh: 4,
  Atanh: 4,
};

function unary(ctx: OpContext): ValueType[] {
  const x = input(ctx, 0);
  return [{ elemType: x.elemType, shape: x.shape && [...x.shape] }];
}

function unaryRules(): OpRule[] {
  return Object.entries(unaryFlops).map(([op, f]) => ({ opTypes: [op], infer: unary, cost: perElementCost(f) }));
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

const binaryArith: OpRule = {
  opTypes: ['Add', 'Sub', 'Mul', 'Div', 'Mod', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitShift', 'PRelu'],
  infer: (ctx) => [{ elemType: sameElemType(ctx, [0, 1]), shape: broadcastShape(ctx, [0, 1]) }],
  cost: perElementCost(1),
};

const pow: OpRule = {
  opTypes: ['Pow'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: broadcastShape(ctx, [0, 1]) }],
  cost: perElementCost(4),
};

const compare: OpRule = {
  opTypes: ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'],
  infer: (ctx) => {
    sameElemType(ctx, [0, 1]);
    return [{ elemType: DataType.BOOL, shape: broadcastShape(ctx, [0, 1]) }];
  },
  cost: perElementCost(1),
};

const variadic: OpRule = {
  opTypes: ['Sum', 'Mean', 'Max', 'Min'],
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
};

const isNanInf: OpRule = {
  opTypes: ['IsNaN', 'IsInf'],
  infer: (ctx) => [{ elemType: DataType.BOOL, shape: input(ctx, 0).shape }],
  cost: perElementCost(1),
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
};

const cast: OpRule = {
  opTypes: ['Cast'],
  infer: (ctx) => {
    const to = ctx.attr.int('to');
    if (to === undefined) fail('Cast needs the attribute to');
    return [{ elemType: to, shape: input(ctx, 0).shape }];
  },
  cost: perElementCost(1),
};

const castLike: OpRule = {
  opTypes: ['CastLike'],
  infer: (ctx) => [{ elemType: input(ctx, 1).elemType, shape: input(ctx, 0).shape }],
  cost: perElementCost(1),
};

const clip: OpRule = {
  opTypes: ['Clip'],
  infer: unary,
  cost: perElementCost(2),
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
};

export const elementwiseOps: OpRule[] = [
  ...unaryRules(),
  binaryArith,
  pow,
  compare,
  variadic,
  isNanInf,
  where,
  cast,
  castLike,
  clip,
  dropout,
  msActivations,
];
