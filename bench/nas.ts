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
 * The search runs with --latency-budget 1x: LeNet-5's latency, timed by hone nas first (median of 5): the budget is the
 * study's constraint, so the sampler looks for architectures within it rather than over the whole front.
 *
 * The search confirms its answer (`--confirm K --confirm-seeds S`): the K most accurate within the budget and
 * LeNet-5 trained again with S other seeds and timed side by side; the answer is the best mean. The answer is
 * the search's claim when it is not LeNet-5 itself.
 *
 * Then the claim checked apart from the search: LeNet-5 and the answer retrained with --check-seeds seeds the
 * search never used (101, 102, …), paired, and timed side by side again.
 *
 * With --compare-no-prune, the same search with --no-prune too: what stopping dominated architectures
 * part-way (multi-fidelity) saves, and what it costs the front (hypervolume of error rate × latency).
 *
 *   npx tsx bench/nas.ts [--trials 80] [--epochs 3] [--limit 8000] [--seed 0] [--confirm 4] [--confirm-seeds 3]
 *                        [--check-seeds 3] [--compare-no-prune]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Architecture } from '../src/cli/commands/nas.js';
import { RECIPE } from '../src/cli/commands/nas.js';
import { CONFIRM_ROUNDS } from '../src/cli/commands/nas-confirm.js';
import { main } from '../src/cli/main.js';
import { resolveTuneConfig } from '../src/cli/tune/config.js';
import { runTune } from '../src/cli/tune/run.js';
import { inferenceLatencyMs } from '../src/nas/latency-model.js';
import { median } from '../src/runtime/stats.js';
import { hypervolume } from '../src/tune/hypervolume.js';
import { openStorage } from '../src/tune/storage/open.js';
import { zooModel, zooSpec } from '../src/zoo/index.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: {
    trials: { type: 'string' },
    epochs: { type: 'string' },
    limit: { type: 'string' },
    seed: { type: 'string' },
    confirm: { type: 'string' },
    'confirm-seeds': { type: 'string' },
    'check-seeds': { type: 'string' },
    'compare-no-prune': { type: 'boolean' },
  },
});
const trials = Number(flags.trials ?? 80);
const epochs = Number(flags.epochs ?? 3);
const limit = Number(flags.limit ?? 8000);
const seed = Number(flags.seed ?? 0);
const confirm = Number(flags.confirm ?? 4);
const confirmSeeds = Number(flags['confirm-seeds'] ?? 3);
const checkSeeds = Number(flags['check-seeds'] ?? 3);
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
 * The search's claim checked apart from the search: both architectures retrained with seeds the search never
 * used (101, 102, …; each its own validation split and initial weights, the same for both: paired).
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
  for (let s = 101; s <= 100 + checkSeeds; s++) {
    const study = `check-${s}`;
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

/** One `hone nas --space cnn` search within LeNet-5's latency (--latency-budget 1x); `extra` adds flags (--no-prune). */
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
    '--latency-budget',
    '1x',
  ];
  const code = await main([...args, ...extra, '--seed', String(seed), '-o', join(dir, name), '--json', '--quiet'], io);
  const seconds = (performance.now() - t0) / 1000;
  const res = JSON.parse(stdout) as {
    reference: Architecture | null;
    chosen: Architecture | null;
    latencyModel: { looMapePercent: number } | null;
  };
  const archs = JSON.parse(readFileSync(join(dir, name, 'front.json'), 'utf8')) as Architecture[];
  const report = JSON.parse(readFileSync(join(dir, name, 'report.json'), 'utf8')) as {
    skipped: number;
    latencyBudgetRelative: { budgetMs: number };
  };
  if (!res.reference) throw new Error(`the reference did not train (exit ${code})`);
  return { seconds, res, archs, ref: res.reference, pruned: report.skipped, budget: report.latencyBudgetRelative };
}

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-nas-'));
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const short = (m: string) => m.replace('zoo:lenet5:', '');
try {
  const confirmFlags = confirm > 0 ? ['--confirm', String(confirm), '--confirm-seeds', String(confirmSeeds)] : [];
  const pruned = await search(dir, 'pruned', confirmFlags);
  const budgetMs = pruned.budget.budgetMs;
  const { res, archs, ref } = pruned;
  console.log(
    `Machine: ${cpuDescription()} × ${cpus().length}, Node ${process.version}. ${epochs} epochs on ${limit} MNIST digits (20% held out) per model; ${trials} architectures (seed ${seed}); --latency-budget 1x (LeNet-5 timed first: ${budgetMs.toFixed(4)} ms); --confirm ${confirm} --confirm-seeds ${confirmSeeds}; the search took ${pruned.seconds.toFixed(0)} s.\n`,
  );
  const within = archs.filter((a) => a.number !== ref.number && a.latencyMs! <= ref.latencyMs!).sort((a, b) => b.accuracy - a.accuracy);
  const beats = within.filter((a) => a.accuracy >= ref.accuracy);
  console.log(
    `In the search: LeNet-5 ${pct(ref.accuracy)} @ ${ref.latencyMs!.toFixed(4)} ms; ${beats.length} other(s) at least as accurate and no slower${beats.length ? ` (${beats.map((a) => `${short(a.model)} ${pct(a.accuracy)}`).join('; ')})` : ''}; the most accurate other within its latency: ${within[0] ? `${short(within[0].model)} ${pct(within[0].accuracy)} @ ${within[0].latencyMs!.toFixed(4)} ms` : 'none'}.`,
  );
  if (res.latencyModel)
    console.log(`Latency model, leave-one-out error over the search's architectures: ${res.latencyModel.looMapePercent.toFixed(1)}%.`);
  const confirmed = archs.filter((a) => a.confirmed);
  if (confirmed.length) {
    console.log(`\nConfirmed by the search (seed 0 is the search's own run; side by side: ${CONFIRM_ROUNDS} rounds, least):\n`);
    console.log(
      `| architecture | ${['search', ...Array.from({ length: confirmSeeds }, (_, i) => `seed ${i + 1}`)].join(' | ')} | mean | latency | vs LeNet-5 |`,
    );
    console.log(`|---|${'---:|'.repeat(confirmSeeds + 4)}`);
    for (const a of confirmed.sort((x, y) => y.confirmed!.meanAccuracy - x.confirmed!.meanAccuracy)) {
      const c = a.confirmed!;
      console.log(
        `| ${a.number === ref.number ? 'LeNet-5 (reference)' : short(a.model)}${a.number === res.chosen?.number ? ' ← chosen' : ''} | ${c.accuracies.map(pct).join(' | ')} | ${pct(c.meanAccuracy)} | ${c.latencyMs!.toFixed(4)} ms | ${c.latencyVsReference!.toFixed(3)}x |`,
      );
    }
  }
  const chosen = res.chosen;
  if (!chosen || chosen.number === ref.number) {
    console.log("\nThe answer within LeNet-5's latency is LeNet-5 itself: no claim.");
  } else if (checkSeeds > 0) {
    const [refMs, pickMs] = await retime([ref, chosen]);
    const acc = await retrain(dir, ref, chosen);
    const name = short(chosen.model);
    console.log(
      `\nThe answer checked apart from the search: retrained with ${checkSeeds} seeds it never used (paired), re-timed side by side (7 rounds, medians):\n`,
    );
    console.log(`| seed | LeNet-5 | ${name} |`);
    console.log('|---|---:|---:|');
    acc.forEach(([x, y], i) => console.log(`| ${101 + i} | ${pct(x)} | ${pct(y)} |`));
    const mean = (k: 0 | 1) => acc.reduce((s, p) => s + p[k], 0) / acc.length;
    console.log(`| mean | ${pct(mean(0))} | ${pct(mean(1))} |`);
    console.log(`| latency, batch 1 | ${refMs!.toFixed(4)} ms | ${pickMs!.toFixed(4)} ms |`);
    const wins = acc.filter(([x, y]) => y >= x).length;
    console.log(
      `\nAt least as accurate in ${wins} of ${acc.length} seeds (mean ${(100 * (mean(1) - mean(0))).toFixed(2)} points); latency ${(pickMs! / refMs!).toFixed(3)}x LeNet-5's.`,
    );
    // Every paired run of the two: the search's, the confirmation's and these (the same seeds for both).
    if (chosen.confirmed && ref.confirmed) {
      const pairs: [number, number][] = [
        ...ref.confirmed.accuracies.map((x, i) => [x, chosen.confirmed!.accuracies[i]!] as [number, number]),
        ...acc,
      ];
      const pooled = (k: 0 | 1) => pairs.reduce((s, p) => s + p[k], 0) / pairs.length;
      console.log(
        `Pooled over all ${pairs.length} paired seeds: LeNet-5 ${pct(pooled(0))}, ${name} ${pct(pooled(1))} (${(100 * (pooled(1) - pooled(0))).toFixed(2)} points; at least as accurate on ${pairs.filter(([x, y]) => y >= x).length} of ${pairs.length}).`,
      );
    }
  }

  if (flags['compare-no-prune']) {
    // Multi-fidelity: the same search with every architecture trained to the end. Fronts compared by
    // hypervolume (error rate and latency, both minimized) against one reference point: the worst of both runs.
    const full = await search(dir, 'full', ['--no-prune', ...confirmFlags]);
    const points = (a: Architecture[]) => a.map((x) => [1 - x.accuracy, x.latencyMs!]);
    const all = [...points(pruned.archs), ...points(full.archs)];
    const refPoint = [Math.max(...all.map((p) => p[0]!)) * 1.05, Math.max(...all.map((p) => p[1]!)) * 1.05];
    const hv = (a: Architecture[]) => hypervolume(points(a), refPoint);
    const best = (a: Architecture[]) => Math.max(...a.map((x) => x.accuracy));
    console.log('\n| search | architectures finished | stopped part-way | whole search | front hypervolume | best accuracy | answer |');
    console.log('|---|---:|---:|---:|---:|---:|---|');
    for (const [name, r] of [
      ['dominated ones stopped (default)', pruned],
      ['every one trained to the end (--no-prune)', full],
    ] as const)
      console.log(
        `| ${name} | ${r.archs.length} | ${r.pruned} | ${r.seconds.toFixed(0)} s | ${hv(r.archs).toExponential(3)} | ${pct(best(r.archs))} | ${r.res.chosen ? short(r.res.chosen.model) : 'none'} |`,
      );
    console.log(
      `\nWhole search: ${(full.seconds / pruned.seconds).toFixed(2)}x faster with stopping; front hypervolume ratio ${(hv(pruned.archs) / hv(full.archs)).toFixed(3)}.`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
