/**
 * Dynamic int8 quantization: weights become int8 offline (symmetric, per output column by default),
 * activations are quantized at run time from their own range (uint8, as ORT's kernels expect). MatMul
 * and Gemm with a constant 2-D weight become ORT's com.microsoft integer matmuls, the forms its CPU
 * kernels run directly:
 *   - DynamicQuantizeMatMul(A, B int8, b_scale, b_zero_point?, bias?) for a MatMul that alone reads A;
 *   - one DynamicQuantizeLinear(A) shared by MatMulIntegerToFloat(Aq, B, a_scale, b_scale, a_zp, b_zp?, bias?)
 *     nodes when several read A (attention's Q/K/V), so A is quantized once.
 * That is what ORT itself turns the standard-op form (DynamicQuantizeLinear + MatMulInteger + Cast +
 * Mul) into, without depending on its fusions; a QDQ MatMul was measured slower (docs/benchmarks.md).
 * A bias Add that follows the MatMul is folded into the op's bias input.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor, makeTensor } from '../ir/tensor.js';
import { forEachGraph } from '../ir/walk.js';
import { quantRule } from '../ops/index.js';
import {
  constantWeights,
  copyModel,
  defaultReduceRange,
  floatInitializer,
  nodeLabel,
  nothingToQuantize,
  requireDomain,
  selectionReason,
  tensorBytes,
  type NodeDecision,
  type NodeSelection,
  type QuantizeResult,
} from './common.js';
import { quantizeWeight, S8, transpose2d } from './math.js';

export interface DynamicOptions extends NodeSelection {
  /** One scale per output column (default true: same speed in ORT, lower error). */
  perChannel?: boolean;
  /** 7-bit weights (default: `defaultReduceRange()`, on where this CPU's int8 kernels can saturate). */
  reduceRange?: boolean;
  /**
   * MatMuls reading the same activation share one DynamicQuantizeLinear and become MatMulIntegerToFloat
   * (default true); otherwise each is a DynamicQuantizeMatMul that quantizes its input itself.
   */
  shareInputQuantization?: boolean;
}

export function quantizeDynamic(model: ModelProto, opts: DynamicOptions = {}): QuantizeResult {
  const m = copyModel(model);
  const perChannel = opts.perChannel ?? true;
  const before = tensorBytes(m);
  const notes = constantWeights(m);
  const reduceRange = opts.reduceRange ?? defaultReduceRange(notes);
  const nodes: NodeDecision[] = [];
  forEachGraph(m, (gp) => {
    const g = new Graph(gp);
    const cache = new Map<string, QuantizedB>();
    const oldWeights = new Set<string>();
    const eligible: NodeProto[] = [];
    for (const n of g.nodes) {
      const rule = quantRule(n.domain, n.opType ?? '');
      if (!rule?.dynamic) continue;
      const skip = selectionReason(n, opts) ?? ineligible(g, n);
      if (skip) nodes.push({ node: nodeLabel(n), opType: n.opType!, quantized: false, detail: skip });
      else eligible.push(n);
    }
    // Projections that read the same activation (attention's Q, K and V) share one run-time quantization.
    const readers = new Map<string, NodeProto[]>();
    for (const n of eligible) readers.set(n.input[0]!, [...(readers.get(n.input[0]!) ?? []), n]);
    const sharedQuant = new Map<string, string[]>();
    const kind = `${perChannel ? 'per-channel' : 'per-tensor'}${reduceRange ? ' 7-bit' : ''}`;
    for (const n of eligible) {
      const b = quantizedB(g, n, cache, perChannel, reduceRange);
      oldWeights.add(n.input[1]!);
      const { bias, output, removed, folded } = biasFor(g, n, b.n);
      const a = n.input[0]!;
      const shared = (opts.shareInputQuantization ?? true) && readers.get(a)!.length > 1;
      let q: NodeProto;
      if (shared) {
        let aq = sharedQuant.get(a);
        if (!aq) {
          aq = [g.freshName(`${a}_quantized`), g.freshName(`${a}_scale`), g.freshName(`${a}_zero_point`)];
          g.insertBefore(n, makeNode('DynamicQuantizeLinear', [a], aq, {}, { name: g.freshName(`${a}_DynamicQuantizeLinear`) }));
          sharedQuant.set(a, aq);
        }
        const inputs = [aq[0]!, b.q, aq[1]!, b.scale, aq[2]!, b.zeroPoint ?? '', bias ?? ''];
        while (inputs[inputs.length - 1] === '') inputs.pop();
        q = makeNode('MatMulIntegerToFloat', inputs, [output], {}, { domain: 'com.microsoft', name: n.name });
      } else {
        const inputs = [a, b.q, b.scale, b.zeroPoint ?? '', bias ?? ''];
        while (inputs[inputs.length - 1] === '') inputs.pop();
        q = makeNode('DynamicQuantizeMatMul', inputs, [output], {}, { domain: 'com.microsoft', name: n.name });
      }
      if (removed) g.removeNode(removed);
      g.replaceNode(n, [q]);
      const form = shared ? 'MatMulIntegerToFloat, shared input quantization' : 'DynamicQuantizeMatMul';
      nodes.push({ node: nodeLabel(n), opType: n.opType!, quantized: true, detail: `${form} (${kind}${folded ? ', bias folded' : ''})` });
    }
    for (const w of oldWeights) if (!g.isUsed(w)) g.removeInitializer(w);
    pruneValueInfo(g);
  });
  if (!nodes.some((d) => d.quantized)) throw nothingToQuantize('dynamic', nodes, 'MatMul or Gemm with a constant 2-D weight');
  requireDomain(m, 'com.microsoft', 1);
  return {
    model: m,
    report: {
      mode: 'dynamic',
      settings: {
        perChannel,
        shareInputQuantization: opts.shareInputQuantization ?? true,
        reduceRange,
        weightType: 'int8',
        activationType: 'uint8 (at run time)',
        opTypes: opts.opTypes ?? ['MatMul', 'Gemm'],
        excludeNodes: opts.excludeNodes ?? [],
      },
      nodes,
      weightBytes: { before, after: tensorBytes(m) },
      notes,
    },
  };
}

interface QuantizedB {
  q: string;
  scale: string;
  zeroPoint?: string;
  /** Output columns. */
  n: number;
}

function ineligible(g: Graph, n: NodeProto): string | undefined {
  const w = g.initializer(n.input[1] ?? '');
  if (!w) return 'weight is not a constant of this graph';
  if (w.dataType !== DataType.FLOAT) return 'weight is not float32';
  if (w.dims.length !== 2) return `weight has rank ${w.dims.length}, not 2`;
  if (n.opType === 'Gemm') {
    if (attrReader(n).int('transA', 0) !== 0) return 'Gemm with transA=1';
    const c = n.input[2];
    if (c) {
      const t = floatInitializer(g, c);
      const cols = w.dims[attrReader(n).int('transB', 0) ? 0 : 1]!;
      if (!t) return 'Gemm bias is not a float constant';
      const size = t.data.length;
      if (size !== 1 && !(size === cols && t.t.dims[t.t.dims.length - 1] === cols)) return 'Gemm bias is not a per-column vector';
    }
  }
  return undefined;
}

/** The int8 weight in [K, N] layout (Gemm's alpha folded into the scale), shared by every node that uses it. */
function quantizedB(g: Graph, n: NodeProto, cache: Map<string, QuantizedB>, perChannel: boolean, reduceRange: boolean): QuantizedB {
  const name = n.input[1]!;
  const transB = n.opType === 'Gemm' && attrReader(n).int('transB', 0) === 1;
  const alpha = n.opType === 'Gemm' ? attrReader(n).float('alpha', 1) : 1;
  const key = `${name}|${transB}|${alpha}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { t, data } = floatInitializer(g, name)!;
  const [rows, cols] = t.dims as [number, number];
  const [K, N] = transB ? [cols, rows] : [rows, cols];
  const w = transB ? transpose2d(data, rows, cols) : data;
  const qw = quantizeWeight(w, [K, N], { type: S8, axis: perChannel ? 1 : undefined, symmetric: true, reduceRange });
  const scale = alpha === 1 ? qw.scale : qw.scale.map((s) => s * alpha);
  const shape = perChannel ? [N] : [];
  const out: QuantizedB = {
    q: g.addInitializer(makeTensor(g.freshName(`${name}_quantized`), DataType.INT8, [K, N], qw.data)),
    scale: g.addInitializer(floatTensor(g.freshName(`${name}_scale`), shape, scale)),
    n: N,
  };
  // Symmetric int8 weights have zero points of 0: leave the optional input out.
  if (qw.zeroPoint.some((z) => z !== 0))
    out.zeroPoint = g.addInitializer(makeTensor(g.freshName(`${name}_zero_point`), DataType.INT8, shape, qw.zeroPoint));
  cache.set(key, out);
  return out;
}

/**
 * The bias input for the new node: Gemm's beta·C, or the constant of an Add that alone reads a MatMul's
 * output (that Add is then removed and its output becomes the new node's).
 */
function biasFor(g: Graph, n: NodeProto, cols: number): { bias?: string; output: string; removed?: NodeProto; folded: boolean } {
  const output = n.output[0]!;
  if (n.opType === 'Gemm') {
    const c = n.input[2];
    if (!c) return { output, folded: false };
    const { data } = floatInitializer(g, c)!;
    const beta = attrReader(n).float('beta', 1);
    const bias = Float32Array.from({ length: cols }, (_, j) => beta * data[data.length === 1 ? 0 : j]!);
    return { bias: g.addInitializer(floatTensor(g.freshName(`${c}_bias`), [cols], bias)), output, folded: true };
  }
  const users = g.consumers(output);
  const add = users[0];
  if (users.length !== 1 || add?.opType !== 'Add' || (add.domain ?? '') !== '' || g.proto.output.some((o) => o.name === output))
    return { output, folded: false };
  const other = add.input[0] === output ? add.input[1]! : add.input[0]!;
  const c = floatInitializer(g, other);
  if (!c || c.data.length !== cols || c.t.dims[c.t.dims.length - 1] !== cols || c.t.dims.slice(0, -1).some((d) => d !== 1))
    return { output, folded: false };
  // A bias of rank > 1 would broadcast the output to a higher rank; only 1-D-equivalent biases fold.
  if (c.t.dims.length > 1) return { output, folded: false };
  return { bias: other, output: add.output[0]!, removed: add, folded: true };
}

/** Drops value_info entries for values no node produces any more. */
export function pruneValueInfo(g: Graph): void {
  g.proto.valueInfo = g.proto.valueInfo.filter((v) => g.producer(v.name ?? '') !== undefined);
}
