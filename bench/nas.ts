/**
 * `hone nas --space cnn` on MNIST against LeNet-5: does the search find a CNN at least as accurate as
 * LeNet-5 trained with the same budget, at no more than LeNet-5's measured latency?
 *
 * LeNet-5 (the zoo's defaults) is the cnn space's reference architecture: `hone nas` trains it first with
 * the recipe every trial uses (Adam, lr 0.002, batch 64, cosine, weight decay 1e-4; `--epochs` epochs on the
 * first `--limit` digits, 20% held out, one split for all) and times it at batch 1 like every other, in the
 * same run. The table gives the reference, and the most accurate other architecture whose latency is no
 * more than the reference's (from front.json: the same measurements the search made).
 *
 *   npx tsx bench/nas.ts [--trials 40] [--epochs 2] [--limit 6000] [--seed 0]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Architecture } from '../src/cli/commands/nas.js';
import { main } from '../src/cli/main.js';

const { values: flags } = parseArgs({
  options: { trials: { type: 'string' }, epochs: { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' } },
});
const trials = Number(flags.trials ?? 40);
const epochs = Number(flags.epochs ?? 2);
const limit = Number(flags.limit ?? 6000);
const seed = Number(flags.seed ?? 0);

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-nas-'));
try {
  let stdout = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => void process.stderr.write(t), isTTY: false };
  const t0 = performance.now();
  const args = [
    'nas',
    '--space',
    'cnn',
    '--data',
    'mnist',
    '--trials',
    String(trials),
    '--epochs',
    String(epochs),
    '--limit',
    String(limit),
  ];
  const code = await main([...args, '--seed', String(seed), '-o', join(dir, 'out'), '--json', '--quiet'], io);
  const seconds = (performance.now() - t0) / 1000;
  const res = JSON.parse(stdout) as { reference: Architecture | null; latencyModel: { looMapePercent: number } | null };
  const archs = JSON.parse(readFileSync(join(dir, 'out', 'front.json'), 'utf8')) as Architecture[];
  const ref = res.reference;
  if (!ref) throw new Error(`the reference did not train (exit ${code})`);
  const within = archs.filter((a) => a.number !== ref.number && a.latencyMs <= ref.latencyMs).sort((a, b) => b.accuracy - a.accuracy);
  const found = within[0];
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}. ${epochs} epochs on ${limit} MNIST digits (20% held out) per model; ${archs.length} architectures in ${seconds.toFixed(0)} s (seed ${seed}).\n`,
  );
  console.log('| model | accuracy (held out) | latency, batch 1 |');
  console.log('|---|---:|---:|');
  console.log(`| reference: LeNet-5 (${ref.model}) | ${pct(ref.accuracy)} | ${ref.latencyMs.toFixed(4)} ms |`);
  if (found) console.log(`| best other within its latency: ${found.model} | ${pct(found.accuracy)} | ${found.latencyMs.toFixed(4)} ms |`);
  else console.log('| (no other architecture within its latency) | | |');
  const beats = archs.filter((a) => a.number !== ref.number && a.accuracy >= ref.accuracy && a.latencyMs <= ref.latencyMs);
  console.log(
    `\nOther architectures at least as accurate and no slower than LeNet-5: ${beats.length}${beats.length ? ` (${beats.map((a) => a.model.replace('zoo:lenet5:', '')).join('; ')})` : ''}.`,
  );
  if (res.latencyModel)
    console.log(`Latency model, leave-one-out error over the search's architectures: ${res.latencyModel.looMapePercent.toFixed(1)}%.`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
