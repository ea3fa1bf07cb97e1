/**
 * The data pipeline: records/s of decode + augment + batch through Hone's loader (its pack of the images,
 * 0, 1 and 2 worker threads) against PyTorch's DataLoader (torchvision ImageFolder over the same files, PIL
 * decode, the same augmentations, 0 and 2 workers) in one run; then the share of LeNet-5's training step
 * spent on data with augmentation.
 *
 *   npx tsx bench/data.ts [--mnist 8000] [--jpegs 1000] [--batch 64] [--epochs 3] [--rounds 2]
 *
 * Data, made here in a temporary folder: the built-in MNIST's training digits as 28×28 grey PNGs (one
 * subfolder per digit), and 224×224 RGB JPEGs (quality 90) of smooth seeded patterns with noise, 10
 * classes. Hone packs each folder (`hone data pack`; the pack keeps the encoded files) and reads the pack;
 * PyTorch reads the folder. Augmentation: MNIST crop:pad=2 (RandomCrop(28, padding=2)); JPEG
 * crop:pad=16,flip (RandomCrop(224, padding=16), RandomHorizontalFlip). Batches of --batch, full shuffle.
 * Records/s: each configuration runs --epochs epochs after one warm-up epoch; its figure is the median
 * over epochs and rounds (configurations alternate within a round). Hone's consumer hands each batch's
 * buffers back (`DataLoader.recycle`), as the trainer does.
 *
 * PyTorch comes from /usr/bin/python3 (Debian's python3-torch and python3-torchvision); without it only
 * Hone's rows print.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { DataLoader, mnist, packShards, packSource } from '../src/data/index.js';
import { dataShare, train } from '../src/train/index.js';
import { median } from '../src/runtime/stats.js';
import { mulberry32 } from '../src/util/random.js';
import { lenet5 } from '../src/zoo/index.js';
import { LENET5_DEFAULTS } from '../src/zoo/lenet5.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values } = parseArgs({
  options: {
    mnist: { type: 'string', default: '8000' },
    jpegs: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '64' },
    epochs: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
  },
});
const nMnist = Number(values.mnist);
const nJpeg = Number(values.jpegs);
const batch = Number(values.batch);
const epochs = Number(values.epochs);
const rounds = Number(values.rounds);
const say = (s = '') => console.log(s);
const root = mkdtempSync(join(tmpdir(), 'hone-bench-data-'));

async function mnistFolder(): Promise<string> {
  const dir = join(root, 'mnist');
  const ds = mnist().train;
  const x = ds.features.input!.data as Float32Array;
  const y = ds.labels.data as BigInt64Array;
  for (let d = 0; d < 10; d++) mkdirSync(join(dir, String(d)), { recursive: true });
  for (let i = 0; i < Math.min(nMnist, ds.size); i++) {
    const px = Uint8Array.from(x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
    const png = await sharp(px, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    writeFileSync(join(dir, String(y[i]), `${i}.png`), png);
  }
  return dir;
}

async function jpegFolder(): Promise<string> {
  const dir = join(root, 'jpeg');
  const rnd = mulberry32(1);
  const px = new Uint8Array(224 * 224 * 3);
  for (let i = 0; i < nJpeg; i++) {
    const cls = i % 10;
    mkdirSync(join(dir, String(cls)), { recursive: true });
    const [fx, fy, ph] = [1 + rnd() * 6, 1 + rnd() * 6, rnd() * 6.28];
    for (let p = 0; p < 224 * 224; p++) {
      const u = (p % 224) / 224;
      const v = Math.floor(p / 224) / 224;
      for (let c = 0; c < 3; c++)
        px[p * 3 + c] = Math.max(
          0,
          Math.min(255, 128 + 90 * Math.sin(fx * u * 6.28 + ph + c) * Math.cos(fy * v * 6.28 + cls) + (rnd() - 0.5) * 40),
        );
    }
    writeFileSync(
      join(dir, String(cls), `${i}.jpg`),
      await sharp(px, { raw: { width: 224, height: 224, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
  }
  return dir;
}

async function pack(folder: string): Promise<{ dir: string; seconds: number }> {
  const dir = `${folder}-pack`;
  const t0 = performance.now();
  await packShards(await packSource(folder), dir);
  return { dir, seconds: (performance.now() - t0) / 1000 };
}

/** Records/s of each epoch after a warm-up one. */
async function honeRates(dir: string, augment: string, workers: number): Promise<number[]> {
  const l = await DataLoader.open({ kind: 'pack', dir }, { batchSize: batch, workers, augment, seed: 1 });
  try {
    const rates: number[] = [];
    for (let e = 0; e <= epochs; e++) {
      const t0 = performance.now();
      let n = 0;
      // The consumer hands each batch's buffers back when done with it, as the trainer does.
      for await (const b of l.epoch(e)) {
        n += b.indices.length;
        l.recycle(b);
      }
      if (e > 0) rates.push(n / ((performance.now() - t0) / 1000));
    }
    return rates;
  } finally {
    await l.close();
  }
}

function torchRates(folder: string, mode: string, aug: string, workers: number): { rates: number[]; torch: string } | undefined {
  const r = spawnSync(
    '/usr/bin/python3',
    [join(import.meta.dirname, 'data_torch.py'), folder, mode, aug, String(batch), String(workers), String(epochs)],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) {
    if (!torchMissing) say(`(PyTorch not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    torchMissing = true;
    return undefined;
  }
  return JSON.parse(r.stdout);
}
let torchMissing = false;

say(
  `Machine: ${cpuDescription()}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}). Run: \`npx tsx bench/data.ts --mnist ${nMnist} --jpegs ${nJpeg} --batch ${batch} --epochs ${epochs} --rounds ${rounds}\` (${new Date().toISOString().slice(0, 10)}).`,
);
say();
try {
  const cases = [
    { name: `MNIST digits, 28×28 grey PNG (${nMnist})`, folder: await mnistFolder(), mode: 'L', hone: 'crop:pad=2', torch: 'crop:2' },
    {
      name: `224×224 RGB JPEG, quality 90 (${nJpeg})`,
      folder: await jpegFolder(),
      mode: 'RGB',
      hone: 'crop:pad=16,flip',
      torch: 'crop:16,flip',
    },
  ];
  say('| data | loader | workers | records/s (median) | vs PyTorch, 2 workers |');
  say('|---|---|---:|---:|---:|');
  let torchVersion = '';
  for (const c of cases) {
    const { dir, seconds } = await pack(c.folder);
    const rates: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const w of [0, 1, 2]) rates[`hone ${w}`] = [...(rates[`hone ${w}`] ?? []), ...(await honeRates(dir, c.hone, w))];
      for (const w of [0, 2]) {
        const t = torchRates(c.folder, c.mode, c.torch, w);
        if (t) {
          torchVersion = t.torch;
          rates[`torch ${w}`] = [...(rates[`torch ${w}`] ?? []), ...t.rates];
        }
      }
    }
    const ref = rates['torch 2'] ? median(rates['torch 2']) : undefined;
    for (const [k, v] of Object.entries(rates)) {
      const [who, w] = k.split(' ');
      const m = median(v);
      say(
        `| ${c.name} | ${who === 'hone' ? `Hone (pack, packed in ${seconds.toFixed(1)} s)` : 'PyTorch DataLoader (folder)'} | ${w} | ${Math.round(m)} | ${ref ? `${(m / ref).toFixed(2)}x` : '–'} |`,
      );
    }
  }
  if (torchVersion) say(`\nPyTorch ${torchVersion} (Debian), torchvision ImageFolder + PIL.`);
  // LeNet-5 on MNIST with augmentation: how much of the step goes to data.
  say('\nLeNet-5, MNIST (8,000 digits), batch 64, 2 epochs, --augment crop:pad=2,cutout:size=8:');
  say('\n| loader workers | samples/s | data ms/step | graph ms/step | data share |');
  say('|---:|---:|---:|---:|---:|');
  const ds = mnist().train;
  for (const workers of [0, 1]) {
    const r = await train(lenet5(LENET5_DEFAULTS), ds, {
      epochs: 2,
      batchSize: 64,
      seed: 0,
      loader: { workers, augment: 'crop:pad=2,cutout:size=8' },
    });
    const t = r.timing;
    say(
      `| ${workers} | ${Math.round(r.samplesPerSec)} | ${(t.dataMs / t.steps).toFixed(2)} | ${(t.graphMs / t.steps).toFixed(2)} | ${(100 * dataShare(t)).toFixed(1)}% |`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
