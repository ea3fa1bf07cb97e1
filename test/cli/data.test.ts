import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { hone } from '../helpers/cli.js';
import { ShardSet } from '../../src/data/shards.js';
import { encodeNpy } from '../../src/data/npy.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'hone-data-cli-'));

test('hone data pack / inspect / verify on mnist; a flipped byte is named by shard and record; --force', async () => {
  const dir = join(tmp(), 'mnist-pack');
  const packed = await hone('data', 'pack', 'mnist', '--split', 'test', '-o', dir, '--shard-size', '1MB', '--json', '--quiet');
  assert.equal(packed.code, 0, packed.stderr);
  const m = JSON.parse(packed.stdout);
  assert.equal(m.records, 2000);
  assert.ok(m.shards.length >= 6, `${m.shards.length} shards`);
  assert.equal(packed.stderr, '');
  const shown = await hone('data', 'inspect', dir);
  assert.equal(shown.code, 0);
  assert.match(shown.stdout, /records {3}2000 in \d+ shard\(s\)/);
  assert.match(shown.stdout, /input +tensor float32\[1, 28, 28\]/);
  assert.match(shown.stdout, /label +tensor int64\[\]/);
  const ok = await hone('data', 'verify', dir);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /ok — 2000 records/);
  // The same digits as the built-in split.
  const set = new ShardSet(dir);
  const first = set.read(0).input as { data: Float32Array };
  set.close();
  assert.equal(first.data.length, 784);

  const again = await hone('data', 'pack', 'mnist', '-o', dir);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^hone: .* exists and is not empty; choose a new folder or pass --force/);
  assert.doesNotMatch(again.stderr, /packing/);

  const shard = join(dir, m.shards[1].file);
  const bytes = readFileSync(shard);
  bytes[4000] = bytes[4000]! ^ 0x10;
  writeFileSync(shard, bytes);
  const bad = await hone('data', 'verify', dir, '--quiet');
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    new RegExp(`^hone: .*: 1 problem\\(s\\): ${m.shards[1].file} record \\d+: fails its CRC32C; .*--skip-corrupt[^\\n]*\\n$`),
  );
  const json = await hone('data', 'verify', dir, '--json', '--quiet');
  assert.equal(JSON.parse(json.stdout).problems.length, 1);

  const forced = await hone('data', 'pack', 'mnist', '-o', dir, '--force', '--quiet');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await hone('data', 'verify', dir, '--quiet')).code, 0);
});

test('hone data pack: an image folder is stored encoded, with classes and the image size; train reads the pack', async () => {
  const base = tmp();
  const src = join(base, 'imgs');
  const colours = { cat: [200, 30, 30], dog: [30, 30, 200] } as const;
  for (const [cls, [r, g, b]] of Object.entries(colours)) {
    mkdirSync(join(src, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: r + i, g, b } } })
        .png()
        .toBuffer();
      writeFileSync(join(src, cls, `${i}.png`), png);
    }
  }
  const dir = join(base, 'pack');
  const r = await hone('data', 'pack', src, '-o', dir, '--json', '--quiet');
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.deepEqual(m.schema.classes, ['cat', 'dog']);
  assert.deepEqual(m.schema.fields[0], { name: 'image', kind: 'image', width: 8, height: 8, channels: 3 });
  assert.equal(m.records, 24);
  const shown = await hone('data', 'inspect', dir);
  assert.match(shown.stdout, /image +image \(encoded, 8×8, 3 channel\(s\)\)/);
  assert.match(shown.stdout, /classes {3}2: cat, dog/);
  // LeNet-5 trains from the pack: the 8×8 colour images decoded to 28×28 grey.
  const trained = await hone(
    'train',
    '--model',
    'zoo:lenet5',
    '--data',
    dir,
    '--resize',
    '28x28',
    '--channels',
    '1',
    '--epochs',
    '2',
    '--batch-size',
    '8',
    '--json',
    '--quiet',
    '-o',
    join(base, 't.onnx'),
  );
  assert.equal(trained.code, 0, trained.stderr);
  assert.equal(JSON.parse(trained.stdout).epochs, 2);
});

test('train --augment and --loader-workers: the same weights from any worker count; bad flags are one-line errors', async () => {
  const base = tmp();
  const out = (k: string) => join(base, `${k}.onnx`);
  const common = [
    'train',
    '--model',
    'zoo:lenet5',
    '--data',
    'mnist',
    '--limit',
    '512',
    '--batch-size',
    '64',
    '--epochs',
    '1',
    '--quiet',
    '--json',
  ];
  const plain = await hone(...common, '-o', out('plain'));
  const viaLoader = await hone(...common, '--loader-workers', '2', '-o', out('loader'));
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(viaLoader.code, 0, viaLoader.stderr);
  assert.deepEqual(readFileSync(out('loader')), readFileSync(out('plain')));
  const a0 = await hone(...common, '--augment', 'crop:pad=2,flip,cutout:size=6', '-o', out('a0'));
  const a2 = await hone(
    ...common,
    '--augment',
    'crop:pad=2,flip,cutout:size=6',
    '--loader-workers',
    '2',
    '--prefetch',
    '3',
    '-o',
    out('a2'),
  );
  assert.equal(a0.code, 0, a0.stderr);
  assert.equal(a2.code, 0, a2.stderr);
  assert.deepEqual(readFileSync(out('a2')), readFileSync(out('a0')));
  assert.notDeepEqual(readFileSync(out('a0')), readFileSync(out('plain')));
  const summary = JSON.parse(a0.stdout);
  assert.ok(summary.dataShare > 0 && summary.dataShare < 1, String(summary.dataShare));

  // mixup and cutmix train on mixed labels; the test accuracy is still measured on class indices.
  const mixed = await hone(...common, '--augment', 'mixup:alpha=0.4,cutmix:p=0.5', '--label-smoothing', '0.1', '-o', out('mixed'));
  assert.equal(mixed.code, 0, mixed.stderr);
  const ms = JSON.parse(mixed.stdout);
  assert.ok(ms.testAccuracy > 0.3, String(ms.testAccuracy));
  assert.ok(ms.trainAccuracy > 0 && ms.trainAccuracy <= 1);

  for (const [flags, msg] of [
    [['--augment', 'crop:pad=x'], /crop pad must be/],
    [['--augment', 'spin'], /unknown augmentation|spin/],
    [['--loader-workers', '-1'], /--loader-workers must be an integer >= 0/],
    [['--loader-workers', '0', '--prefetch', '2'], /--prefetch sets the loader workers' queue/],
    [['--resize', '28'], /--resize must be WIDTHxHEIGHT/],
    [['--fit', 'cover'], /--fit says how --resize changes the aspect; add --resize/],
    [['--augment', 'mixup', '--loss', 'l1'], /needs a target of the output's shape|mixup and cutmix mix class labels/],
  ] as const) {
    const r = await hone(...common, ...flags, '-o', out('bad'));
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^hone: [^\n]+\n$/);
    assert.match(r.stderr, msg);
    assert.ok(!existsSync(out('bad')));
  }
});

test('every data format reaches the commands through one reader: a CSV trains, a folder of .npy calibrates', async () => {
  const base = tmp();
  const rows = ['a,b,c,d,label'];
  for (let i = 0; i < 64; i++) rows.push(`${i % 3},${(i * 7) % 5},${i % 2},${(i * 3) % 4},${i % 2}`);
  writeFileSync(join(base, 'd.csv'), `${rows.join('\n')}\n`);
  const mlp = join(base, 'mlp.onnx');
  assert.equal((await hone('zoo', 'export', 'mlp:inputSize=4,hidden=8,classes=2', '-o', mlp)).code, 0);
  const r = await hone(
    'train',
    '--model',
    mlp,
    '--data',
    join(base, 'd.csv'),
    '--batch-size',
    '16',
    '--quiet',
    '--json',
    '-o',
    join(base, 't.onnx'),
  );
  assert.equal(r.code, 0, r.stderr);
  mkdirSync(join(base, 'calib'));
  writeFileSync(
    join(base, 'calib', 'input.npy'),
    encodeNpy(
      Float32Array.from({ length: 32 * 4 }, (_, i) => (i % 7) / 7),
      [32, 4],
    ),
  );
  const q = await hone(
    'quantize',
    mlp,
    '--mode',
    'static',
    '--calib',
    join(base, 'calib'),
    '-o',
    join(base, 'q.onnx'),
    '--quiet',
    '--json',
  );
  assert.equal(q.code, 0, q.stderr);
  const unknown = await hone('train', '--model', mlp, '--data', join(base, 'd.parquet'), '-o', join(base, 'x.onnx'));
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no dataset .*d\.parquet.*give 'mnist', an \.npy\/\.npz file/);
});
