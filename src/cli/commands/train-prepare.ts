/** `hone train`'s flags and what they make: the model, the data, the training options (train-worker parses the leader's). */
import type { ModelProto } from '../../ir/proto.js';
import type { Dataset } from '../../data/index.js';
import type { TrainOptions } from '../../train/index.js';
import { badInput } from '../../errors.js';
import type { Io } from '../command.js';
import { numberFlag, type parseFlags } from '../command.js';
import { commonFlags, parseReadFlags, parseSchedule, parseTrainCommon, parseTrainInputs, resolveData, resolveModel } from './train-args.js';

/** The data-parallel flags of `hone train` (train-dp.ts). */
export const DP_FLAGS = {
  workers: { type: 'string' },
  'local-workers': { type: 'string' },
  nats: { type: 'string' },
  run: { type: 'string' },
  'grad-compression': { type: 'string' },
  bandwidth: { type: 'string' },
  'min-workers': { type: 'string' },
  'max-workers': { type: 'string' },
  'commit-every': { type: 'string' },
  'heartbeat-timeout': { type: 'string' },
} as const;

/** `hone train`'s flags (train-worker parses the leader's arguments with the same ones). */
export const TRAIN_FLAGS = {
  ...commonFlags,
  epochs: { type: 'string' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  warmup: { type: 'string' },
  'clip-norm': { type: 'string' },
  'val-split': { type: 'string' },
  'early-stopping': { type: 'string' },
  'test-data': { type: 'string' },
  checkpoint: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'boolean' },
  log: { type: 'string' },
  'micro-batch': { type: 'string' },
  output: { type: 'string', short: 'o' },
  quiet: { type: 'boolean' },
  profile: { type: 'boolean' },
  qat: { type: 'boolean' },
  'qat-ranges': { type: 'string' },
  'profile-steps': { type: 'string' },
  ...DP_FLAGS,
} as const;
export type TrainValues = ReturnType<typeof parseFlags<typeof TRAIN_FLAGS>>['values'];

export interface PreparedTrain {
  model: ModelProto;
  data: Awaited<ReturnType<typeof resolveData>>;
  test: Dataset | undefined;
  epochs: number;
  batchSize: number;
  stepsPerEpoch: number;
  inputs: ReturnType<typeof parseTrainInputs>;
  /** Everything the flags say about the run; the caller adds its progress, stop and callbacks. */
  options: TrainOptions;
}

/** The model, the data and the training options from `hone train`'s flags (a train-worker parses the leader's). */
export async function prepareTrain(values: TrainValues, io: Io): Promise<PreparedTrain> {
  const model = resolveModel(values.model, 'train');
  const limit = numberFlag(values.limit, '--limit', { int: true, min: 1 });
  const inputs = parseTrainInputs(values, model);
  const data = await resolveData(values.data, model, limit, 'train', inputs.values, parseReadFlags(values));
  if (data.skipped && !values.quiet)
    io.stderr(`hone: left out ${data.skipped} record(s) of ${values.data} that fail their CRC32C (--skip-corrupt)\n`);
  if (data.limitNote && !values.quiet) io.stderr(`hone: ${data.limitNote}\n`);
  const test = values['test-data']
    ? (await resolveData(values['test-data'], model, undefined, 'train', inputs.values, parseReadFlags(values))).train
    : data.test;
  const epochs = numberFlag(values.epochs, '--epochs', { int: true, min: 1 }) ?? 1;
  const batchSize = inputs.batchSize;
  const valSplit = numberFlag(values['val-split'], '--val-split', { min: 0 });
  const patience = numberFlag(values['early-stopping'], '--early-stopping', { int: true, min: 1 });
  if (patience && !valSplit) throw badInput('--early-stopping needs --val-split F to have a validation loss to watch');
  const stepsPerEpoch = Math.max(1, Math.floor((data.train.size * (1 - (valSplit ?? 0))) / batchSize));
  const options: TrainOptions = {
    epochs,
    batchSize,
    test,
    ...parseTrainCommon(values, inputs),
    lr: numberFlag(values.lr, '--lr', { min: 0 }) ?? 1e-3,
    schedule: parseSchedule(values.schedule, stepsPerEpoch, epochs),
    warmupSteps: numberFlag(values.warmup, '--warmup', { int: true, min: 0 }),
    clipNorm: numberFlag(values['clip-norm'], '--clip-norm', { min: 0 }),
    validationSplit: valSplit,
    earlyStopping: patience ? { patience } : undefined,
    microBatch: numberFlag(values['micro-batch'], '--micro-batch', { int: true, min: 1 }),
    checkpointDir: values.checkpoint,
    checkpointEverySteps: numberFlag(values['checkpoint-every'], '--checkpoint-every', { int: true, min: 1 }),
    resume: values.resume,
  };
  return { model, data, test, epochs, batchSize, stepsPerEpoch, inputs, options };
}
