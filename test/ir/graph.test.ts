import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Graph, topoOrder } from '../../src/ir/graph.js';
import { foldConstants } from '../../src/passes/fold.js';
import { GraphBuilder, makeNode } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { encodeModel } from '../../src/ir/codec.js';
import { tensorArray, tensorNumbers } from '../../src/ir/tensor.js';
import { HoneError } from '../../src/errors.js';

function chain() {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 3]);
  const a = b.op('Relu', ['x'], {}, { name: 'relu' });
  const c = b.op('Neg', [a], {}, { name: 'neg' });
  b.op('Add', [a, c], {}, { name: 'add', output: 'y' });
  b.output('y', DataType.FLOAT, [2, 3]);
  return b.model();
}

test('producers and consumers stay consistent under insert, replace, rename and remove', () => {
  const m = chain();
  const g = new Graph(m.graph!);
  const relu = g.nodes[0]!;
  const a = relu.output[0]!;
  assert.equal(g.producer(a), relu);
  assert.deepEqual(
    g
      .consumers(a)
      .map((n) => n.name)
      .sort(),
    ['add', 'neg'],
  );

  const sig = makeNode('Sigmoid', [a], [g.freshName('s')], {}, { name: 'sig' });
  g.insertAfter(relu, sig);
  g.replaceAllUses(a, sig.output[0]!);
  g.setInput(sig, 0, a); // the new node itself still reads a
  assert.deepEqual(
    g.consumers(a).map((n) => n.name),
    ['sig'],
  );
  assert.deepEqual(
    g
      .consumers(sig.output[0]!)
      .map((n) => n.name)
      .sort(),
    ['add', 'neg'],
  );

  g.renameValue(a, 'activated');
  assert.equal(g.producer('activated'), relu);
  assert.equal(g.producer(a), undefined);
  assert.deepEqual(sig.input, ['activated']);

  g.renameValue('y', 'out');
  assert.equal(m.graph!.output[0]!.name, 'out');
  assert.throws(() => g.renameValue('out', 'x'), HoneError);

  const add = g.producer('out')!;
  const mul = makeNode('Mul', add.input.slice(), ['out'], {}, { name: 'mul' });
  g.replaceNode(add, [mul]);
  assert.equal(g.producer('out'), mul);
  assert.ok(!g.nodes.includes(add));
});

test('topoSort orders nodes, keeps file order where it can, and rejects cycles', async () => {
  const m = chain();
  m.graph!.node.reverse();
  new Graph(m.graph!).topoSort();
  assert.deepEqual(
    m.graph!.node.map((n) => n.name),
    ['relu', 'neg', 'add'],
  );
  const s = await ort.InferenceSession.create(encodeModel(m));
  await s.release();
  const cyc = [makeNode('Relu', ['b'], ['a']), makeNode('Relu', ['a'], ['b'])];
  assert.throws(() => topoOrder(cyc, new Set()), /cycle/);
});

test('dead code removal drops unused nodes and initializers, keeps outputs', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2]);
  const unused = b.floatInit('unused', [2], [1, 2]);
  const dead = b.op('Mul', ['x', unused]);
  b.op('Exp', [dead]);
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  const m = b.model();
  const r = new Graph(m.graph!).removeDeadCode();
  assert.deepEqual(r, { nodes: 2, initializers: 1 });
  assert.deepEqual(
    m.graph!.node.map((n) => n.opType),
    ['Relu'],
  );
});

test('values used only inside a subgraph count as used by the If node', () => {
  const b = new GraphBuilder();
  b.input('c', DataType.BOOL, []);
  b.input('x', DataType.FLOAT, [2]);
  const captured = b.op('Relu', ['x'], {}, { output: 'r' });
  const branch = (op: string) => {
    const g = new GraphBuilder(op);
    g.op(op, [captured], {}, { output: `${op}_o` });
    g.output(`${op}_o`, DataType.FLOAT, [2]);
    return g.graph;
  };
  b.op('If', ['c'], { then_branch: branch('Neg'), else_branch: branch('Abs') }, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  const m = b.model();
  const g = new Graph(m.graph!);
  assert.deepEqual(
    g.consumers('r').map((n) => n.opType),
    ['If'],
  );
  assert.equal(g.removeDeadCode().nodes, 0);
  g.renameValue('r', 'r2');
  const thenG = m.graph!.node[1]!.attribute[0]!.g!;
  assert.deepEqual(thenG.node[0]!.input, ['r2']);
});

test('constant folding resolves PyTorch-style shape arithmetic and keeps results exact', async () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 3, 4]);
  const shape = b.int64Init('shape', [2, 3, 4]);
  const idx = b.int64Init('idx', [0]);
  const d0 = b.op('Gather', [shape, idx], { axis: 0 });
  const minus = b.op('Constant', [], { value_ints: [-1] });
  const target = b.op('Concat', [d0, minus], { axis: 0 });
  const twelve = b.op('Mul', [b.int64Init('three', [3]), b.int64Init('four', [4])]);
  const cast = b.op('Cast', [twelve], { to: DataType.FLOAT });
  const r = b.op('Reshape', ['x', target]);
  b.op('Mul', [r, cast], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 12]);
  const m = b.model();
  const before = await runY(m);
  const { folded } = foldConstants(m);
  assert.equal(folded, 5); // Gather, Constant, Concat, Mul, Cast
  assert.deepEqual(
    m.graph!.node.map((n) => n.opType),
    ['Reshape', 'Mul'],
  );
  const targetInit = m.graph!.initializer.find((t) => t.name === target)!;
  assert.deepEqual(tensorNumbers(targetInit), [2, -1]);
  assert.deepEqual(await runY(m), before);
});

async function runY(m: ReturnType<GraphBuilder['model']>) {
  const s = await ort.InferenceSession.create(encodeModel(m));
  const x = new Float32Array(24).map((_, i) => i - 7);
  const out = await s.run({ x: new ort.Tensor('float32', x, [2, 3, 4]) });
  await s.release();
  return [...(out.y!.data as Float32Array)];
}

test('constant folding keeps INT64_MAX (Slice ends) exact', () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [4]);
  const ends = b.op('Concat', [b.int64Init('a', [1]), b.op('Constant', [], { value_ints: [2 ** 63] })], { axis: 0 });
  b.op('Identity', [ends], {}, { output: 'y' });
  b.output('y', DataType.INT64, [2]);
  const m = b.model();
  foldConstants(m);
  const t = m.graph!.initializer.find((x) => x.dims[0] === 2)!;
  assert.deepEqual([...(tensorArray(t) as BigInt64Array)], [1n, 2n ** 63n - 1n]);
});
