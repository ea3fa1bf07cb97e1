/**
 * mulberry32: a small, fast, seedable PRNG of uniform floats in [0, 1), 32-bit arithmetic only, so the
 * same seed gives the same stream on every machine. Used for feeds, weights and shuffles; the tuner's
 * samplers use their own xoshiro128** (src/tune/samplers/rng.ts), which needs 53-bit draws and normals.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
