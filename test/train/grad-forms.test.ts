/**
 * The forms the gradient emitter chooses for ORT's sake: reductions around a kept axis split in two, sums
 * over leading axes as a MatMul with a row of ones, a weight matrix's gradient as one GEMM over a stack's
 * rows. Their values are checked against finite differences in gradcheck.test.ts; here, that they are used.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType } from '../../src/ir/dtype.js';
import type { NodeProto } from '../../src/ir/proto.js';
import { tensorNumbers } from '../../src/ir/tensor.js';
import { GradEmitter } from '../../src/ops/grad/index.js';
import '../../src/ops/index.js';

const axesOf = (e: GradEmitter, n: NodeProto) => {
  const init = e.initializers.find((t) => t.name === n.input[1]);
  return init ? tensorNumbers(init) : undefined;
};

describe('gradient emitter forms', () => {
  it('a reduction over batch and positions runs as positions first, then batch', () => {
    const e = new GradEmitter(new Set(['x']), 17);
    e.reduceSum('x', [0, 2, 3], false);
    const sums = e.nodes.filter((n) => n.opType === 'ReduceSum');
    assert.equal(sums.length, 2);
    assert.deepEqual(
      sums.map((n) => axesOf(e, n)),
      [[2, 3], [0]],
    );
    assert.equal(sums[1]!.input[0], sums[0]!.output[0]);
    // Leading or trailing blocks alone, and gaps elsewhere, stay one reduction.
    for (const axes of [
      [0, 1],
      [2, 3],
      [0, 2, 4],
      [1, 3],
    ]) {
      const f = new GradEmitter(new Set(['x']), 17);
      f.reduceMean('x', axes, true);
      assert.equal(f.nodes.filter((n) => n.opType === 'ReduceMean').length, 1, `axes ${axes}`);
    }
    const m = new GradEmitter(new Set(['x']), 18);
    m.reduceMean('x', [0, 2, 3], true);
    assert.equal(m.nodes.filter((n) => n.opType === 'ReduceMean').length, 2);
  });

  it('a bias gradient over leading axes is a MatMul with ones for floats, a ReduceSum otherwise', () => {
    const e = new GradEmitter(new Set(['g', 'b']), 17);
    e.sumTo('g', 'b', [8, 16, 32], [32], DataType.FLOAT);
    assert.deepEqual(
      e.nodes.map((n) => n.opType),
      ['Flatten', 'MatMul', 'Reshape'],
    );
    const ones = e.initializers.find((t) => t.name === e.nodes[1]!.input[0]);
    assert.deepEqual(ones?.dims?.map(Number), [1, 128]);
    // Symbolic leading dims: the ones are shaped from the gradient at run time, once per set of dims.
    const s = new GradEmitter(new Set(['g', 'h', 'b']), 17);
    s.sumTo('g', 'b', ['batch', 16, 32], [32], DataType.FLOAT);
    s.sumTo('h', 'b', ['batch', 16, 32], [32], DataType.FLOAT);
    assert.equal(s.nodes.filter((n) => n.opType === 'ConstantOfShape').length, 1);
    assert.equal(s.nodes.filter((n) => n.opType === 'MatMul').length, 2);
    const i = new GradEmitter(new Set(['g', 'b']), 17);
    i.sumTo('g', 'b', [8, 16, 32], [32], DataType.INT64);
    assert.deepEqual(
      i.nodes.map((n) => n.opType),
      ['ReduceSum', 'Reshape'],
    );
  });
});
