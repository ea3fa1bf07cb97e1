/** Knowledge distillation: a student trained on a teacher's softened outputs and the true labels. */
export { distill, type DistillOptions, type DistillReport } from './distill.js';
export { FEATURE_LOSS, parseFeaturePairs, withFeatureLoss, withoutFeatureLoss, type FeaturePair } from './features.js';
