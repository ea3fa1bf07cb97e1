// Two profiles side by side (the dashboard's compare page): kernel times through optimize's per-op
// comparison when both are traced at one batch size, multiply-accumulates otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { profileCompareChart } from '../../src/report/charts.js';
import type { ProfileReport } from '../../src/profile/types.js';

function profile(source: string, batch: number, ops: [string, number, number][]): ProfileReport {
  const kernel = ops.reduce((s, o) => s + o[1], 0);
  return {
    model: { source, opsets: {}, inputs: [], outputs: [], nodes: ops.length },
    staticBatchSize: batch,
    opTypes: ops.map(([opType, timeMs, macs]) => ({
      opType,
      count: 1,
      macs,
      flops: 2 * macs,
      timeMs,
      timeShare: kernel ? timeMs / kernel : 0,
    })),
    topNodes: [],
    batches: [{ latencyMs: { floor: kernel || 1 } }],
  } as unknown as ProfileReport;
}

type Bars = { option: { series: { name: string; data: number[] }[]; yAxis: { data: string[] } } };

test('traced at one batch size: kernel time per op type, each side under its name', () => {
  const a = profile('a.onnx', 1, [
    ['Conv', 0.5, 1000],
    ['Relu', 0.1, 0],
  ]);
  const b = profile('b.onnx', 1, [
    ['Conv', 0.2, 1000],
    ['Gemm', 0.05, 10],
  ]);
  const spec = profileCompareChart(a, b, ['A: a', 'B: b']) as unknown as Bars & { id: string; title: string };
  assert.equal(spec.id, 'compare-ops');
  assert.match(spec.title, /^Kernel time per op type \(batch 1\)$/);
  assert.deepEqual(spec.option.yAxis.data, ['Conv', 'Relu', 'Gemm']);
  assert.deepEqual(
    spec.option.series.map((s) => [s.name, s.data]),
    [
      ['A: a', [0.5, 0.1, 0]],
      ['B: b', [0.2, 0, 0.05]],
    ],
  );
});

test('one side untraced, or two batch sizes: multiply-accumulates, not times that do not compare', () => {
  const a = profile('a.onnx', 1, [['Conv', 0.5, 1000]]);
  for (const b of [profile('b.onnx', 1, [['Conv', 0, 400]]), profile('b.onnx', 8, [['Conv', 0.9, 8000]])]) {
    const spec = profileCompareChart(a, b, ['A', 'B']) as unknown as Bars & { title: string };
    assert.match(spec.title, /^MACs per op type/);
    assert.deepEqual(
      spec.option.series.map((s) => s.data),
      [[1000], [b.opTypes[0]!.macs]],
    );
  }
});
