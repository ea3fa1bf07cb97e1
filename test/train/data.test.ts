import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, loadDataset, mnist, parseNpy, readNpz, readNpyFile } from '../../src/data/index.js';

const fx = (f: string) => join(import.meta.dirname, 'fixtures', f);
// numpy wrote these (see fixtures): rng(0).standard_normal((12, 4)) as float32; label = sum > 0.
const firstRow = [0.12573022, -0.13210486, 0.64042264, 0.10490011];
const labels = [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1];

describe('data', () => {
  it('reads a numpy .npy file', () => {
    const t = readNpyFile(fx('tiny-x.npy'));
    assert.deepEqual(t.dims, [12, 4]);
    assert.ok(t.data instanceof Float32Array);
    firstRow.forEach((v, i) => assert.ok(Math.abs((t.data as Float32Array)[i]! - v) < 1e-6));
  });

  it('reads numpy.savez (stored) and savez_compressed (deflated) archives', () => {
    for (const f of ['tiny.npz', 'tiny-compressed.npz']) {
      const a = readNpz(fx(f));
      assert.deepEqual(Object.keys(a).sort(), ['input', 'label']);
      assert.deepEqual(a.input!.dims, [12, 4]);
      assert.deepEqual(Array.from(a.label!.data as ArrayLike<number | bigint>, Number), labels);
      firstRow.forEach((v, i) => assert.ok(Math.abs(Number(a.input!.data[i]) - v) < 1e-6, f));
    }
  });

  it('loads an .npz as a dataset matched to the model inputs, with clear errors', async () => {
    const d = await loadDataset(fx('tiny.npz'), ['x_in']);
    assert.equal(d.train.size, 12);
    assert.deepEqual(Object.keys(d.train.features), ['x_in']);
    await assert.rejects(() => loadDataset(fx('tiny.npz'), ['a', 'b']), /no array for model input 'a'/);
    await assert.rejects(() => loadDataset(fx('missing.npz'), ['a']), /no dataset/);
    await assert.rejects(() => loadDataset(fx('tiny-x.npy'), ['a']), /features and labels/);
  });

  it('encodeNpy round-trips through parseNpy', () => {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const t = parseNpy(encodeNpy(data, [2, 3]));
    assert.deepEqual(t.dims, [2, 3]);
    assert.deepEqual(t.data, data);
    const big = parseNpy(encodeNpy(BigInt64Array.of(7n, -1n), [2]));
    assert.deepEqual(Array.from(big.data as BigInt64Array), [7n, -1n]);
    // A Node Buffer (readFileSync, gunzipSync) is a view on a larger buffer: only the array comes back.
    const pooled = Buffer.concat([Buffer.from('prefix!'), Buffer.from(encodeNpy(Int32Array.of(-5, 6, 70000), [3]))]).subarray(7);
    assert.deepEqual(Array.from(parseNpy(pooled).data as Int32Array), [-5, 6, 70000]);
  });

  it('rejects files that are not .npy', () => {
    assert.throws(() => parseNpy(new Uint8Array(readFileSync(fx('tiny.npz')))), /not a \.npy file/);
  });

  it('built-in MNIST: 10,000 real digits, fixed 8,000/2,000 split, every class in both', () => {
    const { train, test } = mnist();
    assert.equal(train.size + test.size, 10000);
    assert.equal(train.size, 8000);
    assert.deepEqual(train.features.input!.dims, [8000, 1, 28, 28]);
    for (const ds of [train, test]) {
      const counts = new Array(10).fill(0);
      for (const y of ds.labels.data as BigInt64Array) counts[Number(y)]++;
      assert.ok(
        counts.every((c) => c > 100),
        counts.join(','),
      );
    }
    const px = train.features.input!.data as Float32Array;
    assert.ok(px.every((v) => v >= 0 && v <= 1));
    assert.equal(mnist().train.labels.data[0], train.labels.data[0]);
  });
});
