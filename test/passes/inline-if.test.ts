// Inlining Ifs whose condition the fixed inputs decide: ORT gives the same outputs before and after, for
// either branch, with names that clash between branches, outer-scope reads and nested Ifs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { GraphProto, ModelProto } from '../../src/ir/proto.js';
import { floatTensor, makeTensor } from '../../src/ir/tensor.js';
import { createSession } from '../../src/runtime/index.js';
import { inlineConstantIfs } from '../../src/passes/inline-if.js';
import { rand } from '../train/gradcheck-util.js';

/** A branch graph: its nodes, its own initializers, one output `out`. */
function branch(name: string, nodes: GraphProto['node'], out: string, inits: GraphProto['initializer'] = []): GraphProto {
  return { ...new GraphBuilder(name).graph, node: nodes, initializer: inits, output: [valueInfo(out, DataType.FLOAT)] };
}

/**
 * y = If(mode == 1) then [ h = x·W1 (W1 the branch's own); y = If(mode > 0) then Tanh(h) + b else h ] else [ h = x·W ]
 * z = If(x's dim 1 == 3) then [ h = Sigmoid(x) ] else [ h = x ]: every branch defines 'h', the nested If reads
 * the then branch's 'h' and the outer 'b' from outer scope, and z's condition is on a static dim.
 */
function model(): ModelProto {
  const b = new GraphBuilder('ifs');
  const x = b.input('x', DataType.FLOAT, ['batch', 3]);
  const mode = b.input('mode', DataType.INT64, []);
  const w = b.floatInit('W', [3, 2], rand(6, 1));
  const bias = b.floatInit('b', [2], rand(2, 2));
  const inner = [
    makeNode(
      'If',
      [b.op('Greater', [mode, b.int64Init('zero', [0])])],
      ['inner_y'],
      {
        then_branch: branch('inner_then', [makeNode('Tanh', ['h'], ['t']), makeNode('Add', ['t', bias], ['ty'])], 'ty'),
        else_branch: branch('inner_else', [makeNode('Identity', ['h'], ['ey'])], 'ey'),
      },
      { name: 'inner_if' },
    ),
  ];
  const one = b.initializer('one', DataType.INT64, [], BigInt64Array.of(1n));
  b.graph.node.push(
    makeNode(
      'If',
      [b.op('Equal', [mode, one])],
      ['y'],
      {
        then_branch: branch('then', [makeNode('MatMul', [x, 'W1'], ['h']), ...inner], 'inner_y', [floatTensor('W1', [3, 2], rand(6, 3))]),
        else_branch: branch('else', [makeNode('MatMul', [x, w], ['h'])], 'h'),
      },
      { name: 'outer_if' },
    ),
  );
  const dim = b.op('Gather', [b.op('Shape', [x]), b.int64Init('axis1', [1])]);
  b.graph.node.push(
    makeNode(
      'If',
      [b.op('Equal', [dim, b.int64Init('three', [3])])],
      ['z'],
      {
        then_branch: branch('z_then', [makeNode('Sigmoid', [x], ['h'])], 'h'),
        else_branch: branch('z_else', [makeNode('Identity', [x], ['h'])], 'h'),
      },
      { name: 'shape_if' },
    ),
  );
  b.output('y', DataType.FLOAT, ['batch', 2]);
  b.output('z', DataType.FLOAT, ['batch', 3]);
  return b.model({ opset: 17 });
}

const modeValue = (v: number) => new Map([['mode', makeTensor('mode', DataType.INT64, [], BigInt64Array.of(BigInt(v)))]]);

async function outputs(m: ModelProto, mode: number) {
  const s = await createSession(m, { intraOpThreads: 1 });
  const r = await s.run({
    x: new ort.Tensor('float32', rand(12, 9), [4, 3]),
    mode: new ort.Tensor('int64', BigInt64Array.of(BigInt(mode)), []),
  });
  return { y: Array.from(r.y!.data as Float32Array), z: Array.from(r.z!.data as Float32Array) };
}

describe('inlining Ifs with a known condition', () => {
  for (const mode of [1, 0]) {
    it(`mode=${mode}: the taken branches replace the Ifs, and ORT's outputs are the same`, async () => {
      const m = model();
      const r = inlineConstantIfs(m, modeValue(mode));
      const ops = r.model.graph!.node.map((n) => n.opType);
      assert.ok(!ops.includes('If'), `Ifs left: ${ops.join(' ')}`);
      assert.equal(r.inlined, mode === 1 ? 3 : 2); // the nested If only in the then branch
      assert.deepEqual(await outputs(r.model, mode), await outputs(m, mode));
      // Every branch defined 'h': one keeps the name at most, the others are renamed; names stay unique.
      const defined = r.model.graph!.node.flatMap((n) => n.output);
      assert.equal(new Set(defined).size, defined.length);
      // W1 came from the then branch: its origin is that branch of the input model.
      const thenBranch = m.graph!.node.find((n) => n.name === 'outer_if')!.attribute.find((a) => a.name === 'then_branch')!.g!;
      if (mode === 1)
        assert.deepEqual(
          [...r.origins].map(([k, o]) => [k, o.graph === thenBranch, o.name]),
          [['W1', true, 'W1']],
        );
      else assert.equal(r.origins.size, 0);
      assert.equal(m.graph!.node.filter((n) => n.opType === 'If').length, 2, 'the input model is unchanged');
    });
  }

  it('leaves an If whose condition is not known, inlining the ones that are', async () => {
    const m = model();
    const r = inlineConstantIfs(m);
    assert.equal(r.inlined, 1); // only the static-dim If
    assert.deepEqual(
      r.model.graph!.node.filter((n) => n.opType === 'If').map((n) => n.name),
      ['outer_if'],
    );
    for (const mode of [0, 1]) assert.deepEqual(await outputs(r.model, mode), await outputs(m, mode));
  });

  it("renames a branch name that another If's branch defines too", async () => {
    // Branches of different Ifs may reuse a name; once the first branch is in the main graph, the other If's
    // branch would redefine a name of its outer scope, so the inlined one is renamed.
    const b = new GraphBuilder('clash');
    const x = b.input('x', DataType.FLOAT, [2]);
    b.input('mode', DataType.INT64, []);
    const one = b.initializer('one', DataType.INT64, [], BigInt64Array.of(1n));
    b.graph.node.push(
      makeNode('If', [b.op('Equal', ['mode', one])], ['y'], {
        then_branch: branch('t', [makeNode('Neg', [x], ['k']), makeNode('Abs', ['k'], ['ty'])], 'ty'),
        else_branch: branch('e', [makeNode('Identity', [x], ['ey'])], 'ey'),
      }),
    );
    b.graph.node.push(makeNode('Exp', [x], ['k2']));
    // A condition on the data's values: never known ahead.
    const positive = b.op('Greater', [b.op('ReduceSum', [x], { keepdims: 0 }), b.floatInit('zero', [], [0])]);
    b.graph.node.push(
      makeNode('If', [positive], ['w'], {
        then_branch: branch('t2', [makeNode('Identity', ['k2'], ['k'])], 'k'),
        else_branch: branch('e2', [makeNode('Identity', [x], ['k'])], 'k'),
      }),
    );
    b.output('y', DataType.FLOAT, [2]);
    b.output('w', DataType.FLOAT, [2]);
    const m = b.model({ opset: 17 });
    const r = inlineConstantIfs(m, modeValue(1));
    assert.equal(r.inlined, 1);
    const run = async (mm: ModelProto) => {
      const s = await createSession(mm, { intraOpThreads: 1 });
      const o = await s.run({
        x: new ort.Tensor('float32', Float32Array.of(0.5, 2), [2]),
        mode: new ort.Tensor('int64', BigInt64Array.of(1n), []),
      });
      return [Array.from(o.y!.data as Float32Array), Array.from(o.w!.data as Float32Array)];
    };
    assert.deepEqual(await run(r.model), await run(m));
    assert.ok(
      r.model.graph!.node.some((n) => n.output.includes('k_inlined')),
      "the branch's k is renamed",
    );
  });
});
