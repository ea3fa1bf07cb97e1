// `hone lr-find --html`: the page of a real sweep (an MLP on MNIST digits) draws the raw and the smoothed loss
// point for point against the learning rate on a log axis (decade ticks), marks the suggestion where the
// smoothed curve is, has a legend and named axes; it names the model, the data and the settings, escapes
// them, draws a stored --json report the same way, and leaves non-finite losses out of the lines.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { firstSamples, mnist } from '../../src/data/index.js';
import { lrFindHtml, type LrFindReport, type LrFindRun } from '../../src/report/lr-find-html.js';
import { COLORS, lrFindChart } from '../../src/report/report-charts.js';
import { lrFind, type LrFindResult } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { chartIds, chartOf, linePoints, renderInChromium, sameIds, seriesMarks, svgTexts } from '../helpers/chart-svg.js';

const EVIL = '<img src=x onerror=alert(1)>';
const run: LrFindRun = {
  model: 'zoo:mlp:hidden=32,flatten=true',
  data: 'mnist',
  samples: 1024,
  settings: { 'requested sweep': '0.00001 → 10 over 80 steps', 'batch size': '32', optimizer: 'sgd, momentum 0.9', loss: 'cross-entropy' },
};

let r: LrFindResult;
before(async () => {
  r = await lrFind(zooModel('mlp:hidden=32,flatten=true'), firstSamples(mnist().train, 1024), {
    batchSize: 32,
    startLr: 1e-5,
    endLr: 10,
    steps: 80,
    optimizer: { kind: 'sgd', momentum: 0.9 },
    seed: 0,
  });
});

test('the chart: raw and smoothed loss point for point on a log learning-rate axis, the suggestion marked', () => {
  const html = lrFindHtml(r, run);
  assert.deepEqual(chartIds(html), ['lr-find']);
  const svg = chartOf(html, 'lr-find');
  const texts = svgTexts(svg);
  for (const t of ['learning rate (log scale)', 'loss', 'smoothed loss', 'suggested learning rate']) assert.ok(texts.includes(t), t);
  // Decade ticks from the first rate's decade to the last one's (10 is 1e1, rounding noise aside).
  const first = Math.floor(Math.log10(r.lrs[0]!) + 1e-6);
  const last = Math.ceil(Math.log10(r.lrs.at(-1)!) - 1e-6);
  const decades = Array.from({ length: last - first + 1 }, (_, i) => `1e${first + i}`);
  assert.deepEqual(
    texts.filter((t) => /^1e-?\d+$/.test(t)),
    decades,
  );
  const raw = linePoints(svg, COLORS.raw);
  const smooth = linePoints(svg, COLORS.after);
  assert.equal(raw.length, r.losses.length, 'every step of the raw loss is drawn');
  assert.equal(smooth.length, r.smoothed.length, 'every step of the smoothed loss is drawn');
  assert.ok(
    smooth.every((p, i) => i === 0 || p[0] > smooth[i - 1]![0]),
    'the rate grows from left to right',
  );
  // Equal ratios of rates are equal distances: a log axis.
  const step = (i: number) => smooth[i + 1]![0] - smooth[i]![0];
  assert.ok(Math.abs(step(1) - step(smooth.length - 3)) < 0.2, `${step(1)} vs ${step(smooth.length - 3)}`);
  // The suggestion: one point labelled with the rate, on the smoothed curve, and a dashed line through it.
  assert.deepEqual(seriesMarks(svg, 2), [0]);
  assert.ok(texts.includes(r.suggestedLr.toExponential(2)));
  const mark = /<path d="M([\d.]+) [\d.]+L([\d.]+) [\d.]+"[^>]*stroke-dasharray/.exec(svg);
  assert.ok(mark, 'a dashed line marks the suggestion');
  assert.ok(Math.abs(Number(mark[1]) - smooth[r.suggestedIndex]![0]) < 1.5, 'at the suggested step of the curve');
});

test('the page names the model, the data and the settings; a stored --json report draws the same', () => {
  const html = lrFindHtml(r, run);
  assert.match(html, /<h1>Learning rate range test of zoo:mlp:hidden=32,flatten=true<\/h1>/);
  assert.match(html, /<dt>Data<\/dt><dd>mnist \(1024 samples\)<\/dd>/);
  assert.match(html, /<dt>Optimizer<\/dt><dd>sgd, momentum 0\.9<\/dd>/);
  assert.match(html, /<dt>Batch size<\/dt><dd>32<\/dd>/);
  assert.match(html, /<dt>Learning rates swept<\/dt><dd>1\.00e-5 → /);
  assert.match(html, new RegExp(`Suggested learning rate: <b>${r.suggestedLr.toExponential(2).replace('.', '\\.')}</b>`));
  // What `hone lr-find --json` prints, read back (the dashboard's case): the same page, the source named too.
  const stored = JSON.parse(JSON.stringify({ ...r, run })) as LrFindReport;
  assert.equal(sameIds(lrFindHtml(stored)), sameIds(html));
  assert.match(lrFindHtml(stored, { source: 'runs/lr.json' }), /<dt>Report<\/dt><dd>runs\/lr\.json<\/dd>/);
  // Without a run, the page names where the result came from.
  assert.match(lrFindHtml(r, { source: 'runs/lr.json' }), /<h1>Learning rate range test of runs\/lr\.json<\/h1>/);
});

test('names from the user are escaped', () => {
  const html = lrFindHtml(r, { model: EVIL, data: EVIL, settings: { [EVIL]: EVIL } });
  assert.ok(!html.includes(EVIL));
  assert.match(html, /<h1>Learning rate range test of &lt;img src=x onerror=alert\(1\)&gt;<\/h1>/);
  assert.match(html, /<title>hone lr-find: &lt;img/);
});

test('non-finite losses are gaps, and a diverged tail is clipped at the top instead of flattening the curve', () => {
  const n = r.lrs.length;
  const diverged: LrFindResult = {
    ...r,
    losses: [...r.losses.slice(0, n - 2), 1e6, Number.NaN],
    smoothed: [...r.smoothed.slice(0, n - 1), Number.POSITIVE_INFINITY],
  };
  const spec = lrFindChart(diverged);
  assert.deepEqual(JSON.parse(JSON.stringify(spec.option)), spec.option, 'the option is plain JSON');
  const svg = chartOf(lrFindHtml(diverged, run), 'lr-find');
  assert.equal(linePoints(svg, COLORS.raw).length, n - 1, 'the NaN loss is left out');
  assert.equal(linePoints(svg, COLORS.after).length, n - 1, 'the infinite smoothed loss is left out');
  const top = (spec.option.yAxis as { max: number }).max;
  assert.ok(top < 1e3, `the y axis ends at ${top}, not at the 1e6 spike`);
});

test('the page in headless Chromium: every chart laid out, no console errors, nothing fetched', async () => {
  const html = lrFindHtml(r, run);
  const { errors, requests, widths } = await renderInChromium(html);
  assert.deepEqual(Object.keys(widths), chartIds(html));
  for (const [id, w] of Object.entries(widths)) assert.ok(w > 400, `${id} is ${w} px wide`);
  assert.deepEqual(errors, []);
  assert.deepEqual(requests, [], 'the page fetches nothing');
});
