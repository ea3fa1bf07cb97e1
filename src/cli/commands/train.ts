import { saveModel } from '../../ir/model.js';
import { badInput } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import {
  dataShare,
  inputBoundAdvice,
  loadCheckpoint,
  profileTrainingStep,
  train,
  type EpochRecord,
  type TrainOptions,
} from '../../train/index.js';
import type { Command, Io } from '../command.js';
import { checkWritable, numberFlag, parseFlags, progressLines, qatRanges, sameFile, shellWord } from '../command.js';
import {
  DATA_FLAGS_HELP,
  type parseLoss,
  type parseOptimizer,
  parseSchedule,
  parseTrainInputs,
  resolveData,
  parseReadFlags,
  parseTrainCommon,
  resolveModel,
} from './train-args.js';
import { MODEL_INPUT_HELP } from '../model-flags.js';
import { checkDataParallelFlags, distributedLine, DP_HELP, startLeader } from './train-dp.js';
import { prepareTrain, TRAIN_FLAGS } from './train-prepare.js';
import { trainProfileText } from './profile.js';
import { quantizeAwareTraining } from '../../qat/index.js';
import { loadSampleData } from '../../quantize/data.js';

const HELP = `hone train — train an ONNX model on ONNX Runtime (forward, loss and backward in one ONNX graph)

Usage: hone train --model MODEL --data DATA -o OUT.onnx [options]

MODEL is an .onnx file or zoo:NAME[:opts] (zoo:lenet5, zoo:mlp:hidden=512-256). DATA is 'mnist' (built in:
8,000 train / 2,000 test real digits), an .npz with arrays named after the model's inputs (or 'input')
and 'label', a .csv, .jsonl, MNIST IDX files, an image folder (one subfolder per class) or a Hone pack
(hone data pack). The output model has the same inputs and outputs as MODEL, with trained weights.

Options:
  --epochs N               epochs (default 1)
  --batch-size B           batch size (default 64, or the batch --dim/--shape/--input sets); the last
                           partial batch of an epoch is skipped
  --optimizer NAME         sgd | adam | adamw (default adam); --momentum M, --nesterov, --weight-decay W
  --lr LR                  base learning rate (default 1e-3)
  --schedule S             constant | cosine | cosine-restarts[:E[:MULT]] | step:E[:GAMMA] |
                           multistep:E1,E2[:GAMMA] | exponential:GAMMA | onecycle | plateau[:PATIENCE]
                           (E in epochs); --warmup STEPS adds a linear warm-up
  --loss NAME              cross-entropy (default; --label-smoothing EPS) | mse | l1 |
                           kd (distillation: 'label' holds teacher logits; --temperature T, default 4)
  --clip-norm N            clip gradients to global L2 norm N
  --val-split F            hold out fraction F of the training data for validation
  --early-stopping N       stop after N epochs without validation-loss improvement (needs --val-split)
  --test-data FILE.npz     test data (mnist has its own test split)
  --freeze A,B             initializers to keep fixed
  --seed S                 shuffling seed (default 0): same seed, same weights
  --checkpoint DIR         write a checkpoint after every epoch; --resume continues from it
  --checkpoint-every K     also every K steps within an epoch (a resume continues at the next step)
  --log FILE               JSON lines: the run first ({"run": {model, data, flags, started}}), then
                           one line per epoch (hone dashboard --logs DIR draws them, live)
  --limit N                use only the first N training samples
${DATA_FLAGS_HELP}
  --micro-batch M          gradient accumulation: each step averages the gradients of batch/M graph
                           runs of M samples (large batches in less memory; not with BatchNorm)
  --json                   one JSON object on stdout: trainAccuracy, testAccuracy, samplesPerSec, epochs, …
  --qat                    quantization-aware training: static int8 calibrated on 256 training samples, then
                           the epochs through fake quantization (default --lr 1e-4 here); writes a QDQ int8
                           model and reports float, post-training and QAT test accuracy (as hone quantize --qat)
  --qat-ranges fixed|learned
                           --qat: activation ranges at their calibrated values (default), or learned with the
                           weights (LSQ: each activation's quantization step trained by its own gradient)
  --profile                profile training steps with these settings instead of training, and write
                           nothing: kernel time per op type in the forward and backward passes, the
                           optimizer's update, the kernels ORT ran, the step's verdict (as 'hone profile
                           --train'); --profile-steps N profiled steps (default 10); --data may be left out
                           (random data)
  --quiet                  no progress on stderr (by default: a progress bar on a terminal, one plain line
                           per epoch when piped, also with --json: stdout stays one JSON object)
${DP_HELP}

Ctrl-C (or SIGTERM) stops after the current step: nothing is written to OUT, and with --checkpoint the
last finished epoch's checkpoint is kept with the command that resumes from it. A second Ctrl-C exits at once.

${MODEL_INPUT_HELP}
--dim/--shape size the training graph's dims (the trained model keeps the inputs it had); --input feeds
an input that is not data in every step (data arrays give the others).

Examples:
  hone train --model zoo:lenet5 --data mnist --epochs 3 --batch-size 64 --optimizer adam --lr 1e-3 -o lenet.onnx
  hone train --model zoo:mlp:hidden=512-256 --data mnist --schedule cosine --checkpoint ckpt -o mlp.onnx --json
  hone train --model zoo:lenet5 --data mnist --batch-size 64 --profile
  hone train --model lenet5.onnx --data mnist --qat --epochs 1 -o lenet5.qat.onnx
  hone train --model zoo:lenet5 --data mnist --augment crop:pad=2,cutout:size=8 --loader-workers 2 -o lenet5.onnx
  hone train --model zoo:mlp --data mnist --batch-size 128 --workers 2 --grad-compression powersgd:rank=2 -o mlp.onnx
`;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a model on ONNX Runtime: autodiff to an ONNX training graph, Adam/SGD, schedules, checkpoints',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags('train', argv, TRAIN_FLAGS, false);
    if (values.profile) return profileSteps(values, io);
    if (values['profile-steps'] !== undefined) throw badInput('--profile-steps needs --profile');
    if (!values.output)
      throw badInput(`train needs -o OUT.onnx for the trained model; e.g. 'hone train --model zoo:lenet5 --data mnist -o lenet.onnx'`);
    if (values.resume && !values.checkpoint) throw badInput('--resume needs --checkpoint DIR (the folder the earlier run wrote)');
    if (values['checkpoint-every'] !== undefined && !values.checkpoint)
      throw badInput('--checkpoint-every needs --checkpoint DIR (where they go)');
    // The output is checked before any training, so a run is never lost to a path it cannot write.
    checkWritable(values.output);
    if (values.model && !values.model.startsWith('zoo:') && sameFile(values.output, values.model))
      throw badInput(`-o ${values.output} is the model being trained; write the trained model to another file`);
    const dp = checkDataParallelFlags(values);
    const tty = io.isTTY && !values.quiet;
    // Without a terminal, plain per-epoch lines (no carriage returns) so `| tee log` shows progress.
    const piped = !io.isTTY && !values.quiet;
    if (values['qat-ranges'] !== undefined && !values.qat) throw badInput('--qat-ranges sets quantization-aware training; add --qat');
    if (values.qat && (values.checkpoint || values.resume || values.log || values['val-split'] || values['micro-batch']))
      throw badInput('--qat trains once through fake quantization; drop --checkpoint, --resume, --log, --val-split and --micro-batch');
    const prepared = await prepareTrain(values, io);
    const { model, data, epochs, batchSize, stepsPerEpoch } = prepared;
    if (values.qat)
      return trainQat(model, data.train, prepared.test, values, { epochs, batchSize, stepsPerEpoch, inputs: prepared.inputs }, io);
    // The log's first line names the run, so a dashboard comparing runs can say what each one was.
    const { output: _o, log: _l, quiet: _q, ...flags } = values;
    const logLines: string[] = [
      JSON.stringify({ run: { model: values.model ?? null, data: values.data ?? null, flags, started: new Date().toISOString() } }),
    ];
    const stop = interruptible(io, tty);
    // Data-parallel: the other workers start and join before the first step (train-dp.ts).
    const leader = dp ? await startLeader(argv, dp, prepared, io, Boolean(values.quiet), () => stop.requested !== undefined) : undefined;
    let result: Awaited<ReturnType<typeof train>>;
    try {
      const run = {
        ...prepared.options,
        onProgress: tty
          ? (p) => io.stderr(`\r${progressBar(p.epoch, p.epochs, p.step, p.steps, p.loss, p.samplesPerSec, p.etaSec)}\x1b[K`)
          : undefined,
        onStep: (s) => {
          stop.step = s.step + 1;
          // Data-parallel workers stop together, at the step the exchange agrees on.
          return stop.requested && !leader ? false : undefined;
        },
        onEpoch: (rec) => {
          if (stop.requested) return;
          stop.epochsDone = rec.epoch;
          if (tty) io.stderr(`\r${epochLine(rec)}\x1b[K\n`);
          if (piped) io.stderr(`${epochLine(rec)}\n`);
          if (values.log) {
            logLines.push(JSON.stringify(rec));
            writeFileAtomic(values.log, `${logLines.join('\n')}\n`);
          }
        },
      } satisfies TrainOptions;
      // Data-parallel: worker 0 of the run, through as many generations as the run takes (train-dp.ts).
      result = leader ? await leader.train({ ...run, threads: leader.threads }) : await train(model, data.train, run);
    } catch (e) {
      await leader?.fail(e);
      throw e;
    } finally {
      stop.release();
    }
    const distributed = await leader?.finish();
    if (stop.requested) {
      // What the folder holds now: the last epoch's checkpoint, or with --checkpoint-every a later one within an epoch.
      const saved = values.checkpoint ? loadCheckpoint(values.checkpoint)?.meta : undefined;
      const kept = saved?.stepInEpoch
        ? `the checkpoint of step ${saved.step} (epoch ${saved.epoch + 1})`
        : stop.epochsDone > 0
          ? `the checkpoint of epoch ${stop.epochsDone}`
          : values.resume
            ? 'the checkpoint it resumed from'
            : undefined;
      const resume =
        values.checkpoint && kept
          ? `${kept} is in ${values.checkpoint}; resume with: hone ${['train', ...argv.filter((a) => a !== '--resume'), '--resume'].map(shellWord).join(' ')}`
          : values.checkpoint
            ? 'no epoch finished, so there is no checkpoint to resume from'
            : leader
              ? 'nothing was kept (a data-parallel run cannot be resumed yet)'
              : 'nothing was kept (pass --checkpoint DIR to be able to resume)';
      io.stderr(`hone: interrupted (${stop.requested}) at step ${stop.step}; nothing written to ${values.output}; ${resume}\n`);
      return 130;
    }
    saveModel(result.model, values.output);
    const share = dataShare(result.timing);
    const advice = inputBoundAdvice(share, prepared.options.loader);
    const summary = {
      output: values.output,
      epochs: result.epochs,
      stopped: result.stopped,
      trainLoss: result.trainLoss,
      trainAccuracy: result.trainAccuracy,
      testLoss: result.testLoss,
      testAccuracy: result.testAccuracy,
      samplesPerSec: result.samplesPerSec,
      timing: result.timing,
      dataShare: share,
      ...(advice ? { inputBound: advice } : {}),
      history: result.history,
      ...(distributed ? { distributed } : {}),
    };
    if (advice && !values.quiet) io.stderr(`hone: ${advice}\n`);
    if (values.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else
      io.stdout(
        `trained ${result.epochs} epoch(s)${result.stopped === 'early-stopping' ? ' (early stopping)' : ''}${distributed ? ` on ${distributed.workers} workers` : ''}: train accuracy ${pct(result.trainAccuracy)}, test accuracy ${pct(result.testAccuracy)}, ${Math.round(result.samplesPerSec)} samples/s → ${values.output}\n${distributed ? `${distributedLine(distributed)}\n` : ''}`,
      );
    return 0;
  },
};

/**
 * `--qat`: quantization-aware training — static int8 calibrated on 256 training samples, then these training
 * settings through fake quantization, written as a QDQ int8 model (hone quantize --qat, with train's flags).
 */
async function trainQat(
  model: Parameters<typeof quantizeAwareTraining>[0],
  data: Parameters<typeof quantizeAwareTraining>[1],
  test: Parameters<typeof quantizeAwareTraining>[1] | undefined,
  values: Parameters<typeof parseTrainCommon>[0] & {
    data?: string;
    output?: string;
    lr?: string;
    schedule?: string;
    warmup?: string;
    'clip-norm'?: string;
    json?: boolean;
    quiet?: boolean;
    'qat-ranges'?: string;
  },
  o: { epochs: number; batchSize: number; stepsPerEpoch: number; inputs: ReturnType<typeof parseTrainInputs> },
  io: Io,
): Promise<number> {
  const calib = await loadSampleData(values.data!, model, { samples: 256 });
  const { model: qat, report } = await quantizeAwareTraining(model, data, {
    calib,
    ranges: qatRanges(values['qat-ranges']),
    train: {
      epochs: o.epochs,
      batchSize: o.batchSize,
      ...parseTrainCommon(values, o.inputs),
      lr: numberFlag(values.lr, '--lr', { min: 0 }) ?? 1e-4,
      schedule: parseSchedule(values.schedule, o.stepsPerEpoch, o.epochs),
      warmupSteps: numberFlag(values.warmup, '--warmup', { int: true, min: 0 }),
      clipNorm: numberFlag(values['clip-norm'], '--clip-norm', { min: 0 }),
    },
    test,
    testSource: `${values.data} (test)`,
    onProgress: progressLines(io, values.quiet),
  });
  saveModel(qat, values.output!);
  const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  io.stdout(
    values.json
      ? `${JSON.stringify({ output: values.output, ...report })}\n`
      : `trained ${report.epochs} epoch(s) through fake quantization: test accuracy float ${pct(report.floatAccuracy)}, post-training int8 ${pct(report.ptq?.accuracy)}, QAT int8 ${pct(report.qat?.accuracy)} → ${values.output} (QDQ int8)\n`,
  );
  return 0;
}

/** `--profile`: a few steps profiled with the training flags (the step's settings), nothing trained or written. */
async function profileSteps(
  values: Parameters<typeof parseTrainInputs>[0] &
    Parameters<typeof parseOptimizer>[0] &
    Parameters<typeof parseLoss>[0] &
    Parameters<typeof parseReadFlags>[0] &
    Parameters<typeof parseTrainCommon>[0] & {
      model?: string;
      data?: string;
      limit?: string;
      lr?: string;
      'clip-norm'?: string;
      'micro-batch'?: string;
      freeze?: string;
      seed?: string;
      output?: string;
      json?: boolean;
      quiet?: boolean;
      'profile-steps'?: string;
    },
  io: Io,
): Promise<number> {
  const model = resolveModel(values.model, 'train');
  const inputs = parseTrainInputs(values, model);
  const limit = numberFlag(values.limit, '--limit', { int: true, min: 1 });
  const data = values.data
    ? (await resolveData(values.data, model, limit, 'train', inputs.values, parseReadFlags(values))).train
    : undefined;
  const result = await profileTrainingStep(model, {
    batchSize: inputs.batchSize,
    microBatch: numberFlag(values['micro-batch'], '--micro-batch', { int: true, min: 1 }),
    data,
    ...parseTrainCommon(values, inputs),
    lr: numberFlag(values.lr, '--lr', { min: 0 }) ?? 1e-3,
    clipNorm: numberFlag(values['clip-norm'], '--clip-norm', { min: 0 }),
    steps: numberFlag(values['profile-steps'], '--profile-steps', { int: true, min: 1 }) ?? 10,
    source: values.model,
    onProgress: progressLines(io, values.quiet),
  });
  // Here the model was asked to train: one it cannot is an error, as without --profile.
  if (result.refused !== undefined) throw badInput(result.refused);
  if (values.output && !values.quiet) io.stderr(`hone: --profile trains nothing; ${values.output} is not written\n`);
  io.stdout(values.json ? `${JSON.stringify(result.profile)}\n` : trainProfileText(result.profile));
  return 0;
}

/**
 * SIGINT/SIGTERM while training: the first asks the trainer to stop after its current step (it then writes
 * no checkpoint for the unfinished epoch); a second exits at once.
 */
function interruptible(io: { stderr: (s: string) => void }, tty: boolean) {
  const state = {
    requested: undefined as string | undefined,
    step: 0,
    epochsDone: 0,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
  function onSignal(sig: NodeJS.Signals) {
    if (state.requested) process.exit(130);
    state.requested = sig;
    io.stderr(`${tty ? '\n' : ''}hone: ${sig}: stopping after the current step (again to quit at once)\n`);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return state;
}

function pct(v: number | undefined): string {
  return v === undefined ? 'n/a' : `${(100 * v).toFixed(2)}%`;
}

function epochLine(r: EpochRecord): string {
  const parts = [`epoch ${r.epoch}`, `loss ${r.trainLoss.toFixed(4)}`];
  if (r.trainAccuracy !== undefined) parts.push(`acc ${pct(r.trainAccuracy)}`);
  if (r.valLoss !== undefined) parts.push(`val loss ${r.valLoss.toFixed(4)}`);
  if (r.testAccuracy !== undefined) parts.push(`test acc ${pct(r.testAccuracy)}`);
  parts.push(`${Math.round(r.samplesPerSec)} samples/s`);
  return parts.join('  ');
}

function progressBar(epoch: number, epochs: number, step: number, steps: number, loss: number, sps: number, eta: number): string {
  const width = 24;
  const filled = Math.round((step / steps) * width);
  return `epoch ${epoch}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${steps} loss ${loss.toFixed(4)} ${Math.round(sps)} samples/s ETA ${Math.ceil(eta)}s`;
}
