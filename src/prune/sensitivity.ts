/**
 * Sensitivity analysis (Han et al. 2015; Distiller's and NNI's per-layer ratios): prune one layer (channel
 * group, or weight tensor) alone at each ratio of a grid, measure the model on the evaluation data, and pick
 * per-layer ratios from the curves, greedily: the least sensitive layers go furthest.
 */
import type { ModelProto } from '../ir/proto.js';
import { compareOutputs } from '../quantize/evaluate.js';
import type { SampleData } from '../quantize/data.js';
import type { ChannelAnalysis, ChannelGroup } from './channels.js';
import { applyMasks, weightMasks } from './magnitude.js';
import { removeChannels, selectChannels } from './structured.js';

export const SENSITIVITY_RATIOS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export interface SensitivityPoint {
  ratio: number;
  /** Top-1 accuracy with labels; undefined without them. */
  accuracy?: number;
  /** Output cosine against the unpruned model. */
  cosine: number;
}

export interface SensitivityCurve {
  /** The layer: a weight initializer, or a channel group's producers. */
  name: string;
  /** Weights (unstructured) or channels (structured) the layer has: its share of the total. */
  size: number;
  points: SensitivityPoint[];
  /** The ratio chosen for it. */
  chosen: number;
}

/** What a point costs: the accuracy lost against the baseline with labels, else 1 − cosine. */
function loss(p: SensitivityPoint, baseline: number | undefined): number {
  return baseline !== undefined && p.accuracy !== undefined ? baseline - p.accuracy : 1 - p.cosine;
}

async function measure(reference: ModelProto, pruned: ModelProto, data: SampleData, ratio: number): Promise<SensitivityPoint> {
  const f = await compareOutputs(reference, pruned, data);
  return { ratio, cosine: f.cosine, ...(f.accuracy ? { accuracy: f.accuracy.quantized } : {}) };
}

/** Per-group curves for structured pruning; `importance` holds the prunable groups. */
export async function channelSensitivity(
  an: ChannelAnalysis,
  importance: ReadonlyMap<ChannelGroup, Float64Array>,
  data: SampleData,
  onProgress?: (message: string) => void,
): Promise<{ baseline?: number; curves: Map<ChannelGroup, SensitivityPoint[]> }> {
  const baseline = (await compareOutputs(an.model, an.model, data)).accuracy?.float;
  const curves = new Map<ChannelGroup, SensitivityPoint[]>();
  let k = 0;
  for (const [g, imp] of importance) {
    onProgress?.(`sensitivity: group ${++k} of ${importance.size} (${g.producers[0]}, ${g.size} channels)`);
    const points: SensitivityPoint[] = [];
    for (const ratio of SENSITIVITY_RATIOS) {
      const keep = selectChannels(new Map([[g, imp]]), { sparsity: ratio, scope: 'layer' });
      points.push(await measure(an.model, removeChannels(an, keep), data, ratio));
    }
    curves.set(g, points);
  }
  return { baseline, curves };
}

/** Per-tensor curves for unstructured pruning. */
export async function weightSensitivity(
  model: ModelProto,
  names: readonly string[],
  data: SampleData,
  onProgress?: (message: string) => void,
): Promise<{ baseline?: number; curves: Map<string, SensitivityPoint[]> }> {
  const baseline = (await compareOutputs(model, model, data)).accuracy?.float;
  const curves = new Map<string, SensitivityPoint[]>();
  let k = 0;
  for (const name of names) {
    onProgress?.(`sensitivity: weight ${++k} of ${names.length} (${name})`);
    const points: SensitivityPoint[] = [];
    for (const ratio of SENSITIVITY_RATIOS)
      points.push(await measure(model, applyMasks(model, weightMasks(model, [name], ratio, 'layer')), data, ratio));
    curves.set(name, points);
  }
  return { baseline, curves };
}

/**
 * Per-layer ratios removing at least `target` of all `sizes` together, greedily: every layer starts at 0 and,
 * step by step, the layer whose next grid point loses least (accuracy against the baseline, or cosine) moves
 * to it, until the layers together remove the target — so the most sensitive layers move last, and the total
 * overshoots by at most one layer's grid step. When even 90% everywhere is short of it, that is the answer.
 */
export function ratiosFromCurves<K>(
  curves: ReadonlyMap<K, SensitivityPoint[]>,
  sizes: ReadonlyMap<K, number>,
  target: number,
  baseline: number | undefined,
): Map<K, number> {
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const sorted = new Map([...curves].map(([k, points]) => [k, [...points].sort((a, b) => a.ratio - b.ratio)]));
  const at = new Map([...curves.keys()].map((k) => [k, -1]));
  const ratio = (k: K) => (at.get(k)! < 0 ? 0 : sorted.get(k)![at.get(k)!]!.ratio);
  let removed = 0;
  while (removed < target * total - 1e-9) {
    let best: K | undefined;
    let bestLoss = Infinity;
    for (const [k, points] of sorted) {
      const next = points[at.get(k)! + 1];
      if (!next) continue;
      const l = loss(next, baseline);
      if (l < bestLoss || (l === bestLoss && best !== undefined && sizes.get(k)! > sizes.get(best)!)) {
        best = k;
        bestLoss = l;
      }
    }
    if (best === undefined) break;
    const before = ratio(best);
    at.set(best, at.get(best)! + 1);
    removed += (ratio(best) - before) * sizes.get(best)!;
  }
  return new Map([...curves.keys()].map((k) => [k, ratio(k)]));
}

export function sensitivityReport<K>(
  curves: ReadonlyMap<K, SensitivityPoint[]>,
  sizes: ReadonlyMap<K, number>,
  chosen: ReadonlyMap<K, number>,
  name: (k: K) => string,
): SensitivityCurve[] {
  return [...curves].map(([k, points]) => ({ name: name(k), size: sizes.get(k)!, points, chosen: chosen.get(k) ?? 0 }));
}
