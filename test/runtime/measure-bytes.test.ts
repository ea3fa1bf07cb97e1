import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureInWorker } from '../../src/runtime/measure.js';
import { encodeModel } from '../../src/ir/codec.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';

test('measureInWorker leaves the caller’s Buffer from readFileSync usable (copied, not detached)', async () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [1, 64]);
  const w = b.floatInit('w', [64, 64], new Float32Array(4096).fill(0.01));
  b.op('MatMul', ['x', w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 64]);
  const dir = mkdtempSync(join(tmpdir(), 'hone-measure-'));
  writeFileSync(join(dir, 'm.onnx'), encodeModel(b.model()));
  const bytes = readFileSync(join(dir, 'm.onnx')); // 16 KiB: its own ArrayBuffer, not Node's pool
  rmSync(dir, { recursive: true });
  const before = Buffer.from(bytes);
  await measureInWorker(bytes, { inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 64] }], warmup: 1, runs: 2 });
  assert.equal(bytes.byteLength, before.byteLength);
  assert.deepEqual(bytes, before);
});
