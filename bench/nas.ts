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
 * Then the same search with --no-prune: what stopping dominated architectures part-way (multi-fidelity)
 * saves, and what it costs the front (hypervolume of error rate × latency) and the best accuracy.
 *
 *   npx tsx bench/nas.ts [--trials 40] [--epochs 3] [--limit 6000] [--seed 0]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Architecture } from '../src/cli/commands/nas.js';
import { main } from '../src/cli/main.js';
import { hypervolume } from '../src/tune/hypervolume.js';

const { values: flags } = parseArgs({
  options: { trials: { type: 'string' }, epochs: { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' } },
});
const trials = Number(flags.trials ?? 40);
const epochs = Number(flags.epochs ?? 3);
const limit = Number(flags.limit ?? 6000);
const seed = Number(flags.seed ?? 0);

/** One `hone nas --space cnn` search; `extra` adds flags (--no-prune). */
async function search(dir: string, name: string, extra: string[]) {
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
  const code = await main([...args, ...extra, '--seed', String(seed), '-o', join(dir, name), '--json', '--quiet'], io);
  const seconds = (performance.now() - t0) / 1000;
  const res = JSON.parse(stdout) as { reference: Architecture | null; latencyModel: { looMapePercent: number } | null };
  const archs = JSON.parse(readFileSync(join(dir, name, 'front.json'), 'utf8')) as Architecture[];
  const report = JSON.parse(readFileSync(join(dir, name, 'report.json'), 'utf8')) as { skipped: number };
  if (!res.reference) throw new Error(`the reference did not train (exit ${code})`);
  return { seconds, res, archs, ref: res.reference, pruned: report.skipped };
}

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-nas-'));
try {
  const pruned = await search(dir, 'pruned', []);
  const full = await search(dir, 'full', ['--no-prune']);
  const { res, archs, ref } = pruned;
  const within = archs.filter((a) => a.number !== ref.number && a.latencyMs <= ref.latencyMs).sort((a, b) => b.accuracy - a.accuracy);
  const found = within[0];
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}. ${epochs} epochs on ${limit} MNIST digits (20% held out) per model; ${trials} architectures (seed ${seed}).\n`,
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

  // Multi-fidelity: the same search with every architecture trained to the end. Fronts compared by
  // hypervolume (error rate and latency, both minimized) against one reference point: the worst of both runs.
  const points = (a: Architecture[]) => a.map((x) => [1 - x.accuracy, x.latencyMs]);
  const all = [...points(pruned.archs), ...points(full.archs)];
  const refPoint = [Math.max(...all.map((p) => p[0]!)) * 1.05, Math.max(...all.map((p) => p[1]!)) * 1.05];
  const hv = (a: Architecture[]) => hypervolume(points(a), refPoint);
  const best = (a: Architecture[]) => Math.max(...a.map((x) => x.accuracy));
  console.log('\n| search | architectures finished | stopped part-way | whole search | front hypervolume | best accuracy |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of [
    ['dominated ones stopped (default)', pruned],
    ['every one trained to the end (--no-prune)', full],
  ] as const)
    console.log(
      `| ${name} | ${r.archs.length} | ${r.pruned} | ${r.seconds.toFixed(0)} s | ${hv(r.archs).toExponential(3)} | ${pct(best(r.archs))} |`,
    );
  console.log(
    `\nWhole search: ${(full.seconds / pruned.seconds).toFixed(2)}x faster with stopping; front hypervolume ratio ${(hv(pruned.archs) / hv(full.archs)).toFixed(3)}.`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
