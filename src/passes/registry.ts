/**
 * Every pass Hone has, by id, and the facts passes decide on. `hone optimize` searches over `PASSES`;
 * profile advice and pipelines name passes by id (`passById`).
 */
import { badInput } from '../errors.js';
import type { ModelProto } from '../ir/proto.js';
import { quantizedAlready } from '../quantize/common.js';
import { convBatchNormPass } from './conv-fold.js';
import { foldConstantsPass } from './fold.js';
import { TRANSFORMER_FUSIONS } from './fuse-transformer.js';
import { inlineIfPass } from './inline-if.js';
import { ortOptimizePass } from './ort-optimize.js';
import type { ModelFacts, Pass } from './pass.js';
import { QUANTIZE_PASSES } from './quantize.js';
import { aiOnnxOpset, upgradeOpsetPass } from './upgrade.js';

/**
 * In the order a pipeline would usually apply them: exact graph rewrites first (they give the quantizers
 * initializers and Conv outputs to work on), then the quantizers, then ORT's own optimization, whose
 * fused ops the other passes do not know.
 */
export const PASSES: readonly Pass[] = [
  upgradeOpsetPass,
  inlineIfPass,
  foldConstantsPass,
  convBatchNormPass,
  // Transformer fusions after the exact graph rewrites and before the quantizers, which would otherwise
  // split their patterns (MultiHeadAttention leaves the Q/K/V MatMuls for the quantizer).
  ...TRANSFORMER_FUSIONS,
  ...QUANTIZE_PASSES,
  ortOptimizePass,
];

/** The pass with this id; a bad-input error listing the known ids otherwise. */
export function passById(id: string, passes: readonly Pass[] = PASSES): Pass {
  const pass = passes.find((p) => p.id === id);
  if (!pass) throw badInput(`unknown pass '${id}'; known passes: ${passes.map((p) => p.id).join(', ')}`);
  return pass;
}

/**
 * Facts every pass's `applies` may read, computed once per model: the ai.onnx opset, op counts of the
 * main graph (keyed by op type in the default domain, `domain.op` in others, so ORT's `com.microsoft.nchwc.Conv`
 * is not counted as a `Conv`), and whether the model holds quantized ops, low-bit or float16 weights.
 */
export function modelFacts(model: ModelProto): ModelFacts {
  const opTypes = new Map<string, number>();
  for (const n of model.graph?.node ?? []) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '');
    opTypes.set(key, (opTypes.get(key) ?? 0) + 1);
  }
  return { opset: aiOnnxOpset(model), opTypes, quantized: quantizedAlready(model, 'fp16') !== undefined };
}
