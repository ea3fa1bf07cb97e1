/**
 * Training callbacks: code the loop (loop.ts) runs at fixed points, with the run's live state to read and
 * change — Keras's and Lightning's hooks, fewer of them, typed. Compression by training is callbacks plus
 * graph transforms rather than forks of the loop: pruning re-applies its masks after each update
 * (onStepEnd), distillation feeds a teacher's outputs as an extra input (`inputs` + onBatchBegin), and
 * per-epoch metrics evaluate with the current weights (onEpochEnd + run.evaluate).
 *
 * The trainer's own features are callbacks too; at every hook they run in this order:
 *   1. evaluation (validation and test metrics into the epoch's record), then the LR schedule observing them;
 *   2. TrainOptions.callbacks, in the order given — they see complete records and change state first;
 *   3. onStep, onProgress, onEpoch (TrainOptions), which observe;
 *   4. early stopping;
 *   5. checkpoints, last: a checkpoint holds what every callback before it did, and an error thrown by any
 *      callback ends training with that error before the epoch's checkpoint, leaving the previous one.
 */
import type * as ort from 'onnxruntime-node';
import type { Dataset } from '../data/dataset.js';
import type { TrainingGraph } from './autodiff.js';
import { saveCheckpoint } from './checkpoint.js';
import type { Evaluation } from './evaluate.js';
import type { Optimizer } from './optimizers.js';
import type { Schedule } from './schedules.js';
import type { EpochRecord, Progress, TrainOptions } from './trainer.js';

/** Hooks, all optional. A hook may be async; the loop awaits it. A hook ends training with run.stop(). */
export interface TrainCallback {
  /**
   * Graph inputs this callback feeds in every graph run (a teacher's outputs): they come neither from the data
   * nor from `values`. Set their tensors in run.feeds in onTrainBegin, [microBatch, …] in shape, and rewrite
   * their data in onBatchBegin. Validation and test metrics cannot feed them, so they cannot be used with those.
   */
  readonly inputs?: readonly string[];
  /** Once, after setup (and a resume), before the first step. */
  onTrainBegin?(run: TrainingRun): void | Promise<void>;
  /** Before each epoch's first step; run.epoch and run.order are the epoch's. */
  onEpochBegin?(run: TrainingRun): void | Promise<void>;
  /** Before each graph run, the batch's samples already in run.feeds: adds or rewrites inputs. */
  onBatchBegin?(run: TrainingRun, batch: BatchInfo): void | Promise<void>;
  /**
   * After a step's graph runs, before gradient clipping and the update: may rewrite run.grads in place (a
   * data-parallel exchange averages them over the workers). Returning 'skip' drops the step's update (its
   * gradients were not finite somewhere); the step still counts. With such a hook, a non-finite loss is
   * the hook's to handle instead of ending training.
   */
  onGradients?(run: TrainingRun, step: GradientInfo): undefined | 'skip' | Promise<undefined | 'skip'>;
  /** After each optimizer update; may change run.params in place (pruning masks). */
  onStepEnd?(run: TrainingRun, step: StepInfo): void | Promise<void>;
  /** After each epoch, its record in run.history with the validation and test metrics already in it. */
  onEpochEnd?(run: TrainingRun, record: EpochRecord): void | Promise<void>;
  /** Once, when training ends without an error, before the model is exported: what it does to run.params is exported. */
  onTrainEnd?(run: TrainingRun): void | Promise<void>;
  /** State that must survive a resume, saved in checkpoints beside the history; its keys unique among the callbacks. */
  state?(): Record<string, unknown>;
  /** Before onTrainBegin of a resumed run: what the checkpoint held (every callback's state() and the history). */
  loadState?(saved: Readonly<Record<string, unknown>>): void;
}

/**
 * One training run as callbacks see it, live. ORT reads the parameters, buffers and feeds from these
 * arrays and the optimizer updates them in place: change their contents, never replace them.
 */
export interface TrainingRun {
  /** The training graph: the parameters' names and dims in the order of `params`. */
  readonly graph: TrainingGraph;
  readonly params: readonly Float32Array[];
  /**
   * The gradients the last update read (averaged over micro-batches, clipped), in the order of `params`:
   * read them in onStepEnd (Taylor importance); the next step overwrites them.
   */
  readonly grads: readonly Float32Array[];
  /** Non-trained state (BatchNorm running statistics), in the order of graph.buffers. */
  readonly buffers: readonly Float32Array[];
  readonly optimizer: Optimizer;
  readonly schedule: Schedule;
  /** Every graph run's inputs by name, built once; the loop rewrites the arrays they view before each run. */
  readonly feeds: Record<string, ort.Tensor>;
  readonly seed: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  /** Samples per graph run: batchSize, or fewer with gradient accumulation (batchSize/microBatch runs a step). */
  readonly microBatch: number;
  /** The training data, converted to the model's input types, without the validation split. */
  readonly trainSet: Dataset;
  readonly valSet: Dataset | undefined;
  readonly testSet: Dataset | undefined;
  /** The epoch in progress, 0-based. */
  readonly epoch: number;
  /** Optimizer steps taken since the start of training (a resumed run counts the checkpoint's). */
  readonly step: number;
  /** The epoch's sample order: a graph run reads trainSet samples order[batch.first + i], i < microBatch. */
  readonly order: Uint32Array;
  readonly history: readonly EpochRecord[];
  /** Why training ends, once something decided it; the hook's remaining callbacks still run. */
  readonly stopping: 'callback' | 'early-stopping' | undefined;
  /** false while ending an epoch that a stop during its steps cut short. */
  readonly epochFinished: boolean;
  /**
   * Ends training after the current step, or, from onEpochEnd, after this epoch. The first reason given
   * stands (default 'callback').
   */
  stop(reason?: 'callback' | 'early-stopping'): void;
  /** Loss and accuracy over a dataset (in the data's form) with the current weights. */
  evaluate(ds: Dataset): Promise<Evaluation>;
  /** What a checkpoint keeps of the trainer: the history and every callback's state(). */
  trainerState(): { history: EpochRecord[]; [state: string]: unknown };
}

/** A run's live parameter array by initializer name (undefined for names that do not train: frozen, buffers). */
export function paramByName(run: TrainingRun): (name: string) => Float32Array | undefined {
  const index = new Map(run.graph.params.map((p, i) => [p.name, i]));
  return (name) => {
    const i = index.get(name);
    return i === undefined ? undefined : run.params[i];
  };
}

/** One graph run: a step's batch, or a micro-batch of it. Valid during the call only (the loop reuses it). */
export interface BatchInfo {
  /** The step the run belongs to: optimizer steps taken before it. */
  step: number;
  /** Which of the step's runs (0 unless micro-batching). */
  chunk: number;
  /** The run's samples are trainSet samples run.order[first … first + microBatch − 1]. */
  first: number;
}

/** One step's gradients, before the update. Valid during the call only (the loop reuses it). */
export interface GradientInfo {
  /** Optimizer steps taken before this one. */
  step: number;
  /** The batch's loss here (the mean over its runs); NaN or infinite when it diverged. */
  loss: number;
}

/** One optimizer step, after its update. Valid during the call only (the loop reuses it). */
export interface StepInfo {
  /** Optimizer steps taken, this one included. */
  step: number;
  /** The step's position in the epoch, 0-based. */
  index: number;
  /** The learning rate of the update. */
  lr: number;
  /** The batch's loss (the mean over its runs). */
  loss: number;
}

/** The trainer's own features as callbacks, around the caller's, in the order the file header gives. */
export function trainerCallbacks(opts: TrainOptions): TrainCallback[] {
  const out: TrainCallback[] = [evaluation, scheduleObserver, ...(opts.callbacks ?? [])];
  if (opts.onStep) out.push(stepCallback(opts.onStep));
  if (opts.onProgress) out.push(progress(opts.onProgress));
  if (opts.onEpoch) out.push(epochCallback(opts.onEpoch));
  if (opts.earlyStopping) out.push(earlyStopping(opts.earlyStopping));
  if (opts.checkpointDir) out.push(checkpoints(opts.checkpointDir, opts.checkpointEverySteps));
  return out;
}

/** Validation and test loss and accuracy into each epoch's record. */
const evaluation: TrainCallback = {
  async onEpochEnd(run, rec) {
    if (run.valSet) {
      const v = await run.evaluate(run.valSet);
      rec.valLoss = v.loss;
      rec.valAccuracy = v.accuracy;
    }
    if (run.testSet) {
      const v = await run.evaluate(run.testSet);
      rec.testLoss = v.loss;
      rec.testAccuracy = v.accuracy;
      if (v.topK !== undefined) rec.testTopK = v.topK;
    }
  },
};

/** The schedule sees each epoch's validation loss (the training loss without validation data): reduce-on-plateau. */
const scheduleObserver: TrainCallback = {
  onEpochEnd(run, rec) {
    run.schedule.observe(rec.valLoss ?? rec.trainLoss);
  },
};

function stepCallback(onStep: NonNullable<TrainOptions['onStep']>): TrainCallback {
  return {
    onStepEnd(run, s) {
      if (onStep({ step: s.step, lr: s.lr, loss: s.loss }) === false) run.stop();
    },
  };
}

function epochCallback(onEpoch: NonNullable<TrainOptions['onEpoch']>): TrainCallback {
  return {
    onEpochEnd(run, rec) {
      if (onEpoch(rec) === false) run.stop();
    },
  };
}

/** Progress every 10 steps and at the end of each epoch: the epoch's mean loss so far, throughput and time left. */
function progress(onProgress: (p: Progress) => void): TrainCallback {
  let t0 = 0;
  let lossSum = 0;
  return {
    onEpochBegin() {
      t0 = performance.now();
      lossSum = 0;
    },
    onStepEnd(run, s) {
      lossSum += s.loss;
      const i = s.index;
      if (run.stopping || (i % 10 !== 9 && i !== run.stepsPerEpoch - 1)) return;
      const elapsed = (performance.now() - t0) / 1000;
      const sps = ((i + 1) * run.batchSize) / elapsed;
      const remaining = (run.epochs - run.epoch - 1) * run.stepsPerEpoch + (run.stepsPerEpoch - i - 1);
      onProgress({
        epoch: run.epoch + 1,
        epochs: run.epochs,
        step: i + 1,
        steps: run.stepsPerEpoch,
        loss: lossSum / (i + 1),
        samplesPerSec: sps,
        etaSec: (remaining * run.batchSize) / sps,
      });
    },
  };
}

/** Stops when the validation loss has not improved by minDelta for `patience` epochs. */
function earlyStopping(o: { patience: number; minDelta?: number }): TrainCallback {
  let best = Infinity;
  let bad = 0;
  return {
    onEpochEnd(run, rec) {
      if (rec.valLoss === undefined) return;
      if (rec.valLoss < best - (o.minDelta ?? 0)) {
        best = rec.valLoss;
        bad = 0;
      } else if (++bad >= o.patience) run.stop('early-stopping');
    },
    // The keys checkpoints have always held, so older checkpoints resume with their early-stopping state.
    state: () => ({ bestValLoss: Number.isFinite(best) ? best : null, badEpochs: bad }),
    loadState(saved) {
      best = typeof saved.bestValLoss === 'number' ? saved.bestValLoss : Infinity;
      bad = typeof saved.badEpochs === 'number' ? saved.badEpochs : 0;
    },
  };
}

/** A checkpoint after every finished epoch (checkpoint.ts: written atomically, so a crash keeps the previous one). */
function checkpoints(dir: string, everySteps?: number): TrainCallback {
  const save = (run: TrainingRun, epoch: number, stepInEpoch: number) =>
    saveCheckpoint(
      dir,
      {
        epoch,
        step: run.step,
        ...(stepInEpoch ? { stepInEpoch } : {}),
        seed: run.seed,
        schedule: run.schedule.state(),
        trainer: run.trainerState(),
      },
      run.graph.params.map((p) => p.name),
      [...run.params],
      run.optimizer.state(),
      run.graph.buffers.map((b, i) => ({ name: b.name, data: run.buffers[i]! })),
    );
  return {
    // Within an epoch, every `everySteps` steps (its last step is the epoch's own checkpoint).
    onStepEnd(run, s) {
      if (everySteps && run.step % everySteps === 0 && s.index + 1 < run.stepsPerEpoch) save(run, run.epoch, s.index + 1);
    },
    onEpochEnd(run, rec) {
      // An epoch a stop cut short is not checkpointed: resuming would take it as finished.
      if (!run.epochFinished) return;
      save(run, rec.epoch, 0);
    },
  };
}
