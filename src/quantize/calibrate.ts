/**
 * Calibration: the ranges of a model's intermediate tensors over sample data, without holding the
 * activations in memory. The model is augmented to output the tensors of interest, run batch by batch,
 * and each batch folds into running statistics per tensor: min/max, and for percentile/entropy a
 * histogram whose range doubles as values grow (so merging is exact: two bins become one).
 *
 * Methods: 'minmax' (the observed range), 'percentile' (clip the tails: symmetric ranges clip |x| at the
 * percentile; asymmetric ones clip each tail at 100 - p), 'entropy' (TensorRT's KL-divergence threshold
 * over the |x| histogram, searched over quantizations with the tensor's number of levels), 'mse' (the range
 * with the least expected squared quantization error on the histogram, see ranges.ts), 'auto' (per tensor,
 * whichever of the others' ranges has the least such error).
 */
import type { ModelProto } from '../ir/proto.js';
import { withFloatOutputs } from '../ir/builder.js';
import { createSession, ortRunError } from '../runtime/session.js';
import { batches, type SampleData } from './data.js';
import { binList, mseRange, rangeError } from './ranges.js';

export type CalibMethod = 'minmax' | 'percentile' | 'entropy' | 'mse' | 'auto';

/** The methods 'auto' chooses among, per tensor. */
export const AUTO_CANDIDATES = ['minmax', 'percentile', 'entropy', 'mse'] as const;

export interface CalibOptions {
  method?: CalibMethod;
  /** Percentile kept by 'percentile' (default 99.99). */
  percentile?: number;
  /** Symmetric ranges ([-t, t]) for percentile/entropy thresholds (default false). */
  symmetric?: boolean;
  /** Histogram bins over the signed range (default 4096: 2048 over |x|, TensorRT's resolution). */
  bins?: number;
  batchSize?: number;
}

export interface Range {
  min: number;
  max: number;
  /** The method whose range this is, when 'auto' chose it. */
  picked?: (typeof AUTO_CANDIDATES)[number];
}

/** A histogram over [-R, R] that widens by doubling R, merging bin pairs exactly. */
export class Histogram {
  readonly counts: Float64Array;
  /** Half-width of the range; 0 until the first non-zero value. */
  range = 0;
  total = 0;

  constructor(readonly bins = 4096) {
    if (bins % 4 !== 0) throw new Error('histogram bins must be a multiple of 4');
    this.counts = new Float64Array(bins);
  }

  add(data: ArrayLike<number>): void {
    let absmax = 0;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]!);
      if (a > absmax && Number.isFinite(a)) absmax = a;
    }
    if (this.range === 0) this.range = absmax;
    while (absmax > this.range) this.double();
    const B = this.bins;
    const c = this.counts;
    const k = this.range > 0 ? B / (2 * this.range) : 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isFinite(v)) continue;
      let b = Math.floor((v + this.range) * k);
      if (b >= B) b = B - 1;
      else if (b < 0) b = 0;
      c[b]!++;
    }
    this.total += data.length;
  }

  /** Widens to [-2R, 2R]: old bin i lands in new bin B/4 + floor(i/2). */
  private double(): void {
    const B = this.bins;
    const old = this.counts.slice();
    this.counts.fill(0);
    for (let i = 0; i < B; i++) this.counts[B / 4 + (i >> 1)]! += old[i]!;
    this.range *= 2;
  }

  binWidth(): number {
    return (2 * this.range) / this.bins;
  }

  /** The q-quantile (0..1) of the values seen, interpolated linearly inside a bin. */
  quantile(q: number): number {
    if (this.total === 0 || this.range === 0) return 0;
    const target = q * this.total;
    let cum = 0;
    const w = this.binWidth();
    for (let i = 0; i < this.bins; i++) {
      const c = this.counts[i]!;
      if (c > 0 && cum + c >= target) return -this.range + (i + (target - cum) / c) * w;
      cum += c;
    }
    return this.range;
  }

  /** The histogram of |x|: bins/2 bins over [0, R] (bin j pairs signed bins B/2+j and B/2-1-j). */
  abs(): Float64Array {
    const half = this.bins / 2;
    const out = new Float64Array(half);
    for (let j = 0; j < half; j++) out[j] = this.counts[half + j]! + this.counts[half - 1 - j]!;
    return out;
  }

  /** The |x| quantile (0..1), interpolated inside a bin. */
  absQuantile(q: number): number {
    const h = this.abs();
    const target = q * this.total;
    const w = this.binWidth();
    let cum = 0;
    for (let j = 0; j < h.length; j++) {
      const c = h[j]!;
      if (c > 0 && cum + c >= target) return (j + (target - cum) / c) * w;
      cum += c;
    }
    return this.range;
  }
}

/** Running statistics of one tensor. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  /** Exact zeros seen (ReLU outputs are half zeros; every range here represents 0 exactly). */
  zeros = 0;
  readonly hist?: Histogram;

  constructor(withHistogram: boolean, bins?: number) {
    if (withHistogram) this.hist = new Histogram(bins);
  }

  add(data: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    let zeros = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v === 0) zeros++;
    }
    this.min = lo;
    this.max = hi;
    this.zeros += zeros;
    this.hist?.add(data);
  }

  /** The calibrated range under `opts`. */
  range(opts: CalibOptions = {}): Range {
    const method = opts.method ?? 'minmax';
    if (!Number.isFinite(this.min)) return { min: 0, max: 0 };
    if (method === 'minmax' || !this.hist) return { min: this.min, max: this.max };
    if (method === 'mse' || method === 'auto') {
      const bins = binList(this.hist, this.zeros);
      const symmetric = opts.symmetric ?? false;
      const mse = mseRange(bins, this.min, this.max, symmetric);
      if (method === 'mse') return mse;
      // The grid search can miss a point another method lands on (it samples ratios); the exact error decides.
      let best: Range = { ...mse, picked: 'mse' };
      let bestErr = rangeError(bins, mse.min, mse.max, symmetric);
      for (const m of AUTO_CANDIDATES) {
        if (m === 'mse') continue;
        const r = this.range({ ...opts, method: m });
        const e = rangeError(bins, r.min, r.max, symmetric);
        if (e < bestErr) {
          bestErr = e;
          best = { ...r, picked: m };
        }
      }
      return best;
    }
    if (method === 'percentile') {
      const p = (opts.percentile ?? 99.99) / 100;
      if (opts.symmetric) {
        const t = this.hist.absQuantile(p);
        return { min: Math.max(this.min, -t), max: Math.min(this.max, t) };
      }
      return { min: Math.max(this.min, this.hist.quantile(1 - p)), max: Math.min(this.max, this.hist.quantile(p)) };
    }
    // The KL search models the grid the tensor will get: a one-sided tensor (after ReLU) has all 255
    // steps of an asymmetric 8-bit range on [0, t]; a two-sided one about 128 per side.
    // Exact zeros are left out of the KL: quantization keeps them exact, and a ReLU's spike at 0 would
    // otherwise pull the threshold down to resolve one bin.
    const abs = this.hist.abs();
    abs[0] = Math.max(0, abs[0]! - this.zeros);
    const t = entropyThreshold(abs, this.hist.binWidth(), this.min >= 0 ? 255 : 128);
    return { min: Math.max(this.min, -t), max: Math.min(this.max, t) };
  }
}

/**
 * TensorRT's entropy calibration: for each candidate threshold i (in bins of |x|), the reference
 * distribution P is the histogram up to i with the clipped tail added to its last bin; Q quantizes those
 * i bins to `levels` levels and spreads each level evenly over its non-empty bins. The threshold with
 * the least KL(P‖Q) wins.
 */
export function entropyThreshold(hist: Float64Array, binWidth: number, levels = 128): number {
  const n = hist.length;
  let last = n;
  while (last > 0 && hist[last - 1] === 0) last--;
  if (last <= levels) return last * binWidth;
  let best = last;
  let bestKl = Infinity;
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  // Tail sums for every i, computed from the top down.
  const tails = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) tails[i] = tails[i + 1]! + hist[i]!;
  // Candidates every `stride` bins: at most ~512 of them, which keeps this O(512·n) per tensor.
  const stride = Math.max(1, Math.floor((last - levels) / 512));
  for (let i = levels; i <= last; i += stride) {
    for (let j = 0; j < i; j++) p[j] = hist[j]!;
    p[i - 1]! += tails[i]!;
    q.fill(0, 0, i);
    const per = i / levels;
    for (let l = 0; l < levels; l++) {
      const start = Math.floor(l * per);
      const end = l === levels - 1 ? i : Math.floor((l + 1) * per);
      let sum = 0;
      let nonzero = 0;
      for (let j = start; j < end; j++) {
        sum += hist[j]!;
        if (hist[j]! > 0) nonzero++;
      }
      if (nonzero === 0) continue;
      const v = sum / nonzero;
      for (let j = start; j < end; j++) if (hist[j]! > 0) q[j] = v;
    }
    let ps = 0;
    let qs = 0;
    for (let j = 0; j < i; j++) {
      ps += p[j]!;
      qs += q[j]!;
    }
    let kl = 0;
    for (let j = 0; j < i; j++) {
      const pj = p[j]! / ps;
      if (pj === 0) continue;
      const qj = q[j]! / qs;
      kl += qj > 0 ? pj * Math.log(pj / qj) : pj * 20; // an empty Q bin where P has mass: a large penalty
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return (best + 0.5) * binWidth;
}

/**
 * Runs `model` over `data` with `tensors` added as outputs, batch by batch, and returns the running
 * statistics of each (float tensors only). Only the current batch's activations are in memory.
 */
export async function collectStats(
  model: ModelProto,
  tensors: readonly string[],
  data: SampleData,
  opts: CalibOptions = {},
  onBatch?: (done: number, total: number) => void,
): Promise<Map<string, TensorStats>> {
  const augmented = withFloatOutputs(model, tensors);
  const withHist = (opts.method ?? 'minmax') !== 'minmax';
  const stats = new Map(tensors.map((t) => [t, new TensorStats(withHist, opts.bins)]));
  const session = await createSession(augmented, { graphOptimizationLevel: 'basic' });
  try {
    let done = 0;
    for (const batch of batches(data, model, opts.batchSize ?? 16)) {
      let out: Record<string, { data: unknown }>;
      try {
        out = await session.run(batch.feeds, [...tensors]);
      } catch (e) {
        throw ortRunError(e, `on calibration data from ${data.source}`);
      }
      for (const t of tensors) stats.get(t)!.add(out[t]!.data as Float32Array);
      done += batch.size;
      onBatch?.(done, data.size);
    }
  } finally {
    await session.release();
  }
  return stats;
}
