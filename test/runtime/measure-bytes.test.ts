import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureInWorker } from '../../src/runtime/measure.js';
import { encodeModel } from '../../src/ir/codec.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';

test('measureInWorker leaves the caller’s Buffer usable (a pooled Buffer is copied, not detached)', async () => {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [1, 4]);
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 4]);
  const bytes = Buffer.from(encodeModel(b.model())); // small: lives in Node's shared pool
  const before = Buffer.from(bytes);
  await measureInWorker(bytes, { inputs: [{ name: 'x', elemType: DataType.FLOAT, shape: [1, 4] }], warmup: 1, runs: 2 });
  assert.equal(bytes.byteLength, before.byteLength);
  assert.deepEqual(bytes, before);
});
