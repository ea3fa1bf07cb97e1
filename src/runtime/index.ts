/** The runtime layer: ONNX Runtime sessions, providers, inputs and feeds, timing in workers, traces, machine peaks. */
export {
  createSession,
  sessionOptions,
  cleanOrtMessage,
  ortLoadError,
  ortRunError,
  isModelLoadError,
  modelLoadReason,
  withoutLoadFix,
  type SessionOpts,
  type GraphOptimizationLevel,
} from './session.js';
export { listProviders, checkProvider, type ProviderInfo } from './providers.js';
export {
  graphInputs,
  unnamedDim,
  resolveInputs,
  checkFixes,
  fixDims,
  valueShape,
  DEFAULT_BATCH_SIZES,
  batchDim,
  resolveBatchSizes,
  parseShapeFlags,
  parseDimFlags,
  randomFeeds,
  type InputInfo,
  type ConcreteInput,
  type DimFixes,
  type FixOptions,
  type BatchDim,
} from './inputs.js';
export { valueTensor, type InputValue } from './values.js';
export { loadForms, firstLoadable, loadableForm, type LoadForm } from './loadable.js';
export { measureInWorker, type MeasureOpts, type Measurement, type MemoryMeasurement } from './measure.js';
export { machinePeaks, peaksKey, type MachinePeaks, type PeaksOpts } from './peaks.js';
export { latencyStats, percentile, throughput, type LatencyStats } from './stats.js';
export { summarizeTrace, type TraceSummary, type OpTime, type NodeTime } from './trace.js';
export { NCHWC_DOMAIN, nchwcBlockSize } from './nchwc.js';
export { mulberry32 } from '../util/random.js';
