import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertFp16 } from '../../src/quantize/fp16.js';
import { fromHalf, toHalf } from '../../src/quantize/math.js';
import { zooModel } from '../../src/zoo/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { makeTensor } from '../../src/ir/tensor.js';
import { inferShapes } from '../../src/ops/infer.js';
import { cosine, floatInput, run } from './helpers.js';

test('toHalf rounds to nearest even and saturates; fromHalf inverts it', () => {
  for (const x of [0, 1, -2, 0.5, 65504, 1e-7, 6.1035e-5, 3.14159, -0.000123]) {
    const back = fromHalf(toHalf(x));
    assert.ok(Math.abs(back - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `${x} -> ${back}`);
  }
  assert.equal(toHalf(1e6), 0x7bff);
  assert.equal(toHalf(-1e6), 0xfbff);
  assert.equal(toHalf(Infinity), 0x7c00);
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'tie rounds to even');
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
});

for (const spec of ['transformer:layers=2,dModel=64,heads=2,ffn=128', 'resnet:blocks=1-1,widths=8-16', 'mobilenet']) {
  test(`fp16 ${spec}: loads in ORT, types consistent, outputs close, weights halved`, async () => {
    const model = zooModel(spec);
    const { model: h, report } = convertFp16(model);
    assert.ok(report.weightBytes.after <= 0.52 * report.weightBytes.before, `${report.weightBytes.after} vs ${report.weightBytes.before}`);
    // Every node sees inputs of one float precision per the inferred types (no mismatch left).
    const inf = inferShapes(h);
    assert.deepEqual(inf.errors.map((e) => e.message), []);
    for (const vi of h.graph!.valueInfo) {
      const t = inf.types.get(vi.name!);
      if (t) assert.equal(vi.type!.tensorType!.elemType, t.elemType, `value_info of ${vi.name}`);
    }
    assert.equal(h.graph!.input[0]!.type!.tensorType!.elemType, DataType.FLOAT);
    assert.equal(h.graph!.output[0]!.type!.tensorType!.elemType, DataType.FLOAT);
    const input = model.graph!.input[0]!;
    const shape = input.type!.tensorType!.shape!.dim.map((d) => d.dimValue ?? 2);
    const feeds = { [input.name!]: floatInput(shape, 3) };
    const out = model.graph!.output[0]!.name!;
    const [a, b] = [await run(model, feeds), await run(h, feeds)];
    assert.ok(cosine(a[out]!, b[out]!) > 0.999, `cosine ${cosine(a[out]!, b[out]!)}`);
    assert.ok(report.nodes.some((d) => d.opType === 'Softmax' || d.opType === 'GlobalAveragePool'));
  });
}

test('fp16: blocked ops get Casts around them; keepIoTypes=false makes the interface float16', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 4]);
  const w = b.floatInit('w', [4, 4], Float32Array.from({ length: 16 }, (_, i) => i / 10));
  const y = b.op('Softmax', [b.op('MatMul', [x, w])], { axis: -1 });
  b.op('MatMul', [y, w], {}, { output: 'out' });
  b.output('out', DataType.FLOAT, [2, 4]);
  const model = b.model({ opset: 17 });
  const { model: h, report } = convertFp16(model);
  assert.deepEqual(h.graph!.node.map((n) => n.opType), ['Cast', 'MatMul', 'Cast', 'Softmax', 'Cast', 'MatMul', 'Cast']);
  assert.equal(report.nodes.find((d) => d.opType === 'Softmax')!.detail, 'numerically sensitive: kept float32 (block list)');
  assert.equal(h.graph!.initializer.length, 1, 'w stored once, in float16');
  const feeds = { x: floatInput([2, 4]) };
  const [r, q] = [await run(model, feeds), await run(h, feeds)];
  assert.ok(cosine(r.out!, q.out!) > 0.9999);
  const { model: io } = convertFp16(model, { keepIoTypes: false });
  assert.equal(io.graph!.input[0]!.type!.tensorType!.elemType, DataType.FLOAT16);
  assert.equal(io.graph!.output[0]!.type!.tensorType!.elemType, DataType.FLOAT16);
});

test('fp16: float Constant nodes (value and value_float) and Casts to float become float16 inside the fp16 region', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [4]);
  const c1 = b.op('Constant', [], { value_float: { float: 1.5 } });
  const c2 = b.op('Constant', [], { value: makeTensor('', DataType.FLOAT, [4], Float32Array.of(1, 2, 3, 4)) });
  const i = b.op('Cast', [b.op('Mul', [x, c1])], { to: DataType.INT32 });
  const f = b.op('Cast', [i], { to: DataType.FLOAT });
  b.op('Add', [f, c2], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [4]);
  const model = b.model({ opset: 17 });
  const { model: h } = convertFp16(model);
  assert.equal(inferShapes(h).errors.length, 0);
  const feeds = { x: floatInput([4], 9) };
  const [r, q] = [await run(model, feeds), await run(h, feeds)];
  assert.ok(cosine(r.y!, q.y!) > 0.9999);
  assert.ok(h.graph!.node.filter((n) => n.opType === 'Cast').some((n) => n.attribute[0]!.i === DataType.FLOAT16));
});
