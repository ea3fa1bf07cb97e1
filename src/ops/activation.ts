/**
 * Softmax-like ops: Softmax, LogSoftmax, Hardmax. The output has the input's shape in every opset (before
 * opset 13 the `axis` only changes how the input is viewed as 2-D). Cost: max, subtract, exp, sum, divide.
 */
import { logSoftmaxGrad, softmaxGrad } from './grad/activation.js';
import type { OpRule } from './types.js';
import { eachOp, input, normAxis, perElementCost } from './util.js';

export const activationOps: OpRule[] = eachOp(
  {
    infer: (ctx) => {
      const x = input(ctx, 0);
      if (x.shape && x.shape.length > 0) normAxis(ctx.attr.int('axis', ctx.opset >= 13 ? -1 : 1), x.shape.length);
      return [{ elemType: x.elemType, shape: x.shape }];
    },
    cost: perElementCost(8),
  },
  {
    // A sum of exponentials: float16 overflows and loses the small terms.
    Softmax: { grad: softmaxGrad, props: { fp16Sensitive: true } },
    LogSoftmax: { grad: logSoftmaxGrad, props: { fp16Sensitive: true } },
    Hardmax: {},
  },
);
