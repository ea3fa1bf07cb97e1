/** Datasets: every format read.ts takes, Hone's packs (shards.ts), and the loader (loader.ts) that serves them in batches. */
import { existsSync } from 'node:fs';
import { badInput } from '../errors.js';
import { datasetFromArrays } from './npz.js';
import { DATA_FORMATS, readArrays, type ReadOptions } from './read.js';
import { mnist } from './mnist.js';
import { subset, type Dataset } from './dataset.js';

export { mnist, type MnistSplit } from './mnist.js';
export { parseNpy, encodeNpy } from './npy.js';
export { readZip, type ZipEntry } from './zip.js';
export { readNpz, readNpyFile, datasetFromArrays } from './npz.js';
export { readArrays, DATA_FORMATS, type ReadOptions, type ReadResult } from './read.js';
export {
  DataLoader,
  bufferShuffle,
  type LoaderOptions,
  type LoadedBatch,
  type LoaderSource,
  type LoaderStats,
  type ShuffleMode,
} from './loader.js';
export { parseAugment, formatAugment, applyAugment, type AugmentSpec } from './augment.js';
export {
  ShardSet,
  ShardWriter,
  verifyShards,
  readManifest,
  isShardDir,
  type ShardManifest,
  type ShardSchema,
  type FieldSpec,
} from './shards.js';
export { packShards, packSource, arraysSource, type PackSource } from './pack.js';
export { permutation, sampleSize, split, subset, type ArrayTensor, type Dataset, type NumericArray } from './dataset.js';

/**
 * Loads `spec` for training: any format read.ts takes (the built-in 'mnist' gives its train and test splits),
 * with the model's inputs and a 'label' array. `inputNames` are the model's data inputs.
 */
export async function loadDataset(
  spec: string,
  inputNames: readonly string[],
  opts: ReadOptions = {},
): Promise<{ train: Dataset; test?: Dataset }> {
  if (spec === 'mnist') return mnist();
  if (spec !== 'mnist:train' && spec !== 'mnist:test' && !existsSync(spec)) throw badInput(`no dataset '${spec}': give ${DATA_FORMATS}`);
  const r = await readArrays(spec, opts);
  if (!['label', 'labels', 'y'].some((k) => k in r.arrays) && (spec.endsWith('.npy') || /idx\d-ubyte/.test(spec)))
    throw badInput(
      `${spec}: holds features only, but training needs features and labels; save both with numpy.savez(path, input=x, label=y)${/idx/.test(spec) ? ', or put the labels IDX file beside it' : ''}`,
    );
  return { train: datasetFromArrays(r.arrays, inputNames, r.source), ...(r.skipped ? { skipped: r.skipped } : {}) };
}

/** The first `n` samples (MNIST's splits are pre-shuffled, so this stays class-balanced). */
export function firstSamples(ds: Dataset, n: number): Dataset {
  if (n >= ds.size) return ds;
  return subset(
    ds,
    Uint32Array.from({ length: n }, (_, i) => i),
  );
}
