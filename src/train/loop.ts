/**
 * The step loop: epochs of steps over the bound training graph (setup.ts), with the callbacks' hooks
 * (callbacks.ts) at fixed points. Each graph run: the batch copied into the bound buffers, dropout masks
 * drawn, onBatchBegin, the run. Each step: running statistics copied, the optimizer update, onStepEnd.
 * Each epoch: onEpochBegin, the steps, the record, onEpochEnd. The hook lists, the run object and the infos
 * handed to hooks are built once, so the hot path allocates nothing more than it did before hooks.
 */
import { HoneError } from '../errors.js';
import { permutation } from '../data/dataset.js';
import type { LoadedBatch } from '../data/loader.js';
import type { BatchInfo, GradientInfo, StepInfo, TrainCallback, TrainingRun } from './callbacks.js';
import { countCorrect } from './evaluate.js';
import { clipGradNorm } from './optimizers.js';
import { trainingRunError } from './run-errors.js';
import type { StepBinding, TrainingSetup } from './setup.js';
import type { EpochRecord, StepTiming, TrainResult } from './trainer.js';
import { fillDropoutMasks } from './training-mode.js';

export interface LoopOptions {
  epochs: number;
  clipNorm?: number;
  /** Added to the error a non-finite loss ends training with (where the last good checkpoint is). */
  nonFiniteNote?: string;
}

export interface LoopResult {
  /** Every epoch's record, a resumed run's earlier ones first. */
  history: EpochRecord[];
  timing: StepTiming;
  stopped: TrainResult['stopped'];
}

type LiveRun = { -readonly [K in keyof TrainingRun]: TrainingRun[K] };

/** Runs the epochs from where `setup` stands (epoch 0, or the checkpoint's) to `opts.epochs`, or until a stop. */
export async function runLoop(setup: TrainingSetup, callbacks: readonly TrainCallback[], opts: LoopOptions): Promise<LoopResult> {
  const { tg, seed, batch, micro, chunks, stepsPerEpoch, trainSet, classes, topK, session, params, grads, buffers, optimizer, schedule } =
    setup;
  const { feeds, fetches, maskBufs, updated, lossOut, pred, labelBuf, gradSums } = setup.binding;
  const resumed = setup.resumed;
  const history: EpochRecord[] = resumed ? resumed.history : [];
  const run: LiveRun = {
    graph: tg,
    params,
    grads,
    buffers,
    optimizer,
    schedule,
    feeds,
    seed,
    epochs: opts.epochs,
    stepsPerEpoch,
    batchSize: batch,
    microBatch: micro,
    trainSet,
    valSet: setup.valSet,
    testSet: setup.testSet,
    epoch: resumed?.epoch ?? 0,
    step: resumed?.step ?? 0,
    order: new Uint32Array(0),
    history,
    stopping: undefined,
    epochFinished: true,
    stop(reason = 'callback') {
      run.stopping ??= reason;
    },
    evaluate: (ds) => setup.evaluate(ds),
    trainerState: () => trainerState(callbacks, resumed?.trainer, history),
  };
  const epochBegin = callbacks.filter((c) => c.onEpochBegin);
  const batchBegin = callbacks.filter((c) => c.onBatchBegin);
  const gradientHooks = callbacks.filter((c) => c.onGradients);
  const stepEnd = callbacks.filter((c) => c.onStepEnd);
  // This process's share of each step's batch (data-parallel: a contiguous slice of it).
  const shardFirst = setup.shard ? setup.shard.rank * micro * chunks : 0;
  const epochEnd = callbacks.filter((c) => c.onEpochEnd);

  if (resumed) for (const c of callbacks) c.loadState?.(resumed.trainer);
  for (const c of callbacks) await c.onTrainBegin?.(run);
  for (const c of callbacks) {
    for (const name of c.inputs ?? [])
      if (!feeds[name]) throw new HoneError(`a training callback feeds input '${name}' but set no tensor for it in onTrainBegin`, 1);
  }

  const batchInfo: BatchInfo = { step: 0, chunk: 0, first: 0 };
  const stepInfo: StepInfo = { step: 0, index: 0, lr: 0, loss: 0 };
  const gradInfo: GradientInfo = { step: 0, loss: 0 };
  const timing: StepTiming = { steps: 0, graphMs: 0, optimizerMs: 0, dataMs: 0 };
  for (let epoch = run.epoch; epoch < opts.epochs; epoch++) {
    run.epoch = epoch;
    run.order = permutation(trainSet.size, seed * 1_000_003 + epoch);
    // The loader serves the same order (its full shuffle is seeded as above), built and augmented in its workers.
    const served = setup.loader?.epoch(epoch);
    // A checkpoint taken within this epoch: its first steps are done (the order is the same, so skip them).
    const resumeAt = epoch === resumed?.epoch ? resumed.stepInEpoch : 0;
    if (served)
      for (let k = 0; k < resumeAt * chunks; k++) {
        const next = await served.next();
        if (!next.done) setup.loader!.recycle(next.value);
      }
    run.epochFinished = true;
    const t0 = performance.now();
    for (const c of epochBegin) await c.onEpochBegin!(run);
    let lossSum = 0;
    let skipped = 0;
    let correct = 0;
    let correctK = 0;
    let lr = schedule.lr(run.step);
    let done = 0;
    for (let s = resumeAt; s < stepsPerEpoch; s++) {
      let l = 0;
      let tData = 0;
      let tGraph = 0;
      for (let chunk = 0; chunk < chunks; chunk++) {
        const ta = performance.now();
        const first = s * batch + shardFirst + chunk * micro;
        if (served) {
          const next = await served.next();
          if (next.done) throw new HoneError(`the data loader ended epoch ${epoch + 1} early, at step ${s + 1}`, 1);
          fillLoaded(setup.binding, next.value, setup.labelSmoothing);
          setup.loader!.recycle(next.value);
        } else fillBatch(setup.binding, run.order, first, micro);
        if (maskBufs.length) fillDropoutMasks(tg.dropoutMasks, maskBufs, seed, run.step, chunk);
        if (batchBegin.length) {
          batchInfo.step = run.step;
          batchInfo.chunk = chunk;
          batchInfo.first = first;
          for (let k = 0; k < batchBegin.length; k++) {
            const r = batchBegin[k]!.onBatchBegin!(run, batchInfo);
            if (r instanceof Promise) await r;
          }
        }
        const tb = performance.now();
        try {
          await session.run(feeds, fetches);
        } catch (e) {
          throw trainingRunError(e, `training step ${run.step + 1}`, micro);
        }
        tData += tb - ta;
        tGraph += performance.now() - tb;
        if (!Number.isFinite(lossOut[0]!) && gradientHooks.length === 0) {
          throw new HoneError(
            `the loss became ${lossOut[0]} at epoch ${epoch + 1}, step ${run.step + 1}; lower the learning rate (--lr) or clip gradients (--clip-norm)${opts.nonFiniteNote ? `; ${opts.nonFiniteNote}` : ''}`,
            2,
          );
        }
        l += lossOut[0]! / chunks;
        if (pred) {
          const [c, ck] = countCorrect(pred, labelBuf, micro, classes!, topK);
          correct += c;
          correctK += ck;
        }
        if (chunks > 1) accumulate(gradSums, grads, chunk === 0, chunk === chunks - 1 ? 1 / chunks : 0);
      }
      const tc = performance.now();
      for (let i = 0; i < buffers.length; i++) buffers[i]!.set(updated[i]!);
      let skip = false;
      if (gradientHooks.length) {
        gradInfo.step = run.step;
        gradInfo.loss = l;
        for (const c of gradientHooks) if ((await c.onGradients!(run, gradInfo)) === 'skip') skip = true;
      }
      if (!skip) lossSum += l;
      else skipped++;
      lr = schedule.lr(run.step);
      if (!skip) {
        if (opts.clipNorm) clipGradNorm(grads, opts.clipNorm);
        optimizer.step(params, grads, lr);
      }
      run.step++;
      done++;
      // Callbacks after the update (masks re-applied) count as part of it.
      if (stepEnd.length) {
        stepInfo.step = run.step;
        stepInfo.index = s;
        stepInfo.lr = lr;
        stepInfo.loss = l;
        for (let k = 0; k < stepEnd.length; k++) {
          const r = stepEnd[k]!.onStepEnd!(run, stepInfo);
          if (r instanceof Promise) await r;
        }
      }
      timing.dataMs += tData;
      timing.graphMs += tGraph;
      timing.optimizerMs += performance.now() - tc;
      timing.steps++;
      if (run.stopping) {
        run.epochFinished = false;
        break;
      }
    }
    await served?.return(undefined);
    const seconds = (performance.now() - t0) / 1000;
    const stepsDone = Math.max(1, done);
    const n = stepsDone * batch;
    const rec: EpochRecord = {
      epoch: epoch + 1,
      step: run.step,
      lr,
      trainLoss: done > skipped ? lossSum / (done - skipped) : Number.NaN,
      samplesPerSec: n / seconds,
      seconds,
    };
    if (skipped) rec.skippedSteps = skipped;
    // Training accuracy over the samples this process ran (its share of each batch when data-parallel).
    const own = stepsDone * micro * chunks;
    if (classes !== undefined) {
      rec.trainAccuracy = correct / own;
      if (classes > topK) rec.trainTopK = correctK / own;
    }
    history.push(rec);
    for (const c of epochEnd) await c.onEpochEnd!(run, rec);
    if (run.stopping) break;
  }
  for (const c of callbacks) await c.onTrainEnd?.(run);
  return { history, timing, stopped: run.stopping ?? 'completed' };
}

/** The run's samples (order[first…first+micro)) copied into the bound feature and label buffers. */
function fillBatch(binding: StepBinding, order: Uint32Array, first: number, micro: number): void {
  const { batchBufs, labels, labelBuf, labelPer } = binding;
  for (let i = 0; i < micro; i++) {
    const idx = order[first + i]!;
    for (const b of batchBufs) (b.buf as Float32Array).set(b.src.subarray(idx * b.per, (idx + 1) * b.per) as Float32Array, i * b.per);
    if (labelPer === 1) labelBuf[i] = labels[idx]!;
    else (labelBuf as Float32Array).set((labels as Float32Array).subarray(idx * labelPer, (idx + 1) * labelPer), i * labelPer);
  }
}

/**
 * A batch the loader built, copied into the bound feature and label buffers; mixed (probability) labels get
 * the label smoothing the loss would have applied to class indices: (1 − ε)·p + ε/K.
 */
function fillLoaded(binding: StepBinding, b: LoadedBatch, smoothing: number): void {
  const { batchBufs, labelBuf, labelPer } = binding;
  for (const bb of batchBufs) (bb.buf as Float32Array).set(b.features[bb.name]!.data as Float32Array);
  (labelBuf as Float32Array).set(b.labels!.data as Float32Array);
  if (smoothing > 0 && labelBuf instanceof Float32Array)
    for (let i = 0; i < labelBuf.length; i++) labelBuf[i] = (1 - smoothing) * labelBuf[i]! + smoothing / labelPer;
}

/**
 * What a checkpoint keeps of the trainer: the history, and every callback's state over what the resumed
 * checkpoint held (a callback left out of a resumed run keeps its state for a later one).
 */
function trainerState(
  callbacks: readonly TrainCallback[],
  resumed: Record<string, unknown> | undefined,
  history: EpochRecord[],
): { history: EpochRecord[]; [state: string]: unknown } {
  const state: Record<string, unknown> = { ...resumed };
  const owned = new Set<string>(['history']);
  for (const c of callbacks) {
    for (const [key, value] of Object.entries(c.state?.() ?? {})) {
      if (owned.has(key)) throw new HoneError(`training callbacks' state keys must be unique and not 'history'; '${key}' is taken`, 1);
      owned.add(key);
      state[key] = value;
    }
  }
  return { ...state, history };
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
