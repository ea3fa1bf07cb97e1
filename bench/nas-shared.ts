/**
 * Weight sharing against training every candidate, on one space, in one run: the cnn space's widths
 * (conv channels × fully connected widths: 30 LeNet-style architectures; ReLU and max pooling).
 *
 * - Separate training: every architecture trained from scratch with `hone nas`'s recipe (Adam, lr 0.002,
 *   batch 64, cosine, weight decay 1e-4; --epochs epochs on --limit digits, 20% held out) through the
 *   tuner with all 30 enqueued, each timed at batch 1. The answer: the most accurate.
 * - Weight sharing: `hone nas --weight-sharing` on the same space: the supernet trained --supernet-epochs
 *   epochs, every architecture evaluated with inherited weights and timed at batch 1, the most accurate
 *   fine-tuned --finetune-epochs epochs on its own. The answer: that fine-tuned model, accuracy on the same split.
 *
 * Cost is wall time of the whole search, and of its training alone (latency timing is the same work in
 * both, one measurement per architecture).
 *
 *   npx tsx bench/nas-shared.ts [--epochs 2] [--supernet-epochs 3] [--finetune-epochs 1] [--limit 6000]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Architecture } from '../src/cli/commands/nas.js';
import { NAS_SPACES, RECIPE } from '../src/cli/commands/nas.js';
import { main } from '../src/cli/main.js';
import { resolveTuneConfig } from '../src/cli/tune/config.js';
import { runTune } from '../src/cli/tune/run.js';
import { openStorage } from '../src/tune/storage/open.js';
import { naswotScore } from '../src/nas/proxy.js';
import { zooModel } from '../src/zoo/index.js';
import { resolveData } from '../src/cli/commands/train-args.js';
import type { WeightSharingInfo } from '../src/cli/commands/nas-shared.js';
import { cpuDescription } from '../src/runtime/cpu.js';

const { values: flags } = parseArgs({
  options: {
    epochs: { type: 'string' },
    'supernet-epochs': { type: 'string' },
    'finetune-epochs': { type: 'string' },
    limit: { type: 'string' },
  },
});
const epochs = Number(flags.epochs ?? 2);
const supernetEpochs = Number(flags['supernet-epochs'] ?? 3);
const finetuneEpochs = Number(flags['finetune-epochs'] ?? 1);
const limit = Number(flags.limit ?? 6000);
const cnn = NAS_SPACES.cnn!;
// The space weight sharing searches: the cnn space with its `shared` entries (two-layer heads, 5×5).
const choices = (k: string) => (({ ...cnn.space, ...cnn.shared })[k] as { choices: (string | number)[] }).choices;
const channels = choices('model.channels');
const fc = choices('model.fc');
const model = 'zoo:lenet5:activation=relu,pool=max';
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const quietIo = { stdout: () => {}, stderr: () => {}, isTTY: false };

const dir = mkdtempSync(join(tmpdir(), 'hone-bench-nas-shared-'));
try {
  // Separate training: the tuner's train objective, every architecture enqueued once.
  const config = resolveTuneConfig(
    {
      study: 'separate',
      sampler: { name: 'random', seed: 0 },
      pruner: 'none',
      trials: channels.length * fc.length,
      space: { ...RECIPE, 'model.channels': { type: 'categorical', choices: channels }, 'model.fc': { type: 'categorical', choices: fc } },
      objective: { train: { model, data: 'mnist', epochs, metric: ['accuracy', 'latency'], limit } },
    },
    { storage: `sqlite:${join(dir, 'separate.db')}` },
  );
  config.enqueue = channels.flatMap((c) => fc.map((f) => ({ params: { 'model.channels': c, 'model.fc': f } })));
  let t0 = performance.now();
  const run = await runTune(config, { resume: false, io: quietIo, quiet: true });
  const separateS = (performance.now() - t0) / 1000;
  const storage = await openStorage(config.storage);
  const done = (await storage.getAllTrials((await storage.getStudyId('separate'))!, ['complete'])).filter((t) => t.values?.length === 2);
  await storage.close();
  if (done.length !== run.report.nTrials)
    throw new Error(`${run.report.nTrials - done.length} separately trained architectures did not complete`);
  const trainS = done.reduce((s, h) => s + Number(h.userAttrs.train_seconds ?? 0), 0);
  const best = [...done].sort((a, b) => b.values![0]! - a.values![0]!)[0]!;

  // Weight sharing, through the command.
  const spaceFile = join(dir, 'space.yaml');
  writeFileSync(
    spaceFile,
    `model: ${model}\nspace:\n  model.channels: { type: categorical, choices: [${channels.map((c) => `'${c}'`).join(', ')}] }\n  model.fc: { type: categorical, choices: [${fc.map((c) => `'${c}'`).join(', ')}] }\n`,
  );
  let stdout = '';
  const io = { ...quietIo, stdout: (t: string) => void (stdout += t) };
  t0 = performance.now();
  const code = await main(
    [
      'nas',
      '--space',
      spaceFile,
      '--data',
      'mnist',
      '--weight-sharing',
      '--supernet-epochs',
      String(supernetEpochs),
      '--epochs',
      String(finetuneEpochs),
      '--limit',
      String(limit),
      '-o',
      join(dir, 'ws'),
      '--json',
      '--quiet',
    ],
    io,
  );
  const sharedS = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`hone nas --weight-sharing exited ${code}`);
  const ws = JSON.parse(stdout) as { chosen: Architecture; weightSharing: WeightSharingInfo };
  const archs = JSON.parse(readFileSync(join(dir, 'ws', 'front.json'), 'utf8')) as Architecture[];
  const info = ws.weightSharing;
  const sharedTrainS = info.supernet.seconds + (info.finetune?.seconds ?? 0);
  const sameArch = done.find((h) => `${model},channels=${h.params['model.channels']},fc=${h.params['model.fc']}` === ws.chosen.model);
  // Rank agreement: do inherited-weight accuracies order the architectures as separate training does?
  const sep = new Map(done.map((h) => [`${model},channels=${h.params['model.channels']},fc=${h.params['model.fc']}`, h.values![0]!]));
  const pairs = archs.filter((a) => sep.has(a.model)).map((a) => [a.accuracy, sep.get(a.model)!] as const);
  const tau = kendall(pairs);
  // The zero-cost proxy (NASWOT) on each untrained architecture, against the same separately trained accuracies.
  const data = (await resolveData('mnist', zooModel(`${model},channels=16-48,fc=256-128`), limit, 'nas')).train;
  const proxyPairs: (readonly [number, number])[] = [];
  const tp = performance.now();
  for (const [spec, acc] of sep) proxyPairs.push([await naswotScore(zooModel(spec), data), acc]);
  const proxyS = (performance.now() - tp) / 1000;
  const proxyTau = kendall(proxyPairs);

  console.log(
    `Machine: ${cpuDescription()} × ${cpus().length}, Node ${process.version}. Space: ${channels.length * fc.length} LeNet-style CNNs (channels ${channels.join(', ')} × fc ${fc.join(', ')}); ${limit} MNIST digits, 20% held out.\n`,
  );
  console.log('| search | answer | its accuracy (held out) | whole search | training alone |');
  console.log('|---|---|---:|---:|---:|');
  console.log(
    `| separate training (${done.length} × ${epochs} epochs from scratch) | ${String(best.userAttrs.model).replace(`${model},`, '')} | ${pct(best.values![0]!)} | ${separateS.toFixed(1)} s | ${trainS.toFixed(1)} s |`,
  );
  console.log(
    `| weight sharing (supernet ${supernetEpochs} epochs, ${info.evaluation.architectures} evaluated, answer fine-tuned ${finetuneEpochs} epoch(s)) | ${ws.chosen.model.replace(`${model},`, '')} | ${pct(info.finetune?.accuracyAfter ?? ws.chosen.accuracy)} | ${sharedS.toFixed(1)} s | ${sharedTrainS.toFixed(1)} s |`,
  );
  console.log(
    `\nCost ratio (separate / weight sharing): whole search ${(separateS / sharedS).toFixed(2)}x, training ${(trainS / sharedTrainS).toFixed(2)}x. Supernet ${info.supernet.seconds.toFixed(1)} s, evaluation of ${info.evaluation.architectures} (accuracy + latency) ${info.evaluation.seconds.toFixed(1)} s, fine-tuning ${(info.finetune?.seconds ?? 0).toFixed(1)} s.`,
  );
  if (sameArch) console.log(`The same architecture trained separately: ${pct(sameArch.values![0]!)}.`);
  console.log(
    `Inherited-weight accuracy against separately trained accuracy, over the ${pairs.length} architectures: Kendall's tau (tied pairs left out) ${tau.toFixed(2)}.`,
  );
  console.log(
    `Zero-cost proxy (NASWOT, untrained, 64 digits) against separately trained accuracy: Kendall's tau (tied pairs left out) ${proxyTau.toFixed(2)} (${proxyPairs.length} architectures scored in ${proxyS.toFixed(1)} s).`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Kendall's tau-a over pairs (ties in either count as neither concordant nor discordant). */
function kendall(pairs: readonly (readonly [number, number])[]): number {
  let concordant = 0;
  let total = 0;
  for (let i = 0; i < pairs.length; i++)
    for (let j = i + 1; j < pairs.length; j++) {
      const s = Math.sign(pairs[i]![0] - pairs[j]![0]) * Math.sign(pairs[i]![1] - pairs[j]![1]);
      if (s !== 0) {
        total++;
        if (s > 0) concordant++;
      }
    }
  return total ? (2 * concordant - total) / total : Number.NaN;
}
