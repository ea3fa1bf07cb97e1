/**
 * `profileModel`: static cost from shapes, then latency, memory and per-op time from the runtime, then
 * the bottleneck verdict. The CLI's `hone profile` is a thin wrapper around it.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { coreThreads, cpuDescription } from '../runtime/cpu.js';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { attrReader } from '../ir/attrs.js';
import type { GraphProto, ModelProto, ValueInfoProto } from '../ir/proto.js';
import { encodeMessageChunks, encodeModel } from '../ir/codec.js';
import { dtypeName } from '../ir/dtype.js';
import { loadExternalData, loadModel, PROTOBUF_LIMIT, saveModel } from '../ir/model.js';
import { forEachTensor } from '../ir/walk.js';
import { zooModel } from '../zoo/index.js';
import { HoneError, badInput, errorMessage } from '../errors.js';
import {
  checkFixes,
  checkProvider,
  firstLoadable,
  modelLoadReason,
  resolveBatchSizes,
  type InputValue,
  type SessionOpts,
} from '../runtime/index.js';
import { measureInWorker, type Measurement } from '../runtime/measure.js';
import { machinePeaks, type MachinePeaks } from '../runtime/peaks.js';
import { median, throughput } from '../runtime/stats.js';
import { atBatch, batchPlan, type UserFixes } from './batch.js';
import { diagnose, judge, NARROW_CONV_CHANNELS, type BottleneckFacts } from './bottleneck.js';
import { staticCost, type StaticCost } from './static.js';
import { isQuantizedOp, opProps } from '../ops/index.js';
import { modelWeights, type ModelWeights } from '../ops/weights.js';
import type { BatchRow, NodeRow, OpTypeRow, ProfileReport } from './types.js';

export type { ProfileReport } from './types.js';

export interface ProfileOptions {
  /** Batch sizes to measure (default: 1,8 for a symbolic batch dim, else the model's own). */
  batchSizes?: number[];
  /** Timed runs per batch size (default 20) and warm-up runs before them (default 3). */
  runs?: number;
  warmup?: number;
  /**
   * Extra time per batch size for measuring longer when the runs are noisy (default 3000 ms): more rounds
   * of `runs`, up to 8 (see runtime/stats.ts). 0 takes one round whatever the noise.
   */
  budgetMs?: number;
  /** Runs of the profiling session that gives per-op times (default min(runs, 10); 0 = no trace). */
  profileRuns?: number;
  /** Intra-op threads (default 0: ORT's choice, one per physical core). */
  threads?: number;
  provider?: string;
  /** ORT graph optimizers to leave out (as `hone optimize` may choose; SessionOpts.disabledOptimizers). */
  disabledOptimizers?: readonly string[];
  /**
   * With ORT's default thread count (no `threads`) on a CPU with several cores, time the first batch size
   * again at one thread per core, for the advice (default true; `hone optimize` searches threads itself).
   */
  threadsProbe?: boolean;
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
  const budgetMs = positive(opts.budgetMs ?? 3000, 'budgetMs', 0);
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
  const peakSession: SessionOpts = { provider, intraOpThreads: threads || undefined };
  const session: SessionOpts = { ...peakSession, disabledOptimizers: opts.disabledOptimizers };
  const values = Object.fromEntries(fixes.values);

  let peaks: MachinePeaks | undefined;
  let peaksCheck: string | undefined;
  const measured: Measurement[] = [];
  let probe: { threads: number; measured: Measurement } | undefined;
  if (dynamic) {
    opts.onProgress?.('measuring machine peaks (cached after the first time, checked by a short probe)');
    const checked = opts.peaks
      ? { ...opts.peaks, check: 'given by the caller' }
      : await machinePeaks({ session: peakSession, refresh: opts.refreshPeaks });
    ({ check: peaksCheck, ...peaks } = checked);
    let loaded: ModelProto | undefined;
    for (const v of variants) {
      opts.onProgress?.(`batch ${v.batch}: ${warmup} warm-up + ${runs} timed runs${profileRuns ? `, ${profileRuns} profiled` : ''}`);
      try {
        measured.push(
          await firstLoadable(
            v.forms,
            (form) => {
              if (v === variants[0]) loaded = form;
              return withRunnable(form, (m) =>
                measureInWorker(m, { session, inputs: v.inputs, values, warmup, runs, budgetMs, profileRuns, transfer: true }),
              );
            },
            (refused, message, next) =>
              opts.onProgress?.(
                `batch ${v.batch}: ORT refuses the model with ${refused.what} (${modelLoadReason(message)}); running it with ${next.what}`,
              ),
          ),
        );
      } catch (e) {
        if (e instanceof HoneError && plan.fixedAt !== undefined && v.batch !== plan.fixedAt) {
          throw badInput(
            `the model fixes its batch at ${plan.fixedAt} and does not run at batch ${v.batch} (${e.message.replace(/^onnxruntime failed to run the model /, '')}); profile with --batch-sizes ${plan.fixedAt}`,
            e,
          );
        }
        throw e;
      }
    }
    // ORT's default intra-op thread count is its own count of physical cores, which on some VMs comes out
    // below the cores the process has (one of two on an AMD EPYC VM: the zoo transformer at 8×128 ran 46 ms
    // by default and 25 ms at two threads). One round at a thread per core, for the advice; its single
    // round against the default's best round can only understate what more threads give. Cores as the OS
    // counts them (coreThreads): logical CPUs would probe SMT siblings too, which ORT's count leaves out.
    const cores = coreThreads();
    if (opts.threadsProbe !== false && !threads && provider === 'cpu' && cores > 1 && loaded) {
      const v = variants[0]!;
      opts.onProgress?.(`batch ${v.batch}: ${runs} timed runs again at ${cores} intra-op threads (ORT's default may run fewer)`);
      try {
        probe = {
          threads: cores,
          measured: await withRunnable(loaded, (m) =>
            measureInWorker(m, {
              session: { ...session, intraOpThreads: cores },
              inputs: v.inputs,
              values,
              warmup,
              runs,
              budgetMs: 0,
              transfer: true,
            }),
          ),
        };
      } catch (e) {
        // The probe only feeds advice: a run that fails at this thread count leaves the profile as it was.
        opts.onProgress?.(`batch ${v.batch}: the run at ${cores} intra-op threads failed (${errorMessage(e)}); no thread advice`);
      }
    }
  }

  // The roofline cannot sit below what a model was measured doing: if the peak was measured while the
  // machine was busy, the best achieved rate (at the fastest round's median, not one lucky run) replaces it.
  if (peaks) {
    const achieved = Math.max(0, ...measured.map((m, i) => costs[i]!.flops / (m.latencyMs.floor / 1000)));
    if (achieved > peaks.flops) peaks = { ...peaks, flops: achieved };
  }
  const batches: BatchRow[] = measured.map((m, i) => batchRow(variants[i]!.batch, m, costs[i]!, weightBytes, peaks!));
  const first = costs[0]!;
  const firstTrace = measured[0]?.trace;
  const opRows = opTypeRows(first, measured[0], variants[0]!.model.graph!);
  // The verdict rests on the fastest round's median; it stands only if the median run, and a margin around
  // both, agree (`judge`).
  const factsAt = (pick: (l: Measurement['latencyMs']) => number, quiet: boolean): BottleneckFacts => ({
    batchSize: variants[0]!.batch,
    latencyMs: pick(measured[0]!.latencyMs),
    flops: first.flops,
    bytesMoved: first.bytesRead + first.bytesWritten,
    weightBytes,
    peakFlops: peaks!.flops,
    bandwidth: peaks!.bandwidth,
    cacheBandwidth: peaks!.cacheBandwidth,
    cacheBytes: peaks!.cacheBytes,
    workingSetBytes: weightBytes + first.activationBytes,
    opShares: firstTrace ? opRows.filter((o) => o.timeShare > 0).map((o) => ({ opType: o.opType, share: o.timeShare })) : [],
    kernelFraction: kernelShare(measured[0]!, quiet),
    throughputs: measured.map((m, i) => ({ batchSize: variants[i]!.batch, throughput: throughput(variants[i]!.batch, pick(m.latencyMs)) })),
    model: typeof modelOrPath === 'string' ? modelOrPath : undefined,
    provider,
    ...modelTraits(model, weights, first),
    ...(firstTrace && peaks!.int8
      ? { int8Nodes: int8Nodes(variants[0]!.model, weights, first, measured[0]!), int8Speedups: peaks!.int8 }
      : {}),
    matmulMacs: first.opTypes.filter((o) => o.opType === 'MatMul' || o.opType === 'Gemm').reduce((a, o) => a + o.macs, 0),
    ...(probe ? { threadsProbe: { threads: probe.threads, latencyMs: pick(probe.measured.latencyMs) } } : {}),
  });
  const l0 = measured[0]?.latencyMs;
  const bottleneck =
    l0 && peaks
      ? judge(
          factsAt((l) => l.floor, true),
          factsAt((l) => l.p50, false),
          `robust CV ${(l0.cv * 100).toFixed(0)}%, p90/p50 ${l0.tail.toFixed(2)} over ${l0.rounds} round${l0.rounds > 1 ? 's' : ''} of ${runs} runs`,
        )
      : undefined;

  return {
    model: describeModel(model, source),
    params,
    bytes,
    weightBytes,
    staticBatchSize: variants[0]!.batch,
    macs: first.macs,
    flops: first.flops,
    bytesMoved: first.bytesRead + first.bytesWritten,
    activationBytes: first.activationBytes,
    opTypes: opRows,
    topNodes: nodeRows(first, measured[0], variants[0]!.model.graph!),
    unknownOps: first.unknownOps,
    staticNote: first.note,
    batches,
    peakMemoryBytes: Math.max(0, ...batches.map((b) => b.peakMemoryBytes)),
    machine: {
      cpu: cpuDescription(),
      cores: cpus().length,
      ort: ort.env.versions.node ?? '',
      platform: `${process.platform}/${process.arch}`,
      peakFlops: peaks?.flops ?? 0,
      bandwidth: peaks?.bandwidth ?? 0,
      cacheBandwidth: peaks?.cacheBandwidth ?? 0,
      ...(peaksCheck ? { peaksCheck } : {}),
    },
    bottleneck,
    ...(probe
      ? { threadsProbe: { threads: probe.threads, floorMs: probe.measured.latencyMs.floor, p50Ms: probe.measured.latencyMs.p50 } }
      : {}),
    settings: { provider, threads, runs, warmup, budgetMs, dynamic },
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
  forEachTensor(model, (t) => {
    tensorBytes += t.rawData?.byteLength ?? 0;
  });
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
  const kernelFraction = kernelShare(m, true);
  const bytesMoved = cost.bytesRead + cost.bytesWritten;
  const facts = {
    batchSize: batch,
    latencyMs: m.latencyMs.floor,
    flops: cost.flops,
    bytesMoved,
    weightBytes,
    peakFlops: peaks.flops,
    bandwidth: peaks.bandwidth,
    cacheBandwidth: peaks.cacheBandwidth,
    cacheBytes: peaks.cacheBytes,
    workingSetBytes: weightBytes + cost.activationBytes,
    opShares: [],
    kernelFraction,
    throughputs: [],
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
    macs: cost.macs,
    flops: cost.flops,
    bytesMoved,
    achievedFlops: m.latencyMs.p50 > 0 ? cost.flops / (m.latencyMs.p50 / 1000) : 0,
    kernelFraction,
    // Each row's own verdict, at its fastest round (the first row's decided-or-not verdict is `bottleneck`).
    kind: diagnose(facts).kind,
    opTimes: trace?.opTypes.map((o) => ({ opType: o.opType, share: o.share, timeMs: o.perRunUs / 1000 })) ?? [],
  };
}

/**
 * ORT rewrites nodes before running them: fusions ('fused X', 'X/MatMulAddFusion'), blocked layouts
 * ('<output>_nchwc'). A traced node is matched back to the model's node by those naming patterns, and its
 * time is attributed to the model's op type when the traced op is a fused form of it (MatMul+Add ran as
 * Gemm is still the MatMul's time). Other traced ops (ReorderOutput, Gelu built from Div/Erf/Mul) keep
 * their own op type. Which forms ORT runs an op as is the op's `ortForms` (ops/).
 */
// The static cost's nodes carry no domain: the forms are those of the ai.onnx op of that name.
const fusedForms = (opType: string): readonly string[] => opProps('', opType).ortForms ?? [];

type StaticNode = StaticCost['nodes'][number];

function traceMatcher(cost: StaticCost, graph?: GraphProto): (name: string, opType: string) => StaticNode | undefined {
  const byName = new Map(cost.nodes.map((n) => [n.name, n]));
  const byOutput = new Map(cost.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const producer = new Map((graph?.node ?? []).flatMap((n) => n.output.map((o) => [o, n] as const)));
  const fits = (s: StaticNode | undefined, opType: string) => !!s && (s.opType === opType || fusedForms(s.opType).includes(opType));
  return (name, opType) => {
    // ORT's names for the kernels it made from a node: 'fused X', 'X_nchwc', 'X/…Fusion…', 'X_token_N' (QDQ).
    const base = name
      .replace(/^fused /, '')
      .replace(/_nchwc$/, '')
      .replace(/\/[^/]*Fusion.*$/, '')
      .replace(/_token_\d+$/, '');
    const s = byName.get(name) ?? byName.get(base) ?? byOutput.get(base);
    if (fits(s, opType)) return s;
    // Named after an op ORT fused into the one before it (`ortFusedIntoProducer`: a Conv with its
    // BatchNormalization and Relu runs as one Conv called '<relu output>_nchwc'): walk back (a few steps at
    // most) to the op that fits; a residual Add folded into a Conv may have it on either input.
    let values = [base];
    for (let step = 0; step < 3; step++) {
      const next: string[] = [];
      for (const v of values) {
        const n = producer.get(v);
        if (!n || !opProps(n.domain, n.opType ?? '').ortFusedIntoProducer) continue;
        for (const input of n.input) {
          const up = byOutput.get(input);
          if (fits(up, opType)) return up;
          if (input) next.push(input);
        }
      }
      values = next;
    }
    return undefined;
  };
}

/**
 * Fraction of the run spent inside kernels: each traced run's kernel time over its own wall time as timed
 * around `run()` (binding and ORT's dispatch included), and the median of those ratios. A run and its own
 * kernels are stalled by the same neighbour, so the ratio holds where a ratio of two separately measured
 * latencies would not. `quiet` takes the median over the faster half of the traced runs only.
 */
function kernelShare(m: Measurement, quiet = false): number {
  const trace = m.trace;
  const wall = m.traceWallMs ?? [];
  if (!trace || trace.runs === 0 || wall.length !== trace.perRun.length) return 1;
  const cut = median(wall);
  const ratios = trace.perRun
    .map((r, i) => ({ r: Math.min(1, r.kernelUs / 1000 / wall[i]!), wall: wall[i]! }))
    .filter((x) => !quiet || x.wall <= cut)
    .map((x) => x.r);
  return ratios.length ? median(ratios) : 1;
}

/**
 * The quantized op types (`isQuantizedOp`: the list `hone quantize` refuses a quantized model by) in the
 * model's main graph, sorted: a model holding any is quantized already, and no quantization is advised.
 */
export function quantizedOpTypes(model: ModelProto): string[] {
  return [...new Set(model.graph!.node.map((n) => n.opType ?? '').filter(isQuantizedOp))].sort();
}

/**
 * What the advice needs to know about the model itself: already quantized, its widest convolution, and
 * the share of its convolution MACs in the convolutions int8 kernels do not speed up (see
 * `BottleneckFacts.slowInt8ConvShare`): depthwise or grouped ones, and narrow ones (under
 * NARROW_CONV_CHANNELS output channels).
 */
function modelTraits(
  model: ModelProto,
  weights: ModelWeights,
  cost: StaticCost,
): Pick<BottleneckFacts, 'quantized' | 'convMaxOutChannels' | 'slowInt8ConvShare'> {
  const g = model.graph!;
  const macsByOutput = new Map(cost.nodes.map((n) => [n.outputs[0], n.macs]));
  let widest: number | undefined;
  let convMacs = 0;
  let slowMacs = 0;
  for (const n of g.node) {
    if (n.opType !== 'Conv' && n.opType !== 'QLinearConv' && n.opType !== 'ConvInteger') continue;
    const input = n.input[n.opType === 'QLinearConv' ? 3 : 1] ?? '';
    const w = weights.find(input);
    const dims = w && (w.forms.find((f) => f.name === input)?.dims ?? w.dims);
    if (dims?.[0] !== undefined) widest = Math.max(widest ?? 0, dims[0]);
    const macs = macsByOutput.get(n.output[0]) ?? 0;
    const group = attrReader(n).int('group', 1);
    convMacs += macs;
    if (group > 1 || (dims?.[0] !== undefined && dims[0] < NARROW_CONV_CHANNELS)) slowMacs += macs;
  }
  return {
    quantized: quantizedOpTypes(model).length > 0,
    convMaxOutChannels: widest,
    ...(convMacs > 0 ? { slowInt8ConvShare: slowMacs / convMacs } : {}),
  };
}

/**
 * The convolutions and MatMuls int8 quantization would change, with their share of the traced kernel time
 * and their MACs, so that advice can size its gain by op from the machine's measured int8 speedups
 * (runtime/int8-kernels.ts). MatMuls count only with a constant weight (what dynamic quantization needs).
 */
function int8Nodes(model: ModelProto, weights: ModelWeights, cost: StaticCost, m: Measurement): NonNullable<BottleneckFacts['int8Nodes']> {
  const graph = model.graph!;
  const byOutput = new Map(graph.node.map((n) => [n.output[0], n]));
  const match = traceMatcher(cost, graph);
  const out = new Map<StaticNode, { kind: 'conv' | 'depthwise' | 'matmul'; macs: number; share: number }>();
  for (const t of m.trace?.nodes ?? []) {
    const s = match(t.name, t.opType);
    const n = s && byOutput.get(s.outputs[0]);
    if (!s || !n || s.macs <= 0) continue;
    let kind: 'conv' | 'depthwise' | 'matmul';
    if (n.opType === 'Conv') kind = attrReader(n).int('group', 1) > 1 ? 'depthwise' : 'conv';
    else if ((n.opType === 'MatMul' || n.opType === 'Gemm') && weights.find(n.input[1] ?? '')) kind = 'matmul';
    else continue;
    const row = out.get(s) ?? { kind, macs: s.macs, share: 0 };
    row.share += t.share;
    out.set(s, row);
  }
  return [...out.values()];
}

function opTypeRows(cost: StaticCost, m: Measurement | undefined, graph: GraphProto): OpTypeRow[] {
  const trace = m?.trace;
  const rows = new Map<string, OpTypeRow>();
  for (const o of cost.opTypes)
    rows.set(o.opType, { opType: o.opType, count: o.count, macs: o.macs, flops: o.flops, timeShare: 0, timeMs: 0 });
  const match = traceMatcher(cost, graph);
  for (const t of trace?.nodes ?? []) {
    const key = match(t.name, t.opType)?.opType ?? t.opType;
    const row = rows.get(key) ?? { opType: key, count: 0, macs: 0, flops: 0, timeShare: 0, timeMs: 0 };
    row.timeShare += t.share;
    row.timeMs += t.perRunUs / 1000;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.timeShare - a.timeShare || b.macs - a.macs || b.count - a.count);
}

function nodeRows(cost: StaticCost, m: Measurement | undefined, graph: GraphProto): NodeRow[] {
  const traced = m?.trace?.nodes ?? [];
  if (traced.length) {
    const match = traceMatcher(cost, graph);
    return traced.slice(0, 20).map((t) => {
      const s = match(t.name, t.opType);
      return { name: t.name, opType: t.opType, macs: s?.macs, flops: s?.flops, timeShare: t.share };
    });
  }
  return [...cost.nodes]
    .sort((a, b) => b.macs - a.macs)
    .slice(0, 20)
    .map((n) => ({ name: n.name, opType: n.opType, macs: n.macs, flops: n.flops, timeShare: 0 }));
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
