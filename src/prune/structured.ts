/**
 * Structured pruning: which channels of each group go (by the magnitude of every weight slice coupled to
 * them), and the rewrite that removes them from every weight the analysis found — filters, biases,
 * BatchNorm statistics, the next layer's input channels, a Gemm's rows after a Flatten, a depthwise Conv's
 * `group` — so the smaller model computes what the masked one did.
 */
import { DataType } from '../ir/dtype.js';
import { halfBits, halfValue } from '../ir/half.js';
import type { AttributeProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { AttributeType } from '../ir/proto.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import type { Dataset } from '../data/dataset.js';
import type { TrainCallback } from '../train/callbacks.js';
import { train } from '../train/trainer.js';
import type { Carrier, ChannelAnalysis, ChannelGroup } from './channels.js';

export type Criterion = 'l1' | 'l2' | 'taylor';

/**
 * Importance of each channel of each group: the sum over the group's weight slices (filters, the next
 * layer's input channels, norm scales) of each slice's L1 norm, or of its L2 norm. Pinned groups are left out.
 */
export function channelImportance(
  an: ChannelAnalysis,
  criterion: 'l1' | 'l2',
  /** Live values by initializer name (fine-tuning's parameters); default: the model's initializers. */
  values?: (name: string) => ArrayLike<number> | undefined,
): Map<ChannelGroup, Float64Array> {
  const out = new Map<ChannelGroup, Float64Array>();
  for (const g of an.groups) if (!g.pinned) out.set(g, new Float64Array(g.size));
  const inits = initializers(an.model);
  for (const s of an.slices) {
    if (s.role !== 'weight') continue;
    const name = s.node.input[s.input]!;
    const t = inits.get(name);
    if (!t) continue;
    const perIndex = axisSums(values?.(name) ?? floatValues(t), t.dims.map(Number), s.axis, criterion);
    forEachChannel(an, s.carrier, perIndex, (g, c, sum) => {
      const imp = out.get(g);
      if (imp) imp[c]! += criterion === 'l2' ? Math.sqrt(sum) : sum;
    });
  }
  return out;
}

/**
 * For each channel of each group a carrier holds: the sum of `perIndex` (a value per index along the carrier's
 * axis) over the channel's entries (`inner` of them after a Flatten).
 */
function forEachChannel(
  an: ChannelAnalysis,
  carrier: Carrier,
  perIndex: ArrayLike<number>,
  fn: (group: ChannelGroup, channel: number, sum: number) => void,
): void {
  let offset = 0;
  for (const seg of carrier.segments) {
    if (seg.space >= 0) {
      const g = an.groupOf(seg.space);
      for (let c = 0; c < seg.size; c++) {
        let sum = 0;
        for (let j = 0; j < seg.inner; j++) sum += perIndex[offset + c * seg.inner + j]!;
        fn(g, c, sum);
      }
    }
    offset += seg.size * seg.inner;
  }
}

/**
 * First-order Taylor importance (Molchanov et al. CVPR 2019): per channel, the square of Σ w·∂L/∂w over
 * every coupled weight slice — to first order, the loss change its removal causes — summed over `batches`
 * training batches. The gradients come from trainer steps at a learning rate too small to move a weight.
 */
export async function taylorImportance(
  an: ChannelAnalysis,
  data: Dataset,
  opts: { batches?: number; batchSize?: number; threads?: number } = {},
): Promise<Map<ChannelGroup, Float64Array>> {
  const out = new Map<ChannelGroup, Float64Array>();
  for (const g of an.groups) if (!g.pinned) out.set(g, new Float64Array(g.size));
  const slices = an.slices.filter((s) => s.role === 'weight');
  const dims = new Map(an.model.graph!.initializer.map((t) => [t.name!, t.dims.map(Number)]));
  let bound: { s: (typeof slices)[number]; i: number }[] = [];
  const step = new Map<ChannelGroup, Float64Array>();
  const collector: TrainCallback = {
    onTrainBegin(run) {
      const index = new Map(run.graph.params.map((p, i) => [p.name, i]));
      bound = slices.flatMap((s) => {
        const i = index.get(s.node.input[s.input]!);
        return i === undefined ? [] : [{ s, i }];
      });
    },
    onStepEnd(run) {
      for (const v of step.values()) v.fill(0);
      for (const { s, i } of bound) {
        const d = dims.get(s.node.input[s.input]!)!;
        forEachChannel(an, s.carrier, axisDot(run.params[i]!, run.grads[i]!, d, s.axis), (g, c, sum) => {
          if (!out.has(g)) return;
          if (!step.has(g)) step.set(g, new Float64Array(g.size));
          step.get(g)![c]! += sum;
        });
      }
      for (const [g, acc] of step) {
        const imp = out.get(g)!;
        for (let c = 0; c < g.size; c++) imp[c]! += acc[c]! ** 2;
      }
    },
  };
  await train(an.model, data, {
    epochs: 1,
    batchSize: Math.min(opts.batchSize ?? 64, data.size),
    maxStepsPerEpoch: opts.batches ?? 16,
    optimizer: { kind: 'sgd' },
    lr: 1e-30,
    seed: 0,
    threads: opts.threads,
    callbacks: [collector],
  });
  return out;
}

/** Per index along `axis`: Σ w·g over the rest of the tensor. */
function axisDot(w: Float32Array, g: Float32Array, dims: number[], axis: number): Float64Array {
  const n = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < w.length; i++) out[Math.floor(i / inner) % n]! += w[i]! * g[i]!;
  return out;
}

export interface SelectOptions {
  /** Fraction of each group's channels to remove (layer scope), or of all prunable channels (global). */
  sparsity: number;
  /** 'layer': every group loses the same fraction; 'global': the least important channels anywhere, scores normalized per group. */
  scope: 'layer' | 'global';
  /** Keep a multiple of this many channels per group (vector widths, NCHWc blocks); default 1. */
  roundTo?: number;
  /** Per-group fractions (from a sensitivity analysis): layer scope, each group its own; others keep all. */
  ratios?: ReadonlyMap<ChannelGroup, number>;
}

/** The channels each group keeps (sorted indices); groups not in the map keep all. */
export function selectChannels(importance: ReadonlyMap<ChannelGroup, Float64Array>, opts: SelectOptions): Map<ChannelGroup, number[]> {
  const round = Math.max(1, opts.roundTo ?? 1);
  const keepCount = new Map<ChannelGroup, number>();
  if (opts.ratios) {
    for (const g of importance.keys()) keepCount.set(g, g.size - Math.round(g.size * (opts.ratios.get(g) ?? 0)));
  } else if (opts.scope === 'layer') {
    for (const g of importance.keys()) keepCount.set(g, g.size - Math.round(g.size * opts.sparsity));
  } else {
    const all: { score: number; g: ChannelGroup }[] = [];
    for (const [g, imp] of importance) {
      const mean = imp.reduce((a, b) => a + b, 0) / imp.length || 1;
      for (const v of imp) all.push({ score: v / mean, g });
      keepCount.set(g, g.size);
    }
    all.sort((a, b) => a.score - b.score);
    let remove = Math.round(all.length * opts.sparsity);
    for (const { g } of all) {
      if (remove === 0) break;
      const k = keepCount.get(g)!;
      if (k <= 1) continue;
      keepCount.set(g, k - 1);
      remove--;
    }
  }
  const out = new Map<ChannelGroup, number[]>();
  for (const [g, imp] of importance) {
    const k = Math.min(g.size, Math.max(round, Math.ceil(Math.max(1, keepCount.get(g)!) / round) * round));
    if (k >= g.size) continue;
    const order = Array.from(imp.keys()).sort((a, b) => imp[b]! - imp[a]! || a - b);
    out.set(
      g,
      order.slice(0, k).sort((a, b) => a - b),
    );
  }
  return out;
}

/**
 * The model without the channels that `keep` drops: every slice the analysis found is cut, each depthwise
 * Conv's `group` follows its channel count, and intermediate value shapes are dropped (they changed).
 * A constant shared by several users that are cut differently gets a copy per user.
 */
export function removeChannels(an: ChannelAnalysis, keep: ReadonlyMap<ChannelGroup, readonly number[]>): ModelProto {
  const g = an.model.graph!;
  const index = (c: Carrier) => keptIndices(an, c, keep);
  const cuts = new Map<NodeProto, Map<number, { axis: number; idx: number[] }[]>>();
  for (const s of an.slices) {
    const idx = index(s.carrier);
    if (!idx) continue;
    if (!cuts.has(s.node)) cuts.set(s.node, new Map());
    const perInput = cuts.get(s.node)!;
    if (!perInput.has(s.input)) perInput.set(s.input, []);
    perInput.get(s.input)!.push({ axis: s.axis, idx });
  }
  const inits = initializers(an.model);
  // Users of every initializer and the cuts each asks for, to decide between cutting in place and copies.
  const usersOf = new Map<string, { node: NodeProto; input: number; key: string }[]>();
  for (const n of g.node)
    n.input.forEach((v, i) => {
      if (!inits.has(v)) return;
      const list = cuts.get(n)?.get(i);
      const key = list ? JSON.stringify(list.map((c) => [c.axis, c.idx])) : '';
      if (!usersOf.has(v)) usersOf.set(v, []);
      usersOf.get(v)!.push({ node: n, input: i, key });
    });
  const replaced = new Map<string, TensorProto>();
  const added: TensorProto[] = [];
  const rename = new Map<NodeProto, Map<number, string>>();
  const taken = new Set([...inits.keys(), ...g.node.flatMap((n) => n.output)]);
  /** `t` under a fresh name, read by `node`'s input `input` alone. */
  const copyFor = (node: NodeProto, input: number, t: TensorProto) => {
    let fresh = `${t.name}_pruned`;
    for (let k = 1; taken.has(fresh); k++) fresh = `${t.name}_pruned_${k}`;
    taken.add(fresh);
    added.push({ ...t, name: fresh });
    if (!rename.has(node)) rename.set(node, new Map());
    rename.get(node)!.set(input, fresh);
  };
  for (const [name, users] of usersOf) {
    const cutUsers = users.filter((u) => u.key !== '');
    if (cutUsers.length === 0) continue;
    const t = inits.get(name)!;
    const cutFor = (u: (typeof users)[number]) =>
      cuts
        .get(u.node)!
        .get(u.input)!
        .reduce((acc, c) => gather(acc, c.axis, c.idx), t);
    if (cutUsers.length === users.length && cutUsers.every((u) => u.key === cutUsers[0]!.key)) {
      replaced.set(name, cutFor(cutUsers[0]!));
      continue;
    }
    for (const u of cutUsers) copyFor(u.node, u.input, cutFor(u));
  }
  for (const e of an.shapeEdits ?? []) {
    const idx = index(e.carrier);
    if (!idx) continue;
    const t = inits.get(e.node.input[e.input]!)!;
    // The other entries as stored (an int64 shape may hold values a double cannot), this one the kept count.
    const values = (tensorArray(t) as BigInt64Array | Int32Array).slice();
    const count = idx.length * e.perChannel;
    if (values instanceof BigInt64Array) values[e.entry] = BigInt(count);
    else values[e.entry] = count;
    copyFor(e.node, e.input, makeTensor(t.name!, t.dataType!, t.dims.map(Number), values));
  }
  const groupCount = new Map<NodeProto, number>();
  for (const { node, carrier } of an.groupAttrs) {
    const idx = index(carrier);
    if (idx) groupCount.set(node, idx.length);
  }
  const node = g.node.map((n) => {
    const names = rename.get(n);
    const group = groupCount.get(n);
    if (!names && group === undefined) return n;
    return {
      ...n,
      input: names ? n.input.map((v, i) => names.get(i) ?? v) : n.input,
      attribute: group === undefined ? n.attribute : n.attribute.map((a) => (a.name === 'group' ? intAttr(a, group) : a)),
    };
  });
  return {
    ...an.model,
    graph: {
      ...g,
      node,
      initializer: [...g.initializer.map((t) => replaced.get(t.name!) ?? t), ...added],
      valueInfo: [],
    },
  };
}

/**
 * The model with the dropped channels' slices set to zero instead of removed (and variances to 1): what the
 * pruned model computes when the ops between are zero-preserving (ReLU, pools, residual sums). Gradual
 * pruning trains this form; tests compare it with the rewrite.
 */
export function zeroChannels(an: ChannelAnalysis, keep: ReadonlyMap<ChannelGroup, readonly number[]>): ModelProto {
  const inits = initializers(an.model);
  const zeroed = new Map<string, TensorProto>();
  for (const s of an.slices) {
    const kept = keptIndices(an, s.carrier, keep);
    if (!kept) continue;
    const name = s.node.input[s.input]!;
    const t = zeroed.get(name) ?? inits.get(name)!;
    const total = s.carrier.segments.reduce((n, seg) => n + seg.size * seg.inner, 0);
    const drop = new Set(Array.from({ length: total }, (_, i) => i));
    for (const i of kept) drop.delete(i);
    // BatchNormalization's variance (input 4) goes to 1, so a zero mean and scale give exactly zero.
    const fill = s.node.opType === 'BatchNormalization' && s.input === 4 ? 1 : 0;
    zeroed.set(name, fillSlices(t, s.axis, drop, fill));
  }
  const g = an.model.graph!;
  return { ...an.model, graph: { ...g, initializer: g.initializer.map((t) => zeroed.get(t.name!) ?? t) } };
}

/**
 * Sets to zero, in live arrays (fine-tuning's parameters, by initializer name), every slice `keep` drops: what
 * `zeroChannels` does to a model, during gradual structured pruning. Values `values` does not give (BatchNorm's
 * running statistics, which are not trained) are left.
 */
export function zeroChannelsInPlace(
  an: ChannelAnalysis,
  keep: ReadonlyMap<ChannelGroup, readonly number[]>,
  values: (name: string) => Float32Array | undefined,
): void {
  const dims = new Map(an.model.graph!.initializer.map((t) => [t.name!, t.dims.map(Number)]));
  for (const s of an.slices) {
    const kept = keptIndices(an, s.carrier, keep);
    const name = s.node.input[s.input]!;
    const v = kept && values(name);
    if (!v) continue;
    const d = dims.get(name)!;
    const n = d[s.axis]!;
    const inner = d.slice(s.axis + 1).reduce((a, b) => a * b, 1);
    const keepSet = new Uint8Array(n);
    for (const i of kept) keepSet[i] = 1;
    for (let i = 0; i < v.length; i++) if (!keepSet[Math.floor(i / inner) % n]) v[i] = 0;
  }
}

/** Indices kept along a carrier's axis, or undefined when it keeps them all. */
function keptIndices(an: ChannelAnalysis, c: Carrier, keep: ReadonlyMap<ChannelGroup, readonly number[]>): number[] | undefined {
  const out: number[] = [];
  let offset = 0;
  let cut = false;
  for (const seg of c.segments) {
    const kept = seg.space >= 0 ? keep.get(an.groupOf(seg.space)) : undefined;
    if (kept) cut = true;
    for (const ch of kept ?? Array.from({ length: seg.size }, (_, i) => i))
      for (let j = 0; j < seg.inner; j++) out.push(offset + ch * seg.inner + j);
    offset += seg.size * seg.inner;
  }
  return cut ? out : undefined;
}

function initializers(model: ModelProto): Map<string, TensorProto> {
  return new Map(model.graph!.initializer.map((t) => [t.name!, t]));
}

/** Per index along `axis`: the sum of |w| (l1) or of w² (l2) over the rest of the tensor. */
function axisSums(values: ArrayLike<number>, dims: readonly number[], axis: number, criterion: 'l1' | 'l2'): Float64Array {
  const n = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out[Math.floor(i / inner) % n]! += criterion === 'l1' ? Math.abs(v) : v * v;
  }
  return out;
}

function floatValues(t: TensorProto): ArrayLike<number> {
  const a = tensorArray(t);
  if (t.dataType === DataType.FLOAT16) return Array.from(a as Uint16Array, halfValue);
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) return Array.from(a, Number);
  return a as ArrayLike<number>;
}

/** `t` keeping only indices `idx` (in order) along `axis`. */
function gather(t: TensorProto, axis: number, idx: readonly number[]): TensorProto {
  const src = tensorArray(t);
  const dims = t.dims.map(Number);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis]!;
  const Ctor = src.constructor as new (len: number) => typeof src;
  const dst = new Ctor(outer * idx.length * inner);
  for (let o = 0; o < outer; o++)
    for (let k = 0; k < idx.length; k++) {
      const from = (o * n + idx[k]!) * inner;
      (dst as Float32Array).set((src as Float32Array).subarray(from, from + inner), (o * idx.length + k) * inner);
    }
  const outDims = [...dims];
  outDims[axis] = idx.length;
  return makeTensor(t.name!, t.dataType!, outDims, dst);
}

/** `t` with the indices `drop` along `axis` set to `value`. */
function fillSlices(t: TensorProto, axis: number, drop: ReadonlySet<number>, value: number): TensorProto {
  const src = tensorArray(t);
  const dst = (src as Float32Array).slice();
  const dims = t.dims.map(Number);
  const n = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const stored = t.dataType === DataType.FLOAT16 ? halfBits(value) : value;
  for (let i = 0; i < dst.length; i++) if (drop.has(Math.floor(i / inner) % n)) dst[i] = stored;
  return makeTensor(t.name!, t.dataType!, dims, dst);
}

function intAttr(a: AttributeProto, value: number): AttributeProto {
  return { ...a, type: AttributeType.INT, i: value };
}
