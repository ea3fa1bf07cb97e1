/** `hone optimize` as a library: the search (optimize.ts), what it tries (candidates.ts), OUT_DIR (output.ts). */
export { optimizeModel, threadCounts, sessionOptionsFor, settingsText, DEFAULT_BUDGET, DEFAULT_MAX_DROP, MIN_GAIN } from './optimize.js';
export { planPipelines, type Plan, type PassDecision } from './candidates.js';
export { checkOutDir, writeOptimizeOutput, isOptimizeOutput, OUTPUT_FILES } from './output.js';
export type {
  OptimizeJob,
  OptimizeGoal,
  OptimizeReport,
  OptimizeResult,
  Candidate,
  CandidateStep,
  Fidelity,
  RuntimeSettings,
  BaselineRecord,
} from './types.js';
