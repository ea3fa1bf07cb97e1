import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { HoneError } from '../../src/errors.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import { createSession } from '../../src/runtime/session.js';
import { fixDims, graphInputs, parseDimFlags, parseShapeFlags, randomFeeds, resolveInputs } from '../../src/runtime/inputs.js';
import { tinyMlp, twoInputs } from './helpers.js';

test('parseShapeFlags and parseDimFlags read NAME=DIMS and NAME=N', () => {
  assert.deepEqual(
    [...parseShapeFlags(['images=1x3x640x640', 'ids=2,128'])],
    [
      ['images', [1, 3, 640, 640]],
      ['ids', [2, 128]],
    ],
  );
  assert.deepEqual(
    [...parseDimFlags(['batch=8', 'seq=128'])],
    [
      ['batch', 8],
      ['seq', 128],
    ],
  );
});

test('bad --shape and --dim syntax are HoneErrors that show the right form', () => {
  for (const bad of ['images', 'images=', 'images=1x', 'images=ax3', '=1x2']) {
    assert.throws(
      () => parseShapeFlags([bad]),
      (e: unknown) => e instanceof HoneError && /--shape input=1x3x224x224/.test(e.message),
      bad,
    );
  }
  for (const bad of ['batch', 'batch=', 'batch=x', 'batch=0', 'batch=-1']) {
    assert.throws(
      () => parseDimFlags([bad]),
      (e: unknown) => e instanceof HoneError && /--dim batch=8/.test(e.message),
      bad,
    );
  }
});

test('graphInputs leaves out initializers listed as inputs', () => {
  const m = tinyMlp();
  m.graph!.input.push({
    name: 'w1',
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 16 }, { dimValue: 32 }] } } },
    metadataProps: [],
  });
  assert.deepEqual(
    graphInputs(m).map((i) => i.name),
    ['x'],
  );
});

test('resolveInputs applies --dim and --shape, --shape winning', () => {
  const m = twoInputs();
  assert.deepEqual(
    resolveInputs(m, { dims: { batch: 2, seq: 5 } }).map((i) => i.shape),
    [
      [2, 5],
      [2, 5],
    ],
  );
  assert.deepEqual(
    resolveInputs(m, { dims: { batch: 2, seq: 5 }, shapes: { mask: [2, 5] } }).map((i) => i.shape),
    [
      [2, 5],
      [2, 5],
    ],
  );
  assert.deepEqual(
    resolveInputs(m, { shapes: { ids: [3, 4], mask: [3, 4] } }).map((i) => i.shape),
    [
      [3, 4],
      [3, 4],
    ],
  );
});

test('resolveInputs errors name the input, the dim and the flag that fixes it', () => {
  const m = twoInputs();
  const err = (fixes: Parameters<typeof resolveInputs>[1], re: RegExp) =>
    assert.throws(
      () => resolveInputs(m, fixes),
      (e: unknown) => e instanceof HoneError && e.exitCode === 2 && re.test(e.message),
    );
  err({ dims: { batch: 1 } }, /input 'ids' has symbolic dim 'seq'; pass --dim seq=N/);
  err({ dims: { batch: 1, seq: 2, beam: 3 } }, /--dim names 'beam'.*symbolic dims are: batch, seq/);
  err({ dims: { batch: 1, seq: 2 }, shapes: { idz: [1, 2] } }, /--shape names 'idz'.*inputs are: ids, mask/);
  err({ dims: { batch: 1, seq: 2 }, shapes: { ids: [1, 2, 3] } }, /has rank 3, but input 'ids' has rank 2/);
  err({}, /pass --dim batch=N/);
  const fixed = tinyMlp(4);
  assert.throws(() => resolveInputs(fixed, { shapes: { x: [4, 17] } }), /dim 1 of input 'x' is fixed at 16/);
});

test('fixDims edits a copy: ORT sees concrete dims, the original keeps its symbols', async () => {
  const m = twoInputs();
  const before = JSON.stringify(m.graph!.input);
  const fixed = fixDims(m, {
    dims: new Map([
      ['batch', 3],
      ['seq', 7],
    ]),
  });
  assert.equal(JSON.stringify(m.graph!.input), before);
  assert.equal(fixed.graph!.node, m.graph!.node, 'nodes are shared, not copied');
  const session = await createSession(encodeModel(fixed));
  try {
    const meta = session.inputMetadata.map((x) => (x.isTensor ? x : { shape: undefined }));
    assert.deepEqual(
      meta.map((x) => x.shape),
      [
        [3, 7],
        [3, 7],
      ],
    );
    const out = await session.run(randomFeeds(resolveInputs(fixed), 1));
    assert.deepEqual(out.y!.dims, [3, 7]);
  } finally {
    await session.release();
  }
});

test('randomFeeds: seeded, the right ORT types and shapes, ints in [0, intHigh)', () => {
  const inputs = resolveInputs(twoInputs(), { dims: { batch: 2, seq: 50 } });
  const a = randomFeeds(inputs, 7);
  const b = randomFeeds(inputs, 7);
  const c = randomFeeds(inputs, 8);
  assert.equal(a.ids!.type, 'int64');
  assert.equal(a.mask!.type, 'float32');
  assert.deepEqual(a.mask!.dims, [2, 50]);
  assert.deepEqual(a.mask!.data, b.mask!.data);
  assert.notDeepEqual(a.mask!.data, c.mask!.data);
  const ids = Array.from(a.ids!.data as BigInt64Array, Number);
  assert.ok(ids.every((v) => v === 0 || v === 1) && ids.includes(0) && ids.includes(1));
  const mask = Array.from(a.mask!.data as Float32Array);
  assert.ok(mask.every((v) => v >= -1 && v < 1));
  assert.ok(a.ids instanceof ort.Tensor);
});

test('randomFeeds makes float16 inputs ORT accepts, with values in [-1, 1]', async () => {
  const { GraphBuilder } = await import('../../src/ir/builder.js');
  const b = new GraphBuilder('half');
  const x = b.input('x', DataType.FLOAT16, [64]);
  b.op('Cast', [x], { to: DataType.FLOAT }, { output: 'y' });
  b.output('y', DataType.FLOAT, [64]);
  const m = b.model();
  const s = await createSession(m);
  try {
    const out = await s.run(randomFeeds(resolveInputs(m), 3));
    const y = Array.from(out.y!.data as Float32Array);
    assert.ok(y.every((v) => v >= -1 && v <= 1) && new Set(y).size > 32, y.join(','));
  } finally {
    await s.release();
  }
});
