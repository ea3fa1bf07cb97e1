/**
 * The gradient of Hone's training-only FakeQuantize (ops/quant.ts): the straight-through estimator with
 * clipping (Bengio et al. 2013; Jacob et al. 2018) — rounding passes the gradient unchanged, and inputs the
 * integer range clips get none: gx = gy where (qmin − zp)·s ≤ x ≤ (qmax − zp)·s, else 0. The scale and zero
 * point are fixed (calibrated) settings.
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
    let lo = emit.mul(emit.sub(emit.scalar(qmin), z), s);
    let hi = emit.mul(emit.sub(emit.scalar(qmax), z), s);
    const sRank = ctx.shape(s)?.length ?? 0;
    if (sRank === 1 && rank !== undefined) {
      // One scale per channel along `axis`: shaped to broadcast against x.
      const axis = attr.int('axis', 1) < 0 ? attr.int('axis', 1) + rank : attr.int('axis', 1);
      const shape = emit.ints([-1, ...Array(rank - axis - 1).fill(1)]);
      lo = emit.reshape(lo, shape);
      hi = emit.reshape(hi, shape);
    }
    const inside = emit.op('And', [emit.op('GreaterOrEqual', [x, lo]), emit.op('LessOrEqual', [x, hi])]);
    return [emit.op('Where', [inside, ctx.gy[0]!, emit.scalar(0)]), undefined, undefined];
  },
};
