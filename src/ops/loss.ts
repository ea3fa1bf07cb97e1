/**
 * Loss ops used by training graphs: SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss. With
 * reduction 'none' the loss has the labels' shape, else it is a scalar; SoftmaxCrossEntropyLoss can also
 * output the log-probabilities (the scores' shape).
 */
import { softmaxCrossEntropyGrad } from './grad/loss.js';
import type { OpRule, ValueType } from './types.js';
import { eachOp, input, ioBytes, numel } from './util.js';

const losses = eachOp(
  {
    infer: (ctx) => {
      const scores = input(ctx, 0);
      const labels = input(ctx, 1);
      const reduction = ctx.attr.string('reduction', 'mean');
      const out: ValueType[] = [{ elemType: scores.elemType, shape: reduction === 'none' ? labels.shape : [] }];
      if (ctx.node.output.length > 1) out.push({ elemType: scores.elemType, shape: scores.shape });
      return out;
    },
    // Softmax (about 8 flops per score element) plus the gather and reduction over labels.
    cost: (ctx, outputs) => ({
      macs: 0,
      flops: (ctx.node.opType === 'SoftmaxCrossEntropyLoss' ? 8 : 1) * numel(ctx.inputs[0]) + numel(ctx.inputs[1]),
      ...ioBytes(ctx, outputs),
    }),
  },
  { SoftmaxCrossEntropyLoss: { grad: softmaxCrossEntropyGrad }, NegativeLogLikelihoodLoss: {} },
);

export const lossOps: OpRule[] = losses;
