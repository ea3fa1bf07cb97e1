// Unstructured pruning (prune/magnitude.ts) and sparse storage (ir/sparse.ts): exact counts, the smallest
// weights go, the cubic schedule, and sparse initializers that ORT and Hone both read back as the dense tensor.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../src/ir/codec.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { denseTensor, withSparseInitializers } from '../../src/ir/sparse.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { applyMasks, magnitudeMasks, polynomialSparsity, prunableWeights, weightMasks, weightSparsity } from '../../src/prune/magnitude.js';
import { ratiosFromCurves } from '../../src/prune/sensitivity.js';
import { createSession, mulberry32 } from '../../src/runtime/index.js';
import { lenet5 } from '../../src/zoo/index.js';

describe('magnitude pruning (prune/magnitude.ts)', () => {
  it('lists the weights of Conv and Gemm, not biases', () => {
    const names = prunableWeights(lenet5());
    assert.equal(names.length, 5);
    const inits = new Map(lenet5().graph!.initializer.map((t) => [t.name!, t]));
    for (const n of names) assert.ok(inits.get(n)!.dims.length >= 2, n);
    assert.throws(() => prunableWeights(lenet5(), ['nope']), /not a prunable weight/);
  });

  it('layer scope: each tensor loses exactly round(s·n), the smallest', () => {
    const r = mulberry32(3);
    const values = [Float32Array.from({ length: 101 }, () => r() - 0.5), Float32Array.from({ length: 40 }, () => r() * 10)];
    const masks = magnitudeMasks(values, 0.3, 'layer');
    values.forEach((v, i) => {
      const m = masks[i]!;
      const pruned = [...m].filter((x) => x === 0).length;
      assert.equal(pruned, Math.round(v.length * 0.3));
      const maxPruned = Math.max(...[...v].filter((_, j) => !m[j]).map(Math.abs));
      const minKept = Math.min(...[...v].filter((_, j) => m[j]).map(Math.abs));
      assert.ok(maxPruned <= minKept);
    });
  });

  it('global scope: exactly round(s·N) over all tensors, ties included, smallest anywhere', () => {
    const values = [Float32Array.from([0, 0, 1, 2, 3, 3]), Float32Array.from([3, 3, 0.5, -4])];
    const masks = magnitudeMasks(values, 0.5, 'global');
    const pruned = masks.reduce((n, m) => n + [...m].filter((x) => x === 0).length, 0);
    assert.equal(pruned, 5);
    // |w| sorted: 0 0 0.5 1 2 3 3 3 3 4: the five smallest are 0, 0, 0.5, 1 and the one 2.
    assert.deepEqual([...masks[0]!], [0, 0, 0, 0, 1, 1]);
    assert.deepEqual([...masks[1]!], [1, 1, 0, 1]);
  });

  it('applies masks to a copy and measures the sparsity', () => {
    const m = lenet5();
    const names = prunableWeights(m);
    const before = JSON.stringify(m.graph!.initializer.map((t) => t.rawData?.length));
    const pruned = applyMasks(m, weightMasks(m, names, 0.8, 'global'));
    assert.ok(Math.abs(weightSparsity(pruned, names) - 0.8) < 1e-6);
    assert.equal(weightSparsity(m, names), 0);
    assert.equal(JSON.stringify(m.graph!.initializer.map((t) => t.rawData?.length)), before);
  });

  it('follows the cubic schedule of Zhu & Gupta', () => {
    const o = { initial: 0, final: 0.8, begin: 10, end: 110 };
    assert.equal(polynomialSparsity(0, o), 0);
    assert.equal(polynomialSparsity(110, o), 0.8);
    assert.equal(polynomialSparsity(500, o), 0.8);
    assert.ok(Math.abs(polynomialSparsity(60, o) - 0.8 * (1 - 0.125)) < 1e-12);
    let last = 0;
    for (let t = 10; t <= 110; t += 5) {
      const s = polynomialSparsity(t, o);
      assert.ok(s >= last);
      last = s;
    }
  });
});

describe('sparse initializers (ir/sparse.ts)', () => {
  it('stores mostly-zero weights sparse; ORT and Hone read the same model back', async () => {
    const m = lenet5();
    const names = prunableWeights(m);
    const pruned = applyMasks(m, weightMasks(m, names, 0.9, 'layer'));
    const { model: sparse, sparse: stored } = withSparseInitializers(pruned, names);
    assert.deepEqual(stored.sort(), [...names].sort());
    assert.equal(sparse.graph!.sparseInitializer.length, stored.length);
    const dir = mkdtempSync(join(tmpdir(), 'hone-sparse-'));
    try {
      saveModel(pruned, join(dir, 'dense.onnx'));
      saveModel(sparse, join(dir, 'sparse.onnx'));
      assert.ok(statSync(join(dir, 'sparse.onnx')).size < 0.6 * statSync(join(dir, 'dense.onnx')).size);
      // Hone makes them dense on load, equal to the pruned tensors.
      const back = loadModel(join(dir, 'sparse.onnx'));
      assert.equal(back.graph!.sparseInitializer.length, 0);
      const want = new Map(pruned.graph!.initializer.map((t) => [t.name!, tensorArray(t)]));
      for (const t of back.graph!.initializer) assert.deepEqual(tensorArray(t), want.get(t.name!), t.name);
      // ORT computes the same outputs from the sparse file.
      const r = mulberry32(5);
      const x = new ort.Tensor(
        'float32',
        Float32Array.from({ length: 2 * 784 }, () => r()),
        [2, 1, 28, 28],
      );
      const outs = await Promise.all(
        ['dense.onnx', 'sparse.onnx'].map(async (f) => {
          const s = await createSession(join(dir, f), { intraOpThreads: 1 });
          const y = await s.run({ input: x });
          await s.release();
          return Object.values(y)[0]!.data as Float32Array;
        }),
      );
      assert.deepEqual(outs[1], outs[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps dense what sparse storage would not make smaller', () => {
    const m = lenet5();
    const names = prunableWeights(m);
    const { sparse } = withSparseInitializers(applyMasks(m, weightMasks(m, names, 0.5, 'layer')), names);
    assert.equal(sparse.length, 0);
  });

  it('reads coordinate indices and refuses indices out of range', () => {
    const values = { name: 'w', dataType: 1, dims: [2], rawData: new Uint8Array(new Float32Array([5, 7]).buffer), metadataProps: [] };
    const coords = {
      name: 'i',
      dataType: 7,
      dims: [2, 2],
      rawData: new Uint8Array(new BigInt64Array([0n, 1n, 1n, 2n]).buffer),
      metadataProps: [],
    };
    const t = denseTensor({ values, indices: coords, dims: [2, 3] } as never);
    assert.deepEqual([...(tensorArray(t) as Float32Array)], [0, 5, 0, 0, 0, 7]);
    const bad = { ...coords, dims: [2], rawData: new Uint8Array(new BigInt64Array([0n, 6n]).buffer) };
    assert.throws(() => denseTensor({ values, indices: bad, dims: [2, 3] } as never), /outside/);
    // Round trip through the codec keeps the sparse form.
    const { model } = withSparseInitializers(
      applyMasks(lenet5(), weightMasks(lenet5(), prunableWeights(lenet5()), 0.9, 'global')),
      prunableWeights(lenet5()),
    );
    assert.equal(decodeModel(encodeModel(model)).graph!.sparseInitializer.length, model.graph!.sparseInitializer.length);
  });
});

describe('per-layer ratios from sensitivity (prune/sensitivity.ts)', () => {
  it('moves the least sensitive layer first and stops at the target', () => {
    const curve = (losses: number[]) => losses.map((l, i) => ({ ratio: (i + 1) / 10, accuracy: 0.9 - l, cosine: 1 }));
    const curves = new Map([
      ['robust', curve([0, 0, 0, 0, 0, 0.01, 0.02, 0.05, 0.1])],
      ['fragile', curve([0.01, 0.05, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.8])],
    ]);
    const sizes = new Map([
      ['robust', 100],
      ['fragile', 100],
    ]);
    const r = ratiosFromCurves(curves, sizes, 0.45, 0.9);
    // 90 of 200 to remove: robust goes to 0.7 (loss 0.02) before fragile takes its first step (0.01 < 0.02: one step).
    assert.ok(Math.abs(r.get('robust')! - 0.8) < 1e-9 || Math.abs(r.get('robust')! - 0.7) < 1e-9, `robust ${r.get('robust')}`);
    assert.ok(r.get('fragile')! <= 0.2);
    const removed = r.get('robust')! * 100 + r.get('fragile')! * 100;
    assert.ok(removed >= 90 && removed <= 100, `removed ${removed}`);
    // Out of reach: everything at 0.9.
    const all = ratiosFromCurves(curves, sizes, 0.95, 0.9);
    assert.deepEqual([...all.values()], [0.9, 0.9]);
  });
});
