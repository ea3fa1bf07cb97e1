/**
 * Reading the ECharts SVG of a report page in tests: one chart by its id, the texts it draws (axis names,
 * tick labels, legend entries), the marks of a series (bars, scatter points) and the points of a line.
 */
import assert from 'node:assert/strict';

const decode = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** The SVG of the chart `id` (its <figure data-chart="id">); fails when the page has none. */
export function chartOf(html: string, id: string): string {
  const m = new RegExp(`<figure class="chart" data-chart="${id}">([\\s\\S]*?)</figure>`).exec(html);
  assert.ok(m, `the page has the chart ${id}`);
  return m[1]!;
}

/** The chart ids of a page, in order. */
export function chartIds(html: string): string[] {
  return [...html.matchAll(/<figure class="chart" data-chart="([^"]+)">/g)].map((m) => m[1]!);
}

/** Every text the chart draws, unescaped, in document order. */
export function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => decode(m[1]!));
}

/** Data marks (bars, scatter points) series `series` draws, by their data index; a dashed mark line is none. */
export function seriesMarks(svg: string, series: number): number[] {
  return [...svg.matchAll(/<path ([^>]*)ecmeta_series_index="(\d+)" ecmeta_data_index="(\d+)" ecmeta_ssr_type="chart"/g)]
    .filter((m) => Number(m[2]) === series && !m[1]!.includes('stroke-dasharray'))
    .map((m) => Number(m[3]));
}

/**
 * A page with the ids ECharts numbers per chart drawn in the process (classes, clip paths, gradients: zr3-cls-7,
 * zr3-c0, zr3-g1) made equal, to compare pages drawn at different times.
 */
export function sameIds(html: string): string {
  return html.replace(/\bzr\d+-[a-z]+(-?\d+)\b/g, 'zr-id');
}

/**
 * The points of the line drawn in `color` (a line series' path, inside the plot's clip group; the legend's
 * sample of it is not clipped), one [x, y] per vertex over all its segments.
 */
export function linePoints(svg: string, color: string): [number, number][] {
  const paths = [...svg.matchAll(/<g clip-path="[^"]+">\s*<path d="([^"]+)"[^>]* stroke="([^"]+)"/g)].filter((m) => m[2] === color);
  assert.equal(paths.length, 1, `one line drawn in ${color}`);
  return [...paths[0]![1]!.matchAll(/[ML]([-\d.]+) ([-\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/**
 * The size of each bar of series `series`, [width, height] in px by data index: a bar is a closed path of
 * relative moves (M x y l w 0 l 0 -h …), so its extent is the largest move along each axis.
 */
export function barSizes(svg: string, series: number): [number, number][] {
  const bars = [
    ...svg.matchAll(
      /<path d="M[-\d.]+ [-\d.]+((?:l[-\d.]+ [-\d.]+)+)Z"[^>]* ecmeta_series_index="(\d+)" ecmeta_data_index="(\d+)" ecmeta_ssr_type="chart"/g,
    ),
  ]
    .filter((m) => Number(m[2]) === series)
    .sort((a, b) => Number(a[3]) - Number(b[3]));
  return bars.map((m) => {
    const moves = [...m[1]!.matchAll(/l([-\d.]+) ([-\d.]+)/g)].map((l) => [Math.abs(Number(l[1])), Math.abs(Number(l[2]))]);
    return [Math.max(...moves.map((v) => v[0]!)), Math.max(...moves.map((v) => v[1]!))];
  });
}

/**
 * Opens `html` in headless Chromium: what it logged as errors or warnings, what it requested, and the
 * laid-out width of each chart, by chart id.
 */
export async function renderInChromium(html: string): Promise<{ errors: string[]; requests: string[]; widths: Record<string, number> }> {
  const { launchChromium, watchedPage } = await import('./chromium.js');
  const browser = await launchChromium();
  try {
    const { page, errors, requests } = await watchedPage(browser);
    await page.setContent(html, { waitUntil: 'load' });
    const widths: Record<string, number> = {};
    for (const fig of await page.locator('figure.chart').all())
      widths[(await fig.getAttribute('data-chart'))!] = (await fig.locator('svg').boundingBox())?.width ?? 0;
    return { errors, requests, widths };
  } finally {
    await browser.close();
  }
}
