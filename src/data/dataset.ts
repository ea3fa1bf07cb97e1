import { mulberry32 } from '../util/random.js';

/** An in-memory dataset: named feature arrays and labels, all with the sample count as first dim. */
export type NumericArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array;

export interface ArrayTensor {
  data: NumericArray;
  /** Dims, sample count first. */
  dims: number[];
}

export interface Dataset {
  /** Features by input name ('input' when the data does not name the model's inputs). */
  features: Record<string, ArrayTensor>;
  labels: ArrayTensor;
  size: number;
}

/** Elements per sample of a tensor (product of its dims after the first). */
export function sampleSize(t: ArrayTensor): number {
  return t.dims.slice(1).reduce((a, b) => a * b, 1);
}

/** The samples of `t` (first axis) at `indices`, copied (into `into` when given: same type, the right length). */
export function takeSamples(t: ArrayTensor, indices: ArrayLike<number>, into?: NumericArray): ArrayTensor {
  const per = sampleSize(t);
  const Ctor = t.data.constructor as new (n: number) => NumericArray;
  const out = into ?? new Ctor(indices.length * per);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i]! * per;
    (out as Float32Array).set((t.data as Float32Array).subarray(s, s + per), i * per);
  }
  return { data: out, dims: [indices.length, ...t.dims.slice(1)] };
}

/** The samples at `indices` (copied), as a new dataset. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const take = (t: ArrayTensor) => takeSamples(t, indices);
  return {
    features: Object.fromEntries(Object.entries(ds.features).map(([k, v]) => [k, take(v)])),
    labels: take(ds.labels),
    size: indices.length,
  };
}

/** Seeded Fisher–Yates permutation of 0..n-1 (mulberry32), the same for the same seed everywhere. */
export function permutation(n: number, seed: number): Uint32Array {
  return shuffled(n, mulberry32(seed));
}

/** Fisher–Yates permutation of 0..n-1 drawing from `next` (uniform in [0, 1)). */
export function shuffled(n: number, next: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return p;
}

/** Splits off the last `fraction` of a seeded shuffle as a second dataset (validation or test). */
export function split(ds: Dataset, fraction: number, seed: number): [Dataset, Dataset] {
  const perm = permutation(ds.size, seed);
  const nB = Math.round(ds.size * fraction);
  return [subset(ds, perm.subarray(0, ds.size - nB)), subset(ds, perm.subarray(ds.size - nB))];
}
