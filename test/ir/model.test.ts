import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, rmSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { encodeModel } from '../../src/ir/codec.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { HoneError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hone-model-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function mlp() {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, ['batch', 256]);
  const w1 = b.floatInit(
    'w1',
    [256, 512],
    new Float32Array(256 * 512).map((_, i) => Math.sin(i) * 0.05),
  );
  const w2 = b.floatInit(
    'w2',
    [512, 10],
    new Float32Array(5120).map((_, i) => Math.cos(i) * 0.05),
  );
  const small = b.floatInit('bias', [10], new Float32Array(10).fill(0.5));
  const h = b.op('Relu', [b.op('MatMul', ['x', w1])]);
  b.op('Add', [b.op('MatMul', [h, w2]), small], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 10]);
  return b.model();
}

async function run(modelPathOrBytes: string | Uint8Array) {
  const s = await ort.InferenceSession.create(modelPathOrBytes as string);
  const x = new Float32Array(2 * 256).map((_, i) => (i % 7) / 7);
  const out = await s.run({ x: new ort.Tensor('float32', x, [2, 256]) });
  await s.release();
  return out.y!.data as Float32Array;
}

test('save → load round-trips a model, inline', async () => {
  const m = mlp();
  const p = join(dir, 'inline.onnx');
  const { bytes, externalBytes } = saveModel(m, p);
  assert.equal(externalBytes, 0);
  assert.equal(readFileSync(p).byteLength, bytes);
  const back = loadModel(p);
  assert.deepEqual(
    [...(tensorArray(back.graph!.initializer[1]!) as Float32Array)],
    [...(tensorArray(m.graph!.initializer[1]!) as Float32Array)],
  );
  assert.deepEqual(await run(p), await run(encodeModel(m)));
});

test('external data: written beside the model, read by ORT and by loadModel, small tensors stay inline', async () => {
  const m = mlp();
  const p = join(dir, 'ext.onnx');
  const { externalBytes } = saveModel(m, p, { externalData: true });
  assert.ok(externalBytes >= (256 * 512 + 5120) * 4);
  assert.ok(existsSync(join(dir, 'ext.onnx.data')));
  assert.ok(readFileSync(p).byteLength < 4096, 'weights left the .onnx');
  // The caller's model is untouched.
  assert.ok(m.graph!.initializer.every((t) => t.rawData && t.dataLocation === undefined));
  const expected = await run(encodeModel(m));
  assert.deepEqual(await run(p), expected, 'ORT reads our external data');
  const back = loadModel(p);
  assert.ok(back.graph!.initializer.every((t) => t.rawData && t.dataLocation === undefined));
  assert.deepEqual(await run(encodeModel(back)), expected);
  // Re-save elsewhere inline: the model is self-contained after loading.
  const p2 = join(dir, 'sub');
  mkdirSync(p2);
  saveModel(back, join(p2, 'copy.onnx'), { externalData: false });
  assert.deepEqual(await run(join(p2, 'copy.onnx')), expected);
});

test('loadModel errors name the problem and the fix', () => {
  const expectError = (fn: () => unknown, re: RegExp) => {
    assert.throws(fn, (e: unknown) => e instanceof HoneError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'));
  };
  expectError(() => loadModel(join(dir, 'nope.onnx')), /no such file; check the path/);
  expectError(() => loadModel(dir), /is a folder/);
  const text = join(dir, 'text.onnx');
  writeFileSync(text, 'hello, this is not a model\n');
  expectError(() => loadModel(text), /not (a valid|an) ONNX model/);
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, '');
  expectError(() => loadModel(empty), /not an ONNX model \(no graph\)/);
  const full = encodeModel(mlp());
  const trunc = join(dir, 'trunc.onnx');
  writeFileSync(trunc, full.subarray(0, Math.floor(full.length / 2)));
  expectError(() => loadModel(trunc), /truncated or corrupt/);
  // External data missing or too short.
  const p = join(dir, 'ext2.onnx');
  saveModel(mlp(), p, { externalData: true });
  const data = readFileSync(join(dir, 'ext2.onnx.data'));
  writeFileSync(join(dir, 'ext2.onnx.data'), data.subarray(0, 1000));
  expectError(() => loadModel(p), /data file is truncated/);
  rmSync(join(dir, 'ext2.onnx.data'));
  expectError(() => loadModel(p), /is missing; copy it beside the model/);
});

test('saveModel to an unwritable place fails cleanly and leaves nothing behind', () => {
  assert.throws(
    () => saveModel(mlp(), join(dir, 'no', 'such', 'dir', 'm.onnx')),
    (e: unknown) => e instanceof HoneError && /folder does not exist/.test(e.message),
  );
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  if (process.getuid?.() !== 0) {
    assert.throws(() => saveModel(mlp(), join(ro, 'm.onnx')), HoneError);
  }
  assert.deepEqual(readdirSync(ro), []);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temp files left');
});
