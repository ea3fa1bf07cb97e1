// `hone demo` end to end, shrunk: HONE_DEMO_SAMPLES trains on a few digits and a tiny budget leaves the
// search mostly skipped. HOME is a temporary folder, so the trained-model cache (and the pass cache) never
// touch the user's ~/.cache/hone. Checks the three output files, the before/after table, the cache reused on
// a second run (and ignored with --retrain), Ctrl-C leaving nothing behind, and one-line exit-2 errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { honeArgs as cli } from '../helpers/cli.js';
import { main } from '../../src/cli/main.js';
import { cacheName, SAMPLES_ENV } from '../../src/cli/commands/demo.js';
import { loadModel } from '../../src/ir/model.js';

let dir = '';
let cacheDir = '';
const startDir = process.cwd();
const env = { HOME: process.env.HOME, samples: process.env[SAMPLES_ENV] };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-demo-'));
  process.env.HOME = join(dir, 'home');
  mkdirSync(process.env.HOME);
  cacheDir = join(process.env.HOME, '.cache', 'hone', 'demo');
  process.env[SAMPLES_ENV] = '256';
});
after(() => {
  process.chdir(startDir);
  process.env.HOME = env.HOME;
  if (env.samples === undefined) delete process.env[SAMPLES_ENV];
  else process.env[SAMPLES_ENV] = env.samples;
  rmSync(dir, { recursive: true, force: true });
});

const FILES = ['candidates.json', 'model.onnx', 'report.html', 'report.json'];

test('trains once and caches the model, optimizes it, prints the table; a second run reuses the cache, --retrain does not', async () => {
  const out = join(dir, 'out');
  const first = await cli(['demo', '-o', out, '--budget', '3s']);
  assert.equal(first.code, 0, first.stderr);
  // Progress as plain lines, one per epoch at least, though stdout is not a terminal.
  assert.match(first.stderr, /^… training zoo:lenet5:\S+ on 256 MNIST digits/m);
  for (let e = 1; e <= 4; e++) assert.match(first.stderr, new RegExp(`^… epoch ${e}/4: loss \\d`, 'm'));
  assert.ok(!first.stderr.includes('\r'));
  assert.match(first.stdout, /trained in \d+ s \(4 epochs on 256 MNIST digits\); cached at /);
  assert.match(first.stdout, /baseline \(ORT fp32, default settings\)\s+chosen/);
  assert.match(first.stdout, /^latency\s+\d/m);
  assert.match(first.stdout, /Tried \d+ candidate\(s\)/);
  assert.match(first.stdout, /hone optimize your-model\.onnx -o/);
  assert.deepEqual(readdirSync(out).sort(), FILES);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.tool, 'hone optimize');
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /^<!doctype html>/i);
  assert.equal(report.goal, 'latency');
  assert.equal(report.maxAccuracyDrop, 1);
  assert.equal(report.budgetSeconds, 3);
  assert.equal(report.data.calibration !== undefined, true, 'calibrated on MNIST: static int8 is a candidate');
  assert.ok(loadModel(join(out, 'model.onnx')).graph!.node.length > 0);
  const cached = join(cacheDir, cacheName(256));
  assert.match(cacheName(256), /^lenet5_.*-n256\.hone-\d+\.\d+\.\d+.*\.onnx$/);
  assert.deepEqual(readdirSync(cacheDir), [cacheName(256)], 'the cache holds the model only: no temporary file left');
  const accuracy = Number(/test accuracy (\d+\.\d+)%/.exec(first.stdout)![1]);

  // Cached: no training; the default OUT_DIR is ./hone-demo.
  process.chdir(dir);
  const second = await cli(['demo', '--budget', '0', '--json']);
  process.chdir(startDir);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /using the trained model cached at .*-n256\./);
  assert.doesNotMatch(second.stderr, /epoch 1/);
  const json = JSON.parse(second.stdout);
  assert.equal(json.output, 'hone-demo');
  assert.equal(json.trained.cached, true);
  assert.equal(json.trained.path, cached);
  assert.equal((100 * json.trained.testAccuracy).toFixed(2), accuracy.toFixed(2), 'the accuracy is kept with the cached model');
  assert.equal(json.tool, 'hone optimize');
  assert.deepEqual(readdirSync(join(dir, 'hone-demo')).sort(), FILES);

  // --retrain trains again and replaces the cached model; a previous demo output is reused without --force.
  const mtime = statSync(cached).mtimeMs;
  const third = await cli(['demo', '-o', out, '--budget', '0', '--retrain', '-q']);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(third.stderr, '', '-q: no progress');
  assert.match(third.stdout, /trained in \d+ s/);
  assert.ok(statSync(cached).mtimeMs > mtime);
  assert.deepEqual(readdirSync(out).sort(), FILES);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temporary folder left',
  );
});

test('Ctrl-C while training caches nothing; while optimizing writes nothing', async () => {
  const out = join(dir, 'interrupted');
  /** Runs the demo, sending SIGINT (to this process: the demo's handler takes it) when stderr shows `at`. */
  const interruptAt = async (argv: string[], at: RegExp) => {
    let stderr = '';
    let sent = false;
    const code = await main(argv, {
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
        if (!sent && at.test(stderr)) {
          sent = true;
          setImmediate(() => process.emit('SIGINT', 'SIGINT'));
        }
      },
      isTTY: false,
    });
    return { code, stderr };
  };
  process.env[SAMPLES_ENV] = '192';
  try {
    const training = await interruptAt(['demo', '-o', out, '--budget', '0'], /epoch 1\/4/);
    assert.equal(training.code, 130, training.stderr);
    assert.match(training.stderr, /^hone: demo interrupted \(SIGINT\) while training; nothing was cached or written$/m);
    assert.ok(!existsSync(join(cacheDir, cacheName(192))), 'no cached model');
    assert.ok(!existsSync(out));

    // The model of the first test (trained again if that test did not run).
    process.env[SAMPLES_ENV] = '256';
    const optimizing = await interruptAt(['demo', '-o', out, '--budget', '30s'], /^… c1: /m);
    assert.equal(optimizing.code, 130, optimizing.stderr);
    assert.match(optimizing.stderr, /hone: demo interrupted \(SIGINT\) while optimizing; nothing was written to /);
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
      'no temporary folder left',
    );
  } finally {
    process.env[SAMPLES_ENV] = '256';
  }
});

test('bad input: exit 2, one line, before any training', async () => {
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs);
  writeFileSync(join(theirs, 'notes.txt'), 'keep me');
  const cases: { argv: string[]; expect: RegExp; samples?: string }[] = [
    { argv: ['demo', '--budget', 'soon'], expect: /--budget must be a duration/ },
    { argv: ['demo', '--epochs', '3'], expect: /demo: Unknown option '--epochs'.*hone demo --help/ },
    { argv: ['demo', 'zoo:lenet5'], expect: /demo: Unexpected argument 'zoo:lenet5'/ },
    { argv: ['demo', '-o', theirs], expect: /exists and is not the output of a previous 'hone optimize'.*--force/ },
    { argv: ['demo', '-o', join(dir, 'no', 'such', 'folder')], expect: /parent folder does not exist/ },
    { argv: ['demo', '-o', join(dir, 'x')], samples: 'many', expect: new RegExp(`${SAMPLES_ENV} must be an integer >= 1`) },
  ];
  for (const { argv, expect, samples } of cases) {
    if (samples) process.env[SAMPLES_ENV] = samples;
    const started = performance.now();
    const r = await cli(argv);
    process.env[SAMPLES_ENV] = '256';
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^hone: /);
    assert.match(r.stderr, expect);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(performance.now() - started < 5000, 'refused before any slow work');
  }
  assert.deepEqual(readdirSync(theirs), ['notes.txt']);
});

test('--help says what it does and how long it takes', async () => {
  const r = await cli(['demo', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /about \d+ minutes on 2 cores/);
  for (const flag of ['-o, --output', '--budget', '--force', '--retrain', '--json', '-q, --quiet'])
    assert.ok(r.stdout.includes(flag), flag);
});
