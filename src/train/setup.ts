/**
 * Training setup: everything fixed before the first step. The options are checked, the data converted,
 * the training graph built with its two ORT sessions (steps, and metrics with the current weights), the
 * parameter, optimizer and schedule state created (or restored from a checkpoint), and the step bound:
 * feeds and fetches are built once over arrays that each step rewrites in place, so the loop allocates
 * nothing per step beyond ORT's own.
 */
import { foldedCopy } from '../passes/fold.js';
import { nchwcConvs } from '../passes/nchwc.js';
import { lowerFakeQuant } from '../passes/fake-quant.js';
import * as ort from 'onnxruntime-node';
import { HoneError, badInput } from '../errors.js';
import { encodeModel } from '../ir/codec.js';
import type { ModelProto } from '../ir/proto.js';
import { isModelLoadError, nchwcBlockSize, ortLoadError, sessionOptions, withoutLoadFix } from '../runtime/index.js';
import { coreThreads } from '../runtime/cpu.js';
import { graphInputs, shapeSymbols } from '../runtime/inputs.js';
import { sampleSize, split, type Dataset } from '../data/dataset.js';
import { buildTrainingGraph, type TrainingGraph } from './autodiff.js';
import { loadCheckpoint } from './checkpoint.js';
import { buildEvalModel, evaluate, type Evaluation } from './evaluate.js';
import { GivenFeeds, modelForTraining } from './inputs.js';
import type { LossSpec } from './losses.js';
import { createOptimizer, type Optimizer } from './optimizers.js';
import { checkLabels, featureTensor, prepareData, type FeatureArray } from './prepare.js';
import { createSchedule, type Schedule } from './schedules.js';
import { DataLoader } from '../data/loader.js';
import { parseAugment, type AugmentSpec } from '../data/augment.js';
import type { EpochRecord, TrainOptions } from './trainer.js';

export interface TrainingSetup {
  tg: TrainingGraph;
  seed: number;
  batch: number;
  /** Data-parallel: this process's place among the workers (TrainOptions.shard). */
  shard?: { rank: number; world: number };
  /** Samples per graph run; `chunks` runs make one step. */
  micro: number;
  chunks: number;
  stepsPerEpoch: number;
  trainSet: Dataset;
  valSet?: Dataset;
  testSet?: Dataset;
  /** The class count for index labels (accuracy is measured), else undefined. */
  classes: number | undefined;
  topK: number;
  session: ort.InferenceSession;
  /** The optimizer's own arrays (see Optimizer.allocate): ORT reads parameters from and writes gradients into them. */
  params: Float32Array[];
  grads: Float32Array[];
  /** Non-trained state (BatchNorm running statistics), replaced after each step. */
  buffers: Float32Array[];
  optimizer: Optimizer;
  schedule: Schedule;
  binding: StepBinding;
  /** Where a resumed run continues: what the checkpoint held besides the weights and optimizer state. */
  resumed?: { epoch: number; step: number; stepInEpoch: number; history: EpochRecord[]; trainer: Record<string, unknown> };
  /** Loss and accuracy over `ds` with the current weights (the data converted once per dataset). */
  evaluate(ds: Dataset): Promise<Evaluation>;
  /** Label smoothing applied to mixed (probability) labels in the loop; 0 otherwise (the loss smooths indices). */
  labelSmoothing: number;
  /** The data loader serving the training batches, when `TrainOptions.loader` asks for one. */
  loader?: DataLoader;
  /** Frees both sessions and ends the loader's workers. */
  release(): Promise<void>;
}

/** The step's inputs and outputs, built once: each run rewrites the arrays the tensors view. */
export interface StepBinding {
  feeds: Record<string, ort.Tensor>;
  fetches: Record<string, ort.Tensor>;
  /** Per data input: the dataset's array, elements per sample, and the run's batch buffer (fed). */
  batchBufs: { name: string; src: FeatureArray; per: number; buf: FeatureArray }[];
  labels: Dataset['labels']['data'];
  labelPer: number;
  labelBuf: BigInt64Array | Float32Array;
  /** Dropout masks the trainer draws (training-mode.ts), one buffer per mask input. */
  maskBufs: Float32Array[];
  /** The buffers' new values, fetched each run and copied into `buffers` after the step. */
  updated: Float32Array[];
  lossOut: Float32Array;
  /** The run's logits, fetched for training accuracy. */
  pred?: Float32Array;
  /** With micro-batches, the gradients of each run are summed here, then averaged into `grads`. */
  gradSums: Float32Array[];
}

/**
 * Checks the options and the data and builds everything the loop runs on. `fed` are graph inputs that
 * callbacks feed in each run (TrainCallback.inputs): they come neither from the data nor from `values`.
 * With `trace`, the step session runs with ORT profiling on (profile-step.ts).
 */
export async function setupTraining(
  model: ModelProto,
  data: Dataset,
  opts: TrainOptions,
  fed: ReadonlySet<string>,
  trace?: StepTrace,
): Promise<TrainingSetup> {
  const loss: LossSpec = opts.loss ?? { kind: 'cross-entropy' };
  const seed = opts.seed ?? 0;
  const batch = opts.batchSize;
  if (!Number.isInteger(batch) || batch < 1) throw badInput(`batch size must be a positive integer, got ${batch}`);
  if (!Number.isInteger(opts.epochs) || opts.epochs < 1) throw badInput(`epochs must be a positive integer, got ${opts.epochs}`);

  const given = new GivenFeeds(model, opts.values, { ...shapeSymbols(model, opts.shapes), ...opts.dims });
  given.checkData(data, 'the training data');
  if (opts.test) given.checkData(opts.test, 'the test data');
  const prepared0 = trace?.prepared ?? (await prepareTrainingGraph(model, opts));
  const forward = prepared0.forward;
  let tg = prepared0.tg;
  checkFed(fed, tg, given, data);
  const dataInputs = tg.dataInputs.filter((n) => !given.has(n) && !fed.has(n));
  const prepared = prepareData(forward, dataInputs, data, loss, 'the training data');
  const testSet = opts.test ? prepareData(forward, dataInputs, opts.test, loss, 'the test data') : undefined;
  let trainSet = prepared;
  let valSet: Dataset | undefined;
  if (opts.validationSplit) {
    if (!(opts.validationSplit > 0 && opts.validationSplit < 1))
      throw badInput(`validation split must be in (0, 1), got ${opts.validationSplit}`);
    [trainSet, valSet] = split(prepared, opts.validationSplit, seed + 7919);
  }
  if (trainSet.size < batch)
    throw badInput(`the training data has ${trainSet.size} samples, fewer than one batch of ${batch}; lower --batch-size`);
  const classes = checkLabels(tg, loss, [trainSet, valSet, testSet]);
  if (fed.size > 0 && (valSet || testSet)) throw unfedInEvaluation(fed);
  // mixup/cutmix train on mixed labels: the step's loss takes probabilities (the loader one-hot encodes and
  // mixes the class indices); evaluation keeps the class indices and their accuracy.
  const augment = typeof opts.loader?.augment === 'string' ? parseAugment(opts.loader.augment) : opts.loader?.augment;
  const softLabels = augment?.mixesLabels ? mixedLabelClasses(loss, classes) : undefined;
  if (softLabels !== undefined)
    tg = trainingGraphFor(model, forward, { ...opts, loss: { kind: 'cross-entropy', target: 'probabilities' } }, await stepBlockSize(opts));

  const threads = opts.threads || coreThreads();
  const shard = opts.shard;
  if (
    shard &&
    !(Number.isInteger(shard.world) && shard.world >= 1 && Number.isInteger(shard.rank) && shard.rank >= 0 && shard.rank < shard.world)
  )
    throw new HoneError(`worker ${shard.rank} of ${shard.world}: the rank must be 0..world-1`, 1);
  if (shard) checkBatchSplit(batch, shard.world);
  // Samples this process runs per step: the batch, or its share of it when data-parallel.
  const own = shard ? batch / shard.world : batch;
  const micro = opts.microBatch ?? own;
  if (!Number.isInteger(micro) || micro < 1 || own % micro !== 0)
    throw badInput(
      `micro-batch ${micro} must be a positive integer that divides the batch size ${own}${shard ? ` (each of ${shard.world} workers' share)` : ''}`,
    );
  if (micro < own && tg.buffers.length > 0) {
    throw badInput(
      `the model has BatchNorm running statistics, which micro-batches of ${micro} would compute over fewer samples than the batch of ${batch}; drop --micro-batch`,
    );
  }
  // The loader's workers start before the sessions, so they are up by the first step.
  const loader = opts.loader
    ? await openLoader(trainSet, dataInputs, micro, seed, classes, { ...opts.loader, augment, ...(shard ? shard : {}) })
    : undefined;
  try {
    return await finishSetup();
  } catch (e) {
    await loader?.close();
    throw e;
  }
  async function finishSetup(): Promise<TrainingSetup> {
    // The step graph gets inference's constant folding once its batch is fixed: Shape/Size of now-static
    // tensors and what computes from them (BatchNormalization gradients' element counts) become initializers.
    // Convolutions ORT's plain kernel runs slowly go to its NCHWc kernels (passes/nchwc.ts), in the step
    // and in the evaluation model alike.
    const blockSize = await stepBlockSize(opts);
    const blocked = (m: ModelProto) => (blockSize ? nchwcConvs(m, { blockSize }).model : m);
    const step = blocked(foldedCopy(fixBatch(tg.model, [...dataInputs, ...fed], tg.labelsName, micro)).model);
    const session = await trainingSession(step, threads, opts.provider, trace).catch((e: unknown) => {
      throw fixedBatchError(model, dataInputs, micro, e) ?? e;
    });
    const evalSession = await trainingSession(blocked(buildEvalModel(tg.forward, tg, loss)), threads, opts.provider);

    const buffers = tg.buffers.map((b) => Float32Array.from(b.init));
    const optimizer = createOptimizer(
      opts.optimizer ?? { kind: 'adam' },
      tg.params.map((p) => p.init.length),
    );
    // The optimizer's own arrays: ORT reads parameters from and writes gradients into them, and the
    // SIMD kernels update them in place, with no copies in between.
    const { params, grads } = optimizer.allocate();
    params.forEach((p, i) => p.set(tg.params[i]!.init));
    const schedule = createSchedule(
      opts.schedule ?? { kind: 'constant' },
      opts.lr ?? 1e-3,
      opts.warmupSteps ? { steps: opts.warmupSteps } : undefined,
    );
    const resumed =
      opts.resume && opts.checkpointDir ? resume(opts.checkpointDir, tg, seed, params, buffers, optimizer, schedule) : undefined;

    const topK = opts.topK ?? 5;
    const evalContext = { session: evalSession, tg, dataInputs, given, params, buffers, classes, topK };
    // Datasets a callback evaluates on are converted once; the validation and test sets already are.
    const converted = new WeakMap<Dataset, Dataset>();
    for (const ds of [valSet, testSet]) if (ds) converted.set(ds, ds);
    return {
      tg,
      seed,
      batch,
      ...(shard ? { shard } : {}),
      micro,
      chunks: own / micro,
      stepsPerEpoch: Math.min(Math.floor(trainSet.size / batch), opts.maxStepsPerEpoch ?? Infinity),
      trainSet,
      valSet,
      testSet,
      classes,
      topK,
      session,
      params,
      grads,
      buffers,
      optimizer,
      schedule,
      binding: bindStep(tg, given, dataInputs, trainSet, micro, own / micro, params, grads, buffers, classes, softLabels),
      labelSmoothing: softLabels !== undefined && loss.kind === 'cross-entropy' ? (loss.labelSmoothing ?? 0) : 0,
      resumed,
      async evaluate(ds) {
        if (fed.size > 0) throw unfedInEvaluation(fed);
        let ready = converted.get(ds);
        if (!ready) {
          given.checkData(ds, 'the evaluation data');
          ready = prepareData(forward, dataInputs, ds, loss, 'the evaluation data');
          checkLabels(tg, loss, [ready]);
          converted.set(ds, ready);
        }
        return evaluate(evalContext, ready);
      },
      loader,
      async release() {
        await Promise.allSettled([session.release(), evalSession.release(), loader?.close()]);
      },
    };
  }
}

/**
 * The loader over the training set's data inputs and labels: the trainer's own order (a full shuffle seeded
 * as the loop's), batches of one graph run, the last partial one dropped as the loop drops it.
 */
async function openLoader(
  trainSet: Dataset,
  dataInputs: string[],
  micro: number,
  seed: number,
  classes: number | undefined,
  opts: NonNullable<TrainOptions['loader']> & { augment?: AugmentSpec; rank?: number; world?: number },
): Promise<DataLoader> {
  const { augment } = opts;
  return DataLoader.open(
    { kind: 'arrays', features: Object.fromEntries(dataInputs.map((n) => [n, trainSet.features[n]!])), labels: trainSet.labels },
    {
      batchSize: micro,
      seed,
      shuffle: 'full',
      dropLast: true,
      workers: opts.workers ?? 0,
      prefetch: opts.prefetch ?? 2,
      ...(opts.world ? { rank: opts.rank ?? 0, world: opts.world } : {}),
      ...(augment ? { augment } : {}),
      ...(classes !== undefined ? { classes } : {}),
    },
  );
}

/** The class count mixup/cutmix mix labels over: only cross-entropy on class indices has one. */
function mixedLabelClasses(loss: LossSpec, classes: number | undefined): number {
  if (loss.kind !== 'cross-entropy' || (loss.target ?? 'indices') !== 'indices' || classes === undefined)
    throw badInput(
      `mixup and cutmix mix class labels, so they need --loss cross-entropy on class indices and a model with one [batch, classes] output; this run has --loss ${loss.kind}`,
    );
  return classes;
}

/** Inputs fed by callbacks must be data inputs of the model that nothing else gives; metrics cannot feed them. */
function checkFed(fed: ReadonlySet<string>, tg: TrainingGraph, given: GivenFeeds, data: Dataset): void {
  for (const name of fed) {
    if (!tg.dataInputs.includes(name))
      throw new HoneError(
        `a training callback feeds input '${name}', which the model does not have; its inputs are ${tg.dataInputs.join(', ')}`,
        1,
      );
    if (given.has(name)) throw badInput(`input '${name}' is fed by a training callback; drop --input ${name}`);
    if (name in data.features) throw badInput(`input '${name}' is fed by a training callback; drop its array from the training data`);
  }
}

/** Metrics run the model outside the steps, where no callback feeds its inputs. */
function unfedInEvaluation(fed: ReadonlySet<string>): HoneError {
  return badInput(
    `validation and test metrics need input '${[...fed][0]}', which a training callback feeds only to training steps; train without validation and test data`,
  );
}

/** The checkpoint's state loaded into the fresh arrays, after checking it belongs to this model and seed. */
function resume(
  dir: string,
  tg: TrainingGraph,
  seed: number,
  params: Float32Array[],
  buffers: Float32Array[],
  optimizer: Optimizer,
  schedule: Schedule,
): TrainingSetup['resumed'] {
  const ck = loadCheckpoint(dir);
  if (!ck) return undefined;
  const names = tg.params.map((p) => `${p.name}:${p.init.length}`).join(',');
  if (ck.meta.params.map((p) => `${p.name}:${p.size}`).join(',') !== names) {
    throw badInput(
      `the checkpoint in ${dir} was written for a different model (its parameters differ); resume with the same model or use a new --checkpoint folder`,
    );
  }
  if (ck.meta.seed !== seed)
    throw badInput(`the checkpoint was written with seed ${ck.meta.seed}, this run uses ${seed}; resume with --seed ${ck.meta.seed}`);
  if (ck.buffers.length !== buffers.length)
    throw badInput(`the checkpoint in ${dir} has different running statistics than this model; use a new --checkpoint folder`);
  ck.params.forEach((p, i) => params[i]!.set(p));
  ck.buffers.forEach((b, i) => buffers[i]!.set(b));
  optimizer.loadState(ck.optimizer);
  schedule.loadState(ck.meta.schedule);
  return {
    epoch: ck.meta.epoch,
    step: ck.meta.step,
    stepInEpoch: ck.meta.stepInEpoch ?? 0,
    history: ck.meta.trainer.history as EpochRecord[],
    trainer: ck.meta.trainer,
  };
}

/**
 * ORT profiling of the step session (profile-step.ts): the Chrome trace is written under `prefix`, and the
 * graph ORT optimized and ran (fusions, NCHWc forms) is saved to `optimizedModel` when given.
 */
export interface StepTrace {
  prefix: string;
  optimizedModel?: string;
  /**
   * The forward model and training graph already built from this model and these options
   * (`prepareTrainingGraph`), so that a caller that built them to check the model (profile-step.ts) does
   * not pay for a second build.
   */
  prepared?: PreparedGraph;
}

export interface PreparedGraph {
  forward: ModelProto;
  tg: TrainingGraph;
}

/** The forward model (input fixes applied) and its training graph, as setupTraining builds them. */
export async function prepareTrainingGraph(model: ModelProto, opts: TrainOptions): Promise<PreparedGraph> {
  const forward = await modelForTraining(model, opts, { provider: opts.provider });
  return { forward, tg: trainingGraphFor(model, forward, opts, await stepBlockSize(opts)) };
}

/**
 * ORT's NCHWc block when the step's convolutions go to those kernels (cpu provider, `nchwc` not off, a CPU
 * that has them), else 0.
 */
export async function stepBlockSize(opts: TrainOptions): Promise<number> {
  return (opts.provider ?? 'cpu') === 'cpu' && opts.nchwc !== false ? await nchwcBlockSize() : 0;
}

/**
 * The training graph of `forward` (`model` with the input fixes applied) under `opts`; `blockSize` is
 * stepBlockSize's, for the gradient rules that choose forms by it.
 */
export function trainingGraphFor(model: ModelProto, forward: ModelProto, opts: TrainOptions, blockSize: number): TrainingGraph {
  const given = new GivenFeeds(model, opts.values, { ...shapeSymbols(model, opts.shapes), ...opts.dims });
  return buildTrainingGraph(forward, {
    loss: opts.loss ?? { kind: 'cross-entropy' },
    frozen: opts.frozen,
    trainable: opts.trainable,
    alsoTrain: opts.alsoTrain,
    extraLoss: opts.extraLoss,
    inputValues: given.protos(opts.microBatch ?? opts.batchSize),
    inputFixes: { dims: opts.dims, shapes: opts.shapes, values: opts.values },
    blockedDepthwise: blockSize,
  });
}

/** Feeds and fetches for one graph run of `micro` samples, over buffers the loop rewrites. */
function bindStep(
  tg: TrainingGraph,
  given: GivenFeeds,
  dataInputs: string[],
  trainSet: Dataset,
  micro: number,
  chunks: number,
  params: Float32Array[],
  grads: Float32Array[],
  buffers: Float32Array[],
  classes: number | undefined,
  softLabels?: number,
): StepBinding {
  const feeds: Record<string, ort.Tensor> = {};
  Object.assign(feeds, given.at(micro));
  const batchBufs = dataInputs.map((name) => {
    const src = trainSet.features[name]!;
    const data = src.data as FeatureArray;
    const buf = new (data.constructor as new (n: number) => FeatureArray)(micro * sampleSize(src));
    feeds[name] = featureTensor(buf, [micro, ...src.dims.slice(1)]);
    return { name, src: data, per: sampleSize(src), buf };
  });
  // Mixed labels (mixup/cutmix) come from the loader as probabilities [micro, classes].
  const labelPer = softLabels ?? sampleSize(trainSet.labels);
  const labelBuf =
    softLabels === undefined && trainSet.labels.data instanceof BigInt64Array
      ? new BigInt64Array(micro * labelPer)
      : new Float32Array(micro * labelPer);
  feeds[tg.labelsName] = new ort.Tensor(
    labelBuf instanceof BigInt64Array ? 'int64' : 'float32',
    labelBuf,
    softLabels === undefined ? [micro, ...trainSet.labels.dims.slice(1)] : [micro, softLabels],
  );
  tg.params.forEach((p, i) => {
    feeds[p.name] = new ort.Tensor('float32', params[i]!, p.dims);
  });
  const fetches: Record<string, ort.Tensor> = {};
  tg.params.forEach((p, i) => {
    fetches[p.grad] = new ort.Tensor('float32', grads[i]!, p.dims);
  });
  tg.buffers.forEach((b, i) => {
    feeds[b.name] = new ort.Tensor('float32', buffers[i]!, b.dims);
  });
  const updated = tg.buffers.map((b) => new Float32Array(b.init.length));
  tg.buffers.forEach((b, i) => {
    fetches[b.update] = new ort.Tensor('float32', updated[i]!, b.dims);
  });
  const maskBufs = tg.dropoutMasks.map((m) => {
    const buf = new Float32Array(micro * m.sampleDims.reduce((a, b) => a * b, 1));
    feeds[m.name] = new ort.Tensor('float32', buf, [micro, ...m.sampleDims]);
    return buf;
  });
  const lossOut = new Float32Array(1);
  fetches[tg.lossName] = new ort.Tensor('float32', lossOut, []);
  let pred: Float32Array | undefined;
  if (classes !== undefined) {
    pred = new Float32Array(micro * classes);
    fetches[tg.outputs[0]!] = new ort.Tensor('float32', pred, [micro, classes]);
  }
  const gradSums = chunks > 1 ? grads.map((g) => new Float32Array(g.length)) : [];
  return { feeds, fetches, batchBufs, labels: trainSet.labels.data, labelPer, labelBuf, maskBufs, updated, lossOut, pred, gradSums };
}

/**
 * A session for training steps. ORT's intra-op threads spin after each run by default; between runs the
 * JS optimizer needs the cores, and spinning threads slowed both the graph and the update here
 * (bench/train.ts), so spinning is off.
 */
async function trainingSession(model: ModelProto, threads: number, provider = 'cpu', trace?: StepTrace): Promise<ort.InferenceSession> {
  const options = sessionOptions({ intraOpThreads: threads, provider, profilePrefix: trace?.prefix });
  options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  if (trace?.optimizedModel) options.optimizedModelFilePath = trace.optimizedModel;
  try {
    // Training-only ops (quantization-aware training's FakeQuantize) become what ORT runs.
    return await ort.InferenceSession.create(encodeModel(lowerFakeQuant(model)), options);
  } catch (e) {
    throw ortLoadError(e, provider);
  }
}

/**
 * A model exported for one batch size often holds it in its own shapes too (tf2onnx writes Reshape targets
 * with the batch in them), and then ORT refuses the step at another batch with a shape error deep inside
 * the graph. When a data input declares a leading dim other than the batch the step runs, that error is
 * the clearer one: the batch the model was exported for, and the two ways out.
 */
function fixedBatchError(model: ModelProto, dataInputs: readonly string[], batch: number, cause: unknown): HoneError | undefined {
  if (!isModelLoadError(cause)) return undefined;
  const fixed = graphInputs(model).find((i) => dataInputs.includes(i.name) && typeof i.shape?.[0] === 'number' && i.shape[0] !== batch);
  if (!fixed) return undefined;
  return badInput(
    `the model was exported for batch ${fixed.shape![0]} (input '${fixed.name}' is [${fixed.shape!.join(', ')}]) and does not run at batch ${batch} (${withoutLoadFix(cause.message)}); train with --batch-size ${fixed.shape![0]}, or export the model with a dynamic batch dim`,
    cause,
  );
}

/** The training model with its data and labels inputs fixed to the batch size, so ORT plans static shapes. */
function fixBatch(model: ModelProto, dataInputs: string[], labels: string, batch: number): ModelProto {
  const graph = model.graph!;
  const fixed = new Set([...dataInputs, labels]);
  const input = graph.input.map((vi) => {
    const dims = vi.type?.tensorType?.shape?.dim;
    if (!fixed.has(vi.name!) || !dims || dims.length === 0) return vi;
    return { ...vi, type: { ...vi.type, tensorType: { ...vi.type!.tensorType, shape: { dim: [{ dimValue: batch }, ...dims.slice(1)] } } } };
  });
  return { ...model, graph: { ...graph, input } };
}

/** Data-parallel training gives each of `world` workers an equal share of every batch: `batch` must split evenly. */
export function checkBatchSplit(batch: number, world: number): void {
  if (batch % world !== 0)
    throw badInput(`the batch size ${batch} does not split evenly over ${world} workers; use a batch size that ${world} divides`);
}
