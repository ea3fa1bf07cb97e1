/**
 * Losses appended to a model as ONNX nodes, so the training step differentiates through them like any
 * other part of the graph. Each returns the name of a scalar loss value.
 */
import { badInput } from '../errors.js';
import { DataType } from '../ir/dtype.js';
import type { Dim } from '../ops/types.js';
import type { GradEmitter } from '../ops/grad/emit.js';

export type LossSpec =
  /** Softmax cross-entropy on logits [N, K]; labels are class indices (int64 [N]) or probabilities ([N, K]). */
  | { kind: 'cross-entropy'; target?: 'indices' | 'probabilities'; labelSmoothing?: number }
  | { kind: 'mse' }
  | { kind: 'l1' }
  /**
   * Knowledge distillation: T²·KL(softmax(teacher/T) ‖ softmax(student/T)); the labels input holds the
   * teacher's logits. With `alpha` < 1 and `hardLabelsName`, mixed with (1−alpha)·CE on class indices.
   */
  | { kind: 'kd'; temperature: number; alpha?: number; hardLabelsName?: string }
  /**
   * Distillation with the true labels (Hinton et al. 2015): α·T²·KL(softmax(teacher/T) ‖ softmax(student/T))
   * + (1−α)·CE(student, label). The labels input is float [N, K+1] per batch: the teacher's K logits, then the
   * class index (distill/: cached teacher outputs, or written by a callback before each run).
   */
  | { kind: 'distill'; temperature: number; alpha: number };

/** The kinds `--loss` offers; `distill` is hone distill's own. */
export const LOSS_KINDS = ['cross-entropy', 'mse', 'l1', 'kd'] as const;

/** The labels input a loss reads: its element type and shape given the prediction's shape. */
export function labelsType(spec: LossSpec, pred: Dim[] | undefined): { elemType: number; shape: Dim[] | undefined } {
  if (spec.kind === 'cross-entropy' && (spec.target ?? 'indices') === 'indices')
    return { elemType: DataType.INT64, shape: pred ? [pred[0]!] : undefined };
  if (spec.kind === 'distill')
    return { elemType: DataType.FLOAT, shape: pred && typeof pred[1] === 'number' ? [pred[0]!, pred[1] + 1] : undefined };
  return { elemType: DataType.FLOAT, shape: pred };
}

/** Appends the loss of `pred` against `labels`; returns the scalar loss value's name. */
export function appendLoss(emit: GradEmitter, spec: LossSpec, pred: string, labels: string, predRank: number | undefined): string {
  const f = (v: number) => emit.scalar(v);
  switch (spec.kind) {
    case 'cross-entropy': {
      const eps = spec.labelSmoothing ?? 0;
      if (eps < 0 || eps >= 1) throw badInput(`label smoothing must be in [0, 1), got ${eps}`);
      if ((spec.target ?? 'indices') === 'indices') {
        if (eps === 0 && emit.opset >= 13 && (predRank === undefined || predRank === 2)) {
          return emit.op('SoftmaxCrossEntropyLoss', [pred, labels], { reduction: 'mean' }, 'loss');
        }
        // Label smoothing: soft targets ε/K off the true class and 1−ε+ε/K on it, from OneHot directly.
        const k = emit.op('Slice', [emit.shapeOf(pred), emit.ints([1]), emit.ints([2])]);
        const kf = emit.op('Cast', [k], { to: DataType.FLOAT });
        const off = emit.div(emit.scalarVec(eps), kf);
        const on = emit.add(off, emit.scalarVec(1 - eps));
        const targets = emit.op('OneHot', [labels, k, emit.op('Concat', [off, on], { axis: 0 })], { axis: 1 });
        return softCrossEntropy(emit, pred, targets);
      }
      if (eps > 0) throw badInput('label smoothing applies to class-index labels; smooth probability targets before training');
      return softCrossEntropy(emit, pred, labels);
    }
    case 'mse': {
      const d = emit.sub(pred, labels);
      return emit.reduceMean(emit.mul(d, d), [], false);
    }
    case 'l1':
      return emit.reduceMean(emit.op('Abs', [emit.sub(pred, labels)]), [], false);
    case 'kd': {
      const t = spec.temperature;
      if (!(t > 0)) throw badInput(`distillation temperature must be > 0, got ${t}`);
      const inv = f(1 / t);
      const ls = logSoftmax1(emit, emit.mul(pred, inv));
      const lt = logSoftmax1(emit, emit.mul(labels, inv));
      const kl = emit.reduceSum(emit.mul(emit.op('Exp', [lt]), emit.sub(lt, ls)), [1], false);
      let loss = emit.mul(emit.reduceMean(kl, [], false), f(t * t));
      const alpha = spec.alpha ?? 1;
      if (alpha < 1) {
        if (!spec.hardLabelsName) throw badInput('distillation with alpha < 1 needs hard labels (hardLabelsName)');
        const ce = emit.op('SoftmaxCrossEntropyLoss', [pred, spec.hardLabelsName], { reduction: 'mean' });
        loss = emit.add(emit.mul(loss, f(alpha)), emit.mul(ce, f(1 - alpha)));
      }
      return loss;
    }
    case 'distill': {
      const t = spec.temperature;
      if (!(t > 0)) throw badInput(`distillation temperature must be > 0, got ${t}`);
      if (!(spec.alpha >= 0 && spec.alpha <= 1)) throw badInput(`distillation alpha must be in [0, 1], got ${spec.alpha}`);
      const k = emit.op('Slice', [emit.shapeOf(pred), emit.ints([1]), emit.ints([2])]);
      const teacher = emit.op('Slice', [labels, emit.ints([0]), k, emit.ints([1])]);
      const hard = emit.op(
        'Cast',
        [emit.op('Squeeze', [emit.op('Slice', [labels, k, emit.add(k, emit.ints([1])), emit.ints([1])]), emit.ints([1])])],
        {
          to: DataType.INT64,
        },
      );
      const inv = f(1 / t);
      const ls = logSoftmax1(emit, emit.mul(pred, inv));
      const lt = logSoftmax1(emit, emit.mul(teacher, inv));
      const kl = emit.reduceSum(emit.mul(emit.op('Exp', [lt]), emit.sub(lt, ls)), [1], false);
      const soft = emit.mul(emit.reduceMean(kl, [], false), f(t * t));
      const ce = emit.op('SoftmaxCrossEntropyLoss', [pred, hard], { reduction: 'mean' });
      return emit.add(emit.mul(soft, f(spec.alpha)), emit.mul(ce, f(1 - spec.alpha)));
    }
  }
}

function logSoftmax1(emit: GradEmitter, x: string): string {
  return emit.op('LogSoftmax', [x], { axis: 1 });
}

/** −mean over the batch of Σ_k p_k log softmax(x)_k. */
function softCrossEntropy(emit: GradEmitter, logits: string, probs: string): string {
  const lp = logSoftmax1(emit, logits);
  return emit.neg(emit.reduceMean(emit.reduceSum(emit.mul(probs, lp), [1], false), [], false));
}
