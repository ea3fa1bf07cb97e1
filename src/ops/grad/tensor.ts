/** Gradients of ops that move, select or reduce elements without arithmetic on them. */
import { badInput } from '../../errors.js';
import { DataType } from '../../ir/dtype.js';
import { makeTensor, tensorNumbers } from '../../ir/tensor.js';
import type { GradContext, GradRule } from './types.js';

function label(ctx: GradContext): string {
  return `${ctx.node.opType} node '${ctx.node.name ?? ctx.node.output[0]}'`;
}

/** Ops that only re-view their first input: the gradient is gy reshaped back to the input's shape. */
export const reshapeLikeGrad: GradRule = {
  grad: (ctx) => (ctx.needs(0) ? [ctx.emit.reshapeLike(ctx.gy[0]!, ctx.node.input[0]!)] : []),
};

export const transposeGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    let perm = ctx.attr.ints('perm');
    if (!perm) {
      const rank = ctx.shape(ctx.node.input[0]!)?.length;
      if (rank === undefined) return [ctx.emit.op('Transpose', [ctx.gy[0]!])]; // reversal is its own inverse
      perm = Array.from({ length: rank }, (_, i) => rank - 1 - i);
    }
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => {
      inv[p] = i;
    });
    return [ctx.emit.op('Transpose', [ctx.gy[0]!], { perm: inv })];
  },
};

/** Normalizes a possibly negative axis against the rank of `name` (which must then be known). */
function axisOf(ctx: GradContext, axis: number, name: string): number {
  if (axis >= 0) return axis;
  const rank = ctx.shape(name)?.length;
  if (rank === undefined) throw badInput(`${label(ctx)}: a negative axis needs the rank of '${name}'; give the model input shapes`);
  return axis + rank;
}

export const concatGrad: GradRule = {
  grad(ctx) {
    const { emit, node } = ctx;
    const axis = axisOf(ctx, ctx.attr.int('axis', 0), node.input[0]!);
    const sizes = node.input.map((x) => ctx.shape(x)?.[axis]);
    const sizeInput = sizes.every((d) => typeof d === 'number')
      ? emit.ints(sizes as number[])
      : emit.op(
          'Concat',
          node.input.map((x) => emit.op('Slice', [emit.shapeOf(x), emit.ints([axis]), emit.ints([axis + 1])])),
          { axis: 0 },
        );
    const parts =
      ctx.opset >= 13
        ? emit.opN('Split', [ctx.gy[0]!, sizeInput], node.input.length, { axis })
        : emit.opN('Split', [ctx.gy[0]!], node.input.length, {
            axis,
            split: sizes.map((d) => {
              if (typeof d !== 'number') throw badInput(`${label(ctx)}: opset ${ctx.opset} needs static concat sizes for the gradient`);
              return d;
            }),
          });
    return node.input.map((_, i) => (ctx.needs(i) ? parts[i] : undefined));
  },
};

/** Zeros shaped like `like`, in the node's float type. */
function zerosLike(ctx: GradContext, like: string): string {
  const zero = ctx.elemType === DataType.DOUBLE ? Float64Array.of(0) : Float32Array.of(0);
  return ctx.emit.op('ConstantOfShape', [ctx.emit.shapeOf(like)], { value: makeTensor('value', ctx.elemType, [1], zero) });
}

export const splitGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { node } = ctx;
    const axis = axisOf(ctx, ctx.attr.int('axis', 0), node.input[0]!);
    const parts = node.output.map((y, i) => ctx.gy[i] ?? zerosLike(ctx, y));
    return [ctx.emit.op('Concat', parts, { axis })];
  },
};

/**
 * Slice: scatter gy back into zeros through the flat indices the same Slice picks from an iota, which
 * handles steps, negative bounds and clamping exactly as the forward op did.
 */
export const sliceGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node } = ctx;
    const x = node.input[0]!;
    if (ctx.opset < 10) throw badInput(`${label(ctx)}: Slice gradients need opset 10 or later`);
    const size = emit.op('Size', [x]);
    const iota = emit.reshapeLike(emit.op('Range', [emit.int64(0), size, emit.int64(1)]), x);
    const picked = emit.op('Slice', [iota, ...node.input.slice(1)]);
    const flat = emit.op(
      'ScatterElements',
      [emit.reshape(zerosLike(ctx, x), emit.ints([-1])), emit.reshape(picked, emit.ints([-1])), emit.reshape(ctx.gy[0]!, emit.ints([-1]))],
      { axis: 0 },
    );
    return [emit.reshapeLike(flat, x)];
  },
};

/**
 * Pad, every mode, negative pads (crops) too. Constant mode: each input element lands at its offset, so the
 * gradient is Pad of gy by the negated pads (a slice where the forward padded, zeros where it cropped); the
 * fill value gets what fell on the border. Reflect, edge and wrap copy an input element to several places:
 * Pad an iota of x's flat indices (from 1) in the same mode, so each output element names the element it
 * copied, and scatter-add gy there (into N + 1 slots; slot 0 takes what a crop dropped, and is dropped).
 */
export const padGrad: GradRule = {
  grad(ctx) {
    const { emit, node } = ctx;
    if (ctx.opset < 11)
      throw badInput(`${label(ctx)}: Pad gradients need the pads as an input (opset 11 or later); the model has opset ${ctx.opset}`);
    const [x, pads, , axes] = node.input as [string, string, string | undefined, string | undefined];
    const gy = ctx.gy[0]!;
    const mode = ctx.attr.string('mode', 'constant');
    const rest = axes ? ['', axes] : [];
    if (mode === 'constant') {
      const gx = emit.op('Pad', [gy, emit.op('Neg', [pads]), ...rest]);
      const gFill = ctx.needs(2)
        ? emit.reshapeLike(
            emit.sub(emit.op('ReduceSum', [gy], { keepdims: 0 }), emit.op('ReduceSum', [gx], { keepdims: 0 })),
            node.input[2]!,
          )
        : undefined;
      return [ctx.needs(0) ? gx : undefined, undefined, gFill];
    }
    if (!ctx.needs(0)) return [];
    if (ctx.opset < 16)
      throw badInput(
        `${label(ctx)}: ${mode}-mode Pad gradients need ScatterElements' add reduction (opset 16); the model has opset ${ctx.opset}`,
      );
    const slots = emit.add(emit.op('Size', [x]), emit.int64(1));
    const iota = emit.reshapeLike(emit.op('Range', [emit.int64(1), slots, emit.int64(1)]), x);
    const source = emit.op('Pad', [iota, pads, ...rest], { mode });
    const zeros = emit.op('ConstantOfShape', [emit.reshape(slots, emit.ints([1]))], {
      value: makeTensor('value', ctx.elemType, [1], ctx.elemType === DataType.DOUBLE ? Float64Array.of(0) : Float32Array.of(0)),
    });
    const flat = emit.op('ScatterElements', [zeros, emit.reshape(source, emit.ints([-1])), emit.reshape(gy, emit.ints([-1]))], {
      axis: 0,
      reduction: 'add',
    });
    return [emit.reshapeLike(emit.op('Slice', [flat, emit.ints([1]), emit.ints([Number.MAX_SAFE_INTEGER])]), x)];
  },
};

/** Gather (embeddings and general): ScatterND with add, after moving the gathered axis to the front. */
export const gatherGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node } = ctx;
    const [data, indices] = node.input as [string, string];
    if (ctx.opset < 16)
      throw badInput(`${label(ctx)}: Gather gradients need ScatterND's add reduction (opset 16); the model has opset ${ctx.opset}`);
    const axis = axisOf(ctx, ctx.attr.int('axis', 0), data);
    const gy = ctx.gy[0]!;
    const idx = emit.unsqueeze(emit.op('Cast', [indices], { to: DataType.INT64 }), [-1]);
    if (axis === 0) return [emit.op('ScatterND', [zerosLike(ctx, data), idx, gy], { reduction: 'add' })];
    const r = ctx.shape(data)?.length;
    const q = ctx.shape(indices)?.length;
    if (r === undefined || q === undefined) throw badInput(`${label(ctx)}: the gradient needs the ranks of its inputs`);
    const dataPerm = [axis, ...Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis)];
    const gPerm = [
      ...Array.from({ length: q }, (_, i) => axis + i),
      ...Array.from({ length: axis }, (_, i) => i),
      ...Array.from({ length: r - axis - 1 }, (_, i) => axis + q + i),
    ];
    const zerosT = emit.op('Transpose', [zerosLike(ctx, data)], { perm: dataPerm });
    const scattered = emit.op('ScatterND', [zerosT, idx, emit.op('Transpose', [gy], { perm: gPerm })], { reduction: 'add' });
    const inv = new Array<number>(r);
    dataPerm.forEach((p, i) => {
      inv[p] = i;
    });
    return [emit.op('Transpose', [scattered], { perm: inv })];
  },
};

export const expandGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const x = ctx.node.input[0]!;
    return [ctx.emit.sumTo(ctx.gy[0]!, x, ctx.shape(ctx.node.output[0]!), ctx.shape(x), ctx.elemType)];
  },
};

/** Axes of a Reduce* node: an attribute before `inputFrom` (the op's `axesInputSince`), a constant input from it. */
function reduceAxes(ctx: GradContext, inputFrom: number): number[] | undefined {
  const { node } = ctx;
  if (ctx.opset < inputFrom) return ctx.attr.ints('axes');
  const a = node.input[1];
  if (!a) return undefined;
  const t = ctx.constant(a);
  if (!t) throw badInput(`${label(ctx)}: the gradient needs constant axes`);
  return tensorNumbers(t);
}

/** ReduceSum's and ReduceMean's rule; `inputFrom` is the opset from which the op takes axes as input 1. */
export function reduceGrad(opType: 'ReduceSum' | 'ReduceMean', inputFrom: number): GradRule {
  return {
    grad(ctx) {
      if (!ctx.needs(0)) return [];
      const { emit } = ctx;
      const x = ctx.node.input[0]!;
      const axes = reduceAxes(ctx, inputFrom);
      const keep = ctx.attr.int('keepdims', 1) === 1;
      const noop = ctx.attr.int('noop_with_empty_axes', 0) === 1;
      let g = ctx.gy[0]!;
      if ((!axes || axes.length === 0) && noop) return [g];
      if (!keep && axes && axes.length > 0) g = emit.unsqueeze(g, axes);
      if (opType === 'ReduceMean') {
        const count = emit.div(
          emit.op('Cast', [emit.op('Size', [x])], { to: ctx.elemType }),
          emit.op('Cast', [emit.op('Size', [ctx.gy[0]!])], { to: ctx.elemType }),
        );
        g = emit.div(g, count);
      }
      return [emit.op('Expand', [g, emit.shapeOf(x)])];
    },
  };
}

export const dropoutGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node } = ctx;
    const mask = node.output[1];
    // Without a mask output the node ran in inference mode: the identity.
    if (!mask) return [ctx.gy[0]];
    const ratio = node.input[1] ? ctx.constant(node.input[1]) : undefined;
    const r = ratio ? tensorNumbers(ratio)[0]! : ctx.opset >= 12 ? 0.5 : ctx.attr.float('ratio', 0.5);
    const m = emit.op('Cast', [mask], { to: ctx.elemType });
    return [emit.mul(emit.mul(ctx.gy[0]!, m), emit.scalar(1 / (1 - r), ctx.elemType))];
  },
};
