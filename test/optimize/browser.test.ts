// `hone optimize --target browser`: every candidate timed in headless Chromium with onnxruntime-web, the
// baseline being ORT-web at one thread; a model ORT-web cannot run (ORT's x86 layout ops) is rejected with
// the op named; bad flags are refused before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { optimizeModel } from '../../src/optimize/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { foldConstantsPass } from '../../src/passes/fold.js';
import { dynamicPass } from '../../src/passes/quantize.js';
import { ortOptimizePass } from '../../src/passes/ort-optimize.js';
import { honeArgs as cli } from '../helpers/cli.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'hone-optimize-web-cache-'));
const chromiumCount = () => {
  try {
    return execFileSync('pgrep', ['-c', '-f', 'chromium.*--headless'], { encoding: 'utf8' }).trim();
  } catch {
    return '0';
  }
};

test('browser target: candidates timed in Chromium against ORT-web at one thread; layout ops ORT-web lacks are rejected by name', async () => {
  const before = chromiumCount();
  // ORT's offline optimization at level all writes x86 NCHWc layout ops into a CNN: onnxruntime-node runs them, the WASM build has no kernels.
  const ortAll = { ...ortOptimizePass, defaults: { ...ortOptimizePass.defaults, level: 'all' as const } };
  const r = await optimizeModel({
    model: zooModel('lenet5'),
    target: 'browser',
    batchSizes: [4],
    runs: 5,
    warmup: 1,
    // Ended by trials: a 20 s budget ran out before the screening timed every candidate at load 12 on 2 cores.
    budget: 300,
    maxTrials: 2,
    cacheDir,
    passes: [foldConstantsPass, dynamicPass, ortAll],
  });
  assert.equal(r.report.target, 'browser');
  assert.equal(r.report.baseline.settings.intraOpThreads, 1, 'the baseline is what a page gets without COOP/COEP: one thread');
  assert.ok(r.report.machine.browser?.chromium && r.report.machine.browser.ortWeb.startsWith('1.'), JSON.stringify(r.report.machine));
  assert.ok(r.report.baseline.byBatch[0]!.latencyMs > 0);
  // The WASM session has threads and a level only: no execution mode or memory settings are searched.
  for (const k of r.candidates) assert.equal(k.settings.executionMode, undefined);
  // Screened at the pass's defaults (level all); the search's trials may pick another level, which ORT-web runs.
  const nchwc = r.candidates.filter(
    (k) =>
      !k.reason?.startsWith('the same model as') &&
      k.steps.some((s) => s.pass === 'ort.offline-optimize' && s.status === 'applied' && s.options.level === 'all'),
  );
  assert.ok(nchwc.length > 0, 'the offline-optimized model was built');
  for (const k of nchwc) {
    assert.equal(k.status, 'rejected', `${k.id}: ${k.status} ${k.reason}`);
    assert.match(k.reason!, /onnxruntime-web \(WASM\) has no kernel for op com\.microsoft\.nchwc:/);
  }
  assert.ok(r.candidates.some((k) => k.status === 'measured' && k.metrics.speedup! > 0));
  if (r.report.chosen) {
    assert.match(r.report.conclusion, /onnxruntime-web fp32 \(WASM\) in Chromium/);
    assert.deepEqual(r.report.chosen.sessionOptions.executionProviders, ['wasm']);
  }
  assert.ok(r.report.notes.some((n) => /timed in Chromium .* with onnxruntime-web/.test(n)));
  assert.equal(chromiumCount(), before, 'Chromium is closed at the end');
});

test('browser target: bad flags are refused before any work', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-optimize-web-'));
  const r = await cli(['optimize', 'zoo:lenet5', '-o', join(dir, 'o'), '--target', 'phone', '--quiet']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--target must be node or browser, got 'phone'/);
  const saved = process.env.HONE_CHROMIUM;
  process.env.HONE_CHROMIUM = join(dir, 'no-chromium');
  try {
    const missing = await cli(['optimize', 'zoo:lenet5', '-o', join(dir, 'o'), '--target', 'browser', '--quiet']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Chromium is not at .*no-chromium; install Debian's chromium/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
  } finally {
    if (saved === undefined) delete process.env.HONE_CHROMIUM;
    else process.env.HONE_CHROMIUM = saved;
  }
  assert.throws(() => readFileSync(join(dir, 'o', 'report.json')));
});
