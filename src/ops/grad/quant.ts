/**
 * The gradient of Hone's training-only FakeQuantize (ops/quant.ts): the straight-through estimator with
 * clipping (Bengio et al. 2013; Jacob et al. 2018) — rounding passes the gradient unchanged, and inputs the
 * integer range clips get none: gx = gy where (qmin − zp)·s ≤ x ≤ (qmax − zp)·s, else 0.
 *
 * When the scale is trained (learned step size, LSQ: Esser et al. ICLR 2020), its gradient is
 * Σ gy · ∂x̂/∂s with ∂x̂/∂s = round(x/s) − x/s inside the range, and qmin − zp or qmax − zp where x is
 * clipped, summed over every element the scale covers (per tensor, or per channel along `axis`) and scaled
 * by LSQ's g = 1/√(N·Qp) — N the elements per scale, Qp the positive levels (qmax − zp) — so that the step
 * size moves at the pace of the weights. The zero point stays fixed.
 */
import { DataType } from '../../ir/dtype.js';
import type { GradRule } from './types.js';

export const fakeQuantizeGrad: GradRule = {
  grad(ctx) {
    const { emit, node, attr } = ctx;
    const [x, s, zp] = node.input as [string, string, string];
    const rank = ctx.shape(x)?.length;
    const qmin = attr.int('qmin', 0);
    const qmax = attr.int('qmax', 255);
    const z = emit.op('Cast', [zp], { to: DataType.FLOAT });
    const sRank = ctx.shape(s)?.length ?? 0;
    const axis = rank === undefined ? 1 : attr.int('axis', 1) < 0 ? attr.int('axis', 1) + rank : attr.int('axis', 1);
    // One scale per channel along `axis`: shaped to broadcast against x.
    const perChannel = sRank === 1 && rank !== undefined;
    const bshape = perChannel ? emit.ints([-1, ...Array(rank! - axis - 1).fill(1)]) : undefined;
    const broadcast = (v: string) => (bshape ? emit.reshape(v, bshape) : v);
    const lo = broadcast(emit.mul(emit.sub(emit.scalar(qmin), z), s));
    const hi = broadcast(emit.mul(emit.sub(emit.scalar(qmax), z), s));
    const inside = emit.op('And', [emit.op('GreaterOrEqual', [x, lo]), emit.op('LessOrEqual', [x, hi])]);
    const gx = ctx.needs(0) ? emit.masked(inside, ctx.gy[0]!, DataType.FLOAT) : undefined;
    if (!ctx.needs(1)) return [gx, undefined, undefined];

    const sb = broadcast(s);
    const zb = broadcast(z);
    const t = emit.div(x, sb);
    const below = emit.op('Less', [x, lo]);
    const dxds = emit.op('Where', [
      below,
      emit.sub(emit.scalar(qmin), zb),
      emit.op('Where', [inside, emit.sub(emit.op('Round', [t]), t), emit.sub(emit.scalar(qmax), zb)]),
    ]);
    const prod = emit.mul(ctx.gy[0]!, dxds);
    const axes = perChannel ? Array.from({ length: rank! }, (_, i) => i).filter((i) => i !== axis) : [];
    let gs = perChannel ? emit.reduceSum(prod, axes, false) : emit.op('ReduceSum', [prod], { keepdims: 0 });
    // g = 1/√(N·Qp): N elements per scale (the size of x over the scale's), Qp = qmax − zp positive levels.
    const n = emit.div(
      emit.op('Cast', [emit.op('Size', [x])], { to: DataType.FLOAT }),
      emit.op('Cast', [emit.op('Size', [s])], { to: DataType.FLOAT }),
    );
    const qp = emit.op('Max', [emit.sub(emit.scalar(qmax), z), emit.scalar(1)]);
    gs = emit.div(gs, emit.op('Sqrt', [emit.mul(n, qp)]));
    if (sRank === 0) gs = emit.reshape(gs, emit.ints([]));
    return [gx, gs, undefined];
  },
};
