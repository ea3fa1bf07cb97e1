import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { encodeModel } from '../../src/ir/codec.js';
import { fixDims, resolveInputs } from '../../src/runtime/inputs.js';
import { LatencyWorker, measureInWorker } from '../../src/runtime/measure.js';
import { machinePeaks, peaksKey } from '../../src/runtime/peaks.js';
import { isNoisy, latencyStats, percentile, throughput } from '../../src/runtime/stats.js';
import { summarizeTrace } from '../../src/runtime/trace.js';
import { tinyMlp } from './helpers.js';

test('latencyStats: ordered percentiles, mean, std', () => {
  const s = latencyStats([5, 1, 4, 2, 3, 10, 7, 6, 9, 8]);
  assert.equal(s.runs, 10);
  assert.equal(s.min, 1);
  assert.equal(s.max, 10);
  assert.equal(s.mean, 5.5);
  assert.equal(s.p50, 5.5);
  assert.ok(Math.abs(s.p90 - 9.1) < 1e-9);
  assert.ok(s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
  assert.ok(Math.abs(s.std - 3.0276503540974917) < 1e-9);
  assert.equal(latencyStats([3]).std, 0);
  // Spread: |x - 5.5| is 0.5, 0.5, 1.5, 1.5, … 4.5: its median is 2.5.
  assert.equal(s.mad, 2.5);
  assert.ok(Math.abs(s.cv - (1.4826 * 2.5) / 5.5) < 1e-12);
  assert.ok(Math.abs(s.tail - 9.1 / 5.5) < 1e-12);
  assert.equal(s.rounds, 1);
  assert.equal(s.floor, s.p50, 'one round: the floor is the median');
  assert.equal(percentile([1, 2], 0), 1);
  assert.equal(throughput(8, 4), 2000);
  assert.throws(() => latencyStats([]));
});

test('the floor is the least round median, and a stalled stretch of runs reads as noise', () => {
  const quiet = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 1.0];
  const stalled = quiet.map((x) => x * 3);
  const s = latencyStats([...stalled, ...quiet], [3, 1]);
  assert.equal(s.rounds, 2);
  assert.equal(s.floor, 1);
  assert.ok(s.p50 > 1.9, 'half the runs stalled move the median...');
  assert.ok(isNoisy(s), '...and the spread says so');
  assert.ok(!isNoisy(latencyStats(quiet)));
  // A few stalled runs (2 of 20) leave the robust CV at a quiet level; p90/p50 sees them.
  const few = latencyStats([...quiet, ...quiet.slice(0, 8), 9, 9]);
  assert.ok(few.cv < 0.1, String(few.cv));
  assert.ok(few.std > 1, 'the plain std is dominated by the two stalls');
});

test('summarizeTrace sums kernel time per op type and node, skipping warm-up runs', () => {
  const ev = (name: string, op: string, ts: number, dur: number) => ({
    cat: 'Node',
    name: `${name}_kernel_time`,
    ts,
    dur,
    ph: 'X',
    args: { op_name: op },
  });
  const events = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 100 },
    ev('mm', 'MatMul', 1, 90),
    ev('relu', 'Relu', 92, 5),
    { cat: 'Session', name: 'model_run', ts: 200, dur: 50 },
    ev('mm', 'MatMul', 201, 30),
    ev('relu', 'Relu', 232, 10),
    { cat: 'Node', name: 'mm_fence_before', ts: 201, dur: 3 },
    { cat: 'Session', name: 'model_run', ts: 300, dur: 50 },
    ev('mm', 'MatMul', 301, 30),
    { ...ev('relu', 'Relu', 332, 10), args: { op_name: 'Relu', mem_arena_held: '4096' } },
  ];
  const all = summarizeTrace(JSON.stringify(events));
  assert.equal(all.runs, 3);
  assert.equal(all.kernelUs, 175);
  const t = summarizeTrace({ traceEvents: events }, 1);
  assert.equal(t.runs, 2);
  assert.equal(t.kernelUs, 80);
  assert.equal(t.runUs, 100);
  assert.deepEqual(
    t.opTypes.map((o) => [o.opType, o.totalUs, o.calls]),
    [
      ['MatMul', 60, 2],
      ['Relu', 20, 2],
    ],
  );
  assert.equal(t.opTypes[0]!.share, 0.75);
  assert.equal(t.opTypes[0]!.perRunUs, 30, 'two runs: the mean per run');
  assert.deepEqual(
    t.nodes.map((n) => n.name),
    ['mm', 'relu'],
  );
  assert.equal(t.arenaPeakBytes, 4096);
  assert.deepEqual(t.perRun, [
    { runUs: 50, kernelUs: 40 },
    { runUs: 50, kernelUs: 40 },
  ]);
  // Without shapes or sizes in the trace: none, and 0 bytes.
  assert.deepEqual([t.nodes[0]!.inputShapes, t.nodes[0]!.outputShapes, t.nodes[0]!.bytes], [undefined, undefined, 0]);
});

test('summarizeTrace: each node keeps the shapes and bytes of its first counted run', () => {
  const ev = (ts: number, dims: number[], size: number) => ({
    cat: 'Node',
    name: 'pad_kernel_time',
    ts,
    dur: 10,
    args: {
      op_name: 'Pad',
      input_type_shape: [{ float: dims }, { int64: [8] }],
      output_type_shape: [{ float: dims.map((d) => d + 2) }],
      activation_size: String(size),
      parameter_size: '64',
      output_size: String(size * 2),
    },
  });
  const events = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 20 },
    ev(1, [1, 1], 4),
    { cat: 'Session', name: 'model_run', ts: 100, dur: 20 },
    ev(101, [2, 3, 4, 5], 480),
    { cat: 'Session', name: 'model_run', ts: 200, dur: 20 },
    ev(201, [9, 9], 324),
  ];
  const [pad] = summarizeTrace(events, 1).nodes;
  assert.deepEqual(pad!.inputShapes, [[2, 3, 4, 5], [8]]);
  assert.deepEqual(pad!.outputShapes, [[4, 5, 6, 7]]);
  assert.equal(pad!.bytes, 480 + 64 + 960);
});

test('summarizeTrace: with 3+ runs, shares come from median node times, so one stalled kernel does not dominate', () => {
  const ev = (name: string, op: string, ts: number, dur: number) => ({
    cat: 'Node',
    name: `${name}_kernel_time`,
    ts,
    dur,
    ph: 'X',
    args: { op_name: op },
  });
  const run = (ts: number, mm: number, pool: number) => [
    { cat: 'Session', name: 'model_run', ts, dur: 100 + pool },
    ev('mm', 'MatMul', ts + 1, mm),
    ev('pool', 'MaxPool', ts + 1 + mm, pool),
  ];
  // MaxPool takes 20 µs in four runs and 2000 µs in one (stalled by a neighbour).
  const t = summarizeTrace([...run(0, 60, 20), ...run(3000, 60, 2000), ...run(6000, 60, 20), ...run(9000, 60, 20), ...run(12000, 60, 20)]);
  assert.equal(t.runs, 5);
  assert.equal(t.opTypes[0]!.opType, 'MatMul');
  assert.equal(t.opTypes[0]!.share, 0.75);
  assert.equal(t.opTypes.find((o) => o.opType === 'MaxPool')!.totalUs, 2080, 'totals stay sums');
  assert.deepEqual(
    t.opTypes.map((o) => o.perRunUs),
    [60, 20],
    'per run: the median',
  );
  assert.deepEqual(
    t.perRun.map((r) => r.kernelUs),
    [80, 2060, 80, 80, 80],
  );
});

test('measureInWorker: ordered percentiles, memory, and a trace whose shares sum to 1', async () => {
  const m = fixDims(tinyMlp(), { dims: { batch: 4 } });
  const bytes = encodeModel(m);
  const r = await measureInWorker(bytes, { inputs: resolveInputs(m), warmup: 1, runs: 8, profileRuns: 3, session: { intraOpThreads: 1 } });
  assert.equal(bytes.byteLength > 0, true, 'without transfer the caller keeps its bytes');
  const l = r.latencyMs;
  assert.equal(l.runs, 8);
  assert.ok(l.min > 0 && l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
  assert.ok(r.memory.peakBytes >= r.memory.sessionBytes && r.memory.baselineRssBytes > 0);
  assert.ok(r.sessionCreateMs > 0);
  const trace = r.trace!;
  assert.equal(trace.runs, 3);
  // ORT may fuse MatMul+Relu; every traced op type must be one of these.
  assert.ok(
    trace.opTypes.length > 0 && trace.opTypes.every((o) => ['MatMul', 'Relu', 'FusedMatMul', 'Gemm', 'FusedGemm'].includes(o.opType)),
    JSON.stringify(trace.opTypes),
  );
  const sum = trace.opTypes.reduce((a, o) => a + o.share, 0);
  assert.ok(Math.abs(sum - 1) < 1e-9, String(sum));
});

test('measureInWorker with transfer detaches the bytes; a failing run is a HoneError', async () => {
  const m = fixDims(tinyMlp(), { dims: { batch: 2 } });
  const bytes = encodeModel(m).slice();
  await measureInWorker(bytes, { inputs: resolveInputs(m), warmup: 0, runs: 1, transfer: true });
  assert.equal(bytes.byteLength, 0);
  // Feeds of the wrong shape make ORT's run fail inside the worker: the error comes back as a HoneError.
  await assert.rejects(
    measureInWorker(encodeModel(m), { inputs: [{ name: 'x', elemType: 1, shape: [2, 5] }], warmup: 0, runs: 1 }),
    (e: unknown) =>
      e instanceof HoneError &&
      e.exitCode === 2 &&
      /failed to run the model with inputs x\[2x5\]/.test(e.message) &&
      !e.message.includes('\n'),
  );
});

test('LatencyWorker: one worker for many measurements, queued one at a time; a failing job does not end it', async () => {
  const meter = new LatencyWorker();
  try {
    const m = fixDims(tinyMlp(), { dims: { batch: 2 } });
    const opts = { inputs: resolveInputs(m), warmup: 1, runs: 5, session: { intraOpThreads: 1 } };
    const bad = meter.measure(encodeModel(m), { ...opts, inputs: [{ name: 'x', elemType: 1, shape: [2, 5] }] });
    // Asked at once: they run one after another in the one worker, each with its own answer.
    const all = await Promise.allSettled([meter.measure(encodeModel(m), opts), bad, meter.measure(encodeModel(m), { ...opts, runs: 7 })]);
    assert.equal(all[0].status, 'fulfilled');
    assert.equal((all[0] as PromiseFulfilledResult<{ latencyMs: { runs: number } }>).value.latencyMs.runs, 5);
    assert.equal(all[1].status, 'rejected');
    assert.match(String((all[1] as PromiseRejectedResult).reason), /failed to run the model with inputs x\[2x5\]/);
    assert.equal(all[2].status, 'fulfilled', 'the worker serves the job after a failed one');
    assert.equal((all[2] as PromiseFulfilledResult<{ latencyMs: { runs: number } }>).value.latencyMs.runs, 7);
  } finally {
    await meter.close();
  }
  // After close, a measurement starts a new worker.
  const again = await meter.measure(encodeModel(fixDims(tinyMlp(), { dims: { batch: 1 } })), {
    inputs: resolveInputs(fixDims(tinyMlp(), { dims: { batch: 1 } })),
    warmup: 0,
    runs: 2,
  });
  assert.equal(again.latencyMs.runs, 2);
  await meter.close();
});

test('machinePeaks measures once, then checks its cache with a probe; stale or low figures are measured again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-peaks-'));
  const session = { intraOpThreads: 1 };
  const file = join(dir, 'machine-peaks.json');
  const cache = () => JSON.parse(readFileSync(file, 'utf8'));
  const plant = (over: object) => writeFileSync(file, JSON.stringify({ [peaksKey(session)]: { ...cache()[peaksKey(session)], ...over } }));
  try {
    const a = await machinePeaks({ cacheDir: dir, session });
    assert.ok(a.flops > 1e8 && a.bandwidth > 1e7 && a.cacheBandwidth > 1e7, JSON.stringify(a));
    assert.match(a.check, /^measured \(none cached\)$/);
    const { check: _, ...stored } = a;
    assert.deepEqual(cache()[a.key], stored);
    assert.ok(Math.abs(stored.measuredAt! - Date.now()) < 600_000);
    assert.ok(stored.probe!.flops > 1e7 && stored.probe!.cacheBandwidth > 1e7, 'the probe taken with them is cached too');
    // int8 kernels' speedups by op size, measured with them: positive ratios at increasing MACs per kind.
    for (const kind of ['conv', 'depthwise', 'matmul'] as const) {
      const points = stored.int8![kind];
      assert.ok(points.length >= 2 && points.every((p) => p.speedup > 0.05 && p.speedup < 50), `${kind}: ${JSON.stringify(points)}`);
    }
    assert.ok(stored.int8!.conv.at(-1)!.macs > 100 * stored.int8!.conv[0]!.macs, 'from LeNet-sized to ResNet-stage-sized convolutions');
    // A second call probes: it keeps the cache, or (the first run having met a busier moment) measures again upward.
    const b = await machinePeaks({ cacheDir: dir, session });
    assert.match(b.check, /^(cached|measured again: a probe ran)/);
    assert.ok(b.flops >= a.flops && b.bandwidth >= a.bandwidth);
    // Figures far above what the machine does (as if measured elsewhere, or it is busy now) stand, and the check says so.
    plant({ flops: 1e16, probe: { flops: 1e16, cacheBandwidth: 1e16 } });
    const busy = await machinePeaks({ cacheDir: dir, session });
    assert.match(busy.check, /a probe reached only 0% of them: the machine is busy now/);
    assert.equal(busy.flops, 1e16);
    // Figures far below (as if measured beside a busy neighbour) are measured again, keeping the higher of each.
    plant({ flops: 1e3, probe: { flops: 1e3, cacheBandwidth: 1e3 } });
    const low = await machinePeaks({ cacheDir: dir, session });
    assert.match(low.check, /^measured again: a probe ran \d+\.\d\dx the cached figures/);
    assert.ok(low.flops > 1e8 && cache()[a.key].flops === low.flops && low.probe!.flops > 1e8);
    // Figures older than 30 days, or from a version without a probe, are measured again outright.
    plant({ flops: 1e16, measuredAt: Date.now() - 40 * 864e5 });
    const old = await machinePeaks({ cacheDir: dir, session });
    assert.match(old.check, /measured again \(the cached figures were 40 days old\)/);
    assert.ok(old.flops < 1e16);
    plant({ flops: 1e16, probe: undefined });
    assert.match((await machinePeaks({ cacheDir: dir, session })).check, /^measured \(none cached\)$/);
    plant({ flops: 1e16, int8: undefined });
    const again = await machinePeaks({ cacheDir: dir, session });
    assert.match(again.check, /^measured \(none cached\)$/, 'a cache from before the int8 probe is measured again');
    assert.ok(again.int8 && again.flops < 1e16);
    assert.match((await machinePeaks({ cacheDir: dir, session, probe: false })).check, /^cached, not probed$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
