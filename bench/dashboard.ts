/**
 * hone dashboard on a study of 10,000 trials: how long its page takes to open in headless Chromium.
 *
 * The study (SQLite; four parameters, one categorical; every trial with five intermediate values, a
 * third of them pruned) is written once into a temporary folder. Each run opens the study page in a new
 * browser page and measures from navigation start to the app's first finished render (every chart
 * drawn and the trial table's first page filled), and separately the server's time to answer the
 * page's JSON. Medians of `--runs` runs (default 5). Issue 16's bar: under 2 s.
 *
 *   npm run bench -- dashboard [--trials 10000] [--runs 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDashboard } from '../src/dashboard/server.js';
import { SqliteStorage } from '../src/tune/storage/sqlite.js';
import type { Distribution } from '../src/tune/types.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({ options: { trials: { type: 'string' }, runs: { type: 'string' } } });
const N = Number(flags.trials ?? 10_000);
const RUNS = Number(flags.runs ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-dash-'));
const db = join(dir, 'big.db');
try {
  const t0 = performance.now();
  const storage = new SqliteStorage(db);
  const id = await storage.createStudy('big', ['minimize']);
  const dists: Record<string, Distribution> = {
    lr: { type: 'float', low: 1e-5, high: 1e-1, log: true },
    wd: { type: 'float', low: 0, high: 0.1, log: false },
    layers: { type: 'int', low: 1, high: 8, log: false, step: 1 },
    opt: { type: 'categorical', choices: ['adam', 'sgd', 'adamw'] },
  };
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const start = Date.now() - N * 1000;
  for (let i = 0; i < N; i++) {
    const lr = 10 ** (-5 + 4 * rand());
    const wd = 0.1 * rand();
    const layers = 1 + Math.floor(8 * rand());
    const opt = ['adam', 'sgd', 'adamw'][Math.floor(3 * rand())]!;
    const floor = (Math.log10(lr) + 2.5) ** 2 * 0.1 + (layers - 3) ** 2 * 0.01 + wd + (opt === 'sgd' ? 0.05 : 0);
    const pruned = i % 3 === 2;
    const steps = pruned ? 2 : 5;
    const intermediateValues: Record<number, number> = {};
    let loss = 2;
    for (let s = 0; s < steps; s++) {
      loss = floor + (loss - floor) * 0.5;
      intermediateValues[s] = loss;
    }
    await storage.createTrial(id, {
      state: pruned ? 'pruned' : 'complete',
      values: pruned ? undefined : [loss],
      params: { lr, wd, layers, opt },
      distributions: dists,
      intermediateValues,
      datetimeStart: start + i * 1000,
      datetimeComplete: start + i * 1000 + 800,
    });
  }
  await storage.close();
  console.error(`wrote ${N} trials in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const d = await startDashboard({ storage: `sqlite:${db}`, port: 0, host: '127.0.0.1' });
  const browser = await launchChromium();
  const api: number[] = [];
  const open: number[] = [];
  let bytes = 0;
  try {
    for (let r = 0; r < RUNS + 1; r++) {
      const a = performance.now();
      const res = await fetch(`${d.baseUrl}api/study?name=big`);
      bytes = (await res.arrayBuffer()).byteLength;
      const apiMs = performance.now() - a;
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${d.baseUrl}#/study/big`);
      await page.waitForFunction(() => Number(document.documentElement.dataset.rendered ?? 0) >= 1, undefined, { timeout: 60_000 });
      const ms = await page.evaluate(() => performance.now());
      await page.close();
      // The first run warms the server's and the browser's caches: not counted.
      if (r > 0) {
        api.push(apiMs);
        open.push(ms);
      }
    }
  } finally {
    await browser.close();
    await d.close();
  }
  console.log(`Machine: ${cpuDescription()} × ${cpus().length}, Node ${process.version}, Chromium headless\n`);
  console.log('| study | page JSON | server answer (median) | page open to first full render (median) | runs |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(
    `| ${N} trials, 4 params, 5 intermediate values each | ${(bytes / 1e6).toFixed(1)} MB | ${median(api).toFixed(0)} ms | ${median(open).toFixed(0)} ms | ${RUNS} |`,
  );
} finally {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  else console.error(db);
}
