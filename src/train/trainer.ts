/**
 * The trainer: one ONNX Runtime session runs the training-step graph (forward, loss, backward); the
 * optimizer updates parameters in place in JS. Parameters live in Float32Arrays that the session reads
 * as inputs each step, batches are copied into reused buffers, gradients land in preallocated outputs —
 * no per-step allocation beyond ORT's own.
 */
import * as ort from 'onnxruntime-node';
import { HoneError, badInput } from '../errors.js';
import { valueInfo } from '../ir/builder.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import type { GraphProto, ModelProto, TensorProto } from '../ir/proto.js';
import { nodeGraphs } from '../ir/walk.js';
import { floatTensor } from '../ir/tensor.js';
import { encodeModel } from '../ir/codec.js';
import { GradEmitter } from '../ops/grad/index.js';
import { ortLoadError, sessionOptions } from '../runtime/index.js';
import { permutation, sampleSize, split, type ArrayTensor, type Dataset } from '../data/dataset.js';
import { buildTrainingGraph, defaultOpset, type TrainingGraph } from './autodiff.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { appendLoss, labelsType, type LossSpec } from './losses.js';
import { clipGradNorm, createOptimizer, type OptimizerSpec } from './optimizers.js';
import { createSchedule, type ScheduleSpec } from './schedules.js';
import { staticTypes, valueInfoType } from './shapes.js';
import { fillDropoutMasks } from './training-mode.js';
import { GivenFeeds, modelForTraining, withInputsOf } from './inputs.js';
import { trainingRunError } from './run-errors.js';
import { shapeSymbols, type InputValue } from '../runtime/inputs.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  optimizer?: OptimizerSpec;
  /** Base learning rate (default 1e-3). */
  lr?: number;
  schedule?: ScheduleSpec;
  warmupSteps?: number;
  loss?: LossSpec;
  /** Seeds the shuffling (and the validation split). Same seed, same trajectory. */
  seed?: number;
  /** Fraction of the training data held out for validation (early stopping, plateau schedule). */
  validationSplit?: number;
  test?: Dataset;
  clipNorm?: number;
  /** Stop when validation loss has not improved by minDelta for `patience` epochs. */
  earlyStopping?: { patience: number; minDelta?: number };
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir` when there is one. */
  resume?: boolean;
  frozen?: string[];
  trainable?: string[];
  /** k for top-k accuracy (default 5; reported only when there are more than k classes). */
  topK?: number;
  /** ORT intra-op threads (default 2; 0 = ORT's default, one per physical core). */
  threads?: number;
  /** Execution provider (default cpu). */
  provider?: string;
  /** Sizes of symbolic dims and input shapes (`--dim`, `--shape`) for the training graph; the batch stays `batchSize`. */
  dims?: Record<string, number>;
  shapes?: Record<string, number[]>;
  /** Values for inputs that are not data (`--input scale=0.5`), fed in every step and evaluation. */
  values?: Record<string, InputValue>;
  /**
   * Gradient accumulation: samples per graph run. Each step runs batchSize/microBatch runs and averages
   * their gradients — the same update up to float rounding (losses are means over the batch), with the
   * activations of microBatch samples in memory instead of batchSize. Must divide batchSize; not for
   * models with BatchNorm (its batch statistics would cover fewer samples). Default: batchSize.
   */
  microBatch?: number;
  /** Stop after this many steps per epoch (quick runs). */
  maxStepsPerEpoch?: number;
  /** Called after every epoch; returning false (nothing else) stops training there (a tuner's pruned trial). */
  onEpoch?: (record: EpochRecord) => unknown;
  /** Called after every step; returning false stops training (the LR range test uses it). */
  onStep?: (s: { step: number; lr: number; loss: number }) => boolean | undefined;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  samplesPerSec: number;
  etaSec: number;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainAccuracy?: number;
  trainTopK?: number;
  valLoss?: number;
  valAccuracy?: number;
  testLoss?: number;
  testAccuracy?: number;
  testTopK?: number;
  samplesPerSec: number;
  seconds: number;
}

export interface StepTiming {
  steps: number;
  /** Milliseconds in session.run (forward + backward), the optimizer, and batch assembly. */
  graphMs: number;
  optimizerMs: number;
  dataMs: number;
}

export interface TrainResult {
  /** The inference model with trained weights: same inputs and outputs as the original. */
  model: ModelProto;
  epochs: number;
  history: EpochRecord[];
  trainLoss: number;
  trainAccuracy?: number;
  testLoss?: number;
  testAccuracy?: number;
  samplesPerSec: number;
  timing: StepTiming;
  stopped: 'completed' | 'early-stopping' | 'callback';
}

/** Trains `model` on `data`; returns the trained inference model and the metrics. */
export async function train(model: ModelProto, data: Dataset, opts: TrainOptions): Promise<TrainResult> {
  const loss: LossSpec = opts.loss ?? { kind: 'cross-entropy' };
  const seed = opts.seed ?? 0;
  const batch = opts.batchSize;
  if (!Number.isInteger(batch) || batch < 1) throw badInput(`batch size must be a positive integer, got ${batch}`);
  if (!Number.isInteger(opts.epochs) || opts.epochs < 1) throw badInput(`epochs must be a positive integer, got ${opts.epochs}`);

  const given = new GivenFeeds(model, opts.values, { ...shapeSymbols(model, opts.shapes), ...opts.dims });
  given.checkData(data, 'the training data');
  if (opts.test) given.checkData(opts.test, 'the test data');
  const forward = await modelForTraining(model, opts, { provider: opts.provider });
  const tg = buildTrainingGraph(forward, {
    loss,
    frozen: opts.frozen,
    trainable: opts.trainable,
    inputValues: given.protos(opts.microBatch ?? batch),
    inputFixes: { dims: opts.dims, shapes: opts.shapes, values: opts.values },
  });
  const dataInputs = tg.dataInputs.filter((n) => !given.has(n));
  const prepared = prepareData(forward, dataInputs, data, loss, 'the training data');
  const test = opts.test ? prepareData(forward, dataInputs, opts.test, loss, 'the test data') : undefined;
  let trainSet = prepared;
  let valSet: Dataset | undefined;
  if (opts.validationSplit) {
    if (!(opts.validationSplit > 0 && opts.validationSplit < 1))
      throw badInput(`validation split must be in (0, 1), got ${opts.validationSplit}`);
    [trainSet, valSet] = split(prepared, opts.validationSplit, seed + 7919);
  }
  if (trainSet.size < batch)
    throw badInput(`the training data has ${trainSet.size} samples, fewer than one batch of ${batch}; lower --batch-size`);
  const classes = checkLabels(tg, loss, [trainSet, valSet, test]);

  const threads = opts.threads ?? 2;
  const micro = opts.microBatch ?? batch;
  if (!Number.isInteger(micro) || micro < 1 || batch % micro !== 0)
    throw badInput(`micro-batch ${micro} must be a positive integer that divides the batch size ${batch}`);
  if (micro < batch && tg.buffers.length > 0) {
    throw badInput(
      `the model has BatchNorm running statistics, which micro-batches of ${micro} would compute over fewer samples than the batch of ${batch}; drop --micro-batch`,
    );
  }
  const chunks = batch / micro;
  const session = await trainingSession(fixBatch(tg.model, dataInputs, tg.labelsName, micro), threads, opts.provider);
  const evalSession = await trainingSession(buildEvalModel(tg.forward, tg, loss), threads, opts.provider);

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

  let startEpoch = 0;
  let step = 0;
  let history: EpochRecord[] = [];
  let bestVal = Infinity;
  let badEpochs = 0;
  if (opts.resume && opts.checkpointDir) {
    const ck = loadCheckpoint(opts.checkpointDir);
    if (ck) {
      const names = tg.params.map((p) => `${p.name}:${p.init.length}`).join(',');
      if (ck.meta.params.map((p) => `${p.name}:${p.size}`).join(',') !== names) {
        throw badInput(
          `the checkpoint in ${opts.checkpointDir} was written for a different model (its parameters differ); resume with the same model or use a new --checkpoint folder`,
        );
      }
      if (ck.meta.seed !== seed)
        throw badInput(`the checkpoint was written with seed ${ck.meta.seed}, this run uses ${seed}; resume with --seed ${ck.meta.seed}`);
      if (ck.buffers.length !== buffers.length)
        throw badInput(
          `the checkpoint in ${opts.checkpointDir} has different running statistics than this model; use a new --checkpoint folder`,
        );
      ck.params.forEach((p, i) => params[i]!.set(p));
      ck.buffers.forEach((b, i) => buffers[i]!.set(b));
      optimizer.loadState(ck.optimizer);
      schedule.loadState(ck.meta.schedule);
      startEpoch = ck.meta.epoch;
      step = ck.meta.step;
      history = ck.meta.trainer.history as EpochRecord[];
      bestVal = ck.meta.trainer.bestValLoss ?? Infinity;
      badEpochs = ck.meta.trainer.badEpochs;
    }
  }

  // Feeds and fetches are built once; each step rewrites the buffers they view.
  const feeds: Record<string, ort.Tensor> = {};
  Object.assign(feeds, given.at(micro));
  const batchBufs = dataInputs.map((name) => {
    const src = trainSet.features[name]!;
    const data = src.data as FeatureArray;
    const buf = new (data.constructor as new (n: number) => FeatureArray)(micro * sampleSize(src));
    feeds[name] = featureTensor(buf, [micro, ...src.dims.slice(1)]);
    return { src: data, per: sampleSize(src), buf };
  });
  const labelPer = sampleSize(trainSet.labels);
  const labelBuf = trainSet.labels.data instanceof BigInt64Array ? new BigInt64Array(micro * labelPer) : new Float32Array(micro * labelPer);
  feeds[tg.labelsName] = new ort.Tensor(labelBuf instanceof BigInt64Array ? 'int64' : 'float32', labelBuf, [
    micro,
    ...trainSet.labels.dims.slice(1),
  ]);
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
  const predName = tg.outputs[0]!;
  const wantsAccuracy = classes !== undefined;
  let pred: Float32Array | undefined;
  if (wantsAccuracy) {
    pred = new Float32Array(micro * classes);
    fetches[predName] = new ort.Tensor('float32', pred, [micro, classes]);
  }
  // With micro-batches, the gradients of each run are summed here, then averaged into `grads`.
  const gradSums = chunks > 1 ? grads.map((g) => new Float32Array(g.length)) : [];

  const timing: StepTiming = { steps: 0, graphMs: 0, optimizerMs: 0, dataMs: 0 };
  const stepsPerEpoch = Math.min(Math.floor(trainSet.size / batch), opts.maxStepsPerEpoch ?? Infinity);
  const topK = opts.topK ?? 5;
  let stopped: TrainResult['stopped'] = 'completed';
  let last: EpochRecord | undefined = history[history.length - 1];
  const labels = trainSet.labels.data;
  for (let epoch = startEpoch; epoch < opts.epochs; epoch++) {
    const order = permutation(trainSet.size, seed * 1_000_003 + epoch);
    const t0 = performance.now();
    let lossSum = 0;
    let correct = 0;
    let correctK = 0;
    let lr = schedule.lr(step);
    let done = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      let l = 0;
      let tData = 0;
      let tGraph = 0;
      for (let chunk = 0; chunk < chunks; chunk++) {
        const ta = performance.now();
        const first = s * batch + chunk * micro;
        for (let i = 0; i < micro; i++) {
          const idx = order[first + i]!;
          for (const b of batchBufs) (b.buf as Float32Array).set(b.src.subarray(idx * b.per, (idx + 1) * b.per) as Float32Array, i * b.per);
          if (labelPer === 1) labelBuf[i] = labels[idx]!;
          else (labelBuf as Float32Array).set((labels as Float32Array).subarray(idx * labelPer, (idx + 1) * labelPer), i * labelPer);
        }
        if (maskBufs.length) fillDropoutMasks(tg.dropoutMasks, maskBufs, seed, step, chunk);
        const tb = performance.now();
        try {
          await session.run(feeds, fetches);
        } catch (e) {
          throw trainingRunError(e, `training step ${step + 1}`, micro);
        }
        tData += tb - ta;
        tGraph += performance.now() - tb;
        if (!Number.isFinite(lossOut[0]!)) {
          throw new HoneError(
            `the loss became ${lossOut[0]} at epoch ${epoch + 1}, step ${step + 1}; lower the learning rate (--lr) or clip gradients (--clip-norm)${opts.checkpointDir ? `; the last good checkpoint in ${opts.checkpointDir} is kept` : ''}`,
            2,
          );
        }
        l += lossOut[0]! / chunks;
        if (pred) {
          const [c, ck] = countCorrect(pred, labelBuf as BigInt64Array, micro, classes!, topK);
          correct += c;
          correctK += ck;
        }
        if (chunks > 1) accumulate(gradSums, grads, chunk === 0, chunk === chunks - 1 ? 1 / chunks : 0);
      }
      const tc = performance.now();
      lossSum += l;
      for (let i = 0; i < buffers.length; i++) buffers[i]!.set(updated[i]!);
      lr = schedule.lr(step);
      if (opts.clipNorm) clipGradNorm(grads, opts.clipNorm);
      optimizer.step(params, grads, lr);
      step++;
      done++;
      const td = performance.now();
      timing.dataMs += tData;
      timing.graphMs += tGraph;
      timing.optimizerMs += td - tc;
      timing.steps++;
      if (opts.onStep && opts.onStep({ step, lr, loss: l }) === false) {
        stopped = 'callback';
        break;
      }
      if (opts.onProgress && (s % 10 === 9 || s === stepsPerEpoch - 1)) {
        const elapsed = (td - t0) / 1000;
        const sps = ((s + 1) * batch) / elapsed;
        const remaining = (opts.epochs - epoch - 1) * stepsPerEpoch + (stepsPerEpoch - s - 1);
        opts.onProgress({
          epoch: epoch + 1,
          epochs: opts.epochs,
          step: s + 1,
          steps: stepsPerEpoch,
          loss: lossSum / (s + 1),
          samplesPerSec: sps,
          etaSec: (remaining * batch) / sps,
        });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const stepsDone = Math.max(1, done);
    const n = stepsDone * batch;
    const rec: EpochRecord = {
      epoch: epoch + 1,
      step,
      lr,
      trainLoss: lossSum / stepsDone,
      samplesPerSec: n / seconds,
      seconds,
    };
    if (wantsAccuracy) {
      rec.trainAccuracy = correct / n;
      if (classes! > topK) rec.trainTopK = correctK / n;
    }
    if (valSet) {
      const v = await evaluate(evalSession, tg, dataInputs, given, valSet, params, buffers, classes, topK);
      rec.valLoss = v.loss;
      rec.valAccuracy = v.accuracy;
    }
    if (test) {
      const v = await evaluate(evalSession, tg, dataInputs, given, test, params, buffers, classes, topK);
      rec.testLoss = v.loss;
      rec.testAccuracy = v.accuracy;
      if (v.topK !== undefined && classes! > topK) rec.testTopK = v.topK;
    }
    schedule.observe(rec.valLoss ?? rec.trainLoss);
    history.push(rec);
    last = rec;
    // onEpoch may end training after this epoch (a tuner's pruned trial); the epoch itself is complete.
    const endHere = opts.onEpoch?.(rec) === false;
    let stop = false;
    if (opts.earlyStopping && rec.valLoss !== undefined) {
      if (rec.valLoss < bestVal - (opts.earlyStopping.minDelta ?? 0)) {
        bestVal = rec.valLoss;
        badEpochs = 0;
      } else if (++badEpochs >= opts.earlyStopping.patience) stop = true;
    }
    // An epoch a callback cut short is not checkpointed: resuming would take it as finished.
    if (opts.checkpointDir && stopped !== 'callback') {
      saveCheckpoint(
        opts.checkpointDir,
        {
          epoch: epoch + 1,
          step,
          seed,
          schedule: schedule.state(),
          trainer: { bestValLoss: Number.isFinite(bestVal) ? bestVal : null, badEpochs, history },
        },
        tg.params.map((p) => p.name),
        params,
        optimizer.state(),
        tg.buffers.map((b, i) => ({ name: b.name, data: buffers[i]! })),
      );
    }
    if (endHere || stopped === 'callback') {
      stopped = 'callback';
      break;
    }
    if (stop) {
      stopped = 'early-stopping';
      break;
    }
  }
  if (!last) throw badInput(`nothing left to train: the checkpoint already covers ${startEpoch} epochs; raise --epochs to continue`);
  const trained = withInputsOf(exportTrained(tg.source, tg, params, buffers), model);
  const totalSec = (timing.graphMs + timing.optimizerMs + timing.dataMs) / 1000;
  return {
    model: trained,
    epochs: last.epoch,
    history,
    trainLoss: last.trainLoss,
    trainAccuracy: last.trainAccuracy,
    testLoss: last.testLoss,
    testAccuracy: last.testAccuracy,
    samplesPerSec: timing.steps ? (timing.steps * batch) / totalSec : last.samplesPerSec,
    timing,
    stopped,
  };
}

/**
 * A session for training steps. ORT's intra-op threads spin after each run by default; between runs the
 * JS optimizer needs the cores, and spinning threads slowed both the graph and the update here
 * (bench/train.ts), so spinning is off.
 */
async function trainingSession(model: ModelProto, threads: number, provider = 'cpu'): Promise<ort.InferenceSession> {
  const options = sessionOptions({ intraOpThreads: threads, provider });
  options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  try {
    return await ort.InferenceSession.create(encodeModel(model), options);
  } catch (e) {
    throw ortLoadError(e, provider);
  }
}

/**
 * Gradient accumulation over micro-batches: `sums` = `grads` (first run) or `sums` + `grads`; with a
 * nonzero `average` (the last run) `grads` becomes `sums`·average, what the optimizer then reads.
 */
function accumulate(sums: Float32Array[], grads: Float32Array[], first: boolean, average: number): void {
  for (let k = 0; k < grads.length; k++) {
    const s = sums[k]!;
    const g = grads[k]!;
    if (first) s.set(g);
    else for (let i = 0; i < g.length; i++) s[i] = s[i]! + g[i]!;
    if (average) for (let i = 0; i < g.length; i++) g[i] = s[i]! * average;
  }
}

/** Top-1 and top-k correct counts for a batch of logits. */
function countCorrect(pred: Float32Array, labels: BigInt64Array, n: number, k: number, topK: number): [number, number] {
  let c1 = 0;
  let ck = 0;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    const y = Number(labels[i]);
    const target = pred[row + y]!;
    let above = 0;
    for (let j = 0; j < k; j++) if (pred[row + j]! > target) above++;
    if (above === 0) c1++;
    if (above < topK) ck++;
  }
  return [c1, ck];
}

/** Loss and accuracy over a whole dataset, in batches, with the current parameters. */
async function evaluate(
  session: ort.InferenceSession,
  tg: TrainingGraph,
  dataInputs: string[],
  given: GivenFeeds,
  ds: Dataset,
  params: Float32Array[],
  buffers: Float32Array[],
  classes: number | undefined,
  topK: number,
) {
  const chunk = 500;
  const feeds: Record<string, ort.Tensor> = {};
  tg.params.forEach((p, i) => {
    feeds[p.name] = new ort.Tensor('float32', params[i]!, p.dims);
  });
  tg.buffers.forEach((b, i) => {
    feeds[b.name] = new ort.Tensor('float32', buffers[i]!, b.dims);
  });
  let lossSum = 0;
  let c1 = 0;
  let ck = 0;
  for (let start = 0; start < ds.size; start += chunk) {
    const m = Math.min(chunk, ds.size - start);
    Object.assign(feeds, given.at(m));
    for (const name of dataInputs) {
      const f = ds.features[name]!;
      const per = sampleSize(f);
      feeds[name] = featureTensor((f.data as FeatureArray).subarray(start * per, (start + m) * per), [m, ...f.dims.slice(1)]);
    }
    const lp = sampleSize(ds.labels);
    const ld = ds.labels.data;
    feeds[tg.labelsName] =
      ld instanceof BigInt64Array
        ? new ort.Tensor('int64', ld.subarray(start * lp, (start + m) * lp), [m, ...ds.labels.dims.slice(1)])
        : new ort.Tensor('float32', (ld as Float32Array).subarray(start * lp, (start + m) * lp), [m, ...ds.labels.dims.slice(1)]);
    const r = await session.run(feeds).catch((e: unknown) => {
      throw trainingRunError(e, 'evaluation', m);
    });
    lossSum += (r[tg.lossName]!.data as Float32Array)[0]! * m;
    if (classes !== undefined) {
      const [a, b] = countCorrect(
        r[tg.outputs[0]!]!.data as Float32Array,
        (ld as BigInt64Array).subarray(start, start + m),
        m,
        classes,
        topK,
      );
      c1 += a;
      ck += b;
    }
  }
  return {
    loss: lossSum / ds.size,
    accuracy: classes !== undefined ? c1 / ds.size : undefined,
    topK: classes !== undefined ? ck / ds.size : undefined,
  };
}

/**
 * Checks and converts the data before any training: every model input has a feature array whose
 * per-sample element count matches the input's static dims (reshaped to them), features become
 * float32, class-index labels become int64.
 */
function prepareData(model: ModelProto, dataInputs: string[], ds: Dataset, loss: LossSpec, what: string): Dataset {
  const graph = model.graph!;
  const features: Record<string, ArrayTensor> = {};
  for (const name of dataInputs) {
    const f = ds.features[name] ?? (dataInputs.length === 1 ? (ds.features.input ?? Object.values(ds.features)[0]) : undefined);
    if (!f)
      throw badInput(
        `${what} has no array for model input '${name}'; name the array after the input, or give a fixed value with --input ${name}=VALUE`,
      );
    const t = valueInfoType(graph.input.find((i) => i.name === name)!);
    const elemType = t?.elemType ?? DataType.FLOAT;
    if (!FEATURE_TYPES.has(elemType))
      throw badInput(
        `model input '${name}' is ${dtypeName(elemType)}; Hone trains models whose data inputs are float32, int64, int32 or bool (give other inputs a value with --input ${name}=VALUE)`,
      );
    const per = t?.shape?.slice(1);
    let dims = f.dims;
    if (per?.every((d) => typeof d === 'number')) {
      const want = (per as number[]).reduce((a, b) => a * b, 1);
      if (want !== sampleSize(f)) {
        throw badInput(
          `${what}: input '${name}' expects samples of shape [${per.join(', ')}] (${want} values) but the data has [${f.dims.slice(1).join(', ')}] (${sampleSize(f)}); give data matching the model's input`,
        );
      }
      dims = [f.dims[0]!, ...(per as number[])];
    } else if (per && per.length !== f.dims.length - 1) {
      const sym = per.find((d) => typeof d === 'string');
      throw badInput(
        `${what}: input '${name}' expects samples of rank ${per.length} [${per.join(', ')}] but the data has [${f.dims.slice(1).join(', ')}]; reshape the data, or size the model's dims with --dim ${sym}=N or --shape ${name}=...`,
      );
    }
    features[name] = { data: toFeatureArray(f.data, elemType, `${what}: input '${name}'`), dims };
  }
  let labels = ds.labels;
  if (loss.kind === 'cross-entropy' && (loss.target ?? 'indices') === 'indices' && !(labels.data instanceof BigInt64Array)) {
    const src = labels.data as ArrayLike<number>;
    const out = new BigInt64Array(src.length);
    for (let i = 0; i < src.length; i++) {
      if (!Number.isInteger(src[i])) throw badInput(`${what}: label ${i} is ${src[i]}, not a class index; give integer labels`);
      out[i] = BigInt(src[i]!);
    }
    labels = { data: out, dims: labels.dims };
  } else if (!(labels.data instanceof Float32Array) && !(loss.kind === 'cross-entropy' && labels.data instanceof BigInt64Array)) {
    // Targets of a regression (or soft) loss are float32, whatever the file stored them as.
    labels = { data: Float32Array.from(labels.data as ArrayLike<number | bigint>, Number), dims: labels.dims };
  }
  return { features, labels, size: ds.size };
}

/** A data input's samples, typed for the model input: float32, int64 (token ids), int32 or bool. */
type FeatureArray = Float32Array | BigInt64Array | Int32Array | Uint8Array;

const FEATURE_TYPES = new Set<number>([DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.BOOL]);

function featureTensor(data: FeatureArray, dims: number[]): ort.Tensor {
  if (data instanceof BigInt64Array) return new ort.Tensor('int64', data, dims);
  if (data instanceof Int32Array) return new ort.Tensor('int32', data, dims);
  if (data instanceof Uint8Array) return new ort.Tensor('bool', data, dims);
  return new ort.Tensor('float32', data, dims);
}

/** The data converted to the input's type; integer and bool inputs need whole (0/1) values. */
function toFeatureArray(data: ArrayTensor['data'], elemType: number, what: string): FeatureArray {
  if (elemType === DataType.FLOAT) return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>, Number);
  if (elemType === DataType.INT64 && data instanceof BigInt64Array) return data;
  const values = Array.from(data as ArrayLike<number | bigint>, Number);
  const bad = values.findIndex((v) => !Number.isInteger(v) || (elemType === DataType.BOOL && v !== 0 && v !== 1));
  if (bad >= 0)
    throw badInput(
      `${what} is ${dtypeName(elemType)}, but value ${bad} of the data is ${values[bad]}; give ${elemType === DataType.BOOL ? '0/1' : 'whole-number'} data`,
    );
  if (elemType === DataType.INT64) return BigInt64Array.from(values, (v) => BigInt(v));
  if (elemType === DataType.INT32) return Int32Array.from(values);
  return Uint8Array.from(values);
}

/** The class count for index labels (from the prediction's static shape), after checking every label is in range. */
function checkLabels(tg: TrainingGraph, loss: LossSpec, sets: (Dataset | undefined)[]): number | undefined {
  const types = staticTypes(tg.model.graph!, defaultOpset(tg.model));
  const shape = types.types.get(tg.outputs[0]!)?.shape;
  const k = shape?.length === 2 && typeof shape[1] === 'number' ? shape[1] : undefined;
  if (loss.kind !== 'cross-entropy' || (loss.target ?? 'indices') !== 'indices') {
    // A target per output value: labels of another size (class indices for an mse loss, say) fail here, before any step.
    const per = shape?.slice(1);
    if (per?.every((d) => typeof d === 'number')) {
      const want = (per as number[]).reduce((a, b) => a * b, 1);
      for (const ds of sets) {
        const got = ds ? ds.labels.dims.slice(1).reduce((a, b) => a * b, 1) : want;
        if (got !== want)
          throw badInput(
            `--loss ${loss.kind} needs a target of the output's shape [${per.join(', ')}] per sample, but the labels have [${ds!.labels.dims.slice(1).join(', ')}]${got === 1 ? ' (class indices? use --loss cross-entropy)' : ''}; give targets of that shape in 'label'`,
          );
      }
    }
    return undefined;
  }
  if (k === undefined) return undefined;
  for (const ds of sets) {
    if (!ds) continue;
    const y = ds.labels.data as BigInt64Array;
    for (let i = 0; i < y.length; i++) {
      if (y[i]! < 0n || y[i]! >= BigInt(k))
        throw badInput(`label ${y[i]} (sample ${i}) is out of range for a model with ${k} classes; labels must be 0..${k - 1}`);
    }
  }
  return k;
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

/** Forward + loss only, parameters as inputs: for validation and test metrics with the current weights. */
function buildEvalModel(model: ModelProto, tg: TrainingGraph, loss: LossSpec): ModelProto {
  const src = model.graph!;
  const opset = defaultOpset(model);
  const trained = new Set([...tg.params.map((p) => p.name), ...tg.buffers.map((b) => b.name)]);
  const graph: GraphProto = {
    ...src,
    node: [...src.node],
    initializer: src.initializer.filter((t) => !trained.has(t.name!)),
    input: [
      ...src.input.filter((i) => !trained.has(i.name!)),
      ...tg.params.map((p) => valueInfo(p.name, DataType.FLOAT, p.dims)),
      ...tg.buffers.map((b) => valueInfo(b.name, DataType.FLOAT, b.dims)),
    ],
    output: [...src.output],
    valueInfo: [...src.valueInfo],
  };
  const taken = new Set<string>([
    ...graph.node.flatMap((n) => [...n.input, ...n.output]),
    ...graph.input.map((i) => i.name!),
    ...src.initializer.map((t) => t.name!),
  ]);
  const types = staticTypes(src, opset);
  const predShape = types.types.get(tg.outputs[0]!)?.shape;
  const lt = labelsType(loss, predShape);
  graph.input.push(valueInfo(tg.labelsName, lt.elemType, lt.shape));
  const emit = new GradEmitter(taken, opset, 'loss');
  const value = appendLoss(emit, loss, tg.outputs[0]!, tg.labelsName, predShape?.length);
  graph.node.push(...emit.nodes, {
    input: [value],
    output: [tg.lossName],
    opType: 'Identity',
    name: 'loss_identity',
    attribute: [],
    metadataProps: [],
    deviceConfigurations: [],
  });
  graph.initializer.push(...emit.initializers);
  graph.output.unshift(valueInfo(tg.lossName, DataType.FLOAT, []));
  return { ...model, graph };
}

/**
 * `model` (the training graph's `source`) with its trained initializers (and running statistics) replaced by the
 * trained values; those that trained inlined from an If branch (`tg.origins`) are written into that branch.
 */
export function exportTrained(model: ModelProto, tg: TrainingGraph, params: Float32Array[], buffers: Float32Array[] = []): ModelProto {
  const trained = [
    ...tg.params.map((p, i) => [p.name, p.dims, params[i]!] as const),
    ...tg.buffers.map((b, i) => [b.name, b.dims, buffers[i]!] as const),
  ];
  const into = new Map<GraphProto, Map<string, TensorProto>>([[model.graph!, new Map()]]);
  for (const [name, dims, data] of trained) {
    const home = tg.origins.get(name) ?? { graph: model.graph!, name };
    if (!into.has(home.graph)) into.set(home.graph, new Map());
    into.get(home.graph)!.set(home.name, floatTensor(home.name, dims, Float32Array.from(data)));
  }
  const rewrite = (g: GraphProto): GraphProto => {
    const own = into.get(g);
    return {
      ...g,
      initializer: own ? g.initializer.map((t) => own.get(t.name!) ?? t) : g.initializer,
      node:
        into.size === 1
          ? g.node
          : g.node.map((n) =>
              nodeGraphs(n).length === 0
                ? n
                : {
                    ...n,
                    attribute: n.attribute.map((a) => ({ ...a, g: a.g && rewrite(a.g), graphs: a.graphs.map(rewrite) })),
                  },
            ),
    };
  };
  return { ...model, graph: rewrite(model.graph!) };
}
