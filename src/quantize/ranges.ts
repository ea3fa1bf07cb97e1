/**
 * Clipping ranges chosen by the error they cause: the expected squared error of quantizing a tensor's
 * values (as its calibration histogram holds them) onto the 8-bit grid a range gives.
 *
 * The error is computed exactly for the histogram, not from a noise model: values are taken as spread
 * evenly inside each bin, and each bin's error is the integral of (x − Q(x))² over it, split into the
 * clipped parts (distance to the end of the grid) and the rounded part (a closed form per grid step).
 * Exact zeros (ReLU outputs, padding) cost nothing: every range here represents 0 exactly.
 *
 *   mseRange      grid search (coarse, then fine around the best) over clipping ranges
 *   rangeError    the error of one range, used by 'auto' to compare the other methods' ranges
 */
import type { Histogram } from './calibrate.js';

/** The grid a range maps to: integers a..b (a ≤ 0 ≤ b) times `scale`, as rangeParams builds it. */
interface Grid {
  scale: number;
  a: number;
  b: number;
}

/** Bins with values, as [left edge, width, count] triples; exact zeros removed from the bin holding 0. */
export interface BinList {
  left: Float64Array;
  width: number;
  count: Float64Array;
  total: number;
}

export function binList(h: Histogram, zeros: number): BinList {
  const w = h.binWidth();
  const left: number[] = [];
  const count: number[] = [];
  let total = 0;
  for (let i = 0; i < h.bins; i++) {
    // Values of exactly 0 land in bin bins/2 (its left edge is 0).
    const c = i === h.bins / 2 ? Math.max(0, h.counts[i]! - zeros) : h.counts[i]!;
    if (c <= 0) continue;
    left.push(-h.range + i * w);
    count.push(c);
    total += c;
  }
  return { left: Float64Array.from(left), width: w, count: Float64Array.from(count), total };
}

/**
 * Mean squared error of quantizing the histogram's values to the grid of [lo, hi] (asymmetric: 255
 * steps with 0 on the grid; symmetric: ±127 steps around 0).
 */
export function rangeError(bins: BinList, lo: number, hi: number, symmetric: boolean): number {
  return gridError(bins, grid(lo, hi, symmetric));
}

/** The range in [min, max] with the least quantization error on the histogram. */
export function mseRange(bins: BinList, min: number, max: number, symmetric: boolean): { min: number; max: number } {
  if (bins.total === 0 || min === max) return { min, max };
  const err = (lo: number, hi: number) => rangeError(bins, lo, hi, symmetric);
  if (symmetric || min >= 0 || max <= 0) {
    // One free end: scale the larger side, the other follows (symmetric) or stays at 0.
    const t = Math.max(Math.abs(min), Math.abs(max));
    const at = (r: number): [number, number] => (symmetric ? [-t * r, t * r] : min >= 0 ? [0, max * r] : [min * r, 0]);
    const r = search1d((r) => err(...at(r)));
    const [lo, hi] = at(r);
    return { min: Math.max(min, lo), max: Math.min(max, hi) };
  }
  // Two free ends: a coarse grid over both clipping ratios, then a finer one around the best pair.
  let best = { rl: 1, rh: 1, e: err(min, max) };
  const coarse = ratios(1, MIN_RATIO, 16);
  for (const rl of coarse) {
    for (const rh of coarse) {
      const e = err(min * rl, max * rh);
      if (e < best.e) best = { rl, rh, e };
    }
  }
  const step = (1 / MIN_RATIO) ** (1 / 15);
  const near = (r: number) => ratios(Math.min(1, r * step), r / step, 9);
  for (const rl of near(best.rl)) {
    for (const rh of near(best.rh)) {
      const e = err(min * rl, max * rh);
      if (e < best.e) best = { rl, rh, e };
    }
  }
  return { min: min * best.rl, max: max * best.rh };
}

/**
 * The smallest clipping ratio searched. At 1/64 of the extreme a range spans 32 of the histogram's 2048
 * bins per side, fewer than its 255 steps: below that the error depends on how values sit inside
 * bins, which the histogram does not know.
 */
const MIN_RATIO = 1 / 64;

/** `n` ratios from `hi` down to `lo`, evenly spaced in log scale. */
function ratios(hi: number, lo: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => hi * (lo / hi) ** (i / (n - 1)));
}

/** Minimizes f over ratios in [MIN_RATIO, 1]: 64 log-spaced candidates, then 17 between the best one's neighbours. */
function search1d(f: (r: number) => number): number {
  const coarse = ratios(1, MIN_RATIO, 64);
  let best = 1;
  let bestE = f(1);
  for (const r of coarse) {
    const e = f(r);
    if (e < bestE) {
      bestE = e;
      best = r;
    }
  }
  const step = (1 / MIN_RATIO) ** (1 / 63);
  for (const r of ratios(Math.min(1, best * step), best / step, 17)) {
    const e = f(r);
    if (e < bestE) {
      bestE = e;
      best = r;
    }
  }
  return best;
}

function grid(lo: number, hi: number, symmetric: boolean): Grid {
  const l = Math.min(lo, 0);
  const h = Math.max(hi, 0);
  if (symmetric) {
    const t = Math.max(-l, h);
    return { scale: t / 127 || 1, a: -127, b: 127 };
  }
  const scale = (h - l) / 255 || 1;
  const zp = Math.min(255, Math.max(0, Math.round(-l / scale)));
  return { scale, a: -zp, b: 255 - zp };
}

function gridError(bins: BinList, g: Grid): number {
  const { scale: s, a, b } = g;
  const lo = a * s;
  const hi = b * s;
  const w = bins.width;
  let sum = 0;
  for (let i = 0; i < bins.left.length; i++) {
    const x0 = bins.left[i]!;
    const x1 = x0 + w;
    let e = 0;
    if (x0 < lo) e += clipIntegral(x0, Math.min(x1, lo), lo);
    if (x1 > hi) e += clipIntegral(Math.max(x0, hi), x1, hi);
    const p = Math.max(x0, lo);
    const q = Math.min(x1, hi);
    if (q > p) e += s * s * s * (roundIntegral(q / s) - roundIntegral(p / s));
    sum += (bins.count[i]! * e) / w;
  }
  return sum / bins.total;
}

/** ∫ (x − c)² dx over [p, q]. */
function clipIntegral(p: number, q: number, c: number): number {
  return ((q - c) ** 3 - (p - c) ** 3) / 3;
}

/** An antiderivative of (u − round(u))²: 1/12 per whole step plus the cubic inside the current one. */
function roundIntegral(u: number): number {
  const v = u + 0.5;
  const k = Math.floor(v);
  const r = v - k - 0.5;
  return k / 12 + (r * r * r + 0.125) / 3;
}
