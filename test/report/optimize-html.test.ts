// report.html of `hone optimize`: a fixture report with every kind of candidate checks the trade-off chart's
// ECharts option (a point per candidate timed and evaluated, the front, the baseline, the chosen model, drops
// off the chart clipped to the top edge) and what the page draws and escapes; a real run on a tiny
// transformer checks it against optimizeModel's own output, through writeOptimizeOutput, and in headless
// Chromium (it renders with no console errors, and its table sorts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChartSpec } from '../../src/report/echarts-svg.js';
import { optimizeHtml, paretoFront } from '../../src/report/optimize-html.js';
import { optimizeText } from '../../src/report/optimize-text.js';
import { optimizeTradeoff, optimizeTradeoffChart, perOpTimeChart } from '../../src/report/report-charts.js';
import { isOptimizeOutput, optimizeModel, writeOptimizeOutput } from '../../src/optimize/index.js';
import { perOpComparison, type PerOpComparison } from '../../src/optimize/per-op.js';
import type { Candidate, CandidateStep, OptimizeReport } from '../../src/optimize/types.js';
import { profileModel } from '../../src/profile/profile.js';
import { foldConstantsPass } from '../../src/passes/fold.js';
import { dynamicPass } from '../../src/passes/quantize.js';
import type { MachinePeaks } from '../../src/runtime/peaks.js';
import { barSizes, chartIds, chartOf, seriesMarks, svgTexts } from '../helpers/chart-svg.js';
import { launchChromium, watchedPage } from '../helpers/chromium.js';

const EVIL = 'models/evil<script>alert("x")</script>.onnx';

const fold = (status: CandidateStep['status']): CandidateStep => ({
  pass: 'fold.constants',
  options: {},
  status,
  ...(status === 'applied' ? { summary: 'folded 3 nodes' } : { reason: 'nothing to fold <b>here</b>' }),
});
const dyn: CandidateStep = {
  pass: 'quantize.dynamic',
  options: { perChannel: true },
  status: 'applied',
  summary: '6 MatMuls',
  cache: 'hit',
};
const fid = (drop: number) => ({ samples: 32, cosine: 1 - drop / 100, drop, maxAbsError: drop / 10 });

/** Every fate a candidate can have: measured (one chosen), rejected with and without numbers, skipped. */
function fixtureCandidates(): Candidate[] {
  const all = { graphOptimizationLevel: 'all' as const };
  const c = (id: string, rest: Partial<Candidate>): Candidate => ({
    id,
    passes: ['fold.constants', 'quantize.dynamic'],
    steps: [fold('unchanged'), dyn],
    settings: all,
    batchSize: 4,
    status: 'measured',
    metrics: {},
    ...rest,
  });
  return [
    c('c1', {
      passes: ['fold.constants'],
      steps: [fold('unchanged')],
      metrics: { bytes: 1_000_000, latencyMs: 10.2, speedup: 0.98, full: fid(0) },
    }),
    c('c2', { metrics: { bytes: 300_000, latencyMs: 6.9, speedup: 1.45, quick: fid(0.25), full: fid(0.2) } }),
    c('c3', {
      chosen: true,
      settings: { intraOpThreads: 2, graphOptimizationLevel: 'extended' },
      metrics: { bytes: 300_000, latencyMs: 6.2, speedup: 1.62, full: fid(0.2) },
    }),
    c('c4', {
      passes: ['quantize.static'],
      steps: [{ pass: 'quantize.static', options: {}, status: 'applied' }],
      status: 'rejected',
      reason: 'drop 1.300 (100·(1 − cosine)) on 32 samples > 1',
      metrics: { bytes: 280_000, latencyMs: 5.3, speedup: 1.9, full: fid(1.3) },
    }),
    c('c5', {
      passes: ['quantize.int4'],
      steps: [{ pass: 'quantize.int4', options: {}, status: 'applied' }],
      status: 'rejected',
      reason: 'drop 30.000 (100·(1 − cosine)) on 16 samples > 1',
      metrics: { bytes: 150_000, quick: fid(30) },
    }),
    c('c6', {
      passes: ['quantize.fp16'],
      steps: [],
      status: 'rejected',
      reason: 'a pass failed: <oops> & more',
      metrics: {},
    }),
    c('c7', { status: 'skipped', steps: [], reason: 'the budget (60 s) ran out before it was built', metrics: {} }),
    c('c8', {
      status: 'rejected',
      reason: 'drop 45.000 (100·(1 − cosine)) on 32 samples > 1',
      metrics: { bytes: 290_000, latencyMs: 6, speedup: 1.7, full: fid(45) },
    }),
  ];
}

const PER_OP: PerOpComparison = {
  batchSize: 4,
  before: {
    source: EVIL,
    nodes: 30,
    latencyMs: 10,
    kernelMs: 9,
    topNodes: [{ name: 'fc1<1>', opType: 'MatMul', timeMs: 3, share: 3 / 9 }],
  },
  after: {
    source: 'model',
    nodes: 26,
    latencyMs: 6.2,
    kernelMs: 5,
    topNodes: [{ name: 'fc1', opType: 'DynamicQuantizeMatMul', timeMs: 1, share: 0.2 }],
  },
  rows: [
    { opType: 'MatMul', change: 'gone', before: { count: 6, timeMs: 6, share: 6 / 9 }, after: { count: 0, timeMs: 0, share: 0 } },
    { opType: 'Add', change: 'kept', before: { count: 6, timeMs: 3, share: 3 / 9 }, after: { count: 2, timeMs: 1, share: 0.2 } },
    {
      opType: 'DynamicQuantizeMatMul',
      change: 'new',
      before: { count: 0, timeMs: 0, share: 0 },
      after: { count: 6, timeMs: 4, share: 0.8 },
    },
  ],
};

function fixtureReport(over: Partial<OptimizeReport> = {}): OptimizeReport {
  return {
    tool: 'hone optimize',
    target: 'node',
    source: EVIL,
    goal: 'latency',
    maxAccuracyDrop: 1,
    metric: '100·(1 − cosine)',
    data: { evaluation: 'synthetic <inputs>' },
    budgetSeconds: 60,
    searchSeconds: 61.5,
    totalSeconds: 75,
    budgetExhausted: true,
    profile: {
      batchSize: 4,
      latencyMs: 10,
      verdict: 'compute-bound',
      summary: 'MatMul 66% of kernel time',
      advice: [{ id: 'int8', action: 'int8 dynamic quantization', expectedSpeedup: 1.5, pass: 'quantize.dynamic' }],
    },
    passes: [
      { id: 'fold.constants', applies: true, used: true, why: 'exact rewrite' },
      { id: 'quantize.fp16', applies: false, used: false, reason: 'no GPU' },
    ],
    baseline: {
      settings: { graphOptimizationLevel: 'all' },
      bytes: 1_000_000,
      byBatch: [{ batchSize: 4, latencyMs: 10, throughput: 400, blocks: 6 }],
    },
    chosen: {
      candidate: 'c3',
      passes: ['quantize.dynamic'],
      settings: { intraOpThreads: 2, graphOptimizationLevel: 'extended' },
      batchSize: 4,
      sessionOptions: { executionProviders: ['cpu'], graphOptimizationLevel: 'extended', intraOpNumThreads: 2 },
      latencyMs: 6.2,
      speedup: 1.62,
      throughput: 645,
      bytes: 300_000,
      fidelity: fid(0.2),
    },
    perOp: PER_OP,
    conclusion: 'c3 is 1.62x the baseline\'s speed, drop 0.200 <= 1 & "quoted"',
    counts: { candidates: 8, measured: 3, rejected: 4, skipped: 1 },
    notes: ['the machine was <busy>'],
    machine: { cpu: 'Test CPU', cores: 2, ort: '1.30.0', loadAverage: 0.4 },
    ...over,
  };
}

interface Series {
  name: string;
  type: string;
  symbol?: string;
  data: ({ name: string; value: [number, number] } | [number, number])[];
  markLine?: { data: unknown[] };
}

/** The series of a chart's option, by name (a string, or a pattern for a name that carries a number). */
function seriesOf(spec: ChartSpec, name: string | RegExp): Series | undefined {
  return (spec.option.series as Series[]).find((x) => (typeof name === 'string' ? x.name === name : name.test(x.name)));
}

/** The names of a scatter series' points (candidate ids), in order; none when the series is absent. */
function names(spec: ChartSpec, name: string | RegExp): string[] {
  return (seriesOf(spec, name)?.data ?? []).map((d) => (d as { name: string }).name);
}

/** The trade-off chart's option, as the page builds it. */
function tradeoffSpec(r: OptimizeReport, candidates: readonly Candidate[]): ChartSpec {
  return optimizeTradeoffChart(r, optimizeTradeoff(r, candidates));
}

/** Where the marks of series `series` sit in the SVG, [x, y] px by data index (a symbol is placed by its transform). */
function markAt(svg: string, series: number): [number, number][] {
  return [
    ...svg.matchAll(
      /<path d="[^"]*" transform="matrix\([-\d.]+,0,0,[-\d.]+,([-\d.]+),([-\d.]+)\)"[^>]* ecmeta_series_index="(\d+)" ecmeta_data_index="(\d+)" ecmeta_ssr_type="chart"/g,
    ),
  ]
    .filter((m) => Number(m[3]) === series)
    .sort((a, b) => Number(a[4]) - Number(b[4]))
    .map((m) => [Number(m[1]), Number(m[2])]);
}

/** A page's text with the SVG namespace names (identifiers, never fetched) taken out. */
const withoutNamespaces = (html: string) => html.replace(/ xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]+"/g, '');

/** Every element is closed, in order (void elements aside); script and style bodies are not markup. */
function assertBalanced(html: string): void {
  const body = html.replace(/<(script|style)>[\s\S]*?<\/\1>/g, '<$1></$1>');
  const stack: string[] = [];
  const voids = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [, close, tag, self] = m;
    const name = tag!.toLowerCase();
    if (voids.has(name) || self) continue;
    if (!close) stack.push(name);
    else assert.equal(stack.pop(), name, `</${name}> closes the element opened last (at ${m.index})`);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  for (const tag of ['html', 'head', 'body', 'table', 'svg', 'dl', 'h1']) assert.ok(body.includes(`<${tag}`), `has <${tag}>`);
}

test('the trade-off chart: a point per measured candidate and per rejected one with both numbers, the front, the baseline, the chosen one', () => {
  const candidates = fixtureCandidates();
  const report = fixtureReport();
  const t = optimizeTradeoff(report, candidates);
  assert.deepEqual(
    t.points.map((p) => p.candidate.id).sort(),
    ['c1', 'c2', 'c3', 'c4', 'c8'],
    'measured c1-c3; rejected c4 and c8 were timed and evaluated; c5 (cheap check only), c6 (failed), c7 (skipped) have no speedup',
  );
  const spec = optimizeTradeoffChart(report, t);
  assert.equal(spec.id, 'optimize-tradeoff');
  assert.deepEqual(JSON.parse(JSON.stringify(spec.option)), spec.option, 'plain JSON: no functions');
  assert.deepEqual(names(spec, 'measured'), ['c1', 'c2', 'c3']);
  assert.equal(names(spec, 'measured').length, candidates.filter((k) => k.status === 'measured').length);
  assert.deepEqual(names(spec, 'rejected'), ['c4'], 'c4 (drop 1.3) is drawn where it is, a cross');
  // Drop 45 against a constraint of 1 would squash the rest: it sits on the top edge instead, a triangle
  // labelled with its drop.
  const yAxis = spec.option.yAxis as { name: string; min: number; max: number };
  assert.equal(t.clipAt, 1.5);
  assert.deepEqual(
    t.clipped.map((p) => p.candidate.id),
    ['c8'],
  );
  const clipped = seriesOf(spec, /^drop > 1\.50 \(top edge\)$/);
  assert.equal(clipped?.symbol, 'triangle');
  assert.deepEqual(clipped.data, [{ name: 'c8: drop 45.0', value: [1.7, yAxis.max] }]);
  assert.ok(yAxis.max >= 1.5 && yAxis.max < 3, `the top edge (${yAxis.max}) is above the clip, far below 45`);
  assert.equal(yAxis.min, 0);
  // The front: c1 (0.98x, no drop), c3 (1.62x, 0.2), c4 (1.9x, 1.3), a staircase; c2 and c8 are beaten.
  const front = seriesOf(spec, 'Pareto front')!;
  assert.equal(front.data.length, paretoFront(t.points).length);
  assert.deepEqual(front.data, [
    [0.98, 0],
    [1.62, 0.2],
    [1.9, 1.3],
  ]);
  // The chosen model at the report's numbers, the baseline at 1x with no drop, the constraint's line.
  const chosen = report.chosen!;
  assert.deepEqual(seriesOf(spec, 'chosen')?.data, [{ name: 'chosen c3', value: [chosen.speedup, chosen.fidelity.drop] }]);
  assert.deepEqual(seriesOf(spec, 'baseline')?.data, [{ name: 'baseline', value: [1, 0] }]);
  assert.deepEqual(seriesOf(spec, 'drop ≤ 1 (the constraint)')?.markLine?.data, [{ yAxis: 1 }]);
  assert.equal((spec.option.xAxis as { name: string }).name, 'speedup over the baseline (×)');
  assert.equal(yAxis.name, 'accuracy drop (100·(1 − cosine))');
  assert.ok('legend' in spec.option);
});

test('the fixture page: the chart drawn with its axes, legend and labels, the table, the notes', () => {
  const candidates = fixtureCandidates();
  const report = fixtureReport();
  const html = optimizeHtml(report, candidates);
  const spec = tradeoffSpec(report, candidates);
  assert.deepEqual(chartIds(html), ['optimize-tradeoff', 'optimize-per-op']);
  assert.match(html, /<h2>Speed and accuracy of the candidates<\/h2>/);
  const svg = chartOf(html, 'optimize-tradeoff');
  const texts = svgTexts(svg);
  for (const text of [
    'speedup over the baseline (×)',
    'accuracy drop (100·(1 − cosine))',
    'drop ≤ 1 (the constraint)',
    'Pareto front',
    'measured',
    'rejected',
    'drop > 1.50 (top edge)',
    'baseline',
    'chosen',
    'chosen c3',
    'c8: drop 45.0',
    '1×',
  ])
    assert.ok(texts.includes(text), `${text} in ${texts.join(' | ')}`);
  // One mark per point of each series, the chosen one over c3's; the clipped triangle above every other mark.
  const index = (name: string | RegExp) => (spec.option.series as Series[]).indexOf(seriesOf(spec, name)!);
  assert.deepEqual(seriesMarks(svg, index('measured')), [0, 1, 2]);
  assert.deepEqual(seriesMarks(svg, index('rejected')), [0]);
  assert.deepEqual(seriesMarks(svg, index(/^drop > /)), [0]);
  assert.deepEqual(seriesMarks(svg, index('baseline')), [0]);
  assert.deepEqual(markAt(svg, index('chosen')), [markAt(svg, index('measured'))[2]!]);
  const top = markAt(svg, index(/^drop > /))[0]![1];
  for (const name of ['measured', 'rejected', 'baseline', 'chosen'])
    for (const [, y] of markAt(svg, index(name))) assert.ok(top < y, `the clipped point (${top}) is above ${name} (${y})`);
  assert.match(html, /1 point\(s\) with a drop above 1\.50 sit on the top edge as triangles/);
  // Every candidate is in the table, the chosen marked.
  assert.equal((html.match(/<td class="st-/g) ?? []).length, candidates.length);
  assert.match(html, /<tr class="chosen"><td data-sort="c3">c3 <b>\*<\/b>/);
  assert.match(html, /a pass failed: &lt;oops&gt; &amp; more/);
  assert.match(html, /drop 0\.200 &lt;= 1 &amp; &quot;quoted&quot;/);
  // The deploy settings, the verdict and advice, the notes.
  assert.match(html, /&quot;intraOpNumThreads&quot;: 2/);
  assert.match(html, /The profile's verdict: compute-bound/);
  assert.match(html, /~1\.50x<\/b> int8 dynamic quantization/);
  assert.match(html, /the machine was &lt;busy&gt;/);
  assertBalanced(html);
});

test('escaping: a source with a script tag, reasons and tooltips with markup stay text', () => {
  const html = optimizeHtml(fixtureReport(), fixtureCandidates());
  assert.ok(!html.includes('<script>alert'), 'no script from the source name');
  assert.ok(html.includes('evil&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.onnx'));
  assert.ok(
    !html.includes('<b>here</b>') && html.includes('nothing to fold &lt;b&gt;here&lt;/b&gt;'),
    'a step reason in a title attribute',
  );
  assert.ok(html.includes('fc1&lt;1&gt;'));
  // The one script is the page's own sorter; nothing is fetched from anywhere (the SVG's namespace names are
  // identifiers, not addresses).
  assert.equal((html.match(/<script>/g) ?? []).length, 1);
  assert.doesNotMatch(withoutNamespaces(html), /https?:\/\//);
  assert.doesNotMatch(html, /\b(src|href)=/);
});

test('escaping: a hostile candidate id is drawn as text in the chart and escaped in the table', () => {
  const ID = 'c3<svg onload=alert(1)>';
  const candidates = fixtureCandidates().map((k) => (k.id === 'c3' ? { ...k, id: ID } : k));
  const report = fixtureReport({ chosen: { ...fixtureReport().chosen!, candidate: ID } });
  const html = optimizeHtml(report, candidates);
  assert.ok(!html.includes('<svg onload'), 'no markup from the id');
  assert.ok(html.includes('c3&lt;svg onload=alert(1)&gt;'));
  const texts = svgTexts(chartOf(html, 'optimize-tradeoff'));
  assert.ok(texts.includes(`chosen ${ID}`), `the chosen one's label, as text: ${texts.join(' | ')}`);
});

test('per-op time: a table when the report has it, nothing when not', () => {
  const html = optimizeHtml(fixtureReport(), fixtureCandidates());
  const table = /<table class="perop">([\s\S]*?)<\/table>/.exec(html)?.[1];
  assert.ok(table, 'the per-op table');
  assert.equal((table.match(/<tr/g) ?? []).length, 1 + PER_OP.rows.length + 1, 'header, a row per op type, the total');
  assert.match(table, /<tr class="gone"><td>MatMul<\/td><td>gone<\/td><td class="n">6 → 0<\/td>/);
  assert.match(table, /<tr class="new"><td>DynamicQuantizeMatMul<\/td>/);
  assert.match(
    table,
    /<tr class="total"><td>all kernels<\/td><td><\/td><td class="n">30 → 26<\/td><td class="n">9\.00 ms<\/td><td class="n">5\.00 ms<\/td><td class="n" data-sort="-4">−4\.00 ms/,
  );
  assert.doesNotMatch(table, /<svg/, 'the bars are the chart above the table');
  assert.match(html, /Slowest nodes after/);
  // The chart: before and after per op type, in the table's order, bars as long as the times.
  const spec = perOpTimeChart(PER_OP);
  assert.deepEqual((spec.option.yAxis as { data: string[] }).data, ['MatMul', 'Add', 'DynamicQuantizeMatMul']);
  assert.deepEqual(
    (spec.option.series as Series[]).map((x) => [x.name, x.data]),
    [
      ['before', [6, 3, 0]],
      ['after', [0, 1, 4]],
    ],
  );
  const svg = chartOf(html, 'optimize-per-op');
  const texts = svgTexts(svg);
  for (const text of ['kernel time per run (ms)', 'op type', 'before', 'after', 'MatMul', 'DynamicQuantizeMatMul'])
    assert.ok(texts.includes(text), `${text} in ${texts.join(' | ')}`);
  const [before, after] = [0, 1].map((i) => barSizes(svg, i).map(([w]) => w));
  const px = before![0]! / 6;
  assert.deepEqual(
    [...before!, ...after!].map((w) => Math.round(w / px)),
    [6, 3, 0, 0, 1, 4],
  );
  // Many op types: the chart draws the slowest, the table all of them, and the page says so.
  const many: PerOpComparison = {
    ...PER_OP,
    rows: Array.from({ length: 30 }, (_, i) => ({
      opType: `Op${i}`,
      change: 'kept' as const,
      before: { count: 1, timeMs: 30 - i, share: 0 },
      after: { count: 1, timeMs: i === 29 ? 100 : 1, share: 0 },
    })),
  };
  const manyHtml = optimizeHtml(fixtureReport({ perOp: many }), fixtureCandidates());
  const drawn = (perOpTimeChart(many).option.yAxis as { data: string[] }).data;
  assert.equal(drawn.length, 24);
  assert.deepEqual(drawn.slice(-2), ['Op22', 'Op29'], 'the slowest by either side, in the table order');
  assert.match(manyHtml, /The chart shows the 24 op types with the most time on either side; the table has all 30\./);
  const without = optimizeHtml(fixtureReport({ perOp: undefined }), fixtureCandidates());
  assert.doesNotMatch(without, /class="perop"|Where the time went/);
  assert.deepEqual(chartIds(without), ['optimize-tradeoff']);
  assertBalanced(without);
});

test('the gain split between the session settings and the passes, in the page and the text, when it was measured', () => {
  const base = fixtureReport();
  const split = fixtureReport({ chosen: { ...base.chosen!, settingsAlone: { latencyMs: 8.1, speedup: 1.25, blocks: 2 } } });
  const words =
    'f the 1.62x speedup, the session settings alone give 1.25x (the model as given at them: 8.100 ms) and the passes 1.30x on top.';
  assert.ok(optimizeHtml(split, fixtureCandidates()).includes(`<p>O${words}</p>`));
  assert.ok(optimizeText(split, fixtureCandidates(), 'out').includes(`O${words}`));
  assert.ok(!optimizeHtml(base, fixtureCandidates()).includes('settings alone'));
  assert.ok(!optimizeText(base, fixtureCandidates(), 'out').includes('settings alone'));
  const throughput = fixtureReport({ goal: 'throughput', chosen: split.chosen });
  assert.match(
    optimizeText(throughput, fixtureCandidates(), 'out'),
    /Of the 1\.62x throughput gain, the session settings alone give 1\.25x/,
  );
});

test('nothing chosen, and the size goal: the page says so, and x is the size ratio', () => {
  const candidates = fixtureCandidates().map((k) => ({ ...k, chosen: undefined }));
  const none = optimizeHtml(fixtureReport({ chosen: undefined, perOp: undefined, conclusion: 'nothing beat the baseline' }), candidates);
  assert.match(none, /<p class="conclusion none">nothing beat the baseline<\/p>/);
  assert.match(none, /Nothing was chosen: model\.onnx is the model as given/);
  const noneSpec = tradeoffSpec(fixtureReport({ chosen: undefined }), candidates);
  assert.equal(seriesOf(noneSpec, 'chosen'), undefined);
  assert.deepEqual(names(noneSpec, 'measured'), ['c1', 'c2', 'c3']);
  assert.ok(!svgTexts(chartOf(none, 'optimize-tradeoff')).some((x) => x.startsWith('chosen')), 'nothing marked chosen');
  const sizeReport = fixtureReport({ goal: 'size' });
  const size = optimizeHtml(sizeReport, fixtureCandidates());
  assert.match(size, /<h2>Size and accuracy of the candidates<\/h2>/);
  assert.ok(svgTexts(chartOf(size, 'optimize-tradeoff')).includes('size reduction: baseline bytes / candidate bytes (×)'));
  // With bytes as the measure, c5's cheap check (a drop, a size, no timing) is a point too: clipped, its
  // label marked ~ like the table's cheap-check drops.
  const t = optimizeTradeoff(sizeReport, fixtureCandidates());
  assert.deepEqual(t.points.map((p) => p.candidate.id).sort(), ['c1', 'c2', 'c3', 'c4', 'c5', 'c8']);
  const spec = optimizeTradeoffChart(sizeReport, t);
  const top = (spec.option.yAxis as { max: number }).max;
  assert.deepEqual(seriesOf(spec, /^drop > /)?.data, [
    { name: 'c5~: drop 30.0', value: [6.667, top] },
    { name: 'c8: drop 45.0', value: [3.448, top] },
  ]);
  assert.deepEqual(seriesOf(spec, 'chosen')?.data, [{ name: 'chosen c3', value: [3.333, 0.2] }]);
  assert.match(size, /2 point\(s\) with a drop above 1\.50 sit on the top edge/);
  assertBalanced(size);
});

test('paretoFront keeps the points nothing beats on both axes', () => {
  const front = paretoFront([
    { x: 0.98, y: 0 },
    { x: 1.45, y: 0.2 },
    { x: 1.62, y: 0.2 },
    { x: 1.9, y: 1.3 },
    { x: 1.7, y: 45 },
    { x: 1.2, y: 0.5 },
  ]);
  assert.deepEqual(front, [
    { x: 0.98, y: 0 },
    { x: 1.62, y: 0.2 },
    { x: 1.9, y: 1.3 },
  ]);
});

const peaks: MachinePeaks = { flops: 5e10, bandwidth: 5e9, cacheBandwidth: 3e10, cacheBytes: 1 << 20, key: 'test' };

test('a real run: the page matches optimizeModel, is written with the rest, and renders in headless Chromium', async () => {
  const model = 'zoo:transformer:layers=1,dModel=64,heads=2,ffn=128';
  const dims = { seq: 16 };
  const r = await optimizeModel({
    model,
    runs: 3,
    warmup: 1,
    dims,
    batchSizes: [2],
    // Ended by trials, not by a budget that a loaded machine exhausts before anything is timed (then the page
    // has no chart to check: seen at load 10 on 2 cores with a 6 s budget).
    budget: 300,
    maxTrials: 2,
    threads: 1,
    passes: [foldConstantsPass, dynamicPass],
    cacheDir: mkdtempSync(join(tmpdir(), 'hone-html-cache-')),
  });
  // What the lead's optimizeModel fills in when a model is chosen: the chosen model profiled like the input.
  const quick = { batchSizes: [2], runs: 3, warmup: 1, profileRuns: 3, budgetMs: 0, threads: 1, peaks, dims };
  const report: OptimizeReport = {
    ...r.report,
    perOp: r.report.perOp ?? perOpComparison(await profileModel(model, quick), await profileModel(r.model, quick)),
  };
  const html = optimizeHtml(report, r.candidates);
  const drawable = r.candidates.filter(
    (k) =>
      (k.status === 'measured' || k.status === 'rejected') &&
      k.metrics.speedup !== undefined &&
      Number.isFinite((k.metrics.full ?? k.metrics.quick)?.drop ?? NaN),
  );
  assert.ok(drawable.length > 0, 'the screening timed candidates to draw');
  const t = optimizeTradeoff(report, r.candidates);
  assert.equal(t.points.length, drawable.length, JSON.stringify(r.candidates.map((k) => [k.id, k.status, k.metrics.speedup])));
  const spec = optimizeTradeoffChart(report, t);
  const series = spec.option.series as Series[];
  const pointSeries = series.filter((x) => x.type === 'scatter' && x.name !== 'baseline' && x.name !== 'chosen');
  assert.equal(
    pointSeries.reduce((n, x) => n + x.data.length, 0),
    drawable.length,
    'every candidate drawn once',
  );
  assert.equal(names(spec, 'measured').length, r.candidates.filter((k) => k.status === 'measured').length);
  assert.equal(seriesOf(spec, 'Pareto front')!.data.length, t.front.length);
  assert.deepEqual(names(spec, 'chosen'), report.chosen ? [`chosen ${report.chosen.candidate}`] : []);
  // The chosen model at the report's numbers (to the 4 digits the chart keeps).
  if (report.chosen) {
    const c = report.chosen;
    const value = [c.speedup, c.fidelity.drop].map((v) => Number(v.toPrecision(4)));
    assert.deepEqual(seriesOf(spec, 'chosen')!.data, [{ name: `chosen ${c.candidate}`, value }]);
  }
  // The page draws the same option: a mark per point.
  const svg = chartOf(html, 'optimize-tradeoff');
  for (const x of pointSeries) assert.equal(seriesMarks(svg, series.indexOf(x)).length, x.data.length, x.name);
  assert.match(html, /class="perop"/);
  assert.deepEqual(chartIds(html), ['optimize-tradeoff', 'optimize-per-op']);
  assertBalanced(html);
  assert.doesNotMatch(withoutNamespaces(html), /https?:\/\//);

  // Written with the other files; a later output without HTML does not leave a stale one behind.
  const out = join(mkdtempSync(join(tmpdir(), 'hone-html-out-')), 'opt');
  writeOptimizeOutput(out, r, false, html);
  assert.deepEqual(readdirSync(out).sort(), ['candidates.json', 'model.onnx', 'report.html', 'report.json']);
  assert.equal(readFileSync(join(out, 'report.html'), 'utf8'), html);
  writeOptimizeOutput(out, r);
  assert.ok(!existsSync(join(out, 'report.html')));
  // A missed-goal model is written beside the others, and a later output without one removes it.
  writeOptimizeOutput(out, { ...r, missedGoal: r.model });
  assert.ok(existsSync(join(out, 'missed-goal.onnx')) && isOptimizeOutput(out));
  writeOptimizeOutput(out, r);
  assert.deepEqual(readdirSync(out).sort(), ['candidates.json', 'model.onnx', 'report.json']);

  const browser = await launchChromium();
  try {
    const { page, errors, requests } = await watchedPage(browser);
    await page.setContent(html, { waitUntil: 'load' });
    for (const id of chartIds(html))
      assert.ok((await page.locator(`figure[data-chart="${id}"] svg`).boundingBox())!.width > 500, `${id} is laid out`);
    // Sort the candidates by speedup (a click on its header): blanks go last, the rest ascend.
    const table = page.locator('table.sortable');
    const col = (await table.locator('th').allTextContents()).indexOf('speedup');
    await table.locator('th').nth(col).click();
    const sorted = await table
      .locator('tbody tr')
      .evaluateAll((rows, i) => rows.map((row) => row.children[i]?.getAttribute('data-sort') ?? ''), col);
    const nums = sorted.filter((s) => s !== '').map(Number);
    assert.deepEqual(
      nums,
      [...nums].sort((a, b) => a - b),
    );
    assert.ok(sorted.slice(nums.length).every((s) => s === ''));
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'the page fetches nothing');
  } finally {
    await browser.close();
  }
});
