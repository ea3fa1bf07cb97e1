/**
 * The data loader: batches built in worker threads (decoding, augmentation) while the caller trains, in
 * the same order and with the same contents whatever the number of workers.
 *
 * - **Order** is decided on the calling thread, per epoch: a full seeded shuffle (the trainer's own
 *   permutation, so training through the loader without augmentation repeats training without it), none,
 *   or a shuffle buffer over the records in storage order (shards in a seeded order), for data read from
 *   disk with little seeking. With several training processes, process `rank` of `world` takes every
 *   world-th sample of the epoch's order (all of them the same length).
 * - **Work** goes to workers as batch jobs, at most `prefetch` per worker in flight: a consumer that stops
 *   reading stops the loading (back-pressure). Results come back with their buffers transferred, and are
 *   handed out in batch order. A batch's augmentation draws from a seed made of (seed, epoch, batch index),
 *   so which worker built it does not matter.
 * - **Arrays** are moved into SharedArrayBuffers once, so the workers read them without a copy each.
 * - **Failure and shutdown**: a batch that fails (a corrupt record, an undecodable image) fails the epoch with
 *   its message; a worker that dies fails it with the exit code; `close()` ends every worker. An open loader's
 *   workers keep the process alive like any open handle: close it (the trainer does, however training ends).
 */
import type { Worker } from 'node:worker_threads';
import { badInput, HoneError } from '../errors.js';
import { mulberry32 } from '../util/random.js';
import { spawnWorker } from '../util/worker.js';
import { parseAugment, type AugmentSpec } from './augment.js';
import { BatchBuilder, type BatchJob, type BuiltBatch, type LoaderSource } from './batch.js';
import { permutation, type ArrayTensor, type NumericArray } from './dataset.js';

export type { LoaderSource } from './batch.js';

export type ShuffleMode = 'full' | 'none' | { buffer: number };

export interface LoaderOptions {
  batchSize: number;
  /** Seeds the order and the augmentation (default 0). */
  seed?: number;
  shuffle?: ShuffleMode;
  /** Leave out the last, smaller batch of an epoch (default false). */
  dropLast?: boolean;
  /** Worker threads (default 0: batches are built on the calling thread, between the caller's awaits). */
  workers?: number;
  /** Batches in flight per worker (default 2). */
  prefetch?: number;
  /** Augmentation (a spec such as "crop:pad=2,flip"), applied to the image input of every batch. */
  augment?: AugmentSpec | string;
  /** Classes, for mixup/cutmix with class-index labels. */
  classes?: number;
  /** This process's part of every epoch: rank of world (default 0 of 1). */
  rank?: number;
  world?: number;
}

export interface LoadedBatch extends BuiltBatch {
  epoch: number;
  /** The batch's place in its epoch. */
  index: number;
  /** The source's sample indices it holds, in order. */
  indices: Uint32Array;
}

export interface LoaderStats {
  batches: number;
  /** Time the consumer waited for a batch that was not ready (ms). */
  waitMs: number;
  /** Records left out for a bad CRC32C (skipCorrupt). */
  skipped: number;
}

interface Pending {
  resolve: (b: BuiltBatch) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

export class DataLoader {
  readonly stats: LoaderStats = { batches: 0, waitMs: 0, skipped: 0 };
  readonly size: number;
  private readonly augment?: AugmentSpec;
  private local?: BatchBuilder;
  private slots: Slot[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private failure?: Error;
  private closed = false;

  private constructor(
    readonly source: LoaderSource,
    readonly opts: LoaderOptions,
    /** Records in the source: every process's part together, and the few (< world) no part takes. */
    private readonly total: number,
    /** The first record of each shard of a pack ([0] for arrays), read once at open for the shuffle buffer. */
    private readonly shardStarts: number[],
  ) {
    this.augment = typeof opts.augment === 'string' ? parseAugment(opts.augment) : opts.augment;
    this.size = Math.floor(total / (opts.world ?? 1));
  }

  /** Opens `source` (a pack is checked here, before any worker starts) and starts the workers. */
  static async open(source: LoaderSource, opts: LoaderOptions): Promise<DataLoader> {
    const { batchSize, workers = 0, prefetch = 2, rank = 0, world = 1 } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw badInput(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(workers) || workers < 0) throw badInput(`loader workers must be a whole number ≥ 0, got ${workers}`);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw badInput(`prefetch must be a positive integer, got ${prefetch}`);
    if (!Number.isInteger(world) || world < 1 || !Number.isInteger(rank) || rank < 0 || rank >= world)
      throw badInput(`rank ${rank} of ${world} processes: the rank must be 0..world-1`);
    const shuffle = opts.shuffle ?? 'full';
    if (typeof shuffle === 'object' && !(Number.isInteger(shuffle.buffer) && shuffle.buffer >= 1))
      throw badInput(`the shuffle buffer must hold at least 1 record, got ${shuffle.buffer}`);
    const augment = typeof opts.augment === 'string' ? parseAugment(opts.augment) : opts.augment;
    // Built here even with workers: it checks the source (a pack's manifest and layout) on this thread,
    // so a bad source fails before any worker starts, and it serves the size.
    const probe = new BatchBuilder(source, augment, opts.classes);
    const size = probe.size;
    const loader = new DataLoader(workers > 0 ? shareSource(source) : source, { ...opts, augment }, size, probe.shardStarts);
    if (workers === 0) loader.local = probe;
    else {
      probe.close();
      for (let k = 0; k < workers; k++) loader.slots.push({ worker: loader.startWorker(k), inFlight: 0 });
    }
    return loader;
  }

  /** Batches per epoch for this process. */
  get batchesPerEpoch(): number {
    return this.opts.dropLast ? Math.floor(this.size / this.opts.batchSize) : Math.ceil(this.size / this.opts.batchSize);
  }

  /** This process's samples of epoch `epoch`, in the order they are served. */
  order(epoch: number): Uint32Array {
    // Every record is shuffled in; with several processes the epoch's first size·world go round them, so the
    // few left over differ from epoch to epoch instead of always the same ones.
    const total = this.total;
    const seed = this.opts.seed ?? 0;
    const shuffle = this.opts.shuffle ?? 'full';
    let all: Uint32Array;
    if (shuffle === 'full') all = permutation(total, seed * 1_000_003 + epoch);
    else if (shuffle === 'none') all = Uint32Array.from({ length: total }, (_, i) => i);
    else all = bufferShuffle(total, shuffle.buffer, this.shardStarts, seed * 1_000_003 + epoch);
    const world = this.opts.world ?? 1;
    if (world === 1) return all;
    const rank = this.opts.rank ?? 0;
    return Uint32Array.from({ length: this.size }, (_, i) => all[i * world + rank]!);
  }

  /**
   * The batches of one epoch, in order. With workers, the first batches are requested at once (before the
   * first `next()`), so they load while the caller still sets up. Breaking out of the loop drops what was
   * still loading.
   */
  epoch(epoch: number): AsyncGenerator<LoadedBatch> {
    if (this.closed) throw new HoneError('the data loader is closed', 1);
    const order = this.order(epoch);
    const bs = this.opts.batchSize;
    const count = this.batchesPerEpoch;
    const seed = this.opts.seed ?? 0;
    const job = (index: number): BatchJob => ({
      epoch,
      index,
      indices: order.slice(index * bs, Math.min(order.length, (index + 1) * bs)),
      seed,
    });
    if (this.local) return this.serveLocal(count, job);
    const state = { jobs: [] as BatchJob[], ahead: [] as Promise<BuiltBatch>[], sent: 0, count, job };
    this.fill(state, 0);
    return this.serve(state);
  }

  private async *serveLocal(count: number, job: (i: number) => BatchJob): AsyncGenerator<LoadedBatch> {
    for (let i = 0; i < count; i++) {
      const j = job(i);
      const t0 = performance.now();
      const b = await this.local!.build(j);
      this.stats.waitMs += performance.now() - t0;
      yield this.deliver(b, j);
    }
  }

  /** Requests batches up to `depth` ahead of batch `i`. */
  private fill(
    st: { jobs: BatchJob[]; ahead: Promise<BuiltBatch>[]; sent: number; count: number; job: (i: number) => BatchJob },
    i: number,
  ): void {
    const depth = this.slots.length * (this.opts.prefetch ?? 2);
    while (st.sent < st.count && st.sent < i + depth) {
      const j = st.job(st.sent);
      st.jobs[st.sent] = j;
      const p = this.dispatch(j);
      // A rejection is observed when its batch is awaited; until then it must not count as unhandled.
      p.catch(() => {});
      st.ahead[st.sent] = p;
      st.sent++;
    }
  }

  private async *serve(st: {
    jobs: BatchJob[];
    ahead: Promise<BuiltBatch>[];
    sent: number;
    count: number;
    job: (i: number) => BatchJob;
  }): AsyncGenerator<LoadedBatch> {
    try {
      for (let i = 0; i < st.count; i++) {
        this.fill(st, i);
        const t0 = performance.now();
        const b = await st.ahead[i]!;
        this.stats.waitMs += performance.now() - t0;
        delete st.ahead[i];
        const j = st.jobs[i]!;
        delete st.jobs[i];
        yield this.deliver(b, j);
      }
    } finally {
      // Abandoned jobs finish in their workers; their results are dropped.
      this.pending.clear();
      for (const s of this.slots) s.inFlight = 0;
    }
  }

  /**
   * Hands a served batch's buffers back for reuse once the caller is done with it (the trainer, after copying
   * it into the step's feeds): building into recycled buffers spares a large allocation per batch (a batch of
   * 64 RGB 224×224 images is 38 MB, and a fresh one cost the JPEG pipeline a fifth of its speed). Optional;
   * the batch must not be read afterwards.
   */
  recycle(batch: LoadedBatch): void {
    const buffers = [...Object.values(batch.features), ...(batch.labels ? [batch.labels] : [])]
      .map((t) => t.data.buffer)
      .filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && b.byteLength > 0);
    if (this.closed || buffers.length === 0) return;
    if (this.local) this.local.recycle(buffers);
    else {
      const slot = this.slots[batch.worker ?? 0];
      slot?.worker.postMessage({ recycle: buffers }, buffers);
    }
  }

  /** Ends the workers and closes the source's files. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.local?.close();
    const fail = new HoneError('the data loader was closed while loading', 1);
    for (const p of this.pending.values()) p.reject(fail);
    this.pending.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }

  private deliver(b: BuiltBatch, j: BatchJob): LoadedBatch {
    this.stats.batches++;
    this.stats.skipped += b.skipped;
    return { ...b, epoch: j.epoch, index: j.index, indices: j.indices };
  }

  private startWorker(k: number): Worker {
    const w = spawnWorker(import.meta.url, 'loader-worker', { source: this.source, augment: this.augment, classes: this.opts.classes });
    w.on('message', (msg: { id: number; batch?: BuiltBatch; error?: string; user?: boolean }) => {
      if (msg.id === -1) {
        this.fail(msg.user ? badInput(msg.error!) : new HoneError(`data loader worker ${k} could not start: ${msg.error}`, 1));
        return;
      }
      const slot = this.slots[k];
      if (slot && slot.inFlight > 0) slot.inFlight--;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(msg.user ? badInput(msg.error) : new HoneError(`data loader worker ${k}: ${msg.error}`, 1));
      else p.resolve({ ...msg.batch!, worker: k });
    });
    w.on('error', (e) => this.fail(new HoneError(`data loader worker ${k} failed: ${e.message}`, 1, { cause: e })));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(new HoneError(`data loader worker ${k} exited (code ${code}) while the loader was open`, 1));
    });
    return w;
  }

  private dispatch(job: BatchJob): Promise<BuiltBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new HoneError('the data loader is closed', 1));
    // The least busy worker; ties go to the lowest number.
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const k = this.slots.indexOf(slot);
    const id = this.nextId++;
    return new Promise<BuiltBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.inFlight++;
      this.slots[k]!.worker.postMessage({ id, job });
    });
  }

  private fail(e: Error): void {
    if (this.failure || this.closed) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const s of this.slots) {
      s.inFlight = 0;
      void s.worker.terminate();
    }
  }
}

/**
 * A shuffle buffer over storage order (tf.data's shuffle): shards visited in a seeded order, each read
 * front to back into a buffer of `size` records, from which a seeded random one is served at a time.
 */
export function bufferShuffle(total: number, size: number, starts: number[], seed: number): Uint32Array {
  const rnd = mulberry32(seed);
  const shardOrder = permutation(starts.length, seed ^ 0x5bd1e995);
  const out = new Uint32Array(total);
  const buf: number[] = [];
  let o = 0;
  for (const k of shardOrder) {
    const end = k + 1 < starts.length ? starts[k + 1]! : total;
    for (let i = starts[k]!; i < end; i++) {
      if (buf.length < size) buf.push(i);
      else {
        const j = Math.floor(rnd() * size);
        out[o++] = buf[j]!;
        buf[j] = i;
      }
    }
  }
  while (buf.length) {
    const j = Math.floor(rnd() * buf.length);
    out[o++] = buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
  }
  return out;
}

/** Arrays copied once into SharedArrayBuffers, so every worker reads the same memory. */
function shareSource(source: LoaderSource): LoaderSource {
  if (source.kind !== 'arrays') return source;
  const share = (t: ArrayTensor): ArrayTensor => {
    if (t.data.buffer instanceof SharedArrayBuffer) return t;
    const Ctor = t.data.constructor as new (b: SharedArrayBuffer, o?: number, n?: number) => NumericArray;
    const sab = new SharedArrayBuffer(t.data.byteLength);
    const data = new Ctor(sab, 0, t.data.length);
    (data as Float32Array).set(t.data as Float32Array);
    return { data, dims: t.dims };
  };
  return {
    kind: 'arrays',
    features: Object.fromEntries(Object.entries(source.features).map(([k, t]) => [k, share(t)])),
    ...(source.labels ? { labels: share(source.labels) } : {}),
  };
}
