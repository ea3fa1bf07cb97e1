// `hone profile --html`: the page of a real profile (LeNet-5, two batch sizes) draws its charts with ECharts:
// named axes with units, a legend for p50/p90/p99, one bar per op type and per batch size and percentile,
// bars as long as their values; it names the model and the settings, escapes names taken from the model,
// and a static-only profile draws what it has.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { profileModel } from '../../src/profile/profile.js';
import type { ProfileReport } from '../../src/profile/types.js';
import { profileHtml } from '../../src/report/profile-html.js';
import type { MachinePeaks } from '../../src/runtime/peaks.js';
import { barSizes, chartIds, chartOf, renderInChromium, seriesMarks, svgTexts } from '../helpers/chart-svg.js';

const EVIL = '<img src=x onerror=alert(1)>';
const peaks: MachinePeaks = { flops: 5e10, bandwidth: 5e9, cacheBandwidth: 3e10, cacheBytes: 1 << 20, key: 'test' };

let report: ProfileReport;
before(async () => {
  report = await profileModel('zoo:lenet5', { batchSizes: [1, 4], runs: 5, warmup: 1, budgetMs: 0, profileRuns: 3, threads: 1, peaks });
});

test('the latency chart: p50, p90 and p99 per batch size, with named axes and a legend', () => {
  const html = profileHtml(report);
  assert.deepEqual(chartIds(html), ['profile-time-share', 'profile-macs', 'profile-latency', 'profile-throughput']);
  const svg = chartOf(html, 'profile-latency');
  const texts = svgTexts(svg);
  for (const t of ['latency (ms)', 'batch size', 'p50', 'p90', 'p99', '1', '4']) assert.ok(texts.includes(t), `${t} in ${texts}`);
  // One bar per batch size in each percentile's series, as long as its value: p50 ≤ p90 ≤ p99 in px too.
  const [p50, p90, p99] = [0, 1, 2].map((s) => barSizes(svg, s).map(([, h]) => h));
  for (const bars of [p50!, p90!, p99!]) assert.equal(bars.length, report.batches.length);
  report.batches.forEach((b, i) => {
    assert.ok(p50![i]! <= p90![i]! + 0.2 && p90![i]! <= p99![i]! + 0.2, `batch ${b.batchSize}: ${p50![i]}, ${p90![i]}, ${p99![i]}`);
    const scale = p99![i]! / b.latencyMs.p99;
    assert.ok(Math.abs(p50![i]! - b.latencyMs.p50 * scale) < 1, 'bar lengths are proportional to the latencies');
  });
  const tput = chartOf(html, 'profile-throughput');
  assert.ok(svgTexts(tput).includes('throughput (items/s)'));
  assert.deepEqual(seriesMarks(tput, 0), [0, 1]);
});

test('time share and MACs: one bar per op type, largest first, axes named with units', () => {
  const html = profileHtml(report);
  const timed = report.opTypes.filter((o) => o.timeShare > 0).sort((a, b) => b.timeShare - a.timeShare);
  assert.ok(timed.length >= 3, 'the trace timed several op types');
  const share = chartOf(html, 'profile-time-share');
  const texts = svgTexts(share);
  assert.ok(texts.includes('share of kernel time (%)'));
  assert.ok(texts.includes('op type'));
  const widths = barSizes(share, 0).map(([w]) => w);
  assert.equal(widths.length, timed.length);
  assert.deepEqual(
    widths,
    [...widths].sort((a, b) => b - a),
    'largest first',
  );
  // Op types in the same order (the category axis runs top to bottom), each bar labelled with its share.
  const labels = texts.filter((t) => timed.some((o) => o.opType === t));
  assert.deepEqual(
    labels,
    timed.map((o) => o.opType),
  );
  assert.ok(texts.includes(`${Number((timed[0]!.timeShare * 100).toPrecision(3))} %`));

  const macs = chartOf(html, 'profile-macs');
  const withMacs = report.opTypes.filter((o) => o.macs > 0);
  assert.equal(seriesMarks(macs, 0).length, withMacs.length);
  // LeNet-5's largest op type has 358 K MACs: the axis counts in thousands.
  assert.ok(svgTexts(macs).includes('MACs per run at batch 1 (thousands)'), String(svgTexts(macs)));
});

test('the page names the model and the settings, and escapes what the model names', () => {
  const html = profileHtml(report);
  assert.match(html, /<h1>Profile of zoo:lenet5<\/h1>/);
  assert.match(
    html,
    /<dt>Settings<\/dt><dd>provider cpu, intra-op threads 1, 5 timed runs per round after 1 warm-up, batch sizes 1, 4<\/dd>/,
  );
  const evil: ProfileReport = {
    ...report,
    model: { ...report.model, source: EVIL, inputs: [{ ...report.model.inputs[0]!, name: EVIL }] },
    opTypes: report.opTypes.map((o, i) => (i === 0 ? { ...o, opType: EVIL } : o)),
  };
  const page = profileHtml(evil);
  assert.ok(!page.includes(EVIL), 'no name reaches the page unescaped');
  assert.match(page, /<h1>Profile of &lt;img src=x onerror=alert\(1\)&gt;<\/h1>/);
  assert.ok(svgTexts(chartOf(page, 'profile-time-share')).includes(EVIL), 'the op type is drawn, as text');
});

test('a static-only profile: the MACs chart, no latency charts, and says it timed nothing', async () => {
  const r = await profileModel('zoo:lenet5', { dynamic: false });
  const html = profileHtml(r);
  assert.deepEqual(chartIds(html), ['profile-macs']);
  assert.match(html, /<dt>Settings<\/dt><dd>static analysis only \(no timed runs\), batch 1<\/dd>/);
});

test('the page in headless Chromium: every chart laid out, no console errors, nothing fetched', async () => {
  const html = profileHtml(report);
  const { errors, requests, widths } = await renderInChromium(html);
  assert.deepEqual(Object.keys(widths), chartIds(html));
  for (const [id, w] of Object.entries(widths)) assert.ok(w > 400, `${id} is ${w} px wide`);
  assert.deepEqual(errors, []);
  assert.deepEqual(requests, [], 'the page fetches nothing');
});
