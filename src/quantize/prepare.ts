/**
 * Preparing a float graph for static quantization: BatchNormalization after a Conv is folded into the
 * Conv's weight and bias, so the Conv's output is what gets quantized and ORT can fuse the unit.
 * (ORT folds BN itself only for float graphs; with Q/DQ around the Conv it no longer can.)
 */
import type { ModelProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { floatTensor } from '../ir/tensor.js';
import { floatAttr, floatInitializer } from './common.js';

/** Folds every Conv → BatchNormalization pair with constant parameters; returns how many. */
export function foldBatchNorm(m: ModelProto): number {
  const g = new Graph(m.graph!);
  const outputs = new Set(m.graph!.output.map((o) => o.name));
  let folded = 0;
  for (const bn of [...g.nodes]) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain ?? '') !== '' || bn.output.filter((o) => o).length !== 1) continue;
    const conv = g.producer(bn.input[0]!);
    if (!conv || conv.opType !== 'Conv' || g.consumers(conv.output[0]!).length !== 1 || outputs.has(conv.output[0])) continue;
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
    const wName = g.addInitializer(floatTensor(g.freshName(`${conv.input[1]}_bn_folded`), w.t.dims, nw));
    const bName = g.addInitializer(floatTensor(g.freshName(`${conv.name || conv.output[0]}_bias_bn_folded`), [cout], nb));
    g.setInput(conv, 1, wName);
    if (conv.input.length > 2) g.setInput(conv, 2, bName);
    else { const at = g.nodes.indexOf(conv); g.removeNode(conv); conv.input.push(bName); g.insertNode(conv, at); }
    const out = bn.output[0]!;
    g.removeNode(bn);
    const at = g.nodes.indexOf(conv);
    g.removeNode(conv);
    conv.output = [out];
    g.insertNode(conv, at);
    folded++;
  }
  g.removeDeadCode();
  return folded;
}
