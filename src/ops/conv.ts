/**
 * Convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv (and ORT's FusedConv). Output sizes follow
 * the ONNX spec (explicit pads or auto_pad); MACs = N*Cout*prod(out spatial)*(Cin/groups)*prod(kernel).
 * convLike: the float convolutions (Conv, ConvTranspose, FusedConv).
 */
import { DataType } from '../ir/dtype.js';
import { convGrad, convTransposeGrad } from './grad/nn.js';
import { biasSlice, slice, through } from './prune-rules.js';
import type { Cost, Dim, OpContext, OpRule, ValueType } from './types.js';
import { ceilDivDim, fail, input, ioBytes, numel, shapeStr, spatial, windowDim } from './util.js';

/** Padding of n spatial dims: explicit begin/end from `pads`, or undefined for SAME_* auto padding. */
export function explicitPads(ctx: OpContext, n: number): { begin: number[]; end: number[] } | undefined {
  const autoPad = ctx.attr.string('auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return undefined;
  if (autoPad === 'VALID') return { begin: new Array<number>(n).fill(0), end: new Array<number>(n).fill(0) };
  const pads = ctx.attr.ints('pads');
  if (!pads || pads.length === 0) return { begin: new Array<number>(n).fill(0), end: new Array<number>(n).fill(0) };
  if (pads.length !== 2 * n) fail(`pads has ${pads.length} values, expected ${2 * n} (begin and end for each of ${n} spatial dims)`);
  return { begin: pads.slice(0, n), end: pads.slice(n) };
}

/** Spatial output dims of a sliding window over `inDims` (conv and pooling share this). */
export function windowOutput(ctx: OpContext, inDims: Dim[], kernel: number[], ceil = false): Dim[] {
  const n = inDims.length;
  const strides = spatial(ctx, 'strides', n, 1);
  const dil = spatial(ctx, 'dilations', n, 1);
  const pads = explicitPads(ctx, n);
  return inDims.map((d, i) =>
    pads
      ? windowDim(ctx, d, kernel[i]!, strides[i]!, dil[i]!, pads.begin[i]! + pads.end[i]!, ceil, pads.begin[i]!)
      : ceilDivDim(ctx, d, strides[i]!),
  );
}

function convShape(ctx: OpContext, xi: number, wi: number): Dim[] | undefined {
  const x = input(ctx, xi).shape;
  const w = input(ctx, wi).shape;
  if (!x) return undefined;
  if (x.length < 3) fail(`Conv input must be [N, C, spatial...], got ${shapeStr(x)}`);
  const n = x.length - 2;
  const group = ctx.attr.int('group', 1);
  let kernel = ctx.attr.ints('kernel_shape');
  if (!kernel) {
    if (!w) return [x[0]!, ctx.freshDim(), ...x.slice(2).map(() => ctx.freshDim())];
    if (w.length !== x.length) fail(`Conv weight ${shapeStr(w)} and input ${shapeStr(x)} have different ranks`);
    const ks = w.slice(2);
    if (ks.some((k) => typeof k !== 'number')) fail(`Conv weight ${shapeStr(w)} has symbolic kernel dims; give kernel_shape`);
    kernel = ks as number[];
  }
  if (kernel.length !== n) fail(`kernel_shape has ${kernel.length} values for ${n} spatial dims of ${shapeStr(x)}`);
  if (w) {
    const [cin, wc] = [x[1], w[1]];
    if (typeof cin === 'number' && typeof wc === 'number' && cin !== wc * group) {
      fail(`Conv input has ${cin} channels but weight ${shapeStr(w)} with group=${group} expects ${wc * group}`);
    }
  }
  const m = w ? w[0]! : ctx.freshDim();
  return [x[0]!, m, ...windowOutput(ctx, x.slice(2), kernel)];
}

/** Conv cost: each output element takes (Cin/groups)*prod(kernel) MACs; a bias adds one flop per output. */
function convCost(wi: number, bi: number) {
  return (ctx: OpContext, outputs: ValueType[]): Cost => {
    const w = ctx.inputs[wi]?.shape;
    const perOut = w ? w.slice(1).reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1) : 1;
    const macs = numel(outputs[0]) * perOut;
    const bias = (ctx.node.input[bi] ?? '') !== '' ? numel(outputs[0]) : 0;
    return { macs, flops: 2 * macs + bias, ...ioBytes(ctx, outputs) };
  };
}

const conv: OpRule = {
  opTypes: ['Conv'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: convShape(ctx, 0, 1) }],
  cost: convCost(1, 2),
  grad: convGrad,
  quant: {
    kind: 'compute',
    activations: [0],
    weights: [{ input: 1, axis: 0 }],
    bias: 2,
    qoperator: { opType: 'QLinearConv', layout: ['x0', 'x1', 'y0', 'b2'] },
  },
  prune: {
    // A filter per output channel (group 1): removing one removes its filter and bias.
    produces: (ctx) =>
      ctx.attr.int('group', 1) === 1 && ctx.isConstant(1) ? { axis: 1, slices: [slice(1, 0), ...biasSlice(ctx, 2)] } : undefined,
    flow(ctx, input, axis) {
      if (input !== 0 || axis !== 1 || !ctx.isConstant(1)) return undefined;
      const group = ctx.attr.int('group', 1);
      if (group === 1) return { kind: 'absorb', slices: [slice(1, 1)] };
      // Depthwise (one filter per input channel): channel c's output is channel c; `group` follows the count.
      const w = ctx.inputs[1]?.shape;
      if (w?.[0] === group && w[1] === 1 && ctx.inputs[0]?.shape?.[1] === group)
        return through(1, [slice(1, 0), ...biasSlice(ctx, 2)], true);
      return undefined;
    },
  },
  // A QDQ model's Conv (with its DequantizeLinear inputs and QuantizeLinear output) runs as one QLinearConv.
  props: { convLike: true, ortForms: ['FusedConv', 'NhwcFusedConv', 'NhwcConv', 'QLinearConv', 'NhwcQLinearConv'] },
};

/** DeformConv(X, W, offset, B?, mask?): Conv's output shape; each MAC also bilinearly samples its input. */
const deformConv: OpRule = {
  opTypes: ['DeformConv'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: convShape(ctx, 0, 1) }],
  cost: (ctx, outputs) => {
    const base = convCost(1, 3)(ctx, outputs);
    return { ...base, flops: base.flops + 4 * base.macs };
  },
};

const convInteger: OpRule = {
  opTypes: ['ConvInteger'],
  infer: (ctx) => [{ elemType: DataType.INT32, shape: convShape(ctx, 0, 1) }],
  cost: convCost(1, -1),
};

/** QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B). */
const qlinearConv: OpRule = {
  opTypes: ['QLinearConv'],
  infer: (ctx) => [{ elemType: input(ctx, 7).elemType, shape: convShape(ctx, 0, 3) }],
  cost: convCost(3, 8),
};

/** ORT's FusedConv (Conv + activation, optional residual input Z). */
const fusedConv: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['FusedConv'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: convShape(ctx, 0, 1) }],
  cost: convCost(1, 2),
  props: { convLike: true },
};

const convTranspose: OpRule = {
  opTypes: ['ConvTranspose'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const w = input(ctx, 1).shape;
    if (!x.shape) return [{ elemType: x.elemType }];
    if (x.shape.length < 3) fail(`ConvTranspose input must be [N, C, spatial...], got ${shapeStr(x.shape)}`);
    const n = x.shape.length - 2;
    const group = ctx.attr.int('group', 1);
    const kernel =
      ctx.attr.ints('kernel_shape') ?? (w?.slice(2).every((d) => typeof d === 'number') ? (w.slice(2) as number[]) : undefined);
    const wOut = w?.[1];
    const m: Dim = typeof wOut === 'number' ? wOut * group : ctx.freshDim();
    if (w && typeof x.shape[1] === 'number' && typeof w[0] === 'number' && x.shape[1] !== w[0]) {
      fail(`ConvTranspose input has ${x.shape[1]} channels but weight ${shapeStr(w)} expects ${w[0]}`);
    }
    const given = ctx.attr.ints('output_shape');
    if (given && given.length > 0) return [{ elemType: x.elemType, shape: [x.shape[0]!, m, ...given.slice(given.length - n)] }];
    if (!kernel) return [{ elemType: x.elemType, shape: [x.shape[0]!, m, ...x.shape.slice(2).map(() => ctx.freshDim())] }];
    const strides = spatial(ctx, 'strides', n, 1);
    const dil = spatial(ctx, 'dilations', n, 1);
    const outPad = spatial(ctx, 'output_padding', n, 0);
    const pads = explicitPads(ctx, n);
    const outDims = x.shape.slice(2).map((d, i): Dim => {
      if (typeof d !== 'number') return ctx.freshDim();
      if (!pads) return d * strides[i]!;
      const out = strides[i]! * (d - 1) + outPad[i]! + (kernel[i]! - 1) * dil[i]! + 1 - pads.begin[i]! - pads.end[i]!;
      if (out <= 0) fail(`ConvTranspose output dim ${i} would be ${out}`);
      return out;
    });
    return [{ elemType: x.elemType, shape: [x.shape[0]!, m, ...outDims] }];
  },
  cost: (ctx, outputs) => {
    // Each input element scatters into (Cout/groups)*prod(kernel) outputs.
    const w = ctx.inputs[1]?.shape;
    const perIn = w ? w.slice(1).reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1) : 1;
    const macs = numel(ctx.inputs[0]) * perIn;
    const bias = (ctx.node.input[2] ?? '') !== '' ? numel(outputs[0]) : 0;
    return { macs, flops: 2 * macs + bias, ...ioBytes(ctx, outputs) };
  },
  grad: convTransposeGrad,
  props: { convLike: true },
};

export const convOps: OpRule[] = [conv, deformConv, convInteger, qlinearConv, fusedConv, convTranspose];
