import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSampleData, batches } from '../../src/quantize/data.js';
import { encodeNpy } from '../../src/data/npy.js';
import { zooModel } from '../../src/zoo/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hone-qdata-'));
const lenet = zooModel('lenet5');

test('a folder of .npy named after the inputs, with labels, is served in batches of the right type', async () => {
  const d = join(dir, 'folder');
  mkdirSync(d);
  writeFileSync(
    join(d, 'input.npy'),
    encodeNpy(
      Float64Array.from({ length: 5 * 784 }, (_, i) => i / 784),
      [5, 1, 28, 28],
    ),
  );
  writeFileSync(join(d, 'label.npy'), encodeNpy(BigInt64Array.from([0n, 1n, 2n, 3n, 4n]), [5]));
  const data = await loadSampleData(d, lenet);
  assert.equal(data.size, 5);
  const list = [...batches(data, lenet, 2)];
  assert.deepEqual(
    list.map((b) => b.size),
    [2, 2, 1],
  );
  assert.equal(list[0]!.feeds.input!.type, 'float32', 'float64 data converted to the input type');
  assert.deepEqual(list[0]!.feeds.input!.dims, [2, 1, 28, 28]);
  assert.deepEqual(list[2]!.labels, [4]);
  assert.equal((await loadSampleData(d, lenet, { samples: 3 })).size, 3);
});

test('bad data: unknown array names, wrong rank, missing paths each name the problem and the fix', async () => {
  const wrong = join(dir, 'wrong');
  mkdirSync(wrong);
  writeFileSync(join(wrong, 'pixels.npy'), encodeNpy(new Float32Array(784), [1, 1, 28, 28]));
  await assert.rejects(
    () => loadSampleData(wrong, lenet),
    /has no array for model input 'input' \(found: pixels\); name the array 'input'/,
  );
  const flat = join(dir, 'flat.npy');
  writeFileSync(flat, encodeNpy(new Float32Array(2 * 784), [2, 784]));
  await assert.rejects(
    () => loadSampleData(flat, lenet),
    /array 'input' has shape \[2,784\], but input 'input' expects \[batch,1,28,28\] \(samples first\); reshape the data/,
  );
  await assert.rejects(() => loadSampleData(join(dir, 'nope.npz'), lenet), /cannot read .*nope\.npz: no such file or folder/);
});

test('mnist: train split for calibration, test split with labels for evaluation', async () => {
  const train = await loadSampleData('mnist', lenet, { samples: 64, split: 'train' });
  const test = await loadSampleData('mnist', lenet, { split: 'test' });
  assert.equal(train.size, 64);
  assert.equal(test.size, 2000);
  assert.equal(test.labels!.dims[0], 2000);
});

test('a model with a fixed batch larger than the data says how many samples it needs', async () => {
  const fixed = zooModel('lenet5:batch=8');
  const data = await loadSampleData('mnist', fixed, { samples: 5 });
  assert.throws(() => [...batches(data, fixed, 16)], /has 5 sample\(s\), fewer than the model's fixed batch size 8; give at least 8/);
  assert.deepEqual(
    [...batches(await loadSampleData('mnist', fixed, { samples: 20 }), fixed, 16)].map((b) => b.size),
    [8, 8],
  );
});
