/** What `hone tune` and `hone study` do, as functions: config → study run → report. */
export {
  readTuneConfigFile,
  resolveTuneConfig,
  applyOverrides,
  parseSpace,
  paramEnvName,
  type TuneConfig,
  type TuneOverrides,
  type ObjectiveSpec,
} from './config.js';
export { runTune, type TuneRun } from './run.js';
export { runWorker, withTrialBudget, BudgetSpent, type WorkerOptions, type WorkerResult } from './worker.js';
export { makeSampler, makePruner, gridValues, GRID_POINTS } from './factory.js';
export { makeObjective, objectiveSpace, checkObjective } from './objective.js';
export {
  parseTrainObjective,
  defaultTrainSpace,
  trainSpace,
  trialModelPath,
  TRAIN_METRICS,
  TRAIN_PARAMS,
  type TrainObjectiveSpec,
  type TrainMetric,
} from './train-spec.js';
export { trainObjective, checkTrainObjective } from './train-objective.js';
export { writeBestModel, checkModelOutput, type WrittenModel } from './train-output.js';
export { commandObjective, type CommandSpec } from './command-objective.js';
export { formatReport } from './summary.js';
export { paramImportance, type ImportanceOptions } from '../../tune/importance.js';
