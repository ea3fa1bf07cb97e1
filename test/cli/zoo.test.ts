import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/ir/model.js';
import { graphInputs } from '../../src/runtime/inputs.js';
import { zooNames } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-zoo-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('zoo list --json: every model with its inputs, parameter count and options with defaults and ranges', async () => {
  const r = await hone('zoo', 'list', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  const { models } = JSON.parse(r.stdout);
  assert.deepEqual(
    models.map((m: { name: string }) => m.name),
    zooNames(),
  );
  const by = Object.fromEntries(models.map((m: { name: string }) => [m.name, m]));
  // 784·512+512 + 512·256+256 + 256·10+10, and LeNet-5's well-known count.
  assert.equal(by.mlp.params, 535_818);
  assert.equal(by.lenet5.params, 61_706);
  assert.deepEqual(by.lenet5.inputs, [{ name: 'input', type: 'float', shape: ['batch', 1, 28, 28] }]);
  assert.deepEqual(by.transformer.inputs, [{ name: 'input', type: 'float', shape: ['batch', 'seq', 256] }]);
  assert.deepEqual(by.mlp.outputs, [{ name: 'logits', type: 'float', shape: ['batch', 10] }]);
  const hidden = by.mlp.options.find((o: { name: string }) => o.name === 'hidden');
  assert.deepEqual(hidden, { name: 'hidden', kind: 'ints', default: '512-256', range: "integers >= 1 joined by '-'", help: hidden.help });
  const act = by.mlp.options.find((o: { name: string }) => o.name === 'activation');
  assert.match(act.range, /^relu \| relu6 \| tanh/);
  const seed = by.resnet.options.find((o: { name: string }) => o.name === 'seed');
  assert.deepEqual([seed.default, seed.range], ['0', 'integer >= 0']);
  for (const m of models) assert.ok(m.params > 0 && m.example.startsWith(`zoo:${m.name}`), m.name);
});

test('zoo list prints a table per model', async () => {
  const r = await hone('zoo', 'list');
  assert.equal(r.code, 0, r.stderr);
  for (const name of zooNames()) assert.match(r.stdout, new RegExp(`^${name} — `, 'm'));
  assert.match(r.stdout, /parameters 61,706 \(at the defaults\) +inputs input float\[batch,1,28,28\]/);
  assert.match(r.stdout, /^ {2}widthMultiplier +1 +number >= 0\.05 +scales all channel counts/m);
});

test('zoo export writes every model, loadable, seeded: same seed same bytes, another seed other weights', async () => {
  for (const name of zooNames()) {
    const out = join(dir, `${name}.onnx`);
    const r = await hone('zoo', 'export', name, '-o', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.output, out);
    assert.equal(j.model, `zoo:${name}`);
    assert.equal(j.bytes, readFileSync(out).byteLength);
    const m = loadModel(out);
    assert.equal(graphInputs(m)[0]!.name, 'input');
  }
  const a = join(dir, 'a.onnx');
  const b = join(dir, 'b.onnx');
  const c = join(dir, 'c.onnx');
  assert.equal((await hone('zoo', 'export', 'zoo:mlp:hidden=32', '-o', a, '--seed', '3')).code, 0);
  assert.equal((await hone('zoo', 'export', 'mlp:hidden=32,seed=3', '-o', b)).code, 0);
  assert.equal((await hone('zoo', 'export', 'mlp:hidden=32', '-o', c, '--seed', '4')).code, 0);
  assert.deepEqual(readFileSync(a), readFileSync(b));
  assert.notDeepEqual(readFileSync(a), readFileSync(c));
  const text = await hone('zoo', 'export', 'mlp:hidden=32', '-o', a, '--seed', '3');
  assert.equal(text.stdout, `wrote zoo:mlp:hidden=32,seed=3 (25,450 parameters, untrained) → ${a}\n`);
});

test('an exported model runs through hone profile', async () => {
  const out = join(dir, 'lenet.onnx');
  assert.equal((await hone('zoo', 'export', 'lenet5', '-o', out)).code, 0);
  const r = await hone('profile', out, '--json', '--batch-sizes', '1', '--runs', '2', '--warmup', '1', '--quiet');
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.params, 61_706);
  assert.deepEqual(
    p.batches.map((b: { batchSize: number }) => b.batchSize),
    [1],
  );
});

test('zoo errors: one line naming the fix, exit 2, nothing written', async () => {
  const sub = join(dir, 'errors');
  mkdirSync(sub);
  const out = join(sub, 'm.onnx');
  const cases: [string[], RegExp][] = [
    [['zoo', 'export', 'vgg', '-o', out], /^hone: unknown zoo model 'vgg'; available: mlp, lenet5, resnet, mobilenet, transformer/],
    [
      ['zoo', 'export', 'mlp:width=3', '-o', out],
      /^hone: zoo:mlp has no option 'width'; its options are inputSize, hidden, classes, activation, flatten, batch, seed\n$/,
    ],
    [['zoo', 'export', 'mlp:hidden=0', '-o', out], /^hone: zoo:mlp: option hidden must be integers >= 1, got '0'\n$/],
    [
      ['zoo', 'export', 'mlp:seed=1', '-o', out, '--seed', '2'],
      /^hone: the seed is given twice \(--seed 2 and in 'mlp:seed=1'\); keep one\n$/,
    ],
    [['zoo', 'export', 'mlp', '-o', out, '--seed', '-1'], /^hone: --seed must be an integer >= 0, got '-1'\n$/],
    [['zoo', 'export', 'mlp'], /^hone: zoo export needs an output path: add -o FILE\.onnx\n$/],
    [['zoo', 'export', '-o', out], /^hone: zoo export needs a model: one of mlp, lenet5, resnet, mobilenet, transformer; e\.g\. /],
    [['zoo', 'export', 'mlp', '-o', join(sub, 'missing', 'm.onnx')], /^hone: cannot write .*: its folder does not exist/],
    [['zoo', 'export', 'mlp', '-o', sub], /^hone: cannot write .*: it is a folder; give a file name\n$/],
    [['zoo', 'export', 'mlp', 'lenet5', '-o', out], /^hone: zoo export takes one model, got also 'lenet5'/],
    [['zoo', 'show'], /^hone: zoo needs an action: list, or export NAME -o FILE\.onnx \(got 'show'\)/],
    [['zoo'], /^hone: zoo needs an action: list, or export NAME -o FILE\.onnx; see 'hone zoo --help'\n$/],
    [['zoo', 'list', 'mlp'], /^hone: zoo list takes no arguments, got 'mlp'/],
    [['zoo', 'list', '--shape', 'x=1'], /^hone: zoo: Unknown option '--shape'; see 'hone zoo --help'\n$/],
  ];
  for (const [argv, want] of cases) {
    const r = await hone(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want, argv.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, argv.join(' '));
    assert.equal(r.stdout, '');
  }
  assert.deepEqual(readdirSync(sub), []);
  assert.ok(!existsSync(out));
});
