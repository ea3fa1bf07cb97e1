/**
 * AutoML on the issue's case: tuning LeNet-5's training on the built-in MNIST digits with `hone tune`'s
 * train objective, against `hone train`'s default hyperparameters, and ASHA against no pruning.
 *
 *   npx tsx bench/automl.ts [--seeds 5] [--trials 20] [--epochs 6] [--limit 5000] [--validation 0.2]
 *                           [--eta 3] [--min-resource 1] [--baseline-seeds 3] [--tolerance 0.2] [--sampler tpe]
 *
 * Everything goes through the CLI's own entry point in this process (`main`, what `npx hone` runs), so
 * the bench measures exactly what a user gets:
 *
 * - The defaults: `hone train --model zoo:lenet5 --data mnist --limit L --val-split V --epochs E --seed 0`
 *   (adam, lr 1e-3, batch 64, constant schedule, no warm-up, no label smoothing, the zoo's LeNet-5): the
 *   same data, the same validation split and shuffling (seed 0) and the same number of epochs as a
 *   tuning trial that runs to the end. Its initial weights are seed 0's, like every trial's; init seeds
 *   1…B−1 (zoo:lenet5:seed=K) show how much the defaults' accuracy moves with the initialization alone.
 * - The tuning: `hone tune CONFIG.json --json -o best.onnx` with `objective: { train: { model: zoo:lenet5,
 *   data: mnist, epochs: E, limit: L, validation: V, seed: 0 } }` and the model's default space (14
 *   parameters: optimizer, lr, batch size, momentum, beta1, beta2, weight decay, schedule, warm-up, label
 *   smoothing, channels, fc widths, activation, pooling), N trials, one worker, memory storage; sampler
 *   seed S for S = 0…seeds−1, once with no pruner and once with ASHA (successive halving, minResource 1,
 *   reduction factor η: rungs after epochs 1, η, η², … below E). The two variants of a seed run back to
 *   back, in alternating order from seed to seed, so a change in the machine's load hits both alike.
 *
 * The validation accuracy of the best trial is a maximum over N trials on the same validation split, so
 * it is biased upwards; the best trial's model (-o) and the defaults' are therefore also scored on the
 * 2,000 test digits, which no run sees.
 *
 * "The same best accuracy": the ASHA study's best validation accuracy is at least the no-pruning
 * study's best minus `--tolerance` percentage points. "In ≤ half the time": the ASHA study's training
 * time (the sum of its trials' durations; one worker runs them one after the other) is at most half the
 * no-pruning study's, both with the same number of trials and the same sampler seed; epochs are counted
 * too, since the machine's load moves seconds. A stricter, anytime reading is reported beside it: the
 * training time (and epochs) each study spent until its first complete trial at or above that target
 * (the no-pruning study's final best, minus the tolerance). When the best configuration comes among
 * the first trials — which are the same in both studies, as TPE starts with random samples from the same
 * seed — no pruner can get there much sooner, since ASHA promotes the first trials for want of rivals.
 * "Prunes ≥ 50%" counts the trials stopped before their last epoch (one pruned at a rung on the last
 * epoch trained in full).
 *
 * Prints markdown tables (the "AutoML" section of docs/benchmarks.md) and, last, one JSON line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../src/cli/main.js';
import { mnist } from '../src/data/index.js';
import { createSession } from '../src/runtime/session.js';
import * as ort from 'onnxruntime-node';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: {
    seeds: { type: 'string', default: '5' },
    trials: { type: 'string', default: '20' },
    epochs: { type: 'string', default: '6' },
    limit: { type: 'string', default: '5000' },
    validation: { type: 'string', default: '0.2' },
    eta: { type: 'string', default: '3' },
    'min-resource': { type: 'string', default: '1' },
    'baseline-seeds': { type: 'string', default: '3' },
    tolerance: { type: 'string', default: '0.2' },
    sampler: { type: 'string', default: 'tpe' },
  },
});
const SEEDS = Number(flags.seeds);
const TRIALS = Number(flags.trials);
const EPOCHS = Number(flags.epochs);
const LIMIT = Number(flags.limit);
const VALIDATION = Number(flags.validation);
const ETA = Number(flags.eta);
const MIN_RESOURCE = Number(flags['min-resource']);
const BASELINE_SEEDS = Number(flags['baseline-seeds']);
/** Percentage points. */
const TOLERANCE = Number(flags.tolerance);
const SAMPLER = flags.sampler!;

const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const dir = mkdtempSync(join(tmpdir(), 'hone-bench-automl-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Runs `hone ARGS` in this process; its stdout is returned, its stderr lines go to the log. */
async function hone(args: string[]): Promise<string> {
  let out = '';
  const code = await main(args, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      for (const line of t.split('\n')) if (line.trim()) log(`  ${line.trim()}`);
    },
    isTTY: false,
  });
  if (code !== 0) throw new Error(`hone ${args.join(' ')} exited ${code}`);
  return out;
}

/** Top-1 accuracy of a saved classifier on the built-in MNIST's 2,000 test digits. */
async function testAccuracy(path: string): Promise<number> {
  const test = mnist().test;
  const session = await createSession(path, { intraOpThreads: 1 });
  const x = test.features.input!;
  const per = 784;
  const batch = 500;
  let correct = 0;
  try {
    for (let start = 0; start < test.size; start += batch) {
      const n = Math.min(batch, test.size - start);
      const feeds = { input: new ort.Tensor('float32', x.data.slice(start * per, (start + n) * per) as Float32Array, [n, 1, 28, 28]) };
      const logits = (await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array;
      const classes = logits.length / n;
      for (let i = 0; i < n; i++) {
        let arg = 0;
        for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + arg]!) arg = c;
        if (BigInt(arg) === (test.labels.data as BigInt64Array)[start + i]) correct++;
      }
    }
  } finally {
    await session.release();
  }
  return correct / test.size;
}

// ---- The defaults ---------------------------------------------------------------------------------

interface BaselineRun {
  initSeed: number;
  valAccuracy: number;
  testAccuracy: number;
  seconds: number;
}

async function baseline(initSeed: number): Promise<BaselineRun> {
  const out = join(dir, `default-${initSeed}.onnx`);
  const model = initSeed === 0 ? 'zoo:lenet5' : `zoo:lenet5:seed=${initSeed}`;
  const t0 = performance.now();
  const json = JSON.parse(
    await hone([
      'train',
      '--model',
      model,
      '--data',
      'mnist',
      '--limit',
      String(LIMIT),
      '--val-split',
      String(VALIDATION),
      '--epochs',
      String(EPOCHS),
      '--seed',
      '0',
      '--quiet',
      '--json',
      '-o',
      out,
    ]),
  ) as { history: { epoch: number; valAccuracy?: number }[] };
  const seconds = (performance.now() - t0) / 1000;
  const last = json.history[json.history.length - 1]!;
  if (last.valAccuracy === undefined) throw new Error('hone train --val-split reported no validation accuracy');
  return { initSeed, valAccuracy: last.valAccuracy, testAccuracy: await testAccuracy(out), seconds };
}

// ---- The tuning -----------------------------------------------------------------------------------

type Variant = 'none' | 'asha';

interface TrialPoint {
  number: number;
  state: string;
  value: number | null;
  /** Epochs this trial trained (the intermediate values it reported). */
  epochs: number;
  seconds: number;
  /** Totals over the trials up to and including this one. */
  cumEpochs: number;
  cumSeconds: number;
}

interface TuneRunResult {
  variant: Variant;
  seed: number;
  bestValue: number;
  bestTrial: number;
  bestParams: Record<string, unknown>;
  states: Record<string, number>;
  /** Pruned before the last epoch (a trial pruned at the last epoch trained it all). */
  stoppedEarly: number;
  epochs: number;
  trialSeconds: number;
  wallS: number;
  testAccuracy: number;
  timeline: TrialPoint[];
}

interface ReportJson {
  bestValue: number | null;
  bestTrial: number | null;
  bestParams: Record<string, unknown> | null;
  states: Record<string, number>;
  history: { number: number; state: string; values: number[] | null; durationS: number | null; intermediate?: [number, number][] }[];
}

async function tune(variant: Variant, seed: number): Promise<TuneRunResult> {
  const config = {
    study: `automl-${variant}-${seed}`,
    sampler: { name: SAMPLER, seed },
    pruner: variant === 'none' ? 'none' : { name: 'successive-halving', options: { minResource: MIN_RESOURCE, reductionFactor: ETA } },
    trials: TRIALS,
    objective: {
      train: { model: 'zoo:lenet5', data: 'mnist', epochs: EPOCHS, metric: 'accuracy', limit: LIMIT, validation: VALIDATION, seed: 0 },
    },
  };
  const file = join(dir, `${config.study}.json`);
  writeFileSync(file, JSON.stringify(config));
  const best = join(dir, `${config.study}-best.onnx`);
  log(`${variant}, sampler seed ${seed}: hone tune (load ${loadavg()[0]!.toFixed(2)})`);
  const t0 = performance.now();
  const r = JSON.parse(await hone(['tune', file, '--json', '-o', best])) as ReportJson;
  const wallS = (performance.now() - t0) / 1000;
  if (r.bestValue === null || r.bestTrial === null) throw new Error(`${config.study}: no trial completed`);
  let cumEpochs = 0;
  let cumSeconds = 0;
  const timeline = [...r.history]
    .sort((a, b) => a.number - b.number)
    .map((h): TrialPoint => {
      const epochs = h.intermediate?.length ?? 0;
      const seconds = h.durationS ?? 0;
      cumEpochs += epochs;
      cumSeconds += seconds;
      return { number: h.number, state: h.state, value: h.values?.[0] ?? null, epochs, seconds, cumEpochs, cumSeconds };
    });
  return {
    variant,
    seed,
    bestValue: r.bestValue,
    bestTrial: r.bestTrial,
    bestParams: r.bestParams ?? {},
    states: r.states,
    stoppedEarly: timeline.filter((t) => t.state === 'pruned' && t.epochs < EPOCHS).length,
    epochs: cumEpochs,
    trialSeconds: cumSeconds,
    wallS,
    testAccuracy: await testAccuracy(best),
    timeline,
  };
}

/** The first complete trial at or above `target`: the training time and epochs spent until it ended. */
function reach(run: TuneRunResult, target: number): { trial: number; epochs: number; seconds: number } | undefined {
  const t = run.timeline.find((p) => p.state === 'complete' && p.value !== null && p.value >= target - 1e-12);
  return t && { trial: t.number, epochs: t.cumEpochs, seconds: t.cumSeconds };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const pp = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)} pp`;
const sec = (v: number) => `${v.toFixed(0)} s`;
const ratio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'never');

const started = performance.now();
const startLoad = loadavg()[0]!;
const baselines: BaselineRun[] = [];
for (let k = 0; k < BASELINE_SEEDS; k++) {
  log(`defaults, init seed ${k}: hone train (load ${loadavg()[0]!.toFixed(2)})`);
  baselines.push(await baseline(k));
}
const defaultVal = median(baselines.map((b) => b.valAccuracy));
const defaultTest = median(baselines.map((b) => b.testAccuracy));

const runs: { none: TuneRunResult; asha: TuneRunResult }[] = [];
for (let seed = 0; seed < SEEDS; seed++) {
  const order: Variant[] = seed % 2 === 0 ? ['none', 'asha'] : ['asha', 'none'];
  const got: Partial<Record<Variant, TuneRunResult>> = {};
  for (const v of order) got[v] = await tune(v, seed);
  runs.push({ none: got.none!, asha: got.asha! });
}
const endLoad = loadavg()[0]!;
const totalMin = (performance.now() - started) / 60_000;

interface SeedVerdict {
  seed: number;
  target: number;
  noneReach: NonNullable<ReturnType<typeof reach>>;
  ashaReach: ReturnType<typeof reach>;
  timeRatio: number;
  epochRatio: number;
  totalTimeRatio: number;
  totalEpochRatio: number;
  /**
   * The share of trials ASHA stopped before the last epoch: one pruned at a rung that falls on the last
   * epoch (e.g. rung 9 of 9 epochs) trained in full, saved nothing, and does not count.
   */
  prunedShare: number;
  sameBest: boolean;
  /** All three parts of the requirement, with the study-level time. */
  met: boolean;
}

const verdicts: SeedVerdict[] = runs.map(({ none, asha }) => {
  const target = none.bestValue - TOLERANCE / 100;
  const noneReach = reach(none, target)!;
  const ashaReach = reach(asha, target);
  const prunedShare = asha.stoppedEarly / TRIALS;
  const sameBest = asha.bestValue >= target - 1e-12;
  const totalTimeRatio = asha.trialSeconds / none.trialSeconds;
  return {
    seed: none.seed,
    target,
    noneReach,
    ashaReach,
    timeRatio: ashaReach ? ashaReach.seconds / noneReach.seconds : Number.POSITIVE_INFINITY,
    epochRatio: ashaReach ? ashaReach.epochs / noneReach.epochs : Number.POSITIVE_INFINITY,
    totalTimeRatio,
    totalEpochRatio: asha.epochs / none.epochs,
    prunedShare,
    sameBest,
    met: prunedShare >= 0.5 && sameBest && totalTimeRatio <= 0.5,
  };
});

const machine = cpuDescription();
const say = (s = '') => console.log(s);
say(
  `Machine: ${machine}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; 1-minute load ${startLoad.toFixed(1)} at the start, ${endLoad.toFixed(1)} at the end. Date: ${new Date().toISOString().slice(0, 10)}.`,
);
say(
  `Run: \`npx tsx bench/automl.ts --seeds ${SEEDS} --trials ${TRIALS} --epochs ${EPOCHS} --limit ${LIMIT} --validation ${VALIDATION} --eta ${ETA} --min-resource ${MIN_RESOURCE} --baseline-seeds ${BASELINE_SEEDS} --tolerance ${TOLERANCE} --sampler ${SAMPLER}\` (${totalMin.toFixed(1)} min in all).`,
);
say();
const nVal = Math.round(LIMIT * VALIDATION);
say(
  `Data: the first ${LIMIT} of the built-in MNIST's 8,000 training digits, ${nVal} of them held out for validation (one validation digit = ${(100 / nVal).toFixed(3)} pp); test: the 2,000 test digits. ${EPOCHS} epochs per run (per trial that is not pruned).`,
);
say();
say(`The defaults (\`hone train --model zoo:lenet5 --data mnist --epochs ${EPOCHS}\`: adam, lr 1e-3, batch 64), by initialization seed:`);
say();
say('| init seed | validation accuracy | test accuracy | time |');
say('|---:|---:|---:|---:|');
for (const b of baselines) say(`| ${b.initSeed} | ${pct(b.valAccuracy)} | ${pct(b.testAccuracy)} | ${sec(b.seconds)} |`);
say(`| **median** | **${pct(defaultVal)}** | **${pct(defaultTest)}** | |`);
say();
say(
  `Tuning, ${TRIALS} trials, sampler ${SAMPLER} (seed = the row's seed), the default space; ASHA: successive halving, minResource ${MIN_RESOURCE}, η ${ETA}. "Epochs" and "train time" add up the trials' epochs and durations; "wall" is the whole \`hone tune\` run.`,
);
say();
say(
  '| seed | pruner | best validation acc. | vs defaults | best trial | complete / pruned (early) / failed | epochs | train time | wall | test acc. of best |',
);
say('|---:|---|---:|---:|---:|---|---:|---:|---:|---:|');
for (const { none, asha } of runs) {
  for (const r of [none, asha]) {
    say(
      `| ${r.seed} | ${r.variant === 'none' ? 'none' : 'ASHA'} | ${pct(r.bestValue)} | ${pp(r.bestValue - defaultVal)} | ${r.bestTrial} | ${r.states.complete} / ${r.states.pruned} (${r.stoppedEarly}) / ${r.states.fail} | ${r.epochs} | ${sec(r.trialSeconds)} | ${sec(r.wallS)} | ${pct(r.testAccuracy)} |`,
    );
  }
}
say();
say(
  `ASHA against no pruning, same seed: its share of the trials pruned, whether its best is the same (≥ the no-pruning best − ${TOLERANCE} pp, the target), its study's training time and epochs as a share of the no-pruning study's, and — the anytime reading — the trial, epochs and training time each study took to its first complete trial at or above the target.`,
);
say();
say(
  '| seed | pruned early | target | ASHA best | study time ratio | study epoch ratio | to target, no pruning: trial, epochs, time | to target, ASHA | time ratio | epoch ratio |',
);
say('|---:|---:|---:|---:|---:|---:|---|---|---:|---:|');
for (const v of verdicts) {
  const a = v.ashaReach;
  const asha = runs.find((r) => r.asha.seed === v.seed)!.asha;
  say(
    `| ${v.seed} | ${(100 * v.prunedShare).toFixed(0)}% | ${pct(v.target)} | ${pct(asha.bestValue)}${v.sameBest ? '' : ' (below)'} | ${ratio(v.totalTimeRatio)} | ${ratio(v.totalEpochRatio)} | ${v.noneReach.trial}, ${v.noneReach.epochs}, ${sec(v.noneReach.seconds)} | ${a ? `${a.trial}, ${a.epochs}, ${sec(a.seconds)}` : 'not reached'} | ${ratio(v.timeRatio)} | ${ratio(v.epochRatio)} |`,
  );
}
const med = {
  noneBest: median(runs.map((r) => r.none.bestValue)),
  ashaBest: median(runs.map((r) => r.asha.bestValue)),
  noneTest: median(runs.map((r) => r.none.testAccuracy)),
  ashaTest: median(runs.map((r) => r.asha.testAccuracy)),
  prunedShare: median(verdicts.map((v) => v.prunedShare)),
  timeRatio: median(verdicts.map((v) => v.timeRatio)),
  epochRatio: median(verdicts.map((v) => v.epochRatio)),
  totalTimeRatio: median(verdicts.map((v) => v.totalTimeRatio)),
  totalEpochRatio: median(verdicts.map((v) => v.totalEpochRatio)),
};
const beats = runs.filter((r) => r.none.bestValue > defaultVal && r.asha.bestValue > defaultVal).length;
const defaultMax = Math.max(...baselines.map((b) => b.valAccuracy));
const beatsMax = runs.filter((r) => Math.min(r.none.bestValue, r.asha.bestValue) > defaultMax).length;
const beatsTest = runs.filter((r) => Math.min(r.none.testAccuracy, r.asha.testAccuracy) > defaultTest).length;
const prunes = verdicts.filter((v) => v.prunedShare >= 0.5).length;
const same = verdicts.filter((v) => v.sameBest).length;
const half = verdicts.filter((v) => v.totalTimeRatio <= 0.5).length;
const halfToTarget = verdicts.filter((v) => v.timeRatio <= 0.5).length;
const all = verdicts.filter((v) => v.met).length;
say();
say(
  `Medians over ${SEEDS} seeds: best validation accuracy ${pct(med.noneBest)} without pruning, ${pct(med.ashaBest)} with ASHA (defaults ${pct(defaultVal)}); test accuracy of the best model ${pct(med.noneTest)} / ${pct(med.ashaTest)} (defaults ${pct(defaultTest)}); ASHA pruned ${(100 * med.prunedShare).toFixed(0)}% of the trials before their last epoch, its study took ${ratio(med.totalTimeRatio)} the training time (${ratio(med.totalEpochRatio)} the epochs), and it reached the target in ${ratio(med.timeRatio)} the time the no-pruning study took to reach it (${ratio(med.epochRatio)} the epochs).`,
);
say();
say('| criterion | seeds meeting it |');
say('|---|---:|');
say(`| tuned best (both variants) > the defaults' median validation accuracy | ${beats} of ${SEEDS} |`);
say(`| … and > the best of the defaults' ${BASELINE_SEEDS} init seeds | ${beatsMax} of ${SEEDS} |`);
say(`| the best trial's model (both variants) > the defaults' median test accuracy | ${beatsTest} of ${SEEDS} |`);
say(`| ASHA prunes ≥ 50% of the trials (before their last epoch) | ${prunes} of ${SEEDS} |`);
say(`| ASHA's best ≥ no pruning's best − ${TOLERANCE} pp | ${same} of ${SEEDS} |`);
say(`| ASHA's study takes ≤ 0.5x the no-pruning study's training time | ${half} of ${SEEDS} |`);
say(`| the three above together (the requirement's ASHA part) | ${all} of ${SEEDS} |`);
say(`| stricter, anytime: ASHA reaches the target in ≤ 0.5x the time no pruning took to reach it | ${halfToTarget} of ${SEEDS} |`);
console.log(
  JSON.stringify({
    seeds: SEEDS,
    trials: TRIALS,
    epochs: EPOCHS,
    limit: LIMIT,
    validation: VALIDATION,
    eta: ETA,
    minResource: MIN_RESOURCE,
    tolerancePp: TOLERANCE,
    sampler: SAMPLER,
    minutes: totalMin,
    defaults: baselines,
    runs: runs
      .flatMap(({ none, asha }) => [none, asha])
      .map(({ timeline, ...r }) => ({
        ...r,
        trials: timeline.map((t) => [t.number, t.state, t.value, t.epochs, Number(t.seconds.toFixed(2))]),
      })),
    verdicts,
    medians: med,
  }),
);
