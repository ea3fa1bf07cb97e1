/**
 * Reductions: Reduce* with axes as an attribute (older opsets) or as input 1 (ReduceSum from opset 13,
 * the others from 18), keepdims and noop_with_empty_axes; ArgMax/ArgMin. Cost: about one flop per input
 * element (two for L2/SumSquare/LogSumExp).
 */
import { DataType } from '../ir/dtype.js';
import type { Dim, OpContext, OpRule, ValueType } from './types.js';
import { reduceAll } from './fold-values.js';
import { reduceGrad } from './grad/tensor.js';
import { constNumbers, hasInput, input, ioBytes, normAxis, numel, type OpExtras } from './util.js';

/** Reduced shape of `shape` over `axes` (undefined = unknown axes); all axes when `axes` is empty. */
export function reducedShape(
  ctx: OpContext,
  shape: Dim[],
  axes: number[] | undefined,
  keepdims: boolean,
  noopEmpty: boolean,
): Dim[] | undefined {
  if (axes === undefined) return keepdims ? shape.map((d) => (d === 1 ? 1 : ctx.freshDim())) : undefined;
  if (axes.length === 0) {
    if (noopEmpty) return [...shape];
    return keepdims ? shape.map(() => 1) : [];
  }
  const set = new Set(axes.map((a) => normAxis(a, shape.length)));
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/**
 * The reductions, each with its own rules: the opset from which it takes axes as input 1, flops per input
 * element (two for L2/SumSquare/LogSumExp), whether it has a gradient rule, and folding. fp16Sensitive:
 * sums of many float16 values lose their small terms (ReduceMax/Min only select).
 */
const reductions: Readonly<
  Record<string, { axesInputSince: number; flops: 1 | 2; fp16Sensitive?: boolean; gradient?: boolean } & OpExtras>
> = {
  ReduceMean: { axesInputSince: 18, flops: 1, fp16Sensitive: true, gradient: true },
  ReduceSum: {
    axesInputSince: 13,
    flops: 1,
    fp16Sensitive: true,
    gradient: true,
    fold: { value: reduceAll((a, b) => a + b, 0) },
  },
  ReduceMax: { axesInputSince: 18, flops: 1 },
  ReduceMin: { axesInputSince: 18, flops: 1 },
  ReduceProd: { axesInputSince: 18, flops: 1, fp16Sensitive: true, fold: { value: reduceAll((a, b) => a * b, 1) } },
  ReduceL1: { axesInputSince: 18, flops: 1, fp16Sensitive: true },
  ReduceL2: { axesInputSince: 18, flops: 2, fp16Sensitive: true },
  ReduceLogSum: { axesInputSince: 18, flops: 1, fp16Sensitive: true },
  ReduceLogSumExp: { axesInputSince: 18, flops: 2, fp16Sensitive: true },
  ReduceSumSquare: { axesInputSince: 18, flops: 2, fp16Sensitive: true },
};

function reduceRule(op: string, { axesInputSince, flops, fp16Sensitive, gradient, ...extra }: (typeof reductions)[string]): OpRule {
  return {
    ...extra,
    opTypes: [op],
    grad: gradient ? reduceGrad(op as 'ReduceSum' | 'ReduceMean', axesInputSince) : undefined,
    infer: (ctx) => {
      const x = input(ctx, 0);
      const keepdims = ctx.attr.int('keepdims', 1) !== 0;
      const noopEmpty = ctx.attr.int('noop_with_empty_axes', 0) !== 0;
      let axes: number[] | undefined;
      if (ctx.opset >= axesInputSince) {
        axes = hasInput(ctx, 1) ? constNumbers(ctx, 1) : [];
      } else {
        axes = ctx.attr.ints('axes', []);
      }
      if (!x.shape) return [{ elemType: x.elemType }];
      let shape = reducedShape(ctx, x.shape, axes, keepdims, noopEmpty);
      // Axes unknown but their count known: the rank is still known without keepdims.
      const count = ctx.inputs[1]?.shape?.[0];
      if (!shape && typeof count === 'number') shape = Array.from({ length: x.shape.length - count }, () => ctx.freshDim());
      return [{ elemType: x.elemType, shape }];
    },
    cost: (ctx, outputs) => ({ macs: 0, flops: flops * numel(ctx.inputs[0]), ...ioBytes(ctx, outputs) }),
    props: { axesInputSince, ...(fp16Sensitive ? { fp16Sensitive } : {}) },
  };
}

const argReduce: OpRule = {
  opTypes: ['ArgMax', 'ArgMin'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: DataType.INT64 }];
    const axis = normAxis(ctx.attr.int('axis', 0), x.shape.length);
    const shape = reducedShape(ctx, x.shape, [axis], ctx.attr.int('keepdims', 1) !== 0, false);
    return [{ elemType: DataType.INT64, shape }];
  },
  cost: (ctx, outputs): ReturnType<NonNullable<OpRule['cost']>> => ({
    macs: 0,
    flops: numel(ctx.inputs[0]),
    ...ioBytes(ctx, outputs as ValueType[]),
  }),
  props: { nonDifferentiable: true },
};

export const reduceRules: OpRule[] = [...Object.entries(reductions).map(([op, r]) => reduceRule(op, r)), argReduce];
