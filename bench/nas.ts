/**
 * `hone nas` on MNIST against LeNet-5: does the search find a CNN at least as accurate as LeNet-5 trained
 * with the same budget, at no more than LeNet-5's measured latency?
 *
 * LeNet-5 (the zoo's defaults) is trained with the recipe every NAS trial uses (Adam, lr 0.002, batch 64,
 * cosine, `--epochs` epochs on the first `--limit` digits, 20% held out) and timed at batch 1 the same way
 * (least round median in a worker). Then `hone nas --space cnn` runs `--trials` architectures with its
 * latency as the budget. Both accuracies are on the same held-out split, both latencies on this machine.
 *
 *   npx tsx bench/nas.ts [--trials 16] [--epochs 2] [--limit 6000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../src/cli/main.js';
import { inferenceLatencyMs } from '../src/cli/tune/train-objective.js';
import { resolveData } from '../src/cli/commands/train-args.js';
import { zooModel } from '../src/zoo/index.js';
import { train } from '../src/train/index.js';
import { parseSchedule } from '../src/cli/commands/train-args.js';

const { values: flags } = parseArgs({ options: { trials: { type: 'string' }, epochs: { type: 'string' }, limit: { type: 'string' } } });
const trials = Number(flags.trials ?? 16);
const epochs = Number(flags.epochs ?? 2);
const limit = Number(flags.limit ?? 6000);

const lenet = zooModel('lenet5');
const data = await resolveData('mnist', lenet, limit, 'train', {}, {});
const nTrain = data.train.size - Math.round(data.train.size * 0.2);
const t0 = performance.now();
const base = await train(lenet, data.train, {
  epochs,
  batchSize: 64,
  optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, weightDecay: 0.0001 },
  lr: 0.002,
  schedule: parseSchedule('cosine', Math.floor(nTrain / 64), epochs),
  validationSplit: 0.2,
  seed: 0,
});
const baseSeconds = (performance.now() - t0) / 1000;
const baseAcc = base.history[base.history.length - 1]!.valAccuracy!;
const baseMs = await inferenceLatencyMs(base.model, 0);
console.error(`LeNet-5: accuracy ${baseAcc}, ${baseMs} ms, trained in ${baseSeconds.toFixed(1)} s`);

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-nas-'));
try {
  let stdout = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: (t: string) => process.stderr.write(t), isTTY: false };
  const n0 = performance.now();
  const code = await main(
    [
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
      String(baseMs),
      '-o',
      join(dir, 'out'),
      '--json',
    ],
    io,
  );
  const nasSeconds = (performance.now() - n0) / 1000;
  const res = JSON.parse(stdout) as { chosen?: { model: string; accuracy: number; latencyMs: number }; front: number[]; note?: string };
  const archs = JSON.parse(readFileSync(join(dir, 'out', 'front.json'), 'utf8')) as unknown[];
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}. ${epochs} epochs on ${limit} MNIST digits (20% held out) per model.\n`,
  );
  console.log('| model | accuracy (held out) | latency, batch 1 | how found |');
  console.log('|---|---:|---:|---|');
  console.log(
    `| LeNet-5 (zoo defaults) | ${(100 * baseAcc).toFixed(2)}% | ${baseMs.toFixed(4)} ms | trained once, ${baseSeconds.toFixed(0)} s |`,
  );
  if (res.chosen)
    console.log(
      `| ${res.chosen.model} | ${(100 * res.chosen.accuracy).toFixed(2)}% | ${res.chosen.latencyMs.toFixed(4)} ms | hone nas (exit ${code}): ${archs.length} architectures, ${res.front.length} on the front, ${nasSeconds.toFixed(0)} s |`,
    );
  else console.log(`| (none within ${baseMs.toFixed(4)} ms) | | | ${res.note} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
