/**
 * `profileModel`: static cost from shapes, then latency, memory and per-op time from the runtime, then
 * the bottleneck verdict. The CLI's `hone profile` is a thin wrapper around it.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelProto, ValueInfoProto } from '../ir/proto.js';
import { encodeMessageChunks, encodeModel } from '../ir/codec.js';
import { dtypeName } from '../ir/dtype.js';
import { loadExternalData, loadModel, PROTOBUF_LIMIT, saveModel } from '../ir/model.js';
import { forEachTensor } from '../ir/walk.js';
import { zooModel } from '../zoo/index.js';
import { HoneError, badInput } from '../errors.js';
import { checkFixes, checkProvider, firstLoadable, resolveBatchSizes, type InputValue, type SessionOpts } from '../runtime/index.js';
import { measureInWorker, type Measurement } from '../runtime/measure.js';
import { machinePeaks, type MachinePeaks } from '../runtime/peaks.js';
import { throughput } from '../runtime/stats.js';
import type { TraceSummary } from '../runtime/trace.js';
import { atBatch, batchPlan, type UserFixes } from './batch.js';
import { diagnose } from './bottleneck.js';
import { staticCost, type StaticCost } from './static.js';
import { modelWeights, type ModelWeights } from '../ops/weights.js';
import type { BatchRow, NodeRow, OpTypeRow, ProfileReport } from './types.js';

export type { ProfileReport } from './types.js';

export interface ProfileOptions {
  /** Batch sizes to measure (default: 1,8 for a symbolic batch dim, else the model's own). */
  batchSizes?: number[];
  /** Timed runs per batch size (default 20) and warm-up runs before them (default 3). */
  runs?: number;
  warmup?: number;
  /** Runs of the profiling session that gives per-op times (default min(runs, 10); 0 = no trace). */
  profileRuns?: number;
  /** Intra-op threads (default 0: ORT's choice, one per physical core). */
  threads?: number;
  provider?: string;
  /** `--dim batch=8` and `--shape x=1x3x224x224`. */
  dims?: Map<string, number> | Record<string, number>;
  shapes?: Map<string, number[]> | Record<string, number[]>;
  /** `--input sr=16000`: values fed instead of random data, by input name. */
  values?: Map<string, InputValue> | Record<string, InputValue>;
  /** False: static analysis only, no runtime (default true). */
  dynamic?: boolean;
  /** Machine peaks to use instead of measuring (or reading the cache). */
  peaks?: MachinePeaks;
  /** Measure the machine peaks again instead of reading the cache (e.g. after a busy machine). */
  refreshPeaks?: boolean;
  /** Called with a short line before each slow step. */
  onProgress?: (message: string) => void;
}

/** Profiles a model: a ModelProto, a path to a .onnx file, or a zoo spec `zoo:NAME[:k=v,…]`. */
export async function profileModel(modelOrPath: ModelProto | string, opts: ProfileOptions = {}): Promise<ProfileReport> {
  const { model, source, bytes } = resolveModel(modelOrPath);
  const fixes: UserFixes = { dims: toMap(opts.dims), shapes: toMap(opts.shapes), values: toMap(opts.values) };
  const provider = checkProvider(opts.provider ?? 'cpu');
  const runs = positive(opts.runs ?? 20, 'runs', 1);
  const warmup = positive(opts.warmup ?? 3, 'warmup', 0);
  const threads = positive(opts.threads ?? 0, 'threads', 0);
  const profileRuns = positive(opts.profileRuns ?? Math.min(runs, 10), 'profileRuns', 0);
  const dynamic = opts.dynamic ?? true;
  checkFixes(model, fixes);
  const plan = batchPlan(model, fixes);
  const batchSizes = resolveBatchSizes(model, fixes, opts.batchSizes?.length ? opts.batchSizes : undefined) ?? plan.defaults;
  for (const b of batchSizes) positive(b, 'batch size', 1);

  // Fix every batch size's dims first, so bad --shape/--dim flags fail before anything slow runs.
  const variants = batchSizes.map((b) => ({ batch: b, ...atBatch(model, plan, b, fixes) }));
  const costs = variants.map((v) => staticCost(v.model));
  const weights = modelWeights(model);
  const { params, bytes: weightBytes } = weights;
  const session: SessionOpts = { provider, intraOpThreads: threads || undefined };
  const values = Object.fromEntries(fixes.values);

  let peaks: MachinePeaks | undefined;
  const measured: Measurement[] = [];
  if (dynamic) {
    opts.onProgress?.('measuring machine peaks (cached after the first time)');
    peaks = opts.peaks ?? await machinePeaks({ session, refresh: opts.refreshPeaks });
    for (const v of variants) {
      opts.onProgress?.(`batch ${v.batch}: ${warmup} warm-up + ${runs} timed runs${profileRuns ? `, ${profileRuns} profiled` : ''}`);
      try {
        measured.push(await firstLoadable(
          v.forms,
          (form) => withRunnable(form, (m) => measureInWorker(m, { session, inputs: v.inputs, values, warmup, runs, profileRuns, transfer: true })),
          (refused, message, next) => opts.onProgress?.(`batch ${v.batch}: ORT refuses the model with ${refused.what} (${message.replace(/^onnxruntime cannot load the model: /, '').replace(/; fix the model.*$/, '')}); running it with ${next.what}`),
        ));
      } catch (e) {
        if (e instanceof HoneError && plan.fixedAt !== undefined && v.batch !== plan.fixedAt) {
          throw badInput(`the model fixes its batch at ${plan.fixedAt} and does not run at batch ${v.batch} (${e.message.replace(/^onnxruntime failed to run the model /, '')}); profile with --batch-sizes ${plan.fixedAt}`, e);
        }
        throw e;
      }
    }
  }

  // The roofline cannot sit below what a model was measured doing: if the peak was measured while the
  // machine was busy, the best achieved rate replaces it.
  if (peaks) {
    const achieved = Math.max(0, ...measured.map((m, i) => costs[i]!.flops / (m.latencyMs.min / 1000)));
    if (achieved > peaks.flops) peaks = { ...peaks, flops: achieved };
  }
  const batches: BatchRow[] = measured.map((m, i) => batchRow(variants[i]!.batch, m, costs[i]!, weightBytes, peaks!));
  const first = costs[0]!;
  const firstTrace = measured[0]?.trace;
  const opRows = opTypeRows(first, measured[0]);
  const bottleneck = measured.length && peaks ? diagnose({
    batchSize: variants[0]!.batch,
    latencyMs: measured[0]!.latencyMs.p50,
    flops: first.flops, bytesMoved: first.bytesRead + first.bytesWritten, weightBytes,
    peakFlops: peaks.flops, bandwidth: peaks.bandwidth, cacheBandwidth: peaks.cacheBandwidth, cacheBytes: peaks.cacheBytes,
    workingSetBytes: weightBytes + first.activationBytes,
    opShares: firstTrace ? opRows.filter((o) => o.timeShare > 0).map((o) => ({ opType: o.opType, share: o.timeShare })) : [],
    kernelFraction: batches[0]!.kernelFraction,
    throughputs: batches.map((b) => ({ batchSize: b.batchSize, throughput: b.throughput })),
    model: typeof modelOrPath === 'string' ? modelOrPath : undefined,
    provider,
    ...modelTraits(model, weights),
    matmulMacs: first.opTypes.filter((o) => o.opType === 'MatMul' || o.opType === 'Gemm').reduce((a, o) => a + o.macs, 0),
  }) : undefined;

  return {
    model: describeModel(model, source),
    params, bytes, weightBytes,
    staticBatchSize: variants[0]!.batch,
    macs: first.macs, flops: first.flops, bytesMoved: first.bytesRead + first.bytesWritten, activationBytes: first.activationBytes,
    opTypes: opRows,
    topNodes: nodeRows(first, measured[0]),
    unknownOps: first.unknownOps,
    staticNote: first.note,
    batches,
    peakMemoryBytes: Math.max(0, ...batches.map((b) => b.peakMemoryBytes)),
    machine: {
      cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, ort: ort.env.versions.node ?? '', platform: `${process.platform}/${process.arch}`,
      peakFlops: peaks?.flops ?? 0, bandwidth: peaks?.bandwidth ?? 0, cacheBandwidth: peaks?.cacheBandwidth ?? 0,
    },
    bottleneck,
    settings: { provider, threads, runs, warmup, dynamic },
  };
}

function resolveModel(m: ModelProto | string): { model: ModelProto; source: string; bytes: number } {
  if (typeof m !== 'string') return { model: m, source: m.graph?.name ?? 'model', bytes: encodedSize(m) };
  if (m.startsWith('zoo:')) {
    const model = zooModel(m.slice(4));
    return { model, source: m, bytes: encodedSize(model) };
  }
  // External files are sized before loading them: loading drops the references to them.
  const model = loadModel(m, { externalData: false });
  const dir = dirname(resolve(m));
  const bytes = statSync(m).size + externalBytes(model, dir);
  loadExternalData(model, dir, m);
  return { model, source: m, bytes };
}

function encodedSize(model: ModelProto): number {
  return encodeMessageChunks(model, 'ModelProto').reduce((n, c) => n + c.byteLength, 0);
}

/** Tensor bytes above which a model cannot be one protobuf (2 GiB, less room for the graph itself). */
export const INLINE_LIMIT = PROTOBUF_LIMIT - 64 * 1024 * 1024;

/**
 * Calls `fn` with the model in a form ORT can load: its bytes, or, when its tensors pass the protobuf
 * limit, the path of a temporary copy saved with external data (removed afterwards).
 */
export async function withRunnable<T>(model: ModelProto, fn: (m: Uint8Array | string) => Promise<T>, limit = INLINE_LIMIT): Promise<T> {
  let tensorBytes = 0;
  forEachTensor(model, (t) => { tensorBytes += t.rawData?.byteLength ?? 0; });
  if (tensorBytes <= limit) return fn(encodeModel(model));
  const dir = mkdtempSync(join(tmpdir(), 'hone-profile-'));
  try {
    const path = join(dir, 'model.onnx');
    saveModel(model, path, { externalData: true });
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sizes of the external data files the model's tensors name (each file counted once). */
function externalBytes(model: ModelProto, dir: string): number {
  const files = new Set<string>();
  forEachTensor(model, (t) => {
    const loc = t.externalData.find((e) => e.key === 'location')?.value;
    if (loc) files.add(join(dir, loc));
  });
  let total = 0;
  for (const f of files) if (existsSync(f)) total += statSync(f).size;
  return total;
}

function batchRow(batch: number, m: Measurement, cost: StaticCost, weightBytes: number, peaks: MachinePeaks): BatchRow {
  const trace = m.trace;
  const kernelFraction = trace ? kernelShare(trace, m.latencyMs.mean) : 1;
  const bytesMoved = cost.bytesRead + cost.bytesWritten;
  const facts = {
    batchSize: batch, latencyMs: m.latencyMs.p50, flops: cost.flops, bytesMoved, weightBytes,
    peakFlops: peaks.flops, bandwidth: peaks.bandwidth, cacheBandwidth: peaks.cacheBandwidth, cacheBytes: peaks.cacheBytes,
    workingSetBytes: weightBytes + cost.activationBytes, opShares: [], kernelFraction, throughputs: [],
  };
  return {
    batchSize: batch,
    latencyMs: m.latencyMs,
    throughput: throughput(batch, m.latencyMs.mean),
    // RSS growth can miss memory the allocator reuses from earlier work in this process, so it is
    // floored by what ORT itself reports holding: the weights plus its arena's high-water mark.
    peakMemoryBytes: Math.max(m.memory.peakBytes, trace?.arenaPeakBytes ? weightBytes + trace.arenaPeakBytes : 0),
    rssGrowthBytes: m.memory.peakBytes,
    arenaPeakBytes: trace?.arenaPeakBytes ?? 0,
    sessionMemoryBytes: m.memory.sessionBytes,
    sessionCreateMs: m.sessionCreateMs,
    macs: cost.macs, flops: cost.flops, bytesMoved,
    achievedFlops: m.latencyMs.p50 > 0 ? cost.flops / (m.latencyMs.p50 / 1000) : 0,
    kernelFraction,
    kind: diagnose(facts).kind,
    opTimes: trace?.opTypes.map((o) => ({ opType: o.opType, share: o.share, timeMs: trace.runs ? o.totalUs / trace.runs / 1000 : 0 })) ?? [],
  };
}

/**
 * ORT rewrites nodes before running them: fusions ('fused X', 'X/MatMulAddFusion'), blocked layouts
 * ('<output>_nchwc'). A traced node is matched back to the model's node by those naming patterns, and its
 * time is attributed to the model's op type when the traced op is a fused form of it (MatMul+Add ran as
 * Gemm is still the MatMul's time). Other traced ops (ReorderOutput, Gelu built from Div/Erf/Mul) keep
 * their own op type.
 */
const FUSED_FORMS: Record<string, readonly string[]> = {
  MatMul: ['Gemm', 'FusedGemm', 'FusedMatMul', 'MatMulNBits', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul'],
  Gemm: ['FusedGemm', 'QGemm'],
  // A QDQ model's Conv (with its DequantizeLinear inputs and QuantizeLinear output) runs as one QLinearConv.
  Conv: ['FusedConv', 'NhwcFusedConv', 'NhwcConv', 'QLinearConv', 'NhwcQLinearConv'],
  MaxPool: ['NhwcMaxPool'],
  AveragePool: ['QLinearAveragePool', 'NhwcQLinearAveragePool'],
  GlobalAveragePool: ['QLinearGlobalAveragePool'],
  Add: ['QLinearAdd'],
  Mul: ['QLinearMul'],
  LayerNormalization: ['SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization'],
};

type StaticNode = StaticCost['nodes'][number];

function traceMatcher(cost: StaticCost): (name: string, opType: string) => StaticNode | undefined {
  const byName = new Map(cost.nodes.map((n) => [n.name, n]));
  const byOutput = new Map(cost.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  return (name, opType) => {
    // ORT's names for the kernels it made from a node: 'fused X', 'X_nchwc', 'X/…Fusion…', 'X_token_N' (QDQ).
    const base = name.replace(/^fused /, '').replace(/_nchwc$/, '').replace(/\/[^/]*Fusion.*$/, '').replace(/_token_\d+$/, '');
    const s = byName.get(name) ?? byName.get(base) ?? byOutput.get(base);
    return s && (s.opType === opType || (FUSED_FORMS[s.opType] ?? []).includes(opType)) ? s : undefined;
  };
}

/**
 * Fraction of the measured latency spent inside kernels. Within the trace, kernel time over `model_run`
 * time is ORT's own dispatch overhead, robust to profiling slowing everything down; `model_run` time
 * over the latency timed without profiling adds the JS binding's share (capped at 1, since profiling
 * can make a traced run slower than an untraced one).
 */
function kernelShare(trace: TraceSummary, latencyMs: number): number {
  if (trace.runs === 0) return 1;
  if (trace.runUs <= 0) return Math.min(1, trace.kernelUs / trace.runs / 1000 / latencyMs);
  const inOrt = Math.min(1, trace.runUs / trace.runs / 1000 / latencyMs);
  return Math.min(1, trace.kernelUs / trace.runUs) * inOrt;
}

/** Ops that mean a model is already quantized (ONNX and com.microsoft forms). */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'MatMulInteger', 'ConvInteger',
  'QGemm', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'MatMulNBits', 'QLinearAdd', 'QLinearMul',
]);

/** What the advice needs to know about the model itself: already quantized, and its widest convolution. */
function modelTraits(model: ModelProto, weights: ModelWeights): { quantized: boolean; convMaxOutChannels?: number } {
  const g = model.graph!;
  let widest: number | undefined;
  for (const n of g.node) {
    if (n.opType !== 'Conv' && n.opType !== 'QLinearConv' && n.opType !== 'ConvInteger') continue;
    const input = n.input[n.opType === 'QLinearConv' ? 3 : 1] ?? '';
    const w = weights.find(input);
    const dims = w && (w.forms.find((f) => f.name === input)?.dims ?? w.dims);
    if (dims?.[0] !== undefined) widest = Math.max(widest ?? 0, dims[0]);
  }
  return { quantized: g.node.some((n) => QUANTIZED_OPS.has(n.opType!)), convMaxOutChannels: widest };
}

function opTypeRows(cost: StaticCost, m: Measurement | undefined): OpTypeRow[] {
  const trace = m?.trace;
  const rows = new Map<string, OpTypeRow>();
  for (const o of cost.opTypes) rows.set(o.opType, { opType: o.opType, count: o.count, macs: o.macs, flops: o.flops, timeShare: 0, timeMs: 0 });
  const match = traceMatcher(cost);
  for (const t of trace?.nodes ?? []) {
    const key = match(t.name, t.opType)?.opType ?? t.opType;
    const row = rows.get(key) ?? { opType: key, count: 0, macs: 0, flops: 0, timeShare: 0, timeMs: 0 };
    row.timeShare += t.share;
    row.timeMs += trace!.runs ? t.totalUs / trace!.runs / 1000 : 0;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.timeShare - a.timeShare || b.macs - a.macs || b.count - a.count);
}

function nodeRows(cost: StaticCost, m: Measurement | undefined): NodeRow[] {
  const traced = m?.trace?.nodes ?? [];
  if (traced.length) {
    const match = traceMatcher(cost);
    return traced.slice(0, 20).map((t) => {
      const s = match(t.name, t.opType);
      return { name: t.name, opType: t.opType, macs: s?.macs, flops: s?.flops, timeShare: t.share };
    });
  }
  return [...cost.nodes].sort((a, b) => b.macs - a.macs).slice(0, 20).map((n) => ({ name: n.name, opType: n.opType, macs: n.macs, flops: n.flops, timeShare: 0 }));
}

function describeModel(model: ModelProto, source: string): ProfileReport['model'] {
  const g = model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const vi = (v: ValueInfoProto) => ({
    name: v.name ?? '',
    elemType: dtypeName(v.type?.tensorType?.elemType),
    shape: v.type?.tensorType?.shape?.dim.map((d) => d.dimValue ?? d.dimParam ?? '?') ?? [],
  });
  return {
    source,
    producer: model.producerName ? `${model.producerName}${model.producerVersion ? ` ${model.producerVersion}` : ''}` : undefined,
    opsets: Object.fromEntries(model.opsetImport.map((o) => [o.domain || 'ai.onnx', o.version ?? 0])),
    inputs: g.input.filter((i) => !inits.has(i.name)).map(vi),
    outputs: g.output.map(vi),
    nodes: g.node.length,
  };
}

function positive(n: number, what: string, min: number): number {
  if (!Number.isInteger(n) || n < min) throw badInput(`${what} must be an integer >= ${min}, got ${n}`);
  return n;
}

function toMap<V>(m: Map<string, V> | Record<string, V> | undefined): Map<string, V> {
  if (m === undefined) return new Map();
  return m instanceof Map ? new Map(m) : new Map(Object.entries(m));
}
