/**
 * Preparing a float graph for static quantization, all exact rewrites:
 * - BatchNormalization after a Conv is folded into the Conv's weight and bias, so the Conv's output is
 *   what gets quantized and ORT can fuse the unit (ORT folds BN itself only for float graphs; with Q/DQ
 *   around the Conv it no longer can).
 * - A per-channel or scalar affine by constants after a Conv (Mul/Div, then Add/Sub, as Paddle exports
 *   its learnable scale and shift) is folded likewise: left in the graph, each such op would be quantized
 *   on its own, one more rounding of the activation per op.
 *   Both folds live in passes/conv-fold.ts, which is also the `fuse.conv-bn` pass.
 * - Optionally, cross-layer equalization (equalize.ts), which needs the folds before it to see Conv → Conv.
 */
import type { ModelProto } from '../ir/proto.js';
import { foldAffine, foldBatchNorm } from '../passes/conv-fold.js';
import { constantWeights } from './common.js';
import { equalizeLayers } from './equalize.js';

/**
 * Every rewrite static quantization makes to the float graph before planning, in order, with a note for
 * each that changed something. Calibration and quantization both run it, so tensor names agree.
 */
export function prepareStatic(m: ModelProto, opts: { equalize: boolean }): string[] {
  const notes = constantWeights(m);
  const bn = foldBatchNorm(m);
  if (bn) notes.push(`folded ${bn} BatchNormalization node(s) into the Conv before them`);
  const affine = foldAffine(m);
  if (affine) notes.push(`folded ${affine} Mul/Div/Add/Sub by per-channel constants into the Conv before them`);
  if (opts.equalize) {
    const eq = equalizeLayers(m);
    if (eq.pairs) notes.push(`cross-layer equalization: ${eq.pairs} Conv pair(s) rescaled (${eq.sweeps} sweep(s))`);
  }
  return notes;
}
