// Pipelines (src/passes/pipeline.ts): steps in order, refusals skipped and reported, every id and option
// checked before anything runs, and results cached on disk by model hash + pass id + options (+ a data key
// for passes that read data), proved by counting how often a wrapped pass really runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel } from '../../src/ir/codec.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { HoneError } from '../../src/errors.js';
import type { Pass } from '../../src/passes/pass.js';
import { runPipeline } from '../../src/passes/pipeline.js';
import { passById, PASSES } from '../../src/passes/registry.js';
import { syntheticData } from '../../src/quantize/pipeline.js';
import { zooModel } from '../../src/zoo/index.js';

/** `inner` under another id, counting its runs. */
function counting(inner: Pass, id: string): { pass: Pass; runs: () => number } {
  let runs = 0;
  const pass: Pass = {
    ...inner,
    id,
    run(model, options, ctx) {
      runs++;
      return inner.run(model, options, ctx);
    },
  };
  return { pass, runs: () => runs };
}

const bytes = (m: ModelProto) => Buffer.from(encodeModel(m));
const tempDir = () => mkdtempSync(join(tmpdir(), 'hone-pipeline-'));
const smallResnet = () => zooModel('resnet:blocks=1-1,widths=8-16,size=16');

test('a second identical run reads every step from the cache without running a pass; other options miss', async () => {
  const dir = tempDir();
  try {
    const bn = counting(passById('fuse.conv-bn'), 'test.conv-bn');
    const dyn = counting(passById('quantize.dynamic'), 'test.dynamic');
    const passes = [...PASSES, bn.pass, dyn.pass];
    const model = smallResnet();
    const steps = [{ pass: 'test.conv-bn' }, { pass: 'test.dynamic', options: { perChannel: true } }];
    const first = await runPipeline(model, steps, {}, { cacheDir: dir, passes });
    assert.deepEqual(
      first.steps.map((s) => [s.status, s.cache]),
      [
        ['applied', 'miss'],
        ['applied', 'miss'],
      ],
    );
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 2);
    const second = await runPipeline(model, steps, {}, { cacheDir: dir, passes });
    assert.deepEqual([bn.runs(), dyn.runs()], [1, 1], 'no pass ran the second time');
    assert.deepEqual(
      second.steps.map((s) => s.cache),
      ['hit', 'hit'],
    );
    assert.ok(bytes(second.model).equals(bytes(first.model)), 'the cached model is the computed one, byte for byte');
    assert.deepEqual(second.steps[1]!.report, first.steps[1]!.report);
    // Options are keyed with defaults filled in: writing a default out is the same step.
    await runPipeline(model, [{ pass: 'test.conv-bn', options: { affine: true } }], {}, { cacheDir: dir, passes });
    assert.equal(bn.runs(), 1);
    // Another option value is another result.
    const other = await runPipeline(
      model,
      [steps[0]!, { pass: 'test.dynamic', options: { perChannel: false } }],
      {},
      { cacheDir: dir, passes },
    );
    assert.deepEqual([bn.runs(), dyn.runs()], [1, 2]);
    assert.deepEqual(
      other.steps.map((s) => s.cache),
      ['hit', 'miss'],
    );
    assert.ok(!bytes(other.model).equals(bytes(first.model)));
    // Another input model is another result.
    await runPipeline(zooModel('resnet:blocks=1-1,widths=8-16,size=16,classes=5'), steps.slice(0, 1), {}, { cacheDir: dir, passes });
    assert.equal(bn.runs(), 2);
    // A damaged entry is a miss, computed again.
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.onnx'))) writeFileSync(join(dir, f), 'damaged');
    const again = await runPipeline(model, steps, {}, { cacheDir: dir, passes });
    assert.deepEqual([bn.runs(), dyn.runs()], [3, 3]);
    assert.ok(bytes(again.model).equals(bytes(first.model)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a pass's version is in the key: the same model and options under another version run again, as after an upgrade", async () => {
  const dir = tempDir();
  try {
    const model = smallResnet();
    const steps = [{ pass: 'test.conv-bn', options: { affine: true } }];
    // The same pass as shipped (no version: 1), then as if its code changed and its version went up.
    const v1 = counting(passById('fuse.conv-bn'), 'test.conv-bn');
    const v1Again = counting({ ...passById('fuse.conv-bn'), version: 1 }, 'test.conv-bn');
    const v2 = counting({ ...passById('fuse.conv-bn'), version: 2 }, 'test.conv-bn');
    const run = (pass: Pass) => runPipeline(model, steps, {}, { cacheDir: dir, passes: [...PASSES, pass] });
    assert.equal((await run(v1.pass)).steps[0]!.cache, 'miss');
    assert.equal((await run(v1Again.pass)).steps[0]!.cache, 'hit', 'version 1 is the default');
    assert.equal(v1Again.runs(), 0);
    const upgraded = await run(v2.pass);
    assert.equal(upgraded.steps[0]!.cache, 'miss', "the older code's result is not reused");
    assert.equal(v2.runs(), 1);
    assert.equal((await run(v2.pass)).steps[0]!.cache, 'hit');
    assert.equal(v2.runs(), 1);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.json')).length, 2, 'one entry per version');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pass that reads data is cached only under a data key', async () => {
  const dir = tempDir();
  try {
    const st = counting(passById('quantize.static'), 'test.static');
    const passes = [...PASSES, st.pass];
    const model = smallResnet();
    const data = syntheticData(model, 8, {}, 1, 'synthetic: seeded');
    const steps = [{ pass: 'test.static', options: { method: 'minmax', biasCorrection: false } }];
    const unkeyed = await runPipeline(model, steps, { data }, { cacheDir: dir, passes });
    assert.equal(unkeyed.steps[0]!.cache, 'off');
    assert.match(unkeyed.steps[0]!.uncached ?? '', /no data key/);
    await runPipeline(model, steps, { data }, { cacheDir: dir, passes });
    assert.equal(st.runs(), 2);
    assert.deepEqual(readdirSync(dir), []);
    const keyed = await runPipeline(model, steps, { data }, { cacheDir: dir, passes, dataKey: 'seeded-8' });
    const hit = await runPipeline(model, steps, { data }, { cacheDir: dir, passes, dataKey: 'seeded-8' });
    assert.equal(st.runs(), 3);
    assert.equal(hit.steps[0]!.cache, 'hit');
    assert.ok(bytes(hit.model).equals(bytes(keyed.model)));
    await runPipeline(model, steps, { data }, { cacheDir: dir, passes, dataKey: 'other-data' });
    assert.equal(st.runs(), 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('steps whose pass does not apply are skipped with the reason, the rest run in order, and a pass with nothing to do is unchanged', async () => {
  const model = zooModel('mlp:hidden=32');
  const r = await runPipeline(model, [
    { pass: 'inline.if' },
    { pass: 'quantize.dynamic' },
    { pass: 'quantize.int4' },
    { pass: 'fold.constants' },
  ]);
  assert.deepEqual(
    r.steps.map((s) => s.status),
    ['skipped', 'applied', 'skipped', 'unchanged'],
  );
  assert.match(r.steps[0]!.reason!, /no If/);
  // int4 sees the model as the dynamic step left it.
  assert.match(r.steps[2]!.reason!, /quantized already/);
  assert.equal(r.steps[1]!.options.perChannel, true, 'defaults are reported');
  assert.ok(r.model.graph!.node.some((n) => n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat'));
});

test('a bad pass id or option fails before any step runs, in one line', async () => {
  const bn = counting(passById('fuse.conv-bn'), 'test.conv-bn');
  const passes = [...PASSES, bn.pass];
  const oneLine = (re: RegExp) => (e: unknown) =>
    e instanceof HoneError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n');
  const model = smallResnet();
  await assert.rejects(
    runPipeline(model, [{ pass: 'test.conv-bn' }, { pass: 'fuse.convbn' }], {}, { passes }),
    oneLine(/^unknown pass 'fuse\.convbn'; known passes: .*fuse\.conv-bn/),
  );
  await assert.rejects(
    runPipeline(model, [{ pass: 'test.conv-bn' }, { pass: 'ort.offline-optimize', options: { level: 'max' } }], {}, { passes }),
    oneLine(/ort\.offline-optimize: option level must be one of "basic", "extended", "all"/),
  );
  assert.equal(bn.runs(), 0);
});
