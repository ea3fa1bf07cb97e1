/**
 * Post-training quantization: Model -> Model passes, each returning the new model and a report of
 * which nodes changed and why others did not.
 *
 *   quantizeDynamic(model, opts)        int8 weights, activations quantized at run time (MatMul/Gemm)
 *   quantizeStatic(model, calib, opts)  int8 weights and activations from calibration (QDQ or QOperator),
 *                                       after BN/affine folding, cross-layer equalization; bias correction
 *   convertFp16(model, opts)            float16 weights and compute, sensitive ops kept float32
 *   quantizeInt4(model, opts)           4-bit block-wise weight-only MatMul (MatMulNBits)
 *   quantizeModel(job)                  all of the above plus data, accuracy targets and measurement (the CLI)
 */
export { quantizeDynamic, type DynamicOptions } from './dynamic.js';
export { quantizeStatic, calibrateStatic, STATIC_DEFAULTS, type StaticOptions, type Calibration } from './static.js';
export { equalizeLayers, type EqualizeResult, type EqualizeOptions } from './equalize.js';
export { mseRange, rangeError, binList, type BinList } from './ranges.js';
export { layerSensitivity, type LayerSensitivity } from './sensitivity.js';
export { convertFp16, FP16_BLOCK_LIST, FP16_OVERFLOW_LIMIT, type ActivationRanges, type Fp16Options } from './fp16.js';
export { measureActivationRanges } from './fp16-ranges.js';
export { quantizeInt4, packInt4, unpackInt4, type Int4Options, type PackedInt4 } from './int4.js';
export { collectStats, Histogram, TensorStats, entropyThreshold, type CalibMethod, type CalibOptions, type Range } from './calibrate.js';
export { loadSampleData, matchInputs, batches, type SampleData, type Batch } from './data.js';
export { compareOutputs, compareLatency, type Fidelity, type LatencyComparison, type LatencyOptions } from './evaluate.js';
export { tuneForAccuracy, type AccuracyTuning, type TuneOptions } from './tune.js';
export { quantizeModel, syntheticData, type QuantizeJob, type QuantizeSummary } from './pipeline.js';
export { quantizedAlready } from './common.js';
export type { QuantizeResult, QuantizeReport, NodeDecision, NodeSelection, QuantMode } from './common.js';
