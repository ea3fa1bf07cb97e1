// Pad's gradient rule (src/ops/grad/tensor.ts) against finite differences: every mode, crops (negative
// pads), the axes input, and the fill value as a trained input. Mobile CNNs exported from TensorFlow
// (M-LSD in the corpus) pad explicitly before their strided depthwise convolutions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradcheck, rand, readingAttributes, withWrongRule } from './gradcheck-util.js';

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

describe('Pad gradients agree with finite differences', () => {
  it('constant mode: padding (with a fill value), cropping, both at once, and the fill value trained', async () => {
    await gradcheck([x('a', [1, 2, 3, 4], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [0, 0, 1, 2, 0, 0, 2, 1])])]);
    await gradcheck([x('a', [2, 5], 1), { ...x('v', [], 2), wrt: false }], (b, [a, v]) => [
      b.op('Pad', [a!, b.int64Init('p', [1, -1, 0, 2]), v!]),
    ]);
    await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [-1, -2, -1, 0])])]);
    // d/dv: the sum of the upstream gradient over the border.
    await gradcheck([x('a', [2, 3], 1), x('v', [], 2)], (b, [a, v]) => [b.op('Pad', [a!, b.int64Init('p', [1, 0, 0, 2]), v!])]);
  });

  for (const mode of ['reflect', 'edge']) {
    it(`${mode} mode: border copies send their gradient back to the elements they copy`, async () => {
      await gradcheck([x('a', [1, 2, 4, 5], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [0, 0, 2, 1, 0, 0, 1, 3])], { mode })]);
      await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [2, -1, 1, 1])], { mode })]);
    });
  }

  it('wrap mode (opset 19) and the axes input (opset 18)', async () => {
    await gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [2, 1, 1, 3])], { mode: 'wrap' })], { opset: 19 });
    await gradcheck(
      [x('a', [2, 3, 4], 1)],
      (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [1, 2, 0, 1]), '', b.int64Init('ax', [-1, 1])], { mode: 'reflect' })],
      { opset: 18 },
    );
    await gradcheck(
      [x('a', [2, 3, 4], 1)],
      (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [1, 2, -1, 1]), '', b.int64Init('ax', [0, 2])])],
      { opset: 18 },
    );
  });

  it('the check tells the rule from one that treats every mode as constant (dropping the mirrored copies)', async () => {
    const check = () =>
      gradcheck([x('a', [3, 4], 1)], (b, [a]) => [b.op('Pad', [a!, b.int64Init('p', [2, 1, 1, 2])], { mode: 'reflect' })]);
    await check();
    await assert.rejects(withWrongRule('Pad', readingAttributes({ mode: 'constant' }), check), /d\/da\[\d+\]: analytic/);
  });
});
