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
 *
 * A pass over the whole graph per wave costs the depth times the graph (PP-OCRv4 det: 41 waves, ~10 s per
 * correction). So the QDQ graph is cut into segments, one per wave: segment w holds the nodes whose upstream
 * targets are all in waves ≤ w, and starts from the values the earlier segments computed with their biases
 * corrected, kept per batch (cut at the int8 side of activation DequantizeLinears, which each consuming
 * segment repeats, as it repeats constant nodes such as weight dequantization, so ORT's QDQ fusions see the
 * same patterns as in the whole graph). A wave then costs two runs of its segment: one to measure, one with
 * the corrected biases to compute what later segments read — about two passes over the graph in all.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph, topoOrder, usedValues } from '../ir/graph.js';
import { inferShapes } from '../ops/infer.js';
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
 * `segmentBytes` bounds the values kept between segments (all calibration batches of them): past it, the
 * remaining waves are measured on the whole graph; 0 measures every wave so (the reference the segments are
 * tested against).
 */
export async function correctBias(
  qdq: ModelProto,
  float: ModelProto,
  targets: readonly BiasTarget[],
  data: SampleData,
  opts: { batchSize?: number; cache?: Map<string, Float64Array>; segmentBytes?: number } = {},
): Promise<number> {
  const batchSize = opts.batchSize ?? 8;
  const cache = opts.cache ?? new Map<string, Float64Array>();
  const segmentBytes = opts.segmentBytes ?? BIAS_SEGMENT_BYTES;
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

  const graph = upstreamTargets(
    qdq,
    layers.map((l) => l.node),
  );
  const current = layers.map((l) => Int32Array.from(tensorArray(l.tensor) as Int32Array));
  const correct = (k: number, measured: Float64Array) => {
    const { scale, beta } = layers[k]!;
    const shift = measured.map((v, c) => v - reference[k]![c]!);
    if (shift.length !== current[k]!.length) return;
    current[k] = Int32Array.from(current[k]!, (q, c) =>
      Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, q - Math.round(shift[c]! / beta / scale[scale.length === 1 ? 0 : c]!))),
    );
  };
  const waves = wavesOf(graph.before);
  const plan = segmentBytes > 0 ? planSegments(qdq, g, layers, waves, graph) : undefined;
  const segmentsDone = plan ? await correctBySegments(qdq, float, plan, layers, current, correct, data, batchSize, segmentBytes) : 0;
  if (segmentsDone < waves.length)
    await correctByWholeGraph(qdq, float, layers, waves.slice(segmentsDone), current, correct, data, batchSize);
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

/** Default bound on the activations bias correction keeps between graph segments (correctBias). */
export const BIAS_SEGMENT_BYTES = 2 ** 30;

type Layer = BiasTarget & { tensor: TensorProto; scale: Float32Array; beta: number; output: string };
type Correct = (k: number, measured: Float64Array) => void;

/** The targets in waves: each wave's targets have every upstream target in an earlier wave. */
function wavesOf(before: readonly Set<number>[]): number[][] {
  const done = new Set<number>();
  const waves: number[][] = [];
  while (done.size < before.length) {
    const wave = before.map((_, k) => k).filter((k) => !done.has(k) && [...before[k]!].every((j) => done.has(j)));
    if (wave.length === 0) throw new Error('bias correction: the targets depend on each other in a cycle');
    waves.push(wave);
    for (const k of wave) done.add(k);
  }
  return waves;
}

/** The measuring model: every target's output exposed, every int32 bias a graph input; one pass over the whole graph per wave. */
async function correctByWholeGraph(
  qdq: ModelProto,
  float: ModelProto,
  layers: readonly Layer[],
  waves: readonly number[][],
  current: Int32Array[],
  correct: Correct,
  data: SampleData,
  batchSize: number,
): Promise<void> {
  const probe = copyModel(qdq);
  const pg = probe.graph!;
  const biasNames = new Set(layers.map((l) => l.tensor.name!));
  pg.initializer = pg.initializer.filter((t) => !biasNames.has(t.name ?? ''));
  pg.input.push(...layers.map((l) => valueInfo(l.tensor.name!, DataType.INT32, l.tensor.dims)));
  const feedsOf = () => Object.fromEntries(layers.map((l, k) => [l.tensor.name!, new Tensor('int32', current[k]!, l.tensor.dims)]));
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
    for (const wave of waves) {
      const measured = await meansOf(
        session,
        float,
        wave.map((k) => layers[k]!.output),
        data,
        batchSize,
        feedsOf(),
      );
      wave.forEach((k, i) => correct(k, measured[i]!));
    }
  } finally {
    await session.release();
  }
}

interface SegmentPlan {
  waves: number[][];
  /** Per wave, its segment's nodes in topological order (constant nodes and activation dequantizations repeated where read). */
  nodes: NodeProto[][];
  /** Per wave, the values its segment reads from earlier segments or the graph's inputs. */
  inputs: string[][];
  /** Per wave, the values its segment computes that later segments read. */
  exports: string[][];
  /** Element type of every value passed between segments. */
  types: Map<string, number>;
}

/**
 * Cuts `qdq` into one segment per wave (see the header); undefined where the cut cannot be typed (a value
 * passed between segments whose element type shape inference does not know) or gains nothing (one wave).
 */
function planSegments(
  qdq: ModelProto,
  qg: Graph,
  layers: readonly Layer[],
  waves: number[][],
  graph: { order: NodeProto[]; nodeUps: Map<NodeProto, Set<number>> },
): SegmentPlan | undefined {
  if (waves.length < 2) return undefined;
  const g = qdq.graph!;
  const { order, nodeUps } = graph;
  const initializers = new Set(g.initializer.map((t) => t.name ?? ''));
  const graphInputs = new Set(g.input.map((v) => v.name ?? '').filter((n) => !initializers.has(n)));
  const waveOfTarget: number[] = [];
  waves.forEach((w, i) => {
    for (const k of w) waveOfTarget[k] = i;
  });
  const targetNodes = new Set(layers.map((l) => l.node));

  // Constant nodes (reading only initializers and other constants) belong wherever they are read.
  const constant = new Set<string>(initializers);
  const isConstant = new Set<NodeProto>();
  for (const n of order) {
    if (targetNodes.has(n) || ![...usedValues(n)].every((v) => constant.has(v))) continue;
    isConstant.add(n);
    for (const o of n.output) if (o) constant.add(o);
  }

  // Only what some target's output needs is ever run.
  const needed = new Set(layers.map((l) => l.output));
  const neededNodes = new Set<NodeProto>();
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if (!n.output.some((o) => needed.has(o))) continue;
    neededNodes.add(n);
    for (const v of usedValues(n)) needed.add(v);
  }

  // A DequantizeLinear of an activation (its scale and zero point constant) is repeated in each segment that
  // reads it, so segments pass the int8 value and ORT fuses DQ → op → Q inside a segment as in the whole graph.
  const repeated = (n: NodeProto) =>
    isConstant.has(n) || (n.opType === 'DequantizeLinear' && n.input.slice(1).every((v) => !v || constant.has(v)));
  // A node's segment: the latest wave among the targets upstream of it, itself included (the first for none).
  const home = (n: NodeProto) => {
    let w = 0;
    for (const k of nodeUps.get(n) ?? []) w = Math.max(w, waveOfTarget[k]!);
    return w;
  };
  const nodes: NodeProto[][] = waves.map(() => []);
  const readers = new Map<NodeProto, Set<number>>();
  // Where each repeated node is read (transitively through other repeated nodes), from the last node back.
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if (!neededNodes.has(n)) continue;
    const at = repeated(n) ? [...(readers.get(n) ?? [])] : [home(n)];
    for (const v of usedValues(n)) {
      const p = qg.producer(v);
      if (p && repeated(p)) {
        const set = readers.get(p) ?? new Set<number>();
        for (const w of at) set.add(w);
        readers.set(p, set);
      }
    }
  }
  for (const n of order) {
    if (!neededNodes.has(n)) continue;
    const at = repeated(n) ? [...(readers.get(n) ?? [])] : [home(n)];
    for (const w of at) nodes[w]!.push(n);
  }

  const produced = nodes.map((ns) => new Set(ns.flatMap((n) => n.output.filter((o) => o))));
  const inputs = nodes.map((ns, w) => {
    const set = new Set<string>();
    for (const n of ns) for (const v of usedValues(n)) if (!produced[w]!.has(v) && !initializers.has(v)) set.add(v);
    return [...set];
  });
  const laterReads = new Set<string>();
  const exports: string[][] = waves.map(() => []);
  for (let w = waves.length - 1; w >= 0; w--) {
    exports[w] = [...produced[w]!].filter((v) => laterReads.has(v));
    for (const v of inputs[w]!) laterReads.add(v);
  }
  // Every value a segment reads comes from the graph's inputs or an earlier segment.
  const available = new Set(graphInputs);
  for (let w = 0; w < waves.length; w++) {
    if (inputs[w]!.some((v) => !available.has(v))) return undefined;
    for (const v of exports[w]!) available.add(v);
  }

  const types = new Map<string, number>();
  const passed = new Set(exports.flat());
  if (passed.size) {
    let inferred: Map<string, { elemType: number }>;
    try {
      inferred = inferShapes(qdq).types;
    } catch {
      return undefined;
    }
    for (const v of passed) {
      const t = inferred.get(v)?.elemType;
      if (!t) return undefined;
      types.set(v, t);
    }
  }
  for (const v of g.input) if (v.name && graphInputs.has(v.name)) types.set(v.name, v.type?.tensorType?.elemType ?? 0);
  return { waves, nodes, inputs, exports, types };
}

/**
 * Bias correction segment by segment (planSegments): each wave measured on its own segment, fed what the
 * earlier ones computed. Returns the waves corrected: all, or fewer once the values kept between segments
 * pass `maxBytes`.
 */
async function correctBySegments(
  qdq: ModelProto,
  float: ModelProto,
  plan: SegmentPlan,
  layers: readonly Layer[],
  current: Int32Array[],
  correct: Correct,
  data: SampleData,
  batchSize: number,
  maxBytes: number,
): Promise<number> {
  const g = qdq.graph!;
  const batchFeeds = [...batches(data, float, batchSize)].map((b) => b.feeds);
  // The values passed between segments, per batch; dropped after their last reader.
  const values = new Map<string, Tensor[]>();
  const lastReader = new Map<string, number>();
  plan.inputs.forEach((names, w) => {
    for (const v of names) lastReader.set(v, w);
  });
  for (const v of g.input)
    if (v.name && lastReader.has(v.name))
      values.set(
        v.name,
        batchFeeds.map((f) => f[v.name!]!),
      );
  const layerOf = new Map(layers.map((l, k) => [l.tensor.name!, k]));

  for (let w = 0; w < plan.waves.length; w++) {
    const wave = plan.waves[w]!;
    const own = new Set(wave.map((k) => layers[k]!.tensor.name!));
    const used = new Set(plan.nodes[w]!.flatMap((n) => [...usedValues(n)]));
    // Initializers this segment reads, the biases corrected so far in their current values; its own wave's biases are inputs.
    const inits = g.initializer
      .filter((t) => used.has(t.name ?? '') && !own.has(t.name ?? ''))
      .map((t) => {
        const k = layerOf.get(t.name ?? '');
        return k === undefined ? t : makeTensor(t.name!, DataType.INT32, t.dims, current[k]!);
      });
    const model: ModelProto = {
      ...qdq,
      graph: {
        ...g,
        node: plan.nodes[w]!,
        initializer: inits,
        input: [
          ...plan.inputs[w]!.map((v) => valueInfo(v, plan.types.get(v)!)),
          ...wave.map((k) => valueInfo(layers[k]!.tensor.name!, DataType.INT32, layers[k]!.tensor.dims)),
        ],
        output: [
          ...wave.map((k) => valueInfo(layers[k]!.output, DataType.FLOAT)),
          ...plan.exports[w]!.filter((v) => !wave.some((k) => layers[k]!.output === v)).map((v) => valueInfo(v, plan.types.get(v)!)),
        ],
        valueInfo: [],
      },
    };
    let session: InferenceSession;
    try {
      session = await createSession(model, { graphOptimizationLevel: 'extended' });
    } catch {
      // A cut ORT does not take (a type it infers otherwise): the rest on the whole graph, as before segments.
      return w;
    }
    try {
      const feedsAt = (b: number) => ({
        ...Object.fromEntries(plan.inputs[w]!.map((v) => [v, values.get(v)![b]!])),
        ...Object.fromEntries(wave.map((k) => [layers[k]!.tensor.name!, new Tensor('int32', current[k]!, layers[k]!.tensor.dims)])),
      });
      const names = wave.map((k) => layers[k]!.output);
      const means = names.map(() => new ChannelMeans());
      for (let b = 0; b < batchFeeds.length; b++) {
        const out = await runSegment(session, feedsAt(b), names, data);
        names.forEach((name, i) => means[i]!.add(out[name]!));
      }
      wave.forEach((k, i) => correct(k, means[i]!.means()));
      const exports = plan.exports[w]!;
      if (exports.length) {
        const outs: Tensor[][] = exports.map(() => []);
        for (let b = 0; b < batchFeeds.length; b++) {
          const out = await runSegment(session, feedsAt(b), exports, data);
          exports.forEach((v, i) => outs[i]!.push(out[v]! as Tensor));
        }
        exports.forEach((v, i) => values.set(v, outs[i]!));
      }
    } finally {
      await session.release();
    }
    for (const [v, last] of lastReader) if (last <= w) values.delete(v);
    let bytes = 0;
    for (const ts of values.values()) for (const t of ts) bytes += (t.data as ArrayBufferView).byteLength;
    if (bytes > maxBytes) return w + 1;
  }
  return plan.waves.length;
}

async function runSegment(
  session: InferenceSession,
  feeds: Record<string, Tensor>,
  names: readonly string[],
  data: SampleData,
): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds, [...names]);
  } catch (e) {
    throw ortRunError(e, `measuring bias shifts on calibration data from ${data.source}`);
  }
}

/** Per-channel (axis 1) means of tensors added one batch at a time. */
class ChannelMeans {
  private sums: Float64Array | undefined;
  private count = 0;

  add(t: { data: unknown; dims: readonly number[] }): void {
    const x = t.data as Float32Array;
    const channels = t.dims[1] ?? 1;
    const inner = t.dims.slice(2).reduce((p, q) => p * q, 1);
    const s = (this.sums ??= new Float64Array(channels));
    for (let i = 0; i < x.length; i++) s[Math.floor(i / inner) % channels]! += x[i]!;
    this.count += x.length / channels;
  }

  means(): Float64Array {
    return Float64Array.from(this.sums ?? [], (v) => v / Math.max(1, this.count));
  }
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

/**
 * For each target, the indices of the targets upstream of it (its correction must wait for theirs); and the
 * graph's nodes in topological order, each with the targets upstream of it, itself included.
 */
function upstreamTargets(
  m: ModelProto,
  targets: readonly NodeProto[],
): { before: Set<number>[]; order: NodeProto[]; nodeUps: Map<NodeProto, Set<number>> } {
  const index = new Map(targets.map((n, k) => [n, k]));
  const g = m.graph!;
  const available = new Set([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
  // Targets upstream of each value, in topological order (no recursion: real graphs are thousands deep).
  const ups = new Map<string, Set<number>>();
  const before = targets.map(() => new Set<number>());
  const nodeUps = new Map<NodeProto, Set<number>>();
  const order = topoOrder(g.node, available);
  for (const n of order) {
    const here = new Set<number>();
    for (const v of usedValues(n)) for (const k of ups.get(v) ?? []) here.add(k);
    const k = index.get(n);
    if (k !== undefined) before[k] = new Set(here);
    if (k !== undefined) here.add(k);
    nodeUps.set(n, here);
    for (const o of n.output) if (o) ups.set(o, here);
  }
  return { before, order, nodeUps };
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
  const means = names.map(() => new ChannelMeans());
  for (const batch of batches(data, model, batchSize)) {
    const out = await runSegment(session, { ...batch.feeds, ...extra }, names, data);
    names.forEach((name, k) => means[k]!.add(out[name]!));
  }
  return means.map((m) => m.means());
}
