/**
 * Attention heads as prunable channels (Michel et al., "Are Sixteen Heads Really Better than One?", NeurIPS
 * 2019): the same analysis type as channels.ts, so that importance, selection, sensitivity, gradual pruning
 * and the rewrite (structured.ts) serve both. Each self-attention block the transformer fusion finds
 * (passes/fuse-transformer-attention.ts: Hone's zoo form, PyTorch's and BERT-style exports) is one group of
 * `heads` channels, each `headSize` entries wide: the columns of the Q, K and V projections and their biases,
 * and the rows of the output projection that reads the merged heads. Removing a head removes exactly its
 * contribution: its context rows of the output projection go, and nothing else reads its columns. The
 * Reshapes that split the hidden axis into heads and merge it back spell out the head count (or heads × size,
 * or batch × heads in a sequence-first export): each gets its own shape constant with the kept count.
 *
 * A packed QKV projection (PyTorch's in_proj_weight cut by three Slices) loses the same heads from each of its
 * three runs of columns, and the Slices' bounds follow. A block is left whole (pinned, with the reason) when a
 * piece cannot be rewritten: a weight shared with another node, a merged output that is not read by one
 * output projection (MatMul, or Gemm as PyTorch exports Linear), or a head Reshape or packed Slice whose
 * shape or bounds are computed at run time.
 */
import { badInput } from '../errors.js';
import type { ModelProto } from '../ir/proto.js';
import { tensorNumbers } from '../ir/tensor.js';
import { foldedCopy } from '../passes/fold.js';
import { findAttention, headReshapes, type AttentionMatch } from '../passes/fuse-transformer-attention.js';
import { FusionGraph } from '../passes/fuse-transformer-graph.js';
import { type ChannelAnalysis, type ChannelGroup, type ChannelSlice, type Carrier, type ShapeEdit, useCounts } from './channels.js';

export function analyzeHeads(input: ModelProto): ChannelAnalysis {
  if (!input.graph) throw badInput('the model has no graph; pass an ONNX model file');
  const model = foldedCopy(input).model;
  const fg = new FusionGraph(model);
  const found = findAttention(fg);
  const uses = useCounts(model.graph!);
  const groups: ChannelGroup[] = [];
  const slices: ChannelSlice[] = [];
  const shapeEdits: ShapeEdit[] = [];
  for (const m of found.matches) {
    const group: ChannelGroup = { id: groups.length, size: m.heads, producers: [blockName(m)] };
    groups.push(group);
    const plan = blockPlan(fg, m, group.id, uses);
    if (typeof plan === 'string') group.pinned = plan;
    else {
      slices.push(...plan.slices);
      shapeEdits.push(...plan.shapeEdits);
    }
  }
  if (groups.length === 0) {
    const why = found.rejected[0] ? `; the first candidate: ${found.rejected[0]}` : '';
    throw badInput(
      `no attention heads to prune: the model has no self-attention block Hone recognizes (Softmax between MatMul(Q, Kᵀ) and MatMul(·, V))${why}`,
    );
  }
  return { model, groups, slices, groupAttrs: [], shapeEdits, groupOf: (space) => groups[space]! };
}

/** The block's name for reports: the Softmax's node name, else its output's. */
function blockName(m: AttentionMatch): string {
  return m.softmax.name || m.softmax.output[0]!;
}

/** Every weight slice and shape edit that removing heads of `m` needs, or why the block stays whole. */
function blockPlan(
  fg: FusionGraph,
  m: AttentionMatch,
  space: number,
  uses: ReadonlyMap<string, number>,
): { slices: ChannelSlice[]; shapeEdits: ShapeEdit[] } | string {
  if (m.heads < 2) return 'it has one head';
  const columns: Carrier = { axis: 1, segments: [{ space, size: m.heads, inner: m.headSize }] };
  const rows: Carrier = { axis: 0, segments: [{ space, size: m.heads, inner: m.headSize }] };
  const own = (name: string) => uses.get(name) === 1 && fg.constant(name) !== undefined;
  const slices: ChannelSlice[] = [];
  const shapeEdits: ShapeEdit[] = [];
  const parts = [
    ['Q', m.q],
    ['K', m.k],
    ['V', m.v],
  ] as const;
  for (const [what, src] of parts) if (!src.proj) return `its ${what} does not come from MatMul(x, W) with a constant W`;
  const packed = parts.map(([, src]) => src.proj!.columns);
  if (packed.some((c) => c)) {
    // One packed [in, 3·hidden] projection (PyTorch's in_proj_weight) cut by three Slices: its columns are
    // three runs of the same heads, and each Slice's bounds follow the kept count.
    const plan = packedPlan(fg, m, space, own);
    if (typeof plan === 'string') return plan;
    slices.push(...plan.slices);
    shapeEdits.push(...plan.shapeEdits);
  } else {
    for (const [what, src] of parts) {
      const p = src.proj!;
      if (!own(p.weight)) return `its ${what} projection weight '${p.weight}' is shared with another node`;
      const mm = fg.g.consumers(p.weight)[0]!;
      slices.push({ node: mm, input: 1, axis: 1, role: 'weight', carrier: columns });
      if (p.bias) {
        if (!own(p.bias.value)) return `its ${what} bias '${p.bias.value}' is shared with another node`;
        slices.push({ node: p.bias.add, input: p.bias.add.input.indexOf(p.bias.value), axis: 0, role: 'other', carrier: rows });
      }
    }
  }
  // The merged heads must be read by one MatMul with a constant [hidden, out] weight, hidden last.
  const merged = m.output.value;
  const readers = fg.g.consumers(merged);
  const proj = readers.length === 1 ? readers[0]! : undefined;
  if (m.output.perm.at(-1) !== 2 || fg.shape(merged)?.at(-1) !== m.hidden)
    return 'its merged heads are not [.., hidden] with the hidden axis last';
  // MatMul(merged, W[hidden, out]) or Gemm(merged, W) (W[out, hidden] with transB, as PyTorch exports Linear).
  const attr = (name: string) => Number(proj?.attribute.find((a) => a.name === name)?.i ?? 0);
  const isLinear = proj?.opType === 'MatMul' || (proj?.opType === 'Gemm' && attr('transA') === 0);
  if (!proj || !isLinear || proj.input[0] !== merged || !own(proj.input[1]!) || fg.constant(proj.input[1]!)!.dims.length !== 2)
    return 'its merged heads are not read by one output projection (MatMul or Gemm) with a constant weight';
  const transB = proj.opType === 'Gemm' && attr('transB') !== 0;
  slices.push({ node: proj, input: 1, axis: transB ? 1 : 0, role: 'weight', carrier: transB ? columns : rows });

  for (const { node, layout } of headReshapes(fg, m)) {
    // The axis holding the head index: its outer hidden-axis factor (size × inner = hidden).
    const axis = layout.findIndex((a) => a.some((f) => f.label === 'x2' && f.size * f.inner === m.hidden));
    if (axis < 0) continue;
    const shape = fg.constant(node.input[1] ?? '');
    if (!shape) return `its head Reshape '${node.name || node.output[0]}' computes its shape at run time`;
    const entry = tensorNumbers(shape)[axis]!;
    if (entry === -1) continue;
    if (entry <= 0 || entry % m.heads !== 0)
      return `its head Reshape '${node.name || node.output[0]}' takes the head count from its input (shape entry ${entry})`;
    shapeEdits.push({ node, input: 1, entry: axis, perChannel: entry / m.heads, carrier: counts(space, m.heads) });
  }
  return { slices, shapeEdits };
}

/** A carrier whose kept count is the number of kept heads (for shape and bound edits). */
function counts(space: number, heads: number): Carrier {
  return { axis: 0, segments: [{ space, size: heads, inner: 1 }] };
}

/** The slices and Slice-bound edits of a packed Q/K/V projection, or why it stays whole. */
function packedPlan(
  fg: FusionGraph,
  m: AttentionMatch,
  space: number,
  own: (name: string) => boolean,
): { slices: ChannelSlice[]; shapeEdits: ShapeEdit[] } | string {
  const projs = [m.q.proj!, m.k.proj!, m.v.proj!];
  const p = projs[0]!;
  if (projs.some((q) => !q.columns || q.weight !== p.weight || q.bias?.add !== p.bias?.add))
    return 'its Q, K and V come partly from one packed projection';
  if (!own(p.weight)) return `its packed projection weight '${p.weight}' is shared with another node`;
  const D = m.hidden;
  const width = fg.constant(p.weight)!.dims.map(Number)[1];
  const starts = projs.map((q) => q.columns![0]).sort((a, b) => a - b);
  if (width !== 3 * D || starts.join() !== [0, D, 2 * D].join() || projs.some((q) => q.columns![1] - q.columns![0] !== D))
    return 'its packed projection is not three runs of the hidden size';
  const segments = [0, 1, 2].map(() => ({ space, size: m.heads, inner: m.headSize }));
  const slices: ChannelSlice[] = [
    { node: fg.g.consumers(p.weight)[0]!, input: 1, axis: 1, role: 'weight', carrier: { axis: 1, segments } },
  ];
  if (p.bias) {
    if (!own(p.bias.value)) return `its packed bias '${p.bias.value}' is shared with another node`;
    slices.push({
      node: p.bias.add,
      input: p.bias.add.input.indexOf(p.bias.value),
      axis: 0,
      role: 'other',
      carrier: { axis: 0, segments },
    });
  }
  // Each part's Slice: its start and end (multiples of the hidden size) become multiples of the kept width.
  const shapeEdits: ShapeEdit[] = [];
  for (const src of [m.q, m.k, m.v]) {
    const sl = fg.g.producer(src.value);
    if (sl?.opType !== 'Slice') return 'its packed projection is not cut by Slice nodes';
    for (const input of [1, 2]) {
      const bound = fg.constant(sl.input[input] ?? '');
      if (!bound) return `the Slice '${sl.name || sl.output[0]}' of its packed projection computes its bounds at run time`;
      const e = tensorNumbers(bound)[0]!;
      if (e === 0 || e > 3 * D) continue; // from the start, or to the end
      if (e < 0 || e % m.heads !== 0) return `the Slice '${sl.name || sl.output[0]}' of its packed projection has a bound ${e}`;
      shapeEdits.push({ node: sl, input, entry: 0, perChannel: e / m.heads, carrier: counts(space, m.heads) });
    }
  }
  return { slices, shapeEdits };
}
