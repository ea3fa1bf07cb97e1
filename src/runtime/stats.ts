/** Latency statistics over timed runs. */

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
}

/** Statistics of `samples` (any unit; Hone uses milliseconds). Percentiles interpolate linearly between ranks. */
export function latencyStats(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) throw new Error('latencyStats needs at least one sample');
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { runs: n, mean, min: s[0]!, max: s[n - 1]!, p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), std: Math.sqrt(variance) };
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
