/**
 * Latency statistics over timed runs, with their spread.
 *
 * A competing process (another build, a busy loop on one core) does not make a run faster; it stalls some
 * runs, or whole stretches of them. So the spread is reported robustly (median absolute deviation, and
 * how far p90 reaches above p50), and the figure a verdict rests on is `floor`: the runs are taken in
 * rounds and `floor` is the least of the rounds' medians, what the machine does in its quietest stretch.
 * A median of a round is not moved by a few stalled runs, and the least of several is not moved by a
 * stretch of them; a single minimum would be (one lucky run), so rounds of medians it is.
 */

export interface LatencyStats {
  /** Number of timed runs. */
  runs: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  /** Sample standard deviation (0 for one run). */
  std: number;
  /** Median absolute deviation from p50. */
  mad: number;
  /** Robust coefficient of variation: 1.4826·MAD / p50 (std / mean for normal noise; stalled runs barely move it). */
  cv: number;
  /** p90 / p50: how far the slow tail reaches. */
  tail: number;
  /** Rounds the runs were taken in (see measure-worker.ts). */
  rounds: number;
  /** The least of the rounds' medians (p50 with one round): the latency the verdict uses. */
  floor: number;
}

/**
 * Above either limit the runs are too noisy to rest a verdict on one round: the profiler measures more
 * rounds, and the verdict checks that it holds across them. A robust CV of 10% puts the median of 20 runs
 * within ~3% (1.25·cv/√n), far inside the factor-sized margins the verdict compares (10x the roofline, half
 * the time in kernels); a p90 1.5x the median means a quarter or more of the runs were stalled, which a
 * quiet machine does not do (p90/p50 is 1.05–1.2 here when idle).
 */
export const NOISY_CV = 0.1;
export const NOISY_TAIL = 1.5;

/**
 * Statistics of `samples` (any unit; Hone uses milliseconds). Percentiles interpolate linearly between
 * ranks. `roundMedians`, when the runs were taken in rounds, gives `floor` and `rounds`.
 */
export function latencyStats(samples: readonly number[], roundMedians: readonly number[] = []): LatencyStats {
  if (samples.length === 0) throw new Error('latencyStats needs at least one sample');
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const p50 = percentile(s, 0.5);
  const mad = percentile(
    s.map((x) => Math.abs(x - p50)).sort((a, b) => a - b),
    0.5,
  );
  const p90 = percentile(s, 0.9);
  return {
    runs: n,
    mean,
    min: s[0]!,
    max: s[n - 1]!,
    p50,
    p90,
    p99: percentile(s, 0.99),
    std: Math.sqrt(variance),
    mad,
    cv: p50 > 0 ? (1.4826 * mad) / p50 : 0,
    tail: p50 > 0 ? p90 / p50 : 1,
    rounds: Math.max(1, roundMedians.length),
    floor: roundMedians.length ? Math.min(...roundMedians) : p50,
  };
}

/** True when the runs are too noisy for one round to decide (see NOISY_CV, NOISY_TAIL). */
export function isNoisy(s: Pick<LatencyStats, 'cv' | 'tail'>): boolean {
  return s.cv > NOISY_CV || s.tail > NOISY_TAIL;
}

/** The median of a list in any order. */
export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** The q-quantile of an ascending array. Monotonic in q, so p50 <= p90 <= p99 always holds. */
export function percentile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Items per second when each run of `batch` items takes `meanMs` on average (sustained throughput). */
export function throughput(batch: number, meanMs: number): number {
  return meanMs > 0 ? (batch * 1000) / meanMs : 0;
}
