import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/ir/model.js';
import { MODEL_INPUT_HELP, TIMING_HELP } from '../../src/cli/model-flags.js';
import { writeNpy } from '../helpers/npz.js';
import { sampleRateModel, tinyMlp, twoInputs, unknownOpModel, unnamedDims, vadLike } from '../runtime/helpers.js';
import { hone } from '../helpers/cli.js';
import { HONE_NODE_ARGS } from '../helpers/spawn.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-profile-cli-'));
  saveModel(tinyMlp(), join(dir, 'mlp.onnx'));
  saveModel(twoInputs(), join(dir, 'two.onnx'));
  saveModel(unknownOpModel(), join(dir, 'unknown-op.onnx'));
  saveModel(vadLike(), join(dir, 'vad-like.onnx'));
  saveModel(sampleRateModel(), join(dir, 'rate.onnx'));
  saveModel(unnamedDims(), join(dir, 'unnamed.onnx'));
  writeNpy(join(dir, 'x2.npy'), { data: new Float32Array(32), dims: [2, 16] });
  writeFileSync(join(dir, 'text.onnx'), 'this is not a model\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

// --quiet: the error cases below assert stderr is exactly one line, without the progress lines before it.
const quick = ['--runs', '2', '--warmup', '1', '--threads', '1', '--quiet'];

test('profile --json prints one JSON object with the documented fields', async () => {
  const { code, stdout, stderr } = await hone('profile', join(dir, 'mlp.onnx'), '--json', '--batch-sizes', '1,2', ...quick);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim().split('\n').length, 1);
  const r = JSON.parse(stdout);
  assert.equal(r.params, 640);
  assert.ok(r.bytes > 2560);
  assert.equal(r.macs, 640);
  for (const o of r.opTypes)
    assert.deepEqual(
      ['opType', 'count', 'macs', 'timeShare'].filter((k) => !(k in o)),
      [],
    );
  assert.deepEqual(
    r.batches.map((b: { batchSize: number }) => b.batchSize),
    [1, 2],
  );
  for (const b of r.batches) {
    const l = b.latencyMs;
    assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99);
    assert.ok(b.throughput > 0);
    // Every latency comes with its spread, and the figure the verdict used.
    assert.ok(l.mad >= 0 && l.cv >= 0 && l.tail >= 1 && l.rounds >= 1 && l.runs === 2 * l.rounds, JSON.stringify(l));
    assert.ok(l.floor > 0 && l.floor <= l.max);
  }
  assert.equal(typeof r.machine.peaksCheck, 'string');
  assert.ok(r.bottleneck.candidates.length >= 1);
  assert.equal(typeof r.peakMemoryBytes, 'number');
  assert.ok(['compute', 'memory', 'overhead'].includes(r.bottleneck.kind));
  assert.ok(Array.isArray(r.bottleneck.advice));
  assert.ok(r.machine.peakFlops > 0 && r.machine.bandwidth > 0);
});

test('profile prints tables, and --html writes a self-contained report', async () => {
  const html = join(dir, 'report.html');
  const { code, stdout, stderr } = await hone('profile', 'zoo:lenet5', '--html', html, '--batch-sizes', '1', ...quick);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^model\s+zoo:lenet5/);
  assert.match(stdout, /batch\s+p50 ms\s+p90 ms\s+p99 ms\s+cv\s+runs\s+floor ms/);
  assert.match(stdout, /\n\s+peaks (measured|cached)/);
  assert.match(stdout, /verdict\s+(\w+-bound|undecided) at batch 1/);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!doctype html>/);
  assert.ok((page.match(/<svg /g) ?? []).length >= 3, 'time share, MACs and latency charts');
  assert.match(page, /<h1>Profile of zoo:lenet5<\/h1>/);
  assert.match(page, />latency \(ms\)<\/text>/, 'the latency axis is named with its unit');
  // Nothing from outside the file: the charts' url(#…) point at their own clip paths.
  assert.doesNotMatch(page, /<script|<link|src=|href=|url\((?!#)/i);
});

test('--help has working examples', async () => {
  const { code, stdout } = await hone('profile', '--help');
  assert.equal(code, 0);
  assert.match(stdout, /hone profile zoo:lenet5/);
});

test('every bad input is one line on stderr and exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [[join(dir, 'missing.onnx')], /cannot read .*missing\.onnx: no such file/],
    [[join(dir, 'text.onnx')], /not a valid ONNX model|not an ONNX model/],
    [[join(dir, 'unknown-op.onnx')], /no kernel for op 'FrobnicateTensor'/],
    [[join(dir, 'mlp.onnx'), '--shape', 'x:1x16'], /--shape 'x:1x16' is not NAME=DIMS/],
    [[join(dir, 'mlp.onnx'), '--shape', 'y=1x16'], /--shape names 'y', but the model's inputs are: x/],
    [[join(dir, 'mlp.onnx'), '--dim', 'batch'], /--dim 'batch' is not NAME=N/],
    [[join(dir, 'two.onnx')], /input 'ids' has symbolic dim 'seq'; pass --dim seq=N/],
    [[join(dir, 'mlp.onnx'), '--provider', 'tpu'], /provider 'tpu' is not supported/],
    [[join(dir, 'mlp.onnx'), '--batch-sizes', '1,x'], /--batch-sizes '1,x' is not a comma-separated list/],
    [[join(dir, 'mlp.onnx'), '--runs', '0'], /--runs must be an integer >= 1/],
    [[join(dir, 'mlp.onnx'), '--bogus'], /Unknown option '--bogus'.*hone profile --help/],
    [
      [join(dir, 'mlp.onnx'), '--dim', 'batch=4', '--batch-sizes', '1,8'],
      /--dim batch=4 sets the batch size to 4, --batch-sizes to 1,8; drop one of them/,
    ],
    [[join(dir, 'mlp.onnx'), '--shape', 'x=2x16', '--batch-sizes', '8'], /--shape x=2x16 sets the batch size to 2, --batch-sizes to 8/],
    [
      [join(dir, 'mlp.onnx'), '--batch-size', '2', '--batch-sizes', '1'],
      /--batch-sizes 1 and --batch-size 2 both set the batch sizes; give one of them/,
    ],
    [
      [join(dir, 'mlp.onnx'), '--shape', 'x=1x16', '--input', `x=${join(dir, 'x2.npy')}`],
      /--shape x=1x16 and --input x=.*x2\.npy \(shape \[2,16\]\) disagree/,
    ],
    [
      [join(dir, 'mlp.onnx'), '--dim', 'batch=1', '--input', `x=${join(dir, 'x2.npy')}`],
      /--input x=.*x2\.npy makes 'batch' 2, but --dim batch=1 makes it 1/,
    ],
    [[join(dir, 'rate.onnx'), '--input', 'sr=16000.5'], /input 'sr' is int64, and 16000\.5 is not a whole number/],
    [[join(dir, 'rate.onnx'), '--input', 'rate=16000'], /--input names 'rate', but the model's inputs are: x, sr/],
    [[join(dir, 'unnamed.onnx')], /input 'x' has symbolic dim 'x_dim1' \(dim 1, unnamed in the model\); pass --dim x_dim1=N/],
    [[], /profile needs exactly one MODEL/],
    [['zoo:nosuchmodel'], /nosuchmodel/],
  ];
  for (const [args, re] of cases) {
    const { code, stdout, stderr } = await hone('profile', ...quick, ...args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.match(stderr, /^hone: [^\n]+\n$/, args.join(' '));
    assert.match(stderr, re, args.join(' '));
  }
});

test('--input values reach the timing runs: a model that only runs at sr=16000', async () => {
  const without = await hone('profile', join(dir, 'rate.onnx'), ...quick, '--batch-sizes', '1');
  assert.equal(without.code, 2);
  assert.match(
    without.stderr,
    /^hone: onnxruntime failed to run the model .*Reshape.*; 'sr' got random data; if it needs a real value, pass --input sr=VALUE\n$/,
  );
  const { code, stdout, stderr } = await hone('profile', join(dir, 'rate.onnx'), ...quick, '--input', 'sr=16000', '--json');
  assert.equal(code, 0, stderr);
  assert.deepEqual(
    JSON.parse(stdout).batches.map((b: { batchSize: number }) => b.batchSize),
    [1, 8],
  );
});

test('fixing dims never makes ORT refuse a model it loads: a VAD-like If/LSTM model runs at batch 1', async () => {
  const { code, stdout, stderr } = await hone(
    'profile',
    join(dir, 'vad-like.onnx'),
    ...quick,
    '--dim',
    'batch=1',
    '--input',
    'sr=16000',
    '--json',
  );
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout);
  assert.deepEqual(
    r.batches.map((b: { batchSize: number }) => b.batchSize),
    [1],
    '--dim batch=1 sets the batch',
  );
  assert.ok(r.macs > 0, 'static analysis runs on the fixed model');
});

test('dims the model leaves unnamed are sized by their stable names', async () => {
  const { code, stdout, stderr } = await hone(
    'profile',
    join(dir, 'unnamed.onnx'),
    ...quick,
    '--dim',
    'x_dim0=2',
    '--dim',
    'x_dim1=5',
    '--json',
  );
  assert.equal(code, 0, stderr);
  assert.deepEqual(
    JSON.parse(stdout).batches.map((b: { batchSize: number }) => b.batchSize),
    [2],
  );
});

test('every command that runs a model shows the same model-input block, and the timing commands the same timing block', async () => {
  for (const command of ['profile', 'quantize', 'train', 'lr-find']) {
    const { code, stdout } = await hone(command, '--help');
    assert.equal(code, 0);
    assert.ok(stdout.includes(MODEL_INPUT_HELP), command);
    assert.equal(stdout.includes(TIMING_HELP), command === 'profile' || command === 'quantize', command);
  }
});

test('the CLI as a child process: exit code 0 and JSON on stdout', () => {
  const bins: [string, string[]][] = [[process.execPath, [...HONE_NODE_ARGS]]];
  // The built CLI too, when `npm run build` has produced it (its worker is the compiled .js file).
  if (existsSync('dist/cli/bin.js') && existsSync('dist/runtime/measure-worker.js')) bins.push([process.execPath, ['dist/cli/bin.js']]);
  for (const [cmd, pre] of bins) {
    const r = spawnSync(cmd, [...pre, 'profile', 'zoo:mlp', '--json', '--batch-sizes', '1,2', ...quick], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${pre.join(' ')}: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      report.batches.map((b: { batchSize: number }) => b.batchSize),
      [1, 2],
    );
    assert.ok(report.macs > 0);
    const bad = spawnSync(cmd, [...pre, 'profile', 'nope.onnx'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^hone: cannot read nope\.onnx: no such file; check the path\n$/);
  }
});
