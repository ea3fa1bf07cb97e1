/** Hone's tuner: define-by-run studies, samplers, pruners and storages (Optuna's model, in TypeScript). */
export { createStudy, loadStudy, Study, dominates, type CreateStudyOptions, type Objective, type OptimizeOptions } from './study.js';
export { Trial, TrialPruned } from './trial.js';
export { validateDistribution, validateSearchSpace, contains } from './distributions.js';
export type { Direction, Distribution, ParamValue, TrialState, FrozenTrial, StudySummary } from './types.js';
export type { Storage } from './storage/storage.js';
export { InMemoryStorage } from './storage/memory.js';
export type { Sampler, StudyView } from './samplers/base.js';
export { RandomSampler } from './samplers/random.js';
export { OPTUNA_TPE_OPTIONS, TPESampler, type TPEOptions } from './samplers/tpe.js';
export { NSGAIISampler, type NSGAIIOptions } from './samplers/nsga2.js';
export { GPSampler, type GPOptions } from './samplers/gp.js';
export { AUTO_SAMPLER_ATTR, AutoSampler, type AutoOptions } from './samplers/auto.js';
export { CmaEsSampler, type CmaEsOptions } from './samplers/cmaes.js';
export { QMCSampler, type QMCOptions } from './samplers/qmc.js';
export { GridSampler } from './samplers/grid.js';
export {
  warmStart,
  loadWarmStartSource,
  adaptParams,
  rankTrials,
  WarmStartSampler,
  type WarmStartSource,
  type WarmStartOptions,
  type WarmStartResult,
  type SourceTrials,
  type AdaptedParams,
  type PriorOptions,
} from './warm-start.js';
export { Rng } from './samplers/rng.js';
export type { Pruner } from './pruners/base.js';
export { NopPruner } from './pruners/base.js';
export { MedianPruner, PercentilePruner, type PercentilePrunerOptions } from './pruners/percentile.js';
export { SuccessiveHalvingPruner, type SuccessiveHalvingOptions } from './pruners/successive-halving.js';
export { HyperbandPruner, type HyperbandOptions } from './pruners/hyperband.js';
export {
  benchmarkFunctions,
  benchmarkObjective,
  getBenchmark,
  runBenchmark,
  branin,
  hartmann6,
  rosenbrock4,
  ackley5,
  levy5,
  zdt1,
  dtlz2,
  multiObjectiveBenchmarks,
  runMultiObjectiveBenchmark,
  type BenchmarkFunction,
  type MultiObjectiveBenchmark,
} from './benchmarks.js';
export { hypervolume, hypervolumeContributions } from './hypervolume.js';
export { studyReport, type StudyReport, type HistoryEntry } from './report.js';
