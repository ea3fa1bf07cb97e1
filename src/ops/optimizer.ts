/**
 * ONNX's training-preview optimizer ops (domain ai.onnx.preview.training): Adagrad, Momentum, Adam. Each
 * updates n tensors: inputs (R, T, X₁…Xₙ, G₁…Gₙ, then per-tensor state), outputs the new X's and new state,
 * each output shaped like the input it replaces. Hone's own training graphs use standard ops; these rules let
 * models that contain them be inspected.
 */
import type { OpContext, OpRule, ValueType } from './types.js';
import { fail, input, perElementCost } from './util.js';

/** Number of input groups after R and T (X, G, then the state tensors). */
const groupsOf: Record<string, number> = { Adagrad: 3, Momentum: 3, Adam: 4 };

function optimizerInfer(ctx: OpContext): ValueType[] {
  const groups = groupsOf[ctx.node.opType!]!;
  const total = ctx.node.input.length - 2;
  if (total % groups !== 0) fail(`${ctx.node.opType} has ${total} tensor inputs, not a multiple of ${groups}`);
  const n = total / groups;
  // Outputs: X_new (like X), then each state (like the matching state input), skipping G.
  return ctx.node.output.map((_, i) => {
    const group = Math.floor(i / n);
    const src = 2 + (group === 0 ? 0 : group + 1) * n + (i % n);
    const t = input(ctx, src);
    return { elemType: t.elemType, shape: t.shape };
  });
}

const optimizers: OpRule = {
  domain: 'ai.onnx.preview.training',
  opTypes: ['Adagrad', 'Momentum', 'Adam'],
  infer: optimizerInfer,
  cost: perElementCost(10),
};

export const optimizerOps: OpRule[] = [optimizers];
