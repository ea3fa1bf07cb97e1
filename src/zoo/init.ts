/**
 * Deterministic weight initialisation for zoo models: a seeded PRNG and the He/Xavier uniform schemes,
 * scaled so activations keep roughly unit variance through deep stacks (the models are run untrained in
 * tests and benchmarks, so their outputs must stay finite and informative).
 */
import { mulberry32 } from '../util/random.js';

/** A seeded generator of uniform floats in [0, 1): mulberry32, fast and good enough for weights. */
export class Rng {
  readonly next: () => number;

  constructor(seed: number) {
    // Mix the seed once so that nearby seeds (0, 1, 2…) give unrelated streams.
    this.next = mulberry32((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0);
  }

  /** `n` floats uniform in [lo, hi). */
  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    const span = hi - lo;
    for (let i = 0; i < n; i++) out[i] = lo + span * this.next();
    return out;
  }
}

/** He (Kaiming) uniform: variance 2/fanIn, for layers followed by ReLU-like activations. */
export function heUniform(rng: Rng, n: number, fanIn: number): Float32Array {
  const limit = Math.sqrt(6 / fanIn);
  return rng.uniform(n, -limit, limit);
}

/** Xavier (Glorot) uniform: variance 2/(fanIn+fanOut), for linear, tanh and attention projections. */
export function xavierUniform(rng: Rng, n: number, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniform(n, -limit, limit);
}

/** PyTorch's default bias: uniform in ±1/sqrt(fanIn). Non-zero so passes that move biases are tested. */
export function biasUniform(rng: Rng, n: number, fanIn: number): Float32Array {
  const limit = 1 / Math.sqrt(fanIn);
  return rng.uniform(n, -limit, limit);
}
