import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packInt4, quantizeInt4, unpackInt4 } from '../../src/quantize/int4.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { zooModel } from '../../src/zoo/index.js';
import { mulberry32 } from '../../src/util/random.js';
import { cosine, floatInput, run } from './helpers.js';

function weights(K: number, N: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const w = Float32Array.from({ length: K * N }, () => (r() * 2 - 1) * 0.2);
  w[5] = 1.5; // an outlier in one block
  return w;
}

function matmulModel(w: Float32Array, K: number, N: number) {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [4, K]);
  b.op('MatMul', [x, b.floatInit('w', [K, N], w)], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [4, N]);
  return b.model({ opset: 17 });
}

for (const [K, N, blockSize, symmetric] of [
  [64, 24, 32, false],
  [80, 16, 32, true],
  [256, 8, 128, false],
] as const) {
  test(`int4 K=${K} N=${N} block=${blockSize}${symmetric ? ' symmetric' : ''}: ORT's MatMulNBits equals a float MatMul on the dequantized weight`, async () => {
    const w = weights(K, N, K + N);
    const model = matmulModel(w, K, N);
    const { model: q, report } = quantizeInt4(model, { blockSize, symmetric });
    assert.deepEqual(
      q.graph!.node.map((n) => n.opType),
      ['MatMulNBits'],
    );
    assert.ok(!q.graph!.initializer.some((t) => t.dataType === DataType.FLOAT && t.dims.length === 2), 'float weight removed');
    const packed = packInt4(w, K, N, { blockSize, symmetric, clipRatios: report.settings.clipRatios as number[] });
    const reference = matmulModel(unpackInt4(packed, K, N, blockSize), K, N);
    const feeds = { x: floatInput([4, K], 2) };
    const [got, want, float] = [await run(q, feeds), await run(reference, feeds), await run(model, feeds)];
    for (let i = 0; i < want.y!.length; i++) assert.ok(Math.abs(got.y![i]! - want.y![i]!) < 1e-4, `y[${i}]: ${got.y![i]} vs ${want.y![i]}`);
    assert.ok(cosine(got.y!, float.y!) > 0.97, `cosine to float ${cosine(got.y!, float.y!)}`);
  });
}

test('int4: the clipping-ratio search lowers reconstruction error below round-to-nearest', () => {
  const w = weights(256, 32, 3);
  const err = (ratios: number[]) => packInt4(w, 256, 32, { blockSize: 32, symmetric: false, clipRatios: ratios }).sqError;
  const rtn = err([1]);
  const searched = err(Array.from({ length: 11 }, (_, i) => 1 - i * 0.02));
  assert.ok(searched < rtn * 0.97, `${searched} vs ${rtn}`);
});

test('int4 on the zoo transformer: MatMul weights shrink below 0.2x, outputs stay close', async () => {
  const model = zooModel('transformer:layers=1,dModel=64,heads=2,ffn=128');
  const { model: q, report } = quantizeInt4(model, { blockSize: 32 });
  assert.equal(q.graph!.node.filter((n) => n.opType === 'MatMulNBits').length, 6);
  const matmulBytes = (m: typeof model) =>
    m.graph!.initializer.filter((t) => /(proj|fc\d)\.weight/.test(t.name!)).reduce((s, t) => s + t.rawData!.byteLength, 0);
  assert.ok(matmulBytes(q) <= 0.2 * matmulBytes(model), `${matmulBytes(q)} vs ${matmulBytes(model)}`);
  assert.ok(report.weightBytes.after < report.weightBytes.before);
  const feeds = { input: floatInput([2, 8, 64], 5) };
  const [a, b] = [await run(model, feeds), await run(q, feeds)];
  assert.ok(cosine(a.output!, b.output!) > 0.98, `cosine ${cosine(a.output!, b.output!)}`);
});
