/** The profiler: static cost, runtime measurement and the bottleneck verdict (see profile.ts). */
export { profileModel, type ProfileOptions } from './profile.js';
export type { ProfileReport, OpTypeRow, NodeRow, BatchRow, MachineInfo } from './types.js';
export {
  diagnose,
  advise,
  ADVICE,
  OVERHEAD_FACTOR,
  MIN_KERNEL_FRACTION,
  type Bottleneck,
  type BottleneckKind,
  type BottleneckFacts,
  type Advice,
} from './bottleneck.js';
export { staticCost, weightStats, type StaticCost } from './static.js';
export { batchPlan, atBatch, type BatchPlan, type UserFixes } from './batch.js';
