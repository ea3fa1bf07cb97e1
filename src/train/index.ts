/** Training: differentiate an ONNX model, run the steps on ONNX Runtime, update in JS. */
import '../ops/index.js';

export { buildTrainingGraph, differentiate, type TrainingGraph, type TrainingGraphOptions, type TrainableParam } from './autodiff.js';
export { appendLoss, LOSS_KINDS, type LossSpec } from './losses.js';
export { createOptimizer, clipGradNorm, OPTIMIZER_KINDS, type Optimizer, type OptimizerSpec, type OptimizerState } from './optimizers.js';
export { createSchedule, SCHEDULE_KINDS, type Schedule, type ScheduleSpec } from './schedules.js';
export {
  train,
  exportTrained,
  dataShare,
  inputBoundAdvice,
  INPUT_BOUND_SHARE,
  type TrainOptions,
  type TrainResult,
  type EpochRecord,
  type Progress,
  type StepTiming,
} from './trainer.js';
export type { TrainCallback, TrainingRun, BatchInfo, StepInfo } from './callbacks.js';
export type { Evaluation } from './evaluate.js';
export {
  profileTrainingStep,
  type TrainProfile,
  type TrainProfileOptions,
  type TrainProfileResult,
  type KernelRow,
} from './profile-step.js';
export { lrFind, LR_FIND_DEFAULTS, type LrFindOptions, type LrFindResult } from './lr-find.js';
export { saveCheckpoint, loadCheckpoint, checkpointPath, type Checkpoint } from './checkpoint.js';
export { checkBatchSplit } from './setup.js';
export { staticTypes } from './shapes.js';
