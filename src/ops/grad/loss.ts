/** Gradients of ONNX's loss ops. */
import type { GradRule } from './types.js';

/**
 * SoftmaxCrossEntropyLoss, every form the spec allows: scores [N, C] or [N, C, D1, …], class weights,
 * ignore_index, reduction none/sum/mean. With per-element weight wᵢ = weights[yᵢ] (1 without weights, 0
 * where yᵢ = ignore_index), d loss / d scores = coefᵢ · (softmax − onehot(yᵢ)), where coefᵢ is wᵢ·gyᵢ
 * (none), wᵢ·gy (sum) or wᵢ·gy / Σw (mean; ONNX divides by the element count when neither weights nor
 * ignore_index is given, which is the same). Softmax is read back from the node's log_prob output.
 */
export const softmaxCrossEntropyGrad: GradRule = {
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const [scores, labels, weights] = node.input as [string, string, string | undefined];
    const reduction = attr.string('reduction', 'mean');
    const ignore = attr.has('ignore_index') ? attr.int('ignore_index', 0) : undefined;
    let logProb = node.output[1];
    if (!logProb) {
      logProb = emit.fresh('log_prob');
      node.output[1] = logProb;
    }
    const depth = emit.op('Slice', [emit.shapeOf(scores), emit.ints([1]), emit.ints([2])]);
    const values = emit.op('Concat', [emit.scalarVec(0, ctx.elemType), emit.scalarVec(1, ctx.elemType)], { axis: 0 });
    // An ignored label may be out of range (−100 is common): OneHot gives zeros for it, Gather would fail.
    const keep = ignore === undefined ? undefined : emit.op('Not', [emit.op('Equal', [labels, emit.int64(ignore)])]);
    const safeLabels = keep ? emit.op('Where', [keep, labels, emit.int64(0)]) : labels;
    const onehot = emit.op('OneHot', [safeLabels, depth, values], { axis: 1 });
    // Per-element weights (the labels' shape), or undefined when every element weighs 1.
    let w: string | undefined;
    if (weights) w = emit.op('Gather', [weights, safeLabels], { axis: 0 });
    if (keep) {
      const k = emit.op('Cast', [keep], { to: ctx.elemType });
      w = w ? emit.mul(w, k) : k;
    }
    let coef: string;
    if (reduction === 'none') coef = w ? emit.mul(w, ctx.gy[0]!) : ctx.gy[0]!;
    else {
      let scale = ctx.gy[0]!;
      if (reduction === 'mean') {
        const denom = w ? emit.op('ReduceSum', [w], { keepdims: 0 }) : emit.op('Cast', [emit.op('Size', [labels])], { to: ctx.elemType });
        scale = emit.div(scale, denom);
      }
      coef = w ? emit.mul(w, scale) : scale;
    }
    const g = emit.sub(emit.op('Exp', [logProb]), onehot);
    // coef has the labels' shape (or is a scalar): put the class axis back to broadcast over C.
    return [emit.mul(g, w || reduction === 'none' ? emit.unsqueeze(coef, [1]) : coef)];
  },
};
