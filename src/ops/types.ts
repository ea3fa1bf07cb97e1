/**
 * What Hone knows about an operator, kept together in one place per op family (`src/ops/<family>.ts`):
 * its type/shape rule and its cost. Later capabilities add their rules to the same objects (gradient,
 * quantization, pruning), so adding an op means touching one file. Passes consult the registry; they do
 * not switch over op types themselves.
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from '../ir/proto.js';

/** A dimension: a known size, or a symbol ('batch', 'seq', or a generated 'unk__3'). */
export type Dim = number | string;

/** Element type and shape of a value. `shape` undefined = rank unknown. */
export interface ValueType {
  elemType: number;
  shape?: Dim[];
}

export interface AttrReader {
  has(name: string): boolean;
  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  floats(name: string): number[] | undefined;
  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  tensor(name: string): TensorProto | undefined;
  graph(name: string): GraphProto | undefined;
  raw(name: string): AttributeProto | undefined;
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
  /** How the op quantizes (see `QuantRule`); absent = the quantizer leaves it in float. */
  quant?: QuantRule;
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
