import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoneError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { createSession, isModelLoadError } from '../../src/runtime/session.js';
import { fixDims, randomFeeds, resolveInputs } from '../../src/runtime/inputs.js';
import { firstLoadable, loadableForm, loadForms } from '../../src/runtime/loadable.js';
import { unknownOpModel, vadLike } from './helpers.js';

const sr16k = { sr: { dims: [], data: Float64Array.of(16000), text: 'sr=16000' } };

/** Loads a form of `vadLike()` and runs it once at batch `batch` with sr = 16000; returns y's dims. */
async function run(model: ModelProto, batch: number): Promise<number[]> {
  const s = await createSession(model);
  try {
    const out = await s.run(randomFeeds(resolveInputs(vadLike(), { dims: { batch }, values: sr16k }), 0, 2, sr16k));
    return [...out.y!.dims];
  } finally {
    await s.release();
  }
}

test('ORT refuses a model whose If branch contradicts the fixed dims, though it runs at those dims', async () => {
  const m = vadLike();
  assert.deepEqual(await run(m, 1), [1, 3], 'the graph with its own (symbolic) dims runs at batch 1');
  await assert.rejects(
    run(fixDims(m, { dims: { batch: 1 } }), 1),
    (e: unknown) => isModelLoadError(e) && /LSTM.*First input tensor must have rank 3/.test((e as Error).message),
  );
  assert.deepEqual(await run(fixDims(m, { dims: { batch: 2 } }), 2), [2, 3], 'at batch 2 the fixed graph loads');
});

test("fixing dims never turns a model ORT loads into one it refuses: the graph's own dims are tried next", async () => {
  const m = vadLike();
  const refused: string[] = [];
  const dims = await firstLoadable(
    loadForms(m, fixDims(m, { dims: { batch: 1 } })),
    (form) => run(form, 1),
    (r, message, next) => refused.push(`${r.what} → ${next.what}: ${message}`),
  );
  assert.deepEqual(dims, [1, 3]);
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /^dims fixed → the graph's own dims: onnxruntime cannot load the model: .*rank 3/);
  assert.equal((await loadableForm(loadForms(m, fixDims(m, { dims: { batch: 1 } })))).what, "the graph's own dims");
  assert.equal(
    (await loadableForm(loadForms(m, fixDims(m, { dims: { batch: 2 } })))).what,
    'dims fixed',
    'a fixed model ORT loads is used as it is',
  );
});

test("a model ORT refuses in its own form too fails with ORT's message for that form; other errors are not retried", async () => {
  const b = new GraphBuilder('bad');
  const x = b.input('x', DataType.FLOAT, ['n', 2]);
  b.op('Add', [x, b.floatInit('k', [3], [1, 2, 3])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['n', 3]);
  const bad = b.model();
  const tried: ModelProto[] = [];
  const use = async (form: ModelProto) => {
    tried.push(form);
    await createSession(form);
  };
  await assert.rejects(
    firstLoadable(loadForms(bad, fixDims(bad, { dims: { n: 1 } })), use),
    (e: unknown) => e instanceof HoneError && /^onnxruntime cannot load the model: .*Incompatible dimensions/.test(e.message),
  );
  assert.deepEqual(
    tried.map((f) => f === bad),
    [false, true],
    'the fixed form, then the model as given',
  );
  const noKernel = unknownOpModel();
  tried.length = 0;
  await assert.rejects(firstLoadable(loadForms(noKernel, fixDims(noKernel)), use), /no kernel for op 'FrobnicateTensor'/);
  assert.equal(tried.length, 1, 'a missing kernel is the same in every form');
});
