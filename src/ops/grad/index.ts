/** Registers every gradient rule; import this module once before differentiating. */
import { activationGradRules } from './activation.js';
import { lossGradRules } from './loss.js';
import { mathGradRules } from './math.js';
import { nnGradRules } from './nn.js';
import { registerGradRules } from './registry.js';
import { resizeGrad } from './resize.js';
import { tensorGradRules } from './tensor.js';

registerGradRules([...mathGradRules, ...activationGradRules, ...nnGradRules, ...tensorGradRules, resizeGrad, ...lossGradRules]);

export { getGradRule, gradOpTypes, registerGradRules } from './registry.js';
export type { GradContext, GradRule } from './types.js';
export { GradEmitter } from './emit.js';
