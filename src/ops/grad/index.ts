/** The gradient rules' interface and emitter. The rules themselves are reached through the op registry (`gradRule`). */
export type { BatchStatistics, GradContext, GradRule } from './types.js';
export { GradEmitter } from './emit.js';
