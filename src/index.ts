/** Hone's library API: everything the CLI does is a typed function exported here. */
export { HoneError, badInput } from './errors.js';

// IR
export type * from './ir/proto.js';
export { decodeModel, encodeModel, decodeTensor, encodeTensor, encodeMessageChunks, DecodeError } from './ir/codec.js';
export { loadModel, saveModel, parseModel, loadExternalData, type LoadOptions, type SaveOptions } from './ir/model.js';
export { Graph, topoOrder, usedValues, capturedValues } from './ir/graph.js';
export { foldConstants, type FoldResult } from './passes/fold.js';
export { forEachGraph, forEachTensor } from './ir/walk.js';
export { DataType, dtypeInfo, dtypeName, byteSize } from './ir/dtype.js';
export {
  tensorArray,
  tensorBytes,
  tensorNumbers,
  makeTensor,
  floatTensor,
  int64Tensor,
  numElements,
  type TypedArray,
} from './ir/tensor.js';
export { GraphBuilder, makeNode, makeAttribute, makeModel, valueInfo, tensorType, type Dim, type AttrValue } from './ir/builder.js';

// Per-op knowledge
export type { OpRule, OpContext, ValueType, Cost } from './ops/types.js';
export { getOpRule, registerOps, knownOpTypes } from './ops/registry.js';
export { inferShapes, nodeCosts, createOpContext, ShapeError, type ShapeOptions, type ShapeInference, type NodeCost } from './ops/infer.js';

// Runtime, profiling, reports
export * from './runtime/index.js';
export * from './profile/index.js';
export { profileText, profileHtml } from './report/index.js';

// Model zoo
export * from './zoo/index.js';

// Tuning
export * from './tune/index.js';
export * from './tune/storage/index.js';
export * from './cli/tune/index.js';

// Compression
export * from './quantize/index.js';
export { quantizeText, quantizeHtml } from './report/index.js';
export { optimizeHtml } from './report/optimize-html.js';
export { studyHtml } from './report/study-html.js';

// Training and data
export * from './train/index.js';
export { lrFindHtml, type LrFindReport, type LrFindRun } from './report/lr-find-html.js';
export * from './data/index.js';

// Passes and `hone optimize`
export type { Pass, PassResult, PassReport, PassContext, ModelFacts, PassOptions, PassNeed } from './passes/pass.js';
export { PASSES, passById, modelFacts } from './passes/registry.js';
export { runPipeline } from './passes/pipeline.js';
export * from './prune/index.js';
export * from './distill/index.js';
export * from './qat/index.js';
export { withSparseInitializers, densifySparseInitializers } from './ir/sparse.js';
export {
  optimizeModel,
  checkOutDir,
  writeOptimizeOutput,
  type OptimizeJob,
  type OptimizeGoal,
  type OptimizeReport,
  type OptimizeResult,
  type Candidate,
} from './optimize/index.js';
export { optimizeText } from './report/optimize-text.js';
