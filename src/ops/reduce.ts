/**
 * Reductions: Reduce* with axes as an attribute (older opsets) or as input 1 (ReduceSum from opset 13,
 * the others from 18), keepdims and noop_with_empty_axes; ArgMax/ArgMin. Cost: about one flop per input
 * element (two for L2/SumSquare/LogSumExp).
 */
import { DataType } from '../ir/dtype.js';
import type { Dim, OpContext, OpRule, ValueType } from './types.js';
import { constNumbers, hasInput, input, ioBytes, normAxis, numel } from './util.js';

const reduceOps = [
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
];

/** The opset from which an op takes axes as an input instead of an attribute. */
const axesInputFrom = (op: string) => (op === 'ReduceSum' ? 13 : 18);

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

const reduce: OpRule = {
  opTypes: reduceOps,
  infer: (ctx) => {
    const x = input(ctx, 0);
    const keepdims = ctx.attr.int('keepdims', 1) !== 0;
    const noopEmpty = ctx.attr.int('noop_with_empty_axes', 0) !== 0;
    let axes: number[] | undefined;
    if (ctx.opset >= axesInputFrom(ctx.node.opType!)) {
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
  cost: (ctx, outputs) => {
    const per = ['ReduceL2', 'ReduceSumSquare', 'ReduceLogSumExp'].includes(ctx.node.opType!) ? 2 : 1;
    return { macs: 0, flops: per * numel(ctx.inputs[0]), ...ioBytes(ctx, outputs) };
  },
};

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
};

export const reduceRules: OpRule[] = [reduce, argReduce];
