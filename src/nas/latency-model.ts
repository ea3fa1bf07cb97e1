/**
 * A latency model for architecture search: an architecture's inference time predicted from what its
 * graph does, fitted to latencies measured on this machine (nn-Meter's idea, at the level of whole
 * kernels' costs rather than per-kernel regressors):
 *
 *   ms ≈ c0 + c1·compute kernels + c2·other kernels + c3·conv GMACs + c4·weight-matmul GMACs
 *           + c5·activation-matmul GMACs + c6·depthwise GMACs + c7·MB moved
 *
 * c0 is the runtime's per-run overhead; c1 and c2 its per-kernel cost for the kernels that multiply (Conv,
 * Gemm, MatMul) and for the rest (elementwise, normalization, reshapes), which cost less to launch; c3–c6
 * the inverse of the machine's throughput on each kind of multiply: dense convolutions, Gemm/MatMul with a
 * weight operand (ops/weights.ts: wherever and in whatever form the weight lives), MatMul of two activations (attention's Q·Kᵀ and P·V:
 * at batch 1 many small batched products, the dearest per MAC) and depthwise/grouped convolutions; c7 the
 * inverse of the memory bandwidth as the model uses it. The coefficients are fitted non-negative (a cost
 * never speeds a model up) to relative error, so small and large architectures count alike. The static
 * costs come from the per-op rules of src/ops (profile/static.ts), so any model ORT runs has features.
 * The kinds were chosen by measurement (bench/nas-latency.ts, docs/benchmarks.md): with one kernel count
 * and one dense-MAC term, one model fitted across the five built-in spaces erred 12% on held-out
 * architectures, the transformers 22–26%; with these, 7% and 6–9%, and no worse within a space.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto } from '../ir/proto.js';
import { staticCost, type StaticCost } from '../profile/static.js';
import { modelWeights, type ModelWeights } from '../ops/weights.js';
import { zooModel } from '../zoo/index.js';
import { buildCodeArchitecture } from './code-space.js';
import { encodeModel } from '../ir/codec.js';
import { fixDims, graphInputs, resolveInputs } from '../runtime/inputs.js';
import { LatencyWorker } from '../runtime/measure.js';

export const LATENCY_FEATURES = [
  'per run',
  'per compute kernel',
  'per other kernel',
  'conv GMACs',
  'weight-matmul GMACs',
  'activation-matmul GMACs',
  'depthwise GMACs',
  'MB moved',
] as const;

const MULTIPLIES = new Set(['Conv', 'Gemm', 'MatMul']);

/**
 * The features of one run of `model` (its inputs with concrete dims, e.g. batch 1), from its static cost
 * and its weights (ops/weights.ts: an operand is a weight wherever it lives — initializer, Constant node —
 * and in any form an exporter gives it, Transpose, Cast or DequantizeLinear of one included).
 */
export function latencyFeatures(
  model: ModelProto,
  cost: StaticCost = staticCost(model),
  weights: ModelWeights = modelWeights(model),
): number[] {
  const nodes = model.graph!.node;
  // The static cost lists nodes in topological order, not the graph's: matched by their first output.
  const byOutput = new Map(nodes.map((n) => [n.output[0], n]));
  const f = { compute: 0, other: 0, conv: 0, weightMm: 0, activationMm: 0, depthwise: 0, bytes: 0 };
  for (const c of cost.nodes) {
    f.bytes += c.bytes;
    const node = byOutput.get(c.outputs[0]);
    if (!MULTIPLIES.has(c.opType)) {
      f.other++;
      continue;
    }
    f.compute++;
    if (c.opType === 'Conv') {
      if (node !== undefined && attrReader(node).int('group', 1) > 1) f.depthwise += c.macs;
      else f.conv += c.macs;
    } else if (node?.input.some((x) => weights.find(x) !== undefined)) f.weightMm += c.macs;
    else f.activationMm += c.macs;
  }
  return [1, f.compute, f.other, f.conv / 1e9, f.weightMm / 1e9, f.activationMm / 1e9, f.depthwise / 1e9, f.bytes / 1e6];
}

/**
 * Multiply-accumulates of one inference at batch 1 (each input's symbolic leading dim set to 1), by the
 * per-op cost rules of src/ops; undefined when the shapes cannot be inferred or an op has no cost rule.
 */
export function inferenceMacs(model: ModelProto): number | undefined {
  try {
    return countedMacs(staticCost(atBatch1(model)));
  } catch {
    return undefined;
  }
}

/** A static cost's MACs when every op was counted; undefined when shapes failed or an op has no rule. */
function countedMacs(cost: StaticCost): number | undefined {
  return cost.note || cost.unknownOps.length ? undefined : cost.macs;
}

/** The model with each input's symbolic leading dim (its batch) set to 1. */
function atBatch1(model: ModelProto): ModelProto {
  const dims = new Map<string, number>();
  for (const input of graphInputs(model)) {
    const lead = input.shape?.[0];
    if (typeof lead === 'string') dims.set(lead, 1);
  }
  return fixDims(model, { dims });
}

/** What an architecture costs at batch 1, by spec: a search asks again and again, each built once. */
const costsBySpec = new Map<string, ArchitectureCosts>();

export interface ArchitectureCosts {
  /** The latency model's features (LATENCY_FEATURES). */
  features: number[];
  /** Weight elements (src/ops/weights.ts: initializers and Constant nodes, each counted once). */
  parameters: number;
  /** Multiply-accumulates of one inference; undefined when they cannot be counted (see inferenceMacs). */
  macs?: number;
}

/**
 * The costs of an architecture at batch 1 — a zoo one (`zoo:NAME[:options]`) or one of a space module
 * loaded in this process (`code:PATH[:options]`, nas/code-space.ts) — built once per process; undefined
 * for anything else (a model file has no options a search varies).
 */
export function architectureCosts(spec: string): ArchitectureCosts | undefined {
  let c = costsBySpec.get(spec);
  if (!c) {
    const built = architectureModel(spec);
    if (!built) return undefined;
    // One static cost (shape inference over the graph) serves the features and the MACs.
    const model = atBatch1(built);
    const cost = staticCost(model);
    const macs = countedMacs(cost);
    const weights = modelWeights(model);
    c = { features: latencyFeatures(model, cost, weights), parameters: weights.params, ...(macs !== undefined ? { macs } : {}) };
    costsBySpec.set(spec, c);
  }
  return c;
}

/** An architecture's model by spec: a zoo one or one of a space module loaded in this process; undefined otherwise. */
export function architectureModel(spec: string): ModelProto | undefined {
  return spec.startsWith('zoo:') ? zooModel(spec.slice('zoo:'.length)) : buildCodeArchitecture(spec);
}

/** The latency model's features of an architecture at batch 1 (see architectureCosts). */
export function architectureFeatures(spec: string): number[] | undefined {
  return architectureCosts(spec)?.features;
}

export interface LatencyModel {
  /** Milliseconds per feature unit, in LATENCY_FEATURES order; all ≥ 0. */
  coef: number[];
  /** Samples it was fitted on. */
  n: number;
  predict(features: readonly number[]): number;
}

/** Fits the coefficients to measured samples, minimizing squared relative error under c ≥ 0 (coordinate descent). */
export function fitLatencyModel(samples: readonly { features: readonly number[]; ms: number }[]): LatencyModel {
  if (samples.length === 0) throw new Error('a latency model needs at least one measured architecture');
  const k = samples[0]!.features.length;
  // Rows weighted by 1/ms: the residual is the relative error.
  const rows = samples.map((s) => s.features.map((f) => f / s.ms));
  const target = samples.map(() => 1);
  // Columns scaled to unit norm for conditioning; a zero column keeps coefficient 0.
  const norms = Array.from({ length: k }, (_, j) => Math.sqrt(rows.reduce((a, r) => a + r[j]! ** 2, 0)));
  const x = rows.map((r) => r.map((v, j) => (norms[j]! > 0 ? v / norms[j]! : 0)));
  const gram = Array.from({ length: k }, (_, a) => Array.from({ length: k }, (_, b) => x.reduce((s, r) => s + r[a]! * r[b]!, 0)));
  const xty = Array.from({ length: k }, (_, j) => x.reduce((s, r, i) => s + r[j]! * target[i]!, 0));
  const c = new Array<number>(k).fill(0);
  for (let sweep = 0; sweep < 5000; sweep++) {
    let moved = 0;
    for (let j = 0; j < k; j++) {
      if (gram[j]![j]! <= 0) continue;
      let g = xty[j]!;
      for (let m = 0; m < k; m++) if (m !== j) g -= gram[j]![m]! * c[m]!;
      const next = Math.max(0, g / gram[j]![j]!);
      moved = Math.max(moved, Math.abs(next - c[j]!));
      c[j] = next;
    }
    if (moved < 1e-12) break;
  }
  const coef = c.map((v, j) => (norms[j]! > 0 ? v / norms[j]! : 0));
  return { coef, n: samples.length, predict: (f) => f.reduce((s, v, j) => s + v * coef[j]!, 0) };
}

/** Mean absolute percentage error of predictions, in percent. */
export function mape(pairs: readonly { predicted: number; measured: number }[]): number {
  if (!pairs.length) return Number.NaN;
  return (100 * pairs.reduce((s, p) => s + Math.abs(p.predicted - p.measured) / p.measured, 0)) / pairs.length;
}

/** Leave-one-out error of the latency model on `samples`: each predicted by a model fitted to the others (percent). */
export function leaveOneOutMape(samples: readonly { features: readonly number[]; ms: number }[]): number {
  if (samples.length < 3) return Number.NaN;
  return mape(
    samples.map((s, i) => ({
      predicted: fitLatencyModel(samples.filter((_, j) => j !== i)).predict(s.features),
      measured: s.ms,
    })),
  );
}

/** What a latency model fitted to the measured architectures says of one not trained yet. */
export interface LatencyVerdict {
  predictedMs: number;
  /** Leave-one-out error of the model, percent. */
  errorPercent: number;
  fittedOn: number;
  /** Predicted over the budget by more than twice the model's own error: not worth training. */
  over: boolean;
}

/** Architectures measured before a model is trusted to skip one. */
export const MIN_FITTED = 6;

/**
 * Whether an architecture with `features` is predicted over `budgetMs`, from the architectures measured so
 * far; undefined until MIN_FITTED of them are. The margin is twice the model's leave-one-out error, so an
 * architecture near the budget is always measured.
 */
export function latencyVerdict(
  measured: readonly { features: readonly number[]; ms: number }[],
  features: readonly number[],
  budgetMs: number,
): LatencyVerdict | undefined {
  if (measured.length < MIN_FITTED) return undefined;
  const fit = fitLatencyModel(measured);
  const errorPercent = leaveOneOutMape(measured);
  const predictedMs = fit.predict(features);
  return { predictedMs, errorPercent, fittedOn: measured.length, over: predictedMs > budgetMs * (1 + (2 * errorPercent) / 100) };
}

/** Timed runs per latency measurement, after warm-up; more rounds only when the machine is noisy. */
const LATENCY_RUNS = { runs: 30, warmup: 5, budgetMs: 500 };

/** This process's latency worker: one for every measurement, which also keeps two from running at once. */
let meter: LatencyWorker | undefined;
/** The worker's warm-up, run once before its first measurement counts. */
let warmed: Promise<unknown> | undefined;

/**
 * A new process's first half second of timings reads slow (LeNet-5: 0.034–0.037 ms, then 0.031 ms, in two
 * runs of 16 timings from process start: the runtime and the JIT still settling), which made the first
 * architecture a search times — its reference — look 15–20% slower than later. So the worker's first
 * measurements, for this long, are thrown away.
 */
const WARMUP_MS = 500;

/**
 * Fresh sessions per latency measurement. A session's speed is a property of the session: LeNet-5 at batch
 * 1, timed in 12 sessions one after another on this VM, read 0.028 to 0.068 ms, each session steady within
 * itself (where its buffers and threads land, not the moment), so one session is a draw from that spread.
 * The least of 4 (about 10 ms each for a LeNet) reads the architecture rather than the draw.
 */
export const LATENCY_SESSIONS = 4;

/**
 * The `latency` metric: milliseconds per inference of a model at batch 1, in a worker with the trial's
 * thread count (ORT's default when 0): per session the least round median, which holds on a busy machine
 * better than a mean (runtime/stats.ts), and the least of that over LATENCY_SESSIONS sessions. Concurrent
 * trials (--workers) share the cores and inflate it. Measurements reuse one worker (runtime/measure.ts
 * LatencyWorker), queued one at a time. `provider`: the execution provider it is timed on (default cpu).
 */
export async function inferenceLatencyMs(model: ModelProto, threads: number, provider?: string): Promise<number> {
  const inputs = resolveInputs(model, { dims: new Map([['batch', 1]]) });
  meter ??= new LatencyWorker();
  const session = { ...(threads > 0 ? { intraOpThreads: threads } : {}), ...(provider ? { provider } : {}) };
  const bytes = encodeModel(model);
  warmed ??= (async () => {
    const t0 = performance.now();
    while (performance.now() - t0 < WARMUP_MS) await meter!.measure(bytes, { inputs, ...LATENCY_RUNS, session });
  })().catch((e) => {
    // A model or provider that cannot run: the next measurement warms up again.
    warmed = undefined;
    throw e;
  });
  await warmed;
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < LATENCY_SESSIONS; i++) {
    const m = await meter.measure(bytes, { inputs, ...LATENCY_RUNS, session });
    least = Math.min(least, m.latencyMs.floor);
  }
  return least;
}
