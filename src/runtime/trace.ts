/**
 * ORT profiling traces: Chrome-trace JSON written when a session has `enableProfiling`. Each kernel
 * execution is an event with `"cat": "Node"`, a name `<node>_kernel_time` and `args.op_name`; we sum
 * their durations per op type and per node to get where the time goes.
 *
 * Shares are robust to a busy machine: with three or more runs, a node's share is its median time per run
 * over the sum of those medians, so one kernel stalled by a neighbour in one run (it happens: MaxPool
 * showed 72% of LeNet-5's kernel time that way) does not make it look dominant. Totals stay sums.
 */
import { median } from './stats.js';

export interface OpTime {
  opType: string;
  /** Total kernel time over all profiled runs, microseconds. */
  totalUs: number;
  /** Fraction of kernel time, from median times per run (see above; shares over all op types sum to 1). */
  share: number;
  /** Kernel executions (nodes × runs). */
  calls: number;
  /** Kernel time per run, microseconds: from the median node times with 3+ runs (see above), else the mean. */
  perRunUs: number;
}

export interface NodeTime {
  name: string;
  opType: string;
  totalUs: number;
  share: number;
  /** Kernel time per run, microseconds (as OpTime's). */
  perRunUs: number;
  /** The shapes the kernel ran on (its first counted run), when the trace records them. */
  inputShapes?: number[][];
  outputShapes?: number[][];
  /** Bytes it read and wrote per execution: ORT's activation, parameter and output sizes; 0 when not traced. */
  bytes: number;
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
  /** Each counted run's `model_run` duration and the kernel time inside it, microseconds, in run order. */
  perRun: { runUs: number; kernelUs: number }[];
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  ts?: number;
  args?: {
    op_name?: string;
    mem_arena_held?: string | number;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
    activation_size?: string | number;
    parameter_size?: string | number;
    output_size?: string | number;
  };
}

/** A byte count from ORT's trace (a string there), 0 when absent. */
function size(v: string | number | undefined): number {
  return Number.isFinite(Number(v)) ? Number(v) : 0;
}

/** `[{ float: [2, 3] }, …]` (ORT's trace) → `[[2, 3], …]`. */
function shapesOf(v: Record<string, number[]>[] | undefined): number[][] | undefined {
  return Array.isArray(v) ? v.map((t) => Object.values(t ?? {})[0] ?? []) : undefined;
}

/**
 * Parses a trace (the JSON text, or already-parsed events) into per-op-type and per-node times.
 * `skipRuns` leaves out the first runs (warm-up: first-run allocations would skew the shares).
 */
export function summarizeTrace(trace: string | unknown, skipRuns = 0): TraceSummary {
  const parsed: unknown = typeof trace === 'string' ? JSON.parse(trace) : trace;
  const events: TraceEvent[] = Array.isArray(parsed)
    ? parsed
    : Array.isArray((parsed as { traceEvents?: unknown })?.traceEvents)
      ? (parsed as { traceEvents: TraceEvent[] }).traceEvents
      : [];
  const byOp = new Map<string, { totalUs: number; calls: number }>();
  const byNode = new Map<
    string,
    { opType: string; totalUs: number; perRun: number[]; inputShapes?: number[][]; outputShapes?: number[][]; bytes: number }
  >();
  let kernelUs = 0;
  let runUs = 0;
  let runs = 0;
  let arenaPeakBytes = 0;
  const runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  const skipped = runEvents.slice(0, skipRuns);
  const inSkipped = (ts: number) => skipped.some((r) => ts >= (r.ts ?? 0) && ts <= (r.ts ?? 0) + (r.dur ?? 0));
  const counted = runEvents.slice(skipRuns);
  const perRun = counted.map((r) => ({ runUs: r.dur ?? 0, kernelUs: 0 }));
  for (const r of counted) {
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
    const ts = e.ts ?? 0;
    const at = counted.findIndex((r) => ts >= (r.ts ?? 0) && ts <= (r.ts ?? 0) + (r.dur ?? 0));
    const o = byOp.get(opType) ?? { totalUs: 0, calls: 0 };
    o.totalUs += dur;
    o.calls++;
    byOp.set(opType, o);
    const n = byNode.get(node) ?? {
      opType,
      totalUs: 0,
      perRun: counted.map(() => 0),
      inputShapes: shapesOf(e.args?.input_type_shape),
      outputShapes: shapesOf(e.args?.output_type_shape),
      bytes: size(e.args?.activation_size) + size(e.args?.parameter_size) + size(e.args?.output_size),
    };
    n.totalUs += dur;
    if (at >= 0) {
      perRun[at]!.kernelUs += dur;
      n.perRun[at]! += dur;
    }
    byNode.set(node, n);
  }
  const robust = counted.length >= 3 && perRun.some((r) => r.kernelUs > 0);
  const weight = new Map([...byNode].map(([name, n]) => [name, robust ? median(n.perRun) : n.totalUs / Math.max(1, runs)]));
  const all = [...weight.values()].reduce((a, b) => a + b, 0);
  const share = (us: number) => (all > 0 ? us / all : 0);
  const opWeight = new Map<string, number>();
  for (const [name, n] of byNode) opWeight.set(n.opType, (opWeight.get(n.opType) ?? 0) + weight.get(name)!);
  return {
    opTypes: [...byOp]
      .map(([opType, o]) => ({
        opType,
        totalUs: o.totalUs,
        share: share(opWeight.get(opType) ?? 0),
        calls: o.calls,
        perRunUs: opWeight.get(opType) ?? 0,
      }))
      .sort((a, b) => b.share - a.share || b.totalUs - a.totalUs),
    nodes: [...byNode]
      .map(([name, n]) => ({
        name,
        opType: n.opType,
        totalUs: n.totalUs,
        share: share(weight.get(name)!),
        perRunUs: weight.get(name)!,
        inputShapes: n.inputShapes,
        outputShapes: n.outputShapes,
        bytes: n.bytes,
      }))
      .sort((a, b) => b.share - a.share || b.totalUs - a.totalUs),
    runs,
    kernelUs,
    runUs,
    arenaPeakBytes,
    perRun,
  };
}
