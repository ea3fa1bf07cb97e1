/**
 * `hone data pack SRC -o DIR`: any data format `readArrays` takes, written as a Hone pack (shards.ts).
 * Arrays become tensor fields (one per array, its dtype and per-sample shape kept); an image folder's
 * files are stored encoded as they are (an `image` field, decoded when read for training, so a pack of
 * JPEGs stays the size of the JPEGs) with their class index in `label`, and the image size in the schema
 * when every image has the same one.
 *
 * The pack is written all or nothing: into a hidden folder beside DIR (or inside an existing empty or
 * forced DIR), renamed into place when complete; a crash or Ctrl-C leaves no index.json, so nothing
 * reads it as a pack.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { forEachLimited, imageHeader, isImageFolder, listImageFolder } from './readers.js';
import { readArrays, type ReadOptions } from './read.js';
import {
  dtypeOfArray,
  MANIFEST,
  SHARD_EXT,
  ShardWriter,
  preparePackDir,
  type FieldSpec,
  type RecordValues,
  type ShardManifest,
  type ShardSchema,
} from './shards.js';
import type { ArrayTensor } from './dataset.js';

export interface PackSource {
  schema: ShardSchema;
  size: number;
  description: string;
  /** Record i's values (the samples are read in order, 0..size-1). */
  record(i: number): Promise<RecordValues> | RecordValues;
}

/** The records of `spec`: an image folder as encoded files, anything else through readArrays. */
export async function packSource(spec: string, opts: ReadOptions = {}): Promise<PackSource> {
  if (existsSync(spec) && isImageFolder(spec)) return imageFolderSource(spec);
  const r = await readArrays(spec, opts);
  return arraysSource(r.arrays, r.source, r.classes);
}

export function arraysSource(arrays: Record<string, ArrayTensor>, description: string, classes?: string[]): PackSource {
  const names = Object.keys(arrays);
  if (names.length === 0) throw badInput(`${description} holds no arrays to pack`);
  const size = arrays[names[0]!]!.dims[0] ?? 0;
  for (const n of names)
    if (arrays[n]!.dims[0] !== size)
      throw badInput(
        `${description}: '${n}' has ${arrays[n]!.dims[0]} samples, '${names[0]}' ${size}; every array must have one row per sample`,
      );
  const fields: FieldSpec[] = names.map((name) => ({
    name,
    kind: 'tensor',
    dtype: dtypeOfArray(arrays[name]!.data),
    shape: arrays[name]!.dims.slice(1),
  }));
  const per = names.map((n) => arrays[n]!.dims.slice(1).reduce((a, b) => a * b, 1));
  return {
    schema: { fields, ...(classes ? { classes } : {}) },
    size,
    description,
    record: (i) =>
      Object.fromEntries(
        names.map((n, k) => [n, { data: arrays[n]!.data.subarray(i * per[k]!, (i + 1) * per[k]!), dims: arrays[n]!.dims.slice(1) }]),
      ),
  };
}

async function imageFolderSource(dir: string): Promise<PackSource> {
  const { classes, entries } = listImageFolder(dir);
  // The image size goes into the schema when every image shares it (headers only, 16 at a time), with the
  // channels decoding gives by default (grey 1, else 3: alpha is dropped).
  const sizes = new Set<string>();
  await forEachLimited(entries.length, 16, async (i) => {
    const path = entries[i]!.path;
    const h = await imageHeader(new Uint8Array(readFileSync(path)), path);
    sizes.add(`${h.width}x${h.height}x${h.grey ? 1 : 3}`);
  });
  const [w, h, c] = sizes.size === 1 ? [...sizes][0]!.split('x').map(Number) : [];
  const image: FieldSpec & Record<string, unknown> = { name: 'image', kind: 'image', ...(w ? { width: w, height: h, channels: c } : {}) };
  return {
    schema: { fields: [image, { name: 'label', kind: 'tensor', dtype: 'int64', shape: [] }], classes },
    size: entries.length,
    description: `${dir} (${entries.length} images, ${classes.length} classes${w ? `, ${w}×${h}` : ', mixed sizes'})`,
    record: (i) => {
      const e = entries[i]!;
      return { image: new Uint8Array(readFileSync(e.path)), label: { data: BigInt64Array.of(BigInt(e.label)), dims: [] } };
    },
  };
}

export interface PackOptions {
  force?: boolean;
  /** Bytes of records per shard (default 64 MiB). */
  shardBytes?: number;
  onProgress?: (done: number, total: number) => void;
  /** Checked between records: an aborted pack writes nothing. */
  signal?: AbortSignal;
}

/** Writes `src` as a pack in `dir`, all or nothing; undefined (nothing written) when `signal` aborted it. */
export async function packShards(src: PackSource, dir: string, opts: PackOptions = {}): Promise<ShardManifest | undefined> {
  const target = resolve(dir);
  preparePackDir(target, opts.force ?? false);
  // preparePackDir made the folder if it was missing; the pack is built in a hidden folder inside it.
  const tmp = mkdtempSync(join(target, '.hone-pack-'));
  try {
    const w = new ShardWriter(tmp, src.schema, { shardBytes: opts.shardBytes, source: src.description });
    for (let i = 0; i < src.size; i++) {
      if (opts.signal?.aborted) {
        w.abort();
        return undefined;
      }
      w.add(await src.record(i));
      if (opts.onProgress && (i % 1024 === 1023 || i === src.size - 1)) opts.onProgress(i + 1, src.size);
    }
    const manifest = w.close();
    // An old pack's files go first; the new shards come up, the manifest last.
    for (const f of readdirSync(target)) if (f.endsWith(SHARD_EXT) || f === MANIFEST) rmSync(join(target, f), { force: true });
    for (const f of readdirSync(tmp).sort((a, b) => Number(a === MANIFEST) - Number(b === MANIFEST)))
      renameSync(join(tmp, f), join(target, f));
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
