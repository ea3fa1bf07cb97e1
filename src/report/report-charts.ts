/**
 * The charts of the static reports (`hone profile --html`, `hone quantize --html`, `hone lr-find --html`,
 * `hone optimize`'s report.html) as ECharts options: pure functions from a report's data to a `ChartSpec`,
 * drawn to SVG by echarts-svg.ts and, unchanged, by the live dashboard in the browser. Options are plain JSON: labels are ECharts string
 * templates ('{value} ms'), never functions, so they survive JSON.stringify.
 *
 * Every chart names its axes with their units, has a legend when it draws more than one series, and no
 * animation. Values are rounded to what a reader can see, which also keeps the SVG small.
 */
import type { ChartSpec } from './echarts-svg.js';
import type { PerOpComparison } from '../optimize/per-op.js';
import type { Candidate, OptimizeReport } from '../optimize/types.js';
import type { BatchRow, OpTypeRow } from '../profile/types.js';
import type { QuantizeSummary } from '../quantize/pipeline.js';
import type { AccuracyTuning } from '../quantize/tune.js';
import type { LrFindResult } from '../train/lr-find.js';
import { ticks } from './html.js';

/** The series colours the reports share: float/before grey, quantized/after blue, tails warm. */
export const COLORS = { before: '#9aa5b8', after: '#4a78c2', p50: '#4a78c2', p90: '#e0a040', p99: '#c24a4a', raw: '#b8c4d8' };

const TEXT = { color: '#1d2330', fontFamily: 'system-ui, sans-serif' };

/** A value axis named with its unit; the name sits centred beside the tick labels, `gap` px away. */
function valueAxis(name: string, gap: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'value', name, nameLocation: 'middle', nameGap: gap, nameTextStyle: TEXT, ...extra };
}

/** A category axis (batch sizes, op types) named like a value axis. */
function categoryAxis(name: string, data: string[], gap: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'category', name, data, nameLocation: 'middle', nameGap: gap, nameTextStyle: TEXT, ...extra };
}

/** The option every chart starts from: no animation, room for the legend at the top when there is one. */
function chart(id: string, title: string, height: number, option: Record<string, unknown>, legend: boolean): ChartSpec {
  return {
    id,
    title,
    height,
    option: {
      animation: false,
      textStyle: { fontFamily: TEXT.fontFamily },
      // The grid shrinks until tick labels and axis names fit inside these margins (long op type names too).
      grid: { left: 8, right: 40, top: legend ? 44 : 20, bottom: 8, outerBoundsMode: 'same', outerBoundsContain: 'all' },
      ...(legend ? { legend: { top: 4, itemGap: 24, textStyle: TEXT } } : {}),
      ...option,
    },
  };
}

/** `v` to 4 significant digits: what a chart can show, and a short SVG. */
const round = (v: number) => Number(v.toPrecision(4));

/** A scale for counts, so an axis says "millions" instead of drawing 12000000. */
function countScale(max: number): { div: number; word: string } {
  if (max >= 1e12) return { div: 1e12, word: 'trillions' };
  if (max >= 1e9) return { div: 1e9, word: 'billions' };
  if (max >= 1e6) return { div: 1e6, word: 'millions' };
  if (max >= 1e3) return { div: 1e3, word: 'thousands' };
  return { div: 1, word: '' };
}

/** A binary unit for byte sizes, from the largest one shown. */
function byteScale(max: number): { div: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (max >= 1024 ** (i + 1) && i < units.length - 1) i++;
  return { div: 1024 ** i, unit: units[i]! };
}

/** Horizontal bars in the given order, top to bottom, for up to `max` rows: op types, layers. */
function hBars(
  id: string,
  title: string,
  rows: { label: string; value: number }[],
  axis: { name: string; label: string; color: string; category: string; max: number },
): ChartSpec {
  const shown = rows.slice(0, axis.max);
  return chart(
    id,
    title,
    Math.max(160, shown.length * 24 + 70),
    {
      xAxis: valueAxis(axis.name, 28, { axisLabel: { formatter: axis.label } }),
      yAxis: categoryAxis(
        axis.category,
        shown.map((r) => r.label),
        12,
        { inverse: true, axisTick: { show: false } },
      ),
      series: [
        {
          name: axis.name,
          type: 'bar',
          data: shown.map((r) => Number(r.value.toPrecision(3))),
          itemStyle: { color: axis.color },
          barMaxWidth: 18,
          label: { show: true, position: 'right', formatter: axis.label.replace('{value}', '{c}') },
        },
      ],
    },
    false,
  );
}

/** Share of kernel time per op type (from the profiler's trace), in percent. */
export function opTimeShareChart(opTypes: readonly OpTypeRow[]): ChartSpec {
  const timed = opTypes.filter((o) => o.timeShare > 0).sort((a, b) => b.timeShare - a.timeShare);
  return hBars(
    'profile-time-share',
    'Time share by op type',
    timed.map((o) => ({ label: o.opType, value: o.timeShare * 100 })),
    { name: 'share of kernel time (%)', label: '{value} %', color: '#4a78c2', category: 'op type', max: 15 },
  );
}

/** Multiply-accumulates per run per op type, scaled to thousands/millions/billions. */
export function opMacsChart(opTypes: readonly OpTypeRow[], batchSize: number): ChartSpec {
  const rows = opTypes.filter((o) => o.macs > 0).sort((a, b) => b.macs - a.macs);
  const { div, word } = countScale(Math.max(0, ...rows.map((o) => o.macs)));
  return hBars(
    'profile-macs',
    'MACs by op type',
    rows.map((o) => ({ label: o.opType, value: o.macs / div })),
    {
      name: `MACs per run at batch ${batchSize}${word ? ` (${word})` : ''}`,
      label: '{value}',
      color: '#7a5ac2',
      category: 'op type',
      max: 15,
    },
  );
}

/** Latency per batch size: p50, p90 and p99 side by side (the spread a single number hides). */
export function latencyPercentilesChart(batches: readonly BatchRow[]): ChartSpec {
  const series = (['p50', 'p90', 'p99'] as const).map((p) => ({
    name: p,
    type: 'bar',
    data: batches.map((b) => round(b.latencyMs[p])),
    itemStyle: { color: COLORS[p] },
    barMaxWidth: 28,
  }));
  return chart(
    'profile-latency',
    'Latency per batch size',
    300,
    {
      xAxis: categoryAxis(
        'batch size',
        batches.map((b) => String(b.batchSize)),
        28,
      ),
      yAxis: valueAxis('latency (ms)', 44),
      series,
    },
    true,
  );
}

/** Items per second per batch size (batch size / mean latency). */
export function throughputChart(batches: readonly BatchRow[]): ChartSpec {
  return chart(
    'profile-throughput',
    'Throughput per batch size',
    260,
    {
      xAxis: categoryAxis(
        'batch size',
        batches.map((b) => String(b.batchSize)),
        28,
      ),
      yAxis: valueAxis('throughput (items/s)', 52),
      series: [
        {
          name: 'throughput',
          type: 'bar',
          data: batches.map((b) => round(b.throughput)),
          itemStyle: { color: COLORS.after },
          barMaxWidth: 40,
          label: { show: true, position: 'top', formatter: '{c}/s' },
        },
      ],
    },
    false,
  );
}

/**
 * The LR range test: raw and smoothed loss against the learning rate on a log axis, the suggestion marked.
 * The axis carries log10(lr) and labels its ticks 1e-5, 1e-4…: ECharts' own log axis labels decades with
 * float noise (0.00009999999999999999) and a label template cannot round. Losses past the plot's top (a
 * diverging sweep's last steps) are clipped there, as fastai's plot does, so that the useful part stays
 * readable; non-finite ones are gaps.
 */
export function lrFindChart(r: Pick<LrFindResult, 'lrs' | 'losses' | 'smoothed' | 'suggestedIndex'>): ChartSpec {
  const x = r.lrs.map((lr) => Number(Math.log10(lr).toFixed(4)));
  const y = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : '-');
  const smooth = r.smoothed.filter(Number.isFinite);
  const all = [...smooth, ...r.losses.filter(Number.isFinite)];
  const lo = Math.min(...smooth);
  const top = Math.min(Math.max(...all), lo + 4 * ((smooth[0] ?? lo) - lo || 1));
  const at = r.suggestedIndex;
  const suggested = r.lrs[at]!;
  return chart(
    'lr-find',
    'Loss against learning rate',
    380,
    {
      xAxis: valueAxis('learning rate (log scale)', 30, {
        min: Math.floor(Math.min(...x)),
        max: Math.ceil(Math.max(...x)),
        interval: 1,
        axisLabel: { formatter: '1e{value}' },
        axisLine: { onZero: false },
      }),
      // onZero off: the y axis stays at the left edge instead of crossing at lr = 1 (log10 = 0).
      yAxis: valueAxis('loss', 48, { scale: true, max: niceCeil(top), axisLine: { onZero: false } }),
      series: [
        {
          name: 'loss',
          type: 'line',
          data: x.map((v, i) => [v, y(r.losses[i]!)]),
          showSymbol: false,
          lineStyle: { width: 1, color: COLORS.raw },
          itemStyle: { color: COLORS.raw },
        },
        {
          name: 'smoothed loss',
          type: 'line',
          data: x.map((v, i) => [v, y(r.smoothed[i]!)]),
          showSymbol: false,
          lineStyle: { width: 2, color: COLORS.after },
          itemStyle: { color: COLORS.after },
        },
        {
          name: 'suggested learning rate',
          type: 'scatter',
          data: [[x[at]!, y(r.smoothed[at]!)]],
          symbolSize: 10,
          itemStyle: { color: COLORS.p99 },
          label: { show: true, position: 'right', formatter: suggested.toExponential(2) },
          markLine: {
            symbol: 'none',
            silent: true,
            label: { show: false },
            lineStyle: { color: COLORS.p99, type: 'dashed' },
            data: [{ xAxis: x[at]! }],
          },
        },
      ],
    },
    true,
  );
}

/** `v` rounded up to two significant digits (an axis end that reads well). */
function niceCeil(v: number): number {
  if (!(v > 0)) return v;
  const step = 10 ** (Math.floor(Math.log10(v)) - 1);
  return Number((Math.ceil(v / step - 1e-9) * step).toPrecision(12));
}

/** Float and quantized bars side by side per category. */
function beforeAfter(
  id: string,
  title: string,
  categories: string[],
  pairs: [number, number][],
  axis: { x: string; y: string; yGap: number; label: string; max?: number },
): ChartSpec {
  const bar = (name: string, i: 0 | 1, color: string) => ({
    name,
    type: 'bar',
    data: pairs.map((p) => round(p[i])),
    itemStyle: { color },
    barMaxWidth: 48,
    label: { show: true, position: 'top', formatter: axis.label },
  });
  return chart(
    id,
    title,
    280,
    {
      // Every category labelled (input shapes can be long: they wrap instead of being dropped).
      xAxis: categoryAxis(axis.x, categories, 28, { axisLabel: { interval: 0, width: 400 / categories.length, overflow: 'break' } }),
      yAxis: valueAxis(axis.y, axis.yGap, axis.max === undefined ? {} : { max: axis.max }),
      series: [bar('float', 0, COLORS.before), bar('quantized', 1, COLORS.after)],
    },
    true,
  );
}

/** Model file and weight bytes, float and quantized. */
export function quantizeSizeChart(s: Pick<QuantizeSummary, 'size' | 'report'>): ChartSpec {
  const { div, unit } = byteScale(Math.max(s.size.float, s.report.weightBytes.before));
  return beforeAfter(
    'quantize-size',
    'Size',
    ['model file', 'weights'],
    [
      [s.size.float / div, s.size.quantized / div],
      [s.report.weightBytes.before / div, s.report.weightBytes.after / div],
    ],
    { x: 'the encoded model, and its weights alone', y: `size (${unit})`, yGap: 44, label: '{c}' },
  );
}

/**
 * Latency of both models on each input shape timed (one per batch size). The comparison keeps each model's
 * fastest round median (see LatencyComparison), not percentiles: it times the two in alternating blocks,
 * so that a busy stretch of the machine slows both.
 */
export function quantizeLatencyChart(s: Pick<QuantizeSummary, 'latency' | 'latencyByBatch'>): ChartSpec | undefined {
  const rows = s.latencyByBatch?.length ? s.latencyByBatch : s.latency ? [s.latency] : [];
  if (!rows.length) return undefined;
  return beforeAfter(
    'quantize-latency',
    'Latency (fastest round median)',
    rows.map((r) => r.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')),
    rows.map((r) => [r.floatMs, r.quantizedMs]),
    { x: 'inputs timed', y: 'latency (ms)', yGap: 44, label: '{c}' },
  );
}

/** Top-1 accuracy against the labels, float and quantized, in percent (only with labelled data). */
export function quantizeAccuracyChart(s: Pick<QuantizeSummary, 'fidelity'>): ChartSpec | undefined {
  const f = s.fidelity;
  const a = f?.accuracy;
  if (!a) return undefined;
  return beforeAfter('quantize-accuracy', 'Accuracy', ['top-1 accuracy'], [[a.float * 100, a.quantized * 100]], {
    x: `on ${f.samples} samples of ${f.source}`,
    y: 'accuracy (%)',
    yGap: 36,
    label: '{c} %',
    max: 100,
  });
}

/**
 * The accuracy search's per-layer sensitivity: the noise-to-signal ratio each layer adds when every layer
 * is quantized, most sensitive first (up to 30 layers).
 */
export function quantizeSensitivityChart(t: Pick<AccuracyTuning, 'sensitivity'>): ChartSpec {
  return hBars(
    'quantize-sensitivity',
    'Per-layer sensitivity',
    t.sensitivity.map((x) => ({ label: x.node, value: x.score })),
    { name: 'noise-to-signal ratio the layer adds', label: '{value}', color: '#c2784a', category: 'layer', max: 30 },
  );
}

// ---- hone optimize: the candidates' trade-off, and kernel time per op type ----

/** A candidate on the trade-off chart. */
export interface TradeoffPoint {
  candidate: Candidate;
  /** What the goal gains over the baseline (×, higher is better): speedup, throughput gain or size reduction. */
  x: number;
  /** The accuracy drop, in the report's metric. */
  y: number;
  /** The drop comes from the cheap check on a few samples, not the full evaluation. */
  quick: boolean;
}

/** What the trade-off chart draws, worked out once for the chart and the page's words around it. */
export interface Tradeoff {
  /** Measured and rejected candidates with a finite gain and drop, in the candidates' order. */
  points: TradeoffPoint[];
  /** The points nothing beats on both axes, by gain ascending. */
  front: TradeoffPoint[];
  /** Drops above this are cut to the top edge; absent when nothing is (then `clipped` is empty). */
  clipAt?: number;
  clipped: TradeoffPoint[];
}

/** Points no other point beats on both axes (higher gain, lower drop), by gain ascending. */
export function paretoFront<P extends { x: number; y: number }>(points: readonly P[]): P[] {
  const sorted = [...points].sort((a, b) => b.x - a.x || a.y - b.y);
  const front: P[] = [];
  let best = Number.POSITIVE_INFINITY;
  for (const p of sorted)
    if (p.y < best) {
      front.push(p);
      best = p.y;
    }
  return front.reverse();
}

/** The chart's x measure for the goal (higher is better), or undefined when the candidate lacks it. */
function gainOf(r: Pick<OptimizeReport, 'goal' | 'baseline'>, k: Candidate): number | undefined {
  if (r.goal === 'size') return k.metrics.bytes ? r.baseline.bytes / k.metrics.bytes : undefined;
  return k.metrics.speedup;
}

/**
 * The points of an optimize run's trade-off: measured and rejected candidates with both a gain and a drop
 * (finite ones: a model with NaN outputs has no place), the Pareto front, and the clipping. A broken
 * candidate (drop 40 against a constraint of 1) would flatten the rest: when the highest drop is over three
 * times the feasible range (the constraint or the highest measured drop), drops above 1.5 times that range
 * are cut to the plot's top edge.
 */
export function optimizeTradeoff(
  r: Pick<OptimizeReport, 'goal' | 'baseline' | 'maxAccuracyDrop'>,
  candidates: readonly Candidate[],
): Tradeoff {
  const points: TradeoffPoint[] = [];
  for (const c of candidates) {
    if (c.status !== 'measured' && c.status !== 'rejected') continue;
    const x = gainOf(r, c);
    const f = c.metrics.full ?? c.metrics.quick;
    if (x === undefined || !Number.isFinite(x) || !f || !Number.isFinite(f.drop)) continue;
    points.push({ candidate: c, x, y: f.drop, quick: !c.metrics.full });
  }
  const front = paretoFront(points);
  const feasibleTop = Math.max(r.maxAccuracyDrop, 0, ...points.filter((p) => p.candidate.status === 'measured').map((p) => p.y));
  const highest = Math.max(r.maxAccuracyDrop, 0, ...points.map((p) => p.y));
  if (!(feasibleTop > 0 && highest > 3 * feasibleTop)) return { points, front, clipped: [] };
  const clipAt = 1.5 * feasibleTop;
  return { points, front, clipAt, clipped: points.filter((p) => p.y > clipAt) };
}

/** The x axis's name for the goal, with its unit. */
export function tradeoffAxisName(goal: OptimizeReport['goal']): string {
  return goal === 'size'
    ? 'size reduction: baseline bytes / candidate bytes (×)'
    : goal === 'throughput'
      ? "throughput gain over the baseline's best (×)"
      : 'speedup over the baseline (×)';
}

/** The trade-off chart's marks: the colours and symbols the legend shows. */
const TRADEOFF = {
  measured: '#4a78c2',
  rejected: '#c0392b',
  chosen: '#e67e22',
  baseline: '#778',
  front: '#2f7d4f',
  // ECharts has no cross symbol: an X outline, filled.
  cross: 'path://M0 2L2 0L5 3L8 0L10 2L7 5L10 8L8 10L5 7L2 10L0 8L3 5Z',
};

/**
 * Every candidate the search timed and evaluated, gain (×) against accuracy drop: measured ones as blue dots,
 * rejected ones as red crosses, drops above the clip as triangles on the top edge (labelled with their drop),
 * the Pareto front as a staircase, the baseline at (1, 0) and the chosen model marked and named, the region
 * beyond the constraint shaded below its dashed line. The axes' ranges are set here (nice ticks over the
 * points, the baseline and the constraint) so that the clip's top edge is known.
 */
export function optimizeTradeoffChart(r: Pick<OptimizeReport, 'goal' | 'metric' | 'maxAccuracyDrop'>, t: Tradeoff): ChartSpec {
  const max = r.maxAccuracyDrop;
  const shownY = (p: TradeoffPoint) => (t.clipAt !== undefined && p.y > t.clipAt ? t.clipAt : p.y);
  const xs = [1, ...t.points.map((p) => p.x)];
  const ys = [0, max, ...t.points.map(shownY)];
  const xt = ticks(Math.min(...xs), Math.max(...xs), 6);
  // Some room above the highest point and the constraint, so that neither sits on the frame.
  const yt = ticks(Math.min(...ys), Math.max(...ys) * 1.08, 5);
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  // The step rounded: ECharts adds it up from the minimum, and 0.19999999999999996 would print as such.
  const step = (v: readonly number[]) => Number((v[1]! - v[0]!).toPrecision(6));
  const at = (p: TradeoffPoint): [number, number] => [round(p.x), round(Math.min(p.y, y1))];
  const clipped = new Set(t.clipped);
  // A point is named by its candidate's id, with ~ when its drop is the cheap check's (as in the table); the
  // chosen model's point carries its own label ('chosen c3'), above it.
  const name = (p: TradeoffPoint) => `${p.candidate.id}${p.quick ? '~' : ''}`;
  const item = (p: TradeoffPoint) => ({ name: name(p), value: at(p), ...(p.candidate.chosen ? { label: { show: false } } : {}) });
  const measured = t.points.filter((p) => p.candidate.status === 'measured' && !clipped.has(p));
  const rejected = t.points.filter((p) => p.candidate.status === 'rejected' && !clipped.has(p));
  const chosen = t.points.find((p) => p.candidate.chosen);
  const scatter = (name: string, data: unknown[], symbol: string, size: number, color: string, extra: Record<string, unknown> = {}) => ({
    name,
    type: 'scatter',
    data,
    symbol,
    symbolSize: size,
    itemStyle: { color },
    ...extra,
  });
  const series: Record<string, unknown>[] = [
    {
      name: `drop ≤ ${max} (the constraint)`,
      type: 'line',
      data: [],
      symbol: 'none',
      // A line series' legend icon has a symbol on the line: hidden, the icon is the dashed line alone.
      itemStyle: { color: TRADEOFF.rejected, opacity: 0 },
      lineStyle: { color: TRADEOFF.rejected, type: 'dashed' },
      markLine: {
        symbol: 'none',
        silent: true,
        label: { show: false },
        lineStyle: { color: TRADEOFF.rejected, type: 'dashed', width: 1.5 },
        data: [{ yAxis: max }],
      },
      // Beyond the constraint, shaded: a candidate there breaks it.
      ...(max < y1 ? { markArea: { silent: true, itemStyle: { color: '#fbeeee' }, data: [[{ yAxis: max }, { yAxis: y1 }]] } } : {}),
    },
    {
      name: 'Pareto front',
      type: 'line',
      step: 'start',
      data: t.front.map(at),
      symbol: 'none',
      lineStyle: { color: TRADEOFF.front, width: 1.5 },
      itemStyle: { color: TRADEOFF.front, opacity: 0 },
    },
  ];
  // Each point labelled with its name (the table below has its numbers) where the label has room.
  const idLabel = { show: true, position: 'top', formatter: '{b}', fontSize: 10, color: '#667' };
  if (rejected.length) series.push(scatter('rejected', rejected.map(item), TRADEOFF.cross, 10, TRADEOFF.rejected, { label: idLabel }));
  if (measured.length)
    series.push(
      scatter('measured', measured.map(item), 'circle', 10, TRADEOFF.measured, {
        itemStyle: { color: TRADEOFF.measured, opacity: 0.85 },
        label: idLabel,
      }),
    );
  if (t.clipAt !== undefined)
    series.push(
      scatter(
        `drop > ${t.clipAt.toPrecision(3)} (top edge)`,
        t.clipped.map((p) => ({ name: `${name(p)}: drop ${p.y.toPrecision(3)}`, value: at(p) })),
        'triangle',
        12,
        TRADEOFF.rejected,
        { label: { show: true, position: 'bottom', formatter: '{b}', color: TRADEOFF.rejected } },
      ),
    );
  series.push(
    scatter('baseline', [{ name: 'baseline', value: [1, 0] }], 'diamond', 14, TRADEOFF.baseline, {
      label: { show: true, position: 'right', formatter: '{b}', color: '#556' },
    }),
  );
  if (chosen)
    series.push(
      scatter('chosen', [{ name: `chosen ${chosen.candidate.id}`, value: at(chosen) }], 'circle', 16, TRADEOFF.chosen, {
        itemStyle: { color: TRADEOFF.chosen, borderColor: '#fff', borderWidth: 2 },
        label: { show: true, position: 'top', formatter: '{b}', fontWeight: 'bold' },
        z: 3,
      }),
    );
  const yText = (v: number) => String(Number(v.toPrecision(12)));
  const yLabelWidth = Math.max(...yt.map((v) => yText(v).length));
  return chart(
    'optimize-tradeoff',
    `${r.goal === 'size' ? 'Size' : 'Speed'} and accuracy of the candidates`,
    440,
    {
      xAxis: valueAxis(tradeoffAxisName(r.goal), 30, {
        min: x0,
        max: x1,
        interval: step(xt),
        axisLabel: { formatter: '{value}×' },
        axisLine: { onZero: false },
      }),
      yAxis: valueAxis(`accuracy drop (${r.metric})`, 16 + 7 * yLabelWidth, {
        min: y0,
        max: y1,
        interval: step(yt),
        axisLine: { onZero: false },
      }),
      legend: { top: 4, itemGap: 30, textStyle: TEXT },
      // A label that would overlap another is left out; the larger mark's wins (the chosen, the baseline, then
      // the clipped, then the others).
      labelLayout: { hideOverlap: true },
      series,
    },
    true,
  );
}

/** The most op types the per-op chart draws (a page's table lists them all). */
export const PER_OP_CHART_ROWS = 24;

/**
 * Kernel time per run per op type, before (the model as given, grey) and after (the chosen model, blue), in
 * the comparison's order: op types present before, most time first, then the new ones. At most `max` op
 * types, the slowest (on either side) when there are more. `names` relabels the two sides (the dashboard
 * compares two profiles, A and B), `id` renames the chart.
 */
export function perOpTimeChart(p: PerOpComparison, o: { max?: number; names?: readonly [string, string]; id?: string } = {}): ChartSpec {
  const max = o.max ?? PER_OP_CHART_ROWS;
  const [beforeName, afterName] = o.names ?? ['before', 'after'];
  const slowest = new Set(
    [...p.rows].sort((a, b) => Math.max(b.before.timeMs, b.after.timeMs) - Math.max(a.before.timeMs, a.after.timeMs)).slice(0, max),
  );
  const rows = p.rows.filter((r) => slowest.has(r));
  const bar = (name: string, side: 'before' | 'after', color: string) => ({
    name,
    type: 'bar',
    data: rows.map((r) => Number(r[side].timeMs.toPrecision(3))),
    itemStyle: { color },
    barMaxWidth: 12,
    barGap: '10%',
  });
  return chart(
    o.id ?? 'optimize-per-op',
    `Kernel time per op type (batch ${p.batchSize})`,
    Math.max(180, rows.length * 34 + 90),
    {
      xAxis: valueAxis('kernel time per run (ms)', 28),
      yAxis: categoryAxis(
        'op type',
        rows.map((r) => r.opType),
        12,
        { inverse: true, axisTick: { show: false } },
      ),
      series: [bar(beforeName, 'before', COLORS.before), bar(afterName, 'after', COLORS.after)],
    },
    true,
  );
}
