import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadModel, saveModel } from '../../src/ir/model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { rand } from './gradcheck-util.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, isTTY: false });
  return { code, stdout, stderr };
}

describe('hone train / hone lr-find (end to end)', () => {
  it('trains LeNet-5 on a subset of MNIST, writes the model, the JSON report and the log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-train-'));
    const out = join(dir, 'lenet.onnx');
    const log = join(dir, 'log.jsonl');
    const r = await run(['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--limit', '640', '--epochs', '2', '--batch-size', '32',
      '--optimizer', 'adam', '--lr', '2e-3', '--schedule', 'cosine', '-o', out, '--json', '--log', log, '--checkpoint', join(dir, 'ck')]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ['trainAccuracy', 'testAccuracy', 'samplesPerSec', 'epochs']) assert.equal(typeof rep[k], 'number', k);
    assert.equal(rep.epochs, 2);
    assert.ok(rep.testAccuracy! > 0.3, `test accuracy ${rep.testAccuracy}`);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; lr: number });
    assert.deepEqual(lines.map((l) => l.epoch), [1, 2]);
    assert.ok(lines[1]!.lr < lines[0]!.lr, 'cosine schedule lowers the rate');
    const m = loadModel(out);
    assert.deepEqual(m.graph!.output.map((o) => o.name), ['logits']);
    assert.ok(existsSync(join(dir, 'ck', 'checkpoint.bin')));
    // Resuming a finished run with more epochs continues it.
    const r2 = await run(['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--limit', '640', '--epochs', '3', '--batch-size', '32',
      '--lr', '2e-3', '-o', out, '--json', '--checkpoint', join(dir, 'ck'), '--resume']);
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
    const r = await run(['train', '--model', model, '--data', npz, '--test-data', npz, '--epochs', '30', '--batch-size', '4', '--optimizer', 'sgd', '--momentum', '0.9', '--lr', '0.1', '-o', join(dir, 'out.onnx'), '--json']);
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
  });

  it('lr-find suggests a rate inside the sweep and writes an HTML plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cli-lr-'));
    const html = join(dir, 'lr.html');
    const r = await run(['lr-find', '--model', 'zoo:mlp:hidden=64', '--data', 'mnist', '--limit', '2000', '--steps', '60', '--batch-size', '32', '--start', '1e-5', '--end', '1', '--json', '--html', html]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { suggestedLr: number; lrs: number[]; losses: number[] };
    assert.ok(rep.suggestedLr > 1e-5 && rep.suggestedLr < 1, String(rep.suggestedLr));
    assert.ok(rep.lrs.length > 20);
    assert.ok(rep.lrs[1]! > rep.lrs[0]!);
    assert.match(readFileSync(html, 'utf8'), /<svg[\s\S]*<path d="M/);
  });
});
