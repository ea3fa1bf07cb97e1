/**
 * Gradient rules: per-op knowledge of how to differentiate a node, kept per op family beside the shape
 * and cost rules (JAX's transpose rules are the model). A rule sees one forward node, the gradients of
 * its outputs and what is known statically about shapes, and emits backward nodes through a GradEmitter.
 * Rules use standard ONNX ops only, so the training graph runs on any ONNX Runtime provider.
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
}

export interface GradRule {
  domain?: string;
  opTypes: readonly string[];
  /**
   * One gradient value name per input (undefined for inputs that get none). May also rewrite
   * `ctx.node` in place to expose extra forward outputs it needs (MaxPool's Indices), before returning.
   */
  grad(ctx: GradContext): (string | undefined)[];
}

/** Ops whose outputs never carry gradients (shapes, indices, comparisons, randomness). */
export const nonDifferentiableOps: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'And',
  'Or',
  'Not',
  'Xor',
  'IsNaN',
  'IsInf',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
  'OneHot',
  'ConstantOfShape',
  'Range',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Multinomial',
  'Constant',
  'EyeLike',
  'TopK_indices',
]);

/**
 * Float inputs that parametrize an op rather than flow through it (Resize's roi and scales): an
 * initializer used only there is a constant, never a trainable parameter.
 */
export const nonDifferentiableInputs: ReadonlyMap<string, readonly number[]> = new Map([
  ['Resize', [1, 2, 3]],
  ['Upsample', [1]],
]);
