// The weights view: every weight once, wherever the model keeps it, with exact element and byte counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { modelWeights, type ModelWeights } from '../../src/ops/weights.js';
import { constantNodeModel, constantOfShapeModel, dequantizeModel, ifModel, sharedModel } from '../helpers/weight-models.js';

const summary = (v: ModelWeights) =>
  v.weights.map((w) => `${w.graph} ${w.location} ${w.name} ${w.dims.join('x') || 'scalar'} ${w.elements} ${w.bytes}`);

test('weights in Constant nodes count; the int64 Reshape target does not', () => {
  const v = modelWeights(constantNodeModel());
  assert.deepEqual(summary(v), ['main constant w 8x16 128 512', 'main constant b 16 16 64']);
  assert.equal(v.params, 144);
  assert.equal(v.bytes, 576);
});

test('ConstantOfShape → Cast → Reshape is one weight, counted from its shape at its stored type', () => {
  const before = process.memoryUsage().arrayBuffers;
  const v = modelWeights(constantOfShapeModel(2048, 2048));
  assert.ok(process.memoryUsage().arrayBuffers - before < 4 << 20, 'the 16 MB float tensor was not made');
  const [bias, w] = v.weights; // initializers first, then what nodes make, in graph order
  assert.deepEqual(
    [w!.name, w!.location, w!.dataType, w!.dims, w!.elements, w!.bytes],
    ['filled', 'computed', DataType.FLOAT16, [4194304], 4194304, 8388608],
  );
  assert.deepEqual(w!.forms, [
    { name: 'filled_f32', dataType: DataType.FLOAT, dims: [4194304] },
    { name: 'w', dataType: DataType.FLOAT, dims: [2048, 2048] },
  ]);
  assert.deepEqual([bias!.name, bias!.location, bias!.bytes, bias!.forms.map((f) => f.name)], ['bias16', 'initializer', 4096, ['bias']]);
  assert.equal(v.params, 4194304 + 2048);
  assert.equal(v.bytes, 2 * (4194304 + 2048));
  assert.equal(v.find('w'), w);
  assert.equal(v.find('filled_f32'), w);
});

test('a weight too large to exist in memory is still counted (2^33 elements)', () => {
  const b = new GraphBuilder('huge');
  b.input('x', DataType.FLOAT, [1, 65536]);
  const w = b.op('ConstantOfShape', [b.int64Init('s', [65536, 131072])]);
  b.op('MatMul', ['x', w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 131072]);
  const v = modelWeights(b.model());
  assert.equal(v.params, 2 ** 33);
  assert.equal(v.bytes, 2 ** 35);
});

test('DequantizeLinear of int8 constants counts the int8 data and its scales, not the float result', () => {
  const v = modelWeights(dequantizeModel());
  assert.deepEqual(summary(v), [
    'main constant wq 16x8 128 128',
    'main constant wscale 16 16 64',
    'main constant wzp 16 16 16',
    'main constant bq 16 16 64',
    'main constant bscale 16 16 64',
  ]);
  assert.deepEqual(v.find('w')!.forms, [{ name: 'w', dataType: DataType.FLOAT, dims: [16, 8] }]);
  assert.equal(v.params, 192);
  assert.equal(v.bytes, 336);
});

test('a weight shared by three MatMuls, one of them through a Transpose, counts once', () => {
  const v = modelWeights(sharedModel());
  assert.deepEqual(summary(v), ['main initializer w 8x8 64 256']);
  assert.deepEqual(v.weights[0]!.forms, [{ name: 'wt', dataType: DataType.FLOAT, dims: [8, 8] }]);
});

test('weights inside If branches count, and an outer weight read from both branches counts once', () => {
  const v = modelWeights(ifModel());
  assert.deepEqual(summary(v), [
    'main initializer outer 4x4 16 64',
    'main/if:then_branch constant then_w 4x4 16 64',
    'main/if:else_branch initializer else_w 4x4 16 64',
    'main/if:else_branch constant else_half scalar 1 4',
  ]);
  assert.equal(v.params, 49);
  assert.equal(v.find('then_w', 'main/if:then_branch')?.name, 'then_w');
  assert.equal(v.find('then_w'), undefined, 'find looks in the named graph');
});

test('unused tensors, overridable defaults and int64 data', () => {
  const b = new GraphBuilder('misc');
  b.input('x', DataType.FLOAT, [2, 3]);
  b.floatInit('unused', [100], new Float32Array(100));
  // IR >= 4: an initializer that is also an input is a default; it is still the model's weight.
  const scale = b.floatInit('scale', [3], [1, 2, 3]);
  b.graph.input.push({
    name: scale,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 3 }] } } },
    metadataProps: [],
  });
  const idx = b.int64Init('idx', [2, 0]);
  b.op('Gather', [b.op('Mul', ['x', scale]), idx], { axis: 1 }, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 2]);
  assert.deepEqual(summary(modelWeights(b.model())), ['main initializer scale 3 3 12']);
});

test('weights in external data count without loading it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-weights-'));
  try {
    const path = join(dir, 'm.onnx');
    saveModel(constantOfShapeModel(64, 64), path, { externalData: true, sizeThreshold: 16 });
    const lazy = modelWeights(loadModel(path, { externalData: false }));
    const loaded = modelWeights(loadModel(path));
    assert.deepEqual([lazy.params, lazy.bytes], [4096 + 64, 2 * (4096 + 64)]);
    assert.deepEqual([loaded.params, loaded.bytes], [lazy.params, lazy.bytes]);
    assert.deepEqual(
      lazy.weights.map((w) => [w.name, w.external]),
      [
        ['bias16', true],
        ['filled', false],
      ],
    );
    assert.equal(loaded.weights[0]!.external, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
