/**
 * The charts of a tuning study and of training runs, as ECharts options (plain JSON: no functions), built
 * once here for both places that draw them: the static pages (`hone study show --html`, `hone tune
 * --html`, rendered to SVG by echarts-svg.ts) and the live dashboard (`hone dashboard`, which sends the
 * same options to ECharts in the browser). Each builder is a pure function from a report to a ChartSpec.
 *
 * What optuna-dashboard shows is the bar: optimization history with the best value so far, slice plots,
 * a contour of two parameters, parallel coordinates, PED-ANOVA importance, the Pareto front and the
 * intermediate values with pruned trials marked. Every axis is named, with its unit where it has one.
 */
import { perOpComparison } from '../optimize/per-op.js';
import type { ProfileReport } from '../profile/types.js';
import type { EpochRecord } from '../train/trainer.js';
import type { HistoryEntry, StudyReport } from '../tune/report.js';
import type { ParamValue } from '../tune/types.js';
import type { ChartSpec } from './echarts-svg.js';
import { perOpTimeChart } from './report-charts.js';

export type { ChartSpec } from './echarts-svg.js';

export const CHART_COLORS = {
  complete: '#4a78c2',
  pruned: '#9aa5b8',
  fail: '#c0392b',
  best: '#2f7d4f',
  front: '#e67e22',
  palette: ['#4a78c2', '#e67e22', '#2f7d4f', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d', '#d35400'],
};

const GRID = { left: 72, right: 28, top: 40, bottom: 56, containLabel: false };
const TEXT = { fontFamily: 'system-ui, sans-serif', fontSize: 12, color: '#1d2330' };

/** A value axis, named in the middle and on a log scale when `log`. */
function axis(name: string, log = false, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: log ? 'log' : 'value',
    name,
    nameLocation: 'middle',
    nameGap: 32,
    scale: !log,
    splitLine: { lineStyle: { color: '#e6e8ee' } },
    ...extra,
  };
}

/** A y axis: its name sits left of tick labels that may be long. */
function yAxis(name: string, log = false, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return axis(name, log, { nameGap: 54, ...extra });
}

/** Log scale when the values are all positive and span two decades or more (a loss from 300 to 0.4). */
export function wantsLog(values: readonly number[]): boolean {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min > 0 && max / min >= 100;
}

/** The study's objectives by name: 'value' for one, 'objective 0', 'objective 1'… for several, with the direction. */
export function objectiveNames(r: Pick<StudyReport, 'directions'>): string[] {
  if (r.directions.length === 1) return [`value (${r.directions[0]})`];
  return r.directions.map((d, i) => `objective ${i} (${d})`);
}

/** The first objective's value of a trial that has one (complete, or pruned with its last reported value). */
function firstValue(h: HistoryEntry): number | undefined {
  const v = h.values?.[0];
  return v !== undefined && v !== null && Number.isFinite(v) ? v : undefined;
}

function base(extra: Record<string, unknown>): Record<string, unknown> {
  return { animation: false, textStyle: TEXT, grid: GRID, tooltip: { trigger: 'item', confine: true }, ...extra };
}

/** Over this many points a scatter draws in ECharts' large mode (one path, no per-point hover). */
const LARGE = 2000;

/**
 * Optimization history of objective `k` (default the first): each complete trial's value by trial number,
 * pruned trials' last reported values, and (one objective) the best value so far.
 */
export function historyChart(r: StudyReport, k = 0): ChartSpec {
  const complete: [number, number][] = [];
  const pruned: [number, number][] = [];
  const best: [number, number][] = [];
  let failed = 0;
  const objective = (h: HistoryEntry) => {
    const v = h.values?.[k];
    return v !== undefined && v !== null && Number.isFinite(v) ? v : undefined;
  };
  for (const h of r.history) {
    const v = objective(h);
    if (h.state === 'complete' && v !== undefined) complete.push([h.number, v]);
    else if (h.state === 'pruned' && v !== undefined) pruned.push([h.number, v]);
    else if (h.state === 'fail') failed++;
    if (h.bestSoFar !== null && (h.state === 'complete' || best.length)) best.push([h.number, h.bestSoFar]);
  }
  const log = wantsLog([...complete, ...pruned].map((p) => p[1]));
  const series: Record<string, unknown>[] = [
    {
      name: 'complete',
      type: 'scatter',
      symbolSize: 6,
      data: complete,
      itemStyle: { color: CHART_COLORS.complete },
      large: complete.length > LARGE,
    },
  ];
  if (pruned.length)
    series.push({
      name: 'pruned (last value)',
      type: 'scatter',
      symbolSize: 5,
      data: pruned,
      itemStyle: { color: CHART_COLORS.pruned },
      large: pruned.length > LARGE,
    });
  if (r.directions.length === 1)
    series.push({
      name: 'best so far',
      type: 'line',
      step: 'end',
      showSymbol: false,
      data: best,
      lineStyle: { color: CHART_COLORS.best, width: 2 },
      itemStyle: { color: CHART_COLORS.best },
    });
  const subtitle = failed ? `${failed} failed trial${failed === 1 ? '' : 's'} not drawn` : '';
  return {
    id: k === 0 ? 'history' : `history-${k}`,
    title: r.directions.length > 1 ? `Optimization history of objective ${k}` : 'Optimization history',
    height: 340,
    option: base({
      legend: { top: 4, data: series.map((s) => s.name) },
      title: subtitle ? { text: subtitle, right: 8, top: 4, textStyle: { fontSize: 11, color: '#667', fontWeight: 'normal' } } : undefined,
      xAxis: axis('trial', false, { minInterval: 1, scale: true }),
      yAxis: yAxis(objectiveNames(r)[k]!, log),
      dataZoom: [{ type: 'inside', xAxisIndex: 0 }],
      series,
    }),
  };
}

/** Parameter importance (PED-ANOVA, sums to 1), largest at the top. */
export function importanceChart(r: StudyReport): ChartSpec | undefined {
  const rows = Object.entries(r.importance).sort((a, b) => a[1] - b[1]);
  if (!rows.length) return undefined;
  return {
    id: 'importance',
    title: 'Parameter importance',
    height: Math.max(140, 60 + rows.length * 26),
    option: base({
      grid: { ...GRID, left: 140, top: 12 },
      xAxis: axis('importance (share of the objective, PED-ANOVA)', false, { min: 0, max: 1, scale: false }),
      yAxis: { type: 'category', data: rows.map((x) => x[0]), axisLabel: { width: 130, overflow: 'truncate' } },
      series: [
        {
          type: 'bar',
          name: 'importance',
          data: rows.map((x) => Number(x[1].toFixed(4))),
          itemStyle: { color: CHART_COLORS.complete },
          label: { show: true, position: 'right', formatter: '{c}' },
        },
      ],
    }),
  };
}

/** The parameters of a study, in the order of importance (the most important first), then by name. */
export function studyParams(r: StudyReport): string[] {
  const names = new Set<string>();
  for (const h of r.history) for (const k of Object.keys(h.params)) names.add(k);
  return [...names].sort((a, b) => (r.importance[b] ?? 0) - (r.importance[a] ?? 0) || a.localeCompare(b));
}

/** How a parameter is drawn on an axis: categories (strings, booleans, or few distinct numbers of a categorical), or numbers. */
interface ParamAxis {
  categories?: string[];
  log: boolean;
  /** Where a value sits on the axis (an index for categories). */
  pos(v: ParamValue): number | undefined;
}

function paramAxis(values: readonly ParamValue[]): ParamAxis {
  const numeric = values.every((v) => typeof v === 'number');
  if (numeric) {
    const nums = values as number[];
    return { log: wantsLog(nums), pos: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined) };
  }
  const categories = [...new Set(values.map(String))].sort();
  const index = new Map(categories.map((c, i) => [c, i]));
  return { categories, log: false, pos: (v) => (v === undefined || v === null ? undefined : index.get(String(v))) };
}

function paramAxisOption(name: string, a: ParamAxis, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return a.categories
    ? { type: 'category', name, nameLocation: 'middle', nameGap: 32, data: a.categories, ...extra }
    : axis(name, a.log, extra);
}

/** The complete trials with a first value and the given parameters. */
function completeWith(r: StudyReport, params: readonly string[]): HistoryEntry[] {
  return r.history.filter((h) => h.state === 'complete' && firstValue(h) !== undefined && params.every((p) => h.params[p] !== undefined));
}

/** Slice plot: the objective against one parameter, each complete trial a point shaded by its number. */
export function sliceChart(r: StudyReport, param: string): ChartSpec {
  const trials = completeWith(r, [param]);
  const a = paramAxis(trials.map((h) => h.params[param]!));
  const data = trials.map((h) => [a.pos(h.params[param]!)!, firstValue(h)!, h.number]);
  const last = r.history.length ? r.history[r.history.length - 1]!.number : 0;
  return {
    id: `slice-${param}`,
    title: `Slice: ${param}`,
    height: 300,
    option: base({
      grid: { ...GRID, right: 90 },
      xAxis: paramAxisOption(param, a),
      yAxis: yAxis(objectiveNames(r)[0]!, wantsLog(data.map((d) => d[1]!))),
      visualMap: {
        type: 'continuous',
        dimension: 2,
        min: 0,
        max: Math.max(1, last),
        text: ['later trials', 'earlier'],
        right: 0,
        top: 'middle',
        itemHeight: 120,
        calculable: false,
        inRange: { color: ['#c6dbef', '#08306b'] },
      },
      series: [{ name: param, type: 'scatter', symbolSize: 6, data, large: data.length > LARGE }],
    }),
  };
}

/** Grid cells per side of the contour's interpolated surface. */
const CONTOUR_CELLS = 28;

/**
 * Contour of two parameters: the objective interpolated over the plane (inverse-distance weighting of the
 * complete trials, in each axis's own scale: log or linear, categories by index) as a heat map, and the
 * trials on top. Two grids on one rectangle: the heat map's category cells under the trials' value axes.
 */
export function contourChart(r: StudyReport, px: string, py: string): ChartSpec {
  const trials = completeWith(r, [px, py]);
  const ax = paramAxis(trials.map((h) => h.params[px]!));
  const ay = paramAxis(trials.map((h) => h.params[py]!));
  const pts = trials.map((h) => [ax.pos(h.params[px]!)!, ay.pos(h.params[py]!)!, firstValue(h)!, h.number] as const);
  const values = pts.map((p) => p[2]);
  const vmin = values.length ? Math.min(...values) : 0;
  const vmax = values.length ? Math.max(...values) : 1;
  const span = (a: ParamAxis, vs: number[]): [number, number] => {
    if (a.categories) return [-0.5, a.categories.length - 0.5];
    if (!vs.length) return [0, 1];
    let lo = Math.min(...vs);
    let hi = Math.max(...vs);
    if (lo === hi) [lo, hi] = a.log ? [lo / 2, hi * 2] : [lo - 0.5, hi + 0.5];
    return [lo, hi];
  };
  const [x0, x1] = span(
    ax,
    pts.map((p) => p[0]),
  );
  const [y0, y1] = span(
    ay,
    pts.map((p) => p[1]),
  );
  const tx = (v: number) => (ax.log ? Math.log10(v) : v);
  const ty = (v: number) => (ay.log ? Math.log10(v) : v);
  const [ux0, ux1, uy0, uy1] = [tx(x0), tx(x1), ty(y0), ty(y1)];
  const heat: [number, number, number][] = [];
  if (pts.length >= 2) {
    const nx = pts.map((p) => (tx(p[0]) - ux0) / (ux1 - ux0 || 1));
    const ny = pts.map((p) => (ty(p[1]) - uy0) / (uy1 - uy0 || 1));
    for (let i = 0; i < CONTOUR_CELLS; i++) {
      const cx = (i + 0.5) / CONTOUR_CELLS;
      for (let j = 0; j < CONTOUR_CELLS; j++) {
        const cy = (j + 0.5) / CONTOUR_CELLS;
        let num = 0;
        let den = 0;
        for (let k = 0; k < pts.length; k++) {
          const d2 = (nx[k]! - cx) ** 2 + (ny[k]! - cy) ** 2 + 1e-9;
          const w = 1 / d2;
          num += w * pts[k]![2];
          den += w;
        }
        heat.push([i, j, Number((num / den).toPrecision(6))]);
      }
    }
  }
  const cells = Array.from({ length: CONTOUR_CELLS }, (_, i) => String(i));
  const rect = { left: 72, right: 96, top: 24, bottom: 56 };
  const hidden = {
    show: false,
    axisLine: { show: false },
    axisTick: { show: false },
    axisLabel: { show: false },
    splitLine: { show: false },
  };
  const valueAxisFor = (name: string, a: ParamAxis, lo: number, hi: number, gridIndex: number, gap: number) =>
    a.categories
      ? axis(indexedName(name, a.categories), false, {
          gridIndex,
          min: lo,
          max: hi,
          interval: 1,
          scale: false,
          nameGap: gap,
          splitLine: { show: false },
        })
      : axis(name, a.log, {
          gridIndex,
          min: lo,
          max: hi,
          scale: false,
          nameGap: gap,
          splitLine: { show: false },
          // The ends are the trials' own extremes (unround numbers): the round ticks between them say enough.
          axisLabel: { showMinLabel: false, showMaxLabel: false },
        });
  return {
    id: `contour-${px}-${py}`,
    title: `Contour: ${px} × ${py}`,
    height: 380,
    option: base({
      grid: [rect, rect],
      xAxis: [{ type: 'category', data: cells, gridIndex: 0, ...hidden }, valueAxisFor(px, ax, x0, x1, 1, 32)],
      yAxis: [{ type: 'category', data: cells, gridIndex: 0, ...hidden }, valueAxisFor(py, ay, y0, y1, 1, 54)],
      visualMap: {
        type: 'continuous',
        seriesIndex: 0,
        min: vmin,
        max: vmax === vmin ? vmin + 1 : vmax,
        text: ['high', 'low'],
        right: 0,
        top: 'middle',
        itemHeight: 160,
        calculable: false,
        inRange: { color: r.directions[0] === 'maximize' ? ['#f7fbff', '#6baed6', '#08306b'] : ['#08306b', '#6baed6', '#f7fbff'] },
      },
      series: [
        { name: 'interpolated', type: 'heatmap', xAxisIndex: 0, yAxisIndex: 0, data: heat, silent: true, progressive: 0 },
        {
          name: 'trials',
          type: 'scatter',
          xAxisIndex: 1,
          yAxisIndex: 1,
          symbolSize: 6,
          data: pts.map((p) => [p[0], p[1], p[2], p[3]]),
          itemStyle: { color: '#111', borderColor: '#fff', borderWidth: 1 },
          large: pts.length > LARGE,
        },
      ],
    }),
  };
}

/** A category parameter's axis name on a value axis: its categories by index (ECharts' heat map cells and trials cannot share a category axis). */
function indexedName(name: string, categories: readonly string[]): string {
  const list = categories.map((c, i) => `${i}=${c}`).join(', ');
  return `${name} (${list.length > 60 ? `${list.slice(0, 57)}…` : list})`;
}

/** Parallel coordinates: one line per complete trial across every parameter and the objective, coloured by the objective. */
export function parallelChart(r: StudyReport, params = studyParams(r)): ChartSpec | undefined {
  if (!params.length) return undefined;
  const trials = r.history.filter((h) => h.state === 'complete' && firstValue(h) !== undefined);
  const axes = params.map((p) => paramAxis(trials.map((h) => h.params[p]).filter((v): v is ParamValue => v !== undefined)));
  const values = trials.map((h) => firstValue(h)!);
  const objective = objectiveNames(r)[0]!;
  const parallelAxis = [
    ...params.map((p, i) => {
      const a = axes[i]!;
      return a.categories
        ? { dim: i, name: p, type: 'category', data: a.categories }
        : { dim: i, name: p, type: a.log ? 'log' : 'value', scale: !a.log };
    }),
    { dim: params.length, name: objective, type: wantsLog(values) ? 'log' : 'value', scale: true, nameTextStyle: { fontWeight: 'bold' } },
  ];
  const data = trials.map((h) => [
    ...params.map((p, i) => {
      const v = h.params[p];
      if (v === undefined) return null;
      return axes[i]!.categories ? String(v) : v;
    }),
    firstValue(h)!,
  ]);
  return {
    id: 'parallel',
    title: 'Parallel coordinates',
    height: 360,
    option: base({
      parallel: {
        left: 60,
        right: 110,
        top: 48,
        bottom: 36,
        parallelAxisDefault: { nameLocation: 'end', nameGap: 14, nameTextStyle: { fontSize: 12 } },
      },
      parallelAxis,
      visualMap: {
        type: 'continuous',
        dimension: params.length,
        min: values.length ? Math.min(...values) : 0,
        max: values.length ? Math.max(...values) : 1,
        text: ['high', 'low'],
        right: 0,
        top: 'middle',
        itemHeight: 140,
        calculable: false,
        inRange: { color: r.directions[0] === 'maximize' ? ['#d0d7e5', '#08306b'] : ['#08306b', '#d0d7e5'] },
      },
      series: [
        { name: 'trials', type: 'parallel', lineStyle: { width: 1, opacity: trials.length > 500 ? 0.25 : 0.6 }, data, progressive: 0 },
      ],
    }),
  };
}

/** Pareto front of a study with two or more objectives (the first two drawn): every complete trial, the front joined. */
export function paretoChart(r: StudyReport): ChartSpec | undefined {
  if (r.directions.length < 2) return undefined;
  const onFront = new Set(r.bestTrials.map((t) => t.number));
  const others: [number, number, number][] = [];
  const front: [number, number, number][] = [];
  for (const h of r.history) {
    if (h.state !== 'complete' || !h.values || h.values.length < 2) continue;
    const p: [number, number, number] = [h.values[0]!, h.values[1]!, h.number];
    (onFront.has(h.number) ? front : others).push(p);
  }
  front.sort((a, b) => a[0] - b[0]);
  const [n0, n1] = objectiveNames(r);
  return {
    id: 'pareto',
    title: r.directions.length > 2 ? `Pareto front (objectives 0 and 1 of ${r.directions.length})` : 'Pareto front',
    height: 340,
    option: base({
      legend: { top: 4, data: ['dominated', 'Pareto front'] },
      xAxis: axis(n0!, wantsLog([...others, ...front].map((p) => p[0]))),
      yAxis: yAxis(n1!, wantsLog([...others, ...front].map((p) => p[1]))),
      series: [
        {
          name: 'dominated',
          type: 'scatter',
          symbolSize: 6,
          data: others,
          itemStyle: { color: CHART_COLORS.complete, opacity: 0.6 },
          large: others.length > LARGE,
        },
        {
          name: 'Pareto front',
          type: 'line',
          symbolSize: 8,
          data: front,
          lineStyle: { color: CHART_COLORS.front, type: 'dashed' },
          itemStyle: { color: CHART_COLORS.front },
        },
      ],
    }),
  };
}

/** At most this many trials' learning curves are drawn (the latest ones, and always the best). */
export const CURVES_MAX_TRIALS = 1000;

/**
 * Intermediate values (the learning curves trials report to the pruner): complete trials in blue, pruned
 * in grey ending where they were stopped, running ones in orange, failed ones red. Each state is one line
 * series with breaks between trials, so a study of thousands of trials is a few series, not thousands.
 */
export function intermediateChart(r: StudyReport): ChartSpec | undefined {
  let withCurves = r.history.filter((h) => h.intermediate?.length);
  if (!withCurves.length) return undefined;
  const total = withCurves.length;
  if (total > CURVES_MAX_TRIALS) {
    const keep = new Set(withCurves.slice(-CURVES_MAX_TRIALS).map((h) => h.number));
    if (r.bestTrial !== null) keep.add(r.bestTrial);
    withCurves = withCurves.filter((h) => keep.has(h.number));
  }
  const lines = (state: (h: HistoryEntry) => boolean) => {
    const data: (number[] | string)[] = [];
    for (const h of withCurves) {
      if (!state(h)) continue;
      if (data.length) data.push('-');
      for (const [s, v] of h.intermediate!) data.push([s, v === null ? Number.NaN : v, h.number]);
    }
    return data;
  };
  const all = withCurves.flatMap((h) => h.intermediate!.map((p) => p[1]));
  const groups: [string, (h: HistoryEntry) => boolean, string, string][] = [
    ['complete', (h) => h.state === 'complete', CHART_COLORS.complete, 'solid'],
    ['pruned', (h) => h.state === 'pruned', CHART_COLORS.pruned, 'dashed'],
    ['running', (h) => h.state === 'running' || h.state === 'waiting', CHART_COLORS.front, 'solid'],
    ['failed', (h) => h.state === 'fail', CHART_COLORS.fail, 'dotted'],
  ];
  const series = groups
    .filter(([, has]) => withCurves.some(has))
    .map(([name, has, color, type]) => ({
      name,
      type: 'line',
      data: lines(has),
      showSymbol: false,
      connectNulls: false,
      lineStyle: { width: 1, color, type, opacity: 0.75 },
      itemStyle: { color },
    }));
  return {
    id: 'intermediate',
    title:
      total > withCurves.length
        ? `Intermediate values (the last ${CURVES_MAX_TRIALS} of ${total} trials and the best)`
        : 'Intermediate values',
    height: 320,
    option: base({
      legend: { top: 4, data: series.map((x) => x.name) },
      xAxis: axis('step (as reported to the pruner)', false, { minInterval: 1 }),
      yAxis: yAxis('intermediate value', wantsLog(all as number[])),
      series,
    }),
  };
}

/**
 * The study charts a page shows, in order: history (one per objective), importance, Pareto front, intermediate values,
 * parallel coordinates, and (`contour`, for a static page; the dashboard has pickers instead) the contour
 * of the two most important parameters.
 */
export function studyCharts(r: StudyReport, o: { contour?: boolean } = {}): ChartSpec[] {
  const params = studyParams(r);
  const charts = [
    ...r.directions.map((_, k) => historyChart(r, k)),
    importanceChart(r),
    paretoChart(r),
    intermediateChart(r),
    parallelChart(r, params),
  ];
  if (o.contour && params.length >= 2) charts.push(contourChart(r, params[0]!, params[1]!));
  return charts.filter((c): c is ChartSpec => c !== undefined);
}

// ---- Training runs ----

/** One training run's log (`hone train --log FILE`): its name (the file) and its per-epoch records. */
export interface TrainRun {
  name: string;
  records: EpochRecord[];
}

type Metric = { key: keyof EpochRecord; label: string; line?: 'dashed' | 'dotted' };

function runChart(
  id: string,
  title: string,
  yName: string,
  runs: readonly TrainRun[],
  metrics: readonly Metric[],
  log = false,
  yExtra: Record<string, unknown> = {},
): ChartSpec | undefined {
  const series: Record<string, unknown>[] = [];
  runs.forEach((run, i) => {
    const color = CHART_COLORS.palette[i % CHART_COLORS.palette.length];
    for (const m of metrics) {
      const data = run.records.filter((r) => typeof r[m.key] === 'number').map((r) => [r.epoch, r[m.key] as number]);
      if (!data.length) continue;
      series.push({
        name: runs.length > 1 ? `${run.name.replace(/\.(jsonl|ndjson|log|json)$/i, '')}: ${m.label}` : m.label,
        type: 'line',
        data,
        symbolSize: 5,
        lineStyle: { color, type: m.line ?? 'solid', width: 2 },
        itemStyle: { color },
      });
    }
  });
  if (!series.length) return undefined;
  const values = series.flatMap((s) => (s.data as number[][]).map((d) => d[1]!));
  return {
    id,
    title,
    height: 300,
    option: base({
      legend: { top: 4, type: 'scroll', data: series.map((s) => s.name) },
      tooltip: { trigger: 'axis', confine: true },
      grid: { ...GRID, top: 48 },
      xAxis: axis('epoch', false, { minInterval: 1 }),
      yAxis: yAxis(yName, log && wantsLog(values), yExtra),
      series,
    }),
  };
}

/** Loss, accuracy, learning-rate and throughput curves of one or several runs, overlaid: each run one colour; train solid, validation dashed, test dotted. */
export function trainCharts(runs: readonly TrainRun[]): ChartSpec[] {
  return [
    runChart(
      'loss',
      'Loss',
      'loss',
      runs,
      [
        { key: 'trainLoss', label: 'train loss' },
        { key: 'valLoss', label: 'validation loss', line: 'dashed' },
        { key: 'testLoss', label: 'test loss', line: 'dotted' },
      ],
      true,
    ),
    runChart(
      'accuracy',
      'Accuracy',
      'accuracy (fraction correct)',
      runs,
      [
        { key: 'trainAccuracy', label: 'train accuracy' },
        { key: 'valAccuracy', label: 'validation accuracy', line: 'dashed' },
        { key: 'testAccuracy', label: 'test accuracy', line: 'dotted' },
      ],
      false,
      { max: 1 },
    ),
    // Linear: a schedule's shape (warm-up, cosine, steps) reads on a linear axis; a log one flattens it.
    runChart('lr', 'Learning rate (at the end of each epoch)', 'learning rate', runs, [{ key: 'lr', label: 'learning rate' }]),
    runChart('throughput', 'Throughput', 'samples/s', runs, [{ key: 'samplesPerSec', label: 'samples/s' }]),
  ].filter((c): c is ChartSpec => c !== undefined);
}

// ---- Two profiles side by side ----

/** One row of a profile comparison: a measure of model A and of model B, and B/A. */
export interface CompareRow {
  measure: string;
  a: number | null;
  b: number | null;
  unit: string;
}

/** The measures two profiles are compared on (the first profiled batch size's latency and throughput). */
export function profileCompareRows(a: ProfileReport, b: ProfileReport): CompareRow[] {
  const row = (measure: string, unit: string, f: (p: ProfileReport) => number | undefined): CompareRow => ({
    measure,
    unit,
    a: f(a) ?? null,
    b: f(b) ?? null,
  });
  const first = (p: ProfileReport) => p.batches[0];
  return [
    row('file size', 'bytes', (p) => p.bytes),
    row('parameters', '', (p) => p.params),
    row('MACs per run', '', (p) => p.macs),
    row('nodes', '', (p) => p.model.nodes),
    row('latency p50', 'ms', (p) => first(p)?.latencyMs.p50),
    row('latency p90', 'ms', (p) => first(p)?.latencyMs.p90),
    row('latency p99', 'ms', (p) => first(p)?.latencyMs.p99),
    row('throughput', 'items/s', (p) => first(p)?.throughput),
    row('peak memory', 'bytes', (p) => (p.peakMemoryBytes > 0 ? p.peakMemoryBytes : undefined)),
  ];
}

/**
 * Two profiles' op types side by side: kernel time per run, through optimize's per-op comparison and its
 * chart, when both were traced at the same batch size; otherwise multiply-accumulates (static cost).
 */
export function profileCompareChart(a: ProfileReport, b: ProfileReport, names: [string, string]): ChartSpec {
  const traced = (p: ProfileReport) => p.opTypes.some((o) => o.timeMs > 0);
  if (traced(a) && traced(b) && a.staticBatchSize === b.staticBatchSize)
    return perOpTimeChart(perOpComparison(a, b), { names, id: 'compare-ops' });
  const total = new Map<string, number>();
  for (const p of [a, b]) for (const o of p.opTypes) total.set(o.opType, (total.get(o.opType) ?? 0) + o.macs);
  const ops = [...total.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 15)
    .map((x) => x[0])
    .reverse();
  const of = (p: ProfileReport) => ops.map((op) => Number((p.opTypes.find((o) => o.opType === op)?.macs ?? 0).toPrecision(4)));
  return {
    id: 'compare-ops',
    title: 'MACs per op type (static cost: the two profiles were not both traced at one batch size)',
    height: Math.max(200, 80 + ops.length * 34),
    option: base({
      legend: { top: 4, data: names },
      tooltip: { trigger: 'axis', confine: true, axisPointer: { type: 'shadow' } },
      grid: { ...GRID, left: 150, top: 40 },
      xAxis: axis('multiply-accumulates per run', false, { min: 0, scale: false }),
      yAxis: { type: 'category', data: ops, axisLabel: { width: 140, overflow: 'truncate' } },
      series: [
        { name: names[0], type: 'bar', data: of(a), itemStyle: { color: CHART_COLORS.palette[0] } },
        { name: names[1], type: 'bar', data: of(b), itemStyle: { color: CHART_COLORS.palette[1] } },
      ],
    }),
  };
}
