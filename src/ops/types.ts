/**
 * What Hone knows about an operator, kept together in one place per op family (`src/ops/<family>.ts`):
 * its type/shape rule, its cost, its properties, how it quantizes, how it folds to a constant and its
 * gradient rule — JAX's `standard_primitive`, `ad.defjvp` and batching rule, side by side. Transformations
 * whose code is long keep it in a file of their own (`ops/grad/<family>.ts`, `fold-values.ts`'s helpers),
 * but the op's definition names the rule, so adding an op means touching its family file. Passes consult
 * the registry (`getOpRule`, `opProps`, `quantRule`); they do not keep lists of op types themselves.
 */
import type { AttrReader } from '../ir/attrs.js';
import type { NodeProto, TensorProto } from '../ir/proto.js';
import type { GradRule } from './grad/types.js';

export type { AttrReader } from '../ir/attrs.js';

/** A dimension: a known size, or a symbol ('batch', 'seq', or a generated 'unk__3'). */
export type Dim = number | string;

/** Element type and shape of a value. `shape` undefined = rank unknown. */
export interface ValueType {
  elemType: number;
  shape?: Dim[];
}

export interface OpContext {
  node: NodeProto;
  /** The opset version in force for this node's domain. */
  opset: number;
  /** Types of the inputs; undefined for an absent optional input ('') or an unknown value. */
  inputs: (ValueType | undefined)[];
  attr: AttrReader;
  /** Value of input `i` when it is known statically (initializer, Constant, or folded), else undefined. */
  constant(i: number): TensorProto | undefined;
  /** A fresh symbolic dimension, for sizes that depend on data (NonZero, Unique…). */
  freshDim(): string;
  /**
   * Elements of a small integer input known only symbolically, as dims: Shape of a ['batch', 3] value is
   * ['batch', 3]. Undefined when unknown, or when `constant(i)` has the numbers. Optional: rules must
   * work without it (it lets Reshape/Expand targets built from dynamic shapes keep their symbols).
   */
  symbolicValue?(i: number): Dim[] | undefined;
}

export interface Cost {
  /** Multiply-accumulates (a MAC = 2 FLOPs); 0 for ops without them. */
  macs: number;
  /** Floating-point (or integer arithmetic) operations, MACs counted as 2. */
  flops: number;
  /** Bytes read from inputs (weights included). */
  bytesRead: number;
  /** Bytes written to outputs. */
  bytesWritten: number;
}

export interface OpRule {
  /** '' (default) for ai.onnx, else e.g. 'com.microsoft'. */
  domain?: string;
  opTypes: readonly string[];
  /** One ValueType per output. Throw ShapeError (see shape.ts) when the inputs cannot be valid. */
  infer(ctx: OpContext): ValueType[];
  /** Cost of one run with the given (concrete where known) input and output types. */
  cost?(ctx: OpContext, outputs: ValueType[]): Cost;
  /** What passes ask about the op (see `OpProps`); absent = none of them. */
  props?: OpProps;
  /** How the op quantizes (see `QuantRule`); absent = the quantizer leaves it in float. */
  quant?: QuantRule;
  /** How shape inference evaluates it on constants (see `FoldRule`); absent = its outputs stay unknown values. */
  fold?: FoldRule;
  /** Its gradient (the rule's code is in `ops/grad/<family>.ts`); absent = training stops with an error at it. */
  grad?: GradRule;
  /**
   * How channels pass through it, for structured pruning (see `PruneRule`); absent = a channel reaching the
   * op cannot be removed (unless the op is `elementwise`, which the analysis follows by broadcasting).
   */
  prune?: PruneRule;
}

/**
 * How an op carries channels, for structured pruning (prune/channels.ts, after Torch-Pruning's dependency
 * graph): which weights make channels, which absorb them, and which axes of an output are the same channels
 * as an input's. Removing a channel removes the slice of every weight named here along its axis. Ops marked
 * `elementwise` need no rule: the analysis couples their inputs by broadcasting.
 */
export interface PruneRule {
  /**
   * The op makes channels on output 0's `axis` from constant weights (Conv's filters, Gemm's and MatMul's
   * columns): removing channel c removes slice c of each of `slices`. Undefined when it does not (grouped Conv).
   */
  produces?(ctx: PruneContext): { axis: number; slices: PruneSlice[] } | undefined;
  /**
   * Channels on `axis` of activation input `input`: what the op does with them. Undefined = it cannot follow
   * them (a Softmax over them, a Reshape that mixes them), so they stay.
   */
  flow(ctx: PruneContext, input: number, axis: number): PruneFlow | undefined;
}

/** A constant input sliced along `axis` when channels go; `role` says whether it counts for importance. */
export interface PruneSlice {
  input: number;
  axis: number;
  /** 'weight': a filter, a column, a norm's scale (counted by l1/l2 importance); 'other': biases, statistics. */
  role: 'weight' | 'other';
}

export type PruneFlow =
  /** The op's weights consume the channels (the next Conv's input channels): slicing them ends the chain. */
  | { kind: 'absorb'; slices: PruneSlice[] }
  /** Output 0 carries the same channels on `axis`; `slices` per channel (BatchNorm's statistics); `groups`: the
   * op's `group` attribute equals the channel count (a depthwise Conv). */
  | { kind: 'through'; axis: number; slices: PruneSlice[]; groups?: boolean }
  /** Concat: along `axis` the inputs' channels are laid end to end; along another axis they are coupled. */
  | { kind: 'concat'; axis: number }
  /** Output 0 carries them on `axis`, each channel now `inner` consecutive entries (a Flatten into [N, C·H·W]). */
  | { kind: 'flatten'; axis: number; inner: number };

export interface PruneContext {
  node: NodeProto;
  attr: AttrReader;
  /** Input and output types as shape inference found them (shapes may be symbolic or absent). */
  inputs: (ValueType | undefined)[];
  outputs: (ValueType | undefined)[];
  /** True when input `i` is a constant tensor (an initializer, after constants are folded). */
  isConstant(i: number): boolean;
  /** Elements of constant input `i` (small integer settings: scales, shapes, perms). */
  constantNumbers(i: number): number[] | undefined;
}

/**
 * Properties of an op, as data the passes query (tinygrad's `GroupOp` sets, kept with each op instead of
 * in the passes). Every field absent means false / none.
 */
export interface OpProps {
  /**
   * Output element i reads element i of each input after numpy broadcasting (unary maps, arithmetic,
   * comparisons, Where, Cast, Clip, Dropout): output 0 has the broadcast shape of the inputs, and a channel
   * removed from the inputs is removed from the output.
   */
  elementwise?: boolean;
  /** A float matrix product: the kernel time int8 (dynamic) and int4 weights cut, in the profiler's advice. */
  matmulLike?: boolean;
  /** A float convolution: the kernel time static int8 cuts, in the profiler's advice. */
  convLike?: boolean;
  /**
   * Kept in float32 when a model converts to float16 (`FP16_BLOCK_LIST`): reductions and exp/log/pow whose
   * fp16 error compounds, normalizations, and ops whose float inputs must stay float32 (Q/DQ scales, random
   * draws, boxes, coordinates).
   */
  fp16Sensitive?: boolean;
  /** No gradient flows through it (shapes, indices, comparisons, rounding, randomness): autodiff stops here. */
  nonDifferentiable?: boolean;
  /**
   * Float inputs that set how the op works rather than flow through it (Resize's roi and scales): an
   * initializer read only there is a constant, never a trained parameter.
   */
  settingInputs?: readonly number[];
  /** The opset from which `axes` is input 1 rather than an attribute (ReduceSum 13, the other reductions 18). */
  axesInputSince?: number;
  /** Before opset 7 it broadcast B onto A under the `broadcast` and `axis` attributes; numpy-style from 7. */
  legacyBroadcast?: boolean;
  /**
   * Op types ORT runs this op as after its graph rewrites (fusions, NHWC and QLinear forms): a traced
   * kernel of one of them is this node's time in a profile (MatMul+Add run as Gemm is the MatMul's).
   */
  ortForms?: readonly string[];
  /**
   * ORT fuses it into the Conv or MatMul before it and names the fused kernel after its output (a Conv
   * with its BatchNormalization and Relu runs as one Conv called '<relu output>_nchwc').
   */
  ortFusedIntoProducer?: boolean;
  /**
   * Reads only its input's shape, never its elements (Shape, Size): where shape inference knows the dims, the
   * output is a constant whatever the input holds, and constant folding replaces it (fold.ts).
   */
  metadataOnly?: boolean;
}

/** A small constant tensor held as JS numbers: what shape inference evaluates (≤ 4096 elements). */
export interface FoldValue {
  dataType: number;
  dims: number[];
  values: number[];
}

/** Output 0's elements from the inputs' values (undefined: not a known small constant) and its inferred dims. */
export type Folder = (
  ctx: OpContext,
  inputs: (FoldValue | undefined)[],
  outDims: number[],
) => { dataType: number; values: number[] } | undefined;

/**
 * How shape inference evaluates an op on constants: the small integer arithmetic exporters build around
 * shapes (PyTorch's Shape → Gather → Unsqueeze → Concat → Reshape), so that Reshape targets resolve. The
 * driver (`infer-fold.ts`) checks sizes and types, builds the inputs and makes the tensors.
 */
export interface FoldRule {
  /** Output 0's elements, when every output element is known (its shape is concrete). */
  value?: Folder;
  /** Every output at once (Split), each with its dims; for ops whose outputs differ in shape. */
  outputs?(ctx: OpContext, inputs: (FoldValue | undefined)[], outputs: ValueType[]): FoldValue[] | undefined;
  /**
   * Output 0's elements as dims when some are symbolic (Shape of a ['batch', 3] value is ['batch', 3]):
   * `elems(i)` gives input i's elements as dims (numbers where constant), undefined when unknown.
   */
  dims?(ctx: OpContext, elems: (i: number) => Dim[] | undefined): Dim[] | undefined;
}

/**
 * How an op quantizes, as data the quantization passes read (ONNX Runtime's quantization registry is
 * the model). Input slots are indices into `node.input`.
 */
export interface QuantRule {
  /** Float inputs quantized from calibrated ranges (static) — activations, and weights when not constant; 'all' for variadic ops. */
  activations: readonly number[] | 'all';
  /**
   * Constant weight inputs, quantized offline. `axis` is the output-channel axis for per-channel scales:
   * a number (negative counts from the end), or an attribute that picks one of two axes (Gemm's transB).
   */
  weights?: readonly { input: number; axis: number | { attr: string; ifZero: number; ifSet: number } }[];
  /** A bias input, quantized to int32 with scale = input scale × weight scale. */
  bias?: number;
  /**
   * 'compute': inputs and outputs are quantized so ORT can fuse the Q/DQ unit into an integer kernel.
   * 'passthrough': moves or selects values (Reshape, MaxPool…): the output reuses the input's scale.
   */
  kind: 'compute' | 'passthrough';
  /**
   * ReLU-like: clipping at 0 (and at the top of the calibrated range) is what an asymmetric int8 range
   * starting at 0 does anyway, so after a quantized compute op the node can be dropped and that op's
   * output quantized with this node's range. The lower bound must be 0: always (Relu), or read from an
   * input slot or attribute (Clip).
   */
  foldsIntoRange?: { lowerInput?: number; lowerAttr?: string };
  /**
   * The QOperator form: op type, domain, and the input layout as tokens — `xN` (input N as value, scale,
   * zero point), `yN` (output N's scale and zero point), `bN` (input N as an int32 bias), `*x` (every input,
   * as for Concat).
   */
  qoperator?: { opType: string; domain?: string; layout: readonly string[]; attrs?: Readonly<Record<string, number>> };
  /** Dynamic int8 (run-time activation ranges, weight in input 1): becomes com.microsoft DynamicQuantizeMatMul or MatMulIntegerToFloat. */
  dynamic?: boolean;
  /** Weight-only block-wise int4: the op becomes com.microsoft MatMulNBits. */
  int4?: boolean;
}
