/**
 * The data in the training graph's terms, checked and converted once before any step: features typed for
 * their model input and shaped to its static dims, labels typed for the loss and checked against the
 * model's classes.
 */
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import type { ModelProto } from '../ir/proto.js';
import { sampleSize, type ArrayTensor, type Dataset } from '../data/dataset.js';
import { defaultOpset, type TrainingGraph } from './autodiff.js';
import type { LossSpec } from './losses.js';
import { staticTypes, valueInfoType } from './shapes.js';

/**
 * Checks and converts the data before any training: every model input has a feature array whose
 * per-sample element count matches the input's static dims (reshaped to them), features become
 * float32, class-index labels become int64.
 */
export function prepareData(model: ModelProto, dataInputs: string[], ds: Dataset, loss: LossSpec, what: string): Dataset {
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
export type FeatureArray = Float32Array | BigInt64Array | Int32Array | Uint8Array;

const FEATURE_TYPES = new Set<number>([DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.BOOL]);

export function featureTensor(data: FeatureArray, dims: number[]): ort.Tensor {
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
export function checkLabels(tg: TrainingGraph, loss: LossSpec, sets: (Dataset | undefined)[]): number | undefined {
  const types = staticTypes(tg.model.graph!, defaultOpset(tg.model));
  const shape = types.types.get(tg.outputs[0]!)?.shape;
  const k = shape?.length === 2 && typeof shape[1] === 'number' ? shape[1] : undefined;
  if (loss.kind !== 'cross-entropy' || (loss.target ?? 'indices') !== 'indices') {
    // A target per output value: labels of another size (class indices for an mse loss, say) fail here, before any step.
    const per = shape?.slice(1);
    if (per?.every((d) => typeof d === 'number')) {
      // Distillation's labels are the teacher's K logits and the class index.
      const want = (per as number[]).reduce((a, b) => a * b, 1) + (loss.kind === 'distill' ? 1 : 0);
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
  // Index labels are one class per sample: an output of another rank (a dense prediction, say) has no
  // [batch, classes] logits for them, and the loss graph built for it would fail inside onnxruntime.
  if (shape && shape.length !== 2)
    throw badInput(
      `cross-entropy with class-index labels needs [batch, classes] logits, and the output '${tg.outputs[0]}' is [${shape.join(', ')}]; train it with --loss mse (or l1) against targets of its shape`,
    );
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
