/** Gradients of ONNX's loss ops. */
import { badInput } from '../../errors.js';
import type { GradRule } from './types.js';

/**
 * SoftmaxCrossEntropyLoss (mean reduction, no class weights): d loss / d scores = (softmax − onehot)/N,
 * with softmax read back from the node's log_prob output.
 */
export const softmaxCrossEntropyGrad: GradRule = {
  opTypes: ['SoftmaxCrossEntropyLoss'],
  grad(ctx) {
    if (!ctx.needs(0)) return [];
    const { emit, node, attr } = ctx;
    const [scores, labels, weights] = node.input as [string, string, string | undefined];
    const label = `SoftmaxCrossEntropyLoss node '${node.name ?? node.output[0]}'`;
    if (weights) throw badInput(`${label}: class weights are not supported by the gradient; drop the weights input`);
    if (attr.has('ignore_index')) throw badInput(`${label}: ignore_index is not supported by the gradient`);
    const reduction = attr.string('reduction', 'mean');
    if (reduction === 'none') throw badInput(`${label}: reduction='none' is not supported by the gradient; use 'mean' or 'sum'`);
    let logProb = node.output[1];
    if (!logProb) { logProb = emit.fresh('log_prob'); node.output[1] = logProb; }
    const depth = emit.op('Slice', [emit.shapeOf(scores), emit.ints([1]), emit.ints([2])]);
    const values = emit.op('Concat', [emit.scalarVec(0, ctx.elemType), emit.scalarVec(1, ctx.elemType)], { axis: 0 });
    const onehot = emit.op('OneHot', [labels, depth, values], { axis: 1 });
    let g = emit.sub(emit.op('Exp', [logProb]), onehot);
    if (reduction === 'mean') g = emit.div(g, emit.op('Cast', [emit.op('Size', [labels])], { to: ctx.elemType }));
    return [emit.mul(g, ctx.gy[0]!)];
  },
};

export const lossGradRules: GradRule[] = [softmaxCrossEntropyGrad];
