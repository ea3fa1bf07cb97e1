/**
 * Metrics with the current weights: a forward + loss model whose parameters are inputs, run over a
 * dataset in chunks, and the top-1/top-k counts the training steps share.
 */
import * as ort from 'onnxruntime-node';
import { valueInfo } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { GraphProto, ModelProto } from '../ir/proto.js';
import { GradEmitter } from '../ops/grad/index.js';
import { sampleSize, type Dataset } from '../data/dataset.js';
import { defaultOpset, type TrainingGraph } from './autodiff.js';
import type { GivenFeeds } from './inputs.js';
import { appendLoss, labelsType, type LossSpec } from './losses.js';
import { featureTensor, type FeatureArray } from './prepare.js';
import { trainingRunError } from './run-errors.js';
import { staticTypes } from './shapes.js';
import { coreThreads } from '../runtime/cpu.js';
import { createSession } from '../runtime/session.js';

/** Loss and, for a classifier, accuracy over a dataset. */
export interface Evaluation {
  loss: number;
  accuracy?: number;
  /** Top-k accuracy, where the model has more than k classes. */
  topK?: number;
}

/** What an evaluation reads besides the data: the model, its fixed inputs and the live weights. */
export interface EvalContext {
  session: ort.InferenceSession;
  tg: TrainingGraph;
  dataInputs: string[];
  given: GivenFeeds;
  params: readonly Float32Array[];
  buffers: readonly Float32Array[];
  /** The class count for index labels; undefined: loss only. */
  classes: number | undefined;
  topK: number;
}

/** Loss and accuracy over a whole (prepared) dataset, in batches, with the current parameters. */
export async function evaluate(cx: EvalContext, ds: Dataset): Promise<Evaluation> {
  const { session, tg, dataInputs, given, params, buffers, classes, topK } = cx;
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
    topK: classes !== undefined && classes > topK ? ck / ds.size : undefined,
  };
}

/** Top-1 and top-k correct counts for a batch of logits. */
/**
 * Top-1 and top-k hits of logits `pred` [n, k] against class indices, or against probability labels [n, k]
 * (mixup/cutmix), whose most probable class counts as the sample's class.
 */
export function countCorrect(
  pred: Float32Array,
  labels: BigInt64Array | Float32Array,
  n: number,
  k: number,
  topK: number,
): [number, number] {
  let c1 = 0;
  let ck = 0;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let y = 0;
    if (labels instanceof BigInt64Array) y = Number(labels[i]);
    else for (let j = 1; j < k; j++) if (labels[row + j]! > labels[row + y]!) y = j;
    const target = pred[row + y]!;
    let above = 0;
    for (let j = 0; j < k; j++) if (pred[row + j]! > target) above++;
    if (above === 0) c1++;
    if (above < topK) ck++;
  }
  return [c1, ck];
}

/** Forward + loss only, parameters as inputs: for validation and test metrics with the current weights. */
export function buildEvalModel(model: ModelProto, tg: TrainingGraph, loss: LossSpec): ModelProto {
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
 * A classifier's logits over a labelled set, in chunks, and its top-1 accuracy: each of `inputs` read from the
 * feature of that name, reshaped to `shapes` when given (samples of the data's layout fed to another one).
 */
export async function classifierScores(
  model: ModelProto,
  ds: Dataset,
  inputs: readonly string[],
  shapes?: ReadonlyMap<string, number[]>,
): Promise<{ logits: Float32Array; accuracy: number }> {
  const session = await createSession(model, { intraOpThreads: coreThreads() });
  try {
    const chunks: Float32Array[] = [];
    for (let start = 0; start < ds.size; start += 256) {
      const m = Math.min(256, ds.size - start);
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of inputs) {
        const f = ds.features[name]!;
        const per = sampleSize(f);
        feeds[name] = featureTensor((f.data as FeatureArray).subarray(start * per, (start + m) * per), [
          m,
          ...(shapes?.get(name) ?? f.dims.slice(1)),
        ]);
      }
      const out = await session.run(feeds);
      chunks.push((out[session.outputNames[0]!]!.data as Float32Array).slice());
    }
    const logits = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      logits.set(c, o);
      o += c.length;
    }
    const k = logits.length / ds.size;
    const y = ds.labels.data;
    let right = 0;
    for (let i = 0; i < ds.size; i++) if (argmaxAt(logits, i * k, k) === Number(y[i])) right++;
    return { logits, accuracy: right / ds.size };
  } finally {
    await session.release();
  }
}

/** The index of the largest of v[from … from + k − 1], counted from `from`. */
export function argmaxAt(v: Float32Array, from: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[from + j]! > v[from + best]!) best = j;
  return best;
}
