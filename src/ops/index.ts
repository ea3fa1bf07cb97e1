/**
 * Registers every op family with the registry. Importing this module once makes the registry's queries
 * (`getOpRule`, `opProps`, `quantRule`, `gradRule`) know all built-in ops; import them from here.
 */
import { activationOps } from './activation.js';
import { attentionOps } from './attention.js';
import { convOps } from './conv.js';
import { elementwiseOps } from './elementwise.js';
import { lossOps } from './loss.js';
import { matmulOps } from './matmul.js';
import { normOps } from './norm.js';
import { optimizerOps } from './optimizer.js';
import { poolOps } from './pool.js';
import { quantOps } from './quant.js';
import { reduceRules } from './reduce.js';
import { rnnOps } from './rnn.js';
import { signalOps } from './signal.js';
import { registerOps } from './registry.js';
import { tensorOps } from './tensor.js';

export const builtinOps = [
  ...elementwiseOps,
  ...activationOps,
  ...matmulOps,
  ...convOps,
  ...poolOps,
  ...normOps,
  ...reduceRules,
  ...tensorOps,
  ...quantOps,
  ...lossOps,
  ...rnnOps,
  ...attentionOps,
  ...signalOps,
  ...optimizerOps,
];

registerOps(builtinOps);

export { getOpRule, gradRule, knownOpTypes, opProps, opTypesWhere, quantRule, registerOps } from './registry.js';
export { isQuantizedOp, QUANTIZED_OP_TYPES } from './quant.js';
