// `hone prune` end to end: unstructured with gradual fine-tuning on MNIST, structured on a residual CNN, the
// report, and bad input (one `hone:` line, exit 2, nothing written).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { prunableWeights, weightSparsity } from '../../src/prune/magnitude.js';
import { lenet5 } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-prune-'));
  saveModel(lenet5(), join(dir, 'lenet.onnx'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('hone prune', () => {
  it('prunes 80% of LeNet-5 gradually while fine-tuning, stores it sparse, reports accuracy', async () => {
    const out = join(dir, 'sparse.onnx');
    const r = await hone(
      'prune',
      join(dir, 'lenet.onnx'),
      '-o',
      out,
      '--sparsity',
      '0.8',
      '--finetune',
      'mnist',
      '--limit',
      '512',
      '--schedule',
      'gradual',
      '--epochs',
      '2',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.ok(Math.abs(rep.achieved - 0.8) < 1e-3, `achieved ${rep.achieved}`);
    assert.ok(rep.sparseTensors >= 1);
    assert.equal(rep.finetune.epochs, 2);
    assert.ok(rep.check.accuracy.before >= 0 && rep.check.accuracy.after >= 0);
    assert.equal(rep.check.source, 'mnist (test)');
    const m = loadModel(out);
    assert.ok(Math.abs(weightSparsity(m, prunableWeights(m)) - 0.8) < 1e-3);
  });

  it('removes half the channels of a residual CNN and prints what it did', async () => {
    const out = join(dir, 'resnet.onnx');
    const r = await hone('prune', 'zoo:resnet:widths=8-16-32', '-o', out, '--structured', 'channels', '--sparsity', '0.5', '--quiet');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /channel groups pruned: 9 of 10/);
    assert.match(r.stdout, /kept whole \(1 group/);
    assert.match(r.stdout, /graph output/);
    assert.match(r.stdout, /checked in ONNX Runtime on 32 samples of random inputs/);
    assert.match(r.stdout, /latency +[\d.]+ → [\d.]+ ms at batch 1 \([\d.]+x faster/);
    assert.ok(existsSync(out));
  });

  it("prunes a PyTorch export's FFN channels, keeps what its attention reshapes, and sizes the check with --dim", async () => {
    const out = join(dir, 'encoder.onnx');
    const model = join(import.meta.dirname, '..', 'corpus', 'models', 'tiny-encoder.onnx');
    const r = await hone(
      'prune',
      model,
      '-o',
      out,
      '--structured',
      'channels',
      '--sparsity',
      '0.5',
      '--dim',
      'sequence=16',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    const cut = rep.groups.filter((g: { kept: number; channels: number }) => g.kept < g.channels);
    assert.ok(cut.length >= 2, JSON.stringify(rep.groups));
    assert.ok(rep.skipped.some((s: { reason: string }) => /Shape '/.test(s.reason)));
    assert.ok(rep.macs.after < rep.macs.before);
    assert.equal(rep.check.samples, 32);
    const missing = await hone('prune', model, '-o', join(dir, 'x.onnx'), '--sparsity', '0.5');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--dim sequence=N/);
  });

  it('removes channels gradually while fine-tuning, then rewrites the model', async () => {
    const out = join(dir, 'gradual-channels.onnx');
    const r = await hone(
      'prune',
      join(dir, 'lenet.onnx'),
      '-o',
      out,
      '--structured',
      'channels',
      '--sparsity',
      '0.5',
      '--schedule',
      'gradual',
      '--finetune',
      'mnist',
      '--limit',
      '2048',
      '--epochs',
      '2',
      '--no-latency',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.match(rep.method, /gradual/);
    assert.equal(rep.achieved, 0.5);
    assert.deepEqual(
      rep.groups.map((g: { kept: number }) => g.kept),
      [3, 8, 60, 42],
    );
    assert.ok(rep.params.after < rep.params.before / 2);
    // Trained from scratch in 64 steps while half its channels went: far above chance (10%).
    assert.ok(rep.check.accuracy.after > 0.5, `accuracy ${rep.check.accuracy.after}`);
  });

  it('with --sensitivity and --schedule gradual, takes each weight gradually to its own ratio', async () => {
    const out = join(dir, 'sens-gradual.onnx');
    const r = await hone(
      'prune',
      join(dir, 'lenet.onnx'),
      '-o',
      out,
      '--sparsity',
      '0.7',
      '--sensitivity',
      '--sensitivity-samples',
      '200',
      '--schedule',
      'gradual',
      '--finetune',
      'mnist',
      '--limit',
      '1024',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.match(rep.method, /per-layer ratios from sensitivity, gradual/);
    const chosen = new Set(rep.sensitivity.map((c: { chosen: number }) => c.chosen));
    assert.ok(chosen.size > 1, `the layers got different ratios: ${[...chosen].join(', ')}`);
    const m = loadModel(out);
    for (const c of rep.sensitivity as { name: string; size: number; chosen: number }[]) {
      const zero = weightSparsity(m, [c.name]);
      assert.ok(Math.abs(zero - c.chosen) <= 1 / c.size + 1e-9, `${c.name}: ${zero} zero, ratio ${c.chosen}`);
    }
  });

  it('chooses per-group channel ratios from a sensitivity analysis', async () => {
    const out = join(dir, 'sens.onnx');
    const r = await hone(
      'prune',
      join(dir, 'lenet.onnx'),
      '-o',
      out,
      '--structured',
      'channels',
      '--sparsity',
      '0.5',
      '--sensitivity',
      '--sensitivity-samples',
      '200',
      '--test-data',
      'mnist',
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.sensitivity.length, 4);
    for (const c of rep.sensitivity) assert.equal(c.points.length, 9);
    const total = rep.groups.reduce((n: number, g: { channels: number }) => n + g.channels, 0);
    const removed = rep.groups.reduce((n: number, g: { channels: number; kept: number }) => n + g.channels - g.kept, 0);
    assert.ok(removed >= 0.5 * total - 2 && removed <= 0.5 * total + 13, `removed ${removed} of ${total}`);
    assert.match(rep.method, /sensitivity/);
  });

  for (const [why, args, message] of [
    ['sparsity 1', ['--sparsity', '1'], /--sparsity must be a number in \[0, 1\)/],
    ['no sparsity', [], /needs --sparsity/],
    ['an unknown structure', ['--sparsity', '0.5', '--structured', 'rows'], /--structured must be one of channels/],
    ['gradual without data', ['--sparsity', '0.5', '--schedule', 'gradual'], /add --finetune DATA/],
    ['epochs without data', ['--sparsity', '0.5', '--epochs', '2'], /--epochs sets fine-tuning/],
    ['a criterion unstructured', ['--sparsity', '0.5', '--criterion', 'l2'], /add --structured channels/],
    ['an unknown exclude', ['--sparsity', '0.5', '--exclude', 'nope'], /--exclude nope: not a prunable weight/],
    ['timing unstructured pruning', ['--sparsity', '0.5', '--latency-batch', '8'], /--latency-batch times structured pruning/],
    ['sensitivity with a scope', ['--sparsity', '0.5', '--sensitivity', '--scope', 'layer'], /--scope does not apply/],
  ] as const) {
    it(`refuses ${why} with one line and writes nothing`, async () => {
      const out = join(dir, `bad-${why.replace(/ /g, '-')}.onnx`);
      const r = await hone('prune', join(dir, 'lenet.onnx'), '-o', out, ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^hone: /);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out));
    });
  }

  it('refuses to overwrite its input', async () => {
    const r = await hone('prune', join(dir, 'lenet.onnx'), '-o', join(dir, 'lenet.onnx'), '--sparsity', '0.5');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is the input model itself/);
  });
});
