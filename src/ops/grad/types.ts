/**
 * Gradient rules: per-op knowledge of how to differentiate a node (JAX's transpose rules are the model).
 * Their code is here, one file per kind of op; each op's definition in its family file (`ops/<family>.ts`)
 * names its rule in `grad`, and whether gradients flow through it at all in `props.nonDifferentiable`.
 * A rule sees one forward node, the gradients of its outputs and what is known statically about shapes,
 * and emits backward nodes through a GradEmitter. Rules use standard ONNX ops only, so the training graph
 * runs on any ONNX Runtime provider.
 */
import type { NodeProto, TensorProto } from '../../ir/proto.js';
import type { AttrReader, Dim } from '../types.js';
import type { GradEmitter } from './emit.js';

export interface GradContext {
  node: NodeProto;
  attr: AttrReader;
  /** The opset version of the default domain. */
  opset: number;
  /** Gradient value names of the node's outputs; undefined where no gradient flows into that output. */
  gy: (string | undefined)[];
  /** True when input `i` needs a gradient (it leads to a trainable parameter). */
  needs(i: number): boolean;
  /** Static shape of a value (dims may be symbolic), undefined when not even the rank is known. */
  shape(name: string): Dim[] | undefined;
  /** The node that produces a value (undefined for graph inputs and initializers). */
  producer(name: string): NodeProto | undefined;
  /** Element type of a value where known. */
  elemTypeOf(name: string): number | undefined;
  /** The value of `name` when it is a constant (initializer or Constant node) that is not trained. */
  constant(name: string): TensorProto | undefined;
  /** Element type of the floating-point values this node works in (for constants). */
  elemType: number;
  emit: GradEmitter;
  /**
   * Set for a BatchNormalization that the training graph feeds its own batch's mean and variance (see
   * train/training-mode.ts): the value x − mean, so that the rule differentiates through the statistics.
   */
  batchStatistics?: BatchStatistics;
  /**
   * The channel block of a provider kernel that runs depthwise convolutions with large kernels fast (ONNX
   * Runtime's NCHWc kernels, which train/setup.ts routes such convolutions to: passes/nchwc.ts); 0 or
   * absent when there is none. Rules may then choose forms that pay only on such a kernel.
   */
  blockedDepthwise?: number;
}

/** What the training graph computed for a BatchNormalization that normalizes with its batch's statistics. */
export interface BatchStatistics {
  /** x − mean, the mean broadcast over the batch and spatial axes. */
  centered: string;
}

export interface GradRule {
  /**
   * One gradient value name per input (undefined for inputs that get none). May also rewrite
   * `ctx.node` in place to expose extra forward outputs it needs (MaxPool's Indices), before returning.
   */
  grad(ctx: GradContext): (string | undefined)[];
}
