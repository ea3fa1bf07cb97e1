/**
 * Unstructured magnitude pruning: the smallest weights of Conv, Gemm and MatMul become zero, either the same
 * fraction of every layer or the smallest anywhere (global), with a 0/1 mask per tensor that fine-tuning
 * re-applies after each update. Sparse storage (sparse.ts) then makes the file smaller.
 */
import { badInput } from '../errors.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto, TensorProto } from '../ir/proto.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import { quantRule } from '../ops/index.js';

/**
 * The weights unstructured pruning considers: float32 initializers of rank ≥ 2 that a Conv, Gemm or MatMul
 * (any op whose quantization rule lists weight inputs) reads as its weight, in graph order, less `exclude`.
 */
export function prunableWeights(model: ModelProto, exclude: readonly string[] = []): string[] {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name!, t]));
  const graphInputs = new Set(g.input.map((v) => v.name!));
  const out = new Set<string>();
  for (const n of g.node) {
    for (const w of quantRule(n.domain, n.opType!)?.weights ?? []) {
      const name = n.input[w.input] ?? '';
      const t = inits.get(name);
      if (t && t.dataType === DataType.FLOAT && t.dims.length >= 2 && !graphInputs.has(name)) out.add(name);
    }
  }
  for (const e of exclude)
    if (!out.has(e))
      throw badInput(`--exclude ${e}: not a prunable weight; prunable: ${[...out].slice(0, 8).join(', ')}${out.size > 8 ? ', …' : ''}`);
  for (const e of exclude) out.delete(e);
  return [...out];
}

/**
 * Keep-masks (1 keeps, 0 prunes) that zero a fraction `sparsity` of the named weights: of each tensor
 * ('layer'), or the smallest magnitudes over all of them ('global'); a map gives each tensor its own fraction
 * (per-layer ratios from a sensitivity analysis). Weights already zero count among the pruned.
 */
export function weightMasks(
  model: ModelProto,
  names: readonly string[],
  sparsity: number | ReadonlyMap<string, number>,
  scope: 'layer' | 'global',
): Map<string, Uint8Array> {
  const inits = new Map(model.graph!.initializer.map((t) => [t.name!, t]));
  const values = names.map((n) => tensorArray(inits.get(n)!) as Float32Array);
  if (typeof sparsity !== 'number')
    return new Map(names.map((n, i) => [n, magnitudeMasks([values[i]!], sparsity.get(n) ?? 0, 'layer')[0]!]));
  const masks = magnitudeMasks(values, sparsity, scope);
  return new Map(names.map((n, i) => [n, masks[i]!]));
}

/** `weightMasks` over arrays (live parameters while fine-tuning). */
export function magnitudeMasks(values: readonly Float32Array[], sparsity: number, scope: 'layer' | 'global'): Uint8Array[] {
  if (scope === 'layer') return values.map((v) => smallestMask(v, Math.round(v.length * sparsity)));
  const total = values.reduce((s, v) => s + v.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const v of values) for (let i = 0; i < v.length; i++) all[o++] = Math.abs(v[i]!);
  const k = Math.round(total * sparsity);
  all.sort();
  const threshold = k > 0 ? all[k - 1]! : -1;
  // Below the threshold goes; at it, as many as the count still needs, in tensor order.
  let ties = k - lowerBound(all, threshold);
  return values.map((v) => {
    const m = new Uint8Array(v.length);
    for (let j = 0; j < v.length; j++) {
      const a = Math.abs(v[j]!);
      if (a < threshold) continue;
      if (a === threshold && ties > 0) {
        ties--;
        continue;
      }
      m[j] = 1;
    }
    return m;
  });
}

/** A mask keeping all but the `k` smallest magnitudes of `v`. */
function smallestMask(v: Float32Array, k: number): Uint8Array {
  const order = Array.from(v.keys()).sort((a, b) => Math.abs(v[a]!) - Math.abs(v[b]!) || a - b);
  const m = new Uint8Array(v.length).fill(1);
  for (let i = 0; i < k; i++) m[order[i]!] = 0;
  return m;
}

function lowerBound(sorted: Float32Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `model` with each masked initializer's pruned weights set to zero (a copy; the input is not changed). */
export function applyMasks(model: ModelProto, masks: ReadonlyMap<string, Uint8Array>): ModelProto {
  const g = model.graph!;
  const initializer = g.initializer.map((t): TensorProto => {
    const m = masks.get(t.name!);
    if (!m) return t;
    const v = (tensorArray(t) as Float32Array).slice();
    for (let i = 0; i < v.length; i++) if (!m[i]) v[i] = 0;
    return makeTensor(t.name!, t.dataType!, t.dims.map(Number), v);
  });
  return { ...model, graph: { ...g, initializer } };
}

/** Zeros the masked entries of live parameter arrays in place (after each optimizer update while fine-tuning). */
export function maskInPlace(values: Float32Array, mask: Uint8Array): void {
  for (let i = 0; i < values.length; i++) if (!mask[i]) values[i] = 0;
}

/** Fraction of zeros over the named tensors (all `prunableWeights` when names are not given). */
export function weightSparsity(model: ModelProto, names: readonly string[] = prunableWeights(model)): number {
  const inits = new Map(model.graph!.initializer.map((t) => [t.name!, t]));
  let zeros = 0;
  let total = 0;
  for (const n of names) {
    const v = tensorArray(inits.get(n)!) as Float32Array;
    total += v.length;
    for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
  }
  return total ? zeros / total : 0;
}

/**
 * The sparsity target of gradual pruning at step t (Zhu & Gupta 2017): s_t = s_f + (s_i − s_f)(1 − (t − t0)/(n·Δt))³,
 * rising from `initial` at `begin` to `final` at `end` and holding there.
 */
export function polynomialSparsity(step: number, o: { initial: number; final: number; begin: number; end: number }): number {
  if (step <= o.begin) return o.initial;
  if (step >= o.end) return o.final;
  const p = (step - o.begin) / (o.end - o.begin);
  return o.final + (o.initial - o.final) * (1 - p) ** 3;
}
