/**
 * Where a training step goes (`hone profile --train`, `hone train --profile`): a few steps run through
 * the trainer's own setup and loop (setup.ts, loop.ts) with ORT profiling on the step session, and then
 *
 * - each kernel of the step graph is put in the forward pass (the model and its loss) or the backward pass:
 *   a kernel is forward when the loss, the model's outputs or the running statistics depend on it, in the
 *   graph ORT optimized and ran (saved beside the trace), so ORT's fusions and layout kernels fall where
 *   the work they do belongs, with no naming convention to trust;
 * - the optimizer's update (WebAssembly SIMD, outside ORT) is timed in JS around `Optimizer.step` over the
 *   same steps, and the batch assembly (data), ORT's time outside kernels and the rest of the loop too;
 * - the kernels are listed as ORT ran them: fused (com.microsoft FusedConv/FusedGemm…), NCHWc blocked forms
 *   (com.microsoft.nchwc Conv/MaxPool and the ReorderInput/ReorderOutput between layouts), grouped or dense
 *   convolutions;
 * - the step gets the roofline verdict `hone profile` gives a run (profile/bottleneck.ts): the step graph's
 *   FLOPs and bytes from its static cost plus the optimizer's, against the step's measured time.
 *
 * A model Hone cannot train (an op without a gradient rule, nothing to train) is refused before any step,
 * with the reason (the op type named), so the caller can fall back to the inference profile.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError, badInput } from '../errors.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import { loadModel } from '../ir/model.js';
import type { GraphProto, ModelProto, NodeProto } from '../ir/proto.js';
import { attrReader } from '../ir/attrs.js';
import type { ArrayTensor, Dataset } from '../data/dataset.js';
import { fixDims, graphInputs } from '../runtime/inputs.js';
import { NCHWC_DOMAIN } from '../runtime/nchwc.js';
import { coreThreads } from '../runtime/cpu.js';
import { machinePeaks, type MachinePeaks } from '../runtime/peaks.js';
import { latencyStats, median, NOISY_CV, NOISY_TAIL } from '../runtime/stats.js';
import { summarizeTrace, type NodeTime } from '../runtime/trace.js';
import { mulberry32 } from '../util/random.js';
import { judge, type Bottleneck, type BottleneckFacts } from '../profile/bottleneck.js';
import { staticCost } from '../profile/static.js';
import { defaultOpset, type TrainingGraph } from './autodiff.js';
import type { TrainCallback } from './callbacks.js';
import { modelForTraining } from './inputs.js';
import type { LossSpec } from './losses.js';
import { runLoop } from './loop.js';
import type { Optimizer, OptimizerSpec } from './optimizers.js';
import { setupTraining, stepBlockSize, trainingGraphFor, type PreparedGraph, type TrainingSetup } from './setup.js';
import { staticTypes } from './shapes.js';
import { inputBoundAdvice, type TrainOptions } from './trainer.js';

export interface TrainProfileOptions
  extends Pick<
    TrainOptions,
    | 'batchSize'
    | 'microBatch'
    | 'optimizer'
    | 'lr'
    | 'loss'
    | 'clipNorm'
    | 'seed'
    | 'threads'
    | 'provider'
    | 'frozen'
    | 'loader'
    | 'trainable'
    | 'dims'
    | 'shapes'
    | 'values'
  > {
  /** The training data; default: random data shaped for the model's inputs and the loss's labels. */
  data?: Dataset;
  /** Profiled steps (default 10), after `warmup` untimed ones (default 3) in the same session. */
  steps?: number;
  warmup?: number;
  /** The model as the user named it (path or zoo spec), for the report. */
  source?: string;
  /** Machine peaks to use instead of measuring (or reading the cache); `refreshPeaks` measures them again. */
  peaks?: MachinePeaks;
  refreshPeaks?: boolean;
  onProgress?: (message: string) => void;
}

export type Phase = 'forward' | 'backward';

/** How ORT ran a kernel: as the graph has it, a fused form it made, NCHWc blocked, or a layout reorder. */
export type KernelForm = 'standard' | 'fused' | 'nchwc' | 'reorder';

/** One kind of kernel ORT ran (op type, domain, and for convolutions grouped or not), per step. */
export interface KernelRow {
  /** The op type as ORT ran it, with its form: 'FusedConv', 'Conv (nchwc)', 'Conv (grouped)', 'ReorderInput (nchwc)'. */
  kernel: string;
  opType: string;
  /** '' for ai.onnx; com.microsoft (fused contrib ops), com.microsoft.nchwc (blocked layout). */
  domain: string;
  form: KernelForm;
  /** A convolution with group > 1 (depthwise or grouped), which ORT runs on its grouped path. */
  grouped: boolean;
  /** Nodes of the optimized step graph that ran this kernel, in each pass. */
  forwardNodes: number;
  backwardNodes: number;
  /** Kernel time per step in each pass, milliseconds. */
  forwardMs: number;
  backwardMs: number;
  /** Share of the step's kernel plus optimizer time. */
  share: number;
}

export interface PhaseTime {
  /** Per step, milliseconds (median node times for the kernels, median update time for the optimizer). */
  ms: number;
  /** Of forward + backward + optimizer (the three sum to 1). */
  share: number;
}

export interface TrainProfile {
  model: {
    source: string;
    /** Trained parameters (elements) and the step graph's nodes as built, before ORT optimized it. */
    params: number;
    stepNodes: number;
    /** Nodes of the graph ORT ran (after its fusions and layout changes); 0 when it could not be read. */
    kernels: number;
  };
  settings: {
    batchSize: number;
    microBatch: number;
    /** Graph runs per step (batchSize / microBatch). */
    runsPerStep: number;
    steps: number;
    warmup: number;
    optimizer: OptimizerSpec['kind'];
    loss: LossSpec['kind'];
    threads: number;
    provider: string;
    /** 'random': inputs and labels drawn for the model's shapes (no --data). */
    data: 'given' | 'random';
  };
  step: {
    /**
     * Step wall time, milliseconds, over as many steps again after the profiled ones with ORT's profiling
     * ended: what training runs at. `profiled` is the same under profiling, which adds time per kernel.
     */
    meanMs: number;
    p50Ms: number;
    /** Median of the faster half of the steps: what the verdict rests on. */
    fastMs: number;
    /** Robust CV of the step times. */
    cv: number;
    /** batchSize / mean step time. */
    samplesPerSec: number;
    /** Means per step, milliseconds: batch assembly, the ORT run (forward and backward), the optimizer's update. */
    dataMs: number;
    graphMs: number;
    optimizerMs: number;
    /** The rest of the update: running statistics copied, gradient clipping. */
    updateMs: number;
    /** The loop's own time (accuracy counting, epoch boundaries). */
    otherMs: number;
    /** dataMs / meanMs. */
    dataShare: number;
    /** When the data share reaches INPUT_BOUND_SHARE: that training is input-bound, and what to change. */
    inputBound?: string;
    /** The traced steps: their time and samples/s under profiling, and the ORT run split into kernels and the rest. */
    profiled: { meanMs: number; samplesPerSec: number; graphMs: number; kernelMs: number; ortOverheadMs: number };
  };
  phases: { forward: PhaseTime; backward: PhaseTime; optimizer: PhaseTime };
  /** Per kernel kind, largest share first. */
  kernels: KernelRow[];
  /** Totals per form and for grouped convolutions: nodes and share of the step's kernel + optimizer time. */
  forms: Record<KernelForm | 'grouped', { nodes: number; share: number }>;
  /**
   * The kernels that took the most time, up to 15: the shapes they ran on (first input → first output, as
   * ORT's trace records them) and the bytes they read and wrote per second (ORT's activation, parameter and
   * output sizes over the kernel's time; 0 where the trace has no sizes).
   */
  topNodes: { name: string; kernel: string; phase: Phase; ms: number; share: number; shape: string; bytesPerSec: number }[];
  /**
   * Kernels of one op type on the same shapes summed, the most time first, up to 15: where a layout or an op
   * form costs time across layers (`nodes` per step, as the op-type table counts them).
   */
  byShape: { kernel: string; shape: string; nodes: number; ms: number; share: number; bytesPerSec: number }[];
  static: {
    /** Per step: the step graph's (times its runs per step) plus the optimizer's. */
    flops: number;
    bytesMoved: number;
    optimizerFlops: number;
    optimizerBytes: number;
    /** Intermediate tensors of one graph run, bytes. */
    activationBytes: number;
    unknownOps: string[];
    note?: string;
  };
  machine: { peakFlops: number; bandwidth: number; cacheBandwidth: number; peaksCheck?: string };
  /** The roofline verdict for the step (no advice: `hone profile`'s advice is for inference). */
  bottleneck: Bottleneck;
  warnings: string[];
}

/** What `profileTrainingStep` returns: the profile, or why the model cannot be trained (nothing was run). */
export type TrainProfileResult = { profile: TrainProfile; refused?: undefined } | { refused: string; profile?: undefined };

/**
 * FLOPs and bytes per parameter of one update, counted from the kernels (wasm-optim.ts): Adam reads p, g,
 * m, v and writes p, m, v (m: 3 ops, v: 4, the step with its square root and division: 5); SGD reads p, g
 * and the buffer and writes p and the buffer (weight decay, momentum, the step: 10 ops).
 */
const UPDATE_COST: Record<OptimizerSpec['kind'], { flops: number; bytes: number }> = {
  adam: { flops: 12, bytes: 28 },
  adamw: { flops: 14, bytes: 28 },
  sgd: { flops: 10, bytes: 20 },
};

/** Profiles a few training steps of `model`; see the file comment. */
export async function profileTrainingStep(model: ModelProto, opts: TrainProfileOptions): Promise<TrainProfileResult> {
  const steps = opts.steps ?? 10;
  const warmup = opts.warmup ?? 3;
  if (!Number.isInteger(steps) || steps < 1) throw badInput(`profiled steps must be an integer >= 1, got ${steps}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw badInput(`warm-up steps must be an integer >= 0, got ${warmup}`);
  const loss: LossSpec = opts.loss ?? { kind: 'cross-entropy' };
  const progress = opts.onProgress ?? (() => {});

  const trainOpts: TrainOptions = {
    epochs: 1,
    batchSize: opts.batchSize,
    microBatch: opts.microBatch,
    optimizer: opts.optimizer,
    lr: opts.lr,
    loss,
    clipNorm: opts.clipNorm,
    seed: opts.seed,
    threads: opts.threads,
    provider: opts.provider,
    frozen: opts.frozen,
    trainable: opts.trainable,
    dims: opts.dims,
    shapes: opts.shapes,
    values: opts.values,
    ...(opts.loader ? { loader: opts.loader } : {}),
  };
  progress('building the training graph (forward, loss, backward)');
  // Built once, here, to refuse a model Hone cannot train before anything runs, then handed to the setup.
  // Bad flags (an unknown input, a wrong shape) stay errors; the builder's reasons become the refusal.
  const forward = await modelForTraining(model, trainOpts, { provider: opts.provider });
  let prepared: PreparedGraph;
  try {
    prepared = { forward, tg: trainingGraphFor(model, forward, trainOpts, await stepBlockSize(trainOpts)) };
  } catch (e) {
    if (e instanceof HoneError) return { refused: e.message };
    throw e;
  }
  // Random data is sized from the model with every fix applied (the training forward may keep a dim ORT
  // refused fixed, runtime/loadable.ts; the data must still have the size the user gave).
  const data =
    opts.data ??
    randomData(
      fixDims(model, { dims: opts.dims, shapes: opts.shapes, values: opts.values }, { partial: true, keepLeading: true }),
      prepared.tg,
      opts,
      loss,
    );

  const dir = mkdtempSync(join(tmpdir(), 'hone-train-profile-'));
  const provider = opts.provider ?? 'cpu';
  // ORT saves the graph it ran for the CPU and CUDA providers; with others (TensorRT compiles the graph into
  // its own engines) kernels are matched to the step graph by name.
  const saveGraph = provider === 'cpu' || provider === 'cuda';
  const optimizedPath = join(dir, 'optimized.onnx');
  try {
    const setup = await setupTraining(model, data, trainOpts, new Set(), {
      prepared,
      prefix: join(dir, 'ort'),
      ...(saveGraph ? { optimizedModel: optimizedPath } : {}),
    });
    let measured: Measured;
    try {
      progress(`${warmup} warm-up + ${steps} profiled training steps at batch ${setup.batch}`);
      measured = await runSteps(setup, warmup, steps, opts.clipNorm);
    } finally {
      await setup.release();
    }
    const file = readdirSync(dir).find((f) => f.startsWith('ort') && f.endsWith('.json'));
    if (!file) throw new HoneError('onnxruntime wrote no profiling trace for the training steps; rerun', 1);
    const ran = saveGraph ? loadModel(optimizedPath).graph! : undefined;

    const threads = opts.threads || coreThreads();
    let peaks: MachinePeaks;
    let peaksCheck: string | undefined;
    if (opts.peaks) {
      peaks = opts.peaks;
      peaksCheck = 'given by the caller';
    } else {
      progress('measuring machine peaks (cached after the first time, checked by a short probe)');
      ({ check: peaksCheck, ...peaks } = await machinePeaks({
        session: { provider, intraOpThreads: threads || undefined },
        refresh: opts.refreshPeaks,
      }));
    }
    return {
      profile: analyze({
        setup,
        measured,
        trace: readFileSync(join(dir, file), 'utf8'),
        ran,
        warmup,
        steps,
        loss,
        threads,
        provider,
        peaks,
        peaksCheck,
        source: opts.source ?? (model.graph?.name || 'model'),
        loader: opts.loader,
        randomData: !opts.data,
      }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One batch of seeded random data: features uniform in [-1, 1) (integer inputs 0 or 1, so ids stay in range
 * of any embedding), labels random class indices for cross-entropy, else uniform targets of the output's shape.
 */
function randomData(forward: ModelProto, tg: TrainingGraph, opts: TrainProfileOptions, loss: LossSpec): Dataset {
  const n = opts.batchSize;
  const rand = mulberry32((opts.seed ?? 0) + 17);
  const given = new Set(Object.keys(opts.values ?? {}));
  const features: Record<string, ArrayTensor> = {};
  for (const input of graphInputs(forward)) {
    if (!tg.dataInputs.includes(input.name) || given.has(input.name)) continue;
    const per = (input.shape ?? []).slice(1);
    const sym = per.find((d) => typeof d === 'string');
    if (sym !== undefined || !input.shape)
      throw badInput(
        `input '${input.name}' has ${input.shape ? `symbolic dim '${sym}'` : 'no shape'}, so random training data cannot be made for it; pass --dim ${sym ?? 'NAME'}=N (or --shape ${input.name}=...), or give --data`,
      );
    features[input.name] = {
      data: randomArray(input.name, input.elemType, n * product(per as number[]), rand),
      dims: [n, ...(per as number[])],
    };
  }
  const pred = staticTypes(tg.model.graph!, defaultOpset(tg.model)).types.get(tg.outputs[0]!)?.shape;
  const out = pred?.slice(1) ?? [];
  if (!pred || out.some((d) => typeof d !== 'number'))
    throw badInput(
      `the output '${tg.outputs[0]}' has shape [${pred?.join(', ') ?? '?'}], so random labels cannot be made for it; size its dims with --dim, or give --data`,
    );
  let labels: ArrayTensor;
  if (loss.kind === 'cross-entropy' && (loss.target ?? 'indices') === 'indices') {
    const k = out[0] as number;
    labels = { data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * k))), dims: [n] };
  } else {
    labels = { data: Float32Array.from({ length: n * product(out as number[]) }, rand), dims: [n, ...(out as number[])] };
  }
  return { features, labels, size: n };
}

function randomArray(name: string, elemType: number, len: number, rand: () => number): ArrayTensor['data'] {
  switch (elemType) {
    case DataType.INT64:
      return BigInt64Array.from({ length: len }, () => BigInt(rand() < 0.5 ? 0 : 1));
    case DataType.INT32:
      return Int32Array.from({ length: len }, () => (rand() < 0.5 ? 0 : 1));
    case DataType.BOOL:
      return Uint8Array.from({ length: len }, () => (rand() < 0.5 ? 0 : 1));
    case DataType.FLOAT:
      return Float32Array.from({ length: len }, () => rand() * 2 - 1);
    default:
      throw badInput(
        `model input '${name}' is ${dtypeName(elemType)}; Hone trains models whose data inputs are float32, int64, int32 or bool (give it a value with --input ${name}=VALUE)`,
      );
  }
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Timings of a stretch of steps: per step, and the loop's totals (see StepTiming), milliseconds. */
interface Timed {
  /** Per step: wall time, and the optimizer's update alone. */
  stepMs: number[];
  optimizerMs: number[];
  graphMs: number;
  /** The rest of the update: running statistics copied, clipping (and the step clock, a few µs). */
  updateMs: number;
  dataMs: number;
}

/** The profiled steps (traced by ORT) and as many plain ones after the trace ended. */
interface Measured {
  traced: Timed;
  plain: Timed;
}

/**
 * `warmup` steps, `steps` traced ones, then `steps` more with ORT's profiling ended (what training runs at),
 * all through the trainer's loop (runLoop) in the one session, with a callback that marks each step's end and
 * stops after the count, and the optimizer wrapped to time its update alone.
 */
async function runSteps(setup: TrainingSetup, warmup: number, steps: number, clipNorm: number | undefined): Promise<Measured> {
  const inner = setup.optimizer;
  let optimizerMs: number[] = [];
  const timed: Optimizer = {
    spec: inner.spec,
    allocate: () => inner.allocate(),
    step(params, grads, lr) {
      const t = performance.now();
      inner.step(params, grads, lr);
      optimizerMs.push(performance.now() - t);
    },
    state: () => inner.state(),
    loadState: (s) => inner.loadState(s),
  };
  const run = async (count: number): Promise<Timed> => {
    const marks: number[] = [];
    const clock: TrainCallback = {
      onTrainBegin() {
        marks.push(performance.now());
      },
      onStepEnd(r) {
        marks.push(performance.now());
        if (marks.length > count) r.stop();
      },
    };
    optimizerMs = [];
    const { timing } = await runLoop({ ...setup, optimizer: timed }, [clock], {
      epochs: Math.ceil(count / setup.stepsPerEpoch),
      clipNorm,
    });
    const opt = optimizerMs;
    return {
      stepMs: marks.slice(1).map((t, i) => t - marks[i]!),
      optimizerMs: opt,
      graphMs: timing.graphMs,
      updateMs: timing.optimizerMs - opt.reduce((a, b) => a + b, 0),
      dataMs: timing.dataMs,
    };
  };
  if (warmup > 0) await run(warmup);
  const traced = await run(steps);
  // Ending the profiling writes the trace and turns it off for the session's later runs.
  setup.session.endProfiling();
  const plain = await run(steps);
  return { traced, plain };
}

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

interface Kernel {
  phase: Phase;
  opType: string;
  domain: string;
  grouped: boolean;
}

/** The trace, the graph ORT ran and the timings, as the report. */
function analyze(a: {
  setup: TrainingSetup;
  measured: Measured;
  trace: string;
  ran: GraphProto | undefined;
  warmup: number;
  steps: number;
  loss: LossSpec;
  threads: number;
  provider: string;
  peaks: MachinePeaks;
  peaksCheck: string | undefined;
  source: string;
  randomData: boolean;
  loader: TrainOptions['loader'];
}): TrainProfile {
  const { setup, measured } = a;
  const tg = setup.tg;
  const chunks = setup.chunks;
  const warnings: string[] = [];
  const skip = a.warmup * chunks;
  const summary = summarizeTrace(a.trace, skip);
  if (summary.runs !== a.steps * chunks)
    warnings.push(
      `the trace holds ${summary.runs} profiled graph runs, not the ${a.steps * chunks} expected; its times are per run as traced`,
    );

  // Each traced kernel's pass and form, from the graph ORT ran (or, without it, the step graph by name).
  const stepGraph = setup.tg.model.graph!;
  const graph = a.ran ?? stepGraph;
  if (!a.ran)
    warnings.push(`ORT's optimized graph is not saved with --provider ${a.provider}: kernels are matched to the step graph by name`);
  const targets = [tg.lossName, ...tg.outputs, ...tg.buffers.map((b) => b.update)];
  const forward = forwardNodes(graph, targets);
  const order = firstRunOrder(a.trace, skip);
  const byTrace = matchKernels(order, graph, !!a.ran);
  const builtOps = new Set(stepGraph.node.map((n) => `${n.domain ?? ''}:${n.opType}`));
  const kernelOf = new Map<string, Kernel>();
  let unmatched = 0;
  let previous: Phase = 'forward';
  for (const e of order) {
    const node = byTrace.get(e.name);
    if (!node) unmatched++;
    const phase: Phase = node ? (forward.has(node) ? 'forward' : 'backward') : previous;
    previous = phase;
    // Without the graph ORT ran, the domain is read from the kernel's name and op type: ORT's blocked forms are
    // named '<value>_nchwc' or are reorders, and an op type other than the node's is a fused contrib op.
    const domain = a.ran
      ? (node?.domain ?? '')
      : e.name.endsWith('_nchwc') || /^Reorder(Input|Output)$/.test(e.opType)
        ? NCHWC_DOMAIN
        : node && node.opType !== e.opType
          ? 'com.microsoft'
          : (node?.domain ?? '');
    const grouped = /Conv/.test(e.opType) && !!node && attrReader(node).int('group', 1) > 1;
    kernelOf.set(e.name, { phase, opType: e.opType, domain, grouped });
  }
  if (unmatched > 0)
    warnings.push(
      `${unmatched} kernel(s) could not be matched to a node of the graph ORT ran; each is counted in the pass of the kernel that ran before it`,
    );

  // Per step (medians of node times per run, as `hone profile` takes them, times the runs per step).
  const perStep = (us: number) => (us / 1000) * chunks;
  const optimizerMs = median([...measured.traced.optimizerMs, ...measured.plain.optimizerMs]);
  const rows = new Map<string, KernelRow>();
  /** Each traced node's row label ('Conv (nchwc)', …), for the top kernels and the shape groups. */
  const labelOf = new Map<string, string>();
  let forwardMs = 0;
  let backwardMs = 0;
  for (const n of summary.nodes) {
    const k = kernelOf.get(n.name) ?? { phase: 'backward' as Phase, opType: n.opType, domain: '', grouped: false };
    const ms = perStep(n.perRunUs);
    if (k.phase === 'forward') forwardMs += ms;
    else backwardMs += ms;
    const form: KernelForm =
      k.domain === NCHWC_DOMAIN
        ? /^Reorder/.test(k.opType)
          ? 'reorder'
          : 'nchwc'
        : k.domain === 'com.microsoft' && !builtOps.has(`${k.domain}:${k.opType}`)
          ? 'fused'
          : 'standard';
    const label = `${k.opType}${form === 'nchwc' || form === 'reorder' ? ' (nchwc)' : ''}${k.grouped ? ' (grouped)' : ''}`;
    labelOf.set(n.name, label);
    const row = rows.get(label) ?? {
      kernel: label,
      opType: k.opType,
      domain: k.domain,
      form,
      grouped: k.grouped,
      forwardNodes: 0,
      backwardNodes: 0,
      forwardMs: 0,
      backwardMs: 0,
      share: 0,
    };
    if (k.phase === 'forward') {
      row.forwardNodes++;
      row.forwardMs += ms;
    } else {
      row.backwardNodes++;
      row.backwardMs += ms;
    }
    rows.set(label, row);
  }
  const total = forwardMs + backwardMs + optimizerMs;
  const share = (ms: number) => (total > 0 ? ms / total : 0);
  const kernels = [...rows.values()]
    .map((r) => ({ ...r, share: share(r.forwardMs + r.backwardMs) }))
    .sort((x, y) => y.share - x.share || x.kernel.localeCompare(y.kernel));
  const forms = Object.fromEntries(
    (['standard', 'fused', 'nchwc', 'reorder', 'grouped'] as const).map((f) => {
      const of = kernels.filter((r) => (f === 'grouped' ? r.grouped : r.form === f));
      return [f, { nodes: of.reduce((s, r) => s + r.forwardNodes + r.backwardNodes, 0), share: of.reduce((s, r) => s + r.share, 0) }];
    }),
  ) as TrainProfile['forms'];
  const kernelLabel = (n: NodeTime) => labelOf.get(n.name)!; // every traced node has a row
  // Bytes per second: per run, the node's bytes over its median time per run.
  const rate = (bytes: number, us: number) => (us > 0 ? bytes / (us / 1e6) : 0);
  const topNodes = summary.nodes.slice(0, 15).map((n) => {
    const ms = perStep(n.perRunUs);
    return {
      name: n.name,
      kernel: kernelLabel(n),
      phase: kernelOf.get(n.name)?.phase ?? ('backward' as Phase),
      ms,
      share: share(ms),
      shape: shapeText(n),
      bytesPerSec: rate(n.bytes, n.perRunUs),
    };
  });
  const groups = new Map<string, { kernel: string; shape: string; nodes: number; us: number; bytes: number }>();
  for (const n of summary.nodes) {
    const kernel = kernelLabel(n);
    const shape = shapeText(n);
    const key = `${kernel}\u0000${shape}`;
    const g = groups.get(key) ?? { kernel, shape, nodes: 0, us: 0, bytes: 0 };
    g.nodes++;
    g.us += n.perRunUs;
    g.bytes += n.bytes;
    groups.set(key, g);
  }
  const byShape = [...groups.values()]
    .sort((x, y) => y.us - x.us)
    .slice(0, 15)
    .map((g) => ({
      kernel: g.kernel,
      shape: g.shape,
      nodes: g.nodes,
      ms: perStep(g.us),
      share: share(perStep(g.us)),
      bytesPerSec: rate(g.bytes, g.us),
    }));

  // The step's parts: means over the plain steps (profiling ended), and over the traced ones for the kernels.
  const { traced, plain } = measured;
  const stats = latencyStats(plain.stepMs);
  const mean = (xs: readonly number[]) => xs.reduce((x, y) => x + y, 0) / Math.max(1, xs.length);
  const n = plain.stepMs.length;
  const graphMs = plain.graphMs / n;
  const dataMs = plain.dataMs / n;
  const updateMs = Math.max(0, plain.updateMs / n);
  const optimizerMean = mean(plain.optimizerMs);
  const tracedMean = mean(traced.stepMs);
  const tracedGraphMs = traced.graphMs / traced.stepMs.length;
  const tracedKernelMs = summary.kernelUs / 1000 / Math.max(1, traced.stepMs.length);
  const step: TrainProfile['step'] = {
    meanMs: stats.mean,
    p50Ms: stats.p50,
    fastMs: fasterHalf(plain.stepMs),
    cv: stats.cv,
    samplesPerSec: setup.batch / (stats.mean / 1000),
    dataMs,
    graphMs,
    optimizerMs: optimizerMean,
    updateMs,
    otherMs: Math.max(0, stats.mean - dataMs - graphMs - optimizerMean - updateMs),
    dataShare: stats.mean > 0 ? dataMs / stats.mean : 0,
    ...inputBound(stats.mean > 0 ? dataMs / stats.mean : 0, a.loader),
    profiled: {
      meanMs: tracedMean,
      samplesPerSec: setup.batch / (tracedMean / 1000),
      graphMs: tracedGraphMs,
      kernelMs: tracedKernelMs,
      ortOverheadMs: Math.max(0, tracedGraphMs - tracedKernelMs),
    },
  };

  // The roofline for the step: the graph's cost per run (its inputs at the fed shapes) times the runs, plus the update's.
  const cost = staticCost(withFedShapes(tg.model, setup));
  const params = tg.params.reduce((s, p) => s + p.init.length, 0);
  const update = UPDATE_COST[setup.optimizer.spec.kind];
  const optimizerFlops = update.flops * params;
  const optimizerBytes = update.bytes * params;
  const flops = cost.flops * chunks + optimizerFlops;
  const bytesMoved = (cost.bytesRead + cost.bytesWritten) * chunks + optimizerBytes;
  let peaks = a.peaks;
  const achieved = step.fastMs > 0 ? flops / (step.fastMs / 1000) : 0;
  if (achieved > peaks.flops) peaks = { ...peaks, flops: achieved };
  const slots = setup.optimizer.spec.kind === 'sgd' ? 1 : 2;
  const opShares = [
    ...kernels.map((r) => ({ opType: r.kernel, share: r.share })),
    { opType: `${setup.optimizer.spec.kind} update`, share: share(optimizerMs) },
  ].sort((x, y) => y.share - x.share);
  // As `hone profile` takes it: the share of each traced step's own wall time in work (kernels and the
  // update), against the latency of the plain steps; the rest is overhead.
  const workShare = traced.stepMs.map((ms, i) => {
    const runs = summary.perRun.slice(i * chunks, (i + 1) * chunks);
    return Math.min(1, (runs.reduce((x, r) => x + r.kernelUs, 0) / 1000 + (traced.optimizerMs[i] ?? 0)) / ms);
  });
  const cut = median(traced.stepMs);
  const facts = (latencyMs: number, kernelFraction: number): BottleneckFacts => ({
    batchSize: setup.batch,
    latencyMs,
    flops,
    bytesMoved,
    weightBytes: params * 4,
    peakFlops: peaks.flops,
    bandwidth: peaks.bandwidth,
    cacheBandwidth: peaks.cacheBandwidth,
    cacheBytes: peaks.cacheBytes,
    workingSetBytes: params * 4 * (2 + slots) + cost.activationBytes,
    opShares,
    kernelFraction,
    throughputs: [],
    model: a.source,
    provider: a.provider,
  });
  const verdict = judge(
    facts(step.fastMs, median(workShare.filter((_, i) => traced.stepMs[i]! <= cut))),
    facts(stats.p50, median(workShare)),
    `robust CV ${(stats.cv * 100).toFixed(0)}%, p90/p50 ${stats.tail.toFixed(2)} over ${n} steps`,
  );
  const slow = slowDataMovement(byShape, peaks.bandwidth);
  if (slow) warnings.push(slow);
  if (a.randomData)
    warnings.push('the steps ran on random data (no --data): times do not depend on the values, except where the model branches on them');
  if (stats.cv > NOISY_CV || stats.tail > NOISY_TAIL)
    warnings.push(
      `noisy steps (robust CV ${(stats.cv * 100).toFixed(0)}%, p90 ${stats.tail.toFixed(2)}x p50): another process may be competing for the cores; the verdict uses the faster half`,
    );
  return {
    model: { source: a.source, params, stepNodes: stepGraph.node.length, kernels: a.ran?.node.length ?? 0 },
    settings: {
      batchSize: setup.batch,
      microBatch: setup.micro,
      runsPerStep: chunks,
      steps: a.steps,
      warmup: a.warmup,
      optimizer: setup.optimizer.spec.kind,
      loss: a.loss.kind,
      threads: a.threads,
      provider: a.provider,
      data: a.randomData ? 'random' : 'given',
    },
    step,
    phases: {
      forward: { ms: forwardMs, share: share(forwardMs) },
      backward: { ms: backwardMs, share: share(backwardMs) },
      optimizer: { ms: optimizerMs, share: share(optimizerMs) },
    },
    kernels,
    forms,
    topNodes,
    byShape,
    static: {
      flops,
      bytesMoved,
      optimizerFlops,
      optimizerBytes,
      activationBytes: cost.activationBytes,
      unknownOps: cost.unknownOps,
      ...(cost.note ? { note: cost.note } : {}),
    },
    machine: {
      peakFlops: peaks.flops,
      bandwidth: peaks.bandwidth,
      cacheBandwidth: peaks.cacheBandwidth,
      ...(a.peaksCheck ? { peaksCheck: a.peaksCheck } : {}),
    },
    bottleneck: { ...verdict, advice: [] },
    warnings,
  };
}

/** The median of the faster half of `xs`. */
function inputBound(share: number, loader: TrainOptions['loader']): { inputBound?: string } {
  const advice = inputBoundAdvice(share, loader);
  return advice ? { inputBound: advice } : {};
}

function fasterHalf(xs: readonly number[]): number {
  const cut = median(xs);
  return median(xs.filter((x) => x <= cut));
}

/**
 * The nodes the forward targets depend on: the model's outputs, the loss and the running statistics.
 * Everything else in the step graph only serves the gradients (the backward pass).
 */
function forwardNodes(graph: GraphProto, targets: readonly string[]): Set<NodeProto> {
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) if (o) producer.set(o, n);
  const out = new Set<NodeProto>();
  const stack = targets.flatMap((t) => producer.get(t) ?? []);
  while (stack.length) {
    const n = stack.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    for (const i of n.input) {
      const p = i ? producer.get(i) : undefined;
      if (p && !out.has(p)) stack.push(p);
    }
  }
  return out;
}

/** The kernels of the first profiled run, in the order they ran: trace name (`<node>_kernel_time` less the suffix) and op type. */
function firstRunOrder(trace: string, skip: number): { name: string; opType: string }[] {
  const parsed = JSON.parse(trace) as unknown;
  const events: TraceEvent[] = Array.isArray(parsed) ? parsed : ((parsed as { traceEvents?: TraceEvent[] }).traceEvents ?? []);
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
  const run = runs[skip] ?? runs[0];
  if (!run) return [];
  const start = run.ts ?? 0;
  const end = start + (run.dur ?? 0);
  return events
    .filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time') && (e.ts ?? 0) >= start && (e.ts ?? 0) <= end)
    .sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0))
    .map((e) => ({ name: e.name!.slice(0, -'_kernel_time'.length), opType: e.args?.op_name ?? 'unknown' }));
}

/**
 * Trace names to nodes of `graph`. ORT saves the graph it ran in the order it runs it, and names a node
 * without a name `<op type>_<index>` in the trace: when the run's kernels line up with the saved nodes
 * one for one (same op types, and the same names where nodes have them), they are matched by position.
 * Otherwise by name: exact, or ORT's names for kernels made from a node ('fused X', 'X_nchwc', 'X/…Fusion…',
 * 'X_token_N') read back to the node or the value X.
 */
function matchKernels(order: { name: string; opType: string }[], graph: GraphProto, ranGraph: boolean): Map<string, NodeProto> {
  const nodes = graph.node;
  const out = new Map<string, NodeProto>();
  const aligned =
    ranGraph &&
    order.length === nodes.length &&
    order.every((e, i) => nodes[i]!.opType === e.opType && (!nodes[i]!.name || nodes[i]!.name === e.name));
  if (aligned) {
    order.forEach((e, i) => out.set(e.name, nodes[i]!));
    return out;
  }
  const byName = new Map<string, NodeProto>();
  for (const n of nodes) if (n.name && !byName.has(n.name)) byName.set(n.name, n);
  const byOutput = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o) byOutput.set(o, n);
  for (const e of order) {
    const base = e.name
      .replace(/^fused /, '')
      .replace(/_nchwc$/, '')
      .replace(/\/[^/]*Fusion.*$/, '')
      .replace(/_token_\d+$/, '');
    const n = byName.get(e.name) ?? byName.get(base) ?? byOutput.get(base);
    if (n) out.set(e.name, n);
  }
  return out;
}

/** The step graph with every input at the shape the step feeds it (the static cost needs concrete dims). */
function withFedShapes(model: ModelProto, setup: TrainingSetup): ModelProto {
  const feeds = setup.binding.feeds;
  const g = model.graph!;
  const input = g.input.map((vi) => {
    const t = feeds[vi.name!];
    if (!t || !vi.type?.tensorType) return vi;
    return { ...vi, type: { ...vi.type, tensorType: { ...vi.type.tensorType, shape: { dim: t.dims.map((d) => ({ dimValue: d })) } } } };
  });
  return { ...model, graph: { ...g, input } };
}

/** Op types that only move or select data: their time is their bytes over the memory bandwidth they reach. */
const DATA_MOVEMENT = new Set([
  'Transpose',
  'Pad',
  'Slice',
  'Where',
  'Cast',
  'Concat',
  'Split',
  'Gather',
  'Expand',
  'Tile',
  'ReorderInput',
  'ReorderOutput',
  'DepthToSpace',
  'SpaceToDepth',
]);
/** A group of such kernels is named when it takes this share of the step and moves its bytes at under this fraction of the memory bandwidth. */
const SLOW_COPY_SHARE = 0.01;
const SLOW_COPY_FRACTION = 0.25;

/**
 * The note naming data-movement kernels (by op type and shapes) that take at least SLOW_COPY_SHARE of the
 * step and move their bytes at under SLOW_COPY_FRACTION of the memory bandwidth, or undefined: ORT copies
 * some permutations, pads and selections element by element, and another op form moves the same bytes at
 * memory speed (docs/design.md, Training: four such forms found this way).
 */
export function slowDataMovement(groups: TrainProfile['byShape'], bandwidth: number): string | undefined {
  const slow = groups.filter(
    (g) =>
      DATA_MOVEMENT.has(g.kernel.split(' ')[0]!) &&
      g.share >= SLOW_COPY_SHARE &&
      g.bytesPerSec > 0 &&
      g.bytesPerSec < SLOW_COPY_FRACTION * bandwidth,
  );
  if (!slow.length) return undefined;
  const named = slow
    .slice(0, 3)
    .map(
      (g) =>
        `${g.kernel} ${g.shape} (${g.nodes} node${g.nodes > 1 ? 's' : ''}, ${g.ms.toFixed(1)} ms, ${(g.bytesPerSec / 1e9).toFixed(1)} GB/s)`,
    );
  return `data movement far below this machine's memory bandwidth (${(bandwidth / 1e9).toFixed(1)} GB/s): ${named.join('; ')} — ORT's kernels for these move their bytes well below memory speed; another layout or op form may move them faster`;
}

/** `[32, 96, 48, 48] → [96, 32, 50, 50]`: the first input and first output (the data, not the shape operands). */
function shapeText(n: NodeTime): string {
  const dims = (d: number[] | undefined) => (d ? `[${d.join(', ')}]` : '?');
  if (!n.inputShapes && !n.outputShapes) return '';
  return `${dims(n.inputShapes?.[0])} → ${dims(n.outputShapes?.[0])}`;
}
