/**
 * Accuracy-aware quantization: when quantizing everything drops accuracy by more than the target,
 * measure each layer's sensitivity (quantize that layer alone, measure the drop), then keep the most
 * sensitive layers in float, one more at a time, until the drop is within the target. The best model
 * found is always returned, with the reason when the target was missed.
 *
 * The drop is in accuracy points when the data has labels; without labels it is 100·(1 − cosine
 * similarity) of the outputs, so the same flag works for models that are not classifiers.
 */
import type { ModelProto } from '../ir/proto.js';
import { quantRule } from '../ops/quant-rules.js';
import { HoneError } from '../errors.js';
import type { QuantizeResult } from './common.js';
import { compareOutputs, type Fidelity } from './evaluate.js';
import type { SampleData } from './data.js';

export interface AccuracyTuning {
  target: number;
  metric: 'accuracy points' | '100·(1 − cosine)';
  met: boolean;
  /** Drop of the model returned. */
  drop: number;
  /** Drop with every eligible layer quantized. */
  initialDrop: number;
  /** Layers kept in float, most sensitive first. */
  keptFloat: string[];
  /** Drop with only that layer quantized, most sensitive first. */
  sensitivity: { node: string; drop: number }[];
  /** Quantize-and-evaluate rounds spent. */
  trials: number;
  reason?: string;
}

export async function tuneForAccuracy(
  float: ModelProto,
  quantize: (exclude: string[]) => Promise<QuantizeResult>,
  data: SampleData,
  maxDrop: number,
  opts: { baseExclude?: string[]; onProgress?: (msg: string) => void } = {},
): Promise<{ result: QuantizeResult; fidelity: Fidelity; tuning: AccuracyTuning }> {
  const base = opts.baseExclude ?? [];
  let trials = 0;
  let metric: AccuracyTuning['metric'] = '100·(1 − cosine)';
  const evaluate = async (exclude: string[]) => {
    trials++;
    const result = await quantize(exclude);
    const fidelity = await compareOutputs(float, result.model, data);
    if (fidelity.accuracy) metric = 'accuracy points';
    const drop = fidelity.accuracy ? (fidelity.accuracy.float - fidelity.accuracy.quantized) * 100 : (1 - fidelity.cosine) * 100;
    return { result, fidelity, drop };
  };
  const first = await evaluate(base);
  const tuning: AccuracyTuning = { target: maxDrop, metric, met: first.drop <= maxDrop, drop: first.drop, initialDrop: first.drop, keptFloat: [], sensitivity: [], trials };
  if (tuning.met) return { result: first.result, fidelity: first.fidelity, tuning: { ...tuning, metric, trials } };

  // Layers: quantized compute ops with names (exclusion works by name).
  const layers = first.result.report.nodes
    .filter((d) => d.quantized && quantRule(undefined, d.opType)?.kind === 'compute' && !d.node.includes('('))
    .map((d) => d.node);
  for (const [i, layer] of layers.entries()) {
    opts.onProgress?.(`sensitivity ${i + 1}/${layers.length}: ${layer}`);
    const alone = await tryEvaluate(evaluate, [...base, ...layers.filter((l) => l !== layer)]);
    tuning.sensitivity.push({ node: layer, drop: alone?.drop ?? 0 });
  }
  tuning.sensitivity.sort((a, b) => b.drop - a.drop);

  let best = first;
  let bestKept: string[] = [];
  const kept: string[] = [];
  for (const { node } of tuning.sensitivity) {
    kept.push(node);
    if (kept.length === layers.length) break; // everything in float is not a quantized model
    opts.onProgress?.(`keeping ${kept.length} layer(s) in float`);
    const r = await tryEvaluate(evaluate, [...base, ...kept]);
    if (!r) continue;
    if (r.drop < best.drop) { best = r; bestKept = [...kept]; }
    if (r.drop <= maxDrop) break;
  }
  for (const d of best.result.report.nodes) {
    if (bestKept.includes(d.node)) {
      const s = tuning.sensitivity.find((x) => x.node === d.node)!;
      d.detail = `kept float: accuracy-sensitive (drop ${s.drop.toFixed(3)} quantized alone)`;
    }
  }
  const met = best.drop <= maxDrop;
  return {
    result: best.result,
    fidelity: best.fidelity,
    tuning: {
      ...tuning, metric, met, drop: best.drop, keptFloat: bestKept, trials,
      reason: met ? undefined : `no set of float layers reached a drop of ${maxDrop} (${metric}); best: ${best.drop.toFixed(3)} with ${bestKept.length} layer(s) kept in float`,
    },
  };
}

async function tryEvaluate<T>(evaluate: (exclude: string[]) => Promise<T>, exclude: string[]): Promise<T | undefined> {
  try {
    return await evaluate(exclude);
  } catch (e) {
    if (e instanceof HoneError && /nothing to quantize/.test(e.message)) return undefined;
    throw e;
  }
}
