/** `hone quantize` with the model-input flags every command shares (--shape, --dim, --input, timing). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/ir/model.js';
import { writeNpy } from '../helpers/npz.js';
import { sampleRateModel } from '../runtime/helpers.js';
import { hone as cli } from '../helpers/cli.js';

let dir = '';
let rate = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-quantize-inputs-'));
  rate = join(dir, 'rate.onnx');
  saveModel(sampleRateModel(), rate);
  const x = { data: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), dims: [16, 4] };
  mkdirSync(join(dir, 'calib'));
  writeNpy(join(dir, 'calib', 'x.npy'), x);
  mkdirSync(join(dir, 'calib-sr'));
  writeNpy(join(dir, 'calib-sr', 'x.npy'), x);
  writeNpy(join(dir, 'calib-sr', 'sr.npy'), { data: new Float32Array(16).fill(16000), dims: [16] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('--input sr=16000 reaches the fidelity and latency runs; --shape sets the timed shape', async () => {
  const out = join(dir, 'rate.int8.onnx');
  const without = await cli('quantize', rate, '-o', out, '--no-latency');
  assert.equal(without.code, 2);
  assert.match(
    without.stderr,
    /^hone: input 'sr' is a scalar, which synthetic samples cannot give; pass its value with --input sr=VALUE\n$/,
  );
  const r = await cli(
    'quantize',
    rate,
    '-o',
    out,
    '--input',
    'sr=16000',
    '--shape',
    'x=2x4',
    '--runs',
    '1',
    '--warmup',
    '0',
    '--threads',
    '1',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.ok(json.fidelity.samples > 0 && json.fidelity.cosine > 0.99, JSON.stringify(json.fidelity));
  assert.deepEqual(
    json.latency.inputs.map((i: { name: string; shape: number[] }) => [i.name, i.shape]),
    [
      ['x', [2, 4]],
      ['sr', []],
    ],
  );
  assert.equal(json.latencyByBatch, undefined, 'one batch size: the one --shape sets');
});

test('static calibration is fed the --input value; data and --input giving the same input is an error', async () => {
  const out = join(dir, 'rate.qdq.onnx');
  const r = await cli(
    'quantize',
    rate,
    '-o',
    out,
    '--mode',
    'static',
    '--calib',
    join(dir, 'calib'),
    '--input',
    'sr=16000',
    '--no-latency',
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).fidelity.cosine > 0.9);
  const both = await cli(
    'quantize',
    rate,
    '-o',
    out,
    '--mode',
    'static',
    '--calib',
    join(dir, 'calib-sr'),
    '--input',
    'sr=16000',
    '--no-latency',
  );
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^hone: both .*calib-sr and --input sr=16000 give input 'sr'; drop one\n$/);
});

test('the batch size is set once: conflicting flags are one line and exit 2', async () => {
  const out = join(dir, 'c.onnx');
  const cases: [string[], RegExp][] = [
    [
      ['--dim', 'batch=4', '--batch-sizes', '1,8', '--no-latency'],
      /--dim batch=4 sets the batch size to 4, --batch-sizes to 1,8; drop one of them/,
    ],
    [['--shape', 'x=2x4', '--batch-size', '8'], /--shape x=2x4 sets the batch size to 2, --batch-sizes to 8/],
    [['--batch-size', '2', '--batch-sizes', '1'], /give one of them/],
    [['--dim', 'seq=4'], /--dim names 'seq', but no input has that symbolic dim; the symbolic dims are: batch/],
    [['--provider', 'tpu'], /provider 'tpu' is not supported/],
  ];
  for (const [args, re] of cases) {
    const r = await cli('quantize', rate, '-o', out, '--input', 'sr=16000', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^hone: [^\n]+\n$/, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
});
