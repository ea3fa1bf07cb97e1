/**
 * Everything `hone quantize` does, as one typed function: resolve the model, load calibration and
 * evaluation data, quantize (with accuracy-aware tuning when a target is given), then prove the result:
 * size, output fidelity and accuracy on the data, and latency of both models measured side by side.
 */
import type { ModelProto } from '../ir/proto.js';
import { encodeMessageChunks } from '../ir/codec.js';
import { loadModel } from '../ir/model.js';
import { zooModel } from '../zoo/index.js';
import { graphInputs, type ConcreteInput } from '../runtime/inputs.js';
import { mulberry32 } from '../util/random.js';
import { badInput } from '../errors.js';
import type { NodeSelection, QuantizeReport, QuantizeResult, QuantMode } from './common.js';
import { quantizeDynamic, type DynamicOptions } from './dynamic.js';
import { calibrateStatic, quantizeStatic, type Calibration, type StaticOptions } from './static.js';
import { convertFp16, type Fp16Options } from './fp16.js';
import { quantizeInt4, type Int4Options } from './int4.js';
import { loadSampleData, matchInputs, type SampleData } from './data.js';
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
  /** Sizes for symbolic dims of synthetic data, e.g. {batch: 8, seq: 128}. */
  dims?: Record<string, number>;
  /** Latency comparison settings; false skips it. */
  latency?: LatencyOptions | false;
  onProgress?: (message: string) => void;
}

export interface QuantizeSummary {
  source: string;
  mode: QuantMode;
  report: QuantizeReport;
  /** Encoded model sizes, bytes. */
  size: { float: number; quantized: number; ratio: number };
  data: { calibration?: string; evaluation?: string };
  fidelity?: Fidelity;
  latency?: LatencyComparison;
  tuning?: AccuracyTuning;
}

export async function quantizeModel(job: QuantizeJob): Promise<{ model: ModelProto; summary: QuantizeSummary }> {
  const { model, source } = resolveModel(job.model);
  const zoo = typeof job.model === 'string' && job.model.startsWith('zoo:') ? job.model.slice(4).split(':')[0] : undefined;
  const progress = job.onProgress ?? (() => {});
  const opts = job.options ?? {};

  let calib: SampleData | undefined;
  if (job.calib) calib = loadSampleData(job.calib, model, { samples: job.samples ?? 256, split: 'train' });
  else if (job.mode === 'static') {
    if (zoo === 'lenet5') calib = loadSampleData('mnist', model, { samples: job.samples ?? 256, split: 'train' });
    else if (zoo) calib = syntheticData(model, job.samples ?? 64, job.dims ?? {}, 1, `synthetic: seeded uniform [-1, 1) inputs for zoo:${zoo} (untrained zoo weights have no real data distribution)`);
    else throw badInput(`static quantization needs calibration data: pass --calib DATA (a .npy/.npz file or folder of .npy with arrays named after the model inputs: ${graphInputs(model).map((i) => i.name).join(', ')}), or use --mode dynamic`);
  }
  let evalData: SampleData | undefined;
  if (job.eval) evalData = loadSampleData(job.eval, model, { samples: job.samples, split: 'test' });
  else if (zoo === 'lenet5') evalData = loadSampleData('mnist', model, { samples: job.samples ?? 1000, split: 'test' });
  else evalData = calib ?? syntheticData(model, job.samples ?? 32, job.dims ?? {}, 2, 'synthetic: seeded uniform [-1, 1) inputs (pass --eval DATA for real data)');

  let calibration: Calibration | undefined;
  const quantize = async (exclude: string[]): Promise<QuantizeResult> => {
    const o = { ...opts, excludeNodes: [...(opts.excludeNodes ?? []), ...exclude] };
    switch (job.mode) {
      case 'dynamic': return quantizeDynamic(model, o);
      case 'fp16': return convertFp16(model, o);
      case 'int4': return quantizeInt4(model, o);
      case 'static': {
        if (!calibration) {
          progress(`calibrating (${o.method ?? 'minmax'}) on ${calib!.size} samples from ${calib!.source}`);
          calibration = await calibrateStatic(model, calib!, { ...o, excludeNodes: [] });
        }
        return quantizeStatic(model, calibration, o);
      }
    }
  };

  let result: QuantizeResult;
  let fidelity: Fidelity | undefined;
  let tuning: AccuracyTuning | undefined;
  if (job.maxAccuracyDrop !== undefined) {
    progress('quantizing with an accuracy target');
    ({ result, fidelity, tuning } = await tuneForAccuracy(model, quantize, evalData, job.maxAccuracyDrop, { onProgress: progress }));
  } else {
    result = await quantize([]);
    progress(`comparing outputs on ${evalData.size} samples from ${evalData.source}`);
    fidelity = await compareOutputs(model, result.model, evalData);
  }

  let latency: LatencyComparison | undefined;
  if (job.latency !== false) {
    const inputs = firstBatchShapes(model, evalData, job.dims ?? {});
    progress(`timing float and quantized side by side (${inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(', ')})`);
    latency = await compareLatency(model, result.model, inputs, job.latency ?? {});
  }
  const floatBytes = encodedSize(model);
  const quantBytes = encodedSize(result.model);
  return {
    model: result.model,
    summary: {
      source, mode: job.mode, report: result.report,
      size: { float: floatBytes, quantized: quantBytes, ratio: quantBytes / floatBytes },
      data: { calibration: calib?.source, evaluation: evalData.source },
      fidelity, latency, tuning,
    },
  };
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
 * Seeded synthetic samples for a model's inputs: floats uniform in [-1, 1), integers in [0, 2). Symbolic
 * dims take `dims` values, else 8 for the leading (batch) dim and 32 for others.
 */
export function syntheticData(model: ModelProto, samples: number, dims: Record<string, number>, seed: number, source: string): SampleData {
  const rand = mulberry32(seed);
  const arrays: Record<string, { data: Float32Array; dims: number[] }> = {};
  for (const input of graphInputs(model)) {
    if (!input.shape) throw badInput(`input '${input.name}' has no shape; pass --calib/--eval data for it`);
    const shape = input.shape.slice(1).map((d) => (typeof d === 'number' ? d : dims[d] ?? 32));
    const per = shape.reduce((a, b) => a * b, 1);
    const int = input.elemType !== 1;
    arrays[input.name] = { data: Float32Array.from({ length: samples * per }, () => (int ? Math.floor(rand() * 2) : rand() * 2 - 1)), dims: [samples, ...shape] };
  }
  const data = matchInputs(arrays, graphInputs(model), source);
  return data;
}

/** Input shapes latency is measured on: the evaluation data's, with a symbolic batch from `dims` or up to 16. */
function firstBatchShapes(model: ModelProto, data: SampleData, dims: Record<string, number>): ConcreteInput[] {
  return graphInputs(model).map((i) => {
    const t = data.features[i.name]!;
    const d0 = i.shape?.[0];
    const lead = typeof d0 === 'number' ? d0 : (d0 !== undefined ? dims[d0] : undefined) ?? Math.min(16, data.size);
    return { name: i.name, elemType: i.elemType, shape: [lead, ...t.dims.slice(1)] };
  });
}
