/**
 * Pooling: MaxPool (ceil_mode, dilations, optional int64 indices output), AveragePool, LpPool, the global
 * pools and MaxUnpool. Cost: one flop per window element per output (a compare or an add).
 */
import { DataType } from '../ir/dtype.js';
import type { Dim, OpContext, OpRule, ValueType } from './types.js';
import { windowOutput } from './conv.js';
import { averagePoolGrad, globalAveragePoolGrad, maxPoolGrad } from './grad/nn.js';
import { channelsThrough } from './prune-rules.js';
import { passthroughQuant, qlinearUnary } from './quant-rules.js';
import { constNumbers, eachOp, fail, hasInput, input, ioBytes, numel, shapeStr, spatial } from './util.js';

function poolShape(ctx: OpContext): Dim[] | undefined {
  const x = input(ctx, 0).shape;
  if (!x) return undefined;
  if (x.length < 3) fail(`${ctx.node.opType} input must be [N, C, spatial...], got ${shapeStr(x)}`);
  const kernel = ctx.attr.ints('kernel_shape');
  if (!kernel || kernel.length !== x.length - 2) fail(`${ctx.node.opType} needs kernel_shape with ${x.length - 2} values`);
  const ceil = ctx.attr.int('ceil_mode', 0) !== 0;
  return [x[0]!, x[1]!, ...windowOutput(ctx, x.slice(2), kernel, ceil)];
}

function windowCost(ctx: OpContext, outputs: ValueType[]) {
  const kernel = ctx.attr.ints('kernel_shape') ?? [];
  const window = kernel.reduce((p, k) => p * k, 1);
  return { macs: 0, flops: numel(outputs[0]) * window, ...ioBytes(ctx, outputs) };
}

const maxPool: OpRule = {
  opTypes: ['MaxPool'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const shape = poolShape(ctx);
    const out: ValueType[] = [{ elemType: x.elemType, shape }];
    if (ctx.node.output.length > 1) out.push({ elemType: DataType.INT64, shape });
    return out;
  },
  cost: windowCost,
  grad: maxPoolGrad,
  quant: passthroughQuant,
  prune: channelsThrough,
  props: { ortForms: ['NhwcMaxPool'] },
};

const avgPool = eachOp(
  { infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: poolShape(ctx) }], cost: windowCost, prune: channelsThrough },
  {
    AveragePool: {
      grad: averagePoolGrad,
      quant: qlinearUnary('QLinearAveragePool'),
      props: { ortForms: ['QLinearAveragePool', 'NhwcQLinearAveragePool'] },
    },
    LpPool: {},
  },
);

const globalPool = eachOp(
  {
    infer: (ctx) => {
      const x = input(ctx, 0);
      if (!x.shape) return [{ elemType: x.elemType }];
      if (x.shape.length < 3) fail(`${ctx.node.opType} input must be [N, C, spatial...], got ${shapeStr(x.shape)}`);
      return [{ elemType: x.elemType, shape: [x.shape[0]!, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] }];
    },
    cost: (ctx, outputs) => ({ macs: 0, flops: numel(ctx.inputs[0]), ...ioBytes(ctx, outputs) }),
    prune: channelsThrough,
  },
  {
    GlobalAveragePool: {
      grad: globalAveragePoolGrad,
      quant: qlinearUnary('QLinearGlobalAveragePool', { channels_last: 0 }),
      props: { ortForms: ['QLinearGlobalAveragePool'] },
    },
    GlobalMaxPool: {},
    GlobalLpPool: {},
  },
);

/** MaxUnpool(X, I, output_shape?): the inverse window arithmetic, or the given output_shape. */
const maxUnpool: OpRule = {
  opTypes: ['MaxUnpool'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const given = constNumbers(ctx, 2);
    if (given) return [{ elemType: x.elemType, shape: given }];
    if (!x.shape) return [{ elemType: x.elemType }];
    if (hasInput(ctx, 2)) return [{ elemType: x.elemType, shape: x.shape.map(() => ctx.freshDim()) }];
    const n = x.shape.length - 2;
    const kernel = ctx.attr.ints('kernel_shape', []);
    const strides = spatial(ctx, 'strides', n, 1);
    const pads = ctx.attr.ints('pads', new Array<number>(2 * n).fill(0));
    const dims = x.shape
      .slice(2)
      .map((d, i): Dim => (typeof d === 'number' ? (d - 1) * strides[i]! + kernel[i]! - pads[i]! - pads[i + n]! : ctx.freshDim()));
    return [{ elemType: x.elemType, shape: [x.shape[0]!, x.shape[1]!, ...dims] }];
  },
  cost: (ctx, outputs) => ({ macs: 0, flops: 0, ...ioBytes(ctx, outputs) }),
};

export const poolOps: OpRule[] = [maxPool, ...avgPool, ...globalPool, maxUnpool];
