import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { zooModel } from '../../src/zoo/index.js';
import { floatInput, run, trainedMnistMlp } from './helpers.js';
import { honeArgs as cli } from '../helpers/cli.js';
import { writeNpy } from '../helpers/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'hone-quantize-'));
const small = 'zoo:transformer:layers=1,dModel=32,heads=2,ffn=64';

test('cli dynamic: writes a model ORT loads, JSON reports size, fidelity and node decisions', async () => {
  const out = join(dir, 't.int8.onnx');
  const r = await cli(['quantize', small, '-o', out, '--json', '--no-latency', '--dim', 'seq=8']);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.mode, 'dynamic');
  assert.ok(json.fidelity.cosine > 0.99);
  assert.ok(json.size.ratio < 0.5);
  assert.equal(json.report.nodes.filter((d: { quantized: boolean }) => d.quantized).length, 6);
  const m = loadModel(out);
  await run(m, { input: floatInput([2, 8, 32]) });
});

test('cli static on a trained MNIST model: calibrated on train digits, an accuracy target met on test digits at real accuracy, an HTML report', async () => {
  const model = join(dir, 'mlp-trained.onnx');
  saveModel(await trainedMnistMlp(), model);
  const out = join(dir, 'mlp.int8.onnx');
  const html = join(dir, 'mlp.html');
  const r = await cli([
    'quantize',
    model,
    '-o',
    out,
    '--mode',
    'static',
    '--method',
    'percentile',
    '--calib',
    'mnist',
    '--eval',
    'mnist',
    '--samples',
    '500',
    '--max-accuracy-drop',
    '1',
    '--html',
    html,
    '--runs',
    '2',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.data, { calibration: 'mnist (train)', evaluation: 'mnist (test)' });
  assert.equal(json.fidelity.samples, 500);
  // The float model is right on ~92% of these digits (chance is 10%): the target is checked against a real accuracy.
  assert.ok(json.fidelity.accuracy.float >= 0.9, JSON.stringify(json.fidelity));
  assert.ok(json.tuning.met && json.tuning.metric === 'accuracy points', JSON.stringify(json.tuning));
  assert.ok(json.fidelity.accuracy.float - json.fidelity.accuracy.quantized <= 0.01, JSON.stringify(json.fidelity));
  assert.ok(
    Math.abs(json.tuning.drop - 100 * (json.fidelity.accuracy.float - json.fidelity.accuracy.quantized)) < 1e-9,
    'the drop reported is the accuracy drop measured',
  );
  assert.ok(json.fidelity.top1Agreement >= 0.98, JSON.stringify(json.fidelity));
  assert.ok(json.latency.floatMs > 0 && json.latency.quantizedMs > 0);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /<svg/);
  assert.doesNotMatch(page, /<script|(src|href)="https?:/, 'self-contained: no scripts, nothing fetched');
});

test('cli fp16 and int4 write loadable models', async () => {
  for (const mode of ['fp16', 'int4']) {
    const out = join(dir, `t.${mode}.onnx`);
    const r = await cli(['quantize', small, '-o', out, '--mode', mode, '--no-latency', '--dim', 'seq=8']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cosine (0\.99|1\.000)/);
    await run(loadModel(out), { input: floatInput([2, 8, 32]) });
  }
});

test('cli static on a model file without --calib: exit 2, says how to fix it', async () => {
  const path = join(dir, 'lenet.onnx');
  saveModel(zooModel('lenet5'), path);
  const r = await cli(['quantize', path, '-o', join(dir, 'x.onnx'), '--mode', 'static']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^hone: static quantization needs calibration data: pass --calib DATA .*input/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('cli: calibration data of the wrong shape names the input and the expected shape', async () => {
  const path = join(dir, 'lenet.onnx');
  saveModel(zooModel('lenet5'), path);
  const data = join(dir, 'bad.npy');
  writeNpy(data, { dims: [4, 3, 28, 28], data: new Float32Array(4 * 3 * 28 * 28) });
  const r = await cli(['quantize', path, '-o', join(dir, 'x.onnx'), '--mode', 'static', '--calib', data]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /array 'input' has shape \[4,3,28,28\], but input 'input' expects \[batch,1,28,28\].*dim 1 must be 1/);
  const good = join(dir, 'good.npy');
  writeNpy(good, { dims: [8, 1, 28, 28], data: floatInput([8, 1, 28, 28]).data as Float32Array });
  const ok = await cli(['quantize', path, '-o', join(dir, 'good.int8.onnx'), '--mode', 'static', '--calib', good, '--no-latency']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('cli: nothing to quantize says so and writes nothing; an unwritable output fails before any work', async () => {
  const b = new GraphBuilder();
  b.op('Relu', [b.input('x', DataType.FLOAT, [2])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  const path = join(dir, 'relu.onnx');
  saveModel(b.model(), path);
  const out = join(dir, 'relu.int8.onnx');
  const r = await cli(['quantize', path, '-o', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^hone: nothing to quantize in dynamic mode/);
  assert.ok(!existsSync(out));
  const missing = await cli(['quantize', small, '-o', join(dir, 'no', 'such', 'dir', 'x.onnx')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^hone: cannot write .*its folder does not exist/);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temp files left');
  const bad = await cli(['quantize', small, '-o', out, '--mode', 'int3']);
  assert.match(bad.stderr, /--mode must be one of dynamic, static, fp16, int4/);
});

test('cli static: --method mse with --equalize and --bias-correction; --budget needs a search to limit', async () => {
  const out = join(dir, 'mse.int8.onnx');
  const r = await cli([
    'quantize',
    'zoo:lenet5',
    '-o',
    out,
    '--mode',
    'static',
    '--method',
    'mse',
    '--equalize',
    '--bias-correction',
    '--samples',
    '64',
    '--json',
    '--no-latency',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.report.settings.calibration, 'mse');
  assert.ok(
    json.report.notes.some((n: string) => /bias correction: \d+ Conv\/Gemm/.test(n)),
    json.report.notes.join('\n'),
  );
  assert.ok(json.fidelity.cosine > 0.99);
  const bad = await cli(['quantize', 'zoo:lenet5', '-o', join(dir, 'b.onnx'), '--mode', 'static', '--no-accuracy-guard', '--budget', '10']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--budget limits the --max-accuracy-drop search or static mode's accuracy guard/);
});

test('cli: -o naming the input model itself (also through another path) is refused and the model is kept', async () => {
  const path = join(dir, 'keep.onnx');
  saveModel(zooModel('lenet5'), path);
  const before = readFileSync(path);
  for (const out of [path, join(dir, '.', 'keep.onnx'), join(dir, '..', dir.split('/').pop()!, 'keep.onnx')]) {
    const r = await cli(['quantize', path, '-o', out, '--no-latency']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^hone: -o .* is the input model itself; write the quantized model to another file/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.deepEqual(readFileSync(path), before);
});
