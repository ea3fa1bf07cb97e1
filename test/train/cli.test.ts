import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { writeNpz } from '../helpers/npz.js';
import { rand } from './gradcheck-util.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    isTTY: false,
  });
  return { code, stdout, stderr };
}

describe('hone train / hone lr-find (end to end)', () => {
  it('--limit above the data: one line says all of it is used, and training goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-limit-'));
    const argv = ['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--epochs', '1', '--batch-size', '256', '-o', join(dir, 'm.onnx')];
    const r = await run([...argv, '--limit', '9000']);
    assert.equal(r.code, 0, r.stderr);
    const notes = r.stderr.split('\n').filter((l) => l.includes('--limit'));
    assert.deepEqual(notes, ['hone: --limit 9000 is more than the 8,000 training samples of mnist; all 8,000 are used']);
    const within = await run([...argv, '--limit', '512']);
    assert.equal(within.code, 0, within.stderr);
    assert.ok(!within.stderr.includes('--limit'), within.stderr);
    const quiet = await run([...argv, '--limit', '9000', '--quiet']);
    assert.ok(!quiet.stderr.includes('--limit'), quiet.stderr);
  });

  it('trains LeNet-5 on a subset of MNIST, writes the model, the JSON report and the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-train-'));
    const out = join(dir, 'lenet.onnx');
    const log = join(dir, 'log.jsonl');
    const r = await run([
      'train',
      '--model',
      'zoo:lenet5',
      '--data',
      'mnist',
      '--limit',
      '640',
      '--epochs',
      '2',
      '--batch-size',
      '32',
      '--optimizer',
      'adam',
      '--lr',
      '2e-3',
      '--schedule',
      'cosine',
      '-o',
      out,
      '--json',
      '--log',
      log,
      '--checkpoint',
      join(dir, 'ck'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ['trainAccuracy', 'testAccuracy', 'samplesPerSec', 'epochs']) assert.equal(typeof rep[k], 'number', k);
    assert.equal(rep.epochs, 2);
    assert.ok(rep.testAccuracy! > 0.3, `test accuracy ${rep.testAccuracy}`);
    const [head, ...lines] = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; lr: number; run?: { model: string; data: string; flags: Record<string, unknown> } });
    // The first line names the run (what a dashboard shows beside its curves); no paths of outputs in it.
    assert.equal(head!.run!.model, 'zoo:lenet5');
    assert.equal(head!.run!.data, 'mnist');
    assert.ok(!('output' in head!.run!.flags) && !('log' in head!.run!.flags));
    assert.deepEqual(
      lines.map((l) => l.epoch),
      [1, 2],
    );
    assert.ok(lines[1]!.lr < lines[0]!.lr, 'cosine schedule lowers the rate');
    const m = loadModel(out);
    assert.deepEqual(
      m.graph!.output.map((o) => o.name),
      ['logits'],
    );
    assert.ok(existsSync(join(dir, 'ck', 'checkpoint.bin')));
    // Resuming a finished run with more epochs continues it.
    const r2 = await run([
      'train',
      '--model',
      'zoo:lenet5',
      '--data',
      'mnist',
      '--limit',
      '640',
      '--epochs',
      '3',
      '--batch-size',
      '32',
      '--lr',
      '2e-3',
      '-o',
      out,
      '--json',
      '--checkpoint',
      join(dir, 'ck'),
      '--resume',
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((JSON.parse(r2.stdout) as { history: unknown[] }).history.length, 3);
  });

  it('trains an .onnx file on an .npz written by numpy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-npz-'));
    const b = new GraphBuilder('lin');
    const x = b.input('input', DataType.FLOAT, ['batch', 4]);
    b.op('Gemm', [x, b.floatInit('w', [2, 4], rand(8, 1)), b.floatInit('b', [2], [0, 0])], { transB: 1 }, { output: 'logits' });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const model = join(dir, 'lin.onnx');
    saveModel(b.model({ opset: 17 }), model);
    const npz = join(import.meta.dirname, 'fixtures', 'tiny-compressed.npz');
    const r = await run([
      'train',
      '--model',
      model,
      '--data',
      npz,
      '--test-data',
      npz,
      '--epochs',
      '30',
      '--batch-size',
      '4',
      '--optimizer',
      'sgd',
      '--momentum',
      '0.9',
      '--lr',
      '0.1',
      '-o',
      join(dir, 'out.onnx'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { testAccuracy: number; epochs: number };
    assert.equal(rep.epochs, 30);
    assert.ok(rep.testAccuracy >= 0.9, `label = sign of the feature sum is linear; accuracy ${rep.testAccuracy}`);
  });

  it('bad input is one line with the fix, exit 2', async () => {
    const r = await run(['train', '--model', 'zoo:lenet5', '--data', 'mnist']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^hone: train needs -o OUT\.onnx/);
    const r2 = await run(['train', '--model', 'zoo:lenet5', '--data', 'mnist', '-o', '/tmp/x.onnx', '--optimizer', 'lion']);
    assert.match(r2.stderr, /unknown optimizer 'lion'; use one of sgd, adam, adamw/);
    const r3 = await run(['train', '--model', 'zoo:mlp', '--data', 'nope.npz', '-o', '/tmp/x.onnx']);
    assert.match(r3.stderr, /no dataset 'nope\.npz'/);
    assert.equal(r3.stderr.trim().split('\n').length, 1);
    // Output paths are checked before any training (or sweep) starts: nothing to lose to a bad path.
    const dir = mkdtempSync(join(tmpdir(), 'hone-train-out-'));
    const missing = join(dir, 'no', 'such', 'folder', 'x.onnx');
    for (const argv of [
      ['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--limit', '64', '-o', missing],
      ['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--limit', '64', '-o', dir],
      ['lr-find', '--model', 'zoo:lenet5', '--data', 'mnist', '--limit', '64', '--html', missing],
    ]) {
      const r4 = await run(argv);
      assert.equal(r4.code, 2, argv.join(' '));
      assert.match(r4.stderr, /^hone: cannot write .*: (its folder does not exist|it is a folder)/, argv.join(' '));
      assert.equal(r4.stdout, '', `${argv.join(' ')}: refused before any work`);
    }
    const own = join(dir, 'own.onnx');
    const gb = new GraphBuilder();
    const x = gb.input('x', DataType.FLOAT, ['batch', 4]);
    gb.op('Gemm', [x, gb.floatInit('w', [2, 4], rand(8, 1)), gb.floatInit('b', [2], [0, 0])], { transB: 1 }, { output: 'logits' });
    gb.output('logits', DataType.FLOAT, ['batch', 2]);
    saveModel(gb.model({ opset: 17 }), own);
    const r5 = await run(['train', '--model', own, '--data', 'mnist', '-o', own]);
    assert.equal(r5.code, 2);
    assert.match(r5.stderr, /^hone: -o .*own\.onnx is the model being trained; write the trained model to another file\n$/);
  });

  it('lr-find suggests a rate inside the sweep and writes an HTML plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-lr-'));
    const html = join(dir, 'lr.html');
    const r = await run([
      'lr-find',
      '--model',
      'zoo:mlp:hidden=64',
      '--data',
      'mnist',
      '--limit',
      '2000',
      '--steps',
      '60',
      '--batch-size',
      '32',
      '--start',
      '1e-5',
      '--end',
      '1',
      '--json',
      '--html',
      html,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as {
      suggestedLr: number;
      lrs: number[];
      losses: number[];
      run: { model: string; settings: Record<string, string> };
    };
    assert.ok(rep.suggestedLr > 1e-5 && rep.suggestedLr < 1, String(rep.suggestedLr));
    assert.ok(rep.lrs.length > 20);
    assert.ok(rep.lrs[1]! > rep.lrs[0]!);
    assert.equal(rep.run.model, 'zoo:mlp:hidden=64');
    assert.equal(rep.run.settings['batch size'], '32');
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<h1>Learning rate range test of zoo:mlp:hidden=64<\/h1>/);
    assert.match(page, /<dt>Data<\/dt><dd>mnist \(2000 samples\)<\/dd>/);
    assert.match(page, /<dt>Requested sweep<\/dt><dd>0\.00001 → 1 over 60 steps<\/dd>/);
    assert.match(page, />learning rate \(log scale\)<\/text>/);
    assert.match(page, new RegExp(`>${rep.suggestedLr.toExponential(2)}</text>`), 'the suggestion is marked on the chart');
  });
});

describe('hone train / hone lr-find: the model-input flags every command shares', () => {
  /** y = (x · W) · scale: x [batch, feat] with feat symbolic, `scale` a float scalar input. */
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-inputs-'));
    const b = new GraphBuilder('scaled');
    const x = b.input('x', DataType.FLOAT, ['batch', 'feat']);
    const scale = b.input('scale', DataType.FLOAT, []);
    const w = b.floatInit(
      'w',
      [4, 3],
      Float32Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) / 4),
    );
    b.op('Mul', [b.op('MatMul', [x, w]), scale], {}, { output: 'y' });
    b.output('y', DataType.FLOAT, ['batch', 3]);
    const model = join(dir, 'scaled.onnx');
    saveModel(b.model({ opset: 17 }), model);
    // The data holds each sample as 2x2: only --dim feat=4 or --shape x=Bx4 tells the trainer it is the model's [4].
    const data = join(dir, 'data.npz');
    writeNpz(data, {
      x: { data: Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)), dims: [32, 2, 2] },
      label: { data: Float32Array.from({ length: 96 }, (_, i) => Math.cos(i)), dims: [32, 3] },
    });
    const train = (...args: string[]) =>
      run([
        'train',
        '--model',
        model,
        '--data',
        data,
        '--loss',
        'mse',
        '--epochs',
        '2',
        '--threads',
        '1',
        '-o',
        join(dir, 'out.onnx'),
        ...args,
      ]);
    const weights = () =>
      Array.from(tensorArray(loadModel(join(dir, 'out.onnx')).graph!.initializer.find((t) => t.name === 'w')!) as Float32Array);
    return { dir, model, data, train, weights };
  };

  it('--shape and --dim size the training graph; the trained model keeps the inputs it had', async () => {
    const { train, dir } = setup();
    const r = await train('--input', 'scale=1', '--batch-size', '8');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^hone: the training data: input 'x' expects samples of rank 1 \[feat\] but the data has \[2, 2\]; .* --dim feat=N or --shape x=\.\.\.\n$/,
    );
    const shaped = await train('--input', 'scale=1', '--shape', 'x=8x4', '--json');
    assert.equal(shaped.code, 0, shaped.stderr);
    const m = loadModel(join(dir, 'out.onnx'));
    assert.deepEqual(
      m.graph!.input.map((i) => i.type!.tensorType!.shape!.dim),
      [[{ dimParam: 'batch' }, { dimParam: 'feat' }], []],
    );
    assert.equal(
      (JSON.parse(shaped.stdout) as { timing: { steps: number } }).timing.steps,
      8,
      '--shape x=8x4 sets the batch size: 32 samples, 4 steps an epoch',
    );
    const dimmed = await train('--input', 'scale=1', '--dim', 'feat=4', '--batch-size', '16', '--json');
    assert.equal(dimmed.code, 0, dimmed.stderr);
    const conflict = await train('--input', 'scale=1', '--shape', 'x=8x4', '--batch-size', '16');
    assert.equal(conflict.code, 2);
    assert.match(
      conflict.stderr,
      /^hone: --shape x=8x4 sets the batch size to 8, --batch-size to 16; drop one of them, or make them agree\n$/,
    );
  });

  it('--input feeds an input that is not data in every step: scale=0 leaves the weights as they were', async () => {
    const { train, weights } = setup();
    const missing = await train('--dim', 'feat=4');
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /^hone: input 'scale' is a scalar, which data \(samples first\) cannot give; pass its value with --input scale=VALUE\n$/,
    );
    const initial = Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) / 4);
    assert.equal((await train('--dim', 'feat=4', '--input', 'scale=0', '--batch-size', '8')).code, 0);
    assert.deepEqual(weights(), initial, 'a zero scale gives zero gradients');
    assert.equal((await train('--dim', 'feat=4', '--input', 'scale=1', '--batch-size', '8')).code, 0);
    assert.notDeepEqual(weights(), initial);
    const bad = await train('--dim', 'feat=4', '--input', 'scale=1,2');
    assert.match(bad.stderr, /^hone: --input scale=1,2 gives 2 values, but input 'scale' is a scalar; give one number\n$/);
  });

  it('lr-find takes the same flags', async () => {
    const { model, data } = setup();
    const r = await run([
      'lr-find',
      '--model',
      model,
      '--data',
      data,
      '--loss',
      'mse',
      '--steps',
      '10',
      '--batch-size',
      '8',
      '--dim',
      'feat=4',
      '--input',
      'scale=1',
      '--threads',
      '1',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { lrs: number[] }).lrs.length >= 10);
    const conflict = await run([
      'lr-find',
      '--model',
      model,
      '--data',
      data,
      '--loss',
      'mse',
      '--dim',
      'batch=4',
      '--batch-size',
      '8',
      '--dim',
      'feat=4',
      '--input',
      'scale=1',
    ]);
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /^hone: --dim batch=4 sets the batch size to 4, --batch-size to 8/);
  });
});
