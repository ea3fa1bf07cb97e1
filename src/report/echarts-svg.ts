/**
 * Charts for the static reports, drawn by the same library and from the same options as the live
 * dashboard (`hone dashboard`): Apache ECharts renders an option object to an SVG string here, on the
 * server, with no DOM (its server-side rendering mode), and the dashboard's page hands the same option to
 * ECharts in the browser. A static report therefore needs no script to show its charts and opens offline.
 *
 * Options come from charts.ts and are plain JSON (no formatter functions), so they travel to the browser
 * unchanged. ECharts escapes every text it draws into SVG, so names taken from a model or a study (which a
 * user does not control) cannot inject markup.
 */
import * as echarts from 'echarts';

/** A chart's option (ECharts' option object, plain JSON) and the size to draw it at. */
export interface ChartSpec {
  /** A stable id (the dashboard keys its chart elements on it; tests find charts by it). */
  id: string;
  title: string;
  option: Record<string, unknown>;
  /** CSS pixels; the width is the page's in the dashboard and `width` here. */
  height: number;
}

/** The SVG of one chart, `width` CSS pixels wide; no animation, no script. */
export function chartSvg(spec: ChartSpec, width = 900): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height: spec.height });
  try {
    chart.setOption({ ...spec.option, animation: false });
    return chart.renderToSVGString();
  } finally {
    // A chart left open keeps a timer, and with it the process, alive.
    chart.dispose();
  }
}

/** A chart as a report section's figure: its SVG inside a <figure> carrying its id. */
export function chartFigure(spec: ChartSpec, width = 900): string {
  return `<figure class="chart" data-chart="${spec.id.replace(/[^\w-]/g, '_')}">${chartSvg(spec, width)}</figure>`;
}
