/** Quantization-aware training: static int8, fine-tuned through fake quantization, written back as QDQ. */
export { quantizeAwareTraining, type QatOptions, type QatReport } from './qat.js';
export { qatPass, QAT_PASSES } from './passes.js';
