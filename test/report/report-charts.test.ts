// The report charts' options (report-charts.ts), which the static pages draw to SVG and the dashboard hands to
// ECharts in the browser: plain JSON (no functions), no animation, every axis named, centred and clear of its
// tick labels, a legend exactly when there are several series; and the three pages in headless Chromium.
// optimize's trade-off chart clips a broken candidate's drop to the top edge and leaves the rest alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChartSpec } from '../../src/report/echarts-svg.js';
import {
  latencyPercentilesChart,
  lrFindChart,
  opMacsChart,
  opTimeShareChart,
  optimizeTradeoff,
  optimizeTradeoffChart,
  perOpTimeChart,
  quantizeAccuracyChart,
  quantizeLatencyChart,
  quantizeSensitivityChart,
  quantizeSizeChart,
  throughputChart,
} from '../../src/report/report-charts.js';
import type { BatchRow, OpTypeRow } from '../../src/profile/types.js';
import type { LatencyComparison } from '../../src/quantize/evaluate.js';
import type { LatencyStats } from '../../src/runtime/stats.js';
import type { Candidate, OptimizeReport } from '../../src/optimize/types.js';

const stats = (p50: number): LatencyStats => ({
  runs: 20,
  mean: p50 * 1.05,
  min: p50 * 0.9,
  max: p50 * 1.6,
  p50,
  p90: p50 * 1.2,
  p99: p50 * 1.5,
  std: p50 * 0.1,
  mad: p50 * 0.05,
  cv: 0.07,
  tail: 1.2,
  rounds: 1,
  floor: p50,
});
const batch = (batchSize: number, p50: number) => ({ batchSize, latencyMs: stats(p50), throughput: batchSize / (p50 / 1000) }) as BatchRow;
const op = (opType: string, timeShare: number, macs: number): OpTypeRow => ({
  opType,
  count: 1,
  macs,
  flops: 2 * macs,
  timeShare,
  timeMs: timeShare,
});
const latency = (b: number, floatMs: number, quantizedMs: number): LatencyComparison => ({
  floatMs,
  quantizedMs,
  ratio: quantizedMs / floatMs,
  blocks: 3,
  runsPerBlock: 20,
  inputs: [{ name: 'x', elemType: 1, shape: [b, 3, 32, 32] }],
});

/** An optimize candidate timed and evaluated: its speedup and drop. */
const candidate = (id: string, speedup: number, drop: number, extra: Partial<Candidate> = {}): Candidate => ({
  id,
  passes: [],
  steps: [],
  settings: { graphOptimizationLevel: 'all' },
  batchSize: 1,
  status: 'measured',
  metrics: { speedup, bytes: 1000, full: { samples: 8, cosine: 1, drop } },
  ...extra,
});
const optimizeReport = {
  goal: 'latency',
  metric: 'accuracy points',
  maxAccuracyDrop: 0.5,
  baseline: { settings: { graphOptimizationLevel: 'all' }, bytes: 1000, byBatch: [] },
} satisfies Partial<OptimizeReport>;

function allCharts(): ChartSpec[] {
  const ops = [op('Conv', 0.6, 2e9), op('MatMul', 0.3, 5e8), op('Relu', 0.1, 0)];
  const lrs = Array.from({ length: 50 }, (_, i) => 1e-6 * 10 ** (i / 7));
  const losses = lrs.map((lr, i) => 2.3 - Math.min(1.5, i / 20) + (lr > 0.1 ? 5 * lr : 0));
  return [
    opTimeShareChart(ops),
    opMacsChart(ops, 8),
    latencyPercentilesChart([batch(1, 2), batch(8, 9)]),
    throughputChart([batch(1, 2), batch(8, 9)]),
    lrFindChart({ lrs, losses, smoothed: losses, suggestedIndex: 20 }),
    quantizeSizeChart({
      size: { float: 4e6, quantized: 1e6, ratio: 0.25 },
      report: { weightBytes: { before: 3.9e6, after: 0.98e6 } } as never,
    }),
    quantizeLatencyChart({ latencyByBatch: [latency(1, 2, 1.5), latency(8, 10, 6)] })!,
    quantizeAccuracyChart({
      fidelity: { samples: 100, source: 'x', cosine: 0.99, maxAbsError: 0.1, accuracy: { float: 0.97, quantized: 0.96 } },
    })!,
    quantizeSensitivityChart({
      sensitivity: [
        { node: 'conv1', score: 0.02 },
        { node: 'fc', score: 0.001 },
      ],
    }),
    optimizeTradeoffChart(
      optimizeReport,
      optimizeTradeoff(optimizeReport, [candidate('a', 1.2, 0.1, { chosen: true }), candidate('b', 1.5, 9, { status: 'rejected' })]),
    ),
    perOpTimeChart({
      batchSize: 1,
      before: { source: 'm', nodes: 2, latencyMs: 1, kernelMs: 1, topNodes: [] },
      after: { source: 'n', nodes: 2, latencyMs: 1, kernelMs: 1, topNodes: [] },
      rows: [{ opType: 'MatMul', change: 'kept', before: { count: 1, timeMs: 1, share: 1 }, after: { count: 1, timeMs: 0.5, share: 1 } }],
    }),
  ];
}

test('every chart: plain JSON, no animation, named axes clear of their labels, a legend when there are several series', () => {
  const charts = allCharts();
  assert.equal(new Set(charts.map((c) => c.id)).size, charts.length, 'ids are unique');
  for (const c of charts) {
    assert.deepEqual(JSON.parse(JSON.stringify(c.option)), c.option, `${c.id}: the option survives JSON (no functions, no undefined)`);
    assert.equal(c.option.animation, false, c.id);
    for (const key of ['xAxis', 'yAxis']) {
      const axis = c.option[key] as Record<string, unknown>;
      assert.ok(typeof axis.name === 'string' && axis.name.length > 0, `${c.id}: ${key} is named`);
      assert.equal(axis.nameLocation, 'middle', `${c.id}: ${key}`);
      assert.ok(typeof axis.nameGap === 'number', `${c.id}: ${key} has a nameGap`);
    }
    const value = [c.option.xAxis, c.option.yAxis].find((a) => (a as { type: string }).type === 'value') as { name: string };
    assert.match(value.name, /\(.+\)|^loss$|ratio/, `${c.id}: the value axis says its unit: ${value.name}`);
    const series = c.option.series as { name: string }[];
    assert.equal('legend' in c.option, series.length > 1, `${c.id}: a legend exactly when there are several series`);
  }
});

test('scales: MACs in billions, sizes in MiB, latency categories named by the input shapes timed', () => {
  const [, macs, , , , size, lat] = allCharts();
  assert.equal((macs!.option.xAxis as { name: string }).name, 'MACs per run at batch 8 (billions)');
  assert.deepEqual((macs!.option.series as { data: number[] }[])[0]!.data, [2, 0.5], 'Relu has no MACs: not drawn');
  assert.equal((size!.option.yAxis as { name: string }).name, 'size (MiB)');
  assert.deepEqual((lat!.option.xAxis as { data: string[] }).data, ['x[1x3x32x32]', 'x[8x3x32x32]']);
});

test('optimize: a broken drop is clipped to the top edge; without one every point sits at its drop, below zero too', () => {
  const broken = optimizeTradeoff(optimizeReport, [candidate('a', 1.2, 0.1), candidate('b', 1.5, 9, { status: 'rejected' })]);
  assert.equal(broken.clipAt, 0.75, '1.5 times the feasible range (the constraint, 0.5)');
  assert.deepEqual(
    broken.clipped.map((p) => p.candidate.id),
    ['b'],
  );
  const spec = optimizeTradeoffChart(optimizeReport, broken);
  const series = spec.option.series as { name: string; data: { name: string; value: number[] }[] }[];
  const top = (spec.option.yAxis as { max: number }).max;
  assert.deepEqual(
    series.map((x) => x.name),
    ['drop ≤ 0.5 (the constraint)', 'Pareto front', 'measured', 'drop > 0.750 (top edge)', 'baseline'],
  );
  assert.deepEqual(series[3]!.data, [{ name: 'b: drop 9.00', value: [1.5, top] }]);
  assert.ok(top >= 0.75 && top < 2, `the top edge (${top}) is above the clip, far below 9`);

  // An accuracy gain (a negative drop) and a rejected drop within three times the range: nothing clipped.
  const fine = optimizeTradeoff(optimizeReport, [candidate('a', 1.2, -0.2), candidate('b', 1.5, 1.2, { status: 'rejected' })]);
  assert.equal(fine.clipAt, undefined);
  assert.deepEqual(fine.clipped, []);
  const fineSpec = optimizeTradeoffChart(optimizeReport, fine);
  const y = fineSpec.option.yAxis as { min: number; max: number };
  assert.ok(y.min <= -0.2 && y.max >= 1.2, `${y.min}..${y.max}`);
  const names = (fineSpec.option.series as { name: string }[]).map((x) => x.name);
  assert.ok(!names.some((n) => n.startsWith('drop >')), String(names));
  assert.ok(!names.includes('chosen'), 'nothing chosen, nothing marked');
});
