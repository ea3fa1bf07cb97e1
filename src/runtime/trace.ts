/**
 * ORT profiling traces: Chrome-trace JSON written when a session has `enableProfiling`. Each kernel
 * execution is an event with `"cat": "Node"`, a name `<node>_kernel_time` and `args.op_name`; we sum
 * their durations per op type and per node to get where the time goes.
 */

export interface OpTime {
  opType: string;
  /** Total kernel time over all profiled runs, microseconds. */
  totalUs: number;
  /** Fraction of all kernel time (shares over all op types sum to 1). */
  share: number;
  /** Kernel executions (nodes × runs). */
  calls: number;
}

export interface NodeTime {
  name: string;
  opType: string;
  totalUs: number;
  share: number;
}

export interface TraceSummary {
  /** Per op type, largest share first. */
  opTypes: OpTime[];
  /** Per node, largest share first. */
  nodes: NodeTime[];
  /** Number of `model_run` events (profiled runs). */
  runs: number;
  /** Sum of kernel durations, microseconds. */
  kernelUs: number;
  /** Sum of `model_run` durations, microseconds (kernel time plus ORT's own per-run overhead). */
  runUs: number;
  /** Largest memory ORT's allocator held during the runs (`mem_arena_held`), bytes; 0 when not traced. */
  arenaPeakBytes: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  ts?: number;
  args?: { op_name?: string; mem_arena_held?: string | number };
}

/**
 * Parses a trace (the JSON text, or already-parsed events) into per-op-type and per-node times.
 * `skipRuns` leaves out the first runs (warm-up: first-run allocations would skew the shares).
 */
export function summarizeTrace(trace: string | unknown, skipRuns = 0): TraceSummary {
  const parsed: unknown = typeof trace === 'string' ? JSON.parse(trace) : trace;
  const events: TraceEvent[] = Array.isArray(parsed)
    ? parsed
    : Array.isArray((parsed as { traceEvents?: unknown })?.traceEvents) ? (parsed as { traceEvents: TraceEvent[] }).traceEvents : [];
  const byOp = new Map<string, { totalUs: number; calls: number }>();
  const byNode = new Map<string, { opType: string; totalUs: number }>();
  let kernelUs = 0;
  let runUs = 0;
  let runs = 0;
  let arenaPeakBytes = 0;
  const runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  const skipped = runEvents.slice(0, skipRuns);
  const inSkipped = (ts: number) => skipped.some((r) => ts >= (r.ts ?? 0) && ts <= (r.ts ?? 0) + (r.dur ?? 0));
  for (const r of runEvents.slice(skipRuns)) {
    runs++;
    runUs += r.dur ?? 0;
  }
  for (const e of events) {
    const dur = typeof e.dur === 'number' ? e.dur : 0;
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    const held = Number(e.args?.mem_arena_held ?? 0);
    if (Number.isFinite(held)) arenaPeakBytes = Math.max(arenaPeakBytes, held);
    if (skipped.length > 0 && inSkipped(e.ts ?? 0)) continue;
    const opType = e.args?.op_name ?? 'unknown';
    const node = e.name.slice(0, -'_kernel_time'.length);
    kernelUs += dur;
    const o = byOp.get(opType) ?? { totalUs: 0, calls: 0 };
    o.totalUs += dur;
    o.calls++;
    byOp.set(opType, o);
    const n = byNode.get(node) ?? { opType, totalUs: 0 };
    n.totalUs += dur;
    byNode.set(node, n);
  }
  const share = (us: number) => (kernelUs > 0 ? us / kernelUs : 0);
  return {
    opTypes: [...byOp].map(([opType, o]) => ({ opType, totalUs: o.totalUs, share: share(o.totalUs), calls: o.calls }))
      .sort((a, b) => b.totalUs - a.totalUs),
    nodes: [...byNode].map(([name, n]) => ({ name, opType: n.opType, totalUs: n.totalUs, share: share(n.totalUs) }))
      .sort((a, b) => b.totalUs - a.totalUs),
    runs,
    kernelUs,
    runUs,
    arenaPeakBytes,
  };
}
