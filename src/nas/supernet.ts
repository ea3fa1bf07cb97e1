/**
 * Weight sharing (Once-for-All, Cai et al. ICLR 2020; BigNAS's sandwich rule): one supernet — the
 * space's largest architecture — is trained once, and every architecture of the space is a sub-network
 * of it that inherits its weights, evaluated without training of its own.
 *
 * A sub-network here is a *prefix* of the supernet: each layer keeps its first k output channels (the
 * first k·h·w features after a Flatten, which is channel-major), and residual blocks a stage does not have
 * are dropped. Both are expressed in the supernet's graph by channel masks: after each layer whose width
 * varies across the space (after its BatchNormalization and activation, where those follow), a `Mul` by a
 * fed 0/1 mask zeroes the channels the sampled architecture lacks. Zeroed channels contribute nothing to
 * the next layer, and a dropped residual block's branch is all zeros, so `x + 0 = x`: the masked supernet
 * computes exactly the sub-network (checked on every built supernet, see `buildSupernet`). The masks are
 * inputs fed by a training callback, so one ORT session trains every architecture, with one optimizer
 * state; each step trains one architecture — the largest, the smallest, or a random one, in turn.
 *
 * Extraction builds the architecture with its zoo builder and fills its initializers with the leading
 * slices of the supernet's, so a sub-network is an ordinary model of the zoo. BatchNormalization's running
 * statistics, shared by all architectures during training, fit none of them: `recalibrate` recomputes them
 * for the extracted sub-network on a few training batches (as Once-for-All does).
 *
 * What cannot share weights is refused before training: options whose choices are not widths or depths
 * (activation, pooling kind), lists of different lengths, kernel sizes (a 3×3 is not a slice of a 5×5 with
 * the same padding and output size in general).
 */
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors.js';
import { makeAttribute, makeNode, valueInfo } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { attrReader } from '../ir/attrs.js';
import { floatTensor, tensorArray } from '../ir/tensor.js';
import { createSession } from '../runtime/session.js';
import { zooModel, zooModels, zooSpec, type OptionSpec } from '../zoo/index.js';
import type { Dataset } from '../data/dataset.js';
import { train, type TrainCallback, type TrainOptions } from '../train/index.js';
import { classifierScores } from '../train/evaluate.js';
import type { EpochRecord } from '../train/trainer.js';
import { mulberry32 } from '../util/random.js';

export type Choice = string | number | boolean;
/** An architecture: a value per searched option (zoo option names, without `model.`). */
export type ArchConfig = Record<string, Choice>;

export interface ElasticSpace {
  /** The zoo spec the options apply to, e.g. `zoo:lenet5` or `zoo:resnet:inputChannels=1,size=28`. */
  base: string;
  /** The options searched with shared weights and their choices. */
  options: Record<string, Choice[]>;
  /** Options of the space whose choices share no weights (activation, pooling kind): kept at one value. */
  fixed: Record<string, Choice>;
  /** Each option at its widest (element-wise maximum): the supernet. */
  largest: ArchConfig;
  /** Each option at its narrowest (element-wise minimum). */
  smallest: ArchConfig;
}

/** An option kind whose values are widths or depths: a larger value holds a smaller one as a prefix. */
const ELASTIC_KINDS = new Set(['ints', 'int', 'float']);

/**
 * The part of a NAS space weight sharing can search. `space` maps `model.OPTION` to its categorical
 * choices; `reference` gives the value a non-elastic option is kept at (its first choice otherwise).
 */
export function elasticSpace(base: string, space: Record<string, readonly Choice[]>, reference: ArchConfig = {}): ElasticSpace {
  const name = /^zoo:([^:]+)/.exec(base)?.[1];
  const info = name ? zooModels().find((m) => m.name === name.toLowerCase()) : undefined;
  if (!info) throw badInput(`weight sharing builds its supernet from a zoo model; ${base} is not one (see 'hone zoo list')`);
  const options: Record<string, Choice[]> = {};
  const fixed: Record<string, Choice> = {};
  const largest: ArchConfig = {};
  const smallest: ArchConfig = {};
  for (const [key, choices] of Object.entries(space)) {
    const opt = key.replace(/^model\./, '');
    const spec = info.options.find((o) => o.name === opt);
    if (!spec) throw badInput(`zoo:${info.name} has no option '${opt}'; its options are ${info.options.map((o) => o.name).join(', ')}`);
    if (!ELASTIC_KINDS.has(spec.kind) || choices.length < 2) {
      fixed[opt] = reference[opt] ?? choices[0]!;
      continue;
    }
    const lists = choices.map((c) => widths(spec, c, key));
    const n = lists[0]!.length;
    if (lists.some((l) => l.length !== n))
      throw badInput(
        `weight sharing: ${key} has choices of different lengths (${choices.join(', ')}), and a layer that some architectures lack shares no weights; give choices of one length (${key} lists widths per position)`,
      );
    const pick = (f: (...v: number[]) => number) => {
      const v = lists[0]!.map((_, i) => f(...lists.map((l) => l[i]!)));
      return spec.kind === 'ints' ? v.join('-') : v[0]!;
    };
    options[opt] = [...choices];
    largest[opt] = pick(Math.max);
    smallest[opt] = pick(Math.min);
  }
  if (!Object.keys(options).length)
    throw badInput(
      `weight sharing: the space has no option of widths or depths (${Object.keys(space).join(', ')}); search it without --weight-sharing`,
    );
  return { base, options, fixed, largest, smallest };
}

function widths(spec: OptionSpec, c: Choice, key: string): number[] {
  const text = String(c);
  const list = spec.kind === 'ints' ? (text === '' ? [] : text.split('-').map(Number)) : [Number(text)];
  if (list.some((v) => !Number.isFinite(v)))
    throw badInput(`weight sharing: ${key} choice '${text}' is not a number or numbers joined by '-'`);
  return list;
}

/** The zoo spec of an architecture: the space's base with the fixed options and the architecture's. */
export function archSpec(space: ElasticSpace, config: ArchConfig): string {
  return zooSpec(space.base, Object.entries({ ...space.fixed, ...config }));
}

/** The dims of a mask fed for `batch` samples: [batch, channels, 1, …] to broadcast over the masked tensor. */
export function maskDims(m: MaskSite, batch: number): number[];
export function maskDims(m: MaskSite, batch: number | string): (number | string)[];
export function maskDims(m: MaskSite, batch: number | string): (number | string)[] {
  return [batch, m.channels, ...Array(m.rank - 2).fill(1)];
}

/** One masked layer: the fed input that zeroes its missing channels. */
export interface MaskSite {
  /** The graph input fed with the mask, [batch, channels, 1…]. */
  input: string;
  /** The layer's weight initializer, whose output-channel count in an architecture sets the mask. */
  weight: string;
  outAxis: number;
  channels: number;
  /** Rank of the masked tensor (4 after a 2-D Conv, 2 after a Gemm). */
  rank: number;
}

export interface Supernet {
  space: ElasticSpace;
  /** The largest architecture with a mask input after every layer whose width varies. */
  model: ModelProto;
  masks: MaskSite[];
  /** The masks that make the supernet compute `config`, one per site (`channels` long each). */
  maskValues(config: ArchConfig): Float32Array[];
  /** `config` as an ordinary zoo model whose initializers are leading slices of `weights` (the supernet's by name). */
  extract(config: ArchConfig, weights: ReadonlyMap<string, TensorProto>): ModelProto;
}

/** Ops a mask moves past: per-channel, map 0 to 0 or take other inputs that are constants. */
const CHANNELWISE = new Set([
  'BatchNormalization',
  'Relu',
  'Tanh',
  'Sigmoid',
  'Clip',
  'LeakyRelu',
  'HardSigmoid',
  'HardSwish',
  'Elu',
  'Selu',
  'Softplus',
  'Identity',
  'Dropout',
]);
const WITH_CONSTANT = new Set(['Add', 'Sub', 'Mul', 'Div', 'Erf']);

/**
 * Builds the supernet of `space` and checks it: for the smallest, the largest and a few random
 * architectures, the masked supernet's outputs must equal the extracted sub-network's on a random input,
 * or the space cannot share weights (an option that is not a prefix of the largest) and this throws.
 */
export async function buildSupernet(space: ElasticSpace, opts: { checks?: number; seed?: number } = {}): Promise<Supernet> {
  const models = new Map<string, ModelProto>();
  const build = (config: ArchConfig) => {
    const spec = archSpec(space, config);
    let m = models.get(spec);
    if (!m) {
      m = zooModel(spec);
      models.set(spec, m);
    }
    return m;
  };
  const largest = build(space.largest);
  const smallestDims = initDims(build(space.smallest));
  const g = largest.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name!, t]));
  const outputs = new Set(g.output.map((o) => o.name));
  const consumers = new Map<string, NodeProto[]>();
  for (const n of g.node) for (const i of n.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const batchDim = g.input[0]?.type?.tensorType?.shape?.dim?.[0];
  const batch = batchDim?.dimParam || batchDim?.dimValue || 'batch';

  const masks: MaskSite[] = [];
  const nodes: NodeProto[] = [];
  const rewired = new Map<string, string>();
  // A mask after a layer's tail waits for the tail's last node, which the walk reaches later.
  const pending = new Map<string, NodeProto>();
  for (const node of g.node) {
    // A copy: the largest architecture's own model (cached for extraction) keeps its nodes.
    const n = { ...node, input: node.input.map((i) => rewired.get(i) ?? i) };
    nodes.push(n);
    const site = maskSite(n, inits, smallestDims);
    if (!site || outputs.has(n.output[0]!)) continue;
    // The mask goes where the layer's channel-wise tail (BatchNormalization, activation) ends.
    let end = n;
    for (;;) {
      const next = consumers.get(end.output[0]!) ?? [];
      const c = next[0];
      if (next.length !== 1 || outputs.has(end.output[0]!) || !c) break;
      const constOthers = c.input.every((i) => i === end.output[0] || inits.has(i));
      if (!CHANNELWISE.has(c.opType!) && !(WITH_CONSTANT.has(c.opType!) && constOthers)) break;
      end = c;
    }
    const input = `nas_mask.${masks.length}.${n.name || site.weight}`;
    masks.push({ input, ...site });
    const tensor = end.output[0]!;
    const masked = `${tensor}.masked`;
    rewired.set(tensor, masked);
    const mul = makeNode('Mul', [tensor, input], [masked], {}, { name: `${input}.mul` });
    if (end === n) nodes.push(mul);
    else pending.set(tensor, mul);
  }
  const ordered = nodes.flatMap((n) => {
    const after = pending.get(n.output[0]!);
    return after ? [n, after] : [n];
  });
  const model: ModelProto = {
    ...largest,
    graph: {
      ...g,
      node: ordered,
      input: [...g.input, ...masks.map((m) => valueInfo(m.input, DataType.FLOAT, maskDims(m, batch)))],
    },
  };

  const maskCache = new Map<string, Float32Array[]>();
  const net: Supernet = {
    space,
    model,
    masks,
    maskValues(config) {
      const spec = archSpec(space, config);
      let v = maskCache.get(spec);
      if (!v) {
        const dims = initDims(build(config));
        v = masks.map((m) => {
          const d = dims.get(m.weight);
          return new Float32Array(m.channels).fill(1, 0, d ? Math.min(d[m.outAxis]!, m.channels) : 0);
        });
        maskCache.set(spec, v);
      }
      return v;
    },
    extract(config, weights) {
      return sliceInto(structuredClone(build(config)), weights, archSpec(space, config));
    },
  };
  await checkSupernet(net, opts.checks ?? 3, opts.seed ?? 0);
  return net;
}

function initDims(m: ModelProto): Map<string, number[]> {
  return new Map(m.graph!.initializer.map((t) => [t.name!, t.dims.map(Number)]));
}

/** The layer `n` is, when its width varies across the space: a Conv or Gemm whose weight the smallest architecture narrows or lacks. */
function maskSite(n: NodeProto, inits: Map<string, TensorProto>, smallest: Map<string, number[]>): Omit<MaskSite, 'input'> | undefined {
  if (n.opType !== 'Conv' && n.opType !== 'Gemm') return undefined;
  const weight = n.input[1];
  const w = weight ? inits.get(weight) : undefined;
  if (!w || !weight) return undefined;
  const dims = w.dims.map(Number);
  const outAxis = n.opType === 'Gemm' && !attrReader(n).int('transB', 0) ? 1 : 0;
  const small = smallest.get(weight);
  if (small && small[outAxis] === dims[outAxis]) return undefined;
  return { weight, outAxis, channels: dims[outAxis]!, rank: n.opType === 'Conv' ? dims.length : 2 };
}

/** `sub`'s float initializers replaced, in place, by the leading slices of the same-named `weights`. */
function sliceInto(sub: ModelProto, weights: ReadonlyMap<string, TensorProto>, spec: string): ModelProto {
  const g = sub.graph!;
  g.initializer = g.initializer.map((t) => {
    if (t.dataType !== DataType.FLOAT) return t;
    const w = weights.get(t.name!);
    const dims = t.dims.map(Number);
    const full = w?.dims.map(Number);
    if (!w || !full || full.length !== dims.length || dims.some((d, i) => d > full[i]!))
      throw badInput(
        `weight sharing: ${spec} has ${t.name} [${dims.join(',')}], which is not a slice of the supernet's${full ? ` [${full.join(',')}]` : ' (it has none)'}; the space's options must only narrow layers or drop residual blocks`,
      );
    return floatTensor(t.name!, dims, leadingSlice(tensorArray(w) as Float32Array, full, dims));
  });
  return sub;
}

/** The leading `dims` block of a row-major tensor of `full` dims. */
export function leadingSlice(data: Float32Array, full: readonly number[], dims: readonly number[]): Float32Array {
  const out = new Float32Array(dims.reduce((a, b) => a * b, 1));
  if (!out.length) return out;
  const r = dims.length;
  const strides = full.map((_, i) => full.slice(i + 1).reduce((a, b) => a * b, 1));
  const row = dims[r - 1] ?? 1;
  const idx = new Array(Math.max(r - 1, 0)).fill(0);
  for (let o = 0; o < out.length; o += row) {
    let src = 0;
    for (let i = 0; i < r - 1; i++) src += idx[i] * strides[i]!;
    out.set(data.subarray(src, src + row), o);
    for (let i = r - 2; i >= 0; i--) {
      if (++idx[i] < dims[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** Random architectures of the space, seeded. */
export function randomArch(space: ElasticSpace, next: () => number): ArchConfig {
  return Object.fromEntries(Object.entries(space.options).map(([k, cs]) => [k, cs[Math.floor(next() * cs.length)]!]));
}

async function checkSupernet(net: Supernet, checks: number, seed: number): Promise<void> {
  const next = mulberry32(seed + 101);
  const configs = [net.space.smallest, net.space.largest, ...Array.from({ length: checks }, () => randomArch(net.space, next))];
  const weights = new Map(net.model.graph!.initializer.map((t) => [t.name!, t]));
  const input = net.model.graph!.input[0]!;
  const shape = input.type!.tensorType!.shape!.dim!.map((d, i) => (i === 0 ? 2 : Number(d.dimValue)));
  if (shape.some((d) => !(d > 0)) || input.type?.tensorType?.elemType !== DataType.FLOAT)
    throw badInput(
      `weight sharing needs a model with one float input of fixed shape besides the batch; ${net.space.base} has '${input.name}'`,
    );
  const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1);
  const superSession = await createSession(net.model, { intraOpThreads: 1 });
  try {
    for (const config of configs) {
      const feeds: Record<string, ort.Tensor> = { [input.name!]: new ort.Tensor('float32', x, shape) };
      net.maskValues(config).forEach((v, i) => {
        const m = net.masks[i]!;
        feeds[m.input] = new ort.Tensor('float32', tile(v, 2), maskDims(m, 2));
      });
      const a = (await superSession.run(feeds))[net.model.graph!.output[0]!.name!]!.data as Float32Array;
      const sub = net.extract(config, weights);
      const subSession = await createSession(sub, { intraOpThreads: 1 });
      let b: Float32Array;
      try {
        b = (await subSession.run({ [sub.graph!.input[0]!.name!]: feeds[input.name!]! }))[sub.graph!.output[0]!.name!]!
          .data as Float32Array;
      } finally {
        await subSession.release();
      }
      const scale = Math.max(1, ...a.map(Math.abs));
      const diff = a.length === b.length ? Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) : Infinity;
      if (!(diff <= 1e-4 * scale))
        throw badInput(
          `weight sharing cannot express ${archSpec(net.space, config)}: the masked supernet computes something else (largest difference ${diff.toPrecision(3)}); the space's options must only narrow layers (a prefix of the largest's channels) or drop residual blocks`,
        );
    }
  } finally {
    await superSession.release();
  }
}

/** `v` repeated `n` times, into `out` when given (one mask per sample of a batch). */
function tile(v: Float32Array, n: number, out: Float32Array = new Float32Array(v.length * n)): Float32Array {
  for (let i = 0; i < n; i++) out.set(v, i * v.length);
  return out;
}

export interface SupernetTraining {
  /** The trained supernet's initializers by name. */
  weights: Map<string, TensorProto>;
  history: EpochRecord[];
  steps: number;
  seconds: number;
  /** How many steps trained each kind of architecture. */
  sampled: { largest: number; smallest: number; random: number };
}

/**
 * Trains the supernet on `data` with the sandwich rule: of every four steps, one trains the largest
 * architecture, one the smallest and two random ones (BigNAS), all through the same masks and weights.
 */
export async function trainSupernet(
  net: Supernet,
  data: Dataset,
  opts: Omit<TrainOptions, 'callbacks' | 'validationSplit' | 'test'>,
): Promise<SupernetTraining> {
  const next = mulberry32((opts.seed ?? 0) * 7 + 3);
  const bufs: Float32Array[] = [];
  const sampled = { largest: 0, smallest: 0, random: 0 };
  let current = -1;
  const sampler: TrainCallback = {
    inputs: net.masks.map((m) => m.input),
    onTrainBegin(run) {
      net.masks.forEach((m, i) => {
        bufs[i] = new Float32Array(run.microBatch * m.channels);
        run.feeds[m.input] = new ort.Tensor('float32', bufs[i]!, maskDims(m, run.microBatch));
      });
    },
    onBatchBegin(run, batch) {
      if (batch.step === current) return;
      current = batch.step;
      const turn = batch.step % 4;
      const kind = turn === 0 ? 'largest' : turn === 1 ? 'smallest' : 'random';
      sampled[kind]++;
      const config = kind === 'largest' ? net.space.largest : kind === 'smallest' ? net.space.smallest : randomArch(net.space, next);
      net.maskValues(config).forEach((v, i) => tile(v, run.microBatch, bufs[i]));
    },
  };
  const t0 = performance.now();
  const result = await train(net.model, data, { ...opts, callbacks: [sampler] });
  const seconds = (performance.now() - t0) / 1000;
  const last = result.history[result.history.length - 1];
  return {
    weights: new Map(result.model.graph!.initializer.map((t) => [t.name!, t])),
    history: result.history,
    steps: last?.step ?? 0,
    seconds,
    sampled,
  };
}

/** Whether `model` holds BatchNormalization, whose running statistics an extracted sub-network must recompute. */
export function hasBatchNorm(model: ModelProto): boolean {
  return model.graph!.node.some((n) => n.opType === 'BatchNormalization');
}

/**
 * Recomputes the BatchNormalization running statistics of an extracted sub-network: the mean of the
 * batch statistics over `batches` batches of `data` (Once-for-All's recalibration). The steps run with a
 * negligible learning rate and only their statistics are kept: the weights are `model`'s. Returns a new model.
 */
export async function recalibrate(
  model: ModelProto,
  data: Dataset,
  opts: { batches?: number; batchSize?: number; seed?: number; threads?: number } = {},
): Promise<ModelProto> {
  const batchSize = Math.min(opts.batchSize ?? 200, data.size);
  const batches = Math.max(1, Math.min(opts.batches ?? 10, Math.floor(data.size / batchSize)));
  // Momentum 0: after each step the running statistics are that batch's own; the callback averages them.
  const m = structuredClone(model);
  for (const n of m.graph!.node)
    if (n.opType === 'BatchNormalization') {
      n.attribute = n.attribute.filter((a) => a.name !== 'momentum');
      n.attribute.push(makeAttribute('momentum', 0, { opType: 'BatchNormalization' }));
    }
  let sums: Float64Array[] = [];
  const averager: TrainCallback = {
    onStepEnd(run, step) {
      if (!sums.length) sums = run.buffers.map((b) => new Float64Array(b.length));
      run.buffers.forEach((b, i) => {
        const s = sums[i]!;
        for (let j = 0; j < b.length; j++) s[j]! += b[j]!;
      });
      if (step.step === batches) run.buffers.forEach((b, i) => b.set(sums[i]!.map((v) => v / batches)));
    },
  };
  const result = await train(m, data, {
    epochs: 1,
    batchSize,
    maxStepsPerEpoch: batches,
    optimizer: { kind: 'sgd' },
    lr: 1e-12,
    seed: opts.seed,
    threads: opts.threads,
    callbacks: [averager],
  });
  const stats = new Map(result.model.graph!.initializer.map((t) => [t.name!, t]));
  const out = structuredClone(model);
  const bnStats = new Set(out.graph!.node.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => n.input.slice(3, 5)));
  out.graph!.initializer = out.graph!.initializer.map((t) => (bnStats.has(t.name!) ? (stats.get(t.name!) ?? t) : t));
  return out;
}

/** Top-1 accuracy of a classifier (logits [batch, classes], index labels) over `data`, fed in the model's input shape. */
export async function classifierAccuracy(model: ModelProto, data: Dataset): Promise<number> {
  const input = model.graph!.input[0]!;
  const name = input.name!;
  if (!data.features[name]) throw badInput(`the data has no features for input '${name}'`);
  const dims = input.type!.tensorType!.shape!.dim!.slice(1).map((d) => Number(d.dimValue));
  return (await classifierScores(model, data, [name], new Map([[name, dims]]))).accuracy;
}
