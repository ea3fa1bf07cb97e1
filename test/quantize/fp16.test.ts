import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertFp16 } from '../../src/quantize/fp16.js';
import { measureActivationRanges } from '../../src/quantize/fp16-ranges.js';
import { compareOutputs } from '../../src/quantize/evaluate.js';
import type { SampleData } from '../../src/quantize/data.js';
import { floatInputSlot, floatOutputSlot } from '../../src/ops/float-types.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { fromHalf, toHalf } from '../../src/quantize/math.js';
import { zooModel } from '../../src/zoo/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { makeTensor } from '../../src/ir/tensor.js';
import { inferShapes } from '../../src/ops/infer.js';
import { cosine, floatInput, run } from './helpers.js';

test('toHalf rounds to nearest even and saturates; fromHalf inverts it', () => {
  for (const x of [0, 1, -2, 0.5, 65504, 1e-7, 6.1035e-5, Math.PI, -0.000123]) {
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
    assert.deepEqual(
      inf.errors.map((e) => e.message),
      [],
    );
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
  const w = b.floatInit(
    'w',
    [4, 4],
    Float32Array.from({ length: 16 }, (_, i) => i / 10),
  );
  const y = b.op('Softmax', [b.op('MatMul', [x, w])], { axis: -1 });
  b.op('MatMul', [y, w], {}, { output: 'out' });
  b.output('out', DataType.FLOAT, [2, 4]);
  const model = b.model({ opset: 17 });
  const { model: h, report } = convertFp16(model);
  assert.deepEqual(
    h.graph!.node.map((n) => n.opType),
    ['Cast', 'MatMul', 'Cast', 'Softmax', 'Cast', 'MatMul', 'Cast'],
  );
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

/** The value feeding input `slot` of the first node of `opType`, and that value's element type in the model. */
function inputType(model: ModelProto, opType: string, slot: number): number | undefined {
  const n = model.graph!.node.find((x) => x.opType === opType)!;
  return inferShapes(model).types.get(n.input[slot]!)?.elemType;
}

test('ops/float-types: slots that do not carry T, by opset', () => {
  assert.equal(floatInputSlot('Resize', 10, 1), 'float32', 'opset 10: scales is input 1');
  assert.equal(floatInputSlot('Resize', 11, 1), 'T', 'roi follows T (T2 is any float type)');
  assert.equal(floatInputSlot('Resize', 13, 2), 'float32');
  assert.equal(floatInputSlot('Upsample', 9, 1), 'float32');
  assert.equal(floatInputSlot('Cast', 13, 0), 'any');
  assert.equal(floatInputSlot('Add', 13, 1), 'T');
  assert.equal(floatInputSlot('DequantizeLinear', 13, 1), 'float32');
  assert.equal(floatInputSlot('DequantizeLinear', 19, 1), 'T', 'opset 19 allows float16 scales');
  assert.equal(floatOutputSlot('LayerNormalization', 17, 1), 'float32');
  assert.equal(floatInputSlot('Resize', 13, 2, 'com.microsoft'), 'T');
});

// PaddleOCR's detector (Paddle2ONNX, opset 11): Resize's roi/scales came out float16 and ORT refused the model.
for (const [opset, blocked] of [
  [10, true],
  [11, true],
  [13, true],
  [13, false],
] as const) {
  test(`fp16: Resize (opset ${opset}${blocked ? '' : ', run in float16'}) keeps float32 scales; the model loads and matches`, async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const w = b.floatInit('w', [2, 2, 1, 1], Float32Array.of(0.5, -1, 2, 0.25));
    const h = b.op('Conv', [x, w]);
    const scales = b.op('Constant', [], { value: makeTensor('', DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 2)) });
    const inputs =
      opset === 10 ? [h, scales] : [h, b.op('Constant', [], { value: makeTensor('', DataType.FLOAT, [0], new Float32Array(0)) }), scales];
    const r = b.op('Resize', inputs, { mode: 'nearest' });
    b.op('Add', [r, b.floatInit('c', [1], Float32Array.of(0.125))], {}, { output: 'y' });
    b.output('y', DataType.FLOAT, [1, 2, 8, 8]);
    const model = b.model({ opset });
    const { model: q, report } = convertFp16(model, blocked ? {} : { blockList: [] });
    assert.deepEqual(
      inferShapes(q).errors.map((e) => e.message),
      [],
    );
    assert.equal(inputType(q, 'Resize', opset === 10 ? 1 : 2), DataType.FLOAT, 'scales stay tensor(float)');
    assert.equal(inputType(q, 'Resize', 0), blocked ? DataType.FLOAT : DataType.FLOAT16);
    assert.equal(
      q.graph!.node.find((n) => n.opType === 'Conv')!.input.map((v) => inferShapes(q).types.get(v)?.elemType)[1],
      DataType.FLOAT16,
    );
    if (blocked)
      assert.ok(
        report.nodes.filter((d) => d.opType === 'Constant').every((d) => !d.quantized),
        'constants read only by the float32 Resize stay float32',
      );
    const feeds = { x: floatInput([1, 2, 4, 4], 4) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    assert.ok(cosine(a.y!, c.y!) > 0.9999, `cosine ${cosine(a.y!, c.y!)}`);
  });
}

// BlazeFace (tf2onnx): ConstantOfShape without `value` (float32 zeros) padded channels by Concat with an fp16 activation.
for (const dynamic of [false, true]) {
  test(`fp16: Concat of a ${dynamic ? 'run-time' : 'constant'} ConstantOfShape (default float32 zeros) and an activation loads and matches`, async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 3]);
    const act = b.op('Relu', [b.op('Mul', [x, b.floatInit('s', [1], Float32Array.of(3))])]);
    const zeros = b.op('ConstantOfShape', [dynamic ? b.op('Shape', [x]) : b.int64Init('shape', [1, 2, 3])]);
    const cat = b.op('Concat', [act, zeros], { axis: 1 });
    b.op('Add', [cat, b.op('Constant', [], { value: makeTensor('', DataType.FLOAT, [1], Float32Array.of(0.5)) })], {}, { output: 'y' });
    b.output('y', DataType.FLOAT, [1, 4, 3]);
    const model = b.model({ opset: 12 });
    const { model: q } = convertFp16(model);
    assert.deepEqual(
      inferShapes(q).errors.map((e) => e.message),
      [],
    );
    assert.equal(inputType(q, 'Concat', 1), DataType.FLOAT16);
    assert.ok(!q.graph!.node.some((n) => n.opType === 'Cast' && n.output[0]!.includes(zeros)), 'the zeros are made in float16, not cast');
    const feeds = { x: floatInput([1, 2, 3], 5) };
    const [a, c] = [await run(model, feeds), await run(q, feeds)];
    assert.ok(cosine(a.y!, c.y!) > 0.9999, `cosine ${cosine(a.y!, c.y!)}`);
    assert.deepEqual([...c.y!.slice(6)], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  });
}

// PaddleOCR's detector: a BatchNormalization variance of ~1e8 was clamped to 65504 (cosine 0.79 on real pages).
test('fp16: an op reading a weight beyond float16 range stays float32 instead of clamping it', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2, 2, 2]);
  const h = b.op('Mul', [x, b.floatInit('s', [1], Float32Array.of(1000))]);
  const bn = b.op('BatchNormalization', [
    h,
    b.floatInit('g', [2], [1, 1]),
    b.floatInit('b', [2], [0, 0]),
    b.floatInit('mu', [2], [0, 0]),
    b.floatInit('var', [2], [1e8, 4]),
  ]);
  b.op('Relu', [bn], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 2, 2, 2]);
  const model = b.model({ opset: 11 });
  const { model: q, report } = convertFp16(model);
  assert.match(report.nodes.find((d) => d.opType === 'BatchNormalization')!.detail, /weight beyond float16's range/);
  assert.ok(report.nodes.find((d) => d.opType === 'Relu')!.quantized);
  assert.ok(!report.notes.some((n) => n.includes('clamped')));
  const feeds = { x: floatInput([1, 2, 2, 2], 6) };
  const [a, c] = [await run(model, feeds), await run(q, feeds)];
  assert.ok(cosine(a.y!, c.y!) > 0.9999, `cosine ${cosine(a.y!, c.y!)}`);
});

// openWakeWord's mel front end: int16-scaled audio squared (a power spectrum) overflows float16 to Inf/NaN.
test('fp16 overflow: non-finite outputs are reported; measured ranges keep the overflowing ops float32', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 8]);
  const w = b.floatInit(
    'w',
    [8, 8],
    Float32Array.from({ length: 64 }, (_, i) => ((i * 7) % 5) / 4 - 0.5),
  );
  const frame = b.op('MatMul', [x, w]);
  const power = b.op('Mul', [frame, frame]);
  // ORT's CPU provider computes most float16 ops in float32 and drops the Cast pairs between them, hiding the
  // overflow; Unsqueeze → Transpose (as after the mel model's Conv) keeps a real float16 tensor there too.
  const moved = b.op('Transpose', [b.op('Unsqueeze', [power, b.int64Init('axes', [0])])], { perm: [1, 0, 2] });
  b.op('MatMul', [b.op('Sqrt', [moved]), w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 1, 8]);
  const model = b.model({ opset: 13 });
  const audio = Float32Array.from({ length: 4 * 8 }, (_, i) => Math.round(Math.sin(i * 1.7) * 10000));
  const data: SampleData = { features: { x: { data: audio, dims: [4, 8] } }, size: 4, source: 'loud audio' };

  const plain = convertFp16(model);
  assert.ok(plain.report.notes.some((n) => n.includes('activation ranges were not measured')));
  const bad = await compareOutputs(model, plain.model, data);
  assert.ok(bad.nonFinite, 'overflow detected');
  assert.ok(bad.nonFinite.count > 0 && bad.nonFinite.count <= bad.nonFinite.total);
  assert.deepEqual(bad.nonFinite.outputs, ['y']);
  assert.match(bad.nonFinite.message, /NaN\/Inf/);
  assert.ok(Number.isNaN(bad.cosine), 'no cosine that looks fine');
  assert.equal(bad.maxAbsError, Infinity);

  const ranges = await measureActivationRanges(model, data);
  assert.ok(ranges.maxAbs.get(power)! > 65504);
  const { model: q, report } = convertFp16(model, { activationRanges: ranges });
  const kept = report.nodes
    .filter((d) => !d.quantized)
    .map((d) => d.opType)
    .sort();
  assert.deepEqual(kept, ['Mul', 'Sqrt', 'Transpose', 'Unsqueeze'], 'the ops writing the big values and those reading them');
  assert.ok(report.nodes.filter((d) => d.opType === 'MatMul').every((d) => d.quantized));
  assert.ok(
    report.notes.some((n) => /4 op\(s\) kept float32 .* loud audio/.test(n) && n.includes('mul (1.3e+8)')),
    report.notes.join('; '),
  );
  const good = await compareOutputs(model, q, data);
  assert.equal(good.nonFinite, undefined);
  assert.ok(good.cosine > 0.999, `cosine ${good.cosine}`);

  // The float model's own non-finite values are not the quantized model's fault.
  const same = await compareOutputs(model, model, {
    ...data,
    features: { x: { data: audio.map((v, i) => (i === 3 ? Infinity : v)), dims: [4, 8] } },
  });
  assert.equal(same.nonFinite, undefined);
  assert.ok(same.cosine > 0.9999);
});
