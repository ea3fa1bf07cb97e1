/**
 * Data-parallel training with gradient compression (issue 18): `hone train --workers 2` on one machine, an
 * MLP of ~2M parameters (784-1536-512-10) on MNIST, each worker's sending limited to --bandwidth (100 Mbit/s
 * by default, the transport's token bucket), then the same runs unthrottled. Every method trains the same
 * steps (the same epochs, batch and seed); the table gives the bytes each worker sent per step against the
 * compression's formula, the test accuracy against uncompressed training, and the wall-clock time. One
 * process on the whole batch (no exchange) is the baseline for the overhead.
 *
 *   npx tsx bench/distributed.ts [--epochs 5] [--batch-size 128] [--bandwidth 100mbit] [--methods none,fp16,…]
 *
 * Needs a NATS server with JetStream at nats://127.0.0.1:4222 (nats-server -js).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DistributedReport } from '../src/cli/commands/train-dp.js';
import { main } from '../src/cli/main.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: {
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    bandwidth: { type: 'string' },
    methods: { type: 'string' },
    hidden: { type: 'string' },
  },
});
const epochs = flags.epochs ?? '5';
const batch = flags['batch-size'] ?? '128';
const bandwidth = flags.bandwidth ?? '100mbit';
const hidden = flags.hidden ?? '1536-512';
const methods = (flags.methods ?? 'none,fp16,powersgd:rank=2,topk:ratio=0.01,qsgd:levels=16,signsgd').split(',');

interface Run {
  seconds: number;
  testAccuracy: number;
  samplesPerSec: number;
  distributed?: DistributedReport;
}

async function trainRun(dir: string, extra: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void (stderr += t), isTTY: false };
  const t0 = performance.now();
  const args = ['train', '--model', `zoo:mlp:hidden=${hidden}`, '--data', 'mnist', '--epochs', epochs, '--batch-size', batch];
  const code = await main(
    [...args, '--optimizer', 'sgd', '--momentum', '0.9', '--lr', '0.05', ...extra, '--json', '--quiet', '-o', join(dir, 'm.onnx')],
    io,
  );
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`hone train ${extra.join(' ')} exited ${code}: ${stderr}`);
  return { seconds, ...(JSON.parse(stdout) as Omit<Run, 'seconds'>) };
}

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-dp-'));
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const kib = (b: number) => (b / 1024).toFixed(1);
try {
  console.log(
    `Machine: ${cpuDescription()} × ${cpus().length}, Node ${process.version}. MLP 784-${hidden}-10 on MNIST (8,000 digits), ${epochs} epochs, batch ${batch} (64 per worker), SGD momentum 0.9, lr 0.05; 2 workers on this machine through nats-server.\n`,
  );
  const single = await trainRun(dir, []);
  console.log(`One process, whole batch: test accuracy ${pct(single.testAccuracy)}, ${single.seconds.toFixed(1)} s.\n`);
  for (const limit of [bandwidth, undefined]) {
    console.log(limit ? `Each worker's sending limited to ${limit}:\n` : 'Unthrottled (localhost):\n');
    console.log(
      '| compression | KiB sent per step per worker | formula, KiB | measured / formula | less than f32 | test accuracy | vs none, points | wall clock | exchange time | vs none |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    let none: Run | undefined;
    for (const m of methods) {
      const r = await trainRun(dir, ['--workers', '2', '--grad-compression', m, ...(limit ? ['--bandwidth', limit] : [])]);
      const d = r.distributed!;
      if (m === 'none') none = r;
      const ratio = d.gradientBytesPerStep / d.analyticBytesPerStep;
      console.log(
        `| ${m} | ${kib(d.gradientBytesPerStep)} | ${kib(d.analyticBytesPerStep)} | ${ratio.toFixed(4)} | ${(d.rawBytesPerStep / d.gradientBytesPerStep).toFixed(1)}x | ${pct(r.testAccuracy)} | ${none ? (100 * (r.testAccuracy - none.testAccuracy)).toFixed(2) : ''} | ${r.seconds.toFixed(1)} s | ${d.exchangeSeconds.toFixed(1)} s | ${none ? `${(r.seconds / none.seconds).toFixed(2)}x` : ''} |`,
      );
    }
    console.log('');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
