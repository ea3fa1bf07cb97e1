import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoneError } from '../../src/errors.js';
import { permutation, type ArrayTensor } from '../../src/data/dataset.js';
import { bufferShuffle, DataLoader, type LoadedBatch, type LoaderOptions, type LoaderSource } from '../../src/data/loader.js';
import { arraysSource, packShards } from '../../src/data/pack.js';
import { readManifest, ShardSet } from '../../src/data/shards.js';

const N = 103;
/** Sample i's pixels are i*100 + position, so every value names its sample. */
const images: ArrayTensor = {
  data: Float32Array.from({ length: N * 2 * 4 * 4 }, (_, k) => Math.floor(k / 32) * 100 + (k % 32)),
  dims: [N, 2, 4, 4],
};
const labels: ArrayTensor = { data: BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 7)), dims: [N] };
const arrays: LoaderSource = { kind: 'arrays', features: { input: images }, labels };

async function collect(source: LoaderSource, opts: LoaderOptions, epoch = 0): Promise<LoadedBatch[]> {
  const l = await DataLoader.open(source, opts);
  try {
    const out: LoadedBatch[] = [];
    for await (const b of l.epoch(epoch)) out.push(b);
    return out;
  } finally {
    await l.close();
  }
}

const sampleOf = (b: LoadedBatch, i: number) => (b.features.input!.data as Float32Array)[i * 32]! / 100;

test('the loader serves the trainer’s seeded order, whole batches and the last partial one (or drops it)', async () => {
  const bs = await collect(arrays, { batchSize: 10, seed: 3 }, 2);
  assert.equal(bs.length, 11);
  assert.equal(bs[10]!.indices.length, 3);
  const order = permutation(N, 3 * 1_000_003 + 2);
  assert.deepEqual(
    bs.flatMap((b) => Array.from(b.indices)),
    Array.from(order),
  );
  for (const b of bs)
    b.indices.forEach((idx, i) => {
      assert.equal(sampleOf(b, i), idx);
      assert.equal((b.labels!.data as BigInt64Array)[i], BigInt(idx % 7));
    });
  assert.equal((await collect(arrays, { batchSize: 10, dropLast: true })).length, 10);
  const none = await collect(arrays, { batchSize: 50, shuffle: 'none' });
  assert.deepEqual(Array.from(none[0]!.indices.slice(0, 5)), [0, 1, 2, 3, 4]);
});

test('the same batches, bit for bit, with 0, 1 and 3 workers, augmentation included', async () => {
  const opts = { batchSize: 16, seed: 5, augment: 'crop:pad=1,flip,cutout:size=2,noise:std=0.1' };
  const runs = [];
  for (const workers of [0, 1, 3]) runs.push(await collect(arrays, { ...opts, workers, prefetch: 2 }, 1));
  const bytes = (bs: LoadedBatch[]) =>
    bs.map((b) => Buffer.from((b.features.input!.data as Float32Array).buffer).toString('base64')).join('|');
  assert.equal(bytes(runs[1]!), bytes(runs[0]!));
  assert.equal(bytes(runs[2]!), bytes(runs[0]!));
  // The augmentation did something, and differs between epochs.
  const plain = await collect(arrays, { batchSize: 16, seed: 5 }, 1);
  assert.notEqual(bytes(runs[0]!), bytes(plain));
  const other = await collect(arrays, { ...opts, workers: 1 }, 2);
  assert.notEqual(bytes(other), bytes(runs[0]!));
});

test('process sharding: ranks split every epoch into equal, disjoint parts of the same order', async () => {
  const world = 3;
  const parts = [];
  for (let rank = 0; rank < world; rank++)
    parts.push((await collect(arrays, { batchSize: 8, seed: 1, rank, world, workers: rank % 2 })).flatMap((b) => Array.from(b.indices)));
  for (const p of parts) assert.equal(p.length, Math.floor(N / world));
  const all = parts.flat();
  assert.equal(new Set(all).size, all.length);
  await assert.rejects(() => DataLoader.open(arrays, { batchSize: 8, rank: 3, world: 3 }), /rank 3 of 3/);
});

test('a shuffle buffer visits every record once, keeps storage locality, and is seeded', () => {
  const starts = [0, 40, 80];
  const a = bufferShuffle(100, 8, starts, 11);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.deepEqual(bufferShuffle(100, 8, starts, 11), a);
  assert.notDeepEqual(bufferShuffle(100, 8, starts, 12), a);
  // Every served record was at most buffer-size records ahead of the read position in its shard order.
  assert.ok(a.some((v, i) => v !== i));
});

test('a pack is read record by record in workers, the same as from arrays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-loader-'));
  await packShards(arraysSource({ input: images, label: labels }, 'test'), dir, { shardBytes: 1024 });
  assert.ok(readManifest(dir).shards.length > 3);
  const pack: LoaderSource = { kind: 'pack', dir };
  const fromPack = await collect(pack, { batchSize: 12, seed: 2, workers: 2, augment: 'flip' });
  const fromArrays = await collect(arrays, { batchSize: 12, seed: 2, augment: 'flip' });
  assert.deepEqual(
    fromPack.map((b) => Array.from(b.features.input!.data as Float32Array)),
    fromArrays.map((b) => Array.from(b.features.input!.data as Float32Array)),
  );
  assert.deepEqual(
    fromPack.map((b) => Array.from(b.labels!.data as BigInt64Array)),
    fromArrays.map((b) => Array.from(b.labels!.data as BigInt64Array)),
  );
  const buffered = await collect(pack, { batchSize: 12, seed: 2, shuffle: { buffer: 16 } });
  assert.equal(new Set(buffered.flatMap((b) => Array.from(b.indices))).size, N);
});

test('a corrupt record fails the epoch with its shard and record named, from a worker; --skip-corrupt leaves it out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-loader-'));
  await packShards(arraysSource({ input: images, label: labels }, 'test'), dir, { shardBytes: 1 << 20 });
  const set = new ShardSet(dir);
  const off = set.shard(0).offsets[40]!;
  set.close();
  const file = join(dir, 'shard-00000.hshard');
  const bytes = readFileSync(file);
  bytes[off + 5] = bytes[off + 5]! ^ 0x55;
  writeFileSync(file, bytes);
  await assert.rejects(
    () => collect({ kind: 'pack', dir }, { batchSize: 10, workers: 2 }),
    (e: unknown) => e instanceof HoneError && e.exitCode === 2 && /shard-00000\.hshard record 40 .*CRC32C/.test(e.message),
  );
  const l = await DataLoader.open({ kind: 'pack', dir, skipCorrupt: true }, { batchSize: 10, workers: 1 });
  let served = 0;
  for await (const b of l.epoch(0)) served += b.indices.length - b.skipped;
  assert.equal(l.stats.skipped, 1);
  assert.equal(served, N - 1);
  await l.close();
});

test('a worker that dies fails the epoch loudly instead of hanging; close ends every worker', async () => {
  const l = await DataLoader.open(arrays, { batchSize: 4, workers: 2 });
  const it = l.epoch(0);
  assert.ok(!(await it.next()).done);
  // Kill one worker from outside, as a crash would.
  const slots = (l as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots;
  await slots[0]!.worker.terminate();
  await assert.rejects(async () => {
    for (let i = 0; i < 30; i++) await it.next();
  }, /data loader worker 0 exited/);
  await l.close();
  await l.close();
  await assert.rejects(async () => l.epoch(0).next(), /closed/);
});

test('breaking out of an epoch stops the loading; the next epoch starts clean (back-pressure, no leaks)', async () => {
  const l = await DataLoader.open(arrays, { batchSize: 4, workers: 2, prefetch: 1 });
  let n = 0;
  for await (const _ of l.epoch(0)) if (++n === 3) break;
  assert.equal(n, 3);
  // At most workers × prefetch batches were requested ahead of the consumer.
  const full = [];
  for await (const b of l.epoch(1)) full.push(b.index);
  assert.deepEqual(
    full,
    Array.from({ length: Math.ceil(N / 4) }, (_, i) => i),
  );
  await l.close();
});

test('bad loader settings are refused before any work', async () => {
  await assert.rejects(() => DataLoader.open(arrays, { batchSize: 0 }), /batch size must be a positive integer/);
  await assert.rejects(() => DataLoader.open(arrays, { batchSize: 4, workers: -1 }), /workers/);
  await assert.rejects(() => DataLoader.open(arrays, { batchSize: 4, shuffle: { buffer: 0 } }), /shuffle buffer/);
  await assert.rejects(() => DataLoader.open(arrays, { batchSize: 4, augment: 'spin' }), /spin/);
  const flat: LoaderSource = { kind: 'arrays', features: { input: { data: new Float32Array(N * 5), dims: [N, 5] } }, labels };
  await assert.rejects(() => collect(flat, { batchSize: 4, augment: 'flip' }), /image steps need images \[N, C, H, W\]/);
  assert.equal((await collect(flat, { batchSize: 4, augment: 'noise:std=0.1' })).length, Math.ceil(N / 4));
  await assert.rejects(
    () => DataLoader.open({ kind: 'pack', dir: join(tmpdir(), 'no-such-pack-here') }, { batchSize: 4 }),
    /no index\.json/,
  );
});

test('recycled buffers carry no stale data: the same batches with and without recycle, on the thread and in workers', async () => {
  const opts = { batchSize: 16, seed: 9, augment: 'crop:pad=1,cutout:size=2' };
  const bytes = (bs: Float32Array[]) => bs.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64')).join('|');
  const plain = (await collect(arrays, opts, 3)).map((b) => b.features.input!.data as Float32Array);
  for (const workers of [0, 2]) {
    const l = await DataLoader.open(arrays, { ...opts, workers });
    const copies: Float32Array[] = [];
    for (const epoch of [1, 3]) {
      copies.length = 0;
      for await (const b of l.epoch(epoch)) {
        copies.push(Float32Array.from(b.features.input!.data as Float32Array));
        l.recycle(b);
      }
    }
    await l.close();
    assert.equal(bytes(copies), bytes(plain), `workers ${workers}`);
  }
});
