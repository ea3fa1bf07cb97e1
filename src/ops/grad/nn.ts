/**
 * Gradients of convolutions and pooling. A convolution's input gradient is a Conv with the weights
 * flipped and transposed (stride 1) or a ConvTranspose with the same weights (strided); its weight
 * gradient is itself a Conv over transposed tensors (batch becomes channels; the forward stride becomes
 * the dilation and vice versa) or an unfolded GEMM, so both run on the provider's fastest kernels.
 */
import { badInput } from '../../errors.js';
import { DataType } from '../../ir/dtype.js';
import { makeTensor } from '../../ir/tensor.js';
import type { Dim } from '../types.js';
import type { GradContext, GradRule } from './types.js';

interface ConvGeometry {
  k: number[];
  strides: number[];
  dilations: number[];
  /** begin pads then end pads, as ONNX lays them out. */
  pads: number[];
  group: number;
}

function nodeLabel(ctx: GradContext): string {
  return `${ctx.node.opType} node '${ctx.node.name ?? ctx.node.output[0]}'`;
}

/** Kernel, strides, dilations and explicit pads of a Conv/Pool node (auto_pad resolved from static shapes unless told not to: ConvTranspose has its own rule). */
function geometry(ctx: GradContext, kernel: number[], spatialIn: Dim[] | undefined, resolveAutoPad = true): ConvGeometry {
  const { attr } = ctx;
  const n = kernel.length;
  const strides = attr.ints('strides', Array(n).fill(1));
  const dilations = attr.ints('dilations', Array(n).fill(1));
  let pads = attr.ints('pads', Array(2 * n).fill(0));
  const autoPad = resolveAutoPad ? attr.string('auto_pad', 'NOTSET') : 'NOTSET';
  if (autoPad === 'VALID') pads = Array(2 * n).fill(0);
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    if (!spatialIn || spatialIn.some((d) => typeof d !== 'number')) {
      throw badInput(
        `${nodeLabel(ctx)}: auto_pad=${autoPad} needs static spatial input dims for the gradient; export the model with explicit pads`,
      );
    }
    pads = Array(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const size = spatialIn[i] as number;
      const out = Math.ceil(size / strides[i]!);
      const total = Math.max(0, (out - 1) * strides[i]! + (kernel[i]! - 1) * dilations[i]! + 1 - size);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + n] = total - pads[i]!;
    }
  }
  return { k: kernel, strides, dilations, pads, group: attr.int('group', 1) };
}

/**
 * output_padding that makes ConvTranspose(gy) come back to the forward input's spatial size: the rows
 * the forward stride skipped at the end. Needs static input dims when a stride is above 1.
 */
function outputPadding(ctx: GradContext, g: ConvGeometry, spatialIn: Dim[] | undefined): number[] {
  const n = g.k.length;
  return g.k.map((k, i) => {
    if (g.strides[i] === 1) return 0;
    const size = spatialIn?.[i];
    if (typeof size !== 'number') {
      throw badInput(
        `${nodeLabel(ctx)}: the gradient of a strided op needs static spatial input dims; give the model input a fixed height/width`,
      );
    }
    return (size + g.pads[i]! + g.pads[i + n]! - g.dilations[i]! * (k - 1) - 1) % g.strides[i]!;
  });
}

const iota = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/**
 * Weight gradient as a grouped Conv: `a` [N, Ca, …] becomes the input [Ca/g, g·N, …], `b` [N, Cb, …] the
 * weight [Cb, N, …]; the result [Ca/g, Cb, k'] is transposed to [Cb, Ca/g, k] and cut to the kernel size.
 */
function weightGrad(ctx: GradContext, a: string, ca: number, b: string, cb: number, geo: ConvGeometry): string {
  const { emit } = ctx;
  const n = geo.k.length;
  const swap01 = [1, 0, ...iota(n, 2)];
  let inp: string;
  let wt: string;
  if (geo.group === 1) {
    inp = emit.op('Transpose', [a], { perm: swap01 });
    wt = emit.op('Transpose', [b], { perm: swap01 });
  } else {
    const g = geo.group;
    const split = (x: string, c: number) => {
      const shape = emit.shapeOf(x);
      const batch = emit.op('Slice', [shape, emit.ints([0]), emit.ints([1])]);
      const spatial = emit.op('Slice', [shape, emit.ints([2]), emit.ints([2 + n])]);
      return { r: emit.reshape(x, emit.op('Concat', [batch, emit.ints([g, c / g]), spatial], { axis: 0 })), spatial };
    };
    const sa = split(a, ca);
    inp = emit.reshape(
      emit.op('Transpose', [sa.r], { perm: [2, 1, 0, ...iota(n, 3)] }),
      emit.op('Concat', [emit.ints([ca / g, -1]), sa.spatial], { axis: 0 }),
    );
    const sb = split(b, cb);
    wt = emit.reshape(
      emit.op('Transpose', [sb.r], { perm: [1, 2, 0, ...iota(n, 3)] }),
      emit.op('Concat', [emit.ints([cb, -1]), sb.spatial], { axis: 0 }),
    );
  }
  const r = emit.op('Conv', [inp, wt], { strides: geo.dilations, dilations: geo.strides, pads: geo.pads, group: geo.group });
  const t = emit.op('Transpose', [r], { perm: swap01 });
  return emit.op('Slice', [t, emit.ints(Array(n).fill(0)), emit.ints(geo.k), emit.ints(iota(n, 2))]);
}

/**
 * Weight gradient by unfolding, for small kernels: a depthwise Conv with one-hot kernels turns x
 * [N, C, …] into its patches [N, C·K, P] (K kernel taps, P output positions; the forward's strides,
 * pads and dilations), then per group dW[o, c·K + k] = Σₙ gy[n] [O/g, P] · patchesₙᵀ [P, C/g·K] — small
 * GEMMs per sample and group, summed over the batch (depthwise: a product and a sum). The direct form
 * (weightGrad) hands the BLAS a GEMM only K columns wide, which is slow for 3×3 and 1×1 kernels: with
 * this form a zoo ResNet training step (batch 16) took 0.59× the time and a zoo MobileNet step 0.87×,
 * measured interleaved in one process (docs/benchmarks.md); LeNet-5's 5×5 kernels unfolded took 1.18×,
 * so kernels above 16 taps stay direct.
 * Returns undefined where this form does not apply (see UNFOLD_*).
 */
function weightGradUnfold(ctx: GradContext, x: string, gy: string, wd: number[], geo: ConvGeometry): string | undefined {
  const { emit } = ctx;
  const [o, cg] = wd as [number, number];
  const g = geo.group;
  const c = cg * g;
  const kk = geo.k.reduce((a, b) => a * b, 1);
  const outSpatial = ctx.shape(ctx.node.output[0]!)?.slice(2); // gy has the forward output's shape
  if (ctx.elemType !== DataType.FLOAT || kk > UNFOLD_MAX_TAPS || !outSpatial || outSpatial.some((d) => typeof d !== 'number'))
    return undefined;
  const p = (outSpatial as number[]).reduce((a, b) => a * b, 1);
  if (4 * c * kk * p > UNFOLD_MAX_SAMPLE_BYTES) return undefined;
  // A 1×1 kernel at stride 1 without pads has x itself as its patches.
  const identity = kk === 1 && geo.strides.every((s) => s === 1) && geo.pads.every((q) => q === 0);
  const eye = identity
    ? undefined
    : emit.cachedInitializer(`unfold:${c}:${geo.k.join('x')}`, 'unfold_kernel', (name) => {
        const data = new Float32Array(c * kk * kk);
        for (let ch = 0; ch < c; ch++) for (let j = 0; j < kk; j++) data[(ch * kk + j) * kk + j] = 1;
        return makeTensor(name, DataType.FLOAT, [c * kk, 1, ...geo.k], data);
      });
  const patches = eye ? emit.op('Conv', [x, eye], { group: c, strides: geo.strides, pads: geo.pads, dilations: geo.dilations }) : x;
  const og = o / g;
  const ck = cg * kk;
  if (og === 1 && cg === 1) {
    // Depthwise: dW[c, k] = Σ_{n,p} gy[n, c, p] · patches[n, c, k, p]
    const prod = emit.mul(emit.reshape(patches, emit.ints([0, c, kk, p])), emit.reshape(gy, emit.ints([0, c, 1, p])));
    return emit.reshape(emit.reduceSum(prod, [0, 3], false), emit.ints([o, 1, ...geo.k]));
  }
  const p4 = emit.reshape(patches, emit.ints([0, g, ck, p]));
  const g4 = emit.reshape(gy, emit.ints([0, g, og, p]));
  if (ck * og >= ONE_GEMM_RATIO * (ck + og) * p) {
    // Few positions per sample: one GEMM over all samples' positions (K = N·P), after moving the batch
    // next to the positions, beats N small GEMMs whose [C/g·K, O/g] products must then be summed.
    const byGroup = (t: string, rows: number) => emit.reshape(emit.op('Transpose', [t], { perm: [1, 2, 0, 3] }), emit.ints([g, rows, -1]));
    const pg = byGroup(p4, ck); // [g, C/g·K, N·P]
    const gg = byGroup(g4, og); // [g, O/g, N·P]
    const prod = emit.op('MatMul', [gg, emit.op('Transpose', [pg], { perm: [0, 2, 1] })]); // [g, O/g, C/g·K]
    return emit.reshape(prod, emit.ints([o, cg, ...geo.k]));
  }
  // Transpose whichever per-sample operand is smaller (gy [O/g, P] or the patches [C/g·K, P]). The
  // per-sample products are summed by a MatMul with a row of ones: ORT's ReduceSum over the batch moved
  // 4 GB/s (4.8 ms for the [32, 1152, 128] products of a ResNet-18-width layer).
  const batch = ctx.shape(ctx.node.output[0]!)![0]!;
  const sumSamples = (perSample: string, dims: number[]) =>
    emit.reshape(emit.sumLeading(perSample, [batch, ...dims], 1, ctx.elemType) ?? emit.reduceSum(perSample, [0], false), emit.ints(dims));
  if (og <= ck) {
    const perSample = emit.op('MatMul', [p4, emit.op('Transpose', [g4], { perm: [0, 1, 3, 2] })]); // [N, g, C/g·K, O/g]
    const sum = emit.op('Transpose', [sumSamples(perSample, [g, ck, og])], { perm: [0, 2, 1] }); // [g, O/g, C/g·K]
    return emit.reshape(sum, emit.ints([o, cg, ...geo.k]));
  }
  const perSample = emit.op('MatMul', [g4, emit.op('Transpose', [p4], { perm: [0, 1, 3, 2] })]); // [N, g, O/g, C/g·K]
  return emit.reshape(sumSamples(perSample, [g, og, ck]), emit.ints([o, cg, ...geo.k]));
}

/**
 * A depthwise convolution's weight gradient as one depthwise Conv whose kernel is gy, for providers with a
 * blocked depthwise kernel (`ctx.blockedDepthwise`: ORT's NCHWc, where train/setup.ts sends it):
 * dW[c, i, j] = Σ_n Σ_{h,w} xp[n, c, s·h + i, s·w + j] · gy[n, c, h, w] (xp the padded input, s the stride)
 * is a cross-correlation with gy dilated by s once each channel's samples are stacked along the height:
 * xp's samples s·R rows apart (R = ⌈Hp / s⌉), gy's R rows apart (zero rows after its Ho), so a tap of
 * sample n's gy only ever meets sample n's rows. The Conv's own pads supply the columns' padding and the
 * rows the last output rows need, and its output is cut to [kh, kw] where the stride leaves it larger.
 * The batch moves next to the channels before the padding, so each operand is transposed once and padded
 * once. It moves the activations a few times (a transpose, a pad, the NCHWc reorders) where the unfolded
 * form writes, multiplies and sums K patches: on MobileNet-v2's layers (batch 32, 2 threads,
 * bench/conv-grad.ts) 0.31–0.51x the time of the unfolded form at stride 1 and 0.46–0.66x at stride 2; on
 * ORT's plain grouped kernel it is mostly slower than the unfolded form, hence the condition.
 */
function depthwiseWeightGradStacked(ctx: GradContext, x: string, gy: string, wd: number[], geo: ConvGeometry): string | undefined {
  const { emit } = ctx;
  const [o, cg] = wd as [number, number];
  const block = ctx.blockedDepthwise ?? 0;
  if (!block || geo.k.length !== 2 || cg !== 1 || o !== geo.group || o % block !== 0 || ctx.elemType !== DataType.FLOAT) return undefined;
  if (geo.dilations.some((d) => d !== 1)) return undefined;
  const xs = ctx.shape(x)?.slice(2);
  const ys = ctx.shape(ctx.node.output[0]!)?.slice(2);
  if (xs?.length !== 2 || ys?.length !== 2 || [...xs, ...ys].some((d) => typeof d !== 'number')) return undefined;
  const [kh, kw] = geo.k as [number, number];
  const [sh, sw] = geo.strides as [number, number];
  const [pt, pl, pb, pr] = geo.pads as [number, number, number, number];
  const hp = (xs[0] as number) + pt + pb;
  const wp = (xs[1] as number) + pl + pr;
  const [ho, wo] = ys as [number, number];
  const rows = Math.ceil(hp / sh); // gy's rows per sample; xp's are sh times as many
  const outW = wp - sw * (wo - 1);
  if (sh * (ho - 1) + kh > hp || outW < kw) return undefined;
  const pad = (t: string, pads: number[]) => (pads.some((q) => q !== 0) ? emit.op('Pad', [t, emit.ints(pads)]) : t);
  const batchInner = (t: string) => emit.op('Transpose', [t], { perm: [1, 0, 2, 3] });
  // [1, C, N·s·R, W]: each sample padded to s·R rows, stacked. The columns are not stacked, so their pads
  // are the Conv's: ORT's Pad is slow on short rows (a [960, 32, 3, 3] pad of both axes 1.75 ms, of the
  // rows alone 0.49 ms, in the MobileNet-v2 step).
  const xStacked = emit.reshape(pad(batchInner(x), [0, 0, pt, 0, 0, 0, pb + sh * rows - hp, 0]), emit.ints([1, o, -1, xs[1] as number]));
  // [C, 1, N·R, Wo]: gy's rows padded to R per sample, stacked.
  const gyStacked = emit.reshape(pad(batchInner(gy), [0, 0, 0, 0, 0, 0, rows - ho, 0]), emit.ints([o, 1, -1, wo]));
  const extra = Math.max(0, kh - sh);
  let r = emit.op('Conv', [xStacked, gyStacked], { group: o, dilations: [sh, sw], pads: [0, pl, extra, pr] });
  if (extra + sh > kh || outW > kw) r = emit.op('Slice', [r, emit.ints([0, 0]), emit.ints([kh, kw]), emit.ints([2, 3])]);
  return emit.reshape(r, emit.ints([o, 1, kh, kw]));
}

/**
 * The unfolded weight gradient takes one GEMM over the whole batch, rather than a GEMM per sample and a
 * sum, when the summed products (N·(C/g·K)·(O/g) values) outweigh this many times the operands the
 * transposes move (N·(C/g·K + O/g)·P): measured (3×3, batch 32, interleaved) 0.56–0.69x the time at ratios
 * 1.6–14 (ResNet-18's late layers, 8×8 and 4×4), 0.89x at 0.9, 1.04–1.08x at 0.45 and below (16×16, 32×32).
 */
const ONE_GEMM_RATIO = 0.75;
/** Kernels with more taps than this keep the direct weight gradient (measured as fast or faster for 5×5). */
const UNFOLD_MAX_TAPS = 16;
/** Patches per sample above this (bytes) keep the direct form, which needs no patches tensor. */
const UNFOLD_MAX_SAMPLE_BYTES = 16 << 20;

function staticDims(ctx: GradContext, name: string, what: string): number[] {
  const s = ctx.shape(name);
  if (!s || s.some((d) => typeof d !== 'number'))
    throw badInput(`${nodeLabel(ctx)}: the gradient needs the static shape of its ${what} '${name}'`);
  return s as number[];
}

export const convGrad: GradRule = {
  grad(ctx) {
    const { emit, node } = ctx;
    const [x, w, bias] = node.input as [string, string, string | undefined];
    const gy = ctx.gy[0]!;
    const wd = staticDims(ctx, w, 'weight');
    const spatialIn = ctx.shape(x)?.slice(2);
    const geo = geometry(ctx, ctx.attr.ints('kernel_shape', wd.slice(2)), spatialIn);
    const n = geo.k.length;
    const out: (string | undefined)[] = [];
    if (ctx.needs(0)) {
      out[0] =
        inputGradConv(ctx, gy, w, wd, geo, spatialIn) ??
        emit.op('ConvTranspose', [gy, w], {
          strides: geo.strides,
          pads: geo.pads,
          dilations: geo.dilations,
          group: geo.group,
          output_padding: outputPadding(ctx, geo, spatialIn),
        });
    }
    if (ctx.needs(1)) {
      out[1] =
        depthwiseWeightGradStacked(ctx, x, gy, wd, geo) ??
        weightGradUnfold(ctx, x, gy, wd, geo) ??
        weightGrad(ctx, x, wd[1]! * geo.group, gy, wd[0]!, geo);
    }
    if (bias && ctx.needs(2)) out[2] = emit.reduceSum(gy, [0, ...iota(n, 2)], false);
    return out;
  },
};

/**
 * The input gradient of a stride-1 convolution as a Conv rather than a ConvTranspose: gy convolved with
 * the kernel flipped in space and its channel axes swapped per group (W'[g·C/g + c, o] = W[g·O/g + o, c],
 * reversed taps), padded by d·(k − 1) − p on each side. ORT's Conv runs it as one im2col GEMM where its
 * ConvTranspose does a GEMM and a col2im scatter: a 64→64 3×3 layer at 32×32, batch 32, took 0.40x the time
 * (docs/design.md). The Conv computes every input position from the padded gy, the ConvTranspose every
 * output position: the same MACs for a 'same' convolution, but a 'valid' one's full correlation does
 * in/out positions times more (LeNet-5's 5×5 conv2, 14×14 → 10×10: 1.96x, and 5.2x the time at batch 64,
 * measured), so the Conv form is used only where the input has at most 10% more positions than the output.
 * Strided convolutions keep ConvTranspose (as a Conv they would need gy with zeros between its elements);
 * so does a pad beyond the kernel's reach (negative pads).
 */
function inputGradConv(
  ctx: GradContext,
  gy: string,
  w: string,
  wd: number[],
  geo: ConvGeometry,
  spatialIn: Dim[] | undefined,
): string | undefined {
  const { emit } = ctx;
  const n = geo.k.length;
  if (geo.strides.some((s) => s !== 1)) return undefined;
  const spatialOut = ctx.shape(ctx.node.output[0]!)?.slice(2);
  const positions = (d: Dim[] | undefined) =>
    d?.every((x) => typeof x === 'number') ? (d as number[]).reduce((a, b) => a * b, 1) : undefined;
  const [pin, pout] = [positions(spatialIn), positions(spatialOut)];
  if (pin !== undefined && pout !== undefined && pin > 1.1 * pout) return undefined;
  const pads = geo.pads.map((p, i) => geo.dilations[i % n]! * (geo.k[i % n]! - 1) - p);
  if (pads.some((p) => p < 0)) return undefined;
  const [o, cg] = wd as [number, number];
  const g = geo.group;
  let swapped: string;
  if (o === g && cg === 1)
    swapped = w; // depthwise (one filter per channel): only the taps flip
  else if (g === 1) swapped = emit.op('Transpose', [w], { perm: [1, 0, ...iota(n, 2)] });
  else {
    const grouped = emit.reshape(w, emit.ints([g, o / g, cg, ...geo.k]));
    swapped = emit.reshape(emit.op('Transpose', [grouped], { perm: [0, 2, 1, ...iota(n, 3)] }), emit.ints([cg * g, o / g, ...geo.k]));
  }
  if (geo.k.every((k) => k === 1)) return emit.op('Conv', [gy, swapped], { pads, dilations: geo.dilations, group: g }); // nothing to flip
  // The taps reversed (every spatial axis flipped is the flattened taps in reverse order) by a GEMM with
  // the reversal permutation: exact (each output is one weight times 1), and one pass where ORT's Slice
  // with negative steps copies element by element (a 256→256 3×3 filter 2.65 ms in the ResNet-18-width
  // step; its transposes, slices and flips together went from 35–38 to 29–31 ms).
  const taps = geo.k.reduce((a, b) => a * b, 1);
  if (ctx.elemType !== DataType.FLOAT && ctx.elemType !== DataType.DOUBLE) {
    const sliced = emit.op('Slice', [
      swapped,
      emit.ints(Array(n).fill(-1)),
      emit.ints(Array(n).fill(Number.MIN_SAFE_INTEGER)),
      emit.ints(iota(n, 2)),
      emit.ints(Array(n).fill(-1)),
    ]);
    return emit.op('Conv', [gy, sliced], { pads, dilations: geo.dilations, group: g });
  }
  const reversal = emit.cachedInitializer(`flip:${ctx.elemType}:${taps}`, 'tap_reversal', (name) => {
    const data = ctx.elemType === DataType.DOUBLE ? new Float64Array(taps * taps) : new Float32Array(taps * taps);
    for (let i = 0; i < taps; i++) data[i * taps + (taps - 1 - i)] = 1;
    return makeTensor(name, ctx.elemType, [taps, taps], data);
  });
  const flipped = emit.reshape(
    emit.op('MatMul', [emit.reshape(swapped, emit.ints([-1, taps])), reversal]),
    emit.ints([-1, o / g, ...geo.k]),
  );
  return emit.op('Conv', [gy, flipped], { pads, dilations: geo.dilations, group: g });
}

export const convTransposeGrad: GradRule = {
  grad(ctx) {
    const { emit, node, attr } = ctx;
    const [x, w, bias] = node.input as [string, string, string | undefined];
    const gy = ctx.gy[0]!;
    const wd = staticDims(ctx, w, 'weight');
    const autoPad = attr.string('auto_pad', 'NOTSET');
    const geo = geometry(ctx, attr.ints('kernel_shape', wd.slice(2)), undefined, false);
    if (attr.has('output_shape') || autoPad !== 'NOTSET') geo.pads = transposePads(ctx, geo, autoPad, ctx.shape(x)?.slice(2));
    const n = geo.k.length;
    const out: (string | undefined)[] = [];
    // The adjoint of a transposed convolution is the convolution itself.
    if (ctx.needs(0))
      out[0] = emit.op('Conv', [gy, w], { strides: geo.strides, pads: geo.pads, dilations: geo.dilations, group: geo.group });
    if (ctx.needs(1)) out[1] = weightGrad(ctx, gy, wd[1]! * geo.group, x, wd[0]!, geo);
    if (bias && ctx.needs(2)) out[2] = emit.reduceSum(gy, [0, ...iota(n, 2)], false);
    return out;
  },
};

/**
 * The explicit pads of a ConvTranspose whose output size comes from output_shape or auto_pad (the ONNX
 * spec's rule): total = stride·(in − 1) + output_padding + (k − 1)·dilation + 1 − out, with out from
 * output_shape or in·stride (SAME_*); SAME_UPPER puts ⌊total/2⌋ at the start, otherwise the end gets it.
 * Needs static input spatial dims.
 */
function transposePads(ctx: GradContext, geo: ConvGeometry, autoPad: string, spatialIn: Dim[] | undefined): number[] {
  const n = geo.k.length;
  if (autoPad === 'VALID' && !ctx.attr.has('output_shape')) return Array(2 * n).fill(0);
  if (!spatialIn || spatialIn.length !== n || spatialIn.some((d) => typeof d !== 'number')) {
    throw badInput(
      `${nodeLabel(ctx)}: the gradient of a ConvTranspose with output_shape or auto_pad needs static spatial input dims; give the model input a fixed size`,
    );
  }
  const outShape = ctx.attr.ints('output_shape', []).slice(-n);
  const outPad = ctx.attr.ints('output_padding', Array(n).fill(0));
  const pads = Array(2 * n).fill(0);
  for (let i = 0; i < n; i++) {
    const size = spatialIn[i] as number;
    const target = outShape.length === n ? outShape[i]! : size * geo.strides[i]!;
    const total = geo.strides[i]! * (size - 1) + (outPad[i] ?? 0) + (geo.k[i]! - 1) * geo.dilations[i]! + 1 - target;
    if (total < 0)
      throw badInput(
        `${nodeLabel(ctx)}: output_shape ${target} on axis ${i + 2} is larger than the transposed convolution produces; the gradient needs total padding ≥ 0`,
      );
    const half = Math.floor(total / 2);
    pads[i] = autoPad === 'SAME_UPPER' ? half : total - half;
    pads[i + n] = total - pads[i]!;
  }
  return pads;
}

/** Zeros shaped like `x`, flattened to 1-D. */
function flatZeros(ctx: GradContext, x: string): string {
  const { emit } = ctx;
  const zero = ctx.elemType === DataType.DOUBLE ? Float64Array.of(0) : Float32Array.of(0);
  return emit.op('ConstantOfShape', [emit.reshape(emit.op('Size', [x]), emit.ints([1]))], {
    value: makeTensor('value', ctx.elemType, [1], zero),
  });
}

export const maxPoolGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const x = node.input[0]!;
    const fast = upsampleMaskGrad(ctx);
    if (fast) return [fast];
    if (attr.int('storage_order', 0) !== 0) throw badInput(`${nodeLabel(ctx)}: MaxPool gradients need storage_order=0 (row-major indices)`);
    // Expose the argmax indices (flat offsets into X) from the forward node itself.
    let indices = node.output[1];
    if (!indices) {
      indices = emit.fresh('maxpool_indices');
      node.output[1] = indices;
    }
    const k = attr.ints('kernel_shape', []);
    const strides = attr.ints(
      'strides',
      k.map(() => 1),
    );
    const dil = attr.ints(
      'dilations',
      k.map(() => 1),
    );
    const overlapping = k.some((kk, i) => (kk - 1) * dil[i]! + 1 > strides[i]!);
    if (overlapping && ctx.opset < 16) {
      throw badInput(
        `${nodeLabel(ctx)}: overlapping max-pool windows need ScatterElements' add reduction (opset 16); the model has opset ${ctx.opset}`,
      );
    }
    const flatIdx = emit.reshape(indices, emit.ints([-1]));
    const flatG = emit.reshape(ctx.gy[0]!, emit.ints([-1]));
    const scattered = emit.op('ScatterElements', [flatZeros(ctx, x), flatIdx, flatG], {
      axis: 0,
      reduction: overlapping ? 'add' : undefined,
    });
    return [emit.reshapeLike(scattered, x)];
  },
};

/**
 * The fast path for the common CNN pattern, non-overlapping windows over a ReLU output: route gy to the
 * positions equal to their window's max (upsample y and gy, compare with x). Ties would each get the
 * gradient, but after a ReLU the only ties are zeros, whose gradient the ReLU rule zeroes anyway — so
 * the result equals the indices path, and the forward keeps ORT's fast MaxPool without indices.
 * Returns undefined when the pattern does not apply.
 */
function upsampleMaskGrad(ctx: GradContext): string | undefined {
  const { emit, node, attr } = ctx;
  const x = node.input[0]!;
  if (ctx.producer(x)?.opType !== 'Relu' || node.output[1] || attr.int('ceil_mode', 0) !== 0) return undefined;
  const k = attr.ints('kernel_shape', []);
  const strides = attr.ints(
    'strides',
    k.map(() => 1),
  );
  const pads = attr.ints('pads', []);
  const dil = attr.ints('dilations', []);
  const spatial = ctx.shape(x)?.slice(2);
  if (!spatial || spatial.length !== k.length || attr.string('auto_pad', 'NOTSET') !== 'NOTSET') return undefined;
  if (pads.some((p) => p !== 0) || dil.some((d) => d !== 1) || k.some((kk, i) => strides[i] !== kk)) return undefined;
  if (spatial.some((d, i) => typeof d !== 'number' || d % k[i]! !== 0) || ctx.opset < 11) return undefined;
  // Nearest-neighbour upsampling by the window size. Resize measured 2.4x faster than Expand over a
  // [N, C, h, 1, w, 1] view here, and faster than Tile, DepthToSpace or a ones-kernel ConvTranspose.
  const scales = emit.initializerFloats([1, 1, ...k]);
  const up = (v: string) =>
    emit.op('Resize', [v, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  // Windows whose max is 0 (all of x ≤ 0 there: x is a ReLU output) compare against −1 instead, so the
  // mask also holds ReLU's own (x > 0), and the ReLU rule passes this gradient through unmasked.
  // The replacement runs at the pooled size, the ReLU mask it saves at the full size.
  const y = node.output[0]!;
  const zero = emit.scalar(0, ctx.elemType);
  const yPos = emit.op('Where', [emit.op('Greater', [y, zero]), y, emit.scalar(-1, ctx.elemType)]);
  const mask = emit.op('Equal', [x, up(yPos)]);
  const g = emit.masked(mask, up(ctx.gy[0]!), ctx.elemType);
  emit.markZeroWhereNotPositive(g, x);
  return g;
}

export const averagePoolGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const x = node.input[0]!;
    if (attr.int('ceil_mode', 0) !== 0) throw badInput(`${nodeLabel(ctx)}: AveragePool gradients with ceil_mode=1 are not supported`);
    const xs = ctx.shape(x);
    const channels = xs?.[1];
    if (typeof channels !== 'number') throw badInput(`${nodeLabel(ctx)}: the gradient needs the static channel count of '${x}'`);
    const geo = geometry(ctx, attr.ints('kernel_shape', []), xs?.slice(2));
    const n = geo.k.length;
    const window = geo.k.reduce((a, b) => a * b, 1);
    const ones = (c: number) => {
      const data = ctx.elemType === DataType.DOUBLE ? new Float64Array(c * window).fill(1) : new Float32Array(c * window).fill(1);
      const name = emit.fresh('ones');
      emit.initializers.push(makeTensor(name, ctx.elemType, [c, 1, ...geo.k], data));
      return name;
    };
    let g = ctx.gy[0]!;
    const padded = geo.pads.some((p) => p !== 0);
    if (padded && attr.int('count_include_pad', 0) === 0) {
      // Each output averaged over its in-bounds elements only: count them with a Conv over ones.
      const onesX = emit.op(
        'ConstantOfShape',
        [emit.op('Concat', [emit.ints([1, 1]), emit.op('Slice', [emit.shapeOf(x), emit.ints([2]), emit.ints([2 + n])])], { axis: 0 })],
        {
          value: makeTensor('value', ctx.elemType, [1], ctx.elemType === DataType.DOUBLE ? Float64Array.of(1) : Float32Array.of(1)),
        },
      );
      const counts = emit.op('Conv', [onesX, ones(1)], { strides: geo.strides, pads: geo.pads, dilations: geo.dilations });
      g = emit.div(g, counts);
    } else {
      g = emit.mul(g, emit.scalar(1 / window, ctx.elemType));
    }
    return [
      emit.op('ConvTranspose', [g, ones(channels)], {
        strides: geo.strides,
        pads: geo.pads,
        dilations: geo.dilations,
        group: channels,
        output_padding: outputPadding(ctx, geo, xs?.slice(2)),
      }),
    ];
  },
};

export const globalAveragePoolGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit } = ctx;
    const x = ctx.node.input[0]!;
    const gy = ctx.gy[0]!;
    const count = emit.div(
      emit.op('Cast', [emit.op('Size', [x])], { to: ctx.elemType }),
      emit.op('Cast', [emit.op('Size', [gy])], { to: ctx.elemType }),
    );
    return [emit.op('Expand', [emit.div(gy, count), emit.shapeOf(x)])];
  },
};

/**
 * BatchNormalization. With the batch's own statistics (`ctx.batchStatistics`, given for the nodes the
 * training graph feeds the mean μ and variance of x computed in the graph; M elements per channel,
 * d = x − μ, s = 1/√(σ² + ε), x̂ = d·s):
 *   dβ = Σ gy,  dγ = s·Σ gy·d,
 *   dx = γs·(gy − Σgy/M − x̂·Σ gy·x̂/M) = A·gy + B·d + C, per channel A = γs, B = −A·s²·Σ gy·d/M,
 *   C = −A·Σgy/M
 * — two reductions and three full passes (B·d + C runs as a BatchNormalization with mean 0, variance 1
 * and ε 0). Working from d rather than x keeps Σ gy·d free of the cancellation of Σ gy·x − μ·Σ gy.
 * With fixed statistics (inference mode): dx = gy·γs, dγ = s·Σ gy·(x − μ), dβ = Σ gy; none for the stats.
 */
export const batchNormGrad: GradRule = {
  grad(ctx) {
    const { emit, node, attr } = ctx;
    const [x, scale, bias, mean, variance] = node.input as [string, string, string, string, string];
    if (attr.int('training_mode', 0) !== 0)
      throw badInput(
        `${nodeLabel(ctx)}: gradients of BatchNormalization with training_mode=1 are not supported; Hone's trainer rewrites training-mode BatchNorm itself`,
      );
    const rank = ctx.shape(x)?.length;
    if (rank === undefined || rank < 2) throw badInput(`${nodeLabel(ctx)}: the gradient needs the rank of its input '${x}'`);
    const gy = ctx.gy[0]!;
    const axes = [0, ...iota(rank - 2, 2)];
    const perChannel = (v: string) => (rank > 2 ? emit.unsqueeze(v, iota(rank - 2, 1)) : v);
    const invStd = emit.op('Reciprocal', [emit.op('Sqrt', [emit.add(variance, emit.scalar(attr.float('epsilon', 1e-5), ctx.elemType))])]);
    const batch = ctx.batchStatistics;
    const centered = batch?.centered ?? emit.sub(x, perChannel(mean));
    const sumGy = emit.reduceSum(gy, axes, false);
    const sumGyD = ctx.needs(1) || (batch && ctx.needs(0)) ? emit.reduceSum(emit.mul(gy, centered), axes, false) : undefined;
    const a = emit.mul(scale, invStd);
    const out: (string | undefined)[] = [];
    if (ctx.needs(0)) {
      if (!batch) out[0] = emit.mul(gy, perChannel(a));
      else {
        const count = emit.div(
          emit.op('Cast', [emit.op('Size', [x])], { to: ctx.elemType }),
          emit.op('Cast', [emit.op('Size', [scale])], { to: ctx.elemType }),
        );
        const b = emit.op('Neg', [emit.div(emit.mul(emit.mul(a, emit.mul(invStd, invStd)), sumGyD!), count)]);
        const c = emit.op('Neg', [emit.div(emit.mul(a, sumGy), count)]);
        const zeros = emit.sub(mean, mean);
        const ones = emit.add(zeros, emit.scalar(1, ctx.elemType));
        const affine = emit.op('BatchNormalization', [centered, b, c, zeros, ones], { epsilon: 0 });
        out[0] = emit.add(emit.mul(gy, perChannel(a)), affine);
      }
    }
    if (ctx.needs(1)) out[1] = emit.mul(sumGyD!, invStd);
    if (bias && ctx.needs(2)) out[2] = sumGy;
    // The statistics get no gradient: with batch statistics dx above already carries their effect.
    return out;
  },
};

/**
 * LayerNormalization (opset 17), from the node's own Mean and InvStdDev outputs (exposed when the model
 * does not use them): over the normalized axes (M elements), x̂ = (x − μ)·s, g = gy·γ,
 *   dx = s·(g − mean(g) − x̂·mean(g·x̂)),  dγ = Σ gy·x̂,  dβ = Σ gy  (the sums down to γ's and β's shapes)
 * — the fused forward kernel stays, and the backward is a handful of passes instead of the gradients of
 * a ReduceMean/Sub/Div decomposition.
 */
export const layerNormGrad: GradRule = {
  grad(ctx) {
    const { emit, node, attr } = ctx;
    const [x, scale, bias] = node.input as [string, string, string | undefined];
    const xShape = ctx.shape(x);
    if (!xShape) throw badInput(`${nodeLabel(ctx)}: the gradient needs the rank of its input '${x}'`);
    const rank = xShape.length;
    let axis = attr.int('axis', -1);
    if (axis < 0) axis += rank;
    const inner = iota(rank - axis, axis);
    while (node.output.length < 3) node.output.push('');
    if (!node.output[1]) node.output[1] = emit.fresh('ln_mean');
    if (!node.output[2]) node.output[2] = emit.fresh('ln_inv_std');
    const [mean, invStd] = [node.output[1]!, node.output[2]!];
    const gy = ctx.gy[0]!;
    const xhat = emit.mul(emit.sub(x, mean), invStd);
    const out: (string | undefined)[] = [];
    if (ctx.needs(0)) {
      const g = emit.mul(gy, scale);
      const m1 = emit.reduceMean(g, inner, true);
      const m2 = emit.reduceMean(emit.mul(g, xhat), inner, true);
      out[0] = emit.mul(emit.sub(emit.sub(g, m1), emit.mul(xhat, m2)), invStd);
    }
    if (ctx.needs(1)) out[1] = emit.sumTo(emit.mul(gy, xhat), scale, xShape, ctx.shape(scale), ctx.elemType);
    if (bias && ctx.needs(2)) out[2] = emit.sumTo(gy, bias, xShape, ctx.shape(bias), ctx.elemType);
    return out;
  },
};
