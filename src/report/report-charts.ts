/**
 * The charts of the static reports (`hone profile --html`, `hone quantize --html`, `hone lr-find --html`) as
 * ECharts options: pure functions from a report's data to a `ChartSpec`, drawn to SVG by echarts-svg.ts
 * and, unchanged, by the live dashboard in the browser. Options are plain JSON: labels are ECharts string
 * templates ('{value} ms'), never functions, so they survive JSON.stringify.
 *
 * Every chart names its axes with their units, has a legend when it draws more than one series, and no
 * animation. Values are rounded to what a reader can see, which also keeps the SVG small.
 */
import type { ChartSpec } from './echarts-svg.js';
import type { BatchRow, OpTypeRow } from '../profile/types.js';
import type { QuantizeSummary } from '../quantize/pipeline.js';
import type { AccuracyTuning } from '../quantize/tune.js';
import type { LrFindResult } from '../train/lr-find.js';

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
