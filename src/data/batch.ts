/**
 * Building one batch from a source: the part of the loader that runs in its worker threads (and on the main
 * thread with `workers: 0`). A source is arrays in memory (shared with the workers, not copied) or a pack
 * read record by record with positioned reads; images are decoded with sharp, then the batch is augmented.
 * A batch is a pure function of (source, indices, augmentation, seed): which thread builds it changes nothing.
 */
import { badInput } from '../errors.js';
import { applyAugment, type AugmentSpec } from './augment.js';
import { sampleSize, takeSamples, type ArrayTensor } from './dataset.js';
import { decodeImages, type ImageDecodeOptions } from './readers.js';
import { decodeRecord, newArray, ShardSet, type FieldSpec, type RecordValues, type ShardSchema } from './shards.js';

/** What a loader reads. Arrays are moved into SharedArrayBuffers once when the loader has workers. */
export type LoaderSource =
  | { kind: 'arrays'; features: Record<string, ArrayTensor>; labels?: ArrayTensor }
  | {
      kind: 'pack';
      dir: string;
      /** Feature name → field; default: every tensor field but the label under its own name, the image field as 'input'. */
      inputs?: Record<string, string>;
      /** The label field (default 'label' when the pack has one). */
      label?: string;
      image?: ImageDecodeOptions;
      /** Leave out records that fail their CRC32C (the batch comes out smaller) instead of failing. */
      skipCorrupt?: boolean;
    };

export interface BatchJob {
  epoch: number;
  index: number;
  indices: Uint32Array;
  seed: number;
}

export interface BuiltBatch {
  features: Record<string, ArrayTensor>;
  labels?: ArrayTensor;
  /** Records left out for a bad CRC32C. */
  skipped: number;
  /** The loader worker that built it (DataLoader.recycle hands its buffers back there). */
  worker?: number;
}

/** A batch's augmentation seed from the run's seed, the epoch and the batch's place in it. */
export function batchSeed(seed: number, epoch: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [epoch, index]) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** The features and label of a pack, resolved from its schema once per reader. */
export interface PackLayout {
  inputs: [string, FieldSpec][];
  label?: FieldSpec & { kind: 'tensor' };
}

export function packLayout(schema: ShardSchema, src: Extract<LoaderSource, { kind: 'pack' }>): PackLayout {
  const byName = new Map(schema.fields.map((f) => [f.name, f]));
  const labelName = src.label ?? (byName.has('label') ? 'label' : undefined);
  const label = labelName === undefined ? undefined : byName.get(labelName);
  if (labelName !== undefined && !label)
    throw badInput(`${src.dir} has no field '${labelName}' (fields: ${[...byName.keys()].join(', ')})`);
  if (label && label.kind !== 'tensor') throw badInput(`${src.dir}: the label field '${labelName}' is ${label.kind}, not a tensor`);
  let inputs: [string, FieldSpec][];
  if (src.inputs) {
    inputs = Object.entries(src.inputs).map(([name, field]) => {
      const f = byName.get(field);
      if (!f) throw badInput(`${src.dir} has no field '${field}' for input '${name}' (fields: ${[...byName.keys()].join(', ')})`);
      return [name, f];
    });
  } else {
    const images = schema.fields.filter((f) => f.kind === 'image');
    inputs = schema.fields
      .filter((f) => f !== label && f.kind !== 'bytes')
      .map((f) => [f.kind === 'image' && images.length === 1 ? 'input' : f.name, f]);
  }
  for (const [name, f] of inputs) {
    if (f.kind === 'bytes') throw badInput(`${src.dir}: field '${f.name}' (for '${name}') holds raw bytes, which a model cannot take`);
    if (f.kind === 'tensor' && f.shape.includes(-1))
      throw badInput(`${src.dir}: field '${f.name}' has a variable shape [${f.shape}]; a batch needs one shape per field`);
  }
  return { inputs, ...(label ? { label: label as FieldSpec & { kind: 'tensor' } } : {}) };
}

/** Opened sources of one thread: the pack's shards stay open between batches. */
export class BatchBuilder {
  private set?: ShardSet;
  private layout?: PackLayout;
  /** Buffers of consumed batches handed back (DataLoader.recycle), by byte length, reused for new batches. */
  private readonly pool = new Map<number, ArrayBuffer[]>();

  constructor(
    readonly source: LoaderSource,
    readonly augment: AugmentSpec | undefined,
    readonly classes: number | undefined,
  ) {
    if (source.kind === 'pack') {
      this.set = new ShardSet(source.dir);
      this.layout = packLayout(this.set.schema, source);
    }
  }

  /** The first record of each shard of a pack ([0] for arrays): where a shuffle buffer reads in storage order. */
  get shardStarts(): number[] {
    return this.set?.starts ?? [0];
  }

  get size(): number {
    if (this.source.kind === 'pack') return this.set!.size;
    const first = Object.values(this.source.features)[0] ?? this.source.labels;
    return first?.dims[0] ?? 0;
  }

  async build(job: BatchJob): Promise<BuiltBatch> {
    const b = this.source.kind === 'arrays' ? this.gather(this.source, job.indices) : await this.read(job.indices);
    if (this.augment?.steps.length) this.applyAugment(b, batchSeed(job.seed, job.epoch, job.index));
    return b;
  }

  close(): void {
    this.set?.close();
  }

  /** Takes buffers back for reuse (at most a few per size: a consumer that holds batches longer gets new ones). */
  recycle(buffers: ArrayBuffer[]): void {
    for (const b of buffers) {
      const list = this.pool.get(b.byteLength) ?? [];
      if (list.length < 8) list.push(b);
      this.pool.set(b.byteLength, list);
    }
  }

  /** A float32 array of n elements, on a recycled buffer when one of that size is free (its old contents are overwritten by the caller). */
  private floats(n: number): Float32Array {
    const b = this.pool.get(n * 4)?.pop();
    return b ? new Float32Array(b) : new Float32Array(n);
  }

  private gather(src: Extract<LoaderSource, { kind: 'arrays' }>, idx: Uint32Array): BuiltBatch {
    // Float arrays go into recycled buffers when there are any.
    const take = (t: ArrayTensor) =>
      takeSamples(t, idx, t.data instanceof Float32Array ? this.floats(idx.length * sampleSize(t)) : undefined);
    return {
      features: Object.fromEntries(Object.entries(src.features).map(([k, t]) => [k, take(t)])),
      ...(src.labels ? { labels: take(src.labels) } : {}),
      skipped: 0,
    };
  }

  private async read(idx: Uint32Array): Promise<BuiltBatch> {
    const src = this.source as Extract<LoaderSource, { kind: 'pack' }>;
    const set = this.set!;
    const records: RecordValues[] = [];
    let skipped = 0;
    for (const i of idx) {
      const bytes = set.recordBytes(i, src.skipCorrupt);
      if (bytes === null) skipped++;
      else records.push(decodeRecord(set.schema, bytes));
    }
    return { ...(await assembleRecords(records, this.layout!, src, (k) => this.floats(k))), skipped };
  }

  /** Augments the batch's image input (the only feature, or 'input') and mixes the labels when asked. */
  private applyAugment(b: BuiltBatch, seed: number): void {
    const names = Object.keys(b.features);
    const name = names.length === 1 ? names[0]! : names.includes('input') ? 'input' : undefined;
    const t = name === undefined ? undefined : b.features[name];
    if (!t || !(t.data instanceof Float32Array))
      throw badInput(`--augment needs one float input to augment (or one named 'input'); this data has ${names.join(', ') || 'none'}`);
    const spatial = this.augment!.steps.some((s) => !['noise', 'normalize', 'mixup'].includes(s.op));
    if (spatial && t.dims.length !== 4)
      throw badInput(
        `--augment's image steps need images [N, C, H, W]; the data's '${name}' is [${t.dims}]: reshape it, or keep to noise, normalize and mixup`,
      );
    const [n, c, h, w] = t.dims.length === 4 ? t.dims : [t.dims[0]!, 1, 1, t.dims.slice(1).reduce((a, x) => a * x, 1)];
    const labels = b.labels
      ? { data: b.labels.data as BigInt64Array | Float32Array, ...(this.classes !== undefined ? { classes: this.classes } : {}) }
      : { data: new Float32Array(0) };
    if (this.augment!.mixesLabels && !b.labels) throw badInput('mixup and cutmix mix labels, but this data has none');
    const out = applyAugment(this.augment!, { data: t.data, n: n!, c: c!, h: h!, w: w! }, labels, seed);
    if (b.labels && out.data !== b.labels.data) b.labels = { data: out.data, dims: [n!, out.data.length / n!] };
  }
}

/**
 * Decoded records of a pack as arrays, per its layout: tensor fields stacked, image fields decoded into one
 * [n, c, h, w] (through `alloc`), the label field as labels. The loader's batches and a pack read whole
 * (read.ts) are both this.
 */
export async function assembleRecords(
  records: readonly RecordValues[],
  layout: PackLayout,
  src: Pick<Extract<LoaderSource, { kind: 'pack' }>, 'dir' | 'image'>,
  alloc?: (length: number) => Float32Array,
): Promise<{ features: Record<string, ArrayTensor>; labels?: ArrayTensor }> {
  const features: Record<string, ArrayTensor> = {};
  for (const [name, f] of layout.inputs) {
    features[name] =
      f.kind === 'tensor'
        ? stack(
            records.map((r) => r[f.name] as ArrayTensor),
            f.dtype,
            f.shape,
          )
        : await decodeImages(
            records.map((r) => r[f.name] as Uint8Array),
            src.image ?? {},
            `${src.dir} field '${f.name}'`,
            alloc,
          );
  }
  const { label } = layout;
  return {
    features,
    ...(label
      ? {
          labels: stack(
            records.map((r) => r[label.name] as ArrayTensor),
            label.dtype,
            label.shape,
          ),
        }
      : {}),
  };
}

function stack(values: ArrayTensor[], dtype: Parameters<typeof newArray>[0], shape: number[]): ArrayTensor {
  const per = shape.reduce((a, b) => a * b, 1);
  const out = newArray(dtype, values.length * per);
  values.forEach((v, i) => (out as Float32Array).set(v.data as Float32Array, i * per));
  return { data: out, dims: [values.length, ...shape] };
}
