import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import { zooModel } from '../../src/zoo/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { cosine, floatInput, opTypes, run } from './helpers.js';

test('dynamic int8 on the zoo transformer: every projection is quantized, Q/K/V share one input quantization, outputs stay close', async () => {
  const model = zooModel('transformer:layers=2,dModel=64,heads=2,ffn=128');
  const { model: q, report } = quantizeDynamic(model);
  const types = opTypes(q);
  assert.equal(types.filter((t) => t === 'DynamicQuantizeMatMul').length, 6);
  assert.equal(types.filter((t) => t === 'MatMulIntegerToFloat').length, 6);
  assert.equal(types.filter((t) => t === 'DynamicQuantizeLinear').length, 2);
  const { model: separate } = quantizeDynamic(model, { shareInputQuantization: false });
  assert.equal(opTypes(separate).filter((t) => t === 'DynamicQuantizeMatMul').length, 12);
  // Attention's activation·activation MatMuls have no constant weight and stay float.
  assert.equal(types.filter((t) => t === 'MatMul').length, 4);
  assert.ok(report.nodes.filter((d) => !d.quantized).every((d) => d.detail === 'weight is not a constant of this graph'));
  // No float weight is left behind: every float32 initializer of rank 2 is gone.
  assert.ok(q.graph!.initializer.every((t) => !(t.dataType === DataType.FLOAT && t.dims.length === 2)));
  assert.ok(report.weightBytes.after < 0.3 * report.weightBytes.before + 4096);
  const x = { input: floatInput([2, 16, 64]) };
  const [a, b, c] = [await run(model, x), await run(q, x), await run(separate, x)];
  assert.ok(cosine(a.output!, b.output!) > 0.99, `cosine ${cosine(a.output!, b.output!)}`);
  assert.ok(cosine(b.output!, c.output!) > 0.99999, 'both forms compute the same');
  assert.equal(model.graph!.node.filter((n) => n.opType === 'DynamicQuantizeMatMul').length, 0, 'the input model was not touched');
});

test('dynamic int8: a weight shared by two MatMuls is quantized once; Gemm with transB, alpha and beta is exact in form', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [3, 8]);
  const w = b.floatInit(
    'w',
    [8, 8],
    Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)),
  );
  const y1 = b.op('MatMul', [x, w]);
  const y2 = b.op('MatMul', [y1, w]);
  const wt = b.floatInit(
    'wt',
    [5, 8],
    Float32Array.from({ length: 40 }, (_, i) => Math.cos(i)),
  );
  const c = b.floatInit('c', [5], [0.1, 0.2, 0.3, 0.4, 0.5]);
  b.op('Gemm', [y2, wt, c], { transB: 1, alpha: 0.5, beta: { float: 2 } }, { output: 'y' });
  b.output('y', DataType.FLOAT, [3, 5]);
  const model = b.model({ opset: 17 });
  const { model: q } = quantizeDynamic(model, { perChannel: false });
  assert.deepEqual(opTypes(q), ['DynamicQuantizeMatMul', 'DynamicQuantizeMatMul', 'DynamicQuantizeMatMul']);
  assert.ok(q.graph!.node.every((n) => n.domain === 'com.microsoft'));
  assert.equal(q.graph!.initializer.filter((t) => t.dataType === DataType.INT8).length, 2, 'w quantized once');
  assert.ok(!q.graph!.initializer.some((t) => t.name === 'w' || t.name === 'wt'));
  const feeds = { x: floatInput([3, 8], 4) };
  const [ref, got] = [await run(model, feeds), await run(q, feeds)];
  assert.ok(cosine(ref.y!, got.y!) > 0.995, `cosine ${cosine(ref.y!, got.y!)}`);
});

test('dynamic int8: --op-types and --exclude-nodes leave nodes in float with the reason', () => {
  const model = zooModel('transformer:layers=1,dModel=32,heads=2,ffn=64');
  const { report } = quantizeDynamic(model, { excludeNodes: ['layers.0.ffn.fc1.matmul'] });
  const d = report.nodes.find((n) => n.node === 'layers.0.ffn.fc1.matmul')!;
  assert.equal(d.quantized, false);
  assert.match(d.detail, /exclude-nodes/);
  assert.throws(() => quantizeDynamic(model, { opTypes: ['Gemm'] }), /nothing to quantize in dynamic mode/);
});

test('dynamic int8: a model with nothing to quantize says so', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2]);
  b.op('Relu', [x], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  assert.throws(() => quantizeDynamic(b.model()), /nothing to quantize in dynamic mode: the model has no MatMul or Gemm/);
});

test('dynamic int8: a weight written as Constant → Transpose (as some exporters do) is folded and quantized', async () => {
  const { makeTensor } = await import('../../src/ir/tensor.js');
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 8]);
  const wt = b.op('Constant', [], {
    value: makeTensor(
      '',
      DataType.FLOAT,
      [4, 8],
      Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)),
    ),
  });
  const w = b.op('Transpose', [wt], { perm: [1, 0] });
  b.op('MatMul', [x, w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 4]);
  const model = b.model({ opset: 17 });
  const { model: q, report } = quantizeDynamic(model);
  assert.deepEqual(opTypes(q), ['DynamicQuantizeMatMul']);
  assert.match(report.notes.join(' '), /folded 2 constant node/);
  const feeds = { x: floatInput([2, 8]) };
  assert.ok(cosine((await run(model, feeds)).y!, (await run(q, feeds)).y!) > 0.995);
});
