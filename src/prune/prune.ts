/**
 * `hone prune`'s job: prune a model (unstructured magnitude, or whole channels with every coupled layer
 * rewritten), optionally fine-tune it with the pruned weights held at zero (one shot, or gradually along
 * Zhu & Gupta's cubic schedule), and prove the result — ORT loads it and its outputs are compared with the
 * input model's on the evaluation data (accuracy with labels) or on random inputs.
 */
import { badInput } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto } from '../ir/proto.js';
import { tensorArray } from '../ir/tensor.js';
import { inferShapes, nodeCosts } from '../ops/infer.js';
import { foldedCopy } from '../passes/fold.js';
import { compareOutputs } from '../quantize/evaluate.js';
import { matchInputs, type SampleData } from '../quantize/data.js';
import { type DimFixes, graphInputs, randomFeeds, resolveInputs } from '../runtime/inputs.js';
import { paramByName, type TrainCallback, type TrainingRun } from '../train/callbacks.js';
import { train, type EpochRecord, type TrainOptions } from '../train/trainer.js';
import { analyzeChannels, type ChannelAnalysis, type ChannelGroup } from './channels.js';
import { analyzeHeads } from './heads.js';
import { applyMasks, magnitudeMasks, maskInPlace, polynomialSparsity, prunableWeights, weightMasks, weightSparsity } from './magnitude.js';
import { channelSensitivity, ratiosFromCurves, type SensitivityCurve, sensitivityReport, weightSensitivity } from './sensitivity.js';
import { channelImportance, type Criterion, removeChannels, selectChannels, taylorImportance, zeroChannelsInPlace } from './structured.js';

export interface PruneOptions {
  /** Fraction in [0, 1): of the prunable weights (unstructured) or of each group's channels (structured). */
  sparsity: number;
  /**
   * 'channels': remove whole channels (filters, neurons) and rewrite coupled layers; 'heads': remove
   * attention heads (prune/heads.ts); absent: unstructured.
   */
  structured?: 'channels' | 'heads';
  /** Channel importance (structured): l1 (default) or l2 norm of every coupled weight slice, or first-order Taylor (needs data). */
  criterion?: Criterion;
  /** 'layer': each layer (group) the same fraction; 'global': smallest anywhere. Default global unstructured, layer structured. */
  scope?: 'layer' | 'global';
  /** Structured: keep a multiple of this many channels per group (default 1). */
  roundTo?: number;
  /** Weights (unstructured) left dense. */
  exclude?: string[];
  /**
   * Per-layer fractions from a sensitivity analysis (each layer pruned alone at 10–90%, measured on the
   * evaluation data, at most `sensitivitySamples` of it) instead of one fraction or a global ranking.
   */
  sensitivity?: boolean;
  /** Samples of the evaluation data each sensitivity point is measured on (default 1000). */
  sensitivitySamples?: number;
  /** Fine-tuning after (or, gradually, while) pruning. */
  finetune?: FinetuneOptions;
  /** Labelled data to measure accuracy before and after (the fine-tuning data's test split, say). */
  evalData?: Dataset;
  /** What `evalData` is, for the report ('mnist (test)'). */
  evalSource?: string;
  /** Sizes and values for the inputs of the check on random data (`--dim`, `--shape`, `--input`); the batch defaults to 32. */
  inputs?: DimFixes;
  onProgress?: (message: string) => void;
}

export interface FinetuneOptions {
  data: Dataset;
  epochs: number;
  /** Gradual (unstructured only): sparsity rises from 0 to the target over the first 3/4 of the steps. */
  gradual?: boolean;
  /** Training settings (batch size, optimizer, lr, seed, threads, progress…); epochs and callbacks are set here. */
  train: Omit<TrainOptions, 'epochs' | 'callbacks'>;
}

export interface PruneReport {
  method: string;
  sparsity: number;
  /** Unstructured: fraction of the prunable weights that are zero. Structured: fraction of prunable channels removed. */
  achieved: number;
  params: { before: number; after: number; nonZeroAfter: number };
  macs: { before: number; after: number };
  /** Structured: every group that lost channels. */
  groups?: { producers: string[]; channels: number; kept: number }[];
  /** Structured: groups whose channels could not be removed, and why (a node named). */
  skipped?: { producers: string[]; channels: number; reason: string }[];
  /** Unstructured: weights pruned. */
  weights?: string[];
  /** With `sensitivity`: each layer's curve and the ratio chosen for it. */
  sensitivity?: SensitivityCurve[];
  finetune?: { epochs: number; history: EpochRecord[] };
  /** The pruned model against the input model in ORT, on the evaluation data (or random inputs). */
  check: PruneCheck;
}

export interface PruneCheck {
  samples: number;
  source: string;
  /** Cosine similarity of all outputs, pruned vs input model. */
  cosine: number;
  maxAbsError: number;
  /** Share of samples whose argmax agrees (classifier-like outputs). */
  top1Agreement?: number;
  /** Top-1 accuracy against the labels, input model and pruned. */
  accuracy?: { before: number; after: number };
}

export async function pruneModel(model: ModelProto, opts: PruneOptions): Promise<{ model: ModelProto; report: PruneReport }> {
  if (!(opts.sparsity >= 0 && opts.sparsity < 1)) throw badInput(`--sparsity must be in [0, 1), got ${opts.sparsity}`);
  const gradual = opts.finetune?.gradual === true;
  if (gradual && opts.structured && opts.criterion === 'taylor')
    throw badInput('--schedule gradual re-ranks channels by their weights while it trains; use --criterion l1 or l2 with it');
  const sensitivityData = () => {
    const d = evaluationData(model, opts.evalData, opts.evalSource, opts.inputs);
    return { ...d, size: Math.min(d.size, opts.sensitivitySamples ?? 1000) };
  };
  const source = foldedCopy(model).model;
  const before = modelSize(source, opts.inputs);
  let pruned: ModelProto;
  let partial: Omit<PruneReport, 'check' | 'params' | 'macs' | 'finetune'>;
  let masks: Map<string, Uint8Array> | undefined;
  let ratios: Map<string, number> | undefined;
  let channelPlan:
    | {
        an: ChannelAnalysis;
        analyze: (m: ModelProto) => ChannelAnalysis;
        criterion: 'l1' | 'l2';
        scope: 'layer' | 'global';
        ratios?: ReadonlyMap<ChannelGroup, number>;
      }
    | undefined;
  if (opts.structured) {
    const scope = opts.scope ?? 'layer';
    const criterion = opts.criterion ?? 'l1';
    const analyze = opts.structured === 'heads' ? analyzeHeads : analyzeChannels;
    opts.onProgress?.(opts.structured === 'heads' ? 'finding attention heads' : 'finding coupled channels');
    const an = analyze(source);
    let importance: Map<ChannelGroup, Float64Array>;
    if (criterion === 'taylor') {
      const data = opts.finetune?.data ?? opts.evalData;
      if (!data) throw badInput('--criterion taylor needs data for its gradients: add --finetune DATA or --test-data DATA');
      opts.onProgress?.('gradients for Taylor importance (16 batches)');
      importance = await taylorImportance(an, data, { batchSize: opts.finetune?.train.batchSize, threads: opts.finetune?.train.threads });
    } else importance = channelImportance(an, criterion);
    if (importance.size === 0)
      throw badInput(
        opts.structured === 'heads'
          ? `no attention head of the model can be removed: ${an.groups[0]?.producers[0]} stays whole because ${an.groups[0]?.pinned}`
          : `no channel of the model can be removed: ${an.groups[0]?.pinned ?? 'it has no Conv, Gemm or MatMul with constant weights'}`,
      );
    let groupRatios: Map<ChannelGroup, number> | undefined;
    let curves: SensitivityCurve[] | undefined;
    if (opts.sensitivity) {
      const { baseline, curves: measured } = await channelSensitivity(an, importance, sensitivityData(), opts.onProgress);
      const sizes = new Map([...importance.keys()].map((g) => [g, g.size]));
      groupRatios = ratiosFromCurves(measured, sizes, opts.sparsity, baseline);
      curves = sensitivityReport(measured, sizes, groupRatios, (g) => g.producers.join(', '));
    }
    const method = `${opts.structured}, ${criterion} importance, ${groupRatios ? 'per-layer ratios from sensitivity' : `${scope} scope`}${gradual ? ', gradual' : ''}`;
    if (gradual) {
      // The channels go while fine-tuning runs (zeroed in place); the rewrite follows it, below.
      pruned = source;
      channelPlan = { an, analyze, criterion: criterion as 'l1' | 'l2', scope, ratios: groupRatios };
      partial = { method, sparsity: opts.sparsity, achieved: 0, ...(curves ? { sensitivity: curves } : {}) };
    } else {
      const keep = selectChannels(importance, { sparsity: opts.sparsity, scope, roundTo: opts.roundTo, ratios: groupRatios });
      pruned = removeChannels(an, keep);
      partial = { method, sparsity: opts.sparsity, ...channelSummary(an, keep), ...(curves ? { sensitivity: curves } : {}) };
    }
  } else {
    if (opts.criterion) throw badInput(`--criterion ${opts.criterion} ranks channels; unstructured pruning ranks weights by magnitude`);
    const scope = opts.scope ?? 'global';
    const names = prunableWeights(source, opts.exclude);
    if (names.length === 0) throw badInput('the model has no Conv, Gemm or MatMul weights to prune');
    let curves: SensitivityCurve[] | undefined;
    if (opts.sensitivity) {
      const { baseline, curves: measured } = await weightSensitivity(source, names, sensitivityData(), opts.onProgress);
      const inits = new Map(source.graph!.initializer.map((t) => [t.name!, t]));
      const sizes = new Map(names.map((n) => [n, inits.get(n)!.dims.reduce((a, b) => a * Number(b), 1)]));
      ratios = ratiosFromCurves(measured, sizes, opts.sparsity, baseline);
      curves = sensitivityReport(measured, sizes, ratios, (n) => n);
    }
    masks = opts.finetune?.gradual ? undefined : weightMasks(source, names, ratios ?? opts.sparsity, scope);
    pruned = masks ? applyMasks(source, masks) : source;
    partial = {
      method: `unstructured magnitude, ${ratios ? 'per-layer ratios from sensitivity' : `${scope} scope`}${opts.finetune?.gradual ? ', gradual' : ''}`,
      sparsity: opts.sparsity,
      achieved: 0,
      weights: names,
      ...(curves ? { sensitivity: curves } : {}),
    };
  }

  let finetune: PruneReport['finetune'];
  if (opts.finetune) {
    const ft = opts.finetune;
    const callbacks: TrainCallback[] = [];
    if (!opts.structured) {
      const names = partial.weights!;
      const scope = opts.scope ?? 'global';
      callbacks.push(ft.gradual ? gradualMasks(names, opts.sparsity, scope, ft.epochs, ratios) : fixedMasks(masks!));
    }
    const channels = channelPlan ? gradualChannels(channelPlan, opts.sparsity, opts.roundTo, ft.epochs) : undefined;
    if (channels) callbacks.push(channels);
    opts.onProgress?.(`fine-tuning ${ft.epochs} epoch(s)`);
    const result = await train(pruned, ft.data, { ...ft.train, epochs: ft.epochs, callbacks });
    if (result.stopped === 'callback' && !result.history.length) throw badInput('fine-tuning stopped before its first epoch');
    pruned = foldedCopy(result.model).model;
    finetune = { epochs: result.epochs, history: result.history };
    if (channels) {
      // The same graph, so the same groups in the same order: the last selection, on the trained weights.
      const an = channelPlan!.analyze(pruned);
      const keep = new Map([...channels.keep()].map(([g, kept]) => [an.groups[g.id]!, kept]));
      pruned = removeChannels(an, keep);
      Object.assign(partial, channelSummary(an, keep));
    }
    // Gradual magnitude pruning ends at the target exactly: the last masks, from the trained weights.
    if (!opts.structured)
      pruned = applyMasks(pruned, weightMasks(pruned, partial.weights!, ratios ?? opts.sparsity, opts.scope ?? 'global'));
  }
  if (!opts.structured) partial.achieved = weightSparsity(pruned, partial.weights!);
  const after = modelSize(pruned, opts.inputs);
  opts.onProgress?.('checking the pruned model in ONNX Runtime');
  const fidelity = await compareOutputs(source, pruned, evaluationData(model, opts.evalData, opts.evalSource, opts.inputs));
  const check: PruneCheck = {
    samples: fidelity.samples,
    source: fidelity.source,
    cosine: fidelity.cosine,
    maxAbsError: fidelity.maxAbsError,
    ...(fidelity.top1Agreement !== undefined ? { top1Agreement: fidelity.top1Agreement } : {}),
    ...(fidelity.accuracy ? { accuracy: { before: fidelity.accuracy.float, after: fidelity.accuracy.quantized } } : {}),
  };
  return {
    model: pruned,
    report: {
      ...partial,
      params: { before: before.params, after: after.params, nonZeroAfter: after.nonZero },
      macs: { before: before.macs, after: after.macs },
      finetune,
      check,
    },
  };
}

/** The report's channel fields for a selection. */
function channelSummary(an: ChannelAnalysis, keep: ReadonlyMap<ChannelGroup, readonly number[]>) {
  const prunable = an.groups.filter((g) => !g.pinned);
  const removed = prunable.reduce((n, g) => n + (g.size - (keep.get(g)?.length ?? g.size)), 0);
  return {
    achieved: removed / prunable.reduce((n, g) => n + g.size, 0),
    groups: prunable.map((g) => ({ producers: g.producers, channels: g.size, kept: keep.get(g)?.length ?? g.size })),
    skipped: an.groups.filter((g) => g.pinned).map((g) => ({ producers: g.producers, channels: g.size, reason: g.pinned! })),
  };
}

/**
 * Per-layer ratios (from a sensitivity analysis) part of the way to the target: each layer follows the gradual
 * schedule's cubic to its own ratio.
 */
function scaledRatios<K>(ratios: ReadonlyMap<K, number>, sparsity: number, final: number): Map<K, number> {
  const f = final > 0 ? sparsity / final : 0;
  return new Map([...ratios].map(([k, r]) => [k, r * f]));
}

/**
 * When gradual pruning (Zhu & Gupta 2017) recomputes its selection: along the cubic from 0 to `final` over the
 * first three quarters of the steps, 20 times on the way. `due(step)` is the target then, else undefined.
 */

function gradualSchedule(final: number, epochs: number) {
  let end = 1;
  let every = 1;
  return {
    begin(stepsPerEpoch: number) {
      end = Math.max(1, Math.floor(epochs * stepsPerEpoch * 0.75));
      every = Math.max(1, Math.floor(end / 20));
    },
    due(step: number): number | undefined {
      return step <= end && (step % every === 0 || step === end)
        ? polynomialSparsity(step, { initial: 0, final, begin: 0, end })
        : undefined;
    },
  };
}

/**
 * Gradual structured pruning: on `gradualSchedule`'s steps the channels are ranked again on the live weights
 * and the dropped ones' slices zeroed, then held at zero after every update. `keep()` is the last selection.
 */
function gradualChannels(
  plan: { an: ChannelAnalysis; criterion: 'l1' | 'l2'; scope: 'layer' | 'global'; ratios?: ReadonlyMap<ChannelGroup, number> },
  final: number,
  roundTo: number | undefined,
  epochs: number,
): TrainCallback & { keep(): Map<ChannelGroup, number[]> } {
  const schedule = gradualSchedule(final, epochs);
  let values: (name: string) => Float32Array | undefined = () => undefined;
  let keep = new Map<ChannelGroup, number[]>();
  return {
    keep: () => keep,
    onTrainBegin(run) {
      values = paramByName(run);
      schedule.begin(run.stepsPerEpoch);
    },
    onStepEnd(_run, s) {
      const sparsity = schedule.due(s.step);
      if (sparsity !== undefined)
        keep = selectChannels(channelImportance(plan.an, plan.criterion, values), {
          sparsity,
          scope: plan.scope,
          roundTo,
          ratios: plan.ratios && scaledRatios(plan.ratios, sparsity, final),
        });
      zeroChannelsInPlace(plan.an, keep, values);
    },
  };
}

/** Re-zeroes the pruned weights after every update (and once before the first step). */
function fixedMasks(masks: ReadonlyMap<string, Uint8Array>): TrainCallback {
  let bound: [Float32Array, Uint8Array][] = [];
  const apply = () => {
    for (const [v, m] of bound) maskInPlace(v, m);
  };
  return {
    onTrainBegin(run) {
      const names = [...masks.keys()];
      bound = trainedParams(run, names).map((v, i) => [v, masks.get(names[i]!)!]);
      apply();
    },
    onStepEnd: apply,
  };
}

/** Gradual magnitude pruning: on `gradualSchedule`'s steps the masks are recomputed from the live weights, then held. */
function gradualMasks(
  names: readonly string[],
  final: number,
  scope: 'layer' | 'global',
  epochs: number,
  ratios?: ReadonlyMap<string, number>,
): TrainCallback {
  const schedule = gradualSchedule(final, epochs);
  let params: Float32Array[] = [];
  let masks: Uint8Array[] = [];
  return {
    onTrainBegin(run) {
      params = trainedParams(run, names);
      schedule.begin(run.stepsPerEpoch);
      masks = magnitudeMasks(params, 0, scope);
    },
    onStepEnd(_run, s) {
      const sparsity = schedule.due(s.step);
      if (sparsity !== undefined) {
        const per = ratios && scaledRatios(ratios, sparsity, final);
        masks = per
          ? params.map((v, i) => magnitudeMasks([v], per.get(names[i]!) ?? 0, 'layer')[0]!)
          : magnitudeMasks(params, sparsity, scope);
      }
      params.forEach((v, i) => maskInPlace(v, masks[i]!));
    },
  };
}

/** The live arrays of the named weights; a weight that does not train cannot hold its zeros. */
function trainedParams(run: TrainingRun, names: readonly string[]): Float32Array[] {
  const byName = paramByName(run);
  return names.map((name) => {
    const v = byName(name);
    if (!v) throw badInput(`pruned weight '${name}' is not trained (frozen?); unfreeze it or --exclude it`);
    return v;
  });
}

/** The data the check runs on: the evaluation set with its labels, else 32 random samples of the inputs' shapes. */
function evaluationData(model: ModelProto, ds: Dataset | undefined, source = 'the evaluation data', fixes: DimFixes = {}): SampleData {
  const inputs = graphInputs(model);
  if (ds) return matchInputs({ ...ds.features, label: ds.labels }, inputs, source, undefined, { values: toRecord(fixes.values) });
  let concrete: ReturnType<typeof resolveInputs>;
  const batch = Object.fromEntries(batchSymbols(model).map((d) => [d, 32]));
  try {
    concrete = resolveInputs(model, { ...fixes, dims: { ...batch, ...fixes.dims } });
  } catch (e) {
    throw badInput(`${(e as Error).message.replace(/^hone: /, '')} — or give labelled data with --test-data to check the pruned model on`);
  }
  const feeds = randomFeeds(concrete, 0, 2, fixes.values);
  const features = Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => [name, { data: t.data as Float32Array, dims: [...t.dims] }]),
  );
  return { features, size: concrete[0]?.shape[0] ?? 1, source: 'random inputs' };
}

function toRecord<V>(m: ReadonlyMap<string, V> | Record<string, V> | undefined): Record<string, V> | undefined {
  return m instanceof Map ? Object.fromEntries(m) : (m as Record<string, V> | undefined);
}

/** The symbolic leading dims of the inputs (the batch). */
export function batchSymbols(model: ModelProto): string[] {
  return [...new Set(graphInputs(model).flatMap((i) => (typeof i.shape?.[0] === 'string' ? [i.shape[0]] : [])))];
}

/** Parameters (elements of float weights of rank ≥ 1), their non-zeros, and MACs per sample. */
function modelSize(model: ModelProto, fixes: DimFixes = {}): { params: number; nonZero: number; macs: number } {
  let params = 0;
  let nonZero = 0;
  for (const t of model.graph!.initializer) {
    if (t.dataType !== DataType.FLOAT || t.dims.length === 0) continue;
    const v = tensorArray(t) as Float32Array;
    params += v.length;
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) nonZero++;
  }
  // Per sample: the batch at 1 whatever --dim gave it, the other dims as given.
  const dims: Record<string, number> = { ...toRecord(fixes.dims), ...Object.fromEntries(batchSymbols(model).map((d) => [d, 1])) };
  const inference = inferShapes(model, { dims });
  const macs = nodeCosts(model, inference).reduce((s, c) => s + c.cost.macs, 0);
  return { params, nonZero, macs };
}
