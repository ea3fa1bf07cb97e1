/** Gradients of activations and (log-)softmax. */
import { badInput } from '../../errors.js';
import type { GradContext, GradRule } from './types.js';

const s = (ctx: GradContext, v: number) => ctx.emit.scalar(v, ctx.elemType);

function only0(ctx: GradContext, f: (gy: string, x: string, y: string) => string): (string | undefined)[] {
  return ctx.needs(0) ? [f(ctx.gy[0]!, ctx.node.input[0]!, ctx.node.output[0]!)] : [];
}

export const reluGrad: GradRule = {
  // gy where y > 0; nothing when gy is already zero where y ≤ 0.
  grad: (ctx) =>
    only0(ctx, (gy, _x, y) =>
      ctx.emit.isZeroWhereNotPositive(gy, y) ? gy : ctx.emit.masked(ctx.emit.op('Greater', [y, s(ctx, 0)]), gy, ctx.elemType),
    ),
};

export const leakyReluGrad: GradRule = {
  grad: (ctx) =>
    only0(ctx, (gy, x) =>
      ctx.emit.op('Where', [ctx.emit.op('Greater', [x, s(ctx, 0)]), gy, ctx.emit.mul(gy, s(ctx, ctx.attr.float('alpha', 0.01)))]),
    ),
};

export const sigmoidGrad: GradRule = {
  grad: (ctx) => only0(ctx, (gy, _x, y) => ctx.emit.mul(gy, ctx.emit.mul(y, ctx.emit.sub(s(ctx, 1), y)))),
};

export const tanhGrad: GradRule = {
  grad: (ctx) => only0(ctx, (gy, _x, y) => ctx.emit.mul(gy, ctx.emit.sub(s(ctx, 1), ctx.emit.mul(y, y)))),
};

export const clipGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const x = node.input[0]!;
    // Opset 11+ takes min/max as inputs, older opsets as attributes.
    const lo = ctx.opset >= 11 ? node.input[1] || undefined : attr.has('min') ? s(ctx, attr.float('min', 0)) : undefined;
    const hi = ctx.opset >= 11 ? node.input[2] || undefined : attr.has('max') ? s(ctx, attr.float('max', 0)) : undefined;
    let inside: string | undefined;
    if (lo) inside = emit.op('GreaterOrEqual', [x, lo]);
    if (hi) {
      const le = emit.op('LessOrEqual', [x, hi]);
      inside = inside ? emit.op('And', [inside, le]) : le;
    }
    return [inside ? emit.masked(inside, ctx.gy[0]!, ctx.elemType) : ctx.gy[0]];
  },
};

/** y = max(0, min(1, αx + β)): slope α where the output is strictly inside (0, 1), 0 where clipped. */
export const hardSigmoidGrad: GradRule = {
  grad: (ctx) =>
    only0(ctx, (gy, _x, y) => {
      const { emit } = ctx;
      const inside = emit.op('And', [emit.op('Greater', [y, s(ctx, 0)]), emit.op('Less', [y, s(ctx, 1)])]);
      return emit.masked(inside, emit.mul(gy, s(ctx, ctx.attr.float('alpha', 0.2))), ctx.elemType);
    }),
};

/** y = x·HardSigmoid(x) with α = 1/6, β = 1/2: y' = 0 below -3, 1 above 3, x/3 + 1/2 between. */
export const hardSwishGrad: GradRule = {
  grad: (ctx) =>
    only0(ctx, (gy, x) => {
      const { emit } = ctx;
      const slope = emit.add(emit.mul(x, s(ctx, 1 / 3)), s(ctx, 0.5));
      const inner = emit.op('Where', [emit.op('Greater', [x, s(ctx, 3)]), s(ctx, 1), slope]);
      return emit.mul(gy, emit.op('Where', [emit.op('Less', [x, s(ctx, -3)]), s(ctx, 0), inner]));
    }),
};

export const geluGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit } = ctx;
    const x = ctx.node.input[0]!;
    const gy = ctx.gy[0]!;
    if (ctx.attr.string('approximate', 'none') === 'tanh') {
      // y = 0.5x(1+t), t = tanh(u), u = c(x + 0.044715x³); y' = 0.5(1+t) + 0.5x(1-t²)c(1 + 3·0.044715x²)
      const c = Math.sqrt(2 / Math.PI);
      const x2 = emit.mul(x, x);
      const u = emit.mul(s(ctx, c), emit.add(x, emit.mul(s(ctx, 0.044715), emit.mul(x2, x))));
      const t = emit.op('Tanh', [u]);
      const a = emit.mul(s(ctx, 0.5), emit.add(s(ctx, 1), t));
      const du = emit.mul(s(ctx, c), emit.add(s(ctx, 1), emit.mul(s(ctx, 3 * 0.044715), x2)));
      const b = emit.mul(emit.mul(s(ctx, 0.5), x), emit.mul(emit.sub(s(ctx, 1), emit.mul(t, t)), du));
      return [emit.mul(gy, emit.add(a, b))];
    }
    // y = xΦ(x); y' = Φ(x) + xφ(x)
    const cdf = emit.mul(s(ctx, 0.5), emit.add(s(ctx, 1), emit.op('Erf', [emit.mul(x, s(ctx, Math.SQRT1_2))])));
    const pdf = emit.mul(s(ctx, 1 / Math.sqrt(2 * Math.PI)), emit.op('Exp', [emit.mul(s(ctx, -0.5), emit.mul(x, x))]));
    return [emit.mul(gy, emit.add(cdf, emit.mul(x, pdf)))];
  },
};

/** The axes softmax normalizes over: one axis from opset 13, all trailing axes (2-D coercion) before. */
function softmaxAxes(ctx: GradContext): number[] {
  const x = ctx.node.input[0]!;
  if (ctx.opset >= 13) return [ctx.attr.int('axis', -1)];
  const rank = ctx.shape(x)?.length;
  if (rank === undefined)
    throw badInput(
      `${ctx.node.opType} node '${ctx.node.name ?? x}' (opset ${ctx.opset}): the gradient needs the input's rank; give the model input shapes`,
    );
  let axis = ctx.attr.int('axis', 1);
  if (axis < 0) axis += rank;
  return Array.from({ length: rank - axis }, (_, i) => axis + i);
}

export const softmaxGrad: GradRule = {
  grad: (ctx) =>
    only0(ctx, (gy, _x, y) => {
      const { emit } = ctx;
      const dot = emit.reduceSum(emit.mul(gy, y), softmaxAxes(ctx), true);
      return emit.mul(y, emit.sub(gy, dot));
    }),
};

export const logSoftmaxGrad: GradRule = {
  grad: (ctx) =>
    only0(ctx, (gy, _x, y) => {
      const { emit } = ctx;
      const sum = emit.reduceSum(gy, softmaxAxes(ctx), true);
      return emit.sub(gy, emit.mul(emit.op('Exp', [y]), sum));
    }),
};
