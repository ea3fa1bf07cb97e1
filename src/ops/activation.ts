/**
 * Softmax-like ops: Softmax, LogSoftmax, Hardmax. The output has the input's shape in every opset (before
 * opset 13 the `axis` only changes how the input is viewed as 2-D). Cost: max, subtract, exp, sum, divide.
 */
import type { OpRule } from './types.js';
import { input, normAxis, perElementCost } from './util.js';

const softmax: OpRule = {
  opTypes: ['Softmax', 'LogSoftmax', 'Hardmax'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (x.shape && x.shape.length > 0) normAxis(ctx.attr.int('axis', ctx.opset >= 13 ? -1 : 1), x.shape.length);
    return [{ elemType: x.elemType, shape: x.shape }];
  },
  cost: perElementCost(8),
};

export const activationOps: OpRule[] = [softmax];
