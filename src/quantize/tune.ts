/**
 * Accuracy-aware quantization: when quantizing everything drops accuracy by more than the target, keep
 * the most sensitive layers in float, as few as the target allows. The cost is a handful of evaluations
 * whatever the model's size:
 *
 * 1. one evaluation with every layer quantized (done when it already meets the target);
 * 2. the layers in graph order, from the input: the smallest k such that keeping the first k float meets
 *    the target, by doubling k (1, 2, 4, …), then bisecting between the last miss and the first hit.
 *    Rounding error made early travels through every later layer, and the early layers of a CNN (few
 *    channels, large maps) are where per-tensor activation grids fail; on PP-OCRv4 det the sensitivity
 *    order below needed 147–155 of 193 layers float where the first 20 met the target;
 * 3. per-layer sensitivity from one more pass of the float and the quantized model over the data
 *    (sensitivity.ts), instead of one evaluation per layer, and the same search in that order for fewer
 *    layers than step 2 kept: it finds an outlier layer deep in a network, which step 2 reaches only by
 *    keeping every layer before it float.
 *
 * Doubling costs about 2·log2(k) evaluations, fewer than a bisection over all layers when the answer is a
 * few layers, as it usually is; graph order goes first because it is the answer on the real CNNs measured
 * (docs/benchmarks.md) and bounds the sensitivity search.
 *
 * Without a time budget the search always ends (each order costs at most 2·⌈log2(layers)⌉ evaluations) and
 * its answer depends on the data only, not on the machine's speed; a budget (`--budget`) stops it early, the
 * best model found so far is returned, and the report says the budget ran out. The drop is in accuracy
 * points when the data has labels; without labels it is 100·(1 − cosine similarity) of the outputs, so the
 * same flag works for models that are not classifiers.
 */
import type { ModelProto } from '../ir/proto.js';
import { quantRule } from '../ops/index.js';
import { HoneError } from '../errors.js';
import type { NodeDecision, QuantizeResult } from './common.js';
import { compareOutputs, type Fidelity } from './evaluate.js';
import type { SampleData } from './data.js';
import { layerSensitivity } from './sensitivity.js';

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
  /** Noise-to-signal ratio each layer adds when everything is quantized, most sensitive first. */
  sensitivity: { node: string; score: number }[];
  /** How the layers kept float were chosen: the first ones in graph order, or the most sensitive. */
  order?: 'from the input' | 'by sensitivity';
  /** Where the drop was measured (the search selects on this data). */
  data: string;
  /** Quantize-and-evaluate rounds spent (the sensitivity pass is not one). */
  trials: number;
  /** True for static mode's default accuracy guard (no --max-accuracy-drop given). */
  guard?: boolean;
  /** The guard, with evaluation data other than the calibration data it chose on: output cosine there, every layer quantized and as returned. */
  heldOut?: { source: string; cosineBefore: number; cosineAfter: number };
  /** What the numbers do not show (the guard chose on the data its fidelity is reported on). */
  caveat?: string;
  /** True when the time budget ended the search. */
  budgetExhausted: boolean;
  reason?: string;
}

export interface TuneOptions {
  baseExclude?: string[];
  onProgress?: (msg: string) => void;
  /**
   * Stop searching after this many seconds and return the best model found (the search then depends on the
   * machine's speed; without one it always ends, after at most 1 + 4·⌈log2(layers)⌉ evaluations).
   */
  budgetSeconds?: number;
  /** Clock in ms, for tests (default performance.now). */
  now?: () => number;
}

/** The layers the search may keep float: quantized compute ops with names (exclusion works by name), in graph order. */
export function tunableLayers(nodes: readonly NodeDecision[]): string[] {
  return nodes.filter((d) => d.quantized && quantRule(undefined, d.opType)?.kind === 'compute' && !d.node.includes('(')).map((d) => d.node);
}

export async function tuneForAccuracy(
  float: ModelProto,
  quantize: (exclude: string[]) => Promise<QuantizeResult>,
  data: SampleData,
  maxDrop: number,
  opts: TuneOptions = {},
): Promise<{ result: QuantizeResult; fidelity: Fidelity; tuning: AccuracyTuning; initial: QuantizeResult }> {
  const base = opts.baseExclude ?? [];
  const progress = opts.onProgress ?? (() => {});
  const now = opts.now ?? (() => performance.now());
  const started = now();
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
  progress('evaluating with every layer quantized');
  const first = await evaluate(base);
  const budget = opts.budgetSeconds;
  const deadline = budget === undefined ? Infinity : started + budget * 1000;
  progress(`drop ${first.drop.toFixed(3)} (${metric}), target ${maxDrop}`);
  const tuning: AccuracyTuning = {
    target: maxDrop,
    metric,
    met: first.drop <= maxDrop,
    drop: first.drop,
    initialDrop: first.drop,
    keptFloat: [],
    sensitivity: [],
    data: data.source,
    trials,
    budgetExhausted: false,
  };
  if (tuning.met) return { result: first.result, fidelity: first.fidelity, tuning: { ...tuning, metric, trials }, initial: first.result };

  const layers = tunableLayers(first.result.report.nodes);
  let best = first;
  let bestKept: string[] = [];
  const outOfTime = () => now() >= deadline;
  let unfinished = false;
  const tryKeeping = async (order: Order, k: number) => {
    progress(
      order.name === 'from the input'
        ? `keeping the first ${k} layer(s) of ${layers.length} in float`
        : `keeping the ${k} most sensitive layer(s) of ${layers.length} in float`,
    );
    const r = await tryEvaluate(evaluate, [...base, ...order.layers.slice(0, k)]);
    if (r) {
      progress(`  drop ${r.drop.toFixed(3)}`);
      const better = r.drop <= maxDrop ? best.drop > maxDrop || k < bestKept.length : r.drop < best.drop;
      if (better) {
        best = r;
        bestKept = order.layers.slice(0, k);
        tuning.order = order.name;
      }
    }
    return r !== undefined && r.drop <= maxDrop;
  };
  /** The smallest k below `limit` whose first k layers of `order`, kept float, meet the target: doubling k, then bisection. */
  const search = async (order: Order, limit: number) => {
    let lo = 0; // known to miss the target
    let hi: number | undefined; // known to meet it
    for (let k = 1; k < limit; k = Math.min(2 * k, limit - 1)) {
      if (outOfTime()) {
        unfinished = true;
        return;
      }
      if (await tryKeeping(order, k)) {
        hi = k;
        break;
      }
      lo = k;
      if (k === limit - 1) break;
    }
    while (hi !== undefined && hi - lo > 1) {
      if (outOfTime()) {
        unfinished = true;
        return;
      }
      const mid = Math.floor((lo + hi) / 2);
      if (await tryKeeping(order, mid)) hi = mid;
      else lo = mid;
    }
  };
  // Everything in float is not a quantized model: at most all layers but one.
  if (layers.length > 1) await search({ name: 'from the input', layers }, layers.length);
  const fewer = best.drop <= maxDrop ? bestKept.length : layers.length;
  if (fewer > 1 && outOfTime()) unfinished = true;
  else if (fewer > 1) {
    progress(`measuring the sensitivity of ${layers.length} layers (one pass of the float and the quantized model)`);
    tuning.sensitivity = (await layerSensitivity(first.result.prepared ?? float, first.result.model, layers, data)).sort(
      (a, b) => b.score - a.score,
    );
    await search({ name: 'by sensitivity', layers: tuning.sensitivity.map((x) => x.node) }, fewer);
  }
  tuning.budgetExhausted = unfinished;
  const scores = new Map(tuning.sensitivity.map((s) => [s.node, s.score]));
  for (const d of best.result.report.nodes) {
    if (!bestKept.includes(d.node)) continue;
    d.detail =
      tuning.order === 'by sensitivity'
        ? `kept float: accuracy-sensitive (adds ${(scores.get(d.node) ?? 0).toExponential(2)} relative error quantized)`
        : `kept float: accuracy-sensitive (one of the first ${bestKept.length} layers from the input)`;
  }
  const met = best.drop <= maxDrop;
  const seconds = Math.round((budget ?? 0) * 10) / 10;
  const spent = tuning.budgetExhausted ? `the time budget of ${seconds} s ran out; ` : '';
  if (tuning.budgetExhausted) progress(`time budget of ${seconds} s spent: writing the best model found`);
  return {
    result: best.result,
    fidelity: best.fidelity,
    initial: first.result,
    tuning: {
      ...tuning,
      metric,
      met,
      drop: best.drop,
      keptFloat: bestKept,
      trials,
      reason:
        met && !tuning.budgetExhausted
          ? undefined
          : met
            ? `${spent}best found: drop ${best.drop.toFixed(3)} with ${bestKept.length} layer(s) kept in float (fewer may also meet the target)`
            : `${spent}no set of float layers tried reached a drop of ${maxDrop} (${metric}); best: ${best.drop.toFixed(3)} with ${bestKept.length} layer(s) kept in float`,
    },
  };
}

interface Order {
  name: NonNullable<AccuracyTuning['order']>;
  layers: string[];
}

async function tryEvaluate<T>(evaluate: (exclude: string[]) => Promise<T>, exclude: string[]): Promise<T | undefined> {
  try {
    return await evaluate(exclude);
  } catch (e) {
    if (e instanceof HoneError && /nothing to quantize/.test(e.message)) return undefined;
    throw e;
  }
}
