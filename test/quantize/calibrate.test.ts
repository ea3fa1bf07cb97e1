import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, TensorStats, entropyThreshold } from '../../src/quantize/calibrate.js';
import { mulberry32 } from '../../src/util/random.js';

/** Normal samples by Box–Muller, seeded. */
function normal(n: number, seed: number, sd = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

function exactQuantile(sorted: Float32Array, q: number): number {
  const pos = q * sorted.length;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(pos) - 1))]!;
}

test('streamed histogram: ranges that grow batch by batch merge exactly; quantiles match brute force within a bin', () => {
  const batches = [normal(2000, 1, 0.1), normal(2000, 2, 1), normal(2000, 3, 0.5), normal(500, 4, 7)];
  const h = new Histogram(1024);
  const ranges: number[] = [];
  for (const b of batches) {
    h.add(b);
    ranges.push(h.range);
  }
  assert.ok(ranges[3]! > ranges[0]! * 16, 'range grew several doublings');
  const all = new Float32Array(batches.reduce((s, b) => s + b.length, 0));
  let off = 0;
  for (const b of batches) {
    all.set(b, off);
    off += b.length;
  }
  assert.equal(h.total, all.length);
  assert.equal(
    h.counts.reduce((a, b) => a + b, 0),
    all.length,
  );
  // Merging is exact: the streamed counts equal binning all data at the final range directly.
  const direct = new Float64Array(1024);
  for (const v of all) direct[Math.min(1023, Math.floor(((v + h.range) * 1024) / (2 * h.range)))]!++;
  let moved = 0;
  for (let i = 0; i < 1024; i++) moved += Math.abs(direct[i]! - h.counts[i]!);
  assert.ok(moved <= 4, `${moved} values in different bins (float rounding at bin edges only)`);
  const sorted = all.slice().sort();
  for (const q of [0.0001, 0.01, 0.5, 0.9, 0.999, 0.9999]) {
    const est = h.quantile(q);
    assert.ok(Math.abs(est - exactQuantile(sorted, q)) <= h.binWidth() * 1.01, `q=${q}: ${est} vs ${exactQuantile(sorted, q)}`);
  }
  const abs = Float32Array.from(all, Math.abs).sort();
  for (const q of [0.5, 0.99, 0.9999]) {
    assert.ok(Math.abs(h.absQuantile(q) - exactQuantile(abs, q)) <= h.binWidth() * 1.01, `|x| q=${q}`);
  }
});

test('TensorStats: minmax is exact; percentile clips the tails; entropy clips far outliers', () => {
  const s = new TensorStats(true, 4096);
  const data = normal(50000, 9);
  data[17] = 40; // one far outlier
  s.add(data.subarray(0, 25000));
  s.add(data.subarray(25000));
  const mm = s.range({ method: 'minmax' });
  assert.equal(mm.max, 40);
  assert.equal(mm.min, Math.min(...data));
  const p = s.range({ method: 'percentile', percentile: 99.9 });
  assert.ok(p.max > 2.8 && p.max < 3.6, `p99.9 upper ${p.max}`);
  assert.ok(p.min < -2.8 && p.min > -3.6, `p0.1 lower ${p.min}`);
  const e = s.range({ method: 'entropy' });
  assert.ok(e.max < 10 && e.max > 2, `entropy threshold ${e.max}`);
  assert.equal(e.min, -e.max);
});

test('entropyThreshold: a histogram narrower than the quantized levels keeps its full range', () => {
  const h = new Float64Array(2048);
  for (let i = 0; i < 100; i++) h[i] = 5;
  assert.equal(entropyThreshold(h, 0.01), 1);
});

test('entropy on ReLU outputs: the spike of exact zeros does not pull the threshold down', () => {
  const s = new TensorStats(true, 4096);
  s.add(Float32Array.from(normal(40000, 11), (v) => Math.max(0, v)));
  assert.ok(s.zeros > 15000);
  const e = s.range({ method: 'entropy' });
  assert.equal(e.min, 0);
  assert.ok(e.max > 0.7 * s.max, `threshold ${e.max} of max ${s.max}`);
});
