/** `hone optimize` as a library: the search (optimize.ts), what it tries (candidates.ts), OUT_DIR (output.ts). */
export {
  optimizeModel,
  threadCounts,
  sessionOptionsFor,
  webSessionOptionsFor,
  settingsText,
  DEFAULT_BUDGET,
  DEFAULT_MAX_DROP,
  MIN_GAIN,
} from './optimize.js';
export { planPipelines, type Plan, type PassDecision } from './candidates.js';
export { STUDY_FILE, pipelineKey, suggestChoice, type SearchSpace, type SearchChoice } from './search.js';
export { checkOutDir, writeOptimizeOutput, isOptimizeOutput, OUTPUT_FILES } from './output.js';
export type {
  OptimizeJob,
  OptimizeGoal,
  OptimizeTarget,
  OptimizeReport,
  OptimizeResult,
  Candidate,
  CandidateStep,
  Fidelity,
  RuntimeSettings,
  BaselineRecord,
  ChosenModel,
} from './types.js';
export { MISSED_GOAL_FILE } from './types.js';
export {
  perOpComparison,
  PER_OP_TOP_NODES,
  type PerOpComparison,
  type PerOpRow,
  type PerOpSide,
  type PerOpTime,
  type PerOpNode,
} from './per-op.js';
