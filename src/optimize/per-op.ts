/**
 * Where the time went after the passes: two traced profiles at the same batch size (the model as given and
 * the chosen one) set side by side per op type, with node counts and kernel time per run. Op types are the
 * model's own, with the kernels ORT made of a node counted as that node's op type (profile.ts); an op type
 * a pass removed ('gone': MatMul after dynamic int8) keeps its row with nothing after, and one a pass
 * introduced ('new': DynamicQuantizeMatMul, a fused Attention) comes after the others, so the rows read
 * from what cost most before to what replaced it.
 */
import type { ProfileReport } from '../profile/types.js';

/** The slowest nodes of each side (a profile keeps 20). */
export const PER_OP_TOP_NODES = 10;

export interface PerOpComparison {
  batchSize: number;
  before: PerOpSide;
  after: PerOpSide;
  /** Op types present before (largest time first), then the new ones (largest time first). */
  rows: PerOpRow[];
}

export interface PerOpSide {
  /** What was profiled: the path or zoo spec, or the graph's name. */
  source: string;
  /** Nodes in the model. */
  nodes: number;
  /** The profile's latency at the batch size (the least round median), ms. */
  latencyMs: number;
  /** Kernel time per run in the trace, ms: the sum of this side's row times. */
  kernelMs: number;
  /** The nodes that took the most kernel time, as ORT ran them (fused kernels under their own names). */
  topNodes: PerOpNode[];
}

export interface PerOpRow {
  opType: string;
  /** kept: in both models; gone: only before; new: only after. */
  change: 'kept' | 'gone' | 'new';
  before: PerOpTime;
  after: PerOpTime;
}

export interface PerOpTime {
  /** Nodes of this op type in the model (0 for a kernel only ORT made, such as a layout reorder). */
  count: number;
  /** Kernel time per run, ms. */
  timeMs: number;
  /** Fraction of that side's kernel time. */
  share: number;
}

export interface PerOpNode {
  name: string;
  opType: string;
  timeMs: number;
  share: number;
}

/**
 * Compares two profiles taken with a trace (`profileRuns` > 0) at the same first batch size. Throws when
 * either has no trace or the batch sizes differ: per-op times of different runs shapes do not compare.
 */
export function perOpComparison(before: ProfileReport, after: ProfileReport): PerOpComparison {
  const a = side(before, 'before');
  const b = side(after, 'after');
  if (before.staticBatchSize !== after.staticBatchSize)
    throw new Error(
      `perOpComparison: the profiles are at batch ${before.staticBatchSize} and ${after.staticBatchSize}; profile both at one batch size`,
    );
  const byType = (r: ProfileReport) => new Map(r.opTypes.map((o) => [o.opType, { count: o.count, timeMs: o.timeMs, share: o.timeShare }]));
  const was = byType(before);
  const now = byType(after);
  const none: PerOpTime = { count: 0, timeMs: 0, share: 0 };
  const present = (t: PerOpTime | undefined) => !!t && (t.count > 0 || t.timeMs > 0);
  const rows: PerOpRow[] = [];
  for (const opType of new Set([...was.keys(), ...now.keys()])) {
    const x = was.get(opType);
    const y = now.get(opType);
    const change = present(x) && present(y) ? 'kept' : present(x) ? 'gone' : 'new';
    rows.push({ opType, change, before: x ?? none, after: y ?? none });
  }
  const rank = (r: PerOpRow) => (r.change === 'new' ? 1 : 0);
  const key = (r: PerOpRow) => (r.change === 'new' ? r.after : r.before);
  rows.sort(
    (p, q) =>
      rank(p) - rank(q) ||
      key(q).timeMs - key(p).timeMs ||
      key(q).count - key(p).count ||
      (p.opType < q.opType ? -1 : p.opType > q.opType ? 1 : 0),
  );
  return { batchSize: before.staticBatchSize, before: a, after: b, rows };
}

function side(r: ProfileReport, which: string): PerOpSide {
  const batch = r.batches[0];
  const kernelMs = r.opTypes.reduce((s, o) => s + o.timeMs, 0);
  if (!batch || !(kernelMs > 0))
    throw new Error(`perOpComparison: the ${which} profile has no trace; profile with dynamic on and profileRuns > 0`);
  return {
    source: r.model.source,
    nodes: r.model.nodes,
    latencyMs: batch.latencyMs.floor,
    kernelMs,
    // A node's share comes from its median time per run, as the op types' times do, so share × total is its time.
    topNodes: r.topNodes
      .filter((n) => n.timeShare > 0)
      .slice(0, PER_OP_TOP_NODES)
      .map((n) => ({ name: n.name, opType: n.opType, timeMs: n.timeShare * kernelMs, share: n.timeShare })),
  };
}
