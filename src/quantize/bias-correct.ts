/**
 * Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
 * Correction", ICCV 2019, §4.2). Rounding a layer's weights shifts the mean of its output by
 * E[W̃x] − E[Wx] per output channel; the shift is systematic (it does not average out over samples),
 * and every later layer inherits it. Depthwise convs, with 9 weights per channel, shift the most.
 *
 * The shift is measured on calibration data, not derived from BatchNorm statistics: the float model runs
 * once with a twin of each layer that applies the dequantized weights to the same float input, and the
 * per-channel mean of (twin − layer) is subtracted from the layer's bias. The twins read float inputs,
 * so each layer's correction is its own weight error only (corrections do not compound), and padding
 * borders are measured as they are.
 */
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { valueInfo } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor } from '../ir/tensor.js';
import { createSession, ortRunError } from '../runtime/session.js';
import { copyModel, floatAttr, floatInitializer } from './common.js';
import { batches, type SampleData } from './data.js';

/** A layer to correct: a Conv or Gemm of the model, and its weight as the quantized model will see it. */
export interface BiasTarget {
  node: NodeProto;
  /** The dequantized weight, in the float weight's layout. */
  weight: Float32Array;
}

/** Measures each target's output shift on `data` and folds it into the target's bias in `m` (in place); returns how many changed. */
export async function correctBias(m: ModelProto, targets: readonly BiasTarget[], data: SampleData, batchSize = 8): Promise<number> {
  const g = new Graph(m.graph!);
  const eligible = targets.filter((t) => biasSlotUsable(g, t.node));
  if (eligible.length === 0) return 0;
  const shifts = await measureShifts(m, eligible, data, batchSize);
  return eligible.filter((t, k) => setBias(g, t.node, shifts[k]!)).length;
}

/** Conv (output channels on axis 1, bias [C]) or Gemm (columns on axis 1, C absent or 1-D, beta ≠ 0). */
function biasSlotUsable(g: Graph, n: NodeProto): boolean {
  if (n.opType === 'Conv') return !n.input[2] || !!floatInitializer(g, n.input[2]);
  if (n.opType !== 'Gemm' || floatAttr(n, 'beta', 1) === 0) return false;
  if (!n.input[2]) return true;
  return floatInitializer(g, n.input[2])?.t.dims.length === 1;
}

/** Per target, the mean over samples and positions of (twin output − output), per channel. */
async function measureShifts(m: ModelProto, targets: readonly BiasTarget[], data: SampleData, batchSize: number): Promise<Float64Array[]> {
  const aug = copyModel(m);
  const g = new Graph(aug.graph!);
  const pairs: [string, string][] = [];
  for (const { node, weight } of targets) {
    const w = floatInitializer(g, node.input[1]!)!;
    const wName = g.addInitializer(floatTensor(g.freshName(`${node.input[1]}_as_quantized`), w.t.dims, weight));
    const out = g.freshName(`${node.output[0]}_as_quantized`);
    g.insertAfter(node, { ...node, name: g.freshName(`${node.name ?? 'node'}_twin`), input: [node.input[0]!, wName, ...node.input.slice(2)], output: [out], attribute: node.attribute });
    pairs.push([node.output[0]!, out]);
  }
  const existing = new Set(aug.graph!.output.map((o) => o.name));
  const names = [...new Set(pairs.flat())];
  aug.graph!.output.push(...names.filter((v) => !existing.has(v)).map((v) => valueInfo(v, DataType.FLOAT)));
  const sums = pairs.map(() => undefined as Float64Array | undefined);
  const counts = pairs.map(() => 0);
  const session = await createSession(aug, { graphOptimizationLevel: 'basic' });
  try {
    for (const batch of batches(data, m, batchSize)) {
      let out: Record<string, { data: unknown; dims: readonly number[] }>;
      try {
        out = await session.run(batch.feeds, names);
      } catch (e) {
        throw ortRunError(e, `measuring bias shifts on calibration data from ${data.source}`);
      }
      pairs.forEach(([a, b], k) => {
        const x = out[a]!.data as Float32Array;
        const y = out[b]!.data as Float32Array;
        const dims = out[a]!.dims;
        const channels = dims[1] ?? 1;
        const inner = dims.slice(2).reduce((p, q) => p * q, 1);
        const s = (sums[k] ??= new Float64Array(channels));
        for (let i = 0; i < x.length; i++) s[Math.floor(i / inner) % channels]! += y[i]! - x[i]!;
        counts[k]! += x.length / channels;
      });
    }
  } finally {
    await session.release();
  }
  return sums.map((s, k) => Float64Array.from(s ?? [], (v) => v / Math.max(1, counts[k]!)));
}

/**
 * Subtracts `shift` from the node's bias (a new initializer; Gemm's C is scaled by 1/beta). False when
 * the bias broadcasts (a Gemm's C of one value for many columns), which one shift per channel cannot fit.
 */
function setBias(g: Graph, n: NodeProto, shift: Float64Array): boolean {
  const scale = n.opType === 'Gemm' ? floatAttr(n, 'beta', 1) : 1;
  const previous = n.input[2];
  const old = previous ? floatInitializer(g, previous)!.data : new Float32Array(shift.length);
  if (old.length !== shift.length) return false;
  const b = Float32Array.from(old, (v, c) => v - shift[c]! / scale);
  const name = g.addInitializer(floatTensor(g.freshName(`${n.input[2] || `${n.name || n.output[0]}_bias`}_corrected`), [b.length], b));
  if (n.input[2]) g.setInput(n, 2, name);
  else {
    const at = g.nodes.indexOf(n);
    g.removeNode(n);
    n.input = [n.input[0]!, n.input[1]!, name];
    g.insertNode(n, at);
  }
  if (previous && !g.isUsed(previous)) g.removeInitializer(previous);
  return true;
}
