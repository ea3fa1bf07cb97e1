// Graph shapes a quantizer must survive: subgraphs, external data, old opsets; and accuracy-aware tuning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { GraphBuilder, makeNode, valueInfo, emptyGraph } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { zooModel } from '../../src/zoo/index.js';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import { quantizeStatic } from '../../src/quantize/static.js';
import { tuneForAccuracy } from '../../src/quantize/tune.js';
import { syntheticData } from '../../src/quantize/pipeline.js';
import { mulberry32 } from '../../src/util/random.js';
import { cosine, floatInput, run } from './helpers.js';

const weights = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() - 0.5);
};

test('dynamic: MatMuls inside If branches are quantized; one reading an outer weight stays float with the reason', async () => {
  const branch = (name: string, local: boolean) => {
    const g = emptyGraph(name);
    if (local) g.initializer.push(floatTensor('w_in', [4, 4], weights(16, 1)));
    g.node.push(makeNode('MatMul', ['x', local ? 'w_in' : 'w_outer'], [`${name}_y`], {}, { name: `${name}.matmul` }));
    g.output.push(valueInfo(`${name}_y`, DataType.FLOAT, [2, 4]));
    return g;
  };
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [2, 4]);
  b.input('c', DataType.BOOL, []);
  b.graph.initializer.push(floatTensor('w_outer', [4, 4], weights(16, 2)));
  b.op('If', ['c'], { then_branch: branch('then', true), else_branch: branch('else', false) }, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 4]);
  const model = b.model({ opset: 17 });
  const { model: q, report } = quantizeDynamic(model);
  assert.deepEqual(
    report.nodes.map((d) => [d.node, d.quantized]),
    [
      ['then.matmul', true],
      ['else.matmul', false],
    ],
  );
  assert.match(report.nodes[1]!.detail, /not a constant of this graph/);
  for (const c of [true, false]) {
    const feeds = { x: floatInput([2, 4]), c: new Tensor('bool', Uint8Array.of(c ? 1 : 0), []) };
    const [r, g] = [await run(model, feeds), await run(q, feeds)];
    assert.ok(cosine(r.y!, g.y!) > 0.99);
  }
});

test('static: a MatMul inside an If branch is left float with the reason; the main graph is quantized', async () => {
  const then = emptyGraph('then');
  then.initializer.push(floatTensor('w_in', [4, 4], weights(16, 1)));
  then.node.push(makeNode('MatMul', ['h', 'w_in'], ['t_y'], {}, { name: 'then.matmul' }));
  then.output.push(valueInfo('t_y', DataType.FLOAT, ['batch', 4]));
  const other = emptyGraph('else');
  other.node.push(makeNode('Identity', ['h'], ['e_y']));
  other.output.push(valueInfo('e_y', DataType.FLOAT, ['batch', 4]));
  const b = new GraphBuilder();
  // The condition [1] fixes the batch of the calibration data at 1 (a leading dim of 1 is read as a fixed batch).
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  b.input('c', DataType.BOOL, [1]);
  b.op('MatMul', [x, b.floatInit('w', [4, 4], weights(16, 2))], {}, { name: 'main.matmul', output: 'h' });
  b.op('If', ['c'], { then_branch: then, else_branch: other }, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4]);
  const model = b.model({ opset: 17 });
  const { model: q, report } = await quantizeStatic(model, syntheticData(model, 8, {}, 1, 'test'));
  assert.equal(report.nodes.find((d) => d.node === 'main.matmul')!.quantized, true);
  assert.match(report.nodes.find((d) => d.node === 'then.matmul')!.detail, /inside .*subgraph: static mode quantizes the main graph only/);
  const feeds = { x: floatInput([2, 4]), c: new Tensor('bool', Uint8Array.of(1), [1]) };
  assert.ok(cosine((await run(model, feeds)).y!, (await run(q, feeds)).y!) > 0.99);
});

test('dynamic: a model with external data loads, quantizes and saves with external data again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-q-ext-'));
  const model = zooModel('transformer:layers=1,dModel=64,heads=2,ffn=128');
  saveModel(model, join(dir, 'm.onnx'), { externalData: true });
  const loaded = loadModel(join(dir, 'm.onnx'));
  const { model: q } = quantizeDynamic(loaded);
  saveModel(q, join(dir, 'q.onnx'), { externalData: true });
  assert.ok(readdirSync(dir).includes('q.onnx.data'));
  const feeds = { input: floatInput([1, 4, 64]) };
  const [a, b] = [await run(model, feeds), await run(loadModel(join(dir, 'q.onnx')), feeds)];
  assert.ok(cosine(a.output!, b.output!) > 0.99);
});

test('static: old opsets (9, 11) are upgraded to 13 by the shared upgrader, Softmax over a middle axis keeping its meaning', async () => {
  for (const opset of [9, 11]) {
    const lenet = zooModel('lenet5');
    lenet.opsetImport[0]!.version = opset;
    const { model: q, report } = await quantizeStatic(lenet, syntheticData(lenet, 16, {}, 1, 'test'));
    assert.equal(q.opsetImport.find((o) => !o.domain)!.version, 13);
    assert.equal(report.settings.perChannel, true);
    assert.match(report.notes.join(' '), new RegExp(`opset upgraded from ${opset} to 13`));
    await run(q, { input: floatInput([2, 1, 28, 28]) });
  }

  // Opset-11 Softmax at axis 1 of a rank-3 tensor normalizes over the last two axes together (2-D coercion).
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 8]);
  const h = b.op('MatMul', [x, b.floatInit('w', [8, 8], weights(64, 3))]);
  const r3 = b.op('Reshape', [h, b.int64Init('shape', [0, 2, 4])]);
  const s = b.op('Softmax', [r3], { axis: 1 });
  const flat = b.op('Reshape', [s, b.int64Init('back', [0, 8])]);
  b.op('MatMul', [flat, b.floatInit('w2', [8, 4], weights(32, 4))], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4]);
  const old = b.model({ opset: 11 });
  const r = await quantizeStatic(old, syntheticData(old, 16, {}, 2, 'test'));
  assert.equal(r.model.opsetImport.find((o) => !o.domain)!.version, 13);
  assert.equal(r.report.settings.perChannel, true);
  const feeds = { x: floatInput([3, 8]) };
  assert.ok(cosine((await run(old, feeds)).y!, (await run(r.model, feeds)).y!) > 0.98);
});

test('accuracy-aware tuning keeps the one sensitive layer float; an unreachable target still returns the best model with the reason', async () => {
  // Three linear layers; the middle one has a huge outlier (in an output column the last layer ignores),
  // so per-tensor int8 wipes out its other weights.
  const b = new GraphBuilder();
  let h = b.input('x', DataType.FLOAT, ['batch', 16]);
  for (const [i, name] of ['l1', 'l2', 'l3'].entries()) {
    const w = weights(256, 10 + i);
    if (name === 'l2') w[7] = 400;
    if (name === 'l3') w.fill(0, 7 * 16, 8 * 16);
    h = b.op('MatMul', [h, b.floatInit(`${name}.w`, [16, 16], w)], {}, { name, output: name === 'l3' ? 'y' : undefined });
  }
  b.output('y', DataType.FLOAT, ['batch', 16]);
  const model = b.model({ opset: 17 });
  const data = syntheticData(model, 32, {}, 5, 'test');
  const quantize = async (exclude: string[]) => quantizeDynamic(model, { perChannel: false, excludeNodes: exclude });
  const { result, tuning } = await tuneForAccuracy(model, quantize, data, 0.05);
  assert.ok(tuning.initialDrop > 0.05, `initial drop ${tuning.initialDrop}`);
  // l3 is sensitive too: its input carries l2's outlier column, which per-tensor activation ranges
  // cannot resolve. l1 stays quantized.
  assert.deepEqual(
    tuning.sensitivity
      .slice(0, 2)
      .map((s) => s.node)
      .sort(),
    ['l2', 'l3'],
  );
  assert.deepEqual([...tuning.keptFloat].sort(), ['l2', 'l3'], JSON.stringify(tuning));
  // 1 (all quantized) + graph order from the input (k = 1, 2: both miss) + by sensitivity (k = 1, 2).
  assert.ok(tuning.trials <= 5, `${tuning.trials} evaluations`);
  assert.equal(tuning.order, 'by sensitivity');
  assert.ok(tuning.met && tuning.drop <= 0.05, JSON.stringify(tuning));
  assert.match(result.report.nodes.find((d) => d.node === 'l2')!.detail, /kept float: accuracy-sensitive/);
  assert.deepEqual(
    result.report.nodes.filter((d) => d.quantized).map((d) => d.node),
    ['l1'],
  );

  const missed = await tuneForAccuracy(model, quantize, data, 0);
  assert.equal(missed.tuning.met, false);
  assert.match(missed.tuning.reason!, /no set of float layers tried reached a drop of 0/);
  assert.ok(
    missed.result.report.nodes.some((d) => d.quantized),
    'a quantized model is still returned',
  );
});
