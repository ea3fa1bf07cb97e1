/**
 * Static cost: what a model does per run, from shape inference and the per-op cost rules in src/ops
 * (MACs, FLOPs, bytes read and written per node), plus parameter and weight counts from the weights view.
 */
import type { ModelProto } from '../ir/proto.js';
import { inferShapes, nodeCosts } from '../ops/infer.js';
import { bytesOf } from '../ops/util.js';
import { modelWeights } from '../ops/weights.js';
import { errorMessage } from '../errors.js';

export interface StaticCost {
  macs: number;
  flops: number;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes of all node outputs that are not graph outputs (intermediate activations). */
  activationBytes: number;
  /** Per op type: node count and summed cost, most MACs first. */
  opTypes: { opType: string; count: number; macs: number; flops: number; bytes: number }[];
  /** Per node, in graph order. */
  nodes: { name: string; opType: string; outputs: string[]; macs: number; flops: number; bytes: number }[];
  /** Op types with no cost rule, or whose types could not be inferred. */
  unknownOps: string[];
  /** Why the cost is partial, when it is. */
  note?: string;
}

/** Cost of one run of `model`, whose inputs should have concrete dims (see `fixDims`). */
export function staticCost(model: ModelProto): StaticCost {
  let inference: ReturnType<typeof inferShapes>;
  try {
    inference = inferShapes(model);
  } catch (e) {
    return {
      macs: 0,
      flops: 0,
      bytesRead: 0,
      bytesWritten: 0,
      activationBytes: 0,
      opTypes: [],
      nodes: [],
      unknownOps: [],
      note: `shape inference failed: ${errorMessage(e)}`,
    };
  }
  const costs = nodeCosts(model, inference);
  const graphOutputs = new Set(model.graph!.output.map((o) => o.name));
  const unknown = new Set<string>([
    ...inference.unknownOps.map((n) => n.opType ?? ''),
    ...costs.filter((c) => !c.known).map((c) => c.opType),
  ]);
  const byType = new Map<string, StaticCost['opTypes'][number]>();
  const total = { macs: 0, flops: 0, bytesRead: 0, bytesWritten: 0, activationBytes: 0 };
  const nodes = costs.map((c, i) => {
    const bytes = c.cost.bytesRead + c.cost.bytesWritten;
    total.macs += c.cost.macs;
    total.flops += c.cost.flops;
    total.bytesRead += c.cost.bytesRead;
    total.bytesWritten += c.cost.bytesWritten;
    for (const o of c.node.output) if (o && !graphOutputs.has(o)) total.activationBytes += bytesOf(inference.types.get(o));
    const row = byType.get(c.opType) ?? { opType: c.opType, count: 0, macs: 0, flops: 0, bytes: 0 };
    row.count++;
    row.macs += c.cost.macs;
    row.flops += c.cost.flops;
    row.bytes += bytes;
    byType.set(c.opType, row);
    return {
      name: c.node.name || `${c.opType}_${i}`,
      opType: c.opType,
      outputs: c.node.output,
      macs: c.cost.macs,
      flops: c.cost.flops,
      bytes,
    };
  });
  const first = inference.errors[0];
  const note = first
    ? `shape inference failed at ${inference.errors.length} node(s), first '${first.node.name ?? first.node.opType}': ${first.message}; their cost counts as 0`
    : undefined;
  return {
    ...total,
    opTypes: [...byType.values()].sort((a, b) => b.macs - a.macs || b.count - a.count),
    nodes,
    unknownOps: [...unknown].filter(Boolean).sort(),
    note,
  };
}

/** Parameters and their stored bytes: every weight once, wherever the model keeps it (see `ops/weights.ts`). */
export function weightStats(model: ModelProto): { params: number; weightBytes: number } {
  const { params, bytes } = modelWeights(model);
  return { params, weightBytes: bytes };
}
