// `hone study show --html` and `hone tune --html`: the chart builders the page shares with the dashboard
// (report/charts.ts) on real studies (a pruned single-objective one with learning curves, a two- and a
// three-objective one): what each draws; the page: every section, escaped, nothing to fetch; and the page
// in headless Chromium: its SVG charts lay out, it fetches nothing, logs no error, and its table sorts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  contourChart,
  historyChart,
  importanceChart,
  intermediateChart,
  parallelChart,
  paretoChart,
  sliceChart,
  studyParams,
} from '../../src/report/charts.js';
import { studyHtml } from '../../src/report/study-html.js';
import { studyReport, type StudyReport } from '../../src/tune/report.js';
import { createStudy, type Study } from '../../src/tune/study.js';
import { TrialPruned } from '../../src/tune/trial.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { MedianPruner } from '../../src/tune/pruners/percentile.js';
import { launchChromium, watchedPage } from '../helpers/chromium.js';

const count = (html: string, re: RegExp) => (html.match(new RegExp(re.source, 'g')) ?? []).length;
type Series = { name: string; data: unknown[] };
const series = (o: Record<string, unknown>) => o.series as Series[];
const points = (s: Series | undefined) => (s?.data ?? []).filter((p) => p !== '-').length;

/** A minimizing study whose trials report 8 steps to a median pruner; every 6th trial fails. */
async function prunedStudy(): Promise<Study> {
  const s = await createStudy({
    name: 'lr <search> & "co"',
    sampler: new TPESampler({ seed: 3 }),
    pruner: new MedianPruner({ nStartupTrials: 3, nWarmupSteps: 1 }),
  });
  await s.optimize(
    (t) => {
      const lr = t.suggestFloat('lr', 1e-4, 1, { log: true });
      const act = t.suggestCategorical('act', ['relu', '<tanh>']);
      if (t.number % 6 === 5) throw new Error('diverged: <nan> & gone');
      let loss = 4;
      for (let step = 0; step < 8; step++) {
        loss *= 0.7 + 0.06 * Math.abs(Math.log10(lr) + 2) + (act === 'relu' ? 0 : 0.05);
        t.report(loss, step);
        if (t.shouldPrune()) throw new TrialPruned();
      }
      return loss;
    },
    { nTrials: 24 },
  );
  return s;
}

test('the chart builders draw every trial of a pruned study once, in its state', async () => {
  const s = await prunedStudy();
  const r = studyReport(s, s.trials);
  const by = (state: string) => s.trials.filter((t) => t.state === state).length;
  const history = series(historyChart(r).option);
  assert.equal(points(history.find((x) => x.name === 'complete')), by('complete'));
  assert.equal(points(history.find((x) => x.name === 'pruned (last value)')), by('pruned'));
  const best = history.find((x) => x.name === 'best so far')!.data as [number, number][];
  assert.ok(
    best.every((p, i) => i === 0 || p[1] <= best[i - 1]![1]),
    'minimizing: the best so far never rises',
  );
  assert.equal(best[best.length - 1]![1], s.bestTrial.values![0]);
  assert.match(JSON.stringify(historyChart(r).option), /"4 failed trials not drawn"/);

  const curves = series(intermediateChart(r)!.option);
  const reported = (state: string) =>
    s.trials.filter((t) => t.state === state).reduce((n, t) => n + Object.keys(t.intermediateValues).length, 0);
  assert.equal(points(curves.find((x) => x.name === 'complete')), reported('complete'));
  assert.equal(points(curves.find((x) => x.name === 'pruned')), reported('pruned'));

  const imp = importanceChart(r)!;
  assert.deepEqual([...(imp.option.yAxis as { data: string[] }).data].sort(), ['act', 'lr']);
  assert.equal(series(parallelChart(r)!.option)[0]!.data.length, by('complete'));
  const params = studyParams(r);
  const contour = series(contourChart(r, params[0]!, params[1]!).option);
  assert.equal(contour[0]!.data.length, 28 * 28);
  assert.equal(contour[1]!.data.length, by('complete'));
  const slice = sliceChart(r, 'act');
  assert.deepEqual((slice.option.xAxis as { data: string[] }).data, ['<tanh>', 'relu']);
  assert.equal(points(series(slice.option)[0]), by('complete'));
  assert.equal(paretoChart(r), undefined, 'one objective: no Pareto front');
});

test('studyHtml: the page of a pruned study has every section, escaped, with nothing to fetch', async () => {
  const s = await prunedStudy();
  const report = studyReport(s, s.trials);
  const html = studyHtml(report, { where: 'sqlite:runs.db' });
  const figures = [...html.matchAll(/<figure class="chart" data-chart="([^"]+)"><svg /g)].map((m) => m[1]);
  const [p0, p1] = studyParams(report);
  assert.deepEqual(figures, ['history', 'importance', 'intermediate', 'parallel', `contour-${p0}-${p1}`, `slice-${p0}`, `slice-${p1}`]);
  assert.match(html, /Learning curves/);
  assert.doesNotMatch(html, /Pareto front/, 'one objective: no Pareto front');
  // Axis names, with the objective's direction.
  assert.match(html, />value \(minimize\)</);
  assert.match(html, />trial</);
  // The trial table: a row per trial, the best one highlighted, the fail reasons kept (escaped).
  const table = html.slice(html.indexOf('<table class="sortable trials-table"'));
  assert.equal(count(table, /<tr( class="best")?><td class="n" data-sort=/), s.trials.length);
  assert.match(table, new RegExp(`<tr class="best"><td class="n" data-sort="${s.bestTrial.number}"`));
  assert.match(html, /diverged: &lt;nan&gt; &amp; gone/);
  assert.match(html, /<h1>hone study: lr &lt;search&gt; &amp; &quot;co&quot;<\/h1>/);
  assert.match(html, /&lt;tanh&gt;/, 'the category is drawn, escaped');
  assert.doesNotMatch(html, /<tanh>|<nan>|<search>/, 'user text is escaped everywhere, charts included');
  assert.doesNotMatch(html, /\b(src|href)=|https?:\/\/(?!www\.w3\.org)/, 'nothing outside the file');
});

test('a pruned trial keeps the reason it was pruned with (not the default message), and the table shows it', async () => {
  const s = await createStudy({ sampler: new RandomSampler({ seed: 1 }) });
  await s.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      if (t.number === 1) throw new TrialPruned('not trained: 700000 MACs per inference, over max_macs <600000>');
      if (t.number === 2) throw new TrialPruned();
      return x;
    },
    { nTrials: 3 },
  );
  assert.deepEqual(
    s.trials.map((t) => [t.state, t.systemAttrs.prune_reason]),
    [
      ['complete', undefined],
      ['pruned', 'not trained: 700000 MACs per inference, over max_macs <600000>'],
      ['pruned', undefined],
    ],
  );
  const r = studyReport(s, s.trials);
  assert.equal(r.history[1]!.pruneReason, 'not trained: 700000 MACs per inference, over max_macs <600000>');
  assert.equal(r.history[2]!.pruneReason, undefined);
  const html = studyHtml(r);
  assert.match(html, />why failed or pruned</);
  assert.match(html, /over max_macs &lt;600000&gt;/);
});

test('studyHtml: two objectives draw the front, three list it', async () => {
  const two = await createStudy({ directions: ['minimize', 'maximize'], sampler: new RandomSampler({ seed: 5 }) });
  await two.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      const y = t.suggestFloat('y', 0, 1);
      return [x + y, x - y * y];
    },
    { nTrials: 30 },
  );
  const r2 = studyReport(two, two.trials);
  const html2 = studyHtml(r2);
  const pareto = series(paretoChart(r2)!.option);
  assert.equal(pareto[1]!.data.length, two.bestTrials.length);
  assert.equal(pareto[0]!.data.length, 30 - two.bestTrials.length);
  assert.match(html2, /data-chart="pareto"/);
  assert.equal(count(html2, /data-chart="history(-1)?"/), 2, 'a history per objective');
  assert.match(html2, />objective 1 \(maximize\)</);

  const three = await createStudy({ directions: ['minimize', 'minimize', 'minimize'], sampler: new RandomSampler({ seed: 6 }) });
  await three.optimize(
    (t) => {
      const x = t.suggestFloat('x', 0, 1);
      const y = t.suggestFloat('y', 0, 1);
      return [x, y, (1 - x) * (1 - y)];
    },
    { nTrials: 20 },
  );
  const html3 = studyHtml(studyReport(three, three.trials));
  assert.doesNotMatch(html3, /data-chart="pareto"/);
  const front = html3.slice(
    html3.indexOf('<table class="sortable front"'),
    html3.indexOf('</table>', html3.indexOf('<table class="sortable front"')),
  );
  assert.equal(count(front, /<tr>/), three.bestTrials.length + 1, 'the front as a table (plus its header row)');
});

test('studyHtml: a study with no finished trial says so instead of drawing empty charts', () => {
  const html = studyHtml({
    study: 'new',
    directions: ['maximize'],
    nTrials: 1,
    states: { complete: 0, pruned: 0, fail: 0, running: 1, waiting: 0 },
    bestValue: null,
    bestParams: null,
    bestTrial: null,
    bestTrials: [],
    importance: {},
    history: [{ number: 0, state: 'running', values: null, params: { lr: 0.1 }, bestSoFar: null, durationS: null }],
  });
  assert.match(html, /No trial has finished yet/);
  assert.match(html, /Best<\/dt><dd>no trial completed yet/);
  assert.match(html, /importance needs at least 4 complete trials/);
  assert.doesNotMatch(html, /<svg/);
  assert.match(html, /<td class="st-running">running<\/td>/);
});

test('the page in headless Chromium: charts lay out, no console errors, nothing fetched, the table sorts', async () => {
  const s = await prunedStudy();
  const report: StudyReport = studyReport(s, s.trials);
  const two = await createStudy({ directions: ['minimize', 'minimize'], sampler: new RandomSampler({ seed: 8 }) });
  await two.optimize((t) => [t.suggestFloat('a', 0, 1), 1 - t.suggestFloat('a2', 0, 1) ** 2], { nTrials: 15 });
  const browser = await launchChromium();
  try {
    const { page, errors, requests } = await watchedPage(browser);
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.setContent(studyHtml(report), { waitUntil: 'load' });
    const ids = await page.locator('figure.chart').evaluateAll((fs) => fs.map((f) => f.getAttribute('data-chart')));
    assert.equal(ids.length, 7);
    for (const id of ids) {
      const box = await page.locator(`figure[data-chart="${id}"] svg`).boundingBox();
      assert.ok(box && box.width > 300 && box.height > 100, `${id} is laid out`);
    }
    // The history's complete trials: one symbol each in the series colour, plus the legend's.
    const marks = await page.locator('figure[data-chart=history] svg path[fill="#4a78c2"]').count();
    assert.equal(marks, s.trials.filter((t) => t.state === 'complete').length + 1);
    // Sort the trials by value: numbers ascend, the trials without one (failed) go last.
    const table = page.locator('table.trials-table');
    const col = (await table.locator('th').allTextContents()).indexOf('value');
    await table.locator('th').nth(col).click();
    const sorted = await table
      .locator('tbody tr')
      .evaluateAll((rows, i) => rows.map((row) => row.children[i]?.getAttribute('data-sort') ?? ''), col);
    const nums = sorted.filter((v) => v !== '').map(Number);
    assert.deepEqual(
      nums,
      [...nums].sort((a, b) => a - b),
    );
    assert.ok(sorted.slice(nums.length).every((v) => v === ''));

    await page.setContent(studyHtml(studyReport(two, two.trials)), { waitUntil: 'load' });
    const front = await page.locator('figure[data-chart=pareto] svg').boundingBox();
    assert.ok(front && front.width > 300);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'the pages fetch nothing');
  } finally {
    await browser.close();
  }
});
