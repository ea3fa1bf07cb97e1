/**
 * Everything `hone quantize` does, as one typed function: resolve the model, load calibration and
 * evaluation data, quantize (with accuracy-aware tuning when a target is given), then prove the result:
 * size, output fidelity and accuracy on the data, and latency of both models measured side by side.
 */
import type { ModelProto } from '../ir/proto.js';
import { encodeMessageChunks } from '../ir/codec.js';
import { loadModel } from '../ir/model.js';
import { zooModel } from '../zoo/index.js';
import {
  batchDim,
  checkFixes,
  DEFAULT_BATCH_SIZES,
  graphInputs,
  resolveBatchSizes,
  shapeSymbols,
  valueShape,
  type ConcreteInput,
  type InputValue,
} from '../runtime/inputs.js';
import { valueTensor } from '../runtime/values.js';
import { checkProvider } from '../runtime/providers.js';
import { mulberry32 } from '../util/random.js';
import { badInput } from '../errors.js';
import { refuseQuantized, type NodeSelection, type QuantizeReport, type QuantizeResult, type QuantMode } from './common.js';
import { quantizeDynamic, type DynamicOptions } from './dynamic.js';
import { calibrateStatic, quantizeStatic, STATIC_DEFAULTS, type Calibration, type StaticOptions } from './static.js';
import { convertFp16, type ActivationRanges, type Fp16Options } from './fp16.js';
import { measureActivationRanges } from './fp16-ranges.js';
import { quantizeInt4, type Int4Options } from './int4.js';
import { loadSampleData, matchInputs, type GivenInputs, type SampleData } from './data.js';
import { compareLatency, compareOutputs, type Fidelity, type LatencyComparison, type LatencyOptions } from './evaluate.js';
import { tuneForAccuracy, type AccuracyTuning } from './tune.js';

export interface QuantizeJob {
  /** A ModelProto, a .onnx path, or `zoo:NAME[:k=v,…]`. */
  model: ModelProto | string;
  mode: QuantMode;
  /** Options of the mode (the selection fields apply to every mode). */
  options?: NodeSelection & DynamicOptions & StaticOptions & Fp16Options & Int4Options;
  /** Calibration data: a .npy/.npz path, a folder of .npy, or 'mnist'. Required for static mode (zoo models excepted). */
  calib?: string;
  /** Use at most this many calibration (and evaluation) samples. */
  samples?: number;
  /** Evaluation data (default: the calibration data, else the zoo's data, else seeded random inputs). */
  eval?: string;
  /** Keep the most sensitive layers in float until the drop is within this (accuracy points, or 100·(1−cosine) without labels). */
  maxAccuracyDrop?: number;
  /** With maxAccuracyDrop or the accuracy guard: stop the search after this many seconds and keep the best model found. */
  budget?: number;
  /**
   * Static mode without maxAccuracyDrop: keep the fewest most sensitive layers float when quantizing
   * everything loses more than ACCURACY_GUARD.maxDrop (default true; false: `--no-accuracy-guard`).
   */
  accuracyGuard?: boolean;
  /** Sizes of symbolic dims (`--dim seq=128`) and input shapes (`--shape`), for synthetic data and timing. */
  dims?: Record<string, number>;
  shapes?: Record<string, number[]>;
  /** Values for inputs that must not be random (`--input sr=16000`): fed in every run, data gives the rest. */
  values?: Record<string, InputValue>;
  /** Batch sizes the latency comparison times (default 1,8 for a symbolic batch dim, else the model's own). */
  batchSizes?: number[];
  /** Latency comparison settings; false skips it. */
  latency?: LatencyOptions | false;
  onProgress?: (message: string) => void;
  /** Quantize a model that is quantized (or float16) already, which is refused otherwise (`quantizedAlready`). */
  force?: boolean;
  /**
   * Static mode: a step that improves the quantized model on the calibration data after quantization (and the
   * accuracy guard), such as learned rounding (qat/adaround.ts; given by the caller, since it trains). Its
   * model is kept when its output cosine on the calibration samples it did not fit (all of them when it fits
   * on all) is at least round-to-nearest's.
   */
  refine?: Refinement;
}

export interface Refinement {
  name: string;
  run(
    result: QuantizeResult,
    calib: SampleData,
  ): Promise<{
    model: ModelProto;
    summary: string;
    settings: string;
    detail: Record<string, unknown>;
    /** Calibration samples the step did not fit on, to judge it on (default: all the calibration data). */
    heldOut?: SampleData;
  }>;
}

/** What a refinement did, measured: the kept model is the one with the better cosine on the samples it is judged on. */
export interface RefinementReport {
  name: string;
  summary: string;
  detail: Record<string, unknown>;
  kept: boolean;
  /** Output cosine against float on the calibration data it is judged on, before (round-to-nearest) and after. */
  calibration: { before: number; after: number; samples: number; heldOut: boolean };
  /** The same on the evaluation data, with accuracy where it has labels. */
  evaluation: { source: string; before: FidelityPoint; after: FidelityPoint };
}

interface FidelityPoint {
  cosine: number;
  accuracy?: number;
}

/**
 * Static int8's default accuracy guard, as Intel Neural Compressor tunes by default (its criterion: 1%
 * relative accuracy loss): a drop of at most 1 accuracy point with labels, else output cosine >= 0.99. It
 * selects on the calibration data and the report's fidelity is measured on the evaluation data (docs/design.md,
 * "Static int8 for real CNNs"). No time budget unless `--budget`: the search is a logarithmic number of
 * evaluations (tuneForAccuracy), and a budget in seconds made the model written depend on the machine's speed.
 */
export const ACCURACY_GUARD = { maxDrop: 1 } as const;

export interface QuantizeSummary {
  source: string;
  mode: QuantMode;
  report: QuantizeReport;
  /** Encoded model sizes, bytes. */
  size: { float: number; quantized: number; ratio: number };
  data: { calibration?: string; evaluation?: string };
  fidelity?: Fidelity;
  /** At the first batch size timed; `latencyByBatch` has every batch size when there are several. */
  latency?: LatencyComparison;
  latencyByBatch?: LatencyComparison[];
  tuning?: AccuracyTuning;
  refinement?: RefinementReport;
  /** What the user should know before shipping the model (e.g. it measured slower than float). */
  warnings: string[];
}

export async function quantizeModel(job: QuantizeJob): Promise<{ model: ModelProto; summary: QuantizeSummary }> {
  const { model, source } = resolveModel(job.model);
  const zoo = typeof job.model === 'string' && job.model.startsWith('zoo:') ? job.model.slice(4).split(':')[0] : undefined;
  const progress = job.onProgress ?? (() => {});
  const opts = job.options ?? {};
  const fixes = { dims: job.dims ?? {}, shapes: job.shapes ?? {}, values: job.values ?? {} };
  // A batch the fixes set (a state input sized for batch 1, say) is the batch of every run, not just the timed ones.
  const given: GivenInputs = {
    values: job.values,
    dims: { ...shapeSymbols(model, job.shapes), ...job.dims },
    batch: batchDim(model, fixes)?.given?.size,
  };
  // Bad --dim/--shape/--input, batch-size conflicts and an already-quantized model fail before anything slow runs.
  if (!job.force) refuseQuantized(model, job.mode);
  checkFixes(model, fixes);
  if (job.latency) checkProvider(job.latency.provider ?? 'cpu');
  for (const input of graphInputs(model))
    if (fixes.values[input.name]) valueTensor(input, fixes.values[input.name]!.dims, fixes.values[input.name]!);
  const timed = timedBatchSizes(model, fixes, job.batchSizes);

  let calib: SampleData | undefined;
  if (job.calib) calib = await loadSampleData(job.calib, model, { samples: job.samples ?? 256, split: 'train', given });
  else if (job.mode === 'static') {
    if (zoo === 'lenet5') calib = await loadSampleData('mnist', model, { samples: job.samples ?? 256, split: 'train', given });
    else if (zoo)
      calib = syntheticData(
        model,
        job.samples ?? 64,
        fixes,
        1,
        `synthetic: seeded uniform [-1, 1) inputs for zoo:${zoo} (untrained zoo weights have no real data distribution)`,
      );
    else
      throw badInput(
        `static quantization needs calibration data: pass --calib DATA (a .npy/.npz file or folder of .npy with arrays named after the model inputs: ${graphInputs(
          model,
        )
          .map((i) => i.name)
          .join(', ')}), or use --mode dynamic`,
      );
  }
  let evalData: SampleData | undefined;
  if (job.eval) evalData = await loadSampleData(job.eval, model, { samples: job.samples, split: 'test', given });
  else if (zoo === 'lenet5') evalData = await loadSampleData('mnist', model, { samples: job.samples ?? 1000, split: 'test', given });
  else
    evalData =
      calib ??
      syntheticData(model, job.samples ?? 32, fixes, 2, 'synthetic: seeded uniform [-1, 1) inputs (pass --eval DATA for real data)');

  let calibration: Calibration | undefined;
  let fp16Ranges: ActivationRanges | undefined;
  const quantize = async (exclude: string[]): Promise<QuantizeResult> => {
    const o = { ...opts, excludeNodes: [...(opts.excludeNodes ?? []), ...exclude] };
    switch (job.mode) {
      case 'dynamic':
        return quantizeDynamic(model, o);
      case 'fp16': {
        // Activation ranges from real data keep ops that would overflow float16 in float32 (synthetic data says nothing about them).
        const real = calib ?? (job.eval ? evalData : undefined);
        if (real && !fp16Ranges && !o.activationRanges) {
          progress('measuring activation ranges for float16');
          fp16Ranges = await measureActivationRanges(model, real);
        }
        return convertFp16(model, { ...o, activationRanges: o.activationRanges ?? fp16Ranges });
      }
      case 'int4':
        return quantizeInt4(model, o);
      case 'static': {
        if (!calibration) {
          progress(`calibrating (${o.method ?? STATIC_DEFAULTS.method}) on ${calib!.size} samples from ${calib!.source}`);
          calibration = await calibrateStatic(model, calib!, { ...o, excludeNodes: [] });
        }
        return quantizeStatic(model, calibration, o);
      }
    }
  };

  let result: QuantizeResult;
  let fidelity: Fidelity | undefined;
  let tuning: AccuracyTuning | undefined;
  const guard = job.mode === 'static' && job.maxAccuracyDrop === undefined && job.accuracyGuard !== false;
  if (job.maxAccuracyDrop !== undefined) {
    progress('quantizing with an accuracy target');
    ({ result, fidelity, tuning } = await tuneForAccuracy(model, quantize, evalData, job.maxAccuracyDrop, {
      onProgress: progress,
      budgetSeconds: job.budget,
    }));
  } else if (guard) {
    ({ result, fidelity, tuning } = await guardAccuracy(model, quantize, calib!, evalData, { onProgress: progress, budget: job.budget }));
  } else {
    result = await quantize([]);
    progress(`comparing outputs on ${evalData.size} samples from ${evalData.source}`);
    fidelity = await compareOutputs(model, result.model, evalData);
  }

  let refinement: RefinementReport | undefined;
  if (job.refine) {
    if (job.mode !== 'static') throw badInput(`${job.refine.name} refines static int8; use --mode static (not --mode ${job.mode})`);
    ({ result, fidelity, refinement } = await refined(model, result, fidelity, job.refine, calib!, evalData, progress));
  }

  const latencyByBatch: LatencyComparison[] = [];
  for (const batch of job.latency === false ? [] : timed) {
    const inputs = timedInputs(model, evalData, fixes, batch);
    progress(`timing float and quantized side by side (${inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')})`);
    latencyByBatch.push(await compareLatency(model, result.model, inputs, { ...(job.latency || {}), values: job.values }));
  }
  const floatBytes = encodedSize(model);
  const quantBytes = encodedSize(result.model);
  return {
    model: result.model,
    summary: {
      source,
      mode: job.mode,
      report: result.report,
      size: { float: floatBytes, quantized: quantBytes, ratio: quantBytes / floatBytes },
      data: { calibration: calib?.source, evaluation: evalData.source },
      fidelity,
      latency: latencyByBatch[0],
      latencyByBatch: latencyByBatch.length > 1 ? latencyByBatch : undefined,
      tuning,
      refinement,
      warnings: [...nonFiniteWarnings(fidelity), ...guardWarnings(tuning), ...slowdownWarnings(job.mode, latencyByBatch)],
    },
  };
}

/**
 * The accuracy guard: the search of `--max-accuracy-drop` with ACCURACY_GUARD's target, choosing on the
 * calibration data, so that the fidelity reported on the evaluation data is not the number the choice was
 * made on (when --eval is given; otherwise both are the calibration data, and the report says so). When
 * layers stay float, the evaluation data's cosine with every layer quantized is measured too (before/after).
 */
async function guardAccuracy(
  model: ModelProto,
  quantize: (exclude: string[]) => Promise<QuantizeResult>,
  calib: SampleData,
  evalData: SampleData,
  opts: { onProgress: (message: string) => void; budget?: number },
): Promise<{ result: QuantizeResult; fidelity: Fidelity; tuning: AccuracyTuning }> {
  const { maxDrop } = ACCURACY_GUARD;
  opts.onProgress(
    `accuracy guard: checking the drop on ${calib.size} calibration samples against ${maxDrop} (--no-accuracy-guard skips it)`,
  );
  const tuned = await tuneForAccuracy(model, quantize, calib, maxDrop, {
    onProgress: opts.onProgress,
    budgetSeconds: opts.budget,
  });
  const tuning: AccuracyTuning = { ...tuned.tuning, guard: true };
  if (evalData === calib) {
    if (tuning.keptFloat.length)
      tuning.caveat = `the layers kept float were chosen on the same data the fidelity is measured on (${calib.source}${calib.source.startsWith('synthetic') ? ', synthetic: a poor guide to real inputs' : ''}); pass --eval HELD_OUT_DATA for an unbiased number`;
    return { result: tuned.result, fidelity: tuned.fidelity, tuning };
  }
  opts.onProgress(`comparing outputs on ${evalData.size} samples from ${evalData.source}`);
  const fidelity = await compareOutputs(model, tuned.result.model, evalData);
  if (tuning.keptFloat.length) {
    const before = tuned.initial === tuned.result ? fidelity : await compareOutputs(model, tuned.initial.model, evalData);
    tuning.heldOut = { source: evalData.source, cosineBefore: before.cosine, cosineAfter: fidelity.cosine };
  }
  return { result: tuned.result, fidelity, tuning };
}

/** Runs `refine` on the quantized result; keeps its model if it is at least as close to float on the samples it did not fit. */
async function refined(
  model: ModelProto,
  result: QuantizeResult,
  fidelity: Fidelity | undefined,
  refine: Refinement,
  calib: SampleData,
  evalData: SampleData,
  progress: (message: string) => void,
): Promise<{ result: QuantizeResult; fidelity: Fidelity; refinement: RefinementReport }> {
  const out = await refine.run(result, calib);
  const judge = out.heldOut ?? calib;
  progress(`${refine.name}: comparing with round-to-nearest on ${judge.size}${out.heldOut ? ' held-out' : ''} calibration samples`);
  const [before, after] = [await compareOutputs(model, result.model, judge), await compareOutputs(model, out.model, judge)];
  const kept = after.cosine >= before.cosine;
  const evalBefore = fidelity ?? (await compareOutputs(model, result.model, evalData));
  progress(`${refine.name}: comparing outputs on ${evalData.size} samples from ${evalData.source}`);
  const evalAfter = evalData === judge ? after : await compareOutputs(model, out.model, evalData);
  const point = (f: Fidelity): FidelityPoint => ({ cosine: f.cosine, ...(f.accuracy ? { accuracy: f.accuracy.quantized } : {}) });
  const refinement: RefinementReport = {
    name: refine.name,
    summary: out.summary,
    detail: out.detail,
    kept,
    calibration: { before: before.cosine, after: after.cosine, samples: judge.size, heldOut: out.heldOut !== undefined },
    evaluation: { source: evalData.source, before: point(evalBefore), after: point(evalAfter) },
  };
  if (!kept) return { result, fidelity: evalBefore, refinement };
  return {
    result: {
      ...result,
      model: out.model,
      report: { ...result.report, settings: { ...result.report.settings, [refine.name]: out.settings } },
    },
    fidelity: evalAfter,
    refinement,
  };
}

/** The guard's float layers chosen on the calibration data, measured worse on the evaluation data (the report and --json carry it). */
function guardWarnings(tuning: AccuracyTuning | undefined): string[] {
  const h = tuning?.heldOut;
  if (!h || !(h.cosineAfter < h.cosineBefore)) return [];
  return [
    `the accuracy guard's ${tuning!.keptFloat.length} float layer(s), chosen on the calibration data, did not help on ${h.source} (cosine ${h.cosineBefore.toFixed(5)} with every layer quantized, ${h.cosineAfter.toFixed(5)} as written): ` +
      'too few calibration samples to choose on; give more (--calib, --samples), or keep every layer quantized with --no-accuracy-guard',
  ];
}

/** Outputs that turned Inf/NaN once quantized (the report and --json carry it). */
function nonFiniteWarnings(fidelity: Fidelity | undefined): string[] {
  return fidelity?.nonFinite
    ? [`${fidelity.nonFinite.message}; keep those ops float32 (--calib REAL_DATA measures ranges, or --exclude-nodes)`]
    : [];
}

/** Why a quantized model measured slower than float, in terms of the mode's kernels (the report and --json carry it). */
function slowdownWarnings(mode: QuantMode, latency: readonly LatencyComparison[]): string[] {
  const slower = latency.filter((l) => l.ratio > 1);
  if (!slower.length) return [];
  const at = slower.map((l) => `${l.ratio.toFixed(2)}x at ${l.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')}`).join('; ');
  const why = {
    static:
      'narrow layers gain nothing from int8 kernels and pay for the Q/DQ around them: keep them float with --exclude-nodes or --op-types, or try --mode dynamic',
    dynamic:
      'quantizing activations at run time costs more than small MatMuls save: quantize only the large ones (--exclude-nodes), or keep the model float',
    fp16: "ONNX Runtime's CPU provider has float16 kernels for few ops and casts the rest back to float32: use fp16 for size, or on a GPU provider (--provider cuda)",
    int4: 'MatMulNBits unpacks its 4-bit blocks on every run, which pays off only for MatMuls bound by memory (large weights, small batches): try --accuracy-level 4, or --mode dynamic',
  }[mode];
  return [`the ${mode} model is slower than float on this machine (${at}): ${why}`];
}

/** Serialized size in bytes (summed over encoder chunks, so models over 2 GiB are fine). */
function encodedSize(m: ModelProto): number {
  return encodeMessageChunks(m, 'ModelProto').reduce((n, c) => n + c.byteLength, 0);
}

function resolveModel(m: ModelProto | string): { model: ModelProto; source: string } {
  if (typeof m !== 'string') return { model: m, source: m.graph?.name ?? 'model' };
  if (m.startsWith('zoo:')) return { model: zooModel(m.slice(4)), source: m };
  return { model: loadModel(m), source: m };
}

/**
 * Seeded synthetic samples for a model's inputs: floats uniform in [-1, 1), integers in [0, 2). Per-sample
 * dims come from `--shape` (after its batch dim), else the model, symbolic ones from `--dim`, else 32.
 * Inputs with a given value (`--input`) take it instead.
 */
export function syntheticData(
  model: ModelProto,
  samples: number,
  fixes: { dims?: Record<string, number>; shapes?: Record<string, number[]>; values?: Record<string, InputValue> },
  seed: number,
  source: string,
): SampleData {
  const rand = mulberry32(seed);
  const arrays: Record<string, { data: Float32Array; dims: number[] }> = {};
  // Samples go along dim 0 of each input; an input whose dim 0 is not the batch (a recurrent state
  // [layers, batch, hidden]) gets zeros, an initial state, spread over its batch dim wherever it sits — or,
  // its shape given (--shape state=2x1x128), zeros of exactly that shape. (Sampled along its dim 0 instead,
  // such a state once took its leading 2 for a fixed batch size and was fed beside 2 stacked samples of
  // the other inputs: Silero VAD v5's LSTM then refused its initial state.)
  const lead = batchDim(model, fixes);
  const values: Record<string, InputValue> = { ...fixes.values };
  for (const input of graphInputs(model)) {
    if (fixes.values?.[input.name]) continue;
    const given = fixes.shapes?.[input.name];
    if (lead && input.name !== lead.input && input.shape?.length && input.shape[0] !== lead.dim) {
      values[input.name] = given
        ? { dims: [...given], data: new Float64Array(given.reduce((a, b) => a * b, 1)), text: `${input.name}=0` }
        : { dims: [], data: Float64Array.of(0), text: `${input.name}=0` };
      continue;
    }
    if (!input.shape && !given)
      throw badInput(`input '${input.name}' has no shape; pass --shape ${input.name}=D1xD2x... or --calib/--eval data for it`);
    if (input.shape?.length === 0)
      throw badInput(
        `input '${input.name}' is a scalar, which synthetic samples cannot give; pass its value with --input ${input.name}=VALUE`,
      );
    const shape = given ? given.slice(1) : input.shape!.slice(1).map((d) => (typeof d === 'number' ? d : (fixes.dims?.[d] ?? 32)));
    const per = shape.reduce((a, b) => a * b, 1);
    const int = input.elemType !== 1;
    arrays[input.name] = {
      data: Float32Array.from({ length: samples * per }, () => (int ? Math.floor(rand() * 2) : rand() * 2 - 1)),
      dims: [samples, ...shape],
    };
  }
  return matchInputs(arrays, graphInputs(model), source, undefined, {
    values,
    dims: fixes.dims,
    batch: batchDim(model, fixes)?.given?.size,
  });
}

/**
 * Batch sizes to time, by the rule every command shares (`resolveBatchSizes`); by default 1 and 8 for a
 * symbolic batch dim, else the model's own, which is the only size such a model runs at.
 */
function timedBatchSizes(
  model: ModelProto,
  fixes: { dims: Record<string, number>; shapes: Record<string, number[]>; values: Record<string, InputValue> },
  requested: number[] | undefined,
): number[] {
  const lead = batchDim(model, fixes);
  const own = lead && typeof lead.dim === 'number' ? lead.dim : undefined;
  const sizes = resolveBatchSizes(model, fixes, requested) ?? (own !== undefined ? [own] : [...DEFAULT_BATCH_SIZES]);
  for (const b of sizes) if (!Number.isInteger(b) || b < 1) throw badInput(`batch size must be an integer >= 1, got ${b}`);
  if (own !== undefined && sizes.some((b) => b !== own))
    throw badInput(`the model fixes its batch at ${own}, so latency can only be timed at batch ${own}; pass --batch-sizes ${own}`);
  return sizes;
}

/**
 * Input shapes latency is timed on at `batch`: data inputs take the evaluation data's per-sample dims,
 * with `--shape` and `--dim` winning where given; given values take the shape they fill.
 */
function timedInputs(
  model: ModelProto,
  data: SampleData,
  fixes: { dims: Record<string, number>; shapes: Record<string, number[]>; values: Record<string, InputValue> },
  batch: number,
): ConcreteInput[] {
  const inputs = graphInputs(model);
  // Values the user gave, or the data gives every batch (synthetic data's zero recurrent states).
  const givenValue = (name: string) => fixes.values[name] ?? data.values?.[name];
  const dims = new Map([
    ...Object.entries({ ...shapeSymbols(model, fixes.shapes), ...fixes.dims }),
    ...inputs.flatMap((i) => (typeof i.shape?.[0] === 'string' && !givenValue(i.name) ? [[i.shape[0], batch] as const] : [])),
  ]);
  return inputs.map((i) => {
    const value = givenValue(i.name);
    if (value) return { name: i.name, elemType: i.elemType, shape: valueShape(i, value, dims) };
    const given = fixes.shapes[i.name];
    const per = given
      ? given.slice(1)
      : data.features[i.name]!.dims.slice(1).map((n, k) => {
          const d = i.shape?.[k + 1];
          return typeof d === 'string' ? (fixes.dims[d] ?? n) : n;
        });
    return { name: i.name, elemType: i.elemType, shape: [batch, ...per] };
  });
}
