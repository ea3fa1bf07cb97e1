/**
 * One entry point for every data format a command accepts (`--data`, `--calib`, `hone data pack SRC`):
 * the built-in `mnist` (`mnist:test` for its test split), `.npy`, `.npz`, a folder of `.npy` files named
 * after the model's inputs, numeric CSV, JSON lines, MNIST IDX files, an image folder (one subfolder per
 * class) and a Hone pack (`hone data pack`). Each becomes named arrays, samples first; labels under `label`.
 * The commands then match the arrays to the model's inputs (train: data/index.ts, quantize and optimize:
 * quantize/data.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { badInput } from '../errors.js';
import type { ArrayTensor } from './dataset.js';
import { mnist } from './mnist.js';
import { readNpyFile, readNpz } from './npz.js';
import { type ImageDecodeOptions, isImageFolder, readCsv, readIdx, readIdxPair, readImageFolder, readJsonl } from './readers.js';
import { assembleRecords, packLayout } from './batch.js';
import { decodeRecord, isShardDir, ShardSet, type RecordValues } from './shards.js';

export interface ReadOptions {
  /** How images are decoded (image folders, packs of images): size, channels, fit. */
  image?: ImageDecodeOptions;
  /** The split of the built-in MNIST when the spec is plain `mnist`. */
  split?: 'train' | 'test';
  /** Keep the first N samples only (read no more than that where the format allows). */
  limit?: number;
  /** Skip records of a pack that fail their CRC32C instead of stopping (the count is returned). */
  skipCorrupt?: boolean;
}

export interface ReadResult {
  arrays: Record<string, ArrayTensor>;
  /** Where the data came from, for messages and reports. */
  source: string;
  /** Class names, index = label, when the data names them (image folders). */
  classes?: string[];
  /** Records of a pack skipped for a bad CRC32C (with `skipCorrupt`). */
  skipped?: number;
}

/** The formats `readArrays` takes, for error messages. */
export const DATA_FORMATS =
  "'mnist', an .npy/.npz file, a folder of .npy files, a .csv, a .jsonl, MNIST IDX files, an image folder (one subfolder per class) or a Hone pack (hone data pack)";

export async function readArrays(spec: string, opts: ReadOptions = {}): Promise<ReadResult> {
  if (spec === 'mnist' || spec === 'mnist:train' || spec === 'mnist:test') {
    const split = spec === 'mnist' ? (opts.split ?? 'train') : (spec.slice(6) as 'train' | 'test');
    const ds = mnist()[split];
    return limited({ arrays: { input: ds.features.input!, label: ds.labels }, source: `mnist (${split})` }, opts.limit);
  }
  if (!existsSync(spec)) throw badInput(`cannot read ${spec}: no such file or folder; give ${DATA_FORMATS}`);
  if (statSync(spec).isDirectory()) {
    if (isShardDir(spec)) return readPack(spec, opts);
    if (isImageFolder(spec)) {
      const { arrays, classes } = await readImageFolder(spec, opts.image);
      return limited({ arrays, source: spec, classes }, opts.limit);
    }
    const files = readdirSync(spec)
      .filter((f) => f.endsWith('.npy'))
      .sort();
    if (files.length === 0)
      throw badInput(`${spec} holds no .npy files, no image subfolders and no Hone pack (index.json); give ${DATA_FORMATS}`);
    return limited(
      { arrays: Object.fromEntries(files.map((f) => [basename(f, '.npy'), readNpyFile(join(spec, f))])), source: spec },
      opts.limit,
    );
  }
  const lower = spec.toLowerCase();
  let arrays: Record<string, ArrayTensor>;
  if (lower.endsWith('.npz')) arrays = readNpz(spec);
  else if (lower.endsWith('.npy')) arrays = { input: readNpyFile(spec) };
  else if (lower.endsWith('.csv') || lower.endsWith('.tsv')) arrays = readCsv(spec);
  else if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) arrays = readJsonl(spec);
  else if (/idx\d-ubyte(\.gz)?$/.test(lower)) arrays = readIdxFiles(spec);
  else throw badInput(`${spec}: unknown data format (by its extension); give ${DATA_FORMATS}`);
  return limited({ arrays, source: spec }, opts.limit);
}

/**
 * MNIST's IDX files: images `*-images-idx3-ubyte[.gz]` read with their labels file beside them
 * (`*-labels-idx1-ubyte[.gz]`); a labels file or any other IDX file alone gives one array, `input`.
 */
function readIdxFiles(spec: string): Record<string, ArrayTensor> {
  const name = basename(spec);
  if (/images-idx3-ubyte/.test(name)) {
    const dir = dirname(spec);
    const stem = name.replace(/images-idx3-ubyte(\.gz)?$/, 'labels-idx1-ubyte');
    const labels = [stem, `${stem}.gz`].map((f) => join(dir, f)).find((f) => existsSync(f));
    if (labels) return readIdxPair(spec, labels);
  }
  return { input: readIdx(spec, { scale: true }) };
}

function limited(r: ReadResult, limit: number | undefined): ReadResult {
  if (limit === undefined) return r;
  const arrays: Record<string, ArrayTensor> = {};
  for (const [k, t] of Object.entries(r.arrays)) {
    if ((t.dims[0] ?? 0) <= limit) arrays[k] = t;
    else {
      const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
      arrays[k] = { data: t.data.slice(0, limit * per), dims: [limit, ...t.dims.slice(1)] };
    }
  }
  return { ...r, arrays };
}

/**
 * A pack read whole into arrays, as the loader assembles a batch (batch.ts): tensor fields of fixed shape
 * stacked, image fields decoded (8 at a time) into `input` (or the field's name when there are several),
 * the label field under its name. For data too big for memory, the loader reads packs record by record.
 */
async function readPack(dir: string, opts: ReadOptions): Promise<ReadResult> {
  const set = new ShardSet(dir);
  try {
    const n = Math.min(set.size, opts.limit ?? Infinity);
    for (const f of set.schema.fields)
      if (f.kind === 'tensor' && f.shape.includes(-1))
        throw badInput(`${dir}: field '${f.name}' has a variable shape [${f.shape}], which arrays cannot hold; read it with the loader`);
    const layout = packLayout(set.schema, { kind: 'pack', dir });
    const records: RecordValues[] = [];
    let skipped = 0;
    for (let i = 0; i < set.size && records.length < n; i++) {
      const b = set.recordBytes(i, opts.skipCorrupt);
      if (b === null) skipped++;
      else records.push(decodeRecord(set.schema, b));
    }
    const { features, labels } = await assembleRecords(records, layout, { dir, ...(opts.image ? { image: opts.image } : {}) });
    return {
      arrays: { ...features, ...(labels && layout.label ? { [layout.label.name]: labels } : {}) },
      source: dir,
      ...(set.schema.classes ? { classes: set.schema.classes } : {}),
      ...(skipped ? { skipped } : {}),
    };
  } finally {
    set.close();
  }
}
