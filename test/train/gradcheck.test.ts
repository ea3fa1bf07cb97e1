import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nchwcBlockSize } from '../../src/runtime/index.js';
import { gradcheck, rand, randAwayFromZero, readingAttributes, rejectedBy, withWrongRule } from './gradcheck-util.js';
import type { GraphBuilder } from '../../src/ir/builder.js';

const x = (name: string, shape: number[], seed: number, data?: Float32Array) => ({
  name,
  shape,
  data:
    data ??
    rand(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
});

/** erf by its Taylor series: float64-exact for the |z| < 2 used here. */
const erf = (z: number) => {
  let term = z,
    sum = z;
  for (let n = 1; n < 80; n++) {
    term *= (-z * z) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};
/** The derivatives of exact Gelu, xΦ(x), and of its tanh approximation, in float64. */
const geluDerivative = {
  none: (v: number) => 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI),
  tanh: (v: number) => {
    const c = Math.sqrt(2 / Math.PI);
    const t = Math.tanh(c * (v + 0.044715 * v ** 3));
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
  },
};

describe('gradient rules agree with finite differences', () => {
  it('Gemm (all transposes, alpha/beta, broadcast bias)', async () => {
    for (const [tA, tB] of [
      [0, 0],
      [1, 0],
      [0, 1],
      [1, 1],
    ]) {
      await gradcheck([x('a', tA ? [4, 3] : [3, 4], 1), x('b', tB ? [5, 4] : [4, 5], 2), x('c', [5], 3)], (b, [a, w, c]) => [
        b.op('Gemm', [a!, w!, c!], { transA: tA, transB: tB, alpha: 0.7, beta: 1.3 }),
      ]);
    }
  });
  it('MatMul (2-D, batched with broadcast, 1-D)', async () => {
    await gradcheck([x('a', [3, 4], 1), x('b', [4, 2], 2)], (b, [a, w]) => [b.op('MatMul', [a!, w!])]);
    await gradcheck([x('a', [2, 3, 4], 1), x('b', [4, 2], 2)], (b, [a, w]) => [b.op('MatMul', [a!, w!])]);
    await gradcheck([x('a', [2, 1, 3, 4], 1), x('b', [3, 4, 2], 2)], (b, [a, w]) => [b.op('MatMul', [a!, w!])]);
    await gradcheck([x('a', [4], 1), x('b', [2, 4, 3], 2)], (b, [a, w]) => [b.op('MatMul', [a!, w!])]);
    // A weight matrix applied to a rank-4 stack: its gradient is one GEMM over the stack's rows.
    await gradcheck([x('a', [2, 3, 2, 4], 1), x('b', [4, 5], 2)], (b, [a, w]) => [b.op('MatMul', [a!, w!])]);
  });
  it('Add/Sub/Mul/Div with broadcasting', async () => {
    for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
      const bdata = op === 'Div' ? rand(3, 4, 0.5, 1.5) : undefined;
      await gradcheck([x('a', [2, 4, 3], 1), x('b', [3], 4, bdata)], (b, [a, c]) => [b.op(op, [a!, c!])]);
      // Summed over the leading axis only, where b keeps a unit one (the MatMul-with-ones form).
      await gradcheck([x('a', [2, 4, 3], 1), x('b', [1, 4, 3], 4, op === 'Div' ? rand(12, 4, 0.5, 1.5) : undefined)], (b, [a, c]) => [
        b.op(op, [a!, c!]),
      ]);
      await gradcheck([x('a', [2, 1, 3], 1), x('b', [4, 1], 4, op === 'Div' ? rand(4, 4, 0.5, 1.5) : undefined)], (b, [a, c]) => [
        b.op(op, [a!, c!]),
      ]);
    }
  });
  it('broadcasting with symbolic dims: the un-broadcast axes are found at run time', async () => {
    // Dims named differently ('p' vs 'q') cannot be matched statically; the gradient graph compares shapes.
    for (const op of ['Add', 'Mul']) {
      // Symbolic leading dims summed away (a bias over batch and sequence): the row of ones is sized at run time.
      await gradcheck([{ ...x('a', [2, 4, 3], 1), declare: ['p', 'r', 3] }, x('b', [3], 4)], (b, [a, c]) => [b.op(op, [a!, c!])]);
      await gradcheck(
        [
          { ...x('a', [2, 4, 3], 1), declare: ['p', 'r', 3] },
          { ...x('b', [4, 1], 4), declare: ['q', 1] },
        ],
        (b, [a, c]) => [b.op(op, [a!, c!])],
      );
      await gradcheck(
        [
          { ...x('a', [2, 1, 3], 1), declare: ['p', 'r', 's'] },
          { ...x('b', [2, 4, 1], 4), declare: ['q', 't', 'u'] },
        ],
        (b, [a, c]) => [b.op(op, [a!, c!])],
      );
    }
  });
  it('unary math', async () => {
    const pos = rand(12, 5, 0.3, 2);
    for (const op of ['Neg', 'Exp', 'Sigmoid', 'Tanh', 'Erf', 'Identity', 'Sin', 'Cos']) {
      await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op(op, [a!])]);
    }
    for (const op of ['Log', 'Sqrt', 'Reciprocal']) await gradcheck([x('a', [3, 4], 1, pos)], (b, [a]) => [b.op(op, [a!])]);
    for (const op of ['Relu', 'Abs']) await gradcheck([x('a', [3, 4], 1, randAwayFromZero(12, 9))], (b, [a]) => [b.op(op, [a!])]);
    await gradcheck([x('a', [3, 4], 1, randAwayFromZero(12, 9))], (b, [a]) => [b.op('LeakyRelu', [a!], { alpha: 0.1 })]);
  });
  it('Gelu, exact and tanh: where the two derivatives differ most, each check rejects the other rule', async () => {
    // For |x| in [1.7, 2.35] the two derivatives differ by 6e-4 to 8.7e-4; with upstream gradients in [0.5, 1]
    // every checked element differs by ≥ 3e-4. The central difference there is good to ~1e-5 (float32 outputs,
    // only the moved element changes), so a tolerance of 5e-5 + 5e-5·|numeric| (≈ 1e-4) separates the rules.
    const sign = rand(16, 22);
    const xs = rand(16, 21, 1.7, 2.35).map((v, i) => (sign[i]! < 0 ? -v : v));
    const tight = { opset: 20, rtol: 5e-5, atol: 5e-5, upstream: [0.5, 1] as [number, number], maxChecks: 16 };
    for (const [approximate, other] of [
      ['none', 'tanh'],
      ['tanh', 'none'],
    ] as const) {
      const check = () => gradcheck([x('a', [4, 4], 1, xs)], (b, [a]) => [b.op('Gelu', [a!], { approximate })], tight);
      const points = await check();
      assert.equal(points.length, 16);
      // The other rule's gradient (the same upstream gradient times its derivative) fails at every element...
      const otherRule = (p: { index: number; analytic: number }) =>
        (p.analytic / geluDerivative[approximate](xs[p.index]!)) * geluDerivative[other](xs[p.index]!);
      assert.equal(rejectedBy(points, otherRule), 16, `${approximate}: the ${other} rule passes somewhere`);
      // ...and so does Hone's own rule made to read the other approximation.
      await assert.rejects(withWrongRule('Gelu', readingAttributes({ approximate: other }), check), /d\/da\[\d+\]: analytic/);
    }
    // And away from the band, on the usual [-1, 1) inputs, at the usual tolerance.
    await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Gelu', [a!])], { opset: 20 });
    await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Gelu', [a!], { approximate: 'tanh' })], { opset: 20 });
  });
  it('Pow with respect to base and exponent', async () => {
    await gradcheck([x('a', [3, 4], 1, rand(12, 3, 0.5, 2)), x('p', [4], 2, rand(4, 5, 0.5, 2.5))], (b, [a, p]) => [b.op('Pow', [a!, p!])]);
  });
  it('Softmax and LogSoftmax (opset 13 axis and opset 11 coercion)', async () => {
    for (const op of ['Softmax', 'LogSoftmax']) {
      await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op(op, [a!], { axis: 1 })]);
      await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op(op, [a!], { axis: 1 })], { opset: 11 });
    }
  });
  it('Conv: stride, pads, dilation, groups, 1-D and 2-D', async () => {
    const cases: [number[], number[], Record<string, number[] | number>][] = [
      [[2, 3, 6, 6], [4, 3, 3, 3], {}],
      [[2, 3, 7, 7], [4, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }],
      [[1, 2, 8, 7], [3, 2, 2, 3], { strides: [2, 3], pads: [0, 1, 1, 0], dilations: [2, 1] }],
      [[2, 4, 5, 5], [6, 2, 3, 3], { group: 2, pads: [1, 1, 1, 1] }],
      [[1, 3, 5, 5], [3, 1, 3, 3], { group: 3, strides: [2, 2] }],
      [[2, 2, 9], [3, 2, 3], { strides: [2], dilations: [2], pads: [1, 2] }],
      // Small kernels take the unfolded weight gradient: more outputs than patch values, channel multiplier.
      [[2, 1, 5, 5], [8, 1, 2, 2], { pads: [1, 0, 0, 1] }],
      [[1, 2, 5, 5], [4, 1, 3, 3], { group: 2, pads: [1, 1, 1, 1] }],
      // Few output positions: the unfolded weight gradient as one GEMM over the batch (plain, grouped).
      [[2, 4, 3, 3], [6, 4, 3, 3], {}],
      [[2, 4, 4, 4], [8, 2, 3, 3], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }],
      // Depthwise (weight gradient from shifted slices): uneven pads, dilation, strides.
      [[2, 2, 6, 7], [2, 1, 3, 2], { group: 2, pads: [1, 0, 2, 1], dilations: [2, 1], strides: [1, 2] }],
      // Kernels above 16 taps keep the direct form (a Conv over transposed tensors): plain, grouped, depthwise.
      [[2, 3, 7, 7], [4, 3, 5, 5], { pads: [2, 1, 2, 1], strides: [2, 1] }],
      [[1, 4, 6, 6], [4, 2, 5, 5], { group: 2, pads: [2, 2, 2, 2] }],
      [[1, 2, 6, 6], [2, 1, 5, 5], { group: 2, dilations: [1, 1] }],
      // Stride 1: the input gradient is a Conv with flipped, transposed weights (depthwise dilated with
      // uneven pads, 1-D, 3-D), or a ConvTranspose where a pad is beyond the kernel's reach (1×1, pad 1).
      [[2, 2, 6, 7], [2, 1, 3, 2], { group: 2, pads: [1, 0, 2, 1], dilations: [2, 1] }],
      [[2, 2, 9], [3, 2, 3], { dilations: [2], pads: [1, 2] }],
      [[1, 2, 3, 4, 4], [3, 2, 2, 2, 2], { pads: [1, 0, 1, 0, 1, 0] }],
      [[1, 2, 4, 4], [3, 2, 1, 1], { pads: [1, 1, 0, 0] }],
      // 1×1 (nothing to flip), plain and grouped.
      [[2, 4, 3, 3], [5, 4, 1, 1], {}],
      [[1, 4, 3, 3], [6, 2, 1, 1], { group: 2 }],
    ];
    for (const [xs, ws, attrs] of cases) {
      await gradcheck([x('x', xs, 1), x('w', ws, 2), x('b', [ws[0]!], 3)], (b, [xx, w, bb]) => [b.op('Conv', [xx!, w!, bb!], attrs)], {
        maxChecks: 25,
      });
    }
    await gradcheck(
      [x('x', [1, 2, 5, 5], 1), x('w', [2, 2, 3, 3], 2)],
      (b, [xx, w]) => [b.op('Conv', [xx!, w!], { auto_pad: 'SAME_UPPER', strides: [2, 2] })],
      { maxChecks: 20 },
    );
  });
  it('depthwise Conv with a blocked depthwise kernel: the weight gradient as one Conv over stacked samples', async () => {
    // The rule's form (samples stacked along the height, gy as the kernel), run through the NCHWc pass as
    // the trainer runs it; where this CPU has no NCHWc kernels the pass leaves ORT's plain Conv.
    const block = (await nchwcBlockSize()) || 16;
    const cases: [number[], number[], Record<string, number[] | number>][] = [
      [[2, 16, 6, 5], [16, 1, 3, 3], { group: 16, pads: [1, 0, 2, 1] }],
      [[3, 16, 5, 7], [16, 1, 3, 2], { group: 16 }],
      [[1, 32, 4, 4], [32, 1, 1, 1], { group: 32 }],
      // Strided: gy dilated by the stride over samples s·⌈Hp/s⌉ rows apart; even and odd sizes, TF's
      // bottom-right padding, a stride per axis, a stride the kernel does not cover, a 5×5 kernel.
      [[2, 16, 8, 8], [16, 1, 3, 3], { group: 16, strides: [2, 2], pads: [1, 1, 1, 1] }],
      [[2, 16, 7, 9], [16, 1, 3, 3], { group: 16, strides: [2, 2], pads: [1, 1, 1, 1] }],
      [[2, 16, 8, 6], [16, 1, 3, 3], { group: 16, strides: [2, 2], pads: [0, 0, 1, 1] }],
      [[2, 16, 7, 6], [16, 1, 3, 3], { group: 16, strides: [2, 1], pads: [1, 0, 0, 2] }],
      [[2, 16, 9, 8], [16, 1, 2, 2], { group: 16, strides: [3, 3] }],
      [[1, 16, 9, 9], [16, 1, 5, 5], { group: 16, strides: [2, 2], pads: [2, 2, 2, 2] }],
    ];
    for (const [xs, ws, attrs] of cases) {
      await gradcheck([x('x', xs, 1), x('w', ws, 2)], (b, [xx, w]) => [b.op('Conv', [xx!, w!], attrs)], {
        maxChecks: 25,
        blockedDepthwise: block,
      });
    }
  });
  it('ConvTranspose: stride, pads, output_padding, groups', async () => {
    const cases: [number[], number[], Record<string, number[] | number | string>][] = [
      [[2, 3, 4, 4], [3, 2, 3, 3], {}],
      [[1, 2, 3, 4], [2, 3, 3, 2], { strides: [2, 2], pads: [1, 0, 1, 0], output_padding: [1, 1] }],
      [[1, 4, 3, 3], [4, 1, 3, 3], { group: 2, strides: [2, 1], dilations: [1, 2] }],
      // Output size from output_shape or auto_pad: the pads are derived (odd totals split both ways).
      [[1, 2, 3, 4], [2, 2, 3, 3], { strides: [2, 2], output_shape: [6, 8] }],
      [[1, 2, 3, 4], [2, 2, 3, 3], { strides: [2, 2], output_shape: [5, 7] }],
      [[1, 2, 3, 4], [2, 2, 4, 3], { strides: [2, 2], auto_pad: 'SAME_UPPER' }],
      [[1, 2, 3, 4], [2, 2, 4, 3], { strides: [2, 2], auto_pad: 'SAME_LOWER' }],
      [[1, 2, 3, 3], [2, 2, 2, 2], { auto_pad: 'VALID' }],
    ];
    for (const [xs, ws, attrs] of cases) {
      await gradcheck(
        [x('x', xs, 1), x('w', ws, 2), x('b', [ws[1]! * ((attrs.group as number | undefined) ?? 1)], 3)],
        (b, [xx, w, bb]) => [b.op('ConvTranspose', [xx!, w!, bb!], attrs)],
        { maxChecks: 25 },
      );
    }
  });
  it('MaxPool: 2x2, overlapping 3x3/2 with pads, 1-D', async () => {
    // A shuffled ramp: every value differs from every other by ≥ 0.05, far more than eps, so no ties.
    const distinct = (n: number, seed: number) => {
      const r = rand(n, seed);
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => r[a]! - r[b]!);
      const out = new Float32Array(n);
      order.forEach((p, i) => {
        out[p] = i * 0.05 - 1;
      });
      return out;
    };
    await gradcheck(
      [x('x', [2, 2, 4, 4], 1, distinct(64, 1))],
      (b, [xx]) => [b.op('MaxPool', [xx!], { kernel_shape: [2, 2], strides: [2, 2] })],
      { eps: 1e-3 },
    );
    await gradcheck(
      [x('x', [1, 2, 5, 5], 1, distinct(50, 2))],
      (b, [xx]) => [b.op('MaxPool', [xx!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
      { eps: 1e-3 },
    );
    await gradcheck([x('x', [2, 3, 6], 1, distinct(36, 3))], (b, [xx]) => [b.op('MaxPool', [xx!], { kernel_shape: [2], strides: [2] })], {
      eps: 1e-3,
    });
    // After a ReLU (the upsample-and-mask path): negative windows tie at zero and must get no gradient.
    const mixed = distinct(64, 4).map((v) => (Math.abs(v) < 0.1 ? v + 0.3 : v));
    for (const i of [0, 1, 4, 5]) mixed[i] = -0.5 - 0.1 * i; // one window entirely negative
    await gradcheck(
      [x('x', [2, 2, 4, 4], 1, mixed)],
      (b, [xx]) => [b.op('MaxPool', [b.op('Relu', [xx!])], { kernel_shape: [2, 2], strides: [2, 2] })],
      { eps: 1e-3, maxChecks: 64 },
    );
    // The same, with the ReLU output also read elsewhere: the ReLU rule must then mask the summed gradient itself.
    await gradcheck(
      [x('x', [2, 2, 4, 4], 1, mixed)],
      (b, [xx]) => {
        const r = b.op('Relu', [xx!]);
        return [b.op('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] }), b.op('Mul', [r, xx!])];
      },
      { eps: 1e-3, maxChecks: 64 },
    );
  });
  it('BatchNormalization with fixed statistics (inference form): x, scale and bias; epsilon counts', async () => {
    // Variances of the size of epsilon (given, then the default 1e-5): a rule that leaves epsilon out is off by
    // √((σ² + ε)/σ²) = 1.2–1.9 here, far outside the tolerance, as the rejections below show.
    const stats = (v: number[]) => [
      { name: 'm', shape: [3], data: Float32Array.of(0.1, -0.2, 0.3), wrt: false },
      { name: 'v', shape: [3], data: Float32Array.from(v), wrt: false },
    ];
    const given = () =>
      gradcheck([x('x', [2, 3, 2, 2], 1), x('g', [3], 2), x('b', [3], 3), ...stats([0.02, 0.05, 0.1])], (b, [xx, g, bb, m, v]) => [
        b.op('BatchNormalization', [xx!, g!, bb!, m!, v!], { epsilon: 0.05 }),
      ]);
    const byDefault = () =>
      gradcheck([x('x', [4, 3], 1), x('g', [3], 2), x('b', [3], 3), ...stats([1e-5, 2e-5, 4e-5])], (b, [xx, g, bb, m, v]) => [
        b.op('BatchNormalization', [xx!, g!, bb!, m!, v!]),
      ]);
    for (const check of [given, byDefault]) {
      await check();
      await assert.rejects(withWrongRule('BatchNormalization', readingAttributes({ epsilon: 0 }), check), /d\/d(x|g)\[\d+\]: analytic/);
    }
  });
  it('LayerNormalization: last axis with bias, last two axes, no bias', async () => {
    await gradcheck(
      [x('x', [2, 3, 4], 1), x('g', [4], 2), x('b', [4], 3)],
      (b, [xx, g, bb]) => [b.op('LayerNormalization', [xx!, g!, bb!], { epsilon: 1e-3 })],
      { opset: 17 },
    );
    await gradcheck(
      [x('x', [2, 3, 4], 1), x('g', [3, 4], 2), x('b', [3, 4], 3)],
      (b, [xx, g, bb]) => [b.op('LayerNormalization', [xx!, g!, bb!], { axis: 1 })],
      { opset: 17 },
    );
    await gradcheck([x('x', [3, 5], 1), x('g', [5], 2)], (b, [xx, g]) => [b.op('LayerNormalization', [xx!, g!], { axis: -1 })], {
      opset: 17,
    });
  });
  it('AveragePool (with and without counting pads) and GlobalAveragePool', async () => {
    await gradcheck([x('x', [2, 2, 4, 4], 1)], (b, [xx]) => [b.op('AveragePool', [xx!], { kernel_shape: [2, 2], strides: [2, 2] })]);
    await gradcheck([x('x', [1, 2, 5, 5], 1)], (b, [xx]) => [
      b.op('AveragePool', [xx!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
    ]);
    await gradcheck([x('x', [1, 2, 5, 5], 1)], (b, [xx]) => [
      b.op('AveragePool', [xx!], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }),
    ]);
    await gradcheck([x('x', [2, 3, 3, 4], 1)], (b, [xx]) => [b.op('GlobalAveragePool', [xx!])]);
  });
  it('shape ops: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Expand', async () => {
    await gradcheck([x('x', [2, 3, 2, 2], 1)], (b, [xx]) => [b.op('Flatten', [xx!], { axis: 1 })]);
    await gradcheck([x('x', [2, 3, 4], 1)], (b, [xx]) => [b.op('Reshape', [xx!, b.int64Init('s', [4, -1])])]);
    await gradcheck([x('x', [2, 3, 4], 1)], (b, [xx]) => [b.op('Transpose', [xx!], { perm: [2, 0, 1] })]);
    await gradcheck([x('x', [2, 3, 4], 1)], (b, [xx]) => [b.op('Transpose', [xx!])]);
    await gradcheck([x('x', [2, 1, 4], 1)], (b, [xx]) => [b.op('Squeeze', [xx!, b.int64Init('a', [1])])]);
    await gradcheck([x('x', [2, 4], 1)], (b, [xx]) => [b.op('Unsqueeze', [xx!, b.int64Init('a', [0, 2])])]);
    await gradcheck([x('x', [3, 1], 1)], (b, [xx]) => [b.op('Expand', [xx!, b.int64Init('s', [2, 3, 4])])]);
  });
  it('Concat, Split, Slice (steps, negative bounds), Gather (embedding and axis 1)', async () => {
    await gradcheck([x('a', [2, 3], 1), x('b', [2, 2], 2)], (b, [a, c]) => [b.op('Concat', [a!, c!], { axis: -1 })]);
    await gradcheck([x('a', [2, 5], 1)], (b, [a]) => b.opN('Split', [a!, b.int64Init('s', [2, 3])], 2, { axis: 1 }));
    await gradcheck([x('a', [2, 5], 1)], (b, [a]) => [b.opN('Split', [a!, b.int64Init('s', [2, 3])], 2, { axis: 1 })[1]!]);
    await gradcheck([x('a', [4, 6], 1)], (b, [a]) => [
      b.op('Slice', [a!, b.int64Init('st', [1, -1]), b.int64Init('en', [4, 0]), b.int64Init('ax', [0, 1]), b.int64Init('sp', [2, -2])]),
    ]);
    const ids = { name: 'ids', shape: [2, 3], data: Float32Array.of(0, 3, 3, 1, 4, 0), int64: true };
    await gradcheck([x('emb', [5, 4], 1), ids], (b, [e, i]) => [b.op('Gather', [e!, i!])]);
    await gradcheck([x('d', [2, 5, 3], 1), { ...ids, shape: [3], data: Float32Array.of(4, 1, 4) }], (b, [e, i]) => [
      b.op('Gather', [e!, i!], { axis: 1 }),
    ]);
  });
  it('ReduceSum, ReduceMean (keepdims, all axes, opset 13 and 18)', async () => {
    await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op('ReduceSum', [a!, b.int64Init('ax', [1])], { keepdims: 0 })]);
    await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op('ReduceSum', [a!])]);
    await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op('ReduceMean', [a!], { axes: [0, -1], keepdims: 0 })], { opset: 17 });
    await gradcheck([x('a', [2, 3, 4], 1)], (b, [a]) => [b.op('ReduceMean', [a!, b.int64Init('ax', [2])], { keepdims: 1 })], { opset: 18 });
  });
  it('Cast, Clip, Where', async () => {
    await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Cast', [b.op('Cast', [a!], { to: 11 })], { to: 1 })]);
    const clipData = rand(12, 4, -2, 2).map((v) => (Math.abs(Math.abs(v) - 1) < 0.1 ? v + 0.25 : v));
    await gradcheck([x('a', [3, 4], 1, clipData)], (b, [a]) => [
      b.op('Clip', [a!, b.floatInit('lo', [], [-1]), b.floatInit('hi', [], [1])]),
    ]);
    await gradcheck([x('a', [3, 4], 1), x('b', [4], 2)], (b, [a, c]) => [
      b.op('Where', [b.op('Greater', [a!, b.floatInit('z', [], [0])]), a!, c!]),
    ]);
  });
  it('HardSigmoid and HardSwish (both sides of the clipped range)', async () => {
    const away = (n: number, seed: number, lo: number, hi: number, kinks: number[]) =>
      rand(n, seed, lo, hi).map((v) => (kinks.some((k) => Math.abs(v - k) < 0.1) ? v + 0.25 : v));
    await gradcheck([x('a', [3, 8], 1, away(24, 3, -4, 4, [-2.5, 2.5]))], (b, [a]) => [b.op('HardSigmoid', [a!])], {
      rtol: 1e-3,
      atol: 1e-4,
    });
    await gradcheck(
      [x('a', [3, 8], 1, away(24, 4, -3, 3, [-1, 1.5]))],
      (b, [a]) => [b.op('HardSigmoid', [a!], { alpha: 0.4, beta: 0.4 })],
      { rtol: 1e-3, atol: 1e-4 },
    );
    await gradcheck([x('a', [3, 8], 1, away(24, 5, -5, 5, [-3, 3]))], (b, [a]) => [b.op('HardSwish', [a!])], {
      opset: 14,
      rtol: 1e-3,
      atol: 1e-4,
    });
  });
  it('Max and Min: broadcasting, one constant operand, three inputs', async () => {
    for (const op of ['Max', 'Min']) {
      // Operands at least 2·eps apart everywhere they are compared (no ties, no crossing in the differences).
      await gradcheck([x('a', [2, 4, 3], 1), x('b', [3], 0, Float32Array.of(0.3, -0.2, 0.45))], (b, [a, c]) => [b.op(op, [a!, c!])], {
        rtol: 1e-3,
        atol: 1e-4,
      });
      await gradcheck(
        [x('a', [2, 1, 3], 1), x('b', [4, 1], 0, Float32Array.of(0.5, -0.4, 0.05, -0.8)), x('c', [3], 0, Float32Array.of(0.15, -0.5, 0.7))],
        (b, [a, c, d]) => [b.op(op, [a!, c!, d!])],
        { rtol: 1e-3, atol: 1e-4 },
      );
      await gradcheck([x('a', [2, 5], 1)], (b, [a]) => [b.op(op, [a!, b.floatInit('k', [], [0.15])])], { rtol: 1e-3, atol: 1e-4 });
    }
  });
  it('Resize nearest and linear: block sums, matrices, sizes and scales, every coordinate mode', async () => {
    const none = (b: GraphBuilder) => b.floatInit('none', [0], []);
    const byScales =
      (attrs: Record<string, string>, scales: number[]) =>
      (b: GraphBuilder, [a]: string[]) => [b.op('Resize', [a!, none(b), b.floatInit('sc', [scales.length], scales)], attrs)];
    const bySizes =
      (attrs: Record<string, string>, sizes: number[]) =>
      (b: GraphBuilder, [a]: string[]) => [b.op('Resize', [a!, none(b), none(b), b.int64Init('sz', sizes)], attrs)];
    const tight = { rtol: 1e-3, atol: 1e-3, maxChecks: 24 };
    const xs = [x('a', [1, 2, 3, 4], 1)];
    // Integer nearest upsampling (block sums): PaddleOCR's asymmetric/floor, half_pixel with rounding.
    await gradcheck(
      xs,
      byScales({ mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, [1, 1, 2, 2]),
      tight,
    );
    await gradcheck(xs, byScales({ mode: 'nearest' }, [1, 1, 3, 2]), tight);
    await gradcheck(
      [x('a', [2, 3, 4], 1)],
      byScales({ mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, [1, 2, 1]),
      tight,
    );
    // Nearest that is not block replication (one-hot matrices): round with factor 3, downsampling, odd sizes, axis 1.
    await gradcheck(xs, byScales({ mode: 'nearest', coordinate_transformation_mode: 'asymmetric' }, [1, 1, 3, 3]), tight);
    await gradcheck([x('a', [1, 2, 6, 5], 1)], byScales({ mode: 'nearest' }, [1, 1, 0.5, 0.6]), tight);
    await gradcheck(
      xs,
      bySizes({ mode: 'nearest', coordinate_transformation_mode: 'align_corners', nearest_mode: 'round_prefer_ceil' }, [1, 2, 5, 7]),
      tight,
    );
    await gradcheck(
      xs,
      byScales({ mode: 'nearest', coordinate_transformation_mode: 'pytorch_half_pixel', nearest_mode: 'ceil' }, [1, 2, 1, 1.5]),
      tight,
    );
    // Linear (bilinear over the last two axes): M-LSD's half_pixel with sizes, the other modes, downsampling.
    await gradcheck(xs, bySizes({ mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, [1, 2, 6, 8]), tight);
    await gradcheck(xs, byScales({ mode: 'linear' }, [1, 1, 2.5, 1.5]), tight);
    for (const ctm of ['asymmetric', 'align_corners', 'pytorch_half_pixel', 'half_pixel_symmetric']) {
      await gradcheck(xs, bySizes({ mode: 'linear', coordinate_transformation_mode: ctm }, [1, 2, 5, 7]), { ...tight, opset: 19 });
    }
    await gradcheck([x('a', [1, 1, 7, 6], 1)], byScales({ mode: 'linear' }, [1, 1, 0.5, 0.75]), tight);
    // Spatial sizes known only at run time: the matrices come from the same Resize applied to an identity.
    const dyn = [{ ...x('a', [1, 2, 3, 4], 1), declare: [1, 2, 'h', 'w'] }];
    await gradcheck(dyn, bySizes({ mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, [1, 2, 6, 8]), tight);
    await gradcheck(dyn, byScales({ mode: 'linear', coordinate_transformation_mode: 'align_corners' }, [1, 1, 2.5, 1.5]), tight);
    await gradcheck(
      dyn,
      byScales({ mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, [1, 1, 2, 2]),
      tight,
    );
    await gradcheck([{ ...x('a', [2, 3, 4], 1), declare: [2, 'c', 4] }], bySizes({ mode: 'nearest' }, [2, 5, 4]), tight);
  });
  it('Resize with a mode it cannot differentiate fails with a clear error', async () => {
    await assert.rejects(
      gradcheck([x('a', [1, 1, 3, 3], 1)], (b, [a]) => [
        b.op('Resize', [a!, b.floatInit('none', [0], []), b.floatInit('sc', [4], [1, 1, 2, 2])], { mode: 'cubic' }),
      ]),
      /Resize node .*no gradient for mode 'cubic'/,
    );
  });
  it('losses: SoftmaxCrossEntropyLoss', async () => {
    const labels = { name: 'y', shape: [4], data: Float32Array.of(2, 0, 1, 2), int64: true };
    await gradcheck([x('s', [4, 3], 1), labels], (b, [s, y]) => [b.op('SoftmaxCrossEntropyLoss', [s!, y!], { reduction: 'mean' })]);
    await gradcheck([x('s', [4, 3], 1), labels], (b, [s, y]) => [b.op('SoftmaxCrossEntropyLoss', [s!, y!], { reduction: 'sum' })]);
    const sce =
      (attrs: Record<string, string | number>, weighted: boolean) =>
      (b: GraphBuilder, [s, y, w]: string[]) => [b.op('SoftmaxCrossEntropyLoss', weighted ? [s!, y!, w!] : [s!, y!], attrs)];
    const weights = { name: 'w', shape: [3], data: Float32Array.of(0.5, 2, 1.25), wrt: false };
    for (const reduction of ['mean', 'sum', 'none']) {
      await gradcheck([x('s', [4, 3], 1), labels, weights], sce({ reduction }, true));
      // ignore_index inside the class range, and the common out-of-range −100
      await gradcheck([x('s', [4, 3], 1), labels], sce({ reduction, ignore_index: 2 }, false));
      const ignored = { name: 'y', shape: [4], data: Float32Array.of(2, -100, 1, 0), int64: true };
      await gradcheck([x('s', [4, 3], 1), ignored, weights], sce({ reduction, ignore_index: -100 }, true));
      // [N, C, D] scores with [N, D] labels
      const labels2 = { name: 'y', shape: [2, 3], data: Float32Array.of(0, 3, 1, 2, 2, 3), int64: true };
      await gradcheck([x('s', [2, 4, 3], 1), labels2], sce({ reduction, ignore_index: 3 }, false));
      await gradcheck(
        [x('s', [2, 4, 3], 1), labels2, { ...weights, shape: [4], data: Float32Array.of(1, 0.5, 3, 2) }],
        sce({ reduction }, true),
      );
    }
  });
});
