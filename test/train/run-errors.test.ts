import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runTsx } from '../helpers/spawn.js';
import { HoneError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { train } from '../../src/train/index.js';

describe('training-step errors from onnxruntime', () => {
  it('a Reshape that hard-codes the batch is a one-line user error naming the node, and ORT logs nothing', async () => {
    const r = await runTsx([join(import.meta.dirname, 'fixtures', 'hardcoded-batch.ts')]);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.ok, false);
    assert.equal(out.honeError, true);
    assert.equal(out.exitCode, 2);
    assert.match(
      out.message,
      /^training step 1 failed in node 'mask_reshape' \(Reshape\): The input tensor cannot be reshaped to the requested shape\. Input shape:\{2,16\}, requested shape:\{1,16\}; the exported graph likely hard-codes a batch size/,
    );
    assert.doesNotMatch(out.message, /onnxruntime_src|was false|\n/);
    assert.doesNotMatch(r.stderr, /onnxruntime/);
  });

  it('a model exported for batch 1 is refused at batch 4 before any step, naming its input and both ways out', async () => {
    // Input [1, 4] and a Reshape to [1, 2, 2]: ORT refuses the step graph at batch 4 when it loads it.
    const b = new GraphBuilder('fixed');
    const x = b.input('input', DataType.FLOAT, [1, 4]);
    const f = b.op('Flatten', [b.op('Reshape', [x, b.int64Init('shape', [1, 2, 2])])], { axis: 1 });
    b.op(
      'Gemm',
      [f, b.floatInit('w', [3, 4], new Float32Array(12).fill(0.1)), b.floatInit('b', [3], new Float32Array(3))],
      { transB: 1 },
      { output: 'logits' },
    );
    b.output('logits', DataType.FLOAT, [1, 3]);
    const n = 8;
    const data = {
      features: { input: { data: new Float32Array(n * 4).fill(0.5), dims: [n, 4] } },
      labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 3)), dims: [n] },
      size: n,
    };
    const steps: number[] = [];
    await assert.rejects(
      train(b.model({ opset: 17 }), data, { epochs: 1, batchSize: 4, onStep: (s) => void steps.push(s.step) }),
      (e: unknown) =>
        e instanceof HoneError &&
        e.exitCode === 2 &&
        /^the model was exported for batch 1 \(input 'input' is \[1, 4\]\) and does not run at batch 4 \(onnxruntime cannot load the model: .*\); train with --batch-size 1, or export the model with a dynamic batch dim$/.test(
          e.message,
        ),
    );
    assert.deepEqual(steps, []);
    // At the batch it was exported for, it trains.
    const r = await train(b.model({ opset: 17 }), data, { epochs: 1, batchSize: 1 });
    assert.ok(Number.isFinite(r.trainLoss));
  });
});
