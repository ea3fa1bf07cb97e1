/**
 * The bottleneck verdict and the advice that follows from it.
 *
 * Roofline: a run that does F FLOPs and moves M bytes cannot take less than max(F / peakFlops,
 * M / bandwidth). Arithmetic intensity F / M above the machine balance (peakFlops / bandwidth) means
 * compute-bound, below means memory-bound. When the measured time is far above that bound (or most of it
 * is spent outside kernels), the cost is per-op overhead: many tiny ops, dispatch, threads waking up.
 *
 * Advice is a table (ADVICE): each rule names the part of the run it speeds up and by how much; the gain
 * it reports comes from the measured time shares through Amdahl's law, and rules are ranked by it.
 *
 * A verdict is printed only when the noise allows one: `judge` diagnoses the fastest stretch of runs and
 * the typical run with a margin around each, and when they disagree the verdict is 'undecided', naming the
 * candidates; advice that depends on the verdict is then listed after the rest, with the verdict it assumes.
 */

import { opTypesWhere } from '../ops/index.js';
import { int8Speedup, type Int8Speedups } from '../runtime/int8-kernels.js';

export type BottleneckKind = 'compute' | 'memory' | 'overhead' | 'unknown' | 'undecided';

/** What the verdict is computed from (one batch size). */
export interface BottleneckFacts {
  batchSize: number;
  /** Measured latency (median), milliseconds. */
  latencyMs: number;
  /** FLOPs and bytes moved per run, from the static cost (0 when shape inference could not give them). */
  flops: number;
  bytesMoved: number;
  /** Bytes of weights read per run. */
  weightBytes: number;
  peakFlops: number;
  /** Memory read rate, and the rate for a working set that fits in `cacheBytes`. */
  bandwidth: number;
  cacheBandwidth?: number;
  cacheBytes?: number;
  /** Weights plus activations: what must stream from memory each run unless it stays in cache. */
  workingSetBytes?: number;
  /** Share of kernel time per op type, from the ORT trace (sums to 1); empty without a trace. */
  opShares: { opType: string; share: number }[];
  /** Fraction of the measured latency spent inside kernels (trace kernel time / latency); 1 when unknown. */
  kernelFraction: number;
  /** Measured throughput per batch size (items/s), for the batching advice. */
  throughputs: { batchSize: number; throughput: number }[];
  /** The model as the user named it (path or zoo spec), put into the advice's commands; 'MODEL' when absent. */
  model?: string;
  /** The execution provider measured ('cpu' when absent): some advice only pays off on some providers. */
  provider?: string;
  /** The model already holds quantized ops (Q/DQ, QLinear*, integer MatMul/Conv): no quantization advice. */
  quantized?: boolean;
  /** Output channels of the widest convolution, when the model has convolutions. */
  convMaxOutChannels?: number;
  /**
   * Share of the convolutions' MACs in depthwise/grouped or narrow (< NARROW_CONV_CHANNELS outputs) ones,
   * which ORT's int8 kernels do not speed up at small batch, when the model has convolutions.
   */
  slowInt8ConvShare?: number;
  /** MACs of the MatMul/Gemm ops per run at this batch size, when known. */
  matmulMacs?: number;
  /**
   * The ops int8 quantization would change (dense and depthwise convolutions, MatMul/Gemm with a constant
   * weight), each with its MACs and share of kernel time, from the trace; with `int8Speedups`, the int8
   * advice is sized op by op from this machine's measured int8 speedups instead of a constant.
   */
  int8Nodes?: { kind: 'conv' | 'depthwise' | 'matmul'; macs: number; share: number }[];
  int8Speedups?: Int8Speedups;
  /** The latency at one intra-op thread per core, when `latencyMs` was measured at ORT's default thread count. */
  threadsProbe?: { threads: number; latencyMs: number };
}

export interface Advice {
  id: string;
  action: string;
  /** The Hone command that does it ({model} and {stem} filled in from `BottleneckFacts.model`). */
  command: string;
  /** Why, with the measured numbers behind it. */
  reason: string;
  /** Expected overall speedup (latency or, for batching, throughput), >= 1. */
  expectedSpeedup: number;
  /** When the verdict is undecided: the verdict this advice assumes ('if overhead-bound'); ranked after unconditional advice. */
  condition?: string;
  /** The pass that carries the advice out (src/passes registry id and options), when it is a model transformation. */
  pass?: { id: string; options: Record<string, string | number | boolean> };
}

export interface Bottleneck {
  kind: BottleneckKind;
  batchSize: number;
  /** FLOPs per byte moved. */
  arithmeticIntensity: number;
  /** Machine balance: peak FLOP/s per byte/s of the bandwidth used. */
  machineBalance: number;
  /** The bandwidth the roofline used: 'cache' when the working set fits in cache, else 'memory'. */
  bandwidthUsed: 'memory' | 'cache';
  /** Roofline lower bound on latency, milliseconds. */
  rooflineMs: number;
  /** rooflineMs / measured latency: how close the run comes to the machine's limits (0..1). */
  efficiency: number;
  /** Op types with the largest time shares (up to 3, at least 10% each). */
  dominantOps: { opType: string; share: number }[];
  /** One sentence: the verdict and the numbers it rests on. */
  summary: string;
  /** The verdicts the measurements allow: just `kind` when decided, two or more when 'undecided'. */
  candidates: BottleneckKind[];
  /** Ranked, largest expected gain first. */
  advice: Advice[];
}

/** Measured time above this multiple of the roofline bound means overhead dominates. */
export const OVERHEAD_FACTOR = 10;
/** Below this fraction of latency inside kernels, the rest (dispatch, binding, threads) dominates. */
export const MIN_KERNEL_FRACTION = 0.5;

export function diagnose(f: BottleneckFacts): Bottleneck {
  // Cache bandwidth applies when the working set fits the cache we measured, or when the run was faster
  // than its bytes could stream from memory (so they came from a larger cache than we measured).
  const fitsCache =
    f.cacheBytes !== undefined && f.workingSetBytes !== undefined && f.workingSetBytes > 0 && f.workingSetBytes <= f.cacheBytes;
  const fasterThanMemory = f.latencyMs > 0 && (f.bytesMoved / f.bandwidth) * 1000 > f.latencyMs;
  const inCache = f.cacheBandwidth !== undefined && (fitsCache || fasterThanMemory);
  const bandwidth = inCache ? f.cacheBandwidth! : f.bandwidth;
  const machineBalance = f.peakFlops / bandwidth;
  const haveCost = f.flops > 0 && f.bytesMoved > 0;
  const arithmeticIntensity = haveCost ? f.flops / f.bytesMoved : 0;
  const rooflineMs = haveCost ? Math.max(f.flops / f.peakFlops, f.bytesMoved / bandwidth) * 1000 : 0;
  const efficiency = f.latencyMs > 0 ? Math.min(1, rooflineMs / f.latencyMs) : 0;
  const overhead = (haveCost && f.latencyMs > OVERHEAD_FACTOR * rooflineMs) || f.kernelFraction < MIN_KERNEL_FRACTION;
  const kind: BottleneckKind = overhead ? 'overhead' : !haveCost ? 'unknown' : arithmeticIntensity >= machineBalance ? 'compute' : 'memory';
  const dominantOps = f.opShares.filter((o) => o.share >= 0.1).slice(0, 3);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const why = !haveCost
    ? 'no static cost (shape inference failed), so only the trace shares are known'
    : kind === 'overhead'
      ? f.kernelFraction < MIN_KERNEL_FRACTION
        ? `only ${pct(f.kernelFraction)} of the ${fmtMs(f.latencyMs)} run is spent in kernels`
        : `the run takes ${fmtMs(f.latencyMs)}, ${(f.latencyMs / rooflineMs).toFixed(0)}x the ${fmtMs(rooflineMs)} that its FLOPs and bytes need on this machine`
      : `arithmetic intensity ${arithmeticIntensity.toFixed(1)} FLOP/byte is ${kind === 'compute' ? 'above' : 'below'} the machine balance ${machineBalance.toFixed(1)}${inCache ? ' (working set in cache)' : ''}; the run reaches ${pct(efficiency)} of the roofline`;
  const dom = dominantOps.length ? `; ${dominantOps.map((o) => `${o.opType} ${pct(o.share)}`).join(', ')} of kernel time` : '';
  const summary = `${kind === 'unknown' ? 'bottleneck unknown' : `${kind}-bound`} at batch ${f.batchSize}: ${why}${dom}`;
  return {
    kind,
    batchSize: f.batchSize,
    arithmeticIntensity,
    machineBalance,
    bandwidthUsed: inCache ? 'cache' : 'memory',
    rooflineMs,
    efficiency,
    dominantOps,
    summary,
    candidates: [kind],
    advice: advise(f, [kind], inCache),
  };
}

/**
 * How close to one of the verdict's lines a measurement may sit and still decide it, per measurement, from
 * how far each moved between identical runs of `hone profile` on LeNet-5 at batch 1, the hard case, on a
 * quiet machine and beside one and two busy cores (docs/benchmarks.md): the fastest round's median moved
 * by up to ±20% (latency, against 10x the roofline); the kernel share of the run, a ratio taken per traced
 * run, by ±7% (0.56-0.65 over 30 runs; against the half-in-kernels line); the peak FLOP/s, cached but
 * re-measured when a probe beats it, by ±20% (against the machine balance). A verdict that a shift of that
 * size would change is not one repeated runs agree on. One margin for all three (20%) made the kernel
 * share's band 42%-60% wide, and LeNet-5's 0.60 sat on its edge: the verdict flipped in 4 of 10 quiet runs.
 */
export const VERDICT_MARGIN = { latency: 0.2, kernelShare: 0.1, peak: 0.2 } as const;
export type VerdictMargin = { readonly latency: number; readonly kernelShare: number; readonly peak: number };

/**
 * The verdict from measurements known only within a range: `fast` holds the facts at the fastest stretch
 * of runs (the least round median, the kernel share of the faster runs), `typical` at the median of all
 * runs. Each is diagnosed, pushed by the margins away from overhead and toward it, and with the machine
 * balance moved both ways. When all of those agree, that is the verdict; otherwise it is 'undecided' between
 * the verdicts they gave, `noise` (e.g. 'robust CV 23%, p90/p50 2.1 over 8 rounds of 20 runs') says how
 * noisy the runs were, and advice for only some of those verdicts is ranked after the rest, as conditional.
 */
export function judge(fast: BottleneckFacts, typical: BottleneckFacts, noise: string, margin: VerdictMargin = VERDICT_MARGIN): Bottleneck {
  const a = diagnose(fast);
  const l = 1 + margin.latency;
  const k = 1 + margin.kernelShare;
  const p = 1 + margin.peak;
  const lessOverhead = { ...fast, latencyMs: fast.latencyMs / l, kernelFraction: Math.min(1, fast.kernelFraction * k) };
  const moreOverhead = { ...typical, latencyMs: typical.latencyMs * l, kernelFraction: typical.kernelFraction / k };
  const kinds = [lessOverhead, moreOverhead].flatMap((f) =>
    [f.peakFlops * p, f.peakFlops / p].map((peakFlops) => diagnose({ ...f, peakFlops }).kind),
  );
  const order: BottleneckKind[] = ['compute', 'memory', 'overhead', 'unknown'];
  const candidates = order.filter((k) => k === a.kind || kinds.includes(k));
  if (candidates.length === 1) return a;
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const lines = [
    `kernels ${pct(fast.kernelFraction)}–${pct(typical.kernelFraction)} of the run against the ${pct(MIN_KERNEL_FRACTION)} line`,
    ...(a.rooflineMs > 0
      ? [
          `${(fast.latencyMs / a.rooflineMs).toFixed(1)}–${(typical.latencyMs / a.rooflineMs).toFixed(1)}x the roofline against ${OVERHEAD_FACTOR}x`,
          `intensity ${a.arithmeticIntensity.toFixed(1)} FLOP/byte against the balance ${a.machineBalance.toFixed(1)}`,
        ]
      : []),
  ];
  const summary =
    `undecided at batch ${fast.batchSize} between ${new Intl.ListFormat('en', { type: 'conjunction' }).format(candidates.map((k) => `${k}-bound`))}: the measurements sit too close ` +
    `to a line between them to decide (${lines.join('; ')}; ${noise})${a.dominantOps.length ? `; ${a.dominantOps.map((o) => `${o.opType} ${pct(o.share)}`).join(', ')} of kernel time` : ''}`;
  return { ...a, kind: 'undecided', candidates, summary, advice: advise(fast, candidates, a.bandwidthUsed === 'cache') };
}

/** What one advice rule needs to know to decide and to size its gain. */
interface AdviceRule {
  id: string;
  action: string;
  command: string;
  /** The rule applies only under these verdicts (any when absent). */
  kinds?: readonly BottleneckKind[];
  /** The rule applies only on these execution providers (any when absent). */
  providers?: readonly string[];
  /** A quantization: not for a model that is already quantized. */
  quantizes?: boolean;
  /** The rule applies only when the widest convolution has at least this many output channels. */
  minConvChannels?: number;
  /**
   * The rule applies only when less than this share of conv MACs is in convolutions int8 does not speed
   * up (`slowInt8ConvShare`); below it, the gain counts only the rest of the conv time.
   */
  maxSlowConvShare?: number;
  /** The rule applies only when the MatMul/Gemm MACs per run are at least this many (where known). */
  minMatMulMacs?: number;
  /** It cuts the weight bytes streamed from memory: not when the working set sits in cache. */
  streamsWeights?: boolean;
  /** The op types it speeds up; it applies when they take at least `minShare` of kernel time. */
  opTypes?: readonly string[];
  minShare?: number;
  /**
   * The part of the run it speeds up: 'ops' (the op types' share of kernel time), 'kernels' (all kernel
   * time), 'overhead' (time outside kernels), 'batching' (measured throughput gain of the largest batch),
   * 'threads' (the whole run, at the measured gain of one intra-op thread per core over ORT's default).
   */
  part: 'ops' | 'kernels' | 'overhead' | 'batching' | 'threads';
  /** Speedup of that part: a number, or computed from the facts (e.g. from the weight bytes). */
  partSpeedup: number | ((f: BottleneckFacts) => number);
  /**
   * An int8 quantization: with `int8Nodes` and `int8Speedups` in the facts, the part is the ops that mode
   * changes and its speedup is measured op by op (`int8Part`), replacing `opTypes` and `partSpeedup`.
   */
  int8?: 'static' | 'dynamic';
  /** Why, with {share} (the part's share of the run), {ops} (the op types present) and {take} filled in. */
  why: string;
  /** The pass `command` runs (its registry id in src/passes), when the advice transforms the model. */
  pass?: string;
}

/** Convolutions with fewer output channels than this run slower in int8 (LeNet-5's 6 and 16: 2.6-3.1x). */
export const NARROW_CONV_CHANNELS = 32;

/** The op types (as a trace names them) of float matrix products and convolutions: `matmulLike`/`convLike` in ops/. */
const MATMUL_OPS = opTypesWhere((p) => p.matmulLike === true);
const CONV_OPS = opTypesWhere((p) => p.convLike === true);

/** Memory-bound time scales with bytes moved: weights at `bits` bits instead of 32 save that part. */
const weightBytesSpeedup = (bits: number) => (f: BottleneckFacts) =>
  f.bytesMoved > 0 ? f.bytesMoved / Math.max(1, f.bytesMoved - f.weightBytes * (1 - bits / 32)) : 1;

export const ADVICE: readonly AdviceRule[] = [
  {
    // Small MatMuls lose in int8 (dynamic quantization of the activations costs more than it saves):
    // LeNet-5's Gemms (0.94 M MACs at batch 16) ran 1.16x slower, the 784-512-256-10 MLP's (8.6 M) 0.72-0.87x.
    quantizes: true,
    minMatMulMacs: 2e6,
    int8: 'dynamic',
    id: 'int8-dynamic',
    pass: 'quantize.dynamic',
    action: 'int8 dynamic quantization of MatMul/Gemm weights',
    command: 'hone quantize {model} -o {stem}.int8.onnx --mode dynamic',
    opTypes: MATMUL_OPS,
    minShare: 0.2,
    part: 'ops',
    partSpeedup: 2,
    why: '{ops} {take} {share} of kernel time; int8 kernels (VNNI) run up to ~2x the fp32 MACs per cycle on that part',
  },
  {
    int8: 'static',
    id: 'int8-static',
    pass: 'quantize.static',
    action: 'static int8 quantization (QDQ, calibrated) of convolutions',
    command: 'hone quantize {model} -o {stem}.qdq.onnx --mode static {calib}',
    // ORT's int8 convolutions pay off on wide layers (ResNet-18 widths 0.29x, the zoo's 16-32-64 ResNet
    // 0.76x) and lose on narrow ones (LeNet-5's 6 and 16 channels ran 2.6-3.1x slower): docs/benchmarks.md.
    // Depthwise and narrow convs gain little at batch 1 and pay for the Q/DQ around them: where they hold
    // 40% or more of the conv MACs, static int8 measured slower at batch 1 (docs/models.md: PP-OCRv4 det
    // 62% of its conv MACs, 0.98x; PP-OCRv2 cls 46%, 0.54x; BlazeFace 53%, 0.98x), and where they hold
    // less it measured faster (zoo:resnet 37%, 1.12x; openWakeWord's embedding 20%, 1.40x; PP-OCRv4 rec
    // 7%, 1.29x; M-LSD 5%, 1.08x): docs/benchmarks.md.
    quantizes: true,
    minConvChannels: NARROW_CONV_CHANNELS,
    maxSlowConvShare: 0.4,
    opTypes: CONV_OPS,
    minShare: 0.2,
    part: 'ops',
    partSpeedup: 2,
    why: '{ops} {take} {share} of kernel time; calibrated int8 convolutions run up to ~2x fp32 on that part',
  },
  {
    quantizes: true,
    streamsWeights: true,
    minMatMulMacs: 2e6,
    id: 'int8-weights',
    pass: 'quantize.dynamic',
    action: 'int8 weights (4x fewer weight bytes to stream)',
    command: 'hone quantize {model} -o {stem}.int8.onnx --mode dynamic',
    kinds: ['memory'],
    part: 'kernels',
    partSpeedup: weightBytesSpeedup(8),
    why: 'memory-bound: kernel time ({share} of the run) scales with bytes moved, and int8 weights cut the bytes',
  },
  {
    quantizes: true,
    streamsWeights: true,
    id: 'fp16-weights',
    pass: 'quantize.fp16',
    action: 'fp16 weights (2x fewer weight bytes to stream)',
    command: 'hone quantize {model} -o {stem}.fp16.onnx --mode fp16',
    // ORT's CPU provider has no fp16 kernels for most ops: it casts back to fp32 (measured 1.34x slower
    // on the zoo transformer here), so fp16 is advice for GPU providers only.
    kinds: ['memory'],
    providers: ['cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'],
    part: 'kernels',
    partSpeedup: weightBytesSpeedup(16),
    why: 'memory-bound: kernel time ({share} of the run) scales with bytes moved, and fp16 weights halve the weight bytes',
  },
  {
    quantizes: true,
    streamsWeights: true,
    id: 'int4-weights',
    pass: 'quantize.int4',
    action: 'int4 block-wise MatMul weights (8x fewer weight bytes; check accuracy)',
    command: 'hone quantize {model} -o {stem}.int4.onnx --mode int4',
    kinds: ['memory'],
    opTypes: MATMUL_OPS,
    minShare: 0.2,
    part: 'ops',
    partSpeedup: weightBytesSpeedup(4),
    why: 'memory-bound and {ops} {take} {share} of kernel time: 4-bit weights stream an eighth of the bytes, at some accuracy cost',
  },
  {
    id: 'batch',
    action: 'serve larger batches',
    command: 'hone profile {model} --batch-sizes 1,8,32',
    kinds: ['overhead'],
    part: 'batching',
    partSpeedup: 1,
    why: 'per-run overhead is shared by the batch: measured throughput at batch {batch} is {gain} that at batch {batch0}',
  },
  {
    id: 'more-threads',
    action: 'one intra-op thread per core',
    command: 'hone profile {model} --threads {threads}',
    part: 'threads',
    partSpeedup: 1,
    why: "at ORT's default thread count the run took {default}; at {threads} intra-op threads (one per core) {probe}",
  },
  // Advice to fuse the elementwise and layout ops ORT leaves unfused comes back with a command that does
  // it (`hone optimize`, not built yet); ORT already applies its own fusions when profiling.
  {
    id: 'threads',
    action: 'fewer intra-op threads for small ops',
    command: 'hone profile {model} --threads 1',
    kinds: ['overhead'],
    part: 'overhead',
    partSpeedup: 1.3,
    why: '{share} of the run is outside kernels; waking threads for tiny ops costs more than it saves (measure with --threads 1)',
  },
];

/**
 * Least overall gain for which int8 quantization is advised when its gain is measured op by op: a smaller
 * one is within what the probes leave out (the Q/DQ at an int8 region's edges beyond one per op, ops ORT
 * fuses differently in a whole model) and not worth the accuracy quantization costs.
 */
export const MIN_INT8_GAIN = 1.1;

/**
 * Least gain of one thread per core over ORT's default for the advice: the two timings are not side by
 * side (the default's best round against the probe's one round), so a smaller gain may be noise.
 */
export const MIN_THREADS_GAIN = 1.15;

/**
 * The part of the run an int8 mode changes and how much faster it gets, op by op: each op's share of
 * kernel time divided by the speedup measured on this machine for an op of its kind and MACs
 * (runtime/int8-kernels.ts). Static mode changes convolutions (dense and depthwise), dynamic mode MatMuls.
 */
function int8Part(
  f: BottleneckFacts,
  mode: 'static' | 'dynamic',
): { share: number; speedup: number; ops: string; count: number } | undefined {
  if (!f.int8Nodes || !f.int8Speedups) return undefined;
  const nodes = f.int8Nodes.filter((n) => (mode === 'dynamic' ? n.kind === 'matmul' : n.kind !== 'matmul'));
  const share = nodes.reduce((a, n) => a + n.share, 0);
  if (share <= 0) return { share: 0, speedup: 1, ops: '', count: 0 };
  const int8Share = nodes.reduce((a, n) => a + n.share / int8Speedup(f.int8Speedups![n.kind], n.macs), 0);
  const label = { conv: 'Conv', depthwise: 'depthwise Conv', matmul: 'MatMul/Gemm' } as const;
  const ops = (['conv', 'depthwise', 'matmul'] as const)
    .map((k) => [k, nodes.filter((n) => n.kind === k).length] as const)
    .filter(([, c]) => c > 0)
    .map(([k, c]) => `${c} ${label[k]}${c > 1 ? 's' : ''}`)
    .join(' and ');
  return { share, speedup: share / int8Share, ops, count: nodes.length };
}

/**
 * Applies the ADVICE table: rules that apply, each with its expected overall gain, best first. `kinds`
 * are the verdicts the measurements allow; with more than one, a rule for some of them is conditional.
 */
export function advise(f: BottleneckFacts, kinds: readonly BottleneckKind[], inCache = false): Advice[] {
  const model = f.model ?? 'MODEL';
  const stem = model.startsWith('zoo:') ? model.slice(4).replace(/[^\w.-]+/g, '_') : model.replace(/\.onnx$/i, '');
  // Fill each template word, quoting for a POSIX shell only the words that need it.
  const quote = (w: string) => (/^[\w./:=,+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
  // Static int8 needs calibration data: zoo models bring their own, a file needs the user's (named by a placeholder).
  const calib = model.startsWith('zoo:') ? '' : '--calib CALIB_DATA.npz';
  const command = (c: string) =>
    c
      .split(' ')
      .map((w) => (w === '{calib}' ? calib : /\{(model|stem)\}/.test(w) ? quote(w.replace('{model}', model).replace('{stem}', stem)) : w))
      .filter(Boolean)
      .join(' ');
  const out: Advice[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  // One thread per core measured faster than ORT's default: advising fewer threads contradicts it.
  const moreThreads = f.threadsProbe && f.latencyMs / f.threadsProbe.latencyMs >= MIN_THREADS_GAIN ? f.threadsProbe : undefined;
  for (const rule of ADVICE) {
    if (rule.id === 'threads' && moreThreads) continue;
    if (rule.part === 'threads') {
      if (!moreThreads) continue;
      const gain = f.latencyMs / moreThreads.latencyMs;
      out.push({
        id: rule.id,
        action: rule.action,
        command: command(rule.command).replace('{threads}', String(moreThreads.threads)),
        expectedSpeedup: gain,
        reason: `${rule.why
          .replace('{default}', fmtMs(f.latencyMs))
          .replace('{threads}', String(moreThreads.threads))
          .replace(
            '{probe}',
            fmtMs(moreThreads.latencyMs),
          )}: ~${gain.toFixed(2)}x, in the session settings alone (SessionOptions.intraOpNumThreads)`,
      });
      continue;
    }
    const assumed = rule.kinds ? kinds.filter((k) => rule.kinds!.includes(k)) : kinds;
    if (assumed.length === 0) continue;
    const condition = assumed.length < kinds.length ? `if ${assumed.join(' or ')}-bound` : undefined;
    if (rule.providers && !rule.providers.includes(f.provider ?? 'cpu')) continue;
    if (rule.quantizes && f.quantized) continue;
    if (rule.minConvChannels !== undefined && (f.convMaxOutChannels ?? 0) < rule.minConvChannels) continue;
    const slowShare = rule.maxSlowConvShare !== undefined ? (f.slowInt8ConvShare ?? 0) : 0;
    if (rule.maxSlowConvShare !== undefined && slowShare >= rule.maxSlowConvShare) continue;
    if (rule.minMatMulMacs !== undefined && f.matmulMacs !== undefined && f.matmulMacs < rule.minMatMulMacs) continue;
    if (rule.streamsWeights && inCache) continue;
    if (rule.part === 'batching') {
      const first = f.throughputs[0];
      const best = [...f.throughputs].sort((a, b) => b.throughput - a.throughput)[0];
      if (!first || !best || best.batchSize === first.batchSize || best.throughput <= first.throughput * 1.1) continue;
      const gain = best.throughput / first.throughput;
      out.push({
        id: rule.id,
        action: rule.action,
        command: command(rule.command),
        expectedSpeedup: gain,
        ...(condition ? { condition } : {}),
        reason: rule.why
          .replace(/\{batch\}/g, String(best.batchSize))
          .replace('{batch0}', String(first.batchSize))
          .replace('{gain}', `${gain.toFixed(1)}x`),
      });
      continue;
    }
    const measured = rule.int8 ? int8Part(f, rule.int8) : undefined;
    if (measured) {
      if (measured.share < (rule.minShare ?? 0)) continue;
      const share = measured.share * f.kernelFraction;
      const gain = 1 / (1 - share + share / measured.speedup);
      if (!(gain >= MIN_INT8_GAIN)) continue;
      out.push({
        id: rule.id,
        action: rule.action,
        command: command(rule.command),
        reason:
          `${measured.ops} ${measured.count > 1 ? 'take' : 'takes'} ${pct(measured.share)} of kernel time; at their sizes, int8 kernels measured ` +
          `${measured.speedup.toFixed(2)}x fp32 on this machine (isolated ops, each quantizing its input): ~${gain.toFixed(2)}x overall ` +
          `(${measured.speedup.toFixed(2)}x on ${pct(share)} of the run)`,
        expectedSpeedup: gain,
        ...(condition ? { condition } : {}),
        ...(rule.pass ? { pass: { id: rule.pass, options: {} } } : {}),
      });
      continue;
    }
    const present = rule.opTypes ? f.opShares.filter((o) => rule.opTypes!.includes(o.opType)) : [];
    const opsShare = present.reduce((a, o) => a + o.share, 0);
    if (rule.opTypes && opsShare < (rule.minShare ?? 0)) continue;
    // Only the convs int8 speeds up count toward the gain (by their share of the conv MACs).
    const share =
      rule.part === 'ops'
        ? opsShare * f.kernelFraction * (1 - slowShare)
        : rule.part === 'kernels'
          ? f.kernelFraction
          : 1 - f.kernelFraction;
    const k = typeof rule.partSpeedup === 'number' ? rule.partSpeedup : rule.partSpeedup(f);
    const gain = 1 / (1 - share + share / k);
    if (!(gain > 1.02)) continue;
    const ops =
      present
        .slice(0, 4)
        .map((o) => o.opType)
        .join('/') || 'all ops';
    const reason = `${rule.why
      .replace('{ops}', ops)
      .replace('{take}', present.length > 1 ? 'take' : 'takes')
      .replace(
        '{share}',
        pct(rule.part === 'ops' ? opsShare : share),
      )}: ~${gain.toFixed(2)}x overall (up to ${k.toFixed(1)}x on ${pct(share)} of the run${slowShare > 0 ? `, leaving out the depthwise and narrow convs' ${pct(slowShare)} of conv MACs` : ''})`;
    out.push({
      id: rule.id,
      action: rule.action,
      command: command(rule.command),
      reason,
      expectedSpeedup: gain,
      ...(condition ? { condition } : {}),
      ...(rule.pass ? { pass: { id: rule.pass, options: {} } } : {}),
    });
  }
  // Advice that holds whatever the verdict comes first: a conditional gain is not ranked as if certain.
  return out.sort((a, b) => Number(!!a.condition) - Number(!!b.condition) || b.expectedSpeedup - a.expectedSpeedup);
}

function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}
