// `hone profile --train` and `hone train --profile` end to end, in-process (test/helpers/cli.ts), with a
// few small steps: the training profile as JSON and text, and a model Hone cannot train falling back to
// the inference profile with the reason. No timing is asserted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/ir/model.js';
import { coreThreads } from '../../src/runtime/cpu.js';
import { hone } from '../helpers/cli.js';
import { behindOp, opWithoutGradient, withoutParams } from '../helpers/untrainable.js';

let dir = '';
/** The op the untrainable model ends in: one ORT runs and Hone has no gradient for (none left: a model without weights). */
let op: string | undefined;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-profile-train-'));
  op = opWithoutGradient();
  saveModel(op ? behindOp(op) : withoutParams(), join(dir, 'untrainable.onnx'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const quick = ['--runs', '2', '--warmup', '1', '--threads', '1', '--quiet'];

test('profile --train zoo:lenet5 --json: the step split into forward, backward and the optimizer, and the kernels ORT ran', async () => {
  const { code, stdout, stderr } = await hone('profile', '--train', 'zoo:lenet5', '--json', '--batch-size', '8', ...quick);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim().split('\n').length, 1);
  const p = JSON.parse(stdout);
  assert.deepEqual([p.model.source, p.settings.batchSize, p.settings.steps, p.settings.warmup], ['zoo:lenet5', 8, 2, 1]);
  const { forward, backward, optimizer } = p.phases;
  for (const ph of [forward, backward, optimizer]) assert.ok(ph.share > 0);
  assert.ok(Math.abs(forward.share + backward.share + optimizer.share - 1) < 1e-9);
  const k = (pass: 'forwardNodes' | 'backwardNodes', re: RegExp) =>
    p.kernels.filter((r: { opType: string }) => re.test(r.opType)).reduce((s: number, r: Record<string, number>) => s + r[pass]!, 0);
  assert.equal(k('forwardNodes', /^(Fused)?Conv$/), 2);
  // Both weight gradients are Convs; conv2's input gradient stays a ConvTranspose (a 'valid' 5×5 conv: as a
  // flipped Conv it would compute 1.96x the positions, ops/grad/nn.ts).
  assert.equal(k('backwardNodes', /^Conv$/), 2);
  assert.equal(k('backwardNodes', /^ConvTranspose$/), 1);
  for (const f of ['standard', 'fused', 'nchwc', 'reorder', 'grouped']) assert.equal(typeof p.forms[f].nodes, 'number', f);
  assert.ok(p.step.samplesPerSec > 0 && p.step.profiled.samplesPerSec > 0 && p.step.dataShare >= 0);
  assert.ok(p.static.flops > 0 && p.machine.peakFlops > 0);
  assert.match(p.bottleneck.summary, /at batch 8/);
  assert.ok(Array.isArray(p.warnings));
});

test('profile --train without --threads runs the step at one thread per core, as hone train does', async () => {
  const { code, stdout, stderr } = await hone(
    'profile',
    '--train',
    'zoo:lenet5',
    '--json',
    '--batch-size',
    '8',
    '--runs',
    '2',
    '--warmup',
    '1',
    '--quiet',
  );
  assert.equal(code, 0, stderr);
  assert.equal(JSON.parse(stdout).settings.threads, coreThreads());
});

test('profile --train prints the step, the passes, the kernel table and the verdict', async () => {
  const { code, stdout, stderr } = await hone('profile', '--train', 'zoo:lenet5', '--batch-size', '8', ...quick);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^model\s+zoo:lenet5\s+\(training step: \d+ nodes built, \d+ kernels as ORT ran them/);
  assert.match(stdout, /\nstep\s+[\d.]+ ms mean .* samples\/s; under profiling [\d.]+ ms/);
  assert.match(stdout, /\npasses\s+forward [\d.]+% .*, backward [\d.]+% .*, optimizer [\d.]+% /);
  assert.match(stdout, /\nkernels\s+fused \d+ .*NCHWc \d+ .*reorders.*grouped convolutions \d+/);
  assert.match(stdout, /op type \(as ORT ran it\)\s+fwd nodes\s+fwd ms\s+bwd nodes\s+bwd ms\s+ms\/step\s+share/);
  assert.match(stdout, /\nadam update \(WebAssembly SIMD\)\s+[\d.]+\s+[\d.]+%/);
  assert.match(stdout, /\nverdict\s+(\w+-bound|undecided) at batch 8/);
});

test('profile --train on a model Hone cannot train: the inference profile, and one line with the reason', async () => {
  const model = join(dir, 'untrainable.onnx');
  const reason = op ? new RegExp(`no gradient rule for op ${op}\\b`) : /nothing to train/;
  const json = await hone('profile', '--train', model, '--json', '--batch-size', '2', ...quick);
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.match(r.training.refused, reason);
  assert.equal(r.batches[0].batchSize, 2);
  assert.ok(r.opTypes.some((o: { opType: string }) => o.opType === (op ?? 'Relu')));
  const text = await hone('profile', '--train', model, '--batch-size', '2', ...quick);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.match(lines[0]!, /^training\s+not profiled: /);
  assert.match(lines[0]!, reason);
  assert.equal(lines.filter((l) => /not profiled/.test(l)).length, 1);
  assert.ok(lines.some((l) => /^model\s+.*untrainable\.onnx/.test(l)));
  assert.ok(lines.some((l) => /^verdict\s+/.test(l)));
});

test('train --profile profiles the steps train would run and writes nothing; an untrainable model is an error there', async () => {
  const out = join(dir, 'never.onnx');
  const r = await hone(
    'train',
    '--model',
    'zoo:lenet5',
    '--batch-size',
    '8',
    '--optimizer',
    'sgd',
    '--profile',
    '--profile-steps',
    '2',
    '--json',
    '--quiet',
    '-o',
    out,
  );
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.deepEqual([p.settings.optimizer, p.settings.steps, p.settings.batchSize], ['sgd', 2, 8]);
  assert.ok(p.phases.optimizer.share > 0);
  assert.equal(existsSync(out), false);
  const bad = await hone('train', '--model', join(dir, 'untrainable.onnx'), '--batch-size', '2', '--profile', '--quiet');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, op ? new RegExp(`no gradient rule for op ${op}\\b`) : /nothing to train/);
});

test('flags that only make sense with --train, and --train flags it cannot take, are one-line errors', async () => {
  const cases: [string[], RegExp][] = [
    [['profile', 'zoo:lenet5', '--data', 'mnist'], /--data is for profiling a training step; add --train/],
    [['profile', '--train', 'zoo:lenet5', '--html', join(dir, 'x.html')], /--html is not available with --train/],
    [['profile', '--train', 'zoo:lenet5', '--batch-sizes', '1,8'], /--train profiles one batch size/],
    [['profile', '--train', 'zoo:lenet5', '--no-dynamic'], /drop --no-dynamic/],
    [['train', '--model', 'zoo:lenet5', '--profile-steps', '2', '-o', join(dir, 'y.onnx')], /--profile-steps needs --profile/],
  ];
  for (const [argv, re] of cases) {
    const r = await hone(...argv, '--quiet');
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
