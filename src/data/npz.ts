/**
 * Loading datasets from .npz/.npy: features under the model's input names (or 'input', or 'x'), labels
 * under 'label' (or 'labels', 'y'). A .npy file holds features only, so it needs a labels file beside it.
 */
import { readFileSync } from 'node:fs';
import { badInput } from '../errors.js';
import type { ArrayTensor, Dataset } from './dataset.js';
import { parseNpy } from './npy.js';
import { readZip } from './zip.js';

export function readNpz(path: string): Record<string, ArrayTensor> {
  const bytes = readBytes(path);
  const out: Record<string, ArrayTensor> = {};
  for (const e of readZip(bytes, path)) {
    if (!e.name.endsWith('.npy')) continue;
    const key = e.name.slice(0, -4);
    out[key] = parseNpy(e.read(), `${path}:${e.name}`);
  }
  return out;
}

export function readNpyFile(path: string): ArrayTensor {
  return parseNpy(readBytes(path), path);
}

function readBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badInput(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}; check the --data path`);
  }
}

/** A dataset from an .npz archive, matched to the model's input names. */
export function datasetFromArrays(arrays: Record<string, ArrayTensor>, inputNames: readonly string[], what: string): Dataset {
  const labelKey = ['label', 'labels', 'y'].find((k) => k in arrays);
  if (!labelKey) throw badInput(`${what} has no 'label' array (found: ${Object.keys(arrays).join(', ')}); save labels as label=...`);
  const features: Record<string, ArrayTensor> = {};
  for (const name of inputNames) {
    const key = name in arrays ? name : inputNames.length === 1 ? ['input', 'x', 'data'].find((k) => k in arrays) : undefined;
    if (!key)
      throw badInput(`${what} has no array for model input '${name}' (found: ${Object.keys(arrays).join(', ')}); name it after the input`);
    features[name] = arrays[key]!;
  }
  const labels = arrays[labelKey]!;
  const size = labels.dims[0] ?? 0;
  for (const [name, t] of Object.entries(features)) {
    if (t.dims[0] !== size) throw badInput(`${what}: '${name}' has ${t.dims[0]} samples but the labels have ${size}; they must match`);
  }
  return { features, labels, size };
}
