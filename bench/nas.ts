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
 * The search runs with --latency-budget at LeNet-5's latency, timed first (the least of 7 timings): the budget is the
 * study's constraint, so the sampler looks for architectures within it rather than over the whole front.
 *
 * Then the same search with --no-prune: what stopping dominated architectures part-way (multi-fidelity)
 * saves, and what it costs the front (hypervolume of error rate × latency) and the best accuracy.
 *
 * Then the claim checked apart from the search: the reference and the architecture found (the first at least as
 * accurate and no slower, else the most accurate within its latency) retrained with --confirm-seeds other
 * seeds, paired, and timed side by side.
 *
 *   npx tsx bench/nas.ts [--trials 40] [--epochs 3] [--limit 8000] [--seed 0] [--confirm-seeds 3]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Architecture } from '../src/cli/commands/nas.js';
import { RECIPE } from '../src/cli/commands/nas.js';
import { main } from '../src/cli/main.js';
import { resolveTuneConfig } from '../src/cli/tune/config.js';
import { runTune } from '../src/cli/tune/run.js';
import { inferenceLatencyMs } from '../src/nas/latency-model.js';
import { hypervolume } from '../src/tune/hypervolume.js';
import { openStorage } from '../src/tune/storage/open.js';
import { zooModel, zooSpec } from '../src/zoo/index.js';

const { values: flags } = parseArgs({
  options: {
    trials: { type: 'string' },
    epochs: { type: 'string' },
    limit: { type: 'string' },
    seed: { type: 'string' },
    'confirm-seeds': { type: 'string' },
  },
});
const trials = Number(flags.trials ?? 40);
const epochs = Number(flags.epochs ?? 3);
const limit = Number(flags.limit ?? 8000);
const seed = Number(flags.seed ?? 0);
const confirmSeeds = Number(flags['confirm-seeds'] ?? 3);
const quietIo = { stdout: () => {}, stderr: () => {}, isTTY: false };

/** A zoo spec's options ('zoo:lenet5:channels=6-16,kernel=5' → {channels: '6-16', kernel: 5}), numbers as numbers. */
function specOptions(spec: string): Record<string, string | number> {
  const parts = spec.split(':').slice(2).join(':');
  return Object.fromEntries(
    parts.split(',').map((kv) => {
      const [k, v] = kv.split('=') as [string, string];
      return [k, /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v];
    }),
  );
}

const median = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1]!;

/**
 * Latency side by side: the reference and each candidate timed in turn, 7 rounds, medians. The search timed
 * each architecture once, whenever its trial ran, so a busy moment can make any of them look slow.
 */
async function retime(models: Architecture[]): Promise<number[]> {
  const built = models.map((a) => zooModel(a.model));
  const times = built.map(() => [] as number[]);
  for (let round = 0; round < 7; round++) for (const [i, m] of built.entries()) times[i]!.push(await inferenceLatencyMs(m, 0));
  return times.map(median);
}

/**
 * The search's claim checked apart from the search: both architectures retrained with other seeds (each seed
 * its own validation split and initial weights, the same for both: paired).
 */
async function retrain(dir: string, ref: Architecture, other: Architecture): Promise<[number, number][]> {
  const a = specOptions(ref.model);
  const b = specOptions(other.model);
  const keys = Object.keys(a).filter((k) => a[k] !== b[k]);
  const base = zooSpec(
    'zoo:lenet5',
    Object.keys(a)
      .filter((k) => a[k] === b[k])
      .map((k) => [k, a[k]] as const),
  );
  const space = {
    ...RECIPE,
    ...Object.fromEntries(keys.map((k) => [`model.${k}`, { type: 'categorical' as const, choices: [a[k]!, b[k]!] }])),
  };
  const accuracy: [number, number][] = [];
  for (let s = 1; s <= confirmSeeds; s++) {
    const study = `confirm-${s}`;
    const config = resolveTuneConfig(
      {
        study,
        sampler: { name: 'random', seed: 0 },
        pruner: 'none',
        trials: 2,
        space,
        objective: { train: { model: base, data: 'mnist', epochs, metric: 'accuracy', limit, seed: s } },
      },
      { storage: `sqlite:${join(dir, 'confirm.db')}` },
    );
    config.enqueue = [a, b].map((o) => ({ params: Object.fromEntries(keys.map((k) => [`model.${k}`, o[k]!])) }));
    await runTune(config, { resume: false, io: quietIo, quiet: true });
    const storage = await openStorage(config.storage);
    const done = await storage.getAllTrials((await storage.getStudyId(study))!, ['complete']);
    await storage.close();
    const acc = (o: Record<string, string | number>) => done.find((t) => keys.every((k) => t.params[`model.${k}`] === o[k]))?.values?.[0];
    const [ra, rb] = [acc(a), acc(b)];
    if (ra === undefined || rb === undefined) throw new Error(`seed ${s}: a confirmation training did not complete`);
    accuracy.push([ra, rb]);
  }
  return accuracy;
}

/** One `hone nas --space cnn` search within `budgetMs`; `extra` adds flags (--no-prune). */
async function search(dir: string, name: string, budgetMs: number, extra: string[]) {
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
    '--latency-budget',
    `${budgetMs.toFixed(4)}ms`,
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
  const lenet = zooModel('lenet5');
  const times: number[] = [];
  for (let i = 0; i < 7; i++) times.push(await inferenceLatencyMs(lenet, 0));
  // The least of 7: the search keeps the lesser of two timings of each architecture, too.
  const budgetMs = Math.min(...times);
  const pruned = await search(dir, 'pruned', budgetMs, []);
  const full = await search(dir, 'full', budgetMs, ['--no-prune']);
  const { res, archs, ref } = pruned;
  const within = archs.filter((a) => a.number !== ref.number && a.latencyMs! <= ref.latencyMs!).sort((a, b) => b.accuracy - a.accuracy);
  const found = within[0];
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}. ${epochs} epochs on ${limit} MNIST digits (20% held out) per model; ${trials} architectures (seed ${seed}); --latency-budget ${budgetMs.toFixed(4)} ms (LeNet-5 timed first).\n`,
  );
  console.log('| model | accuracy (held out) | latency, batch 1 |');
  console.log('|---|---:|---:|');
  console.log(`| reference: LeNet-5 (${ref.model}) | ${pct(ref.accuracy)} | ${ref.latencyMs!.toFixed(4)} ms |`);
  if (found) console.log(`| best other within its latency: ${found.model} | ${pct(found.accuracy)} | ${found.latencyMs!.toFixed(4)} ms |`);
  else console.log('| (no other architecture within its latency) | | |');
  const beats = archs.filter((a) => a.number !== ref.number && a.accuracy >= ref.accuracy && a.latencyMs! <= ref.latencyMs!);
  console.log(
    `\nOther architectures at least as accurate and no slower than LeNet-5: ${beats.length}${beats.length ? ` (${beats.map((a) => a.model.replace('zoo:lenet5:', '')).join('; ')})` : ''}.`,
  );
  if (res.latencyModel)
    console.log(`Latency model, leave-one-out error over the search's architectures: ${res.latencyModel.looMapePercent.toFixed(1)}%.`);
  // The search with every architecture trained to the end visits others (the sampler follows the results):
  // what it found within LeNet-5's latency, for comparison (the claim below is checked on the default search).
  const fullRef = full.ref;
  const fullBest = full.archs
    .filter((a) => a.number !== fullRef.number && a.latencyMs! <= fullRef.latencyMs!)
    .sort((a, b) => b.accuracy - a.accuracy)[0];
  console.log(
    `With --no-prune: LeNet-5 ${pct(fullRef.accuracy)} @ ${fullRef.latencyMs!.toFixed(4)} ms; the best other within its latency ${
      fullBest ? `${fullBest.model.replace('zoo:lenet5:', '')} ${pct(fullBest.accuracy)} @ ${fullBest.latencyMs!.toFixed(4)} ms` : 'none'
    }.`,
  );
  // The candidates (every one the search found at least as accurate and no slower, else the most accurate
  // within its latency) re-timed beside LeNet-5; the most accurate still no slower is retrained with other seeds.
  const candidates = beats.length ? beats : found ? [found] : [];
  if (candidates.length && confirmSeeds > 0) {
    const [refMs, ...candMs] = await retime([ref, ...candidates]);
    console.log(
      `\nRe-timed side by side (7 rounds, medians): LeNet-5 ${refMs!.toFixed(4)} ms; ${candidates
        .map((c, i) => `${c.model.replace('zoo:lenet5:', '')} ${candMs[i]!.toFixed(4)} ms`)
        .join('; ')}.`,
    );
    const fast = candidates.filter((_, i) => candMs[i]! <= refMs!).sort((x, y) => y.accuracy - x.accuracy);
    const pick = fast[0];
    if (!pick) console.log('None of them is no slower than LeNet-5 when timed side by side.');
    else {
      const acc = await retrain(dir, ref, pick);
      const pickMs = candMs[candidates.indexOf(pick)]!;
      const name = pick.model.replace('zoo:lenet5:', '');
      console.log(
        `\nConfirmation: ${name} and LeNet-5 retrained with ${confirmSeeds} other seeds (paired: each seed its own split and initial weights, the same for both):\n`,
      );
      console.log(`| seed | LeNet-5 | ${name} |`);
      console.log('|---|---:|---:|');
      acc.forEach(([x, y], i) => console.log(`| ${i + 1} | ${pct(x)} | ${pct(y)} |`));
      const mean = (k: 0 | 1) => acc.reduce((s, p) => s + p[k], 0) / acc.length;
      console.log(`| mean | ${pct(mean(0))} | ${pct(mean(1))} |`);
      console.log(`| latency, batch 1 (side by side, median of 7) | ${refMs!.toFixed(4)} ms | ${pickMs.toFixed(4)} ms |`);
      const wins = acc.filter(([x, y]) => y >= x).length;
      console.log(
        `\nAt least as accurate in ${wins} of ${acc.length} seeds (mean ${(100 * (mean(1) - mean(0))).toFixed(2)} points); latency ${(pickMs / refMs!).toFixed(3)}x LeNet-5's.`,
      );
    }
  }

  // Multi-fidelity: the same search with every architecture trained to the end. Fronts compared by
  // hypervolume (error rate and latency, both minimized) against one reference point: the worst of both runs.
  const points = (a: Architecture[]) => a.map((x) => [1 - x.accuracy, x.latencyMs!]);
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
