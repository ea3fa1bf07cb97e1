/**
 * Resize's gradient. Nearest and linear resizing act on each axis separately, as a fixed [out, in]
 * matrix per resized axis (one-hot rows for nearest, two interpolation weights for linear), so the
 * gradient is the transposed matrices applied to gy. The matrices are computed here with ORT's own
 * coordinate arithmetic (float32, clamping at the borders), from static sizes and constant scales.
 * Nearest upsampling by an integer factor where every output copies the input pixel o/r (asymmetric,
 * half_pixel with rounding) is block replication: its gradient is a sum over the blocks instead.
 */
import { badInput } from '../../errors.js';
import { DataType } from '../../ir/dtype.js';
import { makeTensor, tensorNumbers } from '../../ir/tensor.js';
import type { GradContext, GradRule } from './types.js';

const f = Math.fround;

function unsupported(ctx: GradContext, what: string): never {
  throw badInput(
    `Resize node '${ctx.node.name ?? ctx.node.output[0]}': no gradient for ${what}; freeze the parameters before it (--freeze)`,
  );
}

/** ORT's source coordinate of output index `o` (upsamplebase.h), in float32. */
function sourceCoord(mode: string, o: number, scale: number, outLen: number, inLen: number): number {
  switch (mode) {
    case 'half_pixel':
      return f(f(f(o + 0.5) / scale) - 0.5);
    case 'half_pixel_symmetric': {
      const adjustment = f(outLen / f(scale * inLen));
      const offset = f(f(inLen / 2) * f(1 - adjustment));
      return f(offset + f(f(f(o + 0.5) / scale) - 0.5));
    }
    case 'pytorch_half_pixel':
      return outLen > 1 ? f(f(f(o + 0.5) / scale) - 0.5) : 0;
    case 'align_corners':
      return outLen === 1 ? 0 : f(f(o * (inLen - 1)) / (outLen - 1));
    case 'asymmetric':
      return f(o / scale);
    case 'tf_half_pixel_for_nn':
      return f(f(o + 0.5) / scale);
    default:
      return NaN;
  }
}

function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case 'round_prefer_floor':
      return x === Math.trunc(x) + 0.5 ? Math.floor(x) : Math.sign(x) * Math.round(Math.abs(x));
    case 'round_prefer_ceil':
      return Math.sign(x) * Math.round(Math.abs(x));
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    default:
      return NaN;
  }
}

/** The [out, in] matrix of one axis, row-major. */
function axisMatrix(
  ctx: GradContext,
  mode: string,
  coordMode: string,
  nearestMode: string,
  scale: number,
  outLen: number,
  inLen: number,
): Float32Array {
  const w = new Float32Array(outLen * inLen);
  for (let o = 0; o < outLen; o++) {
    const x = sourceCoord(coordMode, o, scale, outLen, inLen);
    if (Number.isNaN(x)) unsupported(ctx, `coordinate_transformation_mode '${coordMode}'`);
    if (mode === 'nearest') {
      const i = nearestIndex(nearestMode, x);
      if (Number.isNaN(i)) unsupported(ctx, `nearest_mode '${nearestMode}'`);
      w[o * inLen + Math.max(0, Math.min(i, inLen - 1))] = 1;
    } else {
      const c = Math.max(0, Math.min(x, inLen - 1));
      const i1 = Math.min(Math.trunc(c), inLen - 1);
      const i2 = Math.min(i1 + 1, inLen - 1);
      if (i1 === i2) {
        w[o * inLen + i1] = 1;
        continue;
      }
      w[o * inLen + i1] += f(Math.abs(c - i2));
      w[o * inLen + i2] += f(Math.abs(c - i1));
    }
  }
  return w;
}

/** The integer factor r when row o of `w` picks input o div r for every o, else undefined. */
function blockFactor(w: Float32Array, outLen: number, inLen: number): number | undefined {
  if (outLen % inLen !== 0) return undefined;
  const r = outLen / inLen;
  for (let o = 0; o < outLen; o++) if (w[o * inLen + Math.floor(o / r)] !== 1) return undefined;
  return r;
}

export const resizeGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const x = node.input[0]!;
    const mode = attr.string('mode', 'nearest');
    if (mode !== 'nearest' && mode !== 'linear') unsupported(ctx, `mode '${mode}' (nearest and linear only)`);
    if (attr.int('antialias', 0) !== 0) unsupported(ctx, 'antialias');
    const coordMode = ctx.opset < 11 ? 'asymmetric' : attr.string('coordinate_transformation_mode', 'half_pixel');
    const nearestMode = ctx.opset < 11 ? 'floor' : attr.string('nearest_mode', 'round_prefer_floor');
    const xs = ctx.shape(x);
    const ys = ctx.shape(node.output[0]!);
    if (!xs || !ys) unsupported(ctx, 'unknown input or output ranks; give the model input shapes');
    const rank = xs.length;
    const axes = (attr.ints('axes') ?? Array.from({ length: rank }, (_, i) => i)).map((a) => (a < 0 ? a + rank : a));
    const scalesName = ctx.opset < 11 ? node.input[1] : node.input[2];
    const sizesName = ctx.opset < 11 ? undefined : node.input[3];
    let scales: number[] | undefined;
    if (scalesName) {
      const t = ctx.constant(scalesName);
      if (!t) {
        if (!sizesName) unsupported(ctx, 'scales computed in the graph (they must be constants)');
      } else if (t.dims.reduce((a, b) => a * b, 1) > 0) scales = tensorNumbers(t);
    }
    if (sizesName && attr.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch')
      unsupported(ctx, 'keep_aspect_ratio_policy other than stretch');
    const gy = ctx.gy[0]!;
    // Per resized axis: its matrix, and the block factor when the axis is integer nearest upsampling.
    // Sizes unknown until run time: the matrix is computed in the graph instead (see runtimeMatrix).
    const plan: { axis: number; outLen: number; inLen: number; w?: Float32Array; scale?: number; r?: number }[] = [];
    axes.forEach((axis, k) => {
      const inLen = xs[axis];
      const outLen = ys[axis];
      const scale = scales ? scales[k]! : undefined;
      if (inLen === outLen && (scale === undefined || scale === 1)) return;
      if (coordMode === 'tf_crop_and_resize') unsupported(ctx, "coordinate_transformation_mode 'tf_crop_and_resize'");
      if (typeof inLen !== 'number' || typeof outLen !== 'number') {
        if (ctx.opset < 11)
          unsupported(ctx, `a symbolic size on resized axis ${axis} in opset ${ctx.opset}; give the model input shapes (--shape)`);
        plan.push({ axis, outLen: -1, inLen: -1, scale });
        return;
      }
      const w = axisMatrix(ctx, mode, coordMode, nearestMode, scale ?? f(outLen / inLen), outLen, inLen);
      plan.push({ axis, outLen, inLen, w, r: mode === 'nearest' ? blockFactor(w, outLen, inLen) : undefined });
    });
    if (plan.length === 0) return [gy];
    // Block sums: split each resized axis into [in, r] and sum the r axes, when the reshape is static.
    const first = Math.min(...plan.map((p) => p.axis));
    const blocks = plan.every((p) => p.r !== undefined) && ys.every((d, i) => i < first || typeof d === 'number');
    if (blocks) {
      const shape: number[] = [];
      const sumAxes: number[] = [];
      ys.forEach((d, i) => {
        const p = plan.find((q) => q.axis === i);
        if (p) {
          shape.push(p.inLen);
          sumAxes.push(shape.length);
          shape.push(p.r!);
        } else shape.push(i < first ? 0 : (d as number));
      });
      return [emit.reduceSum(emit.reshape(gy, emit.ints(shape)), sumAxes, false)];
    }
    // Matrices: contract gy's resized axes with W ([out, in]) one axis at a time.
    let g = gy;
    for (const p of plan) {
      if (!p.w) {
        const wt = runtimeMatrix(ctx, p.axis, p.scale);
        if (p.axis === rank - 2) {
          g = emit.op('MatMul', [wt, g]);
          continue;
        }
        const m = emit.op('Transpose', [wt], { perm: [1, 0] });
        if (p.axis === rank - 1) {
          g = emit.op('MatMul', [g, m]);
          continue;
        }
        const perm = Array.from({ length: rank }, (_, i) => i);
        [perm[p.axis], perm[rank - 1]] = [rank - 1, p.axis];
        g = emit.op('Transpose', [emit.op('MatMul', [emit.op('Transpose', [g], { perm }), m])], { perm });
        continue;
      }
      const w = p.w;
      const key = `resize:${mode}:${coordMode}:${nearestMode}:${p.outLen}:${p.inLen}:${w.join(',')}`;
      if (p.axis === rank - 2) {
        const wt = new Float32Array(p.inLen * p.outLen);
        for (let o = 0; o < p.outLen; o++) for (let i = 0; i < p.inLen; i++) wt[i * p.outLen + o] = w[o * p.inLen + i]!;
        const m = emit.cachedInitializer(`${key}:T`, 'resize_wT', (name) => makeTensor(name, DataType.FLOAT, [p.inLen, p.outLen], wt));
        g = emit.op('MatMul', [castTo(ctx, m), g]);
        continue;
      }
      const m = castTo(
        ctx,
        emit.cachedInitializer(key, 'resize_w', (name) => makeTensor(name, DataType.FLOAT, [p.outLen, p.inLen], w)),
      );
      if (p.axis === rank - 1) {
        g = emit.op('MatMul', [g, m]);
        continue;
      }
      const perm = Array.from({ length: rank }, (_, i) => i);
      [perm[p.axis], perm[rank - 1]] = [rank - 1, p.axis];
      g = emit.op('Transpose', [emit.op('MatMul', [emit.op('Transpose', [g], { perm }), m])], { perm });
    }
    return [g];
  },
};

/**
 * The transposed matrix [in, out] of one axis whose sizes are known only at run time, computed by ORT
 * itself: the same Resize applied along the last axis of an identity matrix turns row i (e_i) into
 * column i of the matrix, with exactly the arithmetic of the forward op.
 */
function runtimeMatrix(ctx: GradContext, axis: number, scale: number | undefined): string {
  const { emit, node } = ctx;
  const len = (v: string) => emit.op('Slice', [emit.shapeOf(v), emit.ints([axis]), emit.ints([axis + 1])]);
  const inLen = len(node.input[0]!);
  const zero = makeTensor('value', DataType.FLOAT, [1], Float32Array.of(0));
  const eye = emit.op('EyeLike', [emit.op('ConstantOfShape', [emit.op('Concat', [inLen, inLen], { axis: 0 })], { value: zero })], {
    dtype: ctx.elemType,
  });
  const attrs = Object.fromEntries(
    node.attribute
      .filter((a) => a.name !== 'axes' && a.name !== 'keep_aspect_ratio_policy')
      .map((a) => [a.name!, a.s !== undefined ? new TextDecoder().decode(a.s) : (a.f ?? Number(a.i))]),
  );
  const target =
    scale !== undefined
      ? ['', emit.initializerFloats([1, 1, 1, scale])]
      : ['', '', emit.op('Concat', [emit.ints([1, 1]), inLen, len(node.output[0]!)], { axis: 0 })];
  const resized = emit.op('Resize', [emit.unsqueeze(eye, [0, 1]), ...target], attrs);
  return emit.reshape(resized, emit.op('Concat', [inLen, emit.ints([-1])], { axis: 0 }));
}

/** A float32 constant in the node's float type. */
function castTo(ctx: GradContext, name: string): string {
  return ctx.elemType === DataType.FLOAT ? name : ctx.emit.op('Cast', [name], { to: ctx.elemType });
}
