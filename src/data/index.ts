/** Datasets for training: in-memory arrays, .npy/.npz files, and the built-in MNIST. */
import { existsSync } from 'node:fs';
import { badInput } from '../errors.js';
import { datasetFromArrays, readNpz } from './npz.js';
import { mnist } from './mnist.js';
import { subset, type Dataset } from './dataset.js';

export { mnist, type MnistSplit } from './mnist.js';
export { parseNpy, encodeNpy } from './npy.js';
export { readZip, type ZipEntry } from './zip.js';
export { readNpz, readNpyFile, datasetFromArrays } from './npz.js';
export { permutation, sampleSize, split, subset, type ArrayTensor, type Dataset, type NumericArray } from './dataset.js';

/**
 * Loads `spec`: 'mnist' (train and test splits), or an .npz with the model's inputs and 'label'
 * (train only; pass a second file as test data). `inputNames` are the model's data inputs.
 */
export function loadDataset(spec: string, inputNames: readonly string[]): { train: Dataset; test?: Dataset } {
  if (spec === 'mnist') return mnist();
  if (!existsSync(spec)) throw badInput(`no dataset '${spec}': give 'mnist' or a path to an .npz file with the model's inputs and 'label'`);
  if (spec.endsWith('.npy')) {
    throw badInput(
      `${spec}: a .npy file holds one array, but training needs features and labels; save both with numpy.savez(path, input=x, label=y)`,
    );
  }
  return { train: datasetFromArrays(readNpz(spec), inputNames, spec) };
}

/** The first `n` samples (MNIST's splits are pre-shuffled, so this stays class-balanced). */
export function firstSamples(ds: Dataset, n: number): Dataset {
  if (n >= ds.size) return ds;
  return subset(
    ds,
    Uint32Array.from({ length: n }, (_, i) => i),
  );
}
