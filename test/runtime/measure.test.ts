import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { encodeModel } from '../../src/ir/codec.js';
import { fixDims, resolveInputs } from '../../src/runtime/inputs.js';
import { measureInWorker } from '../../src/runtime/measure.js';
import { machinePeaks } from '../../src/runtime/peaks.js';
import { latencyStats, percentile, throughput } from '../../src/runtime/stats.js';
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
  assert.equal(percentile([1, 2], 0), 1);
  assert.equal(throughput(8, 4), 2000);
  assert.throws(() => latencyStats([]));
});

test('summarizeTrace sums kernel time per op type and node, skipping warm-up runs', () => {
  const ev = (name: string, op: string, ts: number, dur: number) => ({ cat: 'Node', name: `${name}_kernel_time`, ts, dur, ph: 'X', args: { op_name: op } });
  const events = [
    { cat: 'Session', name: 'model_run', ts: 0, dur: 100 },
    ev('mm', 'MatMul', 1, 90), ev('relu', 'Relu', 92, 5),
    { cat: 'Session', name: 'model_run', ts: 200, dur: 50 },
    ev('mm', 'MatMul', 201, 30), ev('relu', 'Relu', 232, 10), { cat: 'Node', name: 'mm_fence_before', ts: 201, dur: 3 },
    { cat: 'Session', name: 'model_run', ts: 300, dur: 50 },
    ev('mm', 'MatMul', 301, 30), { ...ev('relu', 'Relu', 332, 10), args: { op_name: 'Relu', mem_arena_held: '4096' } },
  ];
  const all = summarizeTrace(JSON.stringify(events));
  assert.equal(all.runs, 3);
  assert.equal(all.kernelUs, 175);
  const t = summarizeTrace({ traceEvents: events }, 1);
  assert.equal(t.runs, 2);
  assert.equal(t.kernelUs, 80);
  assert.equal(t.runUs, 100);
  assert.deepEqual(t.opTypes.map((o) => [o.opType, o.totalUs, o.calls]), [['MatMul', 60, 2], ['Relu', 20, 2]]);
  assert.equal(t.opTypes[0]!.share, 0.75);
  assert.deepEqual(t.nodes.map((n) => n.name), ['mm', 'relu']);
  assert.equal(t.arenaPeakBytes, 4096);
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
  assert.ok(trace.opTypes.length > 0 && trace.opTypes.every((o) => ['MatMul', 'Relu', 'FusedMatMul', 'Gemm', 'FusedGemm'].includes(o.opType)), JSON.stringify(trace.opTypes));
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
    (e: unknown) => e instanceof HoneError && e.exitCode === 2 && /failed to run the model with inputs x\[2x5\]/.test(e.message) && !e.message.includes('\n'),
  );
});

test('machinePeaks measures once, then reads its cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-peaks-'));
  try {
    const a = await machinePeaks({ cacheDir: dir, session: { intraOpThreads: 1 } });
    assert.ok(a.flops > 1e8 && a.bandwidth > 1e7 && a.cacheBandwidth > 1e7, JSON.stringify(a));
    const cached = JSON.parse(readFileSync(join(dir, 'machine-peaks.json'), 'utf8'));
    assert.deepEqual(cached[a.key], a);
    const b = await machinePeaks({ cacheDir: dir, session: { intraOpThreads: 1 } });
    assert.deepEqual(b, a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
