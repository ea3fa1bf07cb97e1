/** The profile report: what `profileModel` returns and `hone profile --json` prints. */
import type { LatencyStats } from '../runtime/stats.js';
import type { Bottleneck, BottleneckKind } from './bottleneck.js';

export interface ProfileReport {
  model: {
    /** The path or zoo spec profiled. */
    source: string;
    producer?: string;
    opsets: Record<string, number>;
    inputs: { name: string; elemType: string; shape: (number | string)[] }[];
    outputs: { name: string; elemType: string; shape: (number | string)[] }[];
    nodes: number;
  };
  /** Parameters: elements of every weight, wherever the model keeps it (initializers, Constant nodes, subgraphs; see ops/weights.ts). */
  params: number;
  /** Size of the model file (external data included), or of the encoded model for a zoo spec. */
  bytes: number;
  /** Stored bytes of those weights (int8 under a DequantizeLinear, fp16 under a Cast). */
  weightBytes: number;
  /** The batch size the static numbers below are for (the first profiled one). */
  staticBatchSize: number;
  /** Multiply-accumulates per run at `staticBatchSize`. */
  macs: number;
  flops: number;
  /** Bytes read + written by all nodes per run (the roofline's memory traffic). */
  bytesMoved: number;
  /** Bytes of all intermediate tensors (node outputs that are not graph outputs) per run. */
  activationBytes: number;
  /** Per op type, largest time share first (by MACs when there is no trace). */
  opTypes: OpTypeRow[];
  /** The nodes that take the most time (or MACs), up to 20. */
  topNodes: NodeRow[];
  /** Op types shape inference has no rule for (their cost counts as 0). */
  unknownOps: string[];
  /** Why the static cost is missing or partial, when it is. */
  staticNote?: string;
  batches: BatchRow[];
  /** Largest peak memory over the profiled batch sizes, bytes (0 with --no-dynamic). */
  peakMemoryBytes: number;
  machine: MachineInfo;
  /** Verdict for the first batch size; absent with --no-dynamic. */
  bottleneck?: Bottleneck;
  /** `runs` is per round; `budgetMs` the extra time per batch size allowed for more rounds when noisy. */
  settings: { provider: string; threads: number; runs: number; warmup: number; budgetMs: number; dynamic: boolean };
  /**
   * The first batch size timed again (one round) at one intra-op thread per core, when the profile ran at
   * ORT's default thread count on a CPU with several cores (ProfileOptions.threadsProbe).
   */
  threadsProbe?: { threads: number; floorMs: number; p50Ms: number };
}

export interface OpTypeRow {
  opType: string;
  count: number;
  macs: number;
  flops: number;
  /** Share of kernel time in the first batch size's trace (0 when there is no trace). */
  timeShare: number;
  /** Kernel time per run, milliseconds, from the trace. */
  timeMs: number;
}

export interface NodeRow {
  name: string;
  opType: string;
  /** Absent when ORT rewrote the node so that it no longer matches one node of the model. */
  macs?: number;
  flops?: number;
  timeShare: number;
}

export interface BatchRow {
  batchSize: number;
  /** Over all timed runs, with their spread (mad, cv, tail) and `floor`, the least round median the verdict uses. */
  latencyMs: LatencyStats;
  /** Items per second: batch size / mean latency. */
  throughput: number;
  /** Peak memory, bytes: the larger of `rssGrowthBytes` and weights + `arenaPeakBytes`. */
  peakMemoryBytes: number;
  /** Peak RSS growth over session creation and runs (measured in the worker), bytes. */
  rssGrowthBytes: number;
  /** Most memory ORT's allocator held during the profiled runs (from the trace), bytes. */
  arenaPeakBytes: number;
  sessionMemoryBytes: number;
  sessionCreateMs: number;
  macs: number;
  flops: number;
  bytesMoved: number;
  /** Achieved FLOP/s (flops / median latency). */
  achievedFlops: number;
  /** Fraction of latency inside kernels (from the trace, against `latencyMs.floor`). */
  kernelFraction: number;
  /** This batch size's verdict at `latencyMs.floor`. */
  kind: BottleneckKind;
  /** Per op type time shares from this batch size's trace. */
  opTimes: { opType: string; share: number; timeMs: number }[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  ort: string;
  platform: string;
  /** Measured peak fp32 FLOP/s, streaming-read bytes/s from memory and from cache (0 with --no-dynamic). */
  peakFlops: number;
  bandwidth: number;
  cacheBandwidth: number;
  /** How the peaks were obtained and checked (cached and confirmed by a probe, measured again…); absent with --no-dynamic. */
  peaksCheck?: string;
}
