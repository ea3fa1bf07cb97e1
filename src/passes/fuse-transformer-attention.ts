/**
 * Self-attention → com.microsoft MultiHeadAttention or Attention (fuse-transformer.ts).
 *
 * The match starts at each Softmax over the last axis whose output only feeds a MatMul (probabilities ·
 * V) and whose input is MatMul(Q, Kᵀ), optionally scaled by constants and plus an additive mask. Q, Kᵀ and
 * V are followed back through the ops exporters put between a projection and the heads (Reshape,
 * Transpose, Unsqueeze/Squeeze, scaling by a constant) to 3-D values of one shape, the sources; their
 * axes are then followed forward as layouts (fuse-transformer-graph.ts), which must show Q as
 * [batch…, seq, head] with the head a contiguous slice of the sources' last axis, Kᵀ as [batch…, head, seq]
 * and V as [batch…, seq, head], the batch axes being the sources' batch axis and the head index. So
 * Hone's zoo form ([B,S,D] → [B,S,H,d] → [B,H,S,d]) and PyTorch's nn.MultiheadAttention export ([S,B,D] →
 * [S,B·H,d] → [B·H,S,d], q pre-divided by √d) are the same match. The output is followed forward the same
 * way to the first value where the heads are merged back ([B,S,D], [S,B,D] or [S·B,D]).
 *
 * Masks: an additive key-padding mask built from a [B, T] mask (PyTorch: Where(mask == 0, -inf, 0) via
 * Reshape/Expand; BERT: (1 - mask) · -10000) becomes the fused op's 2-D key padding input; other masks
 * leave the attention unfused.
 */
import { attrReader } from '../ir/attrs.js';
import type { NodeProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { tensorNumbers } from '../ir/tensor.js';
import {
  type Factor,
  type FusionGraph,
  type Layout,
  isLastAxis,
  isOnnx,
  near,
  reshapeLayout,
  sameFactors,
  sourceLayout,
  transposeLayout,
  whole,
} from './fuse-transformer-graph.js';
import type { Found } from './fuse-transformer-norm.js';

/** The fused op: MultiHeadAttention keeps the Q/K/V projections (for a quantizer); Attention packs them. */
export type AttentionForm = 'mha' | 'attention';

interface Projection {
  /** The projection's input (3-D, same layout as the source). */
  x: string;
  weight: string;
  /** Constant bias added after the MatMul, when there is one. */
  bias?: { add: NodeProto; value: string };
  /** For a packed QKV projection: the columns of this part [start, end). */
  columns?: [number, number];
}

interface Source {
  /** The 3-D value the heads are cut from. */
  value: string;
  proj?: Projection;
}

export interface AttentionMatch {
  softmax: NodeProto;
  /** MatMul(Q, Kᵀ) and MatMul(probabilities, V). */
  qk: NodeProto;
  pv: NodeProto;
  /** The layout of probabilities·V's output (axes of the sources, labelled x0, x1, x2). */
  pvLayout: Layout;
  heads: number;
  headSize: number;
  hidden: number;
  /** The score scale when it is not 1/√headSize. */
  scale?: number;
  q: Source;
  k: Source;
  v: Source;
  /** The sources are [seq, batch, hidden] (PyTorch's sequence-first layout) rather than [batch, seq, hidden]. */
  seqFirst: boolean;
  /** The value of merged heads the fused op replaces, and how to get it from [batch, seq, hidden]. */
  output: { value: string; perm: number[]; shape?: number[] };
  /** 2-D [batch, seq] key padding mask: `value` (bool or integer); attend where it is nonzero, or zero when `inverted`. */
  mask?: { value: string; inverted: boolean };
}

const label = (n: NodeProto) => n.name || `${n.opType}(${n.output[0]})`;

export function findAttention(fg: FusionGraph): Found<AttentionMatch> {
  const matches: AttentionMatch[] = [];
  const rejected: string[] = [];
  for (const sm of fg.g.nodes) {
    if (sm.opType !== 'Softmax' || !isOnnx(sm)) continue;
    const r = matchAttention(fg, sm);
    if (typeof r === 'string') rejected.push(`${label(sm)}: ${r}`);
    else matches.push(r);
  }
  return { matches, rejected };
}

/** The constant scalar factor a Mul/Div applies to its data input (Div by c gives 1/c), or undefined. */
function scaleOf(fg: FusionGraph, n: NodeProto): number | undefined {
  if (!isOnnx(n) || n.input.length !== 2) return undefined;
  if (n.opType === 'Mul') return fg.scalar(n.input[1]!) ?? fg.scalar(n.input[0]!);
  if (n.opType === 'Div') {
    const s = fg.scalar(n.input[1]!);
    return s === undefined || s === 0 ? undefined : 1 / s;
  }
  return undefined;
}

/** The input a node passes on: the non-constant operand of a scaling Mul/Div, else input 0. */
function dataInput(fg: FusionGraph, n: NodeProto): string {
  return n.opType === 'Mul' && fg.scalar(n.input[1]!) === undefined ? n.input[1]! : n.input[0]!;
}

const HEAD_OPS = ['Reshape', 'Transpose', 'Unsqueeze', 'Squeeze', 'Mul', 'Div'];

/** A head tensor's path back to its source: the nodes from the source forward. */
interface HeadPath {
  source: string;
  nodes: NodeProto[];
  layout: Layout;
  scale: number;
}

/** Follows `value` back through head ops and replays the layouts forward from the deepest 3-D value that works. */
function headPath(fg: FusionGraph, value: string): HeadPath | string {
  const chain: NodeProto[] = [];
  for (let v = value; chain.length < 8; ) {
    const p = fg.producer(v, ...HEAD_OPS);
    if (!p || ((p.opType === 'Mul' || p.opType === 'Div') && scaleOf(fg, p) === undefined)) break;
    chain.unshift(p);
    v = dataInput(fg, p);
  }
  // Candidate sources: the data input of each chain node, deepest first, then the head value itself.
  for (let i = 0; i <= chain.length; i++) {
    const src = i < chain.length ? dataInput(fg, chain[i]!) : value;
    const dims = fg.shape(src);
    if (dims?.length !== 3) continue;
    const replay = replayLayout(fg, chain.slice(i), sourceLayout(dims, 'x'));
    if (replay) return { source: src, nodes: chain.slice(i), layout: replay.layout, scale: replay.scale };
  }
  return 'its Q/K/V heads do not come from 3-D values through Reshape/Transpose';
}

function replayLayout(fg: FusionGraph, nodes: NodeProto[], start: Layout): { layout: Layout; scale: number } | undefined {
  let layout: Layout | undefined = start;
  let scale = 1;
  for (const n of nodes) {
    if (!layout) return undefined;
    switch (n.opType) {
      case 'Transpose':
        layout = transposeLayout(layout, attrReader(n).ints('perm'));
        break;
      case 'Reshape':
      case 'Unsqueeze':
      case 'Squeeze': {
        const dims = fg.shape(n.output[0]!);
        layout = dims && reshapeLayout(layout, dims);
        break;
      }
      default: {
        const s = scaleOf(fg, n);
        if (s === undefined) return undefined;
        scale *= s;
      }
    }
  }
  return layout ? { layout, scale } : undefined;
}

function matchAttention(fg: FusionGraph, sm: NodeProto): AttentionMatch | string {
  const scores = sm.input[0]!;
  const rank = fg.shape(scores)?.length;
  if (!rank || rank < 3) return 'its input is not a batch of score matrices with known dims';
  if (!isLastAxis(attrReader(sm).int('axis', fg.opset >= 13 ? -1 : 1), rank)) return 'it is not over the last axis';
  const pv = fg.soleConsumer(sm.output[0]!);
  if (pv?.opType !== 'MatMul' || pv.input[0] !== sm.output[0]) return 'its output does not only feed MatMul(probabilities, V)';

  // Back from the scores: scales, an optional mask Add, scales, then MatMul(Q, Kᵀ).
  let scale = 1;
  let v = scores;
  let mask: string | undefined;
  let qk: NodeProto | undefined;
  const leadsToMatMul = (x: string): boolean => {
    for (let u = x, i = 0; i < 4; i++) {
      const q = fg.producer(u, 'MatMul', 'Mul', 'Div');
      if (!q) return false;
      if (q.opType === 'MatMul') return true;
      if (scaleOf(fg, q) === undefined) return false;
      u = dataInput(fg, q);
    }
    return false;
  };
  for (let steps = 0; steps < 6 && !qk; steps++) {
    const p = fg.g.producer(v);
    if (!p || !isOnnx(p) || !fg.soleConsumer(v)) return 'its scores are not MatMul(Q, Kᵀ)';
    if (p.opType === 'MatMul') qk = p;
    else if (p.opType === 'Add' && mask === undefined) {
      if (scale !== 1) return 'the scores are scaled after the mask is added';
      // The mask is the operand that does not lead back to the MatMul.
      const [a, b] = p.input as [string, string];
      if (leadsToMatMul(a) && !leadsToMatMul(b)) [v, mask] = [a, b];
      else if (leadsToMatMul(b) && !leadsToMatMul(a)) [v, mask] = [b, a];
      else return 'its scores are not MatMul(Q, Kᵀ) plus a mask';
    } else {
      const s = p.opType === 'Mul' || p.opType === 'Div' ? scaleOf(fg, p) : undefined;
      if (s === undefined) return `its scores go through ${p.opType}, not only scaling and a mask`;
      scale *= s;
      v = dataInput(fg, p);
    }
  }
  if (!qk) return 'its scores are not MatMul(Q, Kᵀ)';

  const qp = headPath(fg, qk.input[0]!);
  const kp = headPath(fg, qk.input[1]!);
  const vp = headPath(fg, pv.input[1]!);
  for (const p of [qp, kp, vp]) if (typeof p === 'string') return p;
  const [q, k, val] = [qp, kp, vp] as HeadPath[];
  const dims = fg.shape(q!.source)!;
  if (fg.shape(k!.source)?.join() !== dims.join() || fg.shape(val!.source)?.join() !== dims.join())
    return 'Q, K and V come from values of different shapes (not self-attention)';
  if (val!.scale !== 1) return 'V is scaled';
  scale *= q!.scale * k!.scale;

  // Layouts: Q [batch…, seq, head], Kᵀ [batch…, head, seq], V [batch…, seq, head].
  const D = dims[2]!;
  const [lq, lk, lv] = [q!.layout, k!.layout, val!.layout];
  if (lq.length !== rank || lk.length !== rank || lv.length !== rank) return 'Q, Kᵀ and V are not of the scores’ rank';
  const headAxis = lq[rank - 1]!;
  const seqAxis = lq[rank - 2]!;
  if (headAxis.length !== 1 || headAxis[0]!.label !== 'x2' || headAxis[0]!.inner !== 1)
    return 'a head is not a contiguous slice of the hidden axis';
  if (seqAxis.length !== 1 || seqAxis[0]!.inner !== 1 || !['x0', 'x1'].includes(seqAxis[0]!.label)) return 'Q is not [batch…, seq, head]';
  const headSize = headAxis[0]!.size;
  const heads = D / headSize;
  const seqLabel = seqAxis[0]!.label;
  const batchLabel = seqLabel === 'x0' ? 'x1' : 'x0';
  const batchSize = dims[batchLabel === 'x0' ? 0 : 1]!;
  const head: Factor = { label: 'x2', size: heads, inner: headSize };
  const batchAxes = lq.slice(0, rank - 2);
  const flat = batchAxes.flat();
  const expected = [...(batchSize > 1 ? [whole(batchLabel, batchSize)] : []), ...(heads > 1 ? [head] : [])];
  if (flat.length !== expected.length || !expected.every((e) => flat.some((f) => sameFactors([f], [e]))))
    return 'the batch axes of Q are not the batch and the head index';
  const sameBatch = (l: Layout) => l.slice(0, rank - 2).every((a, i) => sameFactors(a, batchAxes[i]!));
  if (!sameBatch(lk) || !sameBatch(lv)) return 'Q, K and V do not share batch and head axes';
  const headF = [{ label: 'x2', size: headSize, inner: 1 }];
  const seqF = [whole(seqLabel, dims[seqLabel === 'x0' ? 0 : 1]!)];
  if (!sameFactors(lk[rank - 2]!, headF) || !sameFactors(lk[rank - 1]!, seqF)) return 'K is not transposed to [batch…, head, seq]';
  if (!sameFactors(lv[rank - 2]!, seqF) || !sameFactors(lv[rank - 1]!, headF)) return 'V is not [batch…, seq, head]';

  // Forward from probabilities · V to where the heads are merged back.
  const pvLayout: Layout = [...batchAxes, seqF, headF];
  const output = mergedOutput(fg, pv, pvLayout, { batch: batchLabel, seq: seqLabel, D });
  if (typeof output === 'string') return output;

  let maskInfo: AttentionMatch['mask'];
  if (mask !== undefined) {
    const m = keyPaddingMask(fg, mask, {
      batch: batchSize,
      seq: seqF[0]!.size,
      rank,
      batchAxes: batchAxes.map((a) => a.filter((f) => f.label === batchLabel)),
    });
    if (typeof m === 'string') return m;
    maskInfo = m;
  }
  const def = 1 / Math.sqrt(headSize);
  return {
    softmax: sm,
    qk,
    pv,
    pvLayout,
    heads,
    headSize,
    hidden: D,
    scale: near(scale, def, 1e-6) ? undefined : scale,
    q: { value: q!.source, proj: projection(fg, q!.source) },
    k: { value: k!.source, proj: projection(fg, k!.source) },
    v: { value: val!.source, proj: projection(fg, val!.source) },
    seqFirst: seqLabel === 'x0',
    output,
    mask: maskInfo,
  };
}

/**
 * The Reshapes on a match's paths — from each source to its head tensor, and from probabilities·V to the
 * merged output — with the layout of each one's output: what a rewrite that changes the head count
 * (structured pruning of heads) must resize.
 */
export function headReshapes(fg: FusionGraph, m: AttentionMatch): { node: NodeProto; layout: Layout }[] {
  const out: { node: NodeProto; layout: Layout }[] = [];
  const follow = (nodes: readonly NodeProto[], start: Layout) => {
    let layout: Layout | undefined = start;
    for (const n of nodes) {
      if (!layout) return;
      const next = replayLayout(fg, [n], layout);
      layout = next?.layout;
      if (n.opType === 'Reshape' && layout) out.push({ node: n, layout });
    }
  };
  for (const value of [m.qk.input[0]!, m.qk.input[1]!, m.pv.input[1]!]) {
    const p = headPath(fg, value);
    if (typeof p !== 'string') follow(p.nodes, sourceLayout(fg.shape(p.source)!, 'x'));
  }
  const merge: NodeProto[] = [];
  for (let v = m.pv.output[0]!; v !== m.output.value; ) {
    const n = fg.soleConsumer(v);
    if (!n) break;
    merge.push(n);
    v = n.output[0]!;
  }
  follow(merge, m.pvLayout);
  return out;
}

/** The last value after probabilities·V (through Transpose/Reshape that only it feeds) whose axes are whole source axes. */
function mergedOutput(
  fg: FusionGraph,
  pv: NodeProto,
  start: Layout,
  s: { batch: string; seq: string; D: number },
): AttentionMatch['output'] | string {
  let layout: Layout | undefined = start;
  let value = pv.output[0]!;
  let found: { value: string; layout: Layout } | undefined;
  for (let i = 0; i < 6 && layout; i++) {
    if (isMerged(layout, s.D)) found = { value, layout };
    const n = fg.soleConsumer(value);
    if (!n || !isOnnx(n) || !['Transpose', 'Reshape'].includes(n.opType ?? '') || n.input[0] !== value) break;
    layout =
      n.opType === 'Transpose' ? transposeLayout(layout, attrReader(n).ints('perm')) : reshapeLayout(layout, fg.shape(n.output[0]!) ?? []);
    value = n.output[0]!;
  }
  if (!found) return 'its heads are not merged back into one hidden axis';
  // The fused op gives [batch, seq, hidden] (roles 0, 1, 2); the merged value holds them in the order its
  // factors show. A size-1 batch or seq has no factor: an empty axis of a 3-D value takes it in place,
  // otherwise it goes last and the Reshape below places it.
  const role = (f: Factor): number => (f.label === s.batch ? 0 : f.label === s.seq ? 1 : 2);
  const present = new Set(found.layout.flat().map(role));
  const missing = [0, 1, 2].filter((r) => !present.has(r));
  const simple = found.layout.length === 3 && found.layout.every((a) => a.length <= 1);
  if (simple) return { value: found.value, perm: found.layout.map((a) => (a.length ? role(a[0]!) : missing.shift()!)) };
  const perm = [...found.layout.flat().map(role), ...missing];
  // Otherwise a Reshape: fixed dims stay, one symbolic dim becomes -1.
  const dims = fg.shape(found.value)!;
  const sym = fg.symShape(found.value);
  const shape = dims.map((d, i) => (typeof sym?.[i] === 'number' ? d : -1));
  if (shape.filter((d) => d === -1).length > 1) return 'its merged output needs a reshape of more than one symbolic dim';
  return { value: found.value, perm, shape };
}

function isMerged(layout: Layout, D: number): boolean {
  const flat = layout.flat();
  return (
    flat.every((f) => f.inner === 1) &&
    flat.some((f) => f.label === 'x2' && f.size === D) &&
    new Set(flat.map((f) => f.label)).size === flat.length
  );
}

/** The projection a source comes from: [Add(bias)] MatMul(x, W) with a constant 2-D W, or a column slice of a packed one. */
function projection(fg: FusionGraph, value: string): Projection | undefined {
  let v = value;
  let columns: [number, number] | undefined;
  const slice = fg.producer(v, 'Slice');
  if (slice) {
    const c = sliceColumns(fg, slice);
    if (!c) return undefined;
    columns = c;
    v = slice.input[0]!;
  }
  let bias: Projection['bias'];
  const add = fg.producer(v, 'Add');
  let mm = fg.producer(v, 'MatMul');
  if (add) {
    for (const i of [0, 1]) {
      const c = fg.constant(add.input[i]!);
      const m = fg.producer(add.input[1 - i]!, 'MatMul');
      if (c && c.dims.length === 1 && m) {
        bias = { add, value: add.input[i]! };
        mm = m;
      }
    }
  }
  if (!mm) return undefined;
  const w = fg.constant(mm.input[1]!);
  if (w?.dims.length !== 2 || w.dataType !== DataType.FLOAT) return undefined;
  if (fg.shape(mm.input[0]!)?.length !== 3) return undefined;
  return { x: mm.input[0]!, weight: mm.input[1]!, bias, columns };
}

/** The [start, end) a Slice takes along the last axis (steps 1), or undefined. */
function sliceColumns(fg: FusionGraph, s: NodeProto): [number, number] | undefined {
  const dims = fg.shape(s.input[0]!);
  if (!dims) return undefined;
  const num = (i: number) => {
    const t = s.input[i] ? fg.constant(s.input[i]!) : undefined;
    return t ? tensorNumbers(t) : undefined;
  };
  const [starts, ends, axes, steps] = [num(1), num(2), s.input[3] ? num(3) : [dims.length - 1], s.input[4] ? num(4) : [1]];
  if (starts?.length !== 1 || ends?.length !== 1 || axes?.length !== 1 || steps?.[0] !== 1) return undefined;
  if (!isLastAxis(axes[0]!, dims.length)) return undefined;
  const n = dims.at(-1)!;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + n : x, 0), n);
  return [clamp(starts[0]!), clamp(ends[0]!)];
}

// ---- Masks -----------------------------------------------------------------------------------------

const MASK_OPS = ['Reshape', 'Expand', 'Unsqueeze', 'Squeeze', 'Cast'];

interface ScoreAxes {
  batch: number;
  seq: number;
  rank: number;
  /** Per batch axis of the scores, its batch factor (if any): where a key-padding mask must put its rows. */
  batchAxes: Factor[][];
}

/**
 * An additive mask of large negative values at padded keys, built from a [batch, seq] tensor: PyTorch's
 * Where(mask == 0, -inf, 0) (times 1) Reshaped/Expanded to [B·H, 1, T], or BERT's (1 - mask) · -10000
 * Unsqueezed to [B, 1, 1, T]. Returns the [B, T] value and whether nonzero there means "padded".
 */
function keyPaddingMask(fg: FusionGraph, m: string, axes: ScoreAxes): AttentionMatch['mask'] | string {
  let v = m;
  const mul = fg.producer(v, 'Mul');
  if (mul) {
    const s = scaleOf(fg, mul);
    if (s === undefined) return 'its mask is not a constant multiple of a padding mask';
    const data = dataInput(fg, mul);
    const sub = fg.producer(data, 'Sub');
    // BERT: (1 - mask) · -10000: the factor is the large negative.
    if (sub && s <= -1e4 && fg.scalar(sub.input[0]!) === 1) return maskSource(fg, sub.input[1]!, axes, false);
    // A positive factor keeps large negatives large negatives.
    if (s <= 0) return 'its mask is scaled by a non-positive factor';
    v = data;
  }
  const where = fg.producer(v, 'Where');
  if (!where) return 'its additive mask is not Where(padding, -inf, 0) or (1 - mask) · -10000';
  const neg = fg.scalar(where.input[1]!);
  const zero = fg.constant(where.input[2]!);
  const cof = fg.producer(where.input[2]!, 'ConstantOfShape');
  const fill = cof?.attribute.find((a) => a.name === 'value')?.t;
  const zeros = zero
    ? tensorNumbers(zero).every((x) => x === 0)
    : cof !== undefined && (!fill || tensorNumbers(fill).every((x) => x === 0));
  if (neg === undefined || neg > -1e4 || !zeros) return 'its mask Where does not pick a large negative at padded keys and 0 elsewhere';
  return maskSource(fg, where.input[0]!, axes, true);
}

/**
 * Follows a mask back through Reshape/Expand/Unsqueeze/Cast to a [batch, seq] value (and through
 * `x == 0` or Not, which flip its meaning), then replays its layout forward: its rows must land on the
 * scores' batch factor, its columns on the key axis, and it must be constant over queries and heads.
 */
function maskSource(fg: FusionGraph, value: string, axes: ScoreAxes, padded: boolean): AttentionMatch['mask'] | string {
  const chain: NodeProto[] = [];
  let v = value;
  const isBT = (x: string) => {
    const d = fg.shape(x);
    return d?.length === 2 && d[0] === axes.batch && d[1] === axes.seq;
  };
  while (!isBT(v) && chain.length < 8) {
    const p = fg.producer(v, ...MASK_OPS);
    if (!p) return 'its mask does not come from a [batch, seq] padding mask';
    chain.unshift(p);
    v = p.input[0]!;
  }
  if (!isBT(v)) return 'its mask does not come from a [batch, seq] padding mask';
  const source = v;
  let layout: Layout | undefined = sourceLayout(fg.shape(source)!, 'm');
  for (const n of chain) {
    const dims = fg.shape(n.output[0]!);
    if (!dims || !layout) return 'its mask has unknown dims';
    if (n.opType === 'Cast') continue;
    if (n.opType === 'Expand') {
      const prev: Layout = layout;
      const r = dims.length - prev.length;
      if (r < 0) return 'its mask Expand drops axes';
      const padded: Layout = [...Array.from({ length: r }, (): Factor[] => []), ...prev];
      layout = padded.map((a, i) => (a.length === 0 && dims[i]! > 1 ? [{ label: `bcast${i}`, size: dims[i]!, inner: 1 }] : a));
    } else layout = reshapeLayout(layout, dims);
  }
  if (!layout || layout.length > axes.rank) return 'its mask does not broadcast to the scores';
  const full: Layout = [...Array.from({ length: axes.rank - layout.length }, (): Factor[] => []), ...layout];
  const rows = (a: Factor[]) => a.filter((f) => !f.label.startsWith('bcast'));
  const ok =
    full.slice(0, axes.rank - 2).every((a, i) => {
      const want = axes.batchAxes[i]!;
      const got = rows(a);
      return got.length === want.length && got.every((f) => f.label === 'm0' && f.size === axes.batch && f.inner === 1);
    }) &&
    rows(full[axes.rank - 2]!).length === 0 &&
    sameFactors(full[axes.rank - 1]!, [whole('m1', axes.seq)]);
  if (!ok) return 'its mask is not a key-padding mask over [batch, seq]';
  // At the [B, T] level, `x == 0` and Not flip the meaning; Cast keeps it.
  let inverted = padded;
  for (let i = 0; i < 4; i++) {
    const p = fg.producer(v, 'Equal', 'Not', 'Cast');
    if (!p || !isBT(p.input[0]!)) break;
    if (p.opType === 'Equal' && fg.scalar(p.input[1]!) !== 0) break;
    if (p.opType !== 'Cast') inverted = !inverted;
    v = p.input[0]!;
  }
  return { value: v, inverted };
}

// ---- Rewrite ---------------------------------------------------------------------------------------

const maskCache = new WeakMap<FusionGraph, Map<string, string>>();

export function fuseAttention(fg: FusionGraph, m: AttentionMatch, form: AttentionForm): boolean {
  const base = `${m.softmax.name || m.softmax.output[0]}`;
  const g = fg.g;
  const batchFirst = (x: string): string => {
    if (!m.seqFirst) return x;
    const t = fg.producer(x, 'Transpose');
    if (t && attrReader(t).ints('perm')?.join() === '1,0,2') return t.input[0]!;
    const y = g.freshName(`${x}_bsd`);
    g.insertNode(fg.node('Transpose', [x], [y], { perm: [1, 0, 2] }, `${base}_to_bsd`));
    return y;
  };
  const maskInput = (): string => {
    if (!m.mask) return '';
    // Layers share their padding mask: one int32 copy of it.
    let cache = maskCache.get(fg);
    if (!cache) maskCache.set(fg, (cache = new Map()));
    const key = `${m.mask.value}|${m.mask.inverted}`;
    const hit = cache.get(key);
    if (hit) return hit;
    let v = m.mask.value;
    if (m.mask.inverted) {
      const b = fg.elemType(v) === DataType.BOOL ? v : cast(v, DataType.BOOL);
      v = g.freshName(`${base}_keep`);
      g.insertNode(fg.node('Not', [b], [v], {}, `${base}_mask_not`));
    }
    const r = cast(v, DataType.INT32);
    cache.set(key, r);
    return r;
  };
  const cast = (x: string, to: number): string => {
    if (fg.elemType(x) === to) return x;
    const y = g.freshName(`${x}_${to === DataType.INT32 ? 'i32' : 'bool'}`);
    g.insertNode(fg.node('Cast', [x], [y], { to }, `${base}_mask_cast`));
    return y;
  };
  const attrs: Record<string, number> = { num_heads: m.heads };
  if (m.scale !== undefined) attrs.scale = m.scale;
  let opType: string;
  let inputs: string[];
  if (form === 'attention') {
    const ps = [m.q.proj, m.k.proj, m.v.proj];
    if (ps.some((p) => !p) || new Set(ps.map((p) => p!.x)).size !== 1) return false;
    const x = ps[0]!.x;
    const din = fg.shape(x)![2]!;
    const width = 3 * m.hidden;
    const weight = new Float32Array(din * width);
    const bias = new Float32Array(width);
    for (const [part, p] of (ps as Projection[]).entries()) {
      const w = fg.floats(p.weight)!;
      const cols = fg.shape(p.weight)![1]!;
      const [c0, c1] = p.columns ?? [0, cols];
      if (c1 - c0 !== m.hidden) return false;
      for (let r = 0; r < din; r++) for (let c = c0; c < c1; c++) weight[r * width + part * m.hidden + (c - c0)] = w[r * cols + c]!;
      const b = p.bias && fg.floats(p.bias.value);
      if (b) for (let c = c0; c < c1; c++) bias[part * m.hidden + (c - c0)] = b[c]!;
    }
    opType = 'Attention';
    inputs = [
      batchFirst(x),
      fg.addFloats(`${base}_qkv_weight`, [din, width], weight),
      fg.addFloats(`${base}_qkv_bias`, [width], bias),
      maskInput(),
    ];
  } else {
    // The projections' bias Adds stay, for the quantizer to fold into its integer MatMuls. Moved into the
    // op's bias input instead they measured no faster (zoo encoder 8×128, 1 thread, two runs: int8 24.1
    // and 23.8 ms vs 21.9 and 23.0 with the Adds; fp32 53.1 and 57.2 vs 53.9 and 59.8).
    inputs = [...[m.q.value, m.k.value, m.v.value].map(batchFirst), '', maskInput()];
    opType = 'MultiHeadAttention';
  }
  while (inputs.at(-1) === '') inputs.pop();

  // The op gives [batch, seq, hidden]; a Transpose and/or Reshape turn it into the merged value the graph had.
  const y = m.output.value;
  g.removeNode(g.producer(y)!);
  const identity = m.output.perm.every((p, i) => p === i);
  const out = identity && !m.output.shape ? y : g.freshName(`${base}_attention`);
  g.insertNode(fg.node(opType, inputs, [out], attrs, `${base}_fused`, 'com.microsoft'));
  let cur = out;
  if (!identity) {
    const t = m.output.shape ? g.freshName(`${y}_t`) : y;
    g.insertNode(fg.node('Transpose', [cur], [t], { perm: m.output.perm }, `${base}_out_transpose`));
    cur = t;
  }
  if (m.output.shape)
    g.insertNode(fg.node('Reshape', [cur, fg.addInts(`${base}_out_shape`, m.output.shape)], [y], {}, `${base}_out_reshape`));
  return true;
}
