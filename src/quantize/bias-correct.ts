/**
 * Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
 * Correction", ICCV 2019, §4.2), measured on the quantized model itself, layer by layer.
 *
 * Quantization shifts the mean of a layer's output per channel: rounding its weights (E[W̃x] − E[Wx]), and
 * rounding its input, which is not zero-mean where the input is: a flat image region (a page's white
 * background) gives every channel one constant value, whose rounding error is the same at every pixel and
 * does not average out. Measured on PP-OCRv4 det and clean rendered pages, that coherent error shrank the
 * detected text regions and cost 0.14 of output cosine, while a twin of each layer applying the rounded
 * weights to the float input (the correction this replaced) saw none of it.
 *
 * So the shift of each Conv/Gemm is measured on the calibration data as (mean output in the QDQ model) −
 * (mean output in the float model), per channel, with every earlier correction in place, and subtracted
 * from its int32 bias. Corrections compound by design: a layer absorbs what its inputs still carry. Layers
 * whose earlier targets are all corrected are measured in the same pass, and the biases are inputs of one
 * measuring session, so a model costs one float pass plus one QDQ pass per wave of layers (about its depth
 * in Convs), not one session per layer.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph, topoOrder } from '../ir/graph.js';
import { valueInfo, withFloatOutputs } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { createSession, ortRunError } from '../runtime/session.js';
import { copyModel } from './common.js';
import { batches, type SampleData } from './data.js';

/** A Conv or Gemm of the QDQ model whose bias is an int32 DequantizeLinear, and the float model's name for its output. */
export interface BiasTarget {
  node: NodeProto;
  /** The tensor holding this layer's output in the float model (before any folded ReLU). */
  reference: string;
}

/**
 * Corrects the int32 biases of `targets` in `qdq` (in place) so that each layer's mean output per channel
 * on `data` matches `float`'s; returns how many biases changed. `cache` keeps the float model's means by
 * tensor name across calls with the same float model and data (the accuracy guard quantizes the same
 * model many times, keeping other layers float): the float pass then runs only for names not seen before.
 */
export async function correctBias(
  qdq: ModelProto,
  float: ModelProto,
  targets: readonly BiasTarget[],
  data: SampleData,
  batchSize = 8,
  cache: Map<string, Float64Array> = new Map(),
): Promise<number> {
  const g = new Graph(qdq.graph!);
  const layers = targets.flatMap((t) => {
    const b = biasOf(g, t.node);
    return b ? [{ ...t, ...b, output: t.node.output[0]! }] : [];
  });
  if (layers.length === 0) return 0;
  const missing = [...new Set(layers.map((l) => l.reference))].filter((name) => !cache.has(name));
  if (missing.length) {
    const floatSession = await createSession(withFloatOutputs(float, missing), { graphOptimizationLevel: 'basic' });
    try {
      const means = await meansOf(floatSession, float, missing, data, batchSize, {});
      missing.forEach((name, k) => cache.set(name, means[k]!));
    } finally {
      await floatSession.release();
    }
  }
  const reference = layers.map((l) => cache.get(l.reference)!);

  // The measuring model: every target's output exposed, every int32 bias a graph input.
  const probe = copyModel(qdq);
  const pg = probe.graph!;
  const biasNames = new Set(layers.map((l) => l.tensor.name!));
  pg.initializer = pg.initializer.filter((t) => !biasNames.has(t.name ?? ''));
  pg.input.push(...layers.map((l) => valueInfo(l.tensor.name!, DataType.INT32, l.tensor.dims)));
  const current = layers.map((l) => Int32Array.from(tensorArray(l.tensor) as Int32Array));
  const feedsOf = () => Object.fromEntries(layers.map((l, k) => [l.tensor.name!, new Tensor('int32', current[k]!, l.tensor.dims)]));

  const before = upstreamTargets(
    qdq,
    layers.map((l) => l.node),
  );
  const done = new Set<number>();
  const session = await createSession(
    withFloatOutputs(
      probe,
      layers.map((l) => l.output),
    ),
    // 'extended' runs what it can of the QDQ graph as ORT's fused kernels (PP-OCRv4 det: 12.1 s -> 8.5 s
    // for 41 waves, the same corrections to the cosine's 4th digit); the biases stay graph inputs.
    { graphOptimizationLevel: 'extended' },
  );
  try {
    while (done.size < layers.length) {
      const wave = layers.map((_, k) => k).filter((k) => !done.has(k) && [...before[k]!].every((j) => done.has(j)));
      const measured = await meansOf(
        session,
        float,
        wave.map((k) => layers[k]!.output),
        data,
        batchSize,
        feedsOf(),
      );
      wave.forEach((k, i) => {
        const { scale, beta } = layers[k]!;
        const shift = measured[i]!.map((v, c) => v - reference[k]![c]!);
        done.add(k);
        if (shift.length !== current[k]!.length) return;
        current[k] = Int32Array.from(current[k]!, (q, c) =>
          Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, q - Math.round(shift[c]! / beta / scale[scale.length === 1 ? 0 : c]!))),
        );
      });
    }
  } finally {
    await session.release();
  }
  let changed = 0;
  layers.forEach((l, k) => {
    const old = tensorArray(l.tensor);
    if (current[k]!.every((v, c) => v === old[c])) return;
    const i = qdq.graph!.initializer.indexOf(l.tensor);
    qdq.graph!.initializer[i] = makeTensor(l.tensor.name!, DataType.INT32, l.tensor.dims, current[k]!);
    changed++;
  });
  return changed;
}

/** The int32 bias initializer behind `n`'s bias DequantizeLinear and its per-channel (or single) scale. */
function biasOf(g: Graph, n: NodeProto): { tensor: TensorProto; scale: Float32Array; beta: number } | undefined {
  if ((n.opType !== 'Conv' && n.opType !== 'Gemm') || !n.input[2]) return undefined;
  const beta = n.opType === 'Gemm' ? attrReader(n).float('beta', 1) : 1;
  if (beta === 0) return undefined;
  const dq = g.producer(n.input[2]);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const tensor = g.initializer(dq.input[0] ?? '');
  const scale = g.initializer(dq.input[1] ?? '');
  if (!tensor || tensor.dataType !== DataType.INT32 || tensor.dims.length !== 1 || !scale) return undefined;
  // A bias initializer shared with another node would be corrected for one of them only.
  if (g.consumers(tensor.name!).length !== 1 || g.consumers(dq.output[0]!).length !== 1) return undefined;
  const channels = tensor.dims[0]!;
  // One shift per channel needs one bias value per output channel (not a Gemm C broadcast from one value).
  if (channels === 1 && n.opType === 'Gemm') return undefined;
  return { tensor, scale: Float32Array.from(tensorArray(scale) as Float32Array), beta };
}

/** For each target, the indices of the targets upstream of it (its correction must wait for theirs). */
function upstreamTargets(m: ModelProto, targets: readonly NodeProto[]): Set<number>[] {
  const index = new Map(targets.map((n, k) => [n, k]));
  const g = m.graph!;
  const available = new Set([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
  // Targets upstream of each value, in topological order (no recursion: real graphs are thousands deep).
  const ups = new Map<string, Set<number>>();
  const result = targets.map(() => new Set<number>());
  for (const n of topoOrder(g.node, available)) {
    const here = new Set<number>();
    for (const v of n.input) for (const k of ups.get(v) ?? []) here.add(k);
    const k = index.get(n);
    if (k !== undefined) result[k] = new Set(here);
    if (k !== undefined) here.add(k);
    for (const o of n.output) if (o) ups.set(o, here);
  }
  return result;
}

/** Per-channel (axis 1) means of `names` over `data` (batched as for `model`), from `session` with `extra` feeds. */
async function meansOf(
  session: InferenceSession,
  model: ModelProto,
  names: readonly string[],
  data: SampleData,
  batchSize: number,
  extra: Record<string, Tensor>,
): Promise<Float64Array[]> {
  const sums: (Float64Array | undefined)[] = names.map(() => undefined);
  const counts = names.map(() => 0);
  for (const batch of batches(data, model, batchSize)) {
    let out: InferenceSession.ReturnType;
    try {
      out = await session.run({ ...batch.feeds, ...extra }, [...names]);
    } catch (e) {
      throw ortRunError(e, `measuring bias shifts on calibration data from ${data.source}`);
    }
    names.forEach((name, k) => {
      const { data: values, dims } = out[name]!;
      const x = values as Float32Array;
      const channels = dims[1] ?? 1;
      const inner = dims.slice(2).reduce((p, q) => p * q, 1);
      const s = (sums[k] ??= new Float64Array(channels));
      for (let i = 0; i < x.length; i++) s[Math.floor(i / inner) % channels]! += x[i]!;
      counts[k]! += x.length / channels;
    });
  }
  return sums.map((s, k) => Float64Array.from(s ?? [], (v) => v / Math.max(1, counts[k]!)));
}
