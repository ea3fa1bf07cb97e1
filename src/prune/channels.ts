/**
 * Which channels can be removed together: the dependency analysis behind structured pruning (Torch-Pruning's
 * DepGraph, Fang et al. CVPR 2023, on ONNX graphs). A Conv, Gemm or MatMul with constant weights makes a
 * space of channels; the ops after it carry those channels along an axis (BatchNorm, ReLU, pools, a
 * depthwise Conv, Flatten into a Gemm) until weights absorb them (the next Conv's input channels). Values
 * that meet in an elementwise op (a residual Add) must keep the same channels: their spaces join one group.
 * Concat lays its inputs' channels end to end, so a value's channel axis is a list of segments, each from
 * one space. A channel that reaches something the rules cannot follow (a graph output, a Softmax over it, a
 * Reshape that spells out its count, a subgraph) pins its group: the analysis names the node.
 *
 * Each op's part is its `PruneRule` (ops/<family>.ts); this file only walks the graph.
 */
import { badInput } from '../errors.js';
import { attrReader } from '../ir/attrs.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { tensorNumbers } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { getOpRule, opProps } from '../ops/registry.js';
import type { PruneContext, PruneSlice, ValueType } from '../ops/types.js';
import { foldedCopy } from '../passes/fold.js';

/** A run of channels on a value's channel axis: `size` channels of one space, each `inner` entries wide. */
export interface Segment {
  /** The space the channels come from; -1 for channels that stay whatever is pruned (a Concat's other input). */
  space: number;
  size: number;
  inner: number;
}

/** A value's channels: the axis they lie on and where each run comes from. */
export interface Carrier {
  axis: number;
  segments: Segment[];
}

/** A weight input that loses slices along `axis` when channels of `carrier` go. */
export interface ChannelSlice extends PruneSlice {
  node: NodeProto;
  carrier: Carrier;
}

/** Channels removed together: every space in it keeps the same channel indices. */
export interface ChannelGroup {
  id: number;
  size: number;
  /** Why no channel of the group can be removed; undefined when they can. */
  pinned?: string;
  /** Names (or op types) of the nodes whose weights make the channels. */
  producers: string[];
}

/**
 * A shape constant entry that counts channels (a head Reshape's head count): it becomes
 * (kept channels of `carrier`) × `perChannel` in a copy of the constant for this node alone.
 */
export interface ShapeEdit {
  node: NodeProto;
  input: number;
  entry: number;
  perChannel: number;
  carrier: Carrier;
}

export interface ChannelAnalysis {
  /** The model analysed: the input with its constants folded (Constant-node weights become initializers). */
  model: ModelProto;
  groups: ChannelGroup[];
  slices: ChannelSlice[];
  /** Depthwise Convs whose `group` attribute follows the channel count of `carrier`. */
  groupAttrs: { node: NodeProto; carrier: Carrier }[];
  /** Shape constants that spell out a channel count (attention heads, prune/heads.ts). */
  shapeEdits?: ShapeEdit[];
  /** The group a space belongs to. */
  groupOf(space: number): ChannelGroup;
}

/** How many node inputs and graph outputs read each value: a weight read once belongs to its one node. */
export function useCounts(g: GraphProto): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of g.node) for (const v of n.input) if (v) uses.set(v, (uses.get(v) ?? 0) + 1);
  for (const o of g.output) uses.set(o.name!, (uses.get(o.name!) ?? 0) + 1);
  return uses;
}

export function analyzeChannels(input: ModelProto): ChannelAnalysis {
  if (!input.graph) throw badInput('the model has no graph; pass an ONNX model file');
  const model = foldedCopy(input).model;
  const g = model.graph!;
  const inference = inferShapes(model);
  const graphInputs = new Set(g.input.map((v) => v.name!));
  const inits = new Map<string, TensorProto>();
  for (const t of g.initializer) if (!graphInputs.has(t.name!)) inits.set(t.name!, t);
  const uses = useCounts(g);

  const spaces = new Spaces();
  const carriers = new Map<string, Carrier>();
  const slices: ChannelSlice[] = [];
  const groupAttrs: ChannelAnalysis['groupAttrs'] = [];
  const label = (n: NodeProto) => `${n.opType} '${n.name || n.output[0]}'`;
  const pin = (c: Carrier | undefined, why: string) => {
    for (const s of c?.segments ?? []) if (s.space >= 0) spaces.pin(s.space, why);
  };
  // A weight a rule slices must be this node's own constant: a tensor shared with other nodes (tied weights)
  // or fed from outside cannot lose slices for one of its users alone.
  const ownConstant = (n: NodeProto, list: readonly PruneSlice[]) =>
    list.every((s) => {
      const t = inits.get(n.input[s.input] ?? '');
      return t !== undefined && t.dims.length > s.axis && uses.get(t.name!) === 1;
    });

  for (const node of inference.order) {
    const rule = getOpRule(node.domain, node.opType!)?.prune;
    const ctx = pruneContext(node, inference.types, inits);
    const ins = node.input.map((v) => (v ? carriers.get(v) : undefined));
    const carried = ins.some((c) => c !== undefined);
    if (carried && node.attribute.some((a) => a.g || a.graphs.length > 0)) {
      for (const c of ins) pin(c, `${label(node)} reads them inside a subgraph`);
      continue;
    }
    if (carried && node.output.slice(1).some((o) => o && uses.has(o))) {
      for (const c of ins) pin(c, `${label(node)} has a second output that is used`);
      continue;
    }
    let out: Carrier | undefined;
    const made = rule?.produces?.(ctx);
    const outDim = ctx.outputs[0]?.shape?.[made?.axis ?? 0];
    if (made && typeof outDim === 'number' && outDim > 1 && ownConstant(node, made.slices)) {
      const space = spaces.add(outDim, node.name || label(node));
      out = { axis: made.axis, segments: [{ space, size: outDim, inner: 1 }] };
      for (const s of made.slices) slices.push({ ...s, node, carrier: out });
    }
    if (!carried) {
      if (out) carriers.set(node.output[0]!, out);
      continue;
    }
    if (!rule && opProps(node.domain, node.opType!).elementwise) {
      const joined = elementwise(node, ctx, ins, spaces, inits, slices, pin, label(node));
      if (joined) carriers.set(node.output[0]!, joined);
      continue;
    }
    const first = ins.findIndex((c) => c !== undefined);
    const firstFlow = rule?.flow(ctx, first, ins[first]!.axis);
    if (firstFlow?.kind === 'concat') {
      const joined = concat(ctx, ins, firstFlow.axis, spaces, pin, label(node));
      if (joined) carriers.set(node.output[0]!, joined);
      continue;
    }
    ins.forEach((c, i) => {
      if (!c) return;
      const flow = i === first ? firstFlow : rule?.flow(ctx, i, c.axis);
      const why = `${label(node)} cannot pass them on (no pruning rule for its input ${i} on axis ${c.axis})`;
      if (!flow || flow.kind === 'concat') return pin(c, why);
      if (flow.kind === 'flatten') {
        out = { axis: flow.axis, segments: c.segments.map((s) => ({ ...s, inner: s.inner * flow.inner })) };
        return;
      }
      if (!ownConstant(node, flow.slices)) return pin(c, `${label(node)}'s weights are shared or not constant`);
      for (const s of flow.slices) slices.push({ ...s, node, carrier: c });
      if (flow.kind === 'through') {
        if (out && !spaces.unify(out, c, `${label(node)} joins channels laid out differently`)) return;
        out = { axis: flow.axis, segments: c.segments };
        if (flow.groups) groupAttrs.push({ node, carrier: c });
      }
    });
    if (out) carriers.set(node.output[0]!, out);
  }
  for (const o of g.output) pin(carriers.get(o.name!), `they reach the graph output '${o.name}'`);
  return { model, ...spaces.result(), slices, groupAttrs };
}

/** An elementwise op: inputs carrying channels meet on one broadcast axis and join; constants there are sliced. */
function elementwise(
  node: NodeProto,
  ctx: PruneContext,
  ins: (Carrier | undefined)[],
  spaces: Spaces,
  inits: ReadonlyMap<string, TensorProto>,
  slices: ChannelSlice[],
  pin: (c: Carrier | undefined, why: string) => void,
  label: string,
): Carrier | undefined {
  const rank = ctx.outputs[0]?.shape?.length;
  const ranks = ctx.inputs.map((t) => t?.shape?.length);
  const aligned = ins.map((c, i) => (c && rank !== undefined && ranks[i] !== undefined ? c.axis + rank - ranks[i]! : undefined));
  const axis = aligned.find((a) => a !== undefined);
  const pinAll = (why: string) => {
    for (const c of ins) pin(c, `${label} ${why}`);
    return undefined;
  };
  if (axis === undefined || ins.some((c, i) => c && aligned[i] !== axis)) return pinAll('meets them on different axes');
  const ref = ins.find((c) => c !== undefined)!;
  for (const c of ins) if (c && c !== ref && !spaces.unify(ref, c, `${label} adds channels laid out differently`)) return undefined;
  const total = ref.segments.reduce((n, s) => n + s.size * s.inner, 0);
  const local: ChannelSlice[] = [];
  for (let i = 0; i < node.input.length; i++) {
    if (ins[i] || !node.input[i]) continue;
    const shape = ctx.inputs[i]?.shape;
    if (!shape) return pinAll(`has input ${i} of unknown shape`);
    const pos = axis - (rank! - shape.length);
    if (pos < 0 || shape[pos] === 1) continue;
    const t = inits.get(node.input[i]!);
    if (shape[pos] !== total || !t) return pinAll(`applies input ${i} ('${node.input[i]}') to each of them`);
    // A constant per channel (a bias, a scale): sliced with them; shared constants get a copy per user when rewritten.
    local.push({ node, input: i, axis: pos, role: 'other', carrier: ref });
  }
  slices.push(...local);
  return { axis, segments: ref.segments };
}

/** Concat: along its axis the inputs' channels follow each other; along another axis they must all agree. */
function concat(
  ctx: PruneContext,
  ins: (Carrier | undefined)[],
  axis: number,
  spaces: Spaces,
  pin: (c: Carrier | undefined, why: string) => void,
  label: string,
): Carrier | undefined {
  const pinAll = (why: string) => {
    for (const c of ins) pin(c, `${label} ${why}`);
    return undefined;
  };
  const carried = ins.filter((c): c is Carrier => c !== undefined);
  if (carried.every((c) => c.axis === axis)) {
    const segments: Segment[] = [];
    for (let i = 0; i < ins.length; i++) {
      const c = ins[i];
      if (c) segments.push(...c.segments);
      else {
        const d = ctx.inputs[i]?.shape?.[axis];
        if (typeof d !== 'number') return pinAll(`joins them with input ${i} of unknown size`);
        segments.push({ space: -1, size: d, inner: 1 });
      }
    }
    return { axis, segments };
  }
  if (carried.length !== ins.length || carried.some((c) => c.axis !== carried[0]!.axis)) return pinAll('joins them along another axis');
  for (const c of carried.slice(1)) if (!spaces.unify(carried[0]!, c, `${label} joins channels laid out differently`)) return undefined;
  return carried[0];
}

function pruneContext(node: NodeProto, types: ReadonlyMap<string, ValueType>, inits: ReadonlyMap<string, TensorProto>): PruneContext {
  return {
    node,
    attr: attrReader(node),
    inputs: node.input.map((v) => (v ? types.get(v) : undefined)),
    outputs: node.output.map((v) => (v ? types.get(v) : undefined)),
    isConstant: (i) => inits.has(node.input[i] ?? ''),
    constantNumbers: (i) => {
      const t = inits.get(node.input[i] ?? '');
      return t ? tensorNumbers(t) : undefined;
    },
  };
}

/** Spaces of channels, joined into groups by union-find; a group is pinned when any of its spaces is. */
class Spaces {
  private parent: number[] = [];
  private sizes: number[] = [];
  private pinned: (string | undefined)[] = [];
  private producers: string[][] = [];

  add(size: number, producer: string): number {
    const id = this.parent.length;
    this.parent.push(id);
    this.sizes.push(size);
    this.pinned.push(undefined);
    this.producers.push([producer]);
    return id;
  }

  find(s: number): number {
    while (this.parent[s] !== s) {
      this.parent[s] = this.parent[this.parent[s]!]!;
      s = this.parent[s]!;
    }
    return s;
  }

  pin(s: number, why: string): void {
    const r = this.find(s);
    this.pinned[r] ??= why;
  }

  /** Joins the spaces of two carriers run by run; when their runs differ they cannot be joined and both are pinned. */
  unify(a: Carrier, b: Carrier, why: string): boolean {
    const same =
      a.segments.length === b.segments.length &&
      a.segments.every((s, i) => s.size === b.segments[i]!.size && s.inner === b.segments[i]!.inner);
    if (!same) {
      for (const s of [...a.segments, ...b.segments]) if (s.space >= 0) this.pin(s.space, why);
      return false;
    }
    a.segments.forEach((s, i) => {
      const t = b.segments[i]!;
      if (s.space < 0 && t.space < 0) return;
      if (s.space < 0 || t.space < 0) return this.pin(s.space < 0 ? t.space : s.space, `${why}: coupled with channels that stay`);
      const [ra, rb] = [this.find(s.space), this.find(t.space)];
      if (ra === rb) return;
      this.parent[rb] = ra;
      this.pinned[ra] ??= this.pinned[rb];
      this.producers[ra]!.push(...this.producers[rb]!);
    });
    return true;
  }

  result(): { groups: ChannelGroup[]; groupOf(space: number): ChannelGroup } {
    const byRoot = new Map<number, ChannelGroup>();
    for (let s = 0; s < this.parent.length; s++) {
      const r = this.find(s);
      if (!byRoot.has(r)) byRoot.set(r, { id: byRoot.size, size: this.sizes[r]!, pinned: this.pinned[r], producers: this.producers[r]! });
    }
    return { groups: [...byRoot.values()], groupOf: (space) => byRoot.get(this.find(space))! };
  }
}
