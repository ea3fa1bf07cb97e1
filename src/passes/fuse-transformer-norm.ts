/**
 * Normalisation fusions of the transformer passes (fuse-transformer.ts): each finds its pattern in a
 * FusionGraph and rewrites the graph in place (the pass works on a copy). A `find*` function lists the
 * matches and the reasons candidates were rejected, so `applies` can say why a model has none.
 */
import { attrReader } from '../ir/attrs.js';
import type { NodeProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { tensorNumbers } from '../ir/tensor.js';
import { type FusionGraph, isLastAxis, isOnnx } from './fuse-transformer-graph.js';

/** Matches found and, when there are none, why the candidates failed. */
export interface Found<M> {
  matches: M[];
  /** One line per rejected candidate (the first few are reported). */
  rejected: string[];
}

const label = (n: NodeProto) => n.name || `${n.opType}(${n.output[0]})`;

// ---- LayerNormalization from its decomposed form ----------------------------------------------------

/**
 * y = (x - mean(x)) / sqrt(mean((x - mean(x))²) + eps) · gamma + beta over the last axis, as PyTorch
 * exports nn.LayerNorm below opset 17 and TensorFlow writes it: ReduceMean, Sub, Pow(2) or Mul(d, d),
 * ReduceMean, Add(eps), Sqrt, Div, then optional Mul(gamma) and Add(beta).
 */
export interface LayerNormMatch {
  x: string;
  eps: number;
  gamma?: string;
  beta?: string;
  /** The value the fused op produces. */
  y: string;
  nodes: NodeProto[];
}

export function findLayerNorms(fg: FusionGraph): Found<LayerNormMatch> {
  const matches: LayerNormMatch[] = [];
  const rejected: string[] = [];
  for (const mean of fg.g.nodes) {
    if (mean.opType !== 'ReduceMean' || !isOnnx(mean)) continue;
    const r = matchLayerNorm(fg, mean);
    if (typeof r === 'string') rejected.push(`${label(mean)}: ${r}`);
    else if (r) matches.push(r);
  }
  return { matches, rejected };
}

function lastAxisMean(fg: FusionGraph, n: NodeProto): boolean {
  const rank = fg.shape(n.input[0]!)?.length;
  const axes = fg.reduceAxes(n);
  return rank !== undefined && axes?.length === 1 && isLastAxis(axes[0]!, rank) && attrReader(n).int('keepdims', 1) !== 0;
}

/** The match, a reason it is not one, or undefined when `mean` is the second ReduceMean of some pattern. */
function matchLayerNorm(fg: FusionGraph, mean: NodeProto): LayerNormMatch | string | undefined {
  const x = mean.input[0]!;
  const sub = fg.soleConsumer(mean.output[0]!);
  if (sub?.opType !== 'Sub' || sub.input[0] !== x || sub.input[1] !== mean.output[0]) {
    // The variance's ReduceMean reads Pow/Mul, not x - mean: not a candidate of its own.
    const p = fg.producer(x, 'Pow', 'Mul');
    return p && fg.producer(p.input[0], 'Sub') ? undefined : 'its mean is not subtracted from its input';
  }
  if (!lastAxisMean(fg, mean)) return 'it does not reduce the last axis (keepdims)';
  const d = sub.output[0]!;
  const users = fg.g.consumers(d);
  const sq = users.find(
    (u) => (u.opType === 'Pow' && fg.scalar(u.input[1]!) === 2) || (u.opType === 'Mul' && u.input[0] === d && u.input[1] === d),
  );
  const div = users.find((u) => u.opType === 'Div' && u.input[0] === d);
  if (!sq || !div || users.length !== 2 || fg.isGraphOutput(d)) return 'x - mean does not feed exactly a square and a division';
  const mean2 = fg.soleConsumer(sq.output[0]!);
  if (mean2?.opType !== 'ReduceMean' || !lastAxisMean(fg, mean2)) return 'the square is not averaged over the last axis';
  const addEps = fg.soleConsumer(mean2.output[0]!);
  const epsName = addEps?.opType === 'Add' ? fg.other(addEps, mean2.output[0]!) : undefined;
  const eps = epsName === undefined ? undefined : fg.scalar(epsName);
  if (!addEps || eps === undefined) return 'no constant epsilon is added to the variance';
  const sqrt = fg.soleConsumer(addEps.output[0]!);
  if (sqrt?.opType !== 'Sqrt' || div.input[1] !== sqrt.output[0] || !fg.onlyFeeds(sqrt.output[0]!, div))
    return 'the division is not by sqrt(var + eps)';
  const nodes = [mean, sub, sq, mean2, addEps, sqrt, div];
  const dim = fg.shape(x)?.at(-1);
  let y = div.output[0]!;
  const affine = (n: NodeProto | undefined, op: string): string | undefined => {
    if (n?.opType !== op || !isOnnx(n)) return undefined;
    const c = fg.other(n, y);
    const t = c === undefined ? undefined : fg.constant(c);
    // A per-channel vector ([D], or [1, …, D]) of the input's element type.
    if (!t || t.dataType !== fg.elemType(x) || t.dims.at(-1) !== dim || t.dims.slice(0, -1).some((v) => Number(v) !== 1)) return undefined;
    return c;
  };
  const mul = fg.soleConsumer(y);
  const gamma = affine(mul, 'Mul');
  if (gamma) {
    nodes.push(mul!);
    y = mul!.output[0]!;
  }
  const add = fg.soleConsumer(y);
  const beta = affine(add, 'Add');
  if (beta) {
    nodes.push(add!);
    y = add!.output[0]!;
  }
  return { x, eps, gamma, beta, y, nodes };
}

export function fuseLayerNorm(fg: FusionGraph, m: LayerNormMatch): void {
  const dim = fg.shape(m.x)!.at(-1)!;
  const vector = (name: string | undefined, fill: number) => {
    if (name && fg.constant(name)!.dims.length === 1) return name;
    const data = name ? fg.floats(name)! : new Float32Array(dim).fill(fill);
    return fg.addFloats(`${m.y}_${fill ? 'gamma' : 'beta'}`, [dim], data);
  };
  const inputs = [m.x, vector(m.gamma, 1)];
  if (m.beta) inputs.push(vector(m.beta, 0));
  for (const n of m.nodes) fg.g.removeNode(n);
  fg.g.insertNode(fg.node('LayerNormalization', inputs, [m.y], { axis: -1, epsilon: m.eps }, `${m.y}_layernorm`));
}

// ---- SkipLayerNormalization --------------------------------------------------------------------------

/**
 * LayerNormalization(a + b [+ bias]) over the last axis of a 3-D residual sum → com.microsoft
 * SkipLayerNormalization(a, b, gamma, beta, bias). When the sum is read elsewhere too (a pre-LN
 * transformer's residual stream), the op's fourth output gives it. A constant bias added to one
 * operand by an Add that only feeds the sum (a projection's bias) moves into the op.
 */
export interface SkipLayerNormMatch {
  ln: NodeProto;
  add: NodeProto;
  input: string;
  skip: string;
  bias?: { add: NodeProto; value: string };
}

export function findSkipLayerNorms(fg: FusionGraph): Found<SkipLayerNormMatch> {
  const matches: SkipLayerNormMatch[] = [];
  const rejected: string[] = [];
  const used = new Set<NodeProto>();
  for (const ln of fg.g.nodes) {
    if (ln.opType !== 'LayerNormalization' || !isOnnx(ln)) continue;
    const r = matchSkipLayerNorm(fg, ln);
    if (typeof r === 'string') rejected.push(`${label(ln)}: ${r}`);
    else if (!used.has(r.add)) {
      used.add(r.add);
      matches.push(r);
    }
  }
  return { matches, rejected };
}

function matchSkipLayerNorm(fg: FusionGraph, ln: NodeProto): SkipLayerNormMatch | string {
  const s = ln.input[0]!;
  const shape = fg.shape(s);
  if (shape?.length !== 3) return 'its input is not 3-D with known dims';
  if (!isLastAxis(attrReader(ln).int('axis', -1), 3)) return 'it does not normalise the last axis';
  if (ln.output.slice(1).some((o) => o && fg.g.isUsed(o))) return 'its mean/inverse-deviation outputs are used';
  const d = shape[2]!;
  const vec = (v: string | undefined) => !v || fg.constant(v)?.dims.length === 1;
  if (!vec(ln.input[1]) || !vec(ln.input[2])) return 'its scale/bias are not constant vectors';
  const add = fg.producer(s, 'Add');
  if (!add) return 'its input is not an Add';
  const [a, b] = add.input as [string, string];
  const same = (v: string) => fg.constant(v) === undefined && fg.shape(v)?.join() === shape.join();
  if (!same(a) || !same(b)) return 'the Add is not of two computed tensors of its shape (a residual sum)';
  const biasOf = (v: string): SkipLayerNormMatch['bias'] | undefined => {
    const p = fg.producer(v, 'Add');
    if (!p || !fg.onlyFeeds(v, add)) return undefined;
    for (const i of [0, 1]) {
      const c = fg.constant(p.input[i]!);
      const other = p.input[1 - i]!;
      if (c && c.dims.length === 1 && Number(c.dims[0]) === d && c.dataType === fg.elemType(s) && fg.shape(other)?.join() === shape.join())
        return { add: p, value: p.input[i]! };
    }
    return undefined;
  };
  const biasB = biasOf(b);
  const biasA = biasB ? undefined : biasOf(a);
  if (biasB) return { ln, add, input: a, skip: fg.other(biasB.add, biasB.value)!, bias: biasB };
  if (biasA) return { ln, add, input: b, skip: fg.other(biasA.add, biasA.value)!, bias: biasA };
  return { ln, add, input: a, skip: b };
}

export function fuseSkipLayerNorm(fg: FusionGraph, m: SkipLayerNormMatch): void {
  const sum = m.add.output[0]!;
  const keepSum = fg.g.consumers(sum).some((n) => n !== m.ln) || fg.isGraphOutput(sum);
  const inputs = [m.input, m.skip, m.ln.input[1]!, m.ln.input[2] ?? '', m.bias?.value ?? ''];
  while (inputs.at(-1) === '') inputs.pop();
  const outputs = keepSum ? [m.ln.output[0]!, '', '', sum] : [m.ln.output[0]!];
  const eps = attrReader(m.ln).float('epsilon', 1e-5);
  fg.g.removeNode(m.ln);
  fg.g.removeNode(m.add);
  if (m.bias) fg.g.removeNode(m.bias.add);
  fg.g.insertNode(
    fg.node('SkipLayerNormalization', inputs, outputs, { epsilon: eps }, `${m.ln.name || m.ln.output[0]}_skip`, 'com.microsoft'),
  );
}

// ---- EmbedLayerNormalization -----------------------------------------------------------------------

/**
 * LayerNormalization(Gather(words, ids) + positions) where positions are the first S rows of a position
 * table (Gather of Range(0, S), or Slice(table, 0, S)) → com.microsoft EmbedLayerNormalization(int32 ids,
 * words, positions table, gamma, beta); its third output gives the sum when the graph reads it elsewhere.
 */
export interface EmbedLayerNormMatch {
  ln: NodeProto;
  add: NodeProto;
  ids: string;
  words: string;
  positions: string;
}

export function findEmbedLayerNorms(fg: FusionGraph): Found<EmbedLayerNormMatch> {
  const matches: EmbedLayerNormMatch[] = [];
  const rejected: string[] = [];
  for (const ln of fg.g.nodes) {
    if (ln.opType !== 'LayerNormalization' || !isOnnx(ln)) continue;
    const r = matchEmbedLayerNorm(fg, ln);
    if (typeof r === 'string') rejected.push(`${label(ln)}: ${r}`);
    else matches.push(r);
  }
  return { matches, rejected };
}

function matchEmbedLayerNorm(fg: FusionGraph, ln: NodeProto): EmbedLayerNormMatch | string {
  const s = ln.input[0]!;
  const shape = fg.shape(s);
  if (shape?.length !== 3 || !isLastAxis(attrReader(ln).int('axis', -1), 3)) return 'it is not over the last axis of a 3-D value';
  if (ln.output.slice(1).some((o) => o && fg.g.isUsed(o))) return 'its mean/inverse-deviation outputs are used';
  if (!ln.input[2] || fg.constant(ln.input[1]!)?.dims.length !== 1 || fg.constant(ln.input[2])?.dims.length !== 1)
    return 'its scale and bias are not constant vectors';
  const add = fg.producer(s, 'Add');
  if (!add) return 'its input is not an Add';
  const [S, D] = [shape[1]!, shape[2]!];
  for (const i of [0, 1]) {
    const words = fg.producer(add.input[i]!, 'Gather');
    const table = words && fg.constant(words.input[0]!);
    const ids = words?.input[1];
    if (!words || !table || table.dims.length !== 2 || Number(table.dims[1]) !== D || attrReader(words).int('axis', 0) !== 0) continue;
    if (fg.shape(ids!)?.length !== 2 || fg.shape(ids!)![1] !== S) continue;
    const positions = positionTable(fg, add.input[1 - i]!, S, D);
    if (positions) return { ln, add, ids: ids!, words: words.input[0]!, positions };
  }
  return 'its input is not a token embedding Gather plus the first rows of a position table';
}

/** The table whose first S rows `value` is ([S, D] or [1, S, D]): Gather(table, Range(0, S, 1)) or Slice(table, 0, S). */
function positionTable(fg: FusionGraph, value: string, S: number, D: number): string | undefined {
  const dims = fg.shape(value);
  if (!dims || (dims.join() !== [S, D].join() && dims.join() !== [1, S, D].join())) return undefined;
  const table = (name: string) => {
    const t = fg.constant(name);
    // (Rows are not compared with S: S is a probe size. A longer sequence fails in both forms.)
    return t?.dims.length === 2 && Number(t.dims[1]) === D ? name : undefined;
  };
  const slice = fg.producer(value, 'Slice');
  if (slice) {
    const starts = fg.constant(slice.input[1]!);
    const axes = slice.input[3] ? fg.constant(slice.input[3]) : undefined;
    const ok = starts && tensorNumbers(starts).join() === '0' && (!slice.input[3] || (axes && tensorNumbers(axes).join() === '0'));
    return ok && (!slice.input[4] || fg.scalar(slice.input[4]) === 1) ? table(slice.input[0]!) : undefined;
  }
  const gather = fg.producer(value, 'Gather');
  if (!gather || attrReader(gather).int('axis', 0) !== 0) return undefined;
  let idx = gather.input[1]!;
  const un = fg.producer(idx, 'Unsqueeze', 'Reshape');
  if (un) idx = un.input[0]!;
  const range = fg.producer(idx, 'Range');
  // Range(0, limit, 1) with S elements counts 0 … S-1.
  if (!range || fg.scalar(range.input[0]!) !== 0 || fg.scalar(range.input[2]!) !== 1 || fg.shape(idx)?.join() !== String(S))
    return undefined;
  return table(gather.input[0]!);
}

export function fuseEmbedLayerNorm(fg: FusionGraph, m: EmbedLayerNormMatch): void {
  const sum = m.add.output[0]!;
  const keepSum = fg.g.consumers(sum).some((n) => n !== m.ln) || fg.isGraphOutput(sum);
  let ids = m.ids;
  if (fg.elemType(ids) !== DataType.INT32) {
    ids = fg.g.freshName(`${m.ids}_int32`);
    fg.g.insertNode(fg.node('Cast', [m.ids], [ids], { to: DataType.INT32 }, `${m.ln.name || m.ln.output[0]}_ids_cast`));
  }
  const eps = attrReader(m.ln).float('epsilon', 1e-5);
  const outputs = [m.ln.output[0]!, '', ...(keepSum ? [sum] : [])];
  fg.g.removeNode(m.ln);
  fg.g.removeNode(m.add);
  fg.g.insertNode(
    fg.node(
      'EmbedLayerNormalization',
      [ids, '', m.words, m.positions, '', m.ln.input[1]!, m.ln.input[2]!],
      outputs,
      { epsilon: eps },
      `${m.ln.name || m.ln.output[0]}_embed`,
      'com.microsoft',
    ),
  );
}
