/** Flags shared by `hone train` and `hone lr-find`: the model, the data, the optimizer and the loss. */
import { existsSync, readFileSync } from 'node:fs';
import { badInput } from '../../errors.js';
import { loadModel } from '../../ir/model.js';
import type { ModelProto } from '../../ir/proto.js';
import { zooModel } from '../../zoo/index.js';
import { firstSamples, loadDataset, type Dataset, type ReadOptions } from '../../data/index.js';
import { LOSS_KINDS, OPTIMIZER_KINDS, type LossSpec, type OptimizerSpec, type ScheduleSpec, type TrainOptions } from '../../train/index.js';
import { numberFlag, oneOf } from '../command.js';
import { parseAugment } from '../../data/augment.js';
import { modelInputFlags, parseModelInputs } from '../model-flags.js';
import { graphInputs, resolveBatchSizes, type InputValue } from '../../runtime/inputs.js';
import { readZip } from '../../data/zip.js';

/** How data is read and served while training: image decoding, corrupt records, the loader and augmentation. */
export const dataFlags = {
  resize: { type: 'string' },
  channels: { type: 'string' },
  fit: { type: 'string' },
  'skip-corrupt': { type: 'boolean' },
  augment: { type: 'string' },
  'loader-workers': { type: 'string' },
  prefetch: { type: 'string' },
} as const;

/** The help block of `dataFlags`, its descriptions from column 27 as the other flags'. */
export const DATA_FLAGS_HELP = `  --augment SPEC           augment training batches on the fly, e.g. "crop:pad=2,flip,cutout:size=8":
                           crop:pad=P, flip, vflip, rotate:deg=D, affine:deg=D:translate=T:scale=S:shear=H,
                           jitter:brightness=B:contrast=C:saturation=S, cutout:size=S, noise:std=S,
                           normalize:mean=M:std=S (seeded per batch: the same seed, the same batches)
  --loader-workers N       build and augment batches in N worker threads while training runs (default 0:
                           on the training thread between steps, best when ORT's threads have every core;
                           use workers for costly inputs such as JPEGs); the batches are the same for any N
  --prefetch N             batches in flight per loader worker (default 2)
  --resize WxH             decode images (image folders, packs of images) to W×H; needed when sizes differ
  --fit resize|cover|contain
                           how --resize changes the aspect: stretch (default), crop, or pad
  --channels 1|3           decode images as grey or RGB (default: as stored)
  --skip-corrupt           leave out records of a pack that fail their CRC32C instead of stopping`;

/** `--resize`, `--fit`, `--channels`, `--skip-corrupt` as read options. */
export function parseReadFlags(values: { resize?: string; channels?: string; fit?: string; 'skip-corrupt'?: boolean }): ReadOptions {
  const image: NonNullable<ReadOptions['image']> = {};
  if (values.resize !== undefined) {
    const m = /^(\d+)x(\d+)$/i.exec(values.resize.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw badInput(`--resize must be WIDTHxHEIGHT such as 224x224, got '${values.resize}'`);
    image.width = Number(m[1]);
    image.height = Number(m[2]);
  }
  if (values.fit !== undefined) {
    if (!image.width) throw badInput('--fit says how --resize changes the aspect; add --resize WxH');
    image.fit = oneOf(values.fit, ['resize', 'cover', 'contain'] as const, '--fit');
  }
  if (values.channels !== undefined) image.channels = Number(oneOf(values.channels, ['1', '3'] as const, '--channels')) as 1 | 3;
  return { ...(Object.keys(image).length ? { image } : {}), ...(values['skip-corrupt'] ? { skipCorrupt: true } : {}) };
}

/** `--augment`, `--loader-workers`, `--prefetch` as the trainer's loader options (undefined: no loader). */
export function parseLoaderFlags(values: { augment?: string; 'loader-workers'?: string; prefetch?: string }): TrainOptions['loader'] {
  const workers = numberFlag(values['loader-workers'], '--loader-workers', { int: true, min: 0 });
  const prefetch = numberFlag(values.prefetch, '--prefetch', { int: true, min: 1 });
  if (values.augment === undefined && workers === undefined && prefetch === undefined) return undefined;
  if (prefetch !== undefined && workers === 0)
    throw badInput("--prefetch sets the loader workers' queue; with --loader-workers 0 there are none");
  const augment = values.augment === undefined ? undefined : parseAugment(values.augment);
  return {
    workers: workers ?? 0,
    ...(prefetch !== undefined ? { prefetch } : {}),
    ...(augment ? { augment } : {}),
  };
}

export const commonFlags = {
  model: { type: 'string' },
  data: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  momentum: { type: 'string' },
  nesterov: { type: 'boolean' },
  'weight-decay': { type: 'string' },
  loss: { type: 'string' },
  'label-smoothing': { type: 'string' },
  temperature: { type: 'string' },
  freeze: { type: 'string' },
  seed: { type: 'string' },
  ...modelInputFlags,
  limit: { type: 'string' },
  json: { type: 'boolean' },
  ...dataFlags,
} as const;

export function resolveModel(spec: string | undefined, command: string): ModelProto {
  if (!spec)
    throw badInput(`${command} needs --model MODEL.onnx or --model zoo:NAME; e.g. 'hone ${command} --model zoo:lenet5 --data mnist'`);
  return spec.startsWith('zoo:') ? zooModel(spec.slice(4)) : loadModel(spec);
}

/** The model's data inputs (graph inputs that are not initializers). */
export function dataInputNames(model: ModelProto): string[] {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  return model.graph!.input.map((i) => i.name!).filter((n) => !inits.has(n));
}

/** The data for the model's inputs, less those given a value by `--input` (the data may not give them too). */
export async function resolveData(
  spec: string | undefined,
  model: ModelProto,
  limit: number | undefined,
  command: string,
  values: Record<string, InputValue> = {},
  read: ReadOptions = {},
): Promise<{ train: Dataset; test?: Dataset; skipped?: number; limitNote?: string }> {
  if (!spec) throw badInput(`${command} needs --data mnist, --data FILE.npz or another format (see 'hone data --help')`);
  const names = dataInputNames(model).filter((n) => !(n in values));
  const scalar = graphInputs(model).find((i) => names.includes(i.name) && i.shape?.length === 0);
  if (scalar)
    throw badInput(
      `input '${scalar.name}' is a scalar, which data (samples first) cannot give; pass its value with --input ${scalar.name}=VALUE`,
    );
  if (names.length === 0)
    throw badInput(
      `every input of the model has a value from --input, so --data ${spec} feeds nothing; drop --input for the inputs the data should give`,
    );
  if (spec.endsWith('.npz') && existsSync(spec)) {
    const both = readZip(new Uint8Array(readFileSync(spec)), spec)
      .map((e) => e.name.replace(/\.npy$/, ''))
      .find((k) => k in values);
    if (both) throw badInput(`both ${spec} and --input ${values[both]!.text} give input '${both}'; drop one`);
  }
  const d = await loadDataset(spec, names, read);
  if (!limit) return d;
  // More than the data holds: all of it, said once, since a run on less data than asked for is easy to misread.
  const limitNote =
    limit > d.train.size
      ? `--limit ${limit} is more than the ${d.train.size.toLocaleString('en-US')} training samples of ${spec}; all ${d.train.size.toLocaleString('en-US')} are used`
      : undefined;
  return { ...d, train: firstSamples(d.train, limit), ...(limitNote ? { limitNote } : {}) };
}

export function parseOptimizer(values: {
  optimizer?: string;
  momentum?: string;
  nesterov?: boolean;
  'weight-decay'?: string;
}): OptimizerSpec {
  const kind = values.optimizer ?? 'adam';
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(kind))
    throw badInput(`unknown optimizer '${kind}'; use one of ${OPTIMIZER_KINDS.join(', ')}`);
  const weightDecay = numberFlag(values['weight-decay'], '--weight-decay', { min: 0 });
  if (kind === 'sgd')
    return { kind, momentum: numberFlag(values.momentum, '--momentum', { min: 0 }), nesterov: values.nesterov, weightDecay };
  return { kind: kind as 'adam' | 'adamw', weightDecay };
}

export function parseLoss(values: { loss?: string; 'label-smoothing'?: string; temperature?: string }): LossSpec {
  const kind = values.loss ?? 'cross-entropy';
  switch (kind) {
    case 'cross-entropy':
      return { kind, labelSmoothing: numberFlag(values['label-smoothing'], '--label-smoothing', { min: 0 }) };
    case 'mse':
    case 'l1':
      return { kind };
    case 'kd':
      return { kind, temperature: numberFlag(values.temperature, '--temperature', { min: 0 }) ?? 4 };
    default:
      throw badInput(`unknown loss '${kind}'; use one of ${LOSS_KINDS.join(', ')}`);
  }
}

/**
 * `--schedule` in epochs, converted to steps: constant, cosine, cosine-restarts[:EPOCHS[:MULT]],
 * step:EPOCHS[:GAMMA], multistep:E1,E2[:GAMMA], exponential:GAMMA (per epoch), onecycle, plateau[:PATIENCE].
 */
export function parseSchedule(spec: string | undefined, stepsPerEpoch: number, epochs: number): ScheduleSpec {
  const [kind, a, b] = (spec ?? 'constant').split(':');
  const num = (v: string | undefined, what: string, fallback?: number) => {
    if (v === undefined || v === '') {
      if (fallback === undefined) throw badInput(`--schedule ${kind} needs ${what}; see 'hone train --help'`);
      return fallback;
    }
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw badInput(`--schedule ${kind}: ${what} must be a positive number, got '${v}'`);
    return n;
  };
  const total = stepsPerEpoch * epochs;
  switch (kind) {
    case 'constant':
      return { kind };
    case 'cosine':
      return { kind, period: total };
    case 'cosine-restarts':
      return {
        kind: 'cosine',
        restarts: true,
        period: num(a, 'a period in epochs', 1) * stepsPerEpoch,
        mult: num(b, 'a period multiplier', 2),
      };
    case 'step':
      return { kind, stepSize: num(a, 'a step size in epochs') * stepsPerEpoch, gamma: num(b, 'gamma', 0.1) };
    case 'multistep':
      return { kind, milestones: (a ?? '').split(',').map((e) => num(e, 'milestone epochs') * stepsPerEpoch), gamma: num(b, 'gamma', 0.1) };
    case 'exponential':
      return { kind, gamma: num(a, 'a per-epoch gamma') ** (1 / stepsPerEpoch) };
    case 'onecycle':
      return { kind, totalSteps: total };
    case 'plateau':
      return { kind, patience: num(a, 'a patience in epochs', 10) };
    default:
      throw badInput(
        `unknown schedule '${kind}'; use constant, cosine, cosine-restarts, step, multistep, exponential, onecycle or plateau`,
      );
  }
}

export function parseList(v: string | undefined): string[] | undefined {
  return v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

/**
 * The shared model-input flags as train options, and the batch size: `--batch-size`, or the batch a
 * `--dim`/`--shape`/`--input` sets (both must agree), else 64.
 */
export function parseTrainInputs(values: Parameters<typeof parseModelInputs>[0] & { 'batch-size'?: string }, model: ModelProto) {
  const inputs = parseModelInputs(values);
  const fixes = {
    dims: Object.fromEntries(inputs.dims),
    shapes: Object.fromEntries(inputs.shapes),
    values: Object.fromEntries(inputs.values),
  };
  const requested = numberFlag(values['batch-size'], '--batch-size', { int: true, min: 1 });
  const [batchSize] = resolveBatchSizes(model, fixes, requested === undefined ? undefined : [requested], '--batch-size') ?? [64];
  return { ...fixes, batchSize: batchSize!, threads: inputs.threads, provider: inputs.provider };
}

/**
 * The options every training command (train, train --profile, lr-find, profile --train) reads the same way
 * from its flags: optimizer, loss, frozen parameters, seed, and the model inputs of `parseTrainInputs`.
 */
export function parseTrainCommon(
  values: Parameters<typeof parseOptimizer>[0] &
    Parameters<typeof parseLoss>[0] &
    Parameters<typeof parseLoaderFlags>[0] & { freeze?: string; seed?: string },
  inputs: ReturnType<typeof parseTrainInputs>,
) {
  const loader = parseLoaderFlags(values);
  return {
    ...(loader ? { loader } : {}),
    optimizer: parseOptimizer(values),
    loss: parseLoss(values),
    frozen: parseList(values.freeze),
    seed: numberFlag(values.seed, '--seed', { int: true, min: 0 }) ?? 0,
    threads: inputs.threads,
    provider: inputs.provider,
    dims: inputs.dims,
    shapes: inputs.shapes,
    values: inputs.values,
  };
}
