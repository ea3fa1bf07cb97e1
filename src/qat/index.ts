/** Quantization-aware training: static int8, fine-tuned through fake quantization, written back as QDQ. */
export { quantizeAwareTraining, type QatOptions, type QatReport } from './qat.js';
export { adaroundPass, qatPass, QAT_PASSES } from './passes.js';
export {
  adaround,
  heldOutSamples,
  adaroundRefinement,
  adaroundSettings,
  adaroundSummary,
  ADAROUND_DEFAULTS,
  type AdaroundOptions,
  type AdaroundReport,
  type AdaroundLayer,
} from './adaround.js';
