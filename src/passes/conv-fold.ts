/**
 * Folding what follows a Conv into its weights and bias, exact rewrites of a float graph:
 * - BatchNormalization with constant parameters (inference form): W·k, (b − mean)·k + shift with
 *   k = scale / sqrt(var + eps) per output channel.
 * - Mul/Div, then Add/Sub, by a scalar or per-channel constant (Paddle exports each conv's learnable scale
 *   and shift this way).
 * ORT does the same at its basic level for float graphs, so a float model gains nothing in ORT from this
 * alone; static quantization needs it (prepare.ts): around a Q/DQ-wrapped Conv ORT can no longer fold, and
 * each op left after the Conv would be quantized on its own, one more rounding of the activation.
 *
 * `foldBatchNorm` and `foldAffine` edit the model they are given (quantization runs them on its own copy);
 * `foldConvSuccessors` and the `fuse.conv-bn` pass (registry.ts) work on a copy.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { floatTensor } from '../ir/tensor.js';
import { copyModel, floatInitializer } from '../quantize/common.js';
import type { Pass } from './pass.js';
import { withDefaults } from './options.js';

/** `model` with BatchNormalization and per-channel affines after its Convs folded in; `model` is unchanged. */
export function foldConvSuccessors(
  model: ModelProto,
  opts: { affine?: boolean } = {},
): { model: ModelProto; batchNorm: number; affine: number } {
  const m = copyModel(model);
  const batchNorm = foldBatchNorm(m);
  const affine = opts.affine === false ? 0 : foldAffine(m);
  return { model: batchNorm || affine ? m : model, batchNorm, affine };
}

/** `fuse.conv-bn`: `foldConvSuccessors` as a pass. */
export const convBatchNormPass: Pass<{ affine: boolean }> = {
  id: 'fuse.conv-bn',
  description:
    "folds BatchNormalization (and per-channel Mul/Div/Add/Sub constants, option affine) after a Conv into the Conv's weights and bias",
  applies(_model, facts) {
    if (!facts.opTypes.has('Conv')) return 'the model has no Conv';
    if (!['BatchNormalization', 'Mul', 'Div', 'Add', 'Sub'].some((op) => facts.opTypes.has(op)))
      return 'no BatchNormalization or Mul/Div/Add/Sub follows a Conv';
    return undefined;
  },
  space: {},
  defaults: { affine: true },
  needs: [],
  async run(model, options) {
    const o = withDefaults(this, options);
    const r = foldConvSuccessors(model, { affine: o.affine });
    const parts = [
      ...(r.batchNorm ? [`${r.batchNorm} BatchNormalization`] : []),
      ...(r.affine ? [`${r.affine} Mul/Div/Add/Sub by per-channel constants`] : []),
    ];
    return {
      model: r.model,
      changed: parts.length > 0,
      report: {
        summary: parts.length
          ? `folded ${parts.join(' and ')} into the Conv before them`
          : 'nothing to fold: no Conv is followed by a BatchNormalization or affine with constant parameters it alone reads',
        notes: !parts.length && hasConstantNodes(model) ? ['weights held in Constant nodes are not seen: run fold.constants first'] : [],
        detail: { batchNorm: r.batchNorm, affine: r.affine },
      },
    };
  },
};

function hasConstantNodes(model: ModelProto): boolean {
  return model.graph!.node.some((n) => n.opType === 'Constant');
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
    const eps = attrReader(bn).float('epsilon', 1e-5);
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
