/**
 * Accuracy-aware quantization: when quantizing everything drops accuracy by more than the target, keep
 * the most sensitive layers in float, as few as the target allows. The cost is a handful of full
 * evaluations whatever the model's size:
 *
 * 1. one evaluation with every layer quantized (done when it already meets the target);
 * 2. per-layer sensitivity from one more pass of the float and the quantized model over the data
 *    (sensitivity.ts), instead of one evaluation per layer;
 * 3. a bisection over k, the number of most-sensitive layers kept in float: the largest k is tried
 *    first (is the target reachable at all?), then about log2(layers) evaluations find the smallest k
 *    that meets it.
 *
 * A time budget stops the search early; the best model found so far is returned, and the report says
 * the budget ran out. The drop is in accuracy points when the data has labels; without labels it is
 * 100·(1 − cosine similarity) of the outputs, so the same flag works for models that are not classifiers.
 */
import type { ModelProto } from '../ir/proto.js';
import { quantRule } from '../ops/quant-rules.js';
import { HoneError } from '../errors.js';
import type { QuantizeResult } from './common.js';
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
  /** Full quantize-and-evaluate rounds spent (the sensitivity pass is not one). */
  trials: number;
  /** True when the time budget ended the search. */
  budgetExhausted: boolean;
  reason?: string;
}

export interface TuneOptions {
  baseExclude?: string[];
  onProgress?: (msg: string) => void;
  /** Stop searching after this many seconds and return the best model found. */
  budgetSeconds?: number;
  /** Clock in ms, for tests (default performance.now). */
  now?: () => number;
}

export async function tuneForAccuracy(
  float: ModelProto,
  quantize: (exclude: string[]) => Promise<QuantizeResult>,
  data: SampleData,
  maxDrop: number,
  opts: TuneOptions = {},
): Promise<{ result: QuantizeResult; fidelity: Fidelity; tuning: AccuracyTuning }> {
  const base = opts.baseExclude ?? [];
  const progress = opts.onProgress ?? (() => {});
  const now = opts.now ?? (() => performance.now());
  const deadline = opts.budgetSeconds === undefined ? Infinity : now() + opts.budgetSeconds * 1000;
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
  progress(`drop ${first.drop.toFixed(3)} (${metric}), target ${maxDrop}`);
  const tuning: AccuracyTuning = { target: maxDrop, metric, met: first.drop <= maxDrop, drop: first.drop, initialDrop: first.drop, keptFloat: [], sensitivity: [], trials, budgetExhausted: false };
  if (tuning.met) return { result: first.result, fidelity: first.fidelity, tuning: { ...tuning, metric, trials } };

  // Layers: quantized compute ops with names (exclusion works by name).
  const layers = first.result.report.nodes
    .filter((d) => d.quantized && quantRule(undefined, d.opType)?.kind === 'compute' && !d.node.includes('('))
    .map((d) => d.node);
  let best = first;
  let bestKept: string[] = [];
  const outOfTime = () => now() >= deadline;
  if (layers.length > 1 && !outOfTime()) {
    progress(`measuring the sensitivity of ${layers.length} layers (one pass of the float and the quantized model)`);
    tuning.sensitivity = (await layerSensitivity(first.result.prepared ?? float, first.result.model, layers, data)).sort((a, b) => b.score - a.score);
    const order = tuning.sensitivity.map((s) => s.node);
    const tryKeeping = async (k: number) => {
      progress(`keeping the ${k} most sensitive layer(s) of ${layers.length} in float`);
      const r = await tryEvaluate(evaluate, [...base, ...order.slice(0, k)]);
      if (r) {
        progress(`  drop ${r.drop.toFixed(3)}`);
        const better = r.drop <= maxDrop ? best.drop > maxDrop || k < bestKept.length : r.drop < best.drop;
        if (better) { best = r; bestKept = order.slice(0, k); }
      }
      return r !== undefined && r.drop <= maxDrop;
    };
    // Everything in float is not a quantized model: at most all layers but one.
    let hi = layers.length - 1;
    let lo = 0; // known to miss the target
    if (!outOfTime() && (await tryKeeping(hi))) {
      while (hi - lo > 1 && !outOfTime()) {
        const mid = Math.floor((lo + hi) / 2);
        if (await tryKeeping(mid)) hi = mid;
        else lo = mid;
      }
    }
    tuning.budgetExhausted = outOfTime() && hi - lo > 1;
  } else {
    tuning.budgetExhausted = outOfTime();
  }
  const scores = new Map(tuning.sensitivity.map((s) => [s.node, s.score]));
  for (const d of best.result.report.nodes) {
    if (bestKept.includes(d.node)) d.detail = `kept float: accuracy-sensitive (adds ${(scores.get(d.node) ?? 0).toExponential(2)} relative error quantized)`;
  }
  const met = best.drop <= maxDrop;
  const budget = tuning.budgetExhausted ? `the time budget of ${opts.budgetSeconds} s ran out; ` : '';
  if (tuning.budgetExhausted) progress(`time budget of ${opts.budgetSeconds} s spent: writing the best model found`);
  return {
    result: best.result,
    fidelity: best.fidelity,
    tuning: {
      ...tuning, metric, met, drop: best.drop, keptFloat: bestKept, trials,
      reason: met && !tuning.budgetExhausted ? undefined
        : met ? `${budget}best found: drop ${best.drop.toFixed(3)} with ${bestKept.length} layer(s) kept in float (fewer may also meet the target)`
        : `${budget}no set of float layers tried reached a drop of ${maxDrop} (${metric}); best: ${best.drop.toFixed(3)} with ${bestKept.length} layer(s) kept in float`,
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
