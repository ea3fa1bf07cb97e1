import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runTsx } from '../helpers/spawn.js';

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
});
