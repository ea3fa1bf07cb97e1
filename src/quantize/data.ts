/**
 * Calibration and evaluation data for quantization (and optimize, and train's calibration): any format
 * data/read.ts takes — arrays named after the model's inputs, or one array `input`; labels in `label`. Checked against the model's inputs up front (name, rank, fixed dims) so a
 * mismatch is one clear error rather than an ORT failure mid-calibration; served in batches.
 */
import * as ort from 'onnxruntime-node';
import type { ModelProto } from '../ir/proto.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import { graphInputs, valueShape, type InputInfo, type InputValue } from '../runtime/inputs.js';
import { valueTensor } from '../runtime/values.js';
import { readArrays, type ReadOptions } from '../data/read.js';
import { type ArrayTensor, takeSamples } from '../data/dataset.js';
import { badInput } from '../errors.js';

export interface SampleData {
  /** Arrays by model input name, samples first. */
  features: Record<string, ArrayTensor>;
  /** Class labels, one per sample, when the data has them. */
  labels?: ArrayTensor;
  size: number;
  /** Where the data came from, for reports. */
  source: string;
  /**
   * Values given for inputs that are not data (`--input sr=16000`): every batch gets them, repeated over
   * the batch; `dims` sizes symbolic dims such a value leaves out other than the batch (`--dim`).
   */
  values?: Record<string, InputValue>;
  dims?: Record<string, number>;
  /** A batch size the user fixed (`--dim batch=1`, `--shape`): every batch has exactly it, as in a model that fixes its batch. */
  batch?: number;
}

/** Inputs fed the same given value in every batch, the sizes of their other symbolic dims, and a fixed batch size. */
export interface GivenInputs {
  values?: Record<string, InputValue>;
  dims?: Record<string, number>;
  batch?: number;
}

/**
 * Reads `spec` (a path or 'mnist') and matches it to `model`'s inputs; `samples` keeps the first N. Inputs
 * with a given value take it instead of data.
 */
export async function loadSampleData(
  spec: string,
  model: ModelProto,
  opts: { samples?: number; split?: 'train' | 'test'; given?: GivenInputs } & Pick<ReadOptions, 'image' | 'skipCorrupt'> = {},
): Promise<SampleData> {
  const inputs = graphInputs(model);
  const r = await readArrays(spec, { split: opts.split, image: opts.image, skipCorrupt: opts.skipCorrupt, limit: opts.samples });
  return matchInputs(r.arrays, inputs, r.source, opts.samples, opts.given);
}

/** Matches named arrays to the model's inputs (those without a given value), checking rank and fixed dims. */
export function matchInputs(
  arrays: Record<string, ArrayTensor>,
  inputs: readonly InputInfo[],
  what: string,
  samples?: number,
  given: GivenInputs = {},
): SampleData {
  const features: Record<string, ArrayTensor> = {};
  const found = Object.keys(arrays).join(', ') || '(none)';
  const values = given.values ?? {};
  for (const input of inputs) {
    if (input.name in values) {
      if (input.name in arrays) throw badInput(`both ${what} and --input ${values[input.name]!.text} give input '${input.name}'; drop one`);
      continue;
    }
    const key = input.name in arrays ? input.name : inputs.length === 1 && 'input' in arrays ? 'input' : undefined;
    if (input.shape?.length === 0)
      throw badInput(
        `input '${input.name}' is a scalar, which data (samples first) cannot give; pass its value with --input ${input.name}=VALUE`,
      );
    if (!key)
      throw badInput(
        `${what} has no array for model input '${input.name}' (found: ${found}); name the array '${input.name}', or give a fixed value with --input ${input.name}=VALUE`,
      );
    const t = arrays[key]!;
    const expected = input.shape;
    if (expected) {
      const shown = `[${expected.join(',')}]`;
      if (t.dims.length !== expected.length) {
        throw badInput(
          `${what}: array '${key}' has shape [${t.dims.join(',')}], but input '${input.name}' expects ${shown} (samples first); reshape the data`,
        );
      }
      expected.forEach((d, i) => {
        if (i > 0 && typeof d === 'number' && t.dims[i] !== d) {
          throw badInput(
            `${what}: array '${key}' has shape [${t.dims.join(',')}], but input '${input.name}' expects ${shown}; dim ${i} must be ${d}`,
          );
        }
      });
    }
    if (!tensorTypeFor(input.elemType))
      throw badInput(`input '${input.name}' has element type ${dtypeName(input.elemType)}, which calibration data cannot feed`);
    features[input.name] = t;
  }
  const labels = arrays.label ?? arrays.labels;
  if (Object.keys(features).length === 0)
    throw badInput(
      `every input of the model has a value from --input, so ${what} feeds nothing; drop --input for the inputs the data should give`,
    );
  let size = Math.min(...Object.values(features).map((t) => t.dims[0]!));
  for (const [name, t] of Object.entries(features)) {
    if (t.dims[0] !== size)
      throw badInput(`${what}: '${name}' has ${t.dims[0]} samples but other inputs have ${size}; give every input the same count`);
  }
  if (labels && labels.dims[0] !== size)
    throw badInput(`${what}: 'label' has ${labels.dims[0]} entries for ${size} samples; they must match`);
  if (samples !== undefined) size = Math.min(size, samples);
  if (size === 0) throw badInput(`${what} holds no samples; give at least one`);
  return { features, labels, size, source: what, values: given.values, dims: given.dims, batch: given.batch };
}

export interface Batch {
  feeds: Record<string, ort.Tensor>;
  /** Labels of the batch's samples, when known. */
  labels?: number[];
  size: number;
}

/**
 * The data in batches of `batchSize` samples (the last may be smaller), converted to each input's
 * element type, with the given values (`data.values`) repeated over each batch. A model with a fixed
 * batch dim, or data with a batch the user fixed, gets batches of exactly that size (a short tail is dropped).
 */
/** The samples at `indices` (copied), with the same given values and fixed sizes; `what` names them for reports. */
export function sampleSubset(data: SampleData, indices: readonly number[], what: string): SampleData {
  return {
    ...data,
    features: Object.fromEntries(Object.entries(data.features).map(([k, v]) => [k, takeSamples(v, indices)])),
    ...(data.labels ? { labels: takeSamples(data.labels, indices) } : {}),
    size: indices.length,
    source: what,
  };
}

export function* batches(data: SampleData, model: ModelProto, batchSize: number): Generator<Batch> {
  const values = data.values ?? {};
  const inputs = graphInputs(model).filter((i) => !(i.name in values));
  const given = graphInputs(model).filter((i) => i.name in values);
  const fixed = inputs.map((i) => i.shape?.[0]).find((d): d is number => typeof d === 'number') ?? data.batch;
  const bs = fixed ?? batchSize;
  if (fixed !== undefined && data.size < fixed) {
    throw badInput(
      `${data.source} has ${data.size} sample(s), fewer than the model's fixed batch size ${fixed}; give at least ${fixed} (raise --samples)`,
    );
  }
  for (let start = 0; start < data.size; start += bs) {
    const n = Math.min(bs, data.size - start);
    if (fixed !== undefined && n < fixed) break;
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) {
      const t = data.features[input.name]!;
      const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
      feeds[input.name] = toTensor(t.data.subarray(start * per, (start + n) * per), input.elemType, [n, ...t.dims.slice(1)]);
    }
    // The data inputs' leading symbols are the batch; the given values are repeated over it.
    const dims = new Map([
      ...Object.entries(data.dims ?? {}),
      ...inputs.flatMap((i) => (typeof i.shape?.[0] === 'string' ? [[i.shape[0], n] as const] : [])),
    ]);
    for (const input of given) feeds[input.name] = valueTensor(input, valueShape(input, values[input.name]!, dims), values[input.name]!);
    const labels = data.labels ? Array.from(data.labels.data.subarray(start, start + n) as ArrayLike<number | bigint>, Number) : undefined;
    yield { feeds, labels, size: n };
  }
}

function tensorTypeFor(elemType: number): ort.Tensor.Type | undefined {
  switch (elemType) {
    case DataType.FLOAT:
      return 'float32';
    case DataType.INT64:
      return 'int64';
    case DataType.INT32:
      return 'int32';
    case DataType.UINT8:
      return 'uint8';
    case DataType.INT8:
      return 'int8';
    case DataType.DOUBLE:
      return 'float64';
    case DataType.BOOL:
      return 'bool';
    default:
      return undefined;
  }
}

function toTensor(src: ArrayLike<number | bigint>, elemType: number, dims: number[]): ort.Tensor {
  const num = (x: number | bigint) => Number(x);
  switch (elemType) {
    case DataType.FLOAT:
      return new ort.Tensor('float32', src instanceof Float32Array ? src.slice() : Float32Array.from(src as ArrayLike<number>, num), dims);
    case DataType.DOUBLE:
      return new ort.Tensor('float64', Float64Array.from(src as ArrayLike<number>, num), dims);
    case DataType.INT64:
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(src as ArrayLike<number>, (x) => BigInt(Math.trunc(num(x)))),
        dims,
      );
    case DataType.INT32:
      return new ort.Tensor('int32', Int32Array.from(src as ArrayLike<number>, num), dims);
    case DataType.UINT8:
      return new ort.Tensor('uint8', Uint8Array.from(src as ArrayLike<number>, num), dims);
    case DataType.INT8:
      return new ort.Tensor('int8', Int8Array.from(src as ArrayLike<number>, num), dims);
    default:
      return new ort.Tensor(
        'bool',
        Uint8Array.from(src as ArrayLike<number>, (x) => (num(x) ? 1 : 0)),
        dims,
      );
  }
}
