/**
 * The trainer: one ONNX Runtime session runs the training-step graph (forward, loss, backward); the
 * optimizer updates parameters in place in JS. Three parts: setup (setup.ts: the graph, sessions, state
 * and the step's bound feeds), the step loop (loop.ts), and callbacks at fixed points of it
 * (callbacks.ts) — the trainer's own early stopping, checkpoints, progress and metrics among them.
 */
import { badInput } from '../errors.js';
import type { AugmentSpec } from '../data/augment.js';
import type { GraphProto, ModelProto, TensorProto } from '../ir/proto.js';
import { nodeGraphs } from '../ir/walk.js';
import { floatTensor } from '../ir/tensor.js';
import type { Dataset } from '../data/dataset.js';
import type { TrainingGraph } from './autodiff.js';
import { trainerCallbacks, type TrainCallback } from './callbacks.js';
import { withInputsOf } from './inputs.js';
import type { LossSpec } from './losses.js';
import { runLoop } from './loop.js';
import type { OptimizerSpec } from './optimizers.js';
import type { ScheduleSpec } from './schedules.js';
import { setupTraining } from './setup.js';
import type { InputValue } from '../runtime/inputs.js';

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
  /**
   * Also checkpoint every this many steps within an epoch (besides each epoch's end): a resume continues at
   * the step after it, with the same sample order. The epoch's record then covers the steps after it.
   */
  checkpointEverySteps?: number;
  /** Continue from the checkpoint in `checkpointDir` when there is one. */
  resume?: boolean;
  frozen?: string[];
  trainable?: string[];
  /** Initializers trained besides the default set, though scalars or settings (QAT's learned quantization scales). */
  alsoTrain?: string[];
  /** Scalar outputs of the model added to the loss (distillation's feature matching; see TrainingGraphOptions). */
  extraLoss?: string[];
  /** k for top-k accuracy (default 5; reported only when there are more than k classes). */
  topK?: number;
  /**
   * ORT intra-op threads; 0 or unset: one per core as the OS counts them (runtime/cpu.ts coreThreads), not
   * ORT's own default, which ran one thread on 2-vCPU VMs (docs/design.md, Training).
   */
  threads?: number;
  /** Execution provider (default cpu). */
  provider?: string;
  /**
   * Run the step's convolutions on ORT's NCHWc kernels where that measured faster (small-image and
   * depthwise ones, passes/nchwc.ts; and depthwise weight gradients in the form that pays there; cpu only;
   * default true). Off gives ORT's plain Conv kernel and the unfolded forms everywhere, for comparison.
   */
  nchwc?: boolean;
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
  /**
   * Data-parallel training (src/distributed): this process is worker `rank` of `world`. Every worker walks
   * the same shuffled order; of each step's batch of `batchSize` samples this one computes the gradients of
   * its contiguous `batchSize / world` (which must divide), and an `onGradients` callback averages them over
   * the workers before the update. Micro-batches, if any, split that share.
   */
  shard?: { rank: number; world: number };
  /**
   * Serve the training batches through the data loader (data/loader.ts): built in `workers` threads
   * (0: on this thread) with `prefetch` batches in flight per worker, augmented on the fly. Batches come in
   * the same order as without it; the validation and test data are never augmented.
   */
  loader?: { workers?: number; prefetch?: number; augment?: string | AugmentSpec };
  /** Called after every epoch; returning false (nothing else) stops training there (a tuner's pruned trial). */
  onEpoch?: (record: EpochRecord) => unknown;
  /** Called after every step; returning false stops training (the LR range test uses it). */
  onStep?: (s: { step: number; lr: number; loss: number }) => boolean | undefined;
  onProgress?: (p: Progress) => void;
  /**
   * Code at fixed points of the loop (callbacks.ts): pruning masks re-applied after each update, extra
   * inputs fed with each batch, metrics of its own each epoch. They run after the built-in validation and
   * test metrics and before onStep/onProgress/onEpoch, early stopping and checkpoints.
   */
  callbacks?: TrainCallback[];
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
  /** Steps whose update was dropped (a data-parallel worker's gradients were not finite). */
  skippedSteps?: number;
}

export interface StepTiming {
  steps: number;
  /**
   * Milliseconds in session.run (forward + backward), the update (the optimizer and callbacks' onStepEnd),
   * and batch assembly (with callbacks' onBatchBegin).
   */
  graphMs: number;
  optimizerMs: number;
  dataMs: number;
}

/** The share of the step time spent on data above which training is input-bound (issue 15's bar). */
export const INPUT_BOUND_SHARE = 0.05;

/** The share of the steps' time that went to data (waiting for the loader, or building batches in line). */
export function dataShare(t: StepTiming): number {
  const total = t.graphMs + t.optimizerMs + t.dataMs;
  return total > 0 ? t.dataMs / total : 0;
}

/** What to change when training waits on its data; undefined when it does not (share below INPUT_BOUND_SHARE). */
export function inputBoundAdvice(share: number, loader: TrainOptions['loader']): string | undefined {
  if (!(share >= INPUT_BOUND_SHARE)) return undefined;
  const workers = loader?.workers ?? 0;
  const change =
    workers > 0
      ? `raise --loader-workers (now ${workers}) or --prefetch (now ${loader?.prefetch ?? 2}) if cores are free, or make --augment cheaper`
      : loader?.augment
        ? 'build and augment batches in worker threads with --loader-workers 1 (or more, if cores are free)'
        : 'serve batches from worker threads with --loader-workers 1';
  return `input-bound: ${(100 * share).toFixed(1)}% of the step time went to data; ${change}`;
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
  const callbacks = trainerCallbacks(opts);
  const setup = await setupTraining(model, data, opts, new Set(callbacks.flatMap((c) => c.inputs ?? [])));
  try {
    const { history, timing, stopped } = await runLoop(setup, callbacks, {
      epochs: opts.epochs,
      clipNorm: opts.clipNorm,
      nonFiniteNote: opts.checkpointDir ? `the last good checkpoint in ${opts.checkpointDir} is kept` : undefined,
    });
    const last = history[history.length - 1];
    if (!last)
      throw badInput(
        `nothing left to train: the checkpoint already covers ${setup.resumed?.epoch ?? 0} epochs; raise --epochs to continue`,
      );
    const trained = withInputsOf(exportTrained(setup.tg.source, setup.tg, setup.params, setup.buffers), model);
    const totalSec = (timing.graphMs + timing.optimizerMs + timing.dataMs) / 1000;
    return {
      model: trained,
      epochs: last.epoch,
      history,
      trainLoss: last.trainLoss,
      trainAccuracy: last.trainAccuracy,
      testLoss: last.testLoss,
      testAccuracy: last.testAccuracy,
      samplesPerSec: timing.steps ? (timing.steps * setup.batch) / totalSec : last.samplesPerSec,
      timing,
      stopped,
    };
  } finally {
    await setup.release();
  }
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
