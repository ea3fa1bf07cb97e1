/**
 * Preparing a float graph for static quantization, all exact rewrites:
 * - BatchNormalization after a Conv is folded into the Conv's weight and bias, so the Conv's output is
 *   what gets quantized and ORT can fuse the unit (ORT folds BN itself only for float graphs; with Q/DQ
 *   around the Conv it no longer can).
 * - A per-channel or scalar affine by constants after a Conv (Mul/Div, then Add/Sub, as Paddle exports
 *   its learnable scale and shift) is folded likewise: left in the graph, each such op would be quantized
 *   on its own, one more rounding of the activation per op.
 * - Optionally, cross-layer equalization (equalize.ts), which needs the folds before it to see Conv → Conv.
 */
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { floatTensor } from '../ir/tensor.js';
import { constantWeights, floatAttr, floatInitializer } from './common.js';
import { equalizeLayers } from './equalize.js';

/**
 * Every rewrite static quantization makes to the float graph before planning, in order, with a note for
 * each that changed something. Calibration and quantization both run it, so tensor names agree.
 */
export function prepareStatic(m: ModelProto, opts: { equalize: boolean }): string[] {
  const notes = constantWeights(m);
  const bn = foldBatchNorm(m);
  if (bn) notes.push(`folded ${bn} BatchNormalization node(s) into the Conv before them`);
  const affine = foldAffine(m);
  if (affine) notes.push(`folded ${affine} Mul/Div/Add/Sub by per-channel constants into the Conv before them`);
  if (opts.equalize) {
    const eq = equalizeLayers(m);
    if (eq.pairs) notes.push(`cross-layer equalization: ${eq.pairs} Conv pair(s) rescaled (${eq.sweeps} sweep(s))`);
  }
  return notes;
}

/** Folds every Conv → BatchNormalization pair with constant parameters; returns how many. */
export function foldBatchNorm(m: ModelProto): number {
  const g = new Graph(m.graph!);
  const outputs = new Set(m.graph!.output.map((o) => o.name));
  let folded = 0;
  for (const bn of [...g.nodes]) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain ?? '') !== '' || bn.output.filter((o) => o).length !== 1) continue;
    const conv = g.producer(bn.input[0]!);
    if (conv?.opType !== 'Conv' || g.consumers(conv.output[0]!).length !== 1 || outputs.has(conv.output[0])) continue;
    const w = floatInitializer(g, conv.input[1] ?? '');
    const params = bn.input.slice(1, 5).map((v) => floatInitializer(g, v));
    if (!w || params.some((p) => !p)) continue;
    const [scale, shift, mean, variance] = params.map((p) => p!.data) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = floatAttr(bn, 'epsilon', 1e-5);
    const cout = w.t.dims[0]!;
    const per = w.data.length / cout;
    const bias = conv.input[2] ? floatInitializer(g, conv.input[2]) : undefined;
    if (conv.input[2] && !bias) continue;
    const k = Float32Array.from({ length: cout }, (_, c) => scale[c]! / Math.sqrt(variance[c]! + eps));
    const nw = Float32Array.from(w.data, (v, i) => v * k[Math.floor(i / per)]!);
    const nb = Float32Array.from({ length: cout }, (_, c) => ((bias?.data[c] ?? 0) - mean[c]!) * k[c]! + shift[c]!);
    setConvParams(g, conv, nw, nb, 'bn_folded');
    absorbSuccessor(g, conv, bn);
    folded++;
  }
  g.removeDeadCode();
  return folded;
}

/** Folds Mul/Div/Add/Sub by per-channel or scalar constants after a Conv into it; returns how many ops went. */
export function foldAffine(m: ModelProto): number {
  const g = new Graph(m.graph!);
  const outputs = new Set(m.graph!.output.map((o) => o.name));
  let folded = 0;
  for (const conv of [...g.nodes]) {
    if (conv.opType !== 'Conv' || (conv.domain ?? '') !== '') continue;
    for (;;) {
      const out = conv.output[0]!;
      const users = g.consumers(out);
      if (users.length !== 1 || outputs.has(out)) break;
      const op = users[0]!;
      const w = floatInitializer(g, conv.input[1] ?? '');
      const bias = conv.input[2] ? floatInitializer(g, conv.input[2]) : undefined;
      if (!w || (conv.input[2] && !bias)) break;
      const k = channelConstant(g, op, out, w.t.dims[0]!, w.t.dims.length);
      if (!k) break;
      const cout = w.t.dims[0]!;
      const per = w.data.length / cout;
      const b = bias?.data ?? new Float32Array(cout);
      let nw = w.data;
      let nb: Float32Array;
      switch (op.opType) {
        case 'Mul':
          nw = Float32Array.from(w.data, (v, i) => v * k[Math.floor(i / per)]!);
          nb = Float32Array.from(b, (v, c) => v * k[c]!);
          break;
        case 'Div':
          nw = Float32Array.from(w.data, (v, i) => v / k[Math.floor(i / per)]!);
          nb = Float32Array.from(b, (v, c) => v / k[c]!);
          break;
        case 'Add':
          nb = Float32Array.from(b, (v, c) => v + k[c]!);
          break;
        default:
          nb = Float32Array.from(b, (v, c) => v - k[c]!);
          break;
      }
      setConvParams(g, conv, nw, nb, 'affine_folded');
      absorbSuccessor(g, conv, op);
      folded++;
    }
  }
  g.removeDeadCode();
  return folded;
}

/**
 * The constant operand of an elementwise `op` reading `x` (a Conv output with `channels` channels and
 * rank `rank`), one value per channel, when it broadcasts per channel (a scalar, [C,1,1], [1,C,1,1]…)
 * and the op's result is x's shape. Sub and Div only with x on the left.
 */
function channelConstant(g: Graph, op: NodeProto, x: string, channels: number, rank: number): Float32Array | undefined {
  if (
    (op.domain ?? '') !== '' ||
    !['Mul', 'Div', 'Add', 'Sub'].includes(op.opType ?? '') ||
    op.input.length !== 2 ||
    op.output.length !== 1
  )
    return undefined;
  const slot = op.input[0] === x ? 1 : op.input[1] === x ? 0 : -1;
  if (slot < 0 || op.input[0] === op.input[1] || ((op.opType === 'Sub' || op.opType === 'Div') && slot !== 1)) return undefined;
  const c = floatInitializer(g, op.input[slot]!);
  if (!c || c.t.dims.length > rank) return undefined;
  if (c.data.length === 1) return new Float32Array(channels).fill(c.data[0]!);
  const dims = [...Array(rank - c.t.dims.length).fill(1), ...c.t.dims];
  if (dims[1] !== channels || dims.some((d, i) => i !== 1 && d !== 1)) return undefined;
  if (op.opType === 'Div' && c.data.some((v) => v === 0)) return undefined;
  return c.data;
}

/** Points `conv` at new weight and bias initializers (adding the bias input when it had none). */
function setConvParams(g: Graph, conv: NodeProto, w: Float32Array, b: Float32Array, tag: string): void {
  const wt = floatInitializer(g, conv.input[1]!)!.t;
  if (w !== floatInitializer(g, conv.input[1]!)!.data)
    g.setInput(conv, 1, g.addInitializer(floatTensor(g.freshName(`${conv.input[1]}_${tag}`), wt.dims, w)));
  const bName = g.addInitializer(floatTensor(g.freshName(`${conv.name || conv.output[0]}_bias_${tag}`), [b.length], b));
  if (conv.input.length > 2 && conv.input[2]) g.setInput(conv, 2, bName);
  else {
    const at = g.nodes.indexOf(conv);
    g.removeNode(conv);
    conv.input = [conv.input[0]!, conv.input[1]!, bName];
    g.insertNode(conv, at);
  }
}

/** Removes `next` (the only reader of conv's output) and has `conv` write next's output instead. */
function absorbSuccessor(g: Graph, conv: NodeProto, next: NodeProto): void {
  const out = next.output[0]!;
  g.removeNode(next);
  const at = g.nodes.indexOf(conv);
  g.removeNode(conv);
  conv.output = [out];
  g.insertNode(conv, at);
}
