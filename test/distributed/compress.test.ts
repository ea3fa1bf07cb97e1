import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  type Collective,
  type CompressionSpec,
  createExchange,
  decodeFloat16,
  encodeFloat16,
  type ExchangeReport,
  formatCompression,
  type GradientExchange,
  HEADER_BYTES,
  parseCompression,
  selectKth,
} from '../../src/distributed/compress.js';
import { HoneError } from '../../src/errors.js';
// The codec's scalar conversions are the project's one converter; these tests hold it to IEEE binary16.
import { halfValue as float16ToFloat32, halfBits as float32ToFloat16 } from '../../src/ir/half.js';
import { mulberry32 } from '../../src/util/random.js';

// ---- helpers ----------------------------------------------------------------------------------------------------

type Shapes = readonly (readonly number[])[];

/** The MLP 784-2048-512-10 with [out, in] weights. */
const MLP: Shapes = [[2048, 784], [2048], [512, 2048], [512], [10, 512], [10]];

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Approximately normal values (sum of 4 uniforms), seeded. */
function randomGrads(shapes: Shapes, seed: number, scale = 1): Float32Array[] {
  const u = mulberry32(seed);
  return shapes.map((s) => {
    const g = new Float32Array(size(s));
    for (let i = 0; i < g.length; i++) g[i] = scale * (u() + u() + u() + u() - 2);
    return g;
  });
}

const clone = (grads: readonly Float32Array[]) => grads.map((g) => g.slice());
const bytesOf = (grads: readonly Float32Array[]) => Buffer.concat(grads.map((g) => Buffer.from(g.buffer, g.byteOffset, g.byteLength)));

/** Element-wise mean over workers, in float64. */
function trueMean(perWorker: readonly (readonly Float32Array[])[]): Float64Array[] {
  return perWorker[0]!.map((_, l) => {
    const out = new Float64Array(perWorker[0]![l]!.length);
    for (const grads of perWorker) for (let j = 0; j < out.length; j++) out[j]! += grads[l]![j]!;
    for (let j = 0; j < out.length; j++) out[j]! /= perWorker.length;
    return out;
  });
}

/** ‖a − b‖ / ‖b‖ over all layers. */
function relError(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  let num = 0;
  let den = 0;
  a.forEach((x, l) => {
    const y = b[l]!;
    for (let j = 0; j < x.length; j++) {
      num += (x[j]! - y[j]!) ** 2;
      den += y[j]! ** 2;
    }
  });
  return Math.sqrt(num / den);
}

interface Round {
  messages: Uint8Array[];
  posted: number;
  waiting: ((all: Uint8Array[]) => void)[];
}

/**
 * N workers in one process: a worker's allgather resolves once all N have posted for that round (each worker counts
 * its own rounds). Every receiver gets its own copies; `misalign` delivers them at an odd byte offset; `tamper` may
 * replace a message as it is posted.
 */
class FakeNetwork {
  readonly sent: number[];
  readonly rounds: number[];
  private readonly pending: Round[] = [];

  constructor(
    readonly world: number,
    private readonly options: { misalign?: boolean; tamper?: (rank: number, round: number, message: Uint8Array) => Uint8Array } = {},
  ) {
    this.sent = new Array(world).fill(0);
    this.rounds = new Array(world).fill(0);
  }

  worker(rank: number): Collective {
    return { world: this.world, rank, allgather: (message) => this.post(rank, message) };
  }

  private post(rank: number, message: Uint8Array): Promise<Uint8Array[]> {
    const r = this.rounds[rank]!++;
    this.sent[rank]! += message.length;
    const round = (this.pending[r] ??= { messages: [], posted: 0, waiting: [] });
    const copy = message.slice();
    round.messages[rank] = this.options.tamper ? this.options.tamper(rank, r, copy) : copy;
    return new Promise((resolve) => {
      round.waiting.push(resolve);
      if (++round.posted === this.world) for (const done of round.waiting) done(round.messages.map((m) => this.deliver(m)));
    });
  }

  private deliver(m: Uint8Array): Uint8Array {
    if (!this.options.misalign) return m.slice();
    const out = new Uint8Array(m.length + 1).subarray(1);
    out.set(m);
    return out;
  }
}

interface StepOutcome {
  results: Float32Array[][];
  reports: ExchangeReport[];
  /** Bytes each worker handed to allgather in this step, and its allgather calls. */
  sent: number[];
  rounds: number[];
}

/** `world` exchanges of one spec over one fake network. */
class Cluster {
  readonly net: FakeNetwork;
  readonly exchanges: GradientExchange[];
  private readonly collectives: Collective[];

  constructor(
    spec: CompressionSpec | string,
    readonly shapes: Shapes,
    readonly world: number,
    options: ConstructorParameters<typeof FakeNetwork>[1] & { seed?: number } = {},
  ) {
    const parsed = typeof spec === 'string' ? parseCompression(spec) : spec;
    this.net = new FakeNetwork(world, options);
    this.collectives = Array.from({ length: world }, (_, r) => this.net.worker(r));
    this.exchanges = Array.from({ length: world }, (_, rank) => createExchange(parsed, shapes, { seed: options.seed ?? 7, rank }));
  }

  /** One step: each worker exchanges a copy of its gradients; returns the results and reports. */
  async step(perWorker: readonly (readonly Float32Array[])[], step: number): Promise<StepOutcome> {
    const results = perWorker.map(clone);
    const sent = this.net.sent.slice();
    const rounds = this.net.rounds.slice();
    const reports = await Promise.all(this.exchanges.map((ex, r) => ex.exchange(results[r]!, step, this.collectives[r]!)));
    return { results, reports, sent: this.net.sent.map((n, r) => n - sent[r]!), rounds: this.net.rounds.map((n, r) => n - rounds[r]!) };
  }
}

function assertIdentical(results: readonly Float32Array[][]): void {
  const first = bytesOf(results[0]!);
  for (let r = 1; r < results.length; r++) assert.ok(bytesOf(results[r]!).equals(first), `worker ${r} differs from worker 0`);
}

/** bytesSent is what each worker handed to allgather, within 5% of the formula; `rounds` allgathers per step. */
function assertBytes(outcome: StepOutcome, ex: GradientExchange, rounds: number, what: string = ex.spec.kind): void {
  outcome.reports.forEach((report, r) => {
    assert.equal(report.bytesSent, outcome.sent[r], `${what}: bytesSent is what was handed to allgather`);
    assert.ok(
      Math.abs(report.bytesSent - ex.analyticBytes()) <= 0.05 * ex.analyticBytes(),
      `${what}: ${report.bytesSent} vs ${ex.analyticBytes()}`,
    );
    assert.equal(outcome.rounds[r], rounds, `${what}: allgathers per step`);
  });
}

// ---- parsing ----------------------------------------------------------------------------------------------------

describe('parseCompression / formatCompression', () => {
  it('reads every form, with defaults, and round-trips', () => {
    const cases: [string, CompressionSpec, string][] = [
      ['none', { kind: 'none' }, 'none'],
      ['fp16', { kind: 'fp16' }, 'fp16'],
      ['signsgd', { kind: 'signsgd' }, 'signsgd'],
      ['powersgd', { kind: 'powersgd', rank: 2, warmup: 10 }, 'powersgd:rank=2,warmup=10'],
      ['powersgd:rank=4,warmup=0', { kind: 'powersgd', rank: 4, warmup: 0 }, 'powersgd:rank=4,warmup=0'],
      [' PowerSGD : warmup=3 , rank=1 ', { kind: 'powersgd', rank: 1, warmup: 3 }, 'powersgd:rank=1,warmup=3'],
      ['powersgd:rank=8', { kind: 'powersgd', rank: 8, warmup: 10 }, 'powersgd:rank=8,warmup=10'],
      ['topk', { kind: 'topk', ratio: 0.01 }, 'topk:ratio=0.01'],
      ['topk:ratio=0.001', { kind: 'topk', ratio: 0.001 }, 'topk:ratio=0.001'],
      ['topk:ratio=1e-5', { kind: 'topk', ratio: 1e-5 }, 'topk:ratio=0.00001'],
      ['topk:ratio=1', { kind: 'topk', ratio: 1 }, 'topk:ratio=1'],
      ['qsgd', { kind: 'qsgd', levels: 16 }, 'qsgd:levels=16'],
      ['qsgd:levels=8', { kind: 'qsgd', levels: 8 }, 'qsgd:levels=8'],
      ['qsgd:levels=255', { kind: 'qsgd', levels: 255 }, 'qsgd:levels=255'],
    ];
    for (const [text, spec, canonical] of cases) {
      assert.deepEqual(parseCompression(text), spec, text);
      assert.equal(formatCompression(spec), canonical);
      assert.deepEqual(parseCompression(formatCompression(spec)), spec);
    }
    assert.deepEqual(parseCompression(formatCompression({ kind: 'topk', ratio: 1e-7 })), { kind: 'topk', ratio: 1e-7 });
  });

  it('rejects bad text with a one-line HoneError (exit 2) naming the bad part and the accepted forms', () => {
    const bad: [string, RegExp][] = [
      ['', /no method/],
      ['   ', /no method/],
      ['zip', /unknown method 'zip'/],
      ['fp32', /unknown method 'fp32'/],
      ['top-k', /unknown method 'top-k'/],
      ['fp16:x=1', /fp16 takes no options/],
      ['none:', /none takes no options/],
      ['signsgd:levels=2', /signsgd takes no options/],
      ['powersgd:', /nothing after 'powersgd:'/],
      ['powersgd:rank', /'rank' is not key=value/],
      ['powersgd:rank=', /'rank=' is not key=value/],
      ['powersgd:=2', /is not key=value/],
      ['powersgd:rank=2,', /is not key=value/],
      ['powersgd:rank=0', /rank must be an integer >= 1, got '0'/],
      ['powersgd:rank=1.5', /rank must be an integer/],
      ['powersgd:rank=-1', /rank must be an integer/],
      ['powersgd:rank=0x10', /rank must be an integer/],
      ['powersgd:rank=99999999999999999999', /rank must be an integer/],
      ['powersgd:warmup=-1', /warmup must be an integer >= 0/],
      ['powersgd:foo=1', /unknown powersgd option 'foo' \(it takes rank, warmup\)/],
      ['powersgd:ratio=0.1', /unknown powersgd option 'ratio'/],
      ['powersgd:rank=2,rank=3', /'rank' given twice/],
      ['topk:ratio=0', /ratio must be a number with 0 < ratio <= 1, got '0'/],
      ['topk:ratio=1.5', /ratio must be/],
      ['topk:ratio=-0.1', /ratio must be/],
      ['topk:ratio=abc', /ratio must be/],
      ['topk:ratio=NaN', /ratio must be/],
      ['topk:ratio=Infinity', /ratio must be/],
      ['topk:ratio=1e', /ratio must be/],
      ['qsgd:levels=0', /levels must be an integer from 1 to 255/],
      ['qsgd:levels=256', /levels must be an integer from 1 to 255/],
      ['qsgd:levels=3.5', /levels must be/],
      ['qsgd:levels=8\nx', /levels must be .*'8\\nx'/],
    ];
    for (const [text, pattern] of bad) {
      assert.throws(
        () => parseCompression(text),
        (e: unknown) => {
          assert.ok(e instanceof HoneError, `${JSON.stringify(text)} throws a HoneError`);
          assert.equal(e.exitCode, 2);
          assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
          assert.match(e.message, /^--grad-compression: /);
          assert.match(e.message, pattern);
          assert.match(e.message, /use none, fp16, powersgd\[:rank=R,warmup=W\], topk\[:ratio=F\], qsgd\[:levels=S\] or signsgd$/);
          return true;
        },
        JSON.stringify(text),
      );
    }
  });

  it('rejects out-of-range specs built in code', () => {
    const bad = [
      { kind: 'topk', ratio: 2 },
      { kind: 'powersgd', rank: 0, warmup: 0 },
      { kind: 'qsgd', levels: 300 },
      { kind: 'zip' },
    ] as unknown as CompressionSpec[];
    for (const spec of bad) {
      assert.throws(() => formatCompression(spec), HoneError);
      assert.throws(() => createExchange(spec, MLP, { seed: 1, rank: 0 }), HoneError);
    }
  });
});

// ---- fp16 -------------------------------------------------------------------------------------------------------

/** Reference encoder: the nearest finite half by binary search over all positive halves in order, ties to even. */
const positiveHalves = Array.from({ length: 0x7c00 }, (_, h) => float16ToFloat32(h));
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // halfway between 65504 and 2^16 and beyond: infinity
  let lo = 0;
  let hi = 0x7bff;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positiveHalves[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - positiveHalves[lo]!;
  const dHi = positiveHalves[hi]! - a;
  const h = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | h;
}

describe('float16 codec', () => {
  it('round-trips every one of the 65536 halves (NaN stays NaN)', () => {
    for (let h = 0; h < 65536; h++) {
      const f = float16ToFloat32(h);
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (nan) {
        assert.ok(Number.isNaN(f));
        const back = float32ToFloat16(f);
        assert.ok((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0, `NaN ${h.toString(16)} encodes to a NaN`);
      } else {
        assert.equal(Math.fround(f), f, 'every half is a float32');
        assert.equal(float32ToFloat16(f), h, `half 0x${h.toString(16)}`);
      }
    }
  });

  it('agrees with a reference nearest-even encoder on random float32 bit patterns and all midpoints', () => {
    const u = mulberry32(3);
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    for (let i = 0; i < 100_000; i++) {
      // Bias the exponent toward the half range so the interesting cases are well covered.
      bits[0] =
        i % 2 === 0
          ? (u() * 2 ** 32) >>> 0
          : ((u() < 0.5 ? 0x80000000 : 0) | (((90 + u() * 60) << 23) >>> 0) | ((u() * 2 ** 23) >>> 0)) >>> 0;
      if (Number.isNaN(f[0]!)) continue;
      assert.equal(float32ToFloat16(f[0]!), referenceHalf(f[0]!), `value ${f[0]} (bits 0x${bits[0]!.toString(16)})`);
    }
    // Exact midpoints between neighbouring halves (exact in float32), and just either side of them.
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (positiveHalves[h]! + positiveHalves[h + 1]!) / 2;
      assert.equal(Math.fround(mid), mid);
      assert.equal(float32ToFloat16(mid), h % 2 === 0 ? h : h + 1, `midpoint after 0x${h.toString(16)}`);
      assert.equal(float32ToFloat16(-mid), 0x8000 | (h % 2 === 0 ? h : h + 1));
      f[0] = mid;
      bits[0]! += 1;
      assert.equal(float32ToFloat16(f[0]!), h + 1);
      bits[0]! -= 2;
      assert.equal(float32ToFloat16(f[0]!), h);
    }
  });

  it('handles subnormals, overflow, infinities, NaN and signed zero', () => {
    const cases: [number, number][] = [
      [0, 0],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: tie to even → 0
      [2 ** -25 * 1.0000001, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 → even
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [1e-8, 0],
      [-1e-10, 0x8000],
      [1 + 2 ** -11, 0x3c00], // tie → even
      [1 + 3 * 2 ** -11, 0x3c02],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [1e6, 0x7c00],
      [-1e9, 0xfc00],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [1e-45, 0], // float32 subnormal
    ];
    for (const [x, h] of cases) assert.equal(float32ToFloat16(x), h, `${x}`);
    const nan = float32ToFloat16(Number.NaN);
    assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0);
    assert.ok(Number.isNaN(float16ToFloat32(nan)));
    assert.equal(float16ToFloat32(0x0001), 2 ** -24);
    assert.ok(Object.is(float16ToFloat32(0x8000), -0));
    assert.equal(float16ToFloat32(0xfc00), Number.NEGATIVE_INFINITY);
  });

  it('rounds with relative error <= 2^-11 in the normal range; the array codecs match the scalar ones', () => {
    const u = mulberry32(4);
    const n = 50_000;
    const src = new Float32Array(n);
    for (let i = 0; i < n; i++) src[i] = (u() < 0.5 ? -1 : 1) * 2 ** (-14 + u() * 29.99);
    const halves = new Uint16Array(n);
    const back = new Float32Array(n);
    encodeFloat16(src, halves);
    decodeFloat16(halves, back);
    for (let i = 0; i < n; i++) {
      assert.equal(halves[i], float32ToFloat16(src[i]!));
      assert.equal(back[i], float16ToFloat32(halves[i]!));
      assert.ok(Math.abs(back[i]! - src[i]!) <= 2 ** -11 * Math.abs(src[i]!), `${src[i]} → ${back[i]}`);
    }
  });
});

// ---- the exchange -----------------------------------------------------------------------------------------------

describe('gradient exchange', () => {
  it('none: every worker gets exactly the rank-order sum / world, bit-identical; bytes as analysed', async () => {
    const shapes: Shapes = [[64, 33], [64], [5, 3, 4], [1], [0]];
    const cluster = new Cluster('none', shapes, 3);
    const perWorker = [0, 1, 2].map((r) => randomGrads(shapes, 100 + r, 10 ** r));
    const outcome = await cluster.step(perWorker, 0);
    const { results } = outcome;
    assertIdentical(results);
    const expected = shapes.map((_, l) =>
      Float32Array.from(perWorker[0]![l]!, (_, j) => {
        let s = 0;
        for (const grads of perWorker) s += grads[l]![j]!;
        return s / 3;
      }),
    );
    assert.ok(bytesOf(results[0]!).equals(bytesOf(expected)));
    assertBytes(outcome, cluster.exchanges[0]!, 1);
    assert.equal(cluster.exchanges[0]!.analyticBytes(), HEADER_BYTES + 4 * shapes.map(size).reduce((a, b) => a + b));
    assert.deepEqual(cluster.exchanges[0]!.state(), []);
    // The same through messages that arrive at an odd byte offset (copied before reading).
    const misaligned = new Cluster('none', shapes, 3, { misalign: true });
    assert.ok(bytesOf((await misaligned.step(perWorker, 0)).results[1]!).equals(bytesOf(expected)));
  });

  it('fp16: within half-precision rounding of the true mean', async () => {
    const shapes: Shapes = [[200, 30], [200]];
    const cluster = new Cluster('fp16', shapes, 3);
    const perWorker = [0, 1, 2].map((r) => randomGrads(shapes, 200 + r, 0.01));
    const outcome = await cluster.step(perWorker, 0);
    const { results } = outcome;
    assertIdentical(results);
    assertBytes(outcome, cluster.exchanges[0]!, 1);
    assert.equal(outcome.reports[0]!.uncompressedLayers, 0);
    const mean = trueMean(perWorker);
    shapes.forEach((_, l) => {
      for (let j = 0; j < mean[l]!.length; j++) {
        let absMean = 0;
        for (const grads of perWorker) absMean += Math.abs(grads[l]![j]!) / 3;
        const bound = 2 ** -11 * absMean + 2 ** -25 + 2 ** -24 * Math.abs(mean[l]![j]!);
        assert.ok(Math.abs(results[0]![l]![j]! - mean[l]![j]!) <= bound, `layer ${l} [${j}]`);
      }
    });
    assert.ok(relError(results[0]!, mean) > 0, 'fp16 is lossy');
  });

  it('every method on the MLP 784-2048-512-10: identical on every worker, bytes within 5% of the formula', async () => {
    const perWorker = [0, 1].map((r) => randomGrads(MLP, 300 + r, 0.01));
    const total = MLP.map(size).reduce((a, b) => a + b);
    const methods: [string, number, number, number][] = [
      // spec, allgather rounds per step, layers sent raw, bytes relative to none (roughly)
      ['none', 1, 0, 1],
      ['fp16', 1, 0, 0.5],
      ['topk:ratio=0.01', 1, 0, 0.02],
      ['qsgd:levels=16', 1, 0, 6 / 32],
      ['signsgd', 1, 0, 1 / 32],
      ['powersgd:rank=2,warmup=0', 2, 3, 0.0054],
    ];
    for (const [text, rounds, raw, ratio] of methods) {
      const cluster = new Cluster(text, MLP, 2);
      const ex = cluster.exchanges[0]!;
      for (let step = 0; step < 2; step++) {
        const outcome = await cluster.step(perWorker, step);
        const { results, reports } = outcome;
        assertIdentical(results);
        for (const report of reports) assert.equal(report.uncompressedLayers, raw, text);
        assertBytes(outcome, ex, rounds, text);
        for (const g of results[0]!) assert.ok(g.every(Number.isFinite), text);
      }
      const relative = ex.analyticBytes() / (4 * total);
      assert.ok(relative > ratio * 0.8 && relative < ratio * 1.25 + 0.001, `${text}: ${relative} of raw`);
    }
  });

  it('topk: exactly k entries per layer, the largest; error feedback makes the running sum track the true one', async () => {
    // Selection itself: k-th largest of a vector with many ties.
    const a = Float32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 13);
    const sorted = Array.from(a).sort((x, y) => x - y);
    for (const kth of [0, 1, 500, 998, 999]) assert.equal(selectKth(a.slice(), a.length, kth), sorted[kth]);

    const shapes: Shapes = [[64, 50], [64]];
    const cluster = new Cluster('topk:ratio=0.01', shapes, 2);
    const g = [0, 1].map((r) => randomGrads(shapes, 400 + r));
    const mean = trueMean(g);
    const { results } = await cluster.step(g, 0);
    // Step 0: each worker sent its own 32 + 1 largest entries, nothing else.
    const nonzero = results[0]!.map((x) => x.filter((v) => v !== 0).length);
    assert.ok(nonzero[0]! >= 32 && nonzero[0]! <= 64 && nonzero[1]! >= 1 && nonzero[1]! <= 2, `${nonzero}`);
    const own = g[0]![0]!;
    const threshold = Array.from(own, Math.abs).sort((x, y) => y - x)[31]!;
    for (let j = 0; j < own.length; j++) if (Math.abs(own[j]!) >= threshold) assert.notEqual(results[0]![0]![j], 0, `entry ${j}`);

    const applied = shapes.map((s) => new Float64Array(size(s)));
    results[0]!.forEach((x, l) => x.forEach((v, j) => (applied[l]![j]! += v)));
    const errors: number[] = [];
    for (let step = 1; step < 400; step++) {
      const out = (await cluster.step(g, step)).results;
      assertIdentical(out);
      out[0]!.forEach((x, l) => x.forEach((v, j) => (applied[l]![j]! += v)));
      if (step + 1 === 200 || step + 1 === 400)
        errors.push(
          relError(
            applied,
            mean.map((m) => m.map((v) => v * (step + 1))),
          ),
        );
    }
    // Without error feedback the sum would keep only ~1% of the entries (relative error ~0.9).
    assert.ok(errors[0]! < 0.3, `after 200 steps: ${errors[0]}`);
    assert.ok(errors[1]! < 0.7 * errors[0]!, `the error shrinks like 1/steps: ${errors}`);
  });

  it('signsgd: error feedback makes the running sum track the true one', async () => {
    const shapes: Shapes = [[30, 40], [30]];
    const cluster = new Cluster('signsgd', shapes, 2);
    const g = [0, 1].map((r) => randomGrads(shapes, 500 + r));
    const mean = trueMean(g);
    const applied = shapes.map((s) => new Float64Array(size(s)));
    let first = 0;
    for (let step = 0; step < 400; step++) {
      const { results } = await cluster.step(g, step);
      assertIdentical(results);
      if (step === 0) first = relError(results[0]!, mean);
      results[0]!.forEach((x, l) => x.forEach((v, j) => (applied[l]![j]! += v)));
    }
    assert.ok(first > 0.3, `one step of signs is a rough estimate: ${first}`);
    const error = relError(
      applied,
      mean.map((m) => m.map((v) => v * 400)),
    );
    assert.ok(error < 0.05, `after 400 steps: ${error}`);
  });

  it('qsgd: unbiased (the mean of many exchanges approaches the gradient), a different RNG per rank and step', async () => {
    const shapes: Shapes = [[100], [10, 10]];
    const cluster = new Cluster('qsgd:levels=4', shapes, 2);
    const g = randomGrads(shapes, 600);
    const both = [g, g];
    const applied = shapes.map((s) => new Float64Array(size(s)));
    const steps = 2000;
    for (let step = 0; step < steps; step++) {
      const { results } = await cluster.step(both, step);
      assertIdentical(results);
      results[0]!.forEach((x, l) => x.forEach((v, j) => (applied[l]![j]! += v / steps)));
    }
    const error = relError(applied, g);
    assert.ok(error < 0.03, `mean of ${steps} exchanges: relative error ${error}`);
    // A single exchange is noisy; each worker's RNG differs (seed, rank, step), so their messages differ.
    const single = (await cluster.step(both, steps)).results[0]!;
    assert.ok(relError(single, g) > 0.1);
    const solo = new Cluster('qsgd:levels=4', shapes, 1);
    const a = (await solo.step([g], 0)).results[0]!;
    const b = (await solo.step([g], 1)).results[0]!;
    assert.ok(!bytesOf(a).equals(bytesOf(b)), 'another step, other rounding');
    const rank1 = createExchange(parseCompression('qsgd:levels=4'), shapes, { seed: 7, rank: 1 });
    const c = clone(g);
    await rank1.exchange(c, 0, { world: 1, rank: 1, allgather: async (m) => [m] });
    assert.ok(!bytesOf(a).equals(bytesOf(c)), 'another rank, other rounding');
  });

  it('qsgd: exact when every |g_i|/norm·levels is a whole level, for 2 to 9 bits per element', async () => {
    for (const levels of [1, 2, 5, 10, 15, 16, 100, 255]) {
      // norm 5: with levels a multiple of 5 the levels of 3 and 4 are whole; with others use a single spike.
      for (const d of [9, 10, 17, 33]) {
        const g = new Float32Array(d);
        if (levels % 5 === 0) {
          g[1] = 3;
          g[d - 1] = -4;
        } else g[d - 2] = -5;
        const solo = new Cluster({ kind: 'qsgd', levels }, [[d]], 1);
        const { results, reports } = await solo.step([[g]], 0);
        assert.equal(reports[0]!.uncompressedLayers, 0);
        for (let j = 0; j < d; j++) assert.ok(Math.abs(results[0]![0]![j]! - g[j]!) < 1e-6, `levels ${levels}, d ${d}, [${j}]`);
      }
    }
  });

  it('skips layers that would compress less than 2x, and sends them exactly', async () => {
    const cases: [string, Shapes, number][] = [
      ['topk:ratio=0.2', [[100], [7], [20, 5]], 1], // [7]: k = 2, 16 bytes > 14
      ['signsgd', [[2], [3], [100]], 1], // [2]: 5 bytes > 4
      ['qsgd:levels=16', [[2], [3], [4], [100]], 2], // 6 bits: [3] takes 4 + 3 > 6
      ['powersgd:rank=2,warmup=0', [[10, 512], [4, 4], [512], [16, 8, 8]], 2], // [4, 4]: 4·2·8 > 2·16; [512] has ndim 1
    ];
    for (const [text, shapes, raw] of cases) {
      const cluster = new Cluster(text, shapes, 2);
      const g = [0, 1].map((r) => randomGrads(shapes, 700 + r));
      const outcome = await cluster.step(g, 0);
      const { results, reports } = outcome;
      assertIdentical(results);
      assert.equal(reports[0]!.uncompressedLayers, raw, text);
      assertBytes(outcome, cluster.exchanges[0]!, text.startsWith('powersgd') ? 2 : 1, text);
      const mean = trueMean(g);
      let exact = 0;
      shapes.forEach((_, l) => {
        if (results[0]![l]!.every((v, j) => v === Math.fround(mean[l]![j]!))) exact++;
      });
      assert.equal(exact, raw, `${text}: the skipped layers are the exact mean`);
    }
  });

  it('powersgd: warm-up is exact, then a rank-r gradient is reconstructed, and error feedback tracks the sum', async () => {
    const shapes: Shapes = [[40, 30], [20, 5, 6], [40]];
    const r = 2;
    // Every worker's matrix gradient is U·V_wᵀ with U [n, 2] shared and V_w [m, 2] its own, so the mean has rank 2.
    const factor = (rows: number, seed: number) => {
      const u = mulberry32(seed);
      return Float64Array.from({ length: rows * r }, () => u() - 0.5);
    };
    const U = shapes.map((s, l) => factor(s[0]!, 800 + l));
    const g = [0, 1].map((w) =>
      shapes.map((s, l) => {
        if (s.length < 2) return randomGrads([s], 810 + w)[0]!;
        const n = s[0]!;
        const m = size(s) / n;
        const V = factor(m, 820 + 10 * w + l);
        const out = new Float32Array(n * m);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < m; j++) out[i * m + j] = U[l]![i * r]! * V[j * r]! + U[l]![i * r + 1]! * V[j * r + 1]!;
        return out;
      }),
    );
    const mean = trueMean(g);

    const cluster = new Cluster('powersgd:rank=2,warmup=2', shapes, 2);
    const none = new Cluster('none', shapes, 2);
    for (let step = 0; step < 2; step++) {
      const { results, reports, rounds } = await cluster.step(g, step);
      const exact = (await none.step(g, step)).results;
      assertIdentical(results);
      assert.ok(bytesOf(results[0]!).equals(bytesOf(exact[0]!)), 'warm-up steps are the exact mean');
      assert.equal(reports[0]!.uncompressedLayers, 3);
      assert.equal(reports[0]!.bytesSent, HEADER_BYTES + 4 * shapes.map(size).reduce((a, b) => a + b));
      assert.deepEqual(rounds, [1, 1]);
    }
    for (let step = 2; step < 5; step++) {
      const outcome = await cluster.step(g, step);
      const { results, reports } = outcome;
      assertIdentical(results);
      assert.equal(reports[0]!.uncompressedLayers, 1);
      assertBytes(outcome, cluster.exchanges[0]!, 2);
      const error = relError(results[0]!.slice(0, 2), mean.slice(0, 2));
      assert.ok(error < 1e-5, `step ${step}: rank-2 gradient reconstructed with relative error ${error}`);
    }

    // A full-rank constant gradient: one step keeps only a rank-2 approximation, error feedback recovers the rest.
    const full = [0, 1].map((w) => randomGrads([[32, 48]], 850 + w));
    const fullMean = trueMean(full);
    const ef = new Cluster('powersgd:rank=2,warmup=0', [[32, 48]], 2);
    const applied = [new Float64Array(32 * 48)];
    let first = 0;
    for (let step = 0; step < 300; step++) {
      const { results } = await ef.step(full, step);
      if (step === 0) first = relError(results[0]!, fullMean);
      results[0]![0]!.forEach((v, j) => (applied[0]![j]! += v));
    }
    const error = relError(applied, [fullMean[0]!.map((v) => v * 300)]);
    assert.ok(first > 0.5, `one step is a rank-2 approximation: ${first}`);
    assert.ok(error < 0.1, `after 300 steps: ${error}`);
  });

  it('powersgd: a rank-deficient or zero gradient stays finite and exact', async () => {
    // Rank 1 with rank 2: the second column of P collapses (and is re-drawn next step); zero gradients give zero.
    const n = 24;
    const m = 18;
    const u = mulberry32(870);
    const a = Float32Array.from({ length: n }, () => u() - 0.5);
    const b = Float32Array.from({ length: m }, () => u() - 0.5);
    const rankOne = Float32Array.from({ length: n * m }, (_, x) => a[Math.floor(x / m)]! * b[x % m]!);
    const cluster = new Cluster('powersgd:rank=2,warmup=0', [[n, m]], 2);
    for (let step = 0; step < 3; step++) {
      const { results } = await cluster.step([[rankOne], [rankOne]], step);
      assertIdentical(results);
      assert.ok(relError(results[0]!, [rankOne]) < 1e-5, `step ${step}`);
    }
    const zeros = new Cluster('powersgd:rank=2,warmup=0', [[n, m]], 2);
    for (let step = 0; step < 2; step++) {
      const { results } = await zeros.step([[new Float32Array(n * m)], [new Float32Array(n * m)]], step);
      assert.ok(results[0]![0]!.every((v) => v === 0));
    }
    const after = (await zeros.step([[rankOne], [rankOne]], 2)).results;
    assert.ok(relError(after[0]!, [rankOne]) < 1e-5, 'Q was re-drawn after collapsing to zero');
  });

  it('state() / loadState(): a restored exchange continues exactly like the original', async () => {
    const shapes: Shapes = [[30, 20], [30], [8, 2, 5]];
    for (const text of ['topk:ratio=0.05', 'signsgd', 'powersgd:rank=2,warmup=1', 'qsgd', 'fp16', 'none']) {
      const a = new Cluster(text, shapes, 2);
      for (let step = 0; step < 3; step++)
        await a.step(
          [0, 1].map((w) => randomGrads(shapes, 900 + 10 * step + w)),
          step,
        );
      const saved = a.exchanges.map((ex) => ex.state());
      if (['topk:ratio=0.05', 'signsgd', 'powersgd:rank=2,warmup=1'].includes(text)) {
        assert.ok(saved[0]!.length > 0 && saved[0]!.some((s) => s.some((v) => v !== 0)), `${text} has state`);
      } else assert.deepEqual(saved[0], []);
      const b = new Cluster(text, shapes, 2);
      b.exchanges.forEach((ex, w) => ex.loadState(saved[w]!));
      // state() hands out copies.
      saved[0]!.forEach((s) => s.fill(123));
      const next = [0, 1].map((w) => randomGrads(shapes, 990 + w));
      const ra = (await a.step(next, 3)).results;
      const rb = (await b.step(next, 3)).results;
      assert.ok(bytesOf(ra[0]!).equals(bytesOf(rb[0]!)), text);
      assert.ok(bytesOf(ra[1]!).equals(bytesOf(rb[1]!)), text);
      a.exchanges.forEach((ex, w) => assert.deepEqual(ex.state(), b.exchanges[w]!.state()));
    }
    const ex = createExchange(parseCompression('signsgd'), shapes, { seed: 1, rank: 0 });
    assert.throws(
      () => ex.loadState([]),
      (e: unknown) => e instanceof HoneError && /does not fit signsgd/.test(e.message),
    );
    assert.throws(() => ex.loadState(ex.state().map((s) => new Float32Array(s.length + 1))), HoneError);
    assert.throws(() => createExchange({ kind: 'none' }, shapes, { seed: 1, rank: 0 }).loadState([new Float32Array(1)]), HoneError);
  });

  it('rejects a peer message of the wrong length, method, step or settings, naming the worker', async () => {
    const shapes: Shapes = [[16, 8], [16]];
    const g = [0, 1].map((w) => randomGrads(shapes, 1000 + w));
    const expectFailure = async (cluster: Cluster, pattern: RegExp, steps: number[] = [0, 0]) => {
      const outcomes = await Promise.allSettled(
        cluster.exchanges.map((ex, w) => ex.exchange(clone(g[w]!), steps[w]!, cluster.net.worker(w) as Collective)),
      );
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected');
        const reason = (o as PromiseRejectedResult).reason;
        assert.ok(reason instanceof Error && !(reason instanceof HoneError));
        assert.match(reason.message, pattern);
      }
    };
    const truncate = (rank: number, _round: number, m: Uint8Array) => (rank === 1 ? m.subarray(0, m.length - 4) : m);
    await expectFailure(new Cluster('topk:ratio=0.1', shapes, 2, { tamper: truncate }), /worker 1 sent \d+ bytes, expected \d+/);
    const otherMethod = (rank: number, _round: number, m: Uint8Array) => {
      if (rank === 1) m[2] = 1;
      return m;
    };
    await expectFailure(
      new Cluster('signsgd', shapes, 2, { tamper: otherMethod }),
      /worker 1 compresses with fp16, this worker with signsgd/,
    );
    const garbage = (rank: number, _round: number, m: Uint8Array) => (rank === 0 ? new Uint8Array(m.length) : m);
    await expectFailure(new Cluster('none', shapes, 2, { tamper: garbage }), /worker 0 sent something that is not/);
    await expectFailure(new Cluster('fp16', shapes, 2), /worker [01] is at step [01]; all workers must exchange the same step/, [0, 1]);
    const badIndex = (rank: number, _round: number, m: Uint8Array) => {
      if (rank === 1) new DataView(m.buffer, m.byteOffset).setUint32(HEADER_BYTES, 999_999, true);
      return m;
    };
    await expectFailure(new Cluster('topk:ratio=0.1', shapes, 2, { tamper: badIndex }), /worker 1 sent index 999999/);

    // Same length, different settings (levels 16 and 17 both take 6 bits): caught by the header's hash.
    const net = new FakeNetwork(2);
    const mixed = [16, 17].map((levels, rank) => createExchange({ kind: 'qsgd', levels }, shapes, { seed: 1, rank }));
    const outcomes = await Promise.allSettled(mixed.map((ex, w) => ex.exchange(clone(g[w]!), 0, net.worker(w))));
    for (const o of outcomes)
      assert.match(String((o as PromiseRejectedResult).reason), /different compression settings or parameter shapes/);

    // Misuse by the caller.
    const ex = createExchange({ kind: 'none' }, shapes, { seed: 1, rank: 0 });
    const solo: Collective = { world: 1, rank: 0, allgather: async (m) => [m] };
    await assert.rejects(ex.exchange([new Float32Array(3)], 0, solo), /1 gradients, expected 2/);
    await assert.rejects(ex.exchange([new Float32Array(128), new Float32Array(15)], 0, solo), /gradient 1 has 15 values, expected 16/);
    await assert.rejects(ex.exchange(clone(g[0]!), 0, { ...solo, rank: 1 }), /created for rank 0, used by rank 1/);
  });
});
