import { test } from 'node:test';
import assert from 'node:assert/strict';
import { profileModel, withRunnable } from '../../src/profile/profile.js';
import { measureInWorker } from '../../src/runtime/measure.js';
import { fixDims, resolveInputs } from '../../src/runtime/inputs.js';
import { existsSync, readdirSync } from 'node:fs';
import { coreThreads } from '../../src/runtime/cpu.js';
import { dirname } from 'node:path';
import type { MachinePeaks } from '../../src/runtime/peaks.js';
import { HoneError } from '../../src/errors.js';
import { tinyMlp } from '../runtime/helpers.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';

// Fixed peaks keep these tests from measuring the machine (that has its own test in test/runtime).
const peaks: MachinePeaks = { flops: 5e10, bandwidth: 5e9, cacheBandwidth: 3e10, cacheBytes: 1 << 20, key: 'test' };
const quick = { runs: 3, warmup: 1, profileRuns: 2, threads: 1, peaks };

test('profileModel: static cost, per-batch latency, trace shares and a verdict', async () => {
  const r = await profileModel(tinyMlp(), { ...quick, batchSizes: [1, 2] });
  assert.equal(r.params, 16 * 32 + 32 * 4);
  assert.equal(r.weightBytes, 4 * r.params);
  assert.equal(r.staticBatchSize, 1);
  assert.equal(r.macs, 16 * 32 + 32 * 4);
  assert.equal(r.flops, 2 * r.macs + 32, 'MatMul MACs as 2 FLOPs, plus one per Relu element');
  const mm = r.opTypes.find((o) => o.opType === 'MatMul');
  assert.ok(mm && mm.count === 2 && mm.macs === 640);
  assert.deepEqual(
    r.batches.map((b) => b.batchSize),
    [1, 2],
  );
  assert.equal(r.batches[1]!.macs, 2 * 640);
  for (const b of r.batches) {
    const l = b.latencyMs;
    assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99, JSON.stringify(l));
    assert.ok(Math.abs(b.throughput - (b.batchSize * 1000) / l.mean) < 1e-6);
    assert.ok(b.kernelFraction > 0 && b.kernelFraction <= 1);
    assert.ok(Math.abs(b.opTimes.reduce((a, o) => a + o.share, 0) - 1) < 1e-9);
  }
  assert.ok(Math.abs(r.opTypes.reduce((a, o) => a + o.timeShare, 0) - 1) < 1e-9);
  assert.equal(r.peakMemoryBytes, Math.max(...r.batches.map((b) => b.peakMemoryBytes)));
  assert.ok(r.bottleneck && ['compute', 'memory', 'overhead'].includes(r.bottleneck.kind));
  assert.ok(
    r.bottleneck.advice.every((a, i, all) => i === 0 || all[i - 1]!.expectedSpeedup >= a.expectedSpeedup),
    'ranked by gain',
  );
  assert.equal(r.machine.peakFlops >= peaks.flops, true);
  assert.deepEqual(r.model.inputs, [{ name: 'x', elemType: 'float', shape: ['batch', 16] }]);
});

test("at ORT's default thread count on several cores, the first batch size is timed again at one thread per core; not with --threads", async () => {
  const { threads: _, ...defaults } = quick;
  const r = await profileModel(tinyMlp(), { ...defaults, batchSizes: [1, 2] });
  if (coreThreads() > 1) {
    assert.equal(r.threadsProbe?.threads, coreThreads());
    assert.ok(r.threadsProbe!.floorMs > 0 && r.threadsProbe!.floorMs <= r.threadsProbe!.p50Ms, JSON.stringify(r.threadsProbe));
  } else assert.equal(r.threadsProbe, undefined);
  assert.equal((await profileModel(tinyMlp(), { ...quick, batchSizes: [1] })).threadsProbe, undefined);
  assert.equal((await profileModel(tinyMlp(), { ...defaults, batchSizes: [1], threadsProbe: false })).threadsProbe, undefined);
});

test('a fixed batch dim is rewritten by graph edit for other batch sizes', async () => {
  const r = await profileModel(tinyMlp(1), { ...quick, profileRuns: 0, batchSizes: [1, 3] });
  assert.deepEqual(
    r.batches.map((b) => [b.batchSize, b.macs]),
    [
      [1, 640],
      [3, 1920],
    ],
  );
  assert.equal(
    r.opTypes.every((o) => o.timeShare === 0),
    true,
    'no trace with profileRuns 0',
  );
  const d = await profileModel(tinyMlp(4), { dynamic: false });
  assert.equal(d.staticBatchSize, 4, 'the default batch is the model’s own');
});

test('a batch baked into the graph gives a HoneError that names the batch to use', async () => {
  const b = new GraphBuilder('baked');
  const x = b.input('x', DataType.FLOAT, [1, 2, 8]);
  b.op('Reshape', [x, b.int64Init('shape', [1, 16])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, 16]);
  await assert.rejects(
    profileModel(b.model(), { ...quick, batchSizes: [1, 2] }),
    (e: unknown) =>
      e instanceof HoneError && /fixes its batch at 1 and does not run at batch 2.*profile with --batch-sizes 1$/.test(e.message),
  );
});

test('--no-dynamic: static numbers only, nothing run', async () => {
  const r = await profileModel('zoo:mlp', { dynamic: false });
  assert.equal(r.batches.length, 0);
  assert.equal(r.bottleneck, undefined);
  assert.equal(r.peakMemoryBytes, 0);
  assert.ok(r.macs > 0 && r.params > 0 && r.bytes > 0);
  assert.equal(r.model.source, 'zoo:mlp');
});

test('profile options are validated', async () => {
  await assert.rejects(
    profileModel(tinyMlp(), { runs: 0 }),
    (e: unknown) => e instanceof HoneError && /runs must be an integer >= 1/.test(e.message),
  );
  await assert.rejects(
    profileModel(tinyMlp(), { batchSizes: [0] }),
    (e: unknown) => e instanceof HoneError && /batch size must be/.test(e.message),
  );
  await assert.rejects(profileModel(tinyMlp(), { provider: 'tpu', dynamic: false }), /provider 'tpu' is not supported/);
});

test('a model over the protobuf limit runs from a temporary file with external data', async () => {
  const m = fixDims(tinyMlp(), { dims: { batch: 2 } });
  let seen = '';
  // A limit of 0 bytes sends even this tiny model down the external-data path.
  const r = await withRunnable(
    m,
    async (src) => {
      assert.equal(typeof src, 'string');
      seen = src as string;
      assert.deepEqual(readdirSync(dirname(seen)).sort(), ['model.onnx', 'model.onnx.data']);
      return measureInWorker(src, { inputs: resolveInputs(m), warmup: 0, runs: 2 });
    },
    0,
  );
  assert.equal(r.latencyMs.runs, 2);
  assert.equal(existsSync(dirname(seen)), false, 'the temporary folder is removed');
  assert.ok(
    m.graph!.initializer.every((t) => t.rawData && t.dataLocation !== 1),
    'the caller’s tensors are restored',
  );
  const inline = await withRunnable(m, async (src) => src instanceof Uint8Array);
  assert.equal(inline, true);
});

test('a static-int8 model: ORT QDQ kernels count as the model ops they replace, and no quantization is advised', async () => {
  const { quantizeStatic } = await import('../../src/quantize/index.js');
  const { syntheticData } = await import('../../src/quantize/pipeline.js');
  const { zooModel } = await import('../../src/zoo/index.js');
  const lenet = zooModel('lenet5');
  const { model: q } = await quantizeStatic(lenet, syntheticData(lenet, 16, {}, 1, 'test'));
  const r = await profileModel(q, { ...quick, batchSizes: [1] });
  const conv = r.opTypes.find((o) => o.opType === 'Conv')!;
  assert.equal(conv.count, 2);
  assert.ok(conv.timeShare > 0, "QLinearConv time is the Conv row's");
  assert.ok(!r.opTypes.some((o) => o.opType === 'QLinearConv' || o.opType === 'QGemm'), r.opTypes.map((o) => o.opType).join(','));
  assert.ok(r.bottleneck);
  assert.ok(!r.bottleneck.advice.some((a) => a.command.includes('hone quantize')), r.bottleneck.advice.map((a) => a.id).join(','));
  // The float model is not told to use static int8 either: its widest Conv has 16 channels.
  const f = await profileModel(lenet, { ...quick, batchSizes: [1] });
  assert.ok(!f.bottleneck!.advice.some((a) => a.id === 'int8-static'));
});

test('a depthwise-heavy CNN is not told to use static int8 (measured slower on such models); a dense wide one is', async () => {
  const { Layers } = await import('../../src/zoo/layers.js');
  // Mobile-style blocks: 5x5 depthwise convs (group = channels) and 24-channel 1x1 projections, as in
  // BlazeFace; then the same spatial work as dense 3x3 convs of 64 channels.
  const cnn = (depthwise: boolean) => {
    const b = new GraphBuilder(depthwise ? 'dw' : 'dense');
    const L = new Layers(b, 0);
    let x = b.input('x', DataType.FLOAT, [1, 24, 48, 48]);
    let c = 24;
    for (let i = 0; i < 3; i++) {
      if (depthwise) {
        x = b.op('Relu', [L.conv(L.conv(x, c, 64, 1, `expand${i}`), 64, 64, 5, `dw${i}`, { group: 64, pad: 2 })]);
        x = L.conv(x, 64, 24, 1, `project${i}`);
      } else {
        x = b.op('Relu', [L.conv(x, c, 64, 3, `conv${i}`, { pad: 1 })]);
        c = 64;
      }
    }
    b.output(x, DataType.FLOAT, [1, depthwise ? 24 : 64, 48, 48]);
    return b.model();
  };
  const dw = await profileModel(cnn(true), { ...quick, batchSizes: [1] });
  assert.ok(dw.bottleneck);
  assert.ok(!dw.bottleneck.advice.some((a) => a.id === 'int8-static'), dw.bottleneck.advice.map((a) => a.id).join(','));
  const dense = await profileModel(cnn(false), { ...quick, batchSizes: [1] });
  const conv = dense.opTypes.find((o) => o.opType === 'Conv')!;
  assert.ok(conv.timeShare >= 0.2, `Conv takes ${conv.timeShare} of kernel time`);
  assert.ok(
    dense.bottleneck!.advice.some((a) => a.id === 'int8-static' && !a.condition),
    dense.bottleneck!.advice.map((a) => a.id).join(','),
  );
});

test("ORT's fused kernels named after a folded BatchNormalization or Relu are matched back to their Conv", async () => {
  // zoo:resnet's Conv → BatchNormalization → Relu runs as one kernel named '<relu output>_nchwc'.
  const r = await profileModel('zoo:resnet', { ...quick, batchSizes: [1] });
  const convs = r.topNodes.filter((n) => n.opType === 'Conv');
  assert.ok(convs.length >= 5, JSON.stringify(r.topNodes.map((n) => n.name)));
  assert.ok(
    convs.some((n) => /(bn|relu)\d*_out/.test(n.name)),
    'ORT names some after their BatchNormalization/Relu',
  );
  for (const n of convs) assert.ok((n.macs ?? 0) > 0, `${n.name}: no MACs`);
});
