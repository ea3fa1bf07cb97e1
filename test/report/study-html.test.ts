// `hone study show --html`: the chart functions on hand-made data (what each draws, the best-so-far line,
// the axes, escaping), the page from real studies (a pruned single-objective one with learning curves, a
// two- and a three-objective one), and the page in headless Chromium: it renders without console errors,
// fetches nothing, draws one mark per trial, and its table sorts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  historyChart,
  importanceChart,
  intAxis,
  learningCurveChart,
  paretoChart,
  studyHtml,
  valueAxis,
  type HistoryPoint,
} from '../../src/report/study-html.js';
import { studyReport, type StudyReport } from '../../src/tune/report.js';
import { createStudy, type Study } from '../../src/tune/study.js';
import { TrialPruned } from '../../src/tune/trial.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { MedianPruner } from '../../src/tune/pruners/percentile.js';
import { launchChromium, watchedPage } from '../helpers/chromium.js';

const count = (html: string, re: RegExp) => (html.match(new RegExp(re.source, 'g')) ?? []).length;

test('valueAxis goes log over two decades of positive values, intAxis ticks whole numbers', () => {
  const log = valueAxis([0.4, 3, 310]);
  assert.equal(log.log, true);
  assert.ok(log.lo <= 0.4 && log.hi >= 310);
  assert.ok(log.ticks.includes(1) && log.ticks.includes(100));
  const lin = valueAxis([0.4, 3, 30]);
  assert.equal(lin.log, false);
  assert.ok(lin.lo <= 0.4 && lin.hi >= 30);
  assert.equal(valueAxis([-5, 500]).log, false, 'negative values cannot go on a log axis');
  assert.deepEqual(intAxis(0, 3).ticks, [0, 1, 2, 3]);
  assert.ok(intAxis(0, 97).ticks.every(Number.isInteger));
});

test('historyChart: one mark per finished trial, failures under the axis, the best-so-far steps', () => {
  const points: HistoryPoint[] = [
    { number: 0, state: 'complete', value: 5 },
    { number: 1, state: 'complete', value: 7 },
    { number: 2, state: 'pruned', value: 1 },
    { number: 3, state: 'fail', value: null, note: 'exit <3> & more' },
    { number: 4, state: 'complete', value: 3 },
    { number: 5, state: 'running', value: null },
    { number: 6, state: 'complete', value: 4 },
    { number: 7, state: 'complete', value: 2 },
    { number: 8, state: 'pruned', value: null },
  ];
  const svg = historyChart(points, { direction: 'minimize' });
  assert.equal(count(svg, /<g class="pt complete"/), 5);
  assert.equal(count(svg, /<g class="pt pruned"/), 1);
  assert.equal(count(svg, /<g class="pt pruned novalue"/), 1);
  assert.equal(count(svg, /<g class="pt fail novalue"/), 1);
  assert.doesNotMatch(svg, /data-number="5"/, 'a running trial is not drawn');
  assert.match(svg, /exit &lt;3&gt; &amp; more/);
  // Best so far over complete trials only (the pruned 1 does not count): 5, then 3 at trial 4, 2 at trial 7.
  const d = /<path class="best" d="([^"]+)"/.exec(svg)![1]!;
  assert.equal(count(d, /V/), 2);
  const max = historyChart(points, { direction: 'maximize' });
  assert.equal(count(/<path class="best" d="([^"]+)"/.exec(max)![1]!, /V/), 1, 'maximizing: 5, then 7');
  assert.equal(historyChart([{ number: 0, state: 'running', value: null }], { direction: 'minimize' }), '');
});

test('paretoChart, learningCurveChart and importanceChart draw their data', () => {
  const pareto = paretoChart(
    [
      { number: 0, values: [1, 5], front: true },
      { number: 1, values: [2, 9], front: true },
      { number: 2, values: [3, 1], front: false },
      { number: 3, values: [Number.NaN, 1], front: false },
    ],
    { directions: ['minimize', 'maximize'] },
  );
  assert.equal(count(pareto, /<g class="pt front"/), 2);
  assert.equal(count(pareto, /<g class="pt dominated"/), 1, 'a point without finite values is left out');
  assert.match(pareto, /<path class="front"/);

  const curves = learningCurveChart(
    [
      {
        number: 0,
        state: 'complete',
        points: [
          [0, 3],
          [1, 2],
          [2, 1],
        ],
        best: true,
      },
      {
        number: 1,
        state: 'pruned',
        points: [
          [0, 4],
          [1, Number.POSITIVE_INFINITY],
        ],
      },
      { number: 2, state: 'fail', points: [[0, null]] },
    ],
    { direction: 'minimize' },
  );
  assert.equal(count(curves, /<g class="curve /), 2, 'a curve with no finite value is not drawn');
  assert.match(curves, /<g class="curve complete best" data-number="0">/);
  assert.match(curves, /<g class="curve pruned" data-number="1"><title>[^<]*1 value\(s\)/);

  const imp = importanceChart({ lr: 0.7, 'act<b>': 0.3 });
  assert.match(imp, /^<svg class="importance"/);
  assert.equal(count(imp, /<rect /), 2);
  assert.match(imp, /act&lt;b&gt;/);
  assert.equal(importanceChart({}), '');
});

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

test('studyHtml: the page of a pruned study has every section, escaped, with nothing to fetch', async () => {
  const s = await prunedStudy();
  const report = studyReport(s, s.trials);
  const html = studyHtml(report, { where: 'sqlite:runs.db' });
  const finished = s.trials.filter((t) => ['complete', 'pruned', 'fail'].includes(t.state));
  const pruned = s.trials.filter((t) => t.state === 'pruned');
  assert.ok(pruned.length >= 3, `the pruner stopped trials (${pruned.length})`);
  assert.equal(count(html, /<g class="pt /), finished.length);
  assert.equal(count(html, /<g class="pt fail novalue"/), 4);
  assert.equal(count(html, /<g class="curve /), s.trials.filter((t) => Object.keys(t.intermediateValues).length).length);
  assert.equal(count(html, /<g class="curve pruned"/), pruned.length);
  assert.equal(count(html, /<g class="curve complete best" data-number="(\d+)"/), 1);
  assert.match(html, new RegExp(`<g class="curve complete best" data-number="${s.bestTrial.number}"`));
  assert.match(html, /<svg class="importance"/);
  assert.doesNotMatch(html, /<svg class="pareto"/, 'one objective: no Pareto front');
  // The trial table: a row per trial, the best one highlighted, the fail reasons kept (escaped).
  const table = html.slice(html.indexOf('<table class="sortable trials-table"'));
  assert.equal(count(table, /<tr( class="best")?><td class="n" data-sort=/), s.trials.length);
  assert.match(table, new RegExp(`<tr class="best"><td class="n" data-sort="${s.bestTrial.number}"`));
  assert.match(html, /diverged: &lt;nan&gt; &amp; gone/);
  assert.match(html, /<h1>hone study: lr &lt;search&gt; &amp; &quot;co&quot;<\/h1>/);
  assert.doesNotMatch(html, /<tanh>|<nan>|<search>/, 'user text is escaped everywhere');
  assert.doesNotMatch(html, /\b(src|href)=|https?:\/\//, 'nothing outside the file');
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
  assert.equal(count(html2, /<g class="pt front"/), two.bestTrials.length);
  assert.equal(count(html2, /<g class="pt dominated"/), 30 - two.bestTrials.length);
  assert.equal(count(html2, /<svg class="history"/), 2, 'a history per objective');

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
  assert.doesNotMatch(html3, /<svg class="pareto"/);
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

test('the page in headless Chromium: charts render, no console errors, nothing fetched, the table sorts', async () => {
  const s = await prunedStudy();
  const report: StudyReport = studyReport(s, s.trials);
  const two = await createStudy({ directions: ['minimize', 'minimize'], sampler: new RandomSampler({ seed: 8 }) });
  await two.optimize((t) => [t.suggestFloat('a', 0, 1), 1 - t.suggestFloat('a2', 0, 1) ** 2], { nTrials: 15 });
  const browser = await launchChromium();
  try {
    const { page, errors, requests } = await watchedPage(browser);
    await page.setContent(studyHtml(report), { waitUntil: 'load' });
    const finished = s.trials.filter((t) => t.state !== 'running' && t.state !== 'waiting');
    assert.equal(await page.locator('svg.history g.pt').count(), finished.length);
    assert.equal(await page.locator('svg.history g.pt.complete circle').count(), s.trials.filter((t) => t.state === 'complete').length);
    const withCurves = s.trials.filter((t) => Object.keys(t.intermediateValues).length).length;
    assert.equal(await page.locator('svg.curves g.curve').count(), withCurves);
    assert.equal(await page.locator('svg.importance rect').count(), Object.keys(report.importance).length);
    for (const cls of ['history', 'curves', 'importance']) {
      const box = await page.locator(`svg.${cls}`).boundingBox();
      assert.ok(box && box.width > 300 && box.height > 20, `svg.${cls} is laid out`);
    }
    // Every drawn point sits inside its chart.
    const inside = await page.locator('svg.history').evaluate((svg) => {
      const frame = svg.getBoundingClientRect();
      return [...svg.querySelectorAll('g.pt')].every((g) => {
        const b = g.getBoundingClientRect();
        return b.width > 0 && b.left >= frame.left && b.right <= frame.right && b.top >= frame.top && b.bottom <= frame.bottom;
      });
    });
    assert.ok(inside);
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
    assert.equal(await page.locator('svg.pareto g.pt').count(), 15);
    assert.equal(await page.locator('svg.pareto g.pt.front').count(), two.bestTrials.length);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], 'the pages fetch nothing');
  } finally {
    await browser.close();
  }
});
