// hone dashboard in headless Chromium, against a study that a running `hone tune` is writing and a
// training log that grows: each page's charts draw (a painted canvas, and as many points as the data
// has), live updates arrive without a reload, hostile names stay text, and no console errors occur.
// Screenshots go to HONE_SCREENSHOTS when it is set (docs/dashboard.md's come from there).
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';
import { createStudy } from '../../src/tune/study.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { launchChromium, watchedPage } from '../helpers/chromium.js';
import { spawnHone, type Child } from '../helpers/spawn.js';
import { hone } from '../helpers/cli.js';

/** What the tests read of the page's ECharts global (types only: page functions cannot close over values). */
type PageGlobals = {
  echarts: {
    getInstanceByDom(el: Element | null): {
      getOption(): { series: { name: string; data?: unknown[] }[]; xAxis: { name: string }[]; yAxis: { name: string }[] };
    };
  };
};

let dir: string;
let browser: Browser;
const SHOTS = process.env.HONE_SCREENSHOTS;

/** A command objective that reports five steps 120 ms apart, so trials are seen running. */
const OBJECTIVE = `const lr = Number(process.env.HONE_PARAM_LR);
const layers = Number(process.env.HONE_PARAM_LAYERS);
const act = process.env.HONE_PARAM_ACT;
const floor = (Math.log10(lr) + 2.5) ** 2 * 0.1 + (layers - 2) ** 2 * 0.02 + (act === 'relu' ? 0 : 0.05);
let loss = 2;
for (let step = 1; step <= 5; step++) {
  loss = floor + (loss - floor) * 0.5;
  console.log(JSON.stringify({ step, value: loss }));
  await new Promise((r) => setTimeout(r, 120));
}
console.log(JSON.stringify({ value: loss }));
`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-dash-browser-'));
  writeFileSync(join(dir, 'objective.mjs'), OBJECTIVE);
  writeFileSync(
    join(dir, 'tune.yaml'),
    `study: live
direction: minimize
sampler: { name: tpe, seed: 1 }
pruner: median
trials: 14
space:
  lr: { type: float, low: 1.0e-5, high: 0.1, log: true }
  layers: { type: int, low: 1, high: 4 }
  act: { type: categorical, choices: [relu, tanh] }
objective:
  command: node objective.mjs
  timeout: 60
`,
  );
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits until the page has finished more renders than `after` (the app counts them on <html>). */
async function rendered(page: Page, after: number, timeout = 15_000): Promise<number> {
  await page.waitForFunction((n) => Number(document.documentElement.dataset.rendered ?? 0) > n, after, { timeout });
  return Number(await page.evaluate(() => document.documentElement.dataset.rendered));
}

/** Each chart on the page: its id, its series' point counts (breaks excluded) and how many canvas pixels are painted. */
function charts(page: Page) {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('[data-chart]')].map((el) => {
      const chart = (window as unknown as PageGlobals).echarts.getInstanceByDom(el);
      const option = chart.getOption();
      const series = (option.series as { name: string; data: unknown[] }[]).map((s) => ({
        name: s.name,
        points: (s.data ?? []).filter((p) => p !== '-').length,
      }));
      // Read the pixels through a copy made for reading, not through the chart's own canvas.
      const canvas = el.querySelector('canvas')!;
      const copy = document.createElement('canvas');
      copy.width = canvas.width;
      copy.height = canvas.height;
      const ctx = copy.getContext('2d', { willReadFrequently: true })!;
      ctx.drawImage(canvas, 0, 0);
      const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
      let painted = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) painted++;
      return { id: el.dataset.chart!, series, painted };
    }),
  );
}

/** Opens `url` as a new document (a hash change alone would keep the render count) and waits for its first render. */
async function open(page: Page, url: string): Promise<number> {
  await page.goto('about:blank');
  await page.goto(url);
  return rendered(page, 0);
}

async function shot(page: Page, name: string) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function waitFor<T>(f: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a study being tuned: charts draw every trial, and update live without a reload', async () => {
  const db = join(dir, 'runs.db');
  const tune: Child = spawnHone(['tune', join(dir, 'tune.yaml'), '--storage', `sqlite:${db}`]);
  let d: Dashboard | undefined;
  try {
    await waitFor(async () => (existsSync(db) ? true : undefined), 'the storage file');
    d = await startDashboard({ storage: `sqlite:${db}`, port: 0, host: '127.0.0.1', pollMs: 200 });
    const dash = d;
    const { page, errors } = await watchedPage(browser);
    await page.setViewportSize({ width: 1280, height: 900 });
    let n = await open(page, `${dash.baseUrl}#/study/live`);
    // Marks this document: a reload would lose it.
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    const first = await charts(page);
    const firstComplete = first.find((c) => c.id === 'history')!.series.find((s) => s.name === 'complete')!.points;

    // Live: the page redraws itself as trials finish.
    const later = await waitFor(async () => {
      n = await rendered(page, n, 20_000);
      const c = await charts(page);
      const complete = c.find((x) => x.id === 'history')!.series.find((s) => s.name === 'complete')!.points;
      return complete > firstComplete ? complete : undefined;
    }, 'a live update with more trials');
    assert.ok(later > firstComplete);
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'updated without a reload');

    const { code } = await tune.exit;
    assert.equal(code, 0, tune.err());
    // The last redraw after the study ended shows every trial the storage holds.
    const final = await waitFor(async () => {
      const api = (await (await fetch(`${dash.baseUrl}api/studies`)).json()) as { studies: { states: Record<string, number> }[] };
      const states = api.studies[0]!.states;
      const c = await charts(page);
      const history = c.find((x) => x.id === 'history')!;
      const complete = history.series.find((s) => s.name === 'complete')!.points;
      const pruned = history.series.find((s) => s.name === 'pruned (last value)')?.points ?? 0;
      return complete === states.complete && pruned === states.pruned && states.complete + states.pruned === 14 ? { c, states } : undefined;
    }, 'the finished study on the page');
    const ids = final.c.map((x) => x.id);
    for (const id of ['history', 'importance', 'intermediate', 'parallel', 'slice', 'contour-pick'])
      assert.ok(ids.includes(id), `${id} in ${ids}`);
    for (const c of final.c) assert.ok(c.painted > 500, `chart ${c.id} painted only ${c.painted} pixels`);
    assert.equal(final.c.find((x) => x.id === 'parallel')!.series[0]!.points, final.states.complete);
    assert.equal(final.c.find((x) => x.id === 'slice')!.series[0]!.points, final.states.complete);
    const curves = final.c.find((x) => x.id === 'intermediate')!.series;
    const steps = curves.reduce((a, s) => a + s.points, 0);
    assert.ok(steps >= 14 && steps <= 14 * 5, `intermediate points ${steps}`);
    assert.equal(await page.locator('table[data-table=trials] tbody tr').count(), 14);

    // The table: filter, sort, a trial's details.
    await page.selectOption('select[aria-label="trial state"]', 'pruned');
    assert.equal(await page.locator('table[data-table=trials] tbody tr').count(), final.states.pruned);
    await page.selectOption('select[aria-label="trial state"]', 'all');
    await page.fill('input[aria-label="filter trials"]', 'tanh');
    const tanhRows = await page.locator('table[data-table=trials] tbody tr').count();
    assert.ok(tanhRows > 0 && tanhRows < 14);
    await page.fill('input[aria-label="filter trials"]', '');
    await page.click('table[data-table=trials] th:has-text("value")');
    await page.click('table[data-table=trials] th:has-text("value")');
    const values = await page.locator('table[data-table=trials] tbody tr td:nth-child(3)').allTextContents();
    const nums = values.filter((v) => v !== '').map(Number);
    assert.deepEqual(
      nums,
      [...nums].sort((a, b) => b - a),
      'sorted by value, descending',
    );
    await page.click('table[data-table=trials] tbody tr >> nth=0');
    assert.match((await page.locator('tr.detail').textContent()) ?? '', /parameters\{"lr"/);

    // Another pair of parameters for the contour.
    await page.selectOption('select[aria-label="contour x"]', 'lr');
    await page.selectOption('select[aria-label="contour y"]', 'act');
    await page.waitForFunction(() =>
      (window as unknown as PageGlobals).echarts
        .getInstanceByDom(document.querySelector('[data-chart=contour-pick]'))
        .getOption()
        .yAxis[1].name.startsWith('act'),
    );
    const contourName = await page.evaluate(
      () =>
        (window as unknown as PageGlobals).echarts.getInstanceByDom(document.querySelector('[data-chart=contour-pick]')).getOption()
          .yAxis[1].name as string,
    );
    assert.match(contourName, /^act \(0=relu, 1=tanh\)$|^act \(0=tanh, 1=relu\)$/);
    await shot(page, 'study');

    await open(page, dash.baseUrl);
    assert.match((await page.locator('table[data-table=studies] tbody tr').textContent()) ?? '', /^liveminimize14/);
    await shot(page, 'overview');
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    if (tune.p.exitCode === null) tune.p.kill('SIGINT');
    await tune.exit;
    await d?.close();
  }
});

test('training runs overlaid, growing live; corrupt lines counted; reports side by side; hostile names stay text', async () => {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const rec = (e: number, loss: number) =>
    JSON.stringify({
      epoch: e,
      step: e * 100,
      lr: 0.01 * 0.5 ** e,
      trainLoss: loss,
      trainAccuracy: 1 - loss / 4,
      valLoss: loss * 1.1,
      valAccuracy: 0.9 - loss / 5,
      samplesPerSec: 5000,
      seconds: e,
    });
  const header = JSON.stringify({
    run: { model: 'zoo:lenet5', data: 'mnist', flags: { optimizer: 'sgd', lr: '0.1' }, started: '2026-12-04T10:00:00Z' },
  });
  writeFileSync(join(logs, 'a.jsonl'), `${header}\n${rec(1, 2)}\n${rec(2, 1.4)}\n{"epoch": 3, "trai\n`);
  writeFileSync(join(logs, 'b.jsonl'), `${rec(1, 2.5)}\n`);
  cpSync(join(import.meta.dirname, '..', '..', 'examples'), join(logs, 'examples'), { recursive: true });
  writeFileSync(
    join(logs, 'lr.json'),
    JSON.stringify({
      lrs: [1e-5, 1e-4, 1e-3, 1e-2],
      losses: [2.3, 2.1, 1.2, 4],
      smoothed: [2.3, 2.2, 1.6, 2.4],
      suggestedLr: 1e-3,
      suggestedIndex: 2,
      stoppedEarly: true,
    }),
  );
  // A study whose name and parameter would be markup if a page pasted them as HTML.
  const evil = '<img src=x onerror="document.title=`pwned`">';
  const db = join(dir, 'evil.db');
  const s = new SqliteStorage(db);
  const study = await createStudy({ storage: s, name: evil, sampler: new RandomSampler({ seed: 1 }) });
  for (let i = 0; i < 4; i++) {
    const t = await study.ask();
    const v = t.suggestFloat('<b>x</b>', 0, 1);
    await study.tell(t, v);
  }
  await s.close();

  const d = await startDashboard({ storage: `sqlite:${db}`, logs, port: 0, host: '127.0.0.1', pollMs: 200 });
  try {
    const { page, errors } = await watchedPage(browser);
    page.on('dialog', (dlg) => {
      errors.push(`dialog: ${dlg.message()}`);
      void dlg.dismiss();
    });
    await page.setViewportSize({ width: 1280, height: 900 });
    let n = await open(page, `${d.baseUrl}#/runs?file=a.jsonl&file=b.jsonl`);
    const loss = () => charts(page).then((c) => c.find((x) => x.id === 'loss')!);
    const first = await loss();
    assert.deepEqual(
      first.series.map((x) => [x.name, x.points]),
      [
        ['a: train loss', 2],
        ['a: validation loss', 2],
        ['b: train loss', 1],
        ['b: validation loss', 1],
      ],
    );
    assert.ok(first.painted > 500);
    const runA = await page.locator('table[data-table=runs] tbody tr').first().locator('td').allTextContents();
    assert.deepEqual(
      [runA[0], runA[1], runA[2], runA[3], runA[4], runA[8]],
      ['a.jsonl', 'zoo:lenet5', 'mnist', 'optimizer=sgd lr=0.1', '2', '1 skipped'],
    );
    // The run goes on: a new epoch appears without a reload.
    appendFileSync(join(logs, 'b.jsonl'), `${rec(2, 1.9)}\n`);
    await waitFor(async () => {
      n = await rendered(page, n);
      return (await loss()).series[2]!.points === 2 ? true : undefined;
    }, 'the new epoch on the page');
    await shot(page, 'runs');

    await open(page, `${d.baseUrl}#/reports?file=lr.json&file=lr.json`);
    const frame = page.frameLocator('iframe >> nth=0');
    await frame.locator('h1').waitFor();
    assert.match((await frame.locator('body').textContent()) ?? '', /1e-3|0\.001/);

    // Two real profiles compared measure by measure, with their op types side by side.
    for (const [model, file] of [
      ['zoo:lenet5', 'p-lenet.json'],
      ['zoo:mlp', 'p-mlp.json'],
    ] as const) {
      const r = await hone('profile', model, '--json', '--runs', '3', '--warmup', '1', '--batch-sizes', '1');
      assert.equal(r.code, 0, r.stderr);
      writeFileSync(join(logs, file), r.stdout);
    }
    await open(page, `${d.baseUrl}#/compare?a=p-lenet.json&b=p-mlp.json`);
    const measures = await page.locator('table[data-table=compare] tbody tr td:first-child').allTextContents();
    assert.ok(measures.includes('latency p50') && measures.includes('parameters'), measures.join());
    const cmp = (await charts(page)).find((c) => c.id === 'compare-ops')!;
    assert.deepEqual(
      cmp.series.map((x) => x.name),
      ['A: p-lenet.json', 'B: p-mlp.json'],
    );
    assert.ok(cmp.painted > 500);

    await open(page, `${d.baseUrl}#/study/${encodeURIComponent(evil)}`);
    assert.equal(await page.locator('main img').count(), 0);
    assert.equal(await page.locator('main b').count(), 0);
    assert.equal(await page.locator('h1').textContent(), `Study ${evil}`);
    assert.notEqual(await page.title(), 'pwned');
    await open(page, d.baseUrl);
    assert.equal(await page.locator('main img').count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await d.close();
  }
});

test('a writable dashboard: the token URL sets the cookie, and the page marks a running trial failed', async () => {
  const file = join(dir, 'mark.db');
  const s = new SqliteStorage(file);
  const study = await createStudy({ storage: s, name: 'by-hand', sampler: new RandomSampler({ seed: 3 }) });
  for (let i = 0; i < 3; i++) {
    const t = await study.ask();
    t.suggestFloat('x', 0, 1);
    if (i < 2) await study.tell(t, i);
  }
  await s.close();
  const d = await startDashboard({ storage: `sqlite:${file}`, port: 0, host: '127.0.0.1', writable: true, pollMs: 200 });
  try {
    const { page, errors } = await watchedPage(browser);
    page.on('dialog', (dlg) => void dlg.accept());
    // The printed URL: its token becomes a cookie, the address drops it.
    await page.goto(d.url);
    assert.equal(new URL(page.url()).search, '');
    await open(page, `${d.baseUrl}#/study/by-hand`);
    await page.click('table[data-table=trials] tr[data-trial="2"]');
    const n = Number(await page.evaluate(() => document.documentElement.dataset.rendered));
    await page.click('button:has-text("Mark failed")');
    await rendered(page, n);
    await page.waitForFunction(() => document.querySelector('tr[data-trial="2"] td:nth-child(2)')?.textContent === 'fail');
    assert.match((await page.locator('tr[data-trial="2"]').textContent()) ?? '', /marked failed from hone dashboard/);
    assert.deepEqual(errors, []);
  } finally {
    await d.close();
  }
});
