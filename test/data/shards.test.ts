import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { HoneError } from '../../src/errors.js';
import { mulberry32 } from '../../src/util/random.js';
import {
  decodeRecord,
  encodeRecord,
  MANIFEST,
  readManifest,
  ShardSet,
  ShardWriter,
  verifyShards,
  type RecordValues,
  type ShardSchema,
} from '../../src/data/shards.js';
import { arraysSource, packShards } from '../../src/data/pack.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'hone-shards-'));

const schema: ShardSchema = {
  fields: [
    { name: 'input', kind: 'tensor', dtype: 'float32', shape: [2, 3] },
    { name: 'tokens', kind: 'tensor', dtype: 'int64', shape: [-1] },
    { name: 'image', kind: 'image' },
    { name: 'label', kind: 'tensor', dtype: 'int64', shape: [] },
  ],
};

function record(i: number): RecordValues {
  const rnd = mulberry32(i + 1);
  const n = Math.floor(rnd() * 7);
  return {
    input: { data: Float32Array.from({ length: 6 }, () => rnd() * 2 - 1), dims: [2, 3] },
    tokens: { data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k * 1_000_000_007 - i)), dims: [n] },
    image: Uint8Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)),
    label: { data: BigInt64Array.of(BigInt(i % 10)), dims: [] },
  };
}

function write(dir: string, count: number, shardBytes = 2048): void {
  const w = new ShardWriter(dir, schema, { shardBytes, source: 'test' });
  for (let i = 0; i < count; i++) w.add(record(i));
  w.close();
}

test('records round-trip through encode/decode: fixed and variable tensors, bytes, scalars', () => {
  for (let i = 0; i < 50; i++) {
    const r = record(i);
    assert.deepEqual(decodeRecord(schema, encodeRecord(schema, r)), r);
  }
  assert.throws(
    () => encodeRecord(schema, { ...record(0), input: { data: new Float32Array(4), dims: [2, 2] } }),
    /dims \[2,2\] where the schema says \[2,3\]/,
  );
  assert.throws(() => encodeRecord(schema, { ...record(0), label: { data: Int32Array.of(1), dims: [] } }), /holds int32, the schema int64/);
  assert.throws(() => encodeRecord(schema, { input: record(0).input! }), /no value for field 'tokens'/);
});

test('a pack reads back every record by positioned reads, across shards, with a manifest', () => {
  const dir = tmp();
  write(dir, 200);
  const m = readManifest(dir);
  assert.equal(m.records, 200);
  assert.ok(m.shards.length > 3, `${m.shards.length} shards`);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
  const set = new ShardSet(dir);
  try {
    assert.equal(set.size, 200);
    for (const i of [0, 1, 57, 199, 123, 5]) assert.deepEqual(set.read(i), record(i));
    assert.throws(() => set.read(200), RangeError);
  } finally {
    set.close();
  }
  const v = verifyShards(dir);
  assert.equal(v.records, 200);
  assert.deepEqual(v.problems, []);
});

test('fuzz: any single flipped byte in a shard is caught by verify or by reading, and named', () => {
  const dir = tmp();
  write(dir, 40, 1 << 20);
  const file = join(dir, readManifest(dir).shards[0]!.file);
  const original = readFileSync(file);
  const rnd = mulberry32(7);
  for (let t = 0; t < 60; t++) {
    const pos = Math.floor(rnd() * original.length);
    const bad = Buffer.from(original);
    bad[pos] = bad[pos]! ^ (1 + Math.floor(rnd() * 255));
    writeFileSync(file, bad);
    const v = (() => {
      try {
        return verifyShards(dir).problems;
      } catch (e) {
        return [{ file: 'x', problem: (e as Error).message }];
      }
    })();
    assert.ok(v.length > 0, `flipping byte ${pos} of ${original.length} went unnoticed`);
    assert.ok(v.every((p) => /shard-00000|x/.test(p.file)));
  }
  writeFileSync(file, original);
  assert.deepEqual(verifyShards(dir).problems, []);
});

test('a corrupt record is named by shard and record when read, and skipped when asked', () => {
  const dir = tmp();
  write(dir, 30, 1 << 20);
  const set0 = new ShardSet(dir);
  const shard = set0.shard(0);
  const off = shard.offsets[17]!;
  set0.close();
  const file = join(dir, 'shard-00000.hshard');
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, off + 2);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, off + 2);
  closeSync(fd);
  const set = new ShardSet(dir);
  try {
    assert.throws(
      () => set.read(17),
      (e: unknown) =>
        e instanceof HoneError && e.exitCode === 2 && /shard-00000\.hshard record 17 .*CRC32C.*--skip-corrupt/.test(e.message),
    );
    assert.equal(set.recordBytes(17, true), null);
    assert.deepEqual(set.read(16), record(16));
  } finally {
    set.close();
  }
  const v = verifyShards(dir);
  assert.deepEqual(
    v.problems.map((p) => [p.file, p.record]),
    [['shard-00000.hshard', 17]],
  );
});

test('a truncated shard, an unfinished write and a mixed-in shard from another pack are each refused by name', () => {
  const dir = tmp();
  write(dir, 60);
  const files = readManifest(dir).shards.map((s) => s.file);
  // Truncated: the trailer is gone.
  const f1 = join(dir, files[1]!);
  writeFileSync(f1, readFileSync(f1).subarray(0, statSync(f1).size - 5));
  const set = new ShardSet(dir);
  assert.throws(() => set.read(readManifest(dir).shards[0]!.records), new RegExp(`${files[1]}: .*(trailer|truncated)`));
  set.close();
  const problems = verifyShards(dir).problems;
  assert.ok(problems.some((p) => p.file === files[1]));
  // A shard of a pack with another schema, put in place of shard 2.
  const other = tmp();
  const w = new ShardWriter(other, { fields: [{ name: 'x', kind: 'tensor', dtype: 'uint8', shape: [1] }] }, {});
  for (let i = 0; i < readManifest(dir).shards[2]!.records; i++) w.add({ x: { data: Uint8Array.of(i), dims: [1] } });
  w.close();
  writeFileSync(join(dir, files[2]!), readFileSync(join(other, 'shard-00000.hshard')));
  assert.ok(verifyShards(dir).problems.some((p) => p.file === files[2] && /schema differs/.test(p.problem)));
  // A folder with an unfinished shard and no manifest is not a pack.
  const unfinished = tmp();
  const u = new ShardWriter(unfinished, schema, { shardBytes: 1 << 30 });
  u.add(record(0));
  (u as unknown as { flush(): void }).flush();
  assert.throws(
    () => readManifest(unfinished),
    /unfinished pack \(no index\.json; an interrupted write left shard-00000\.tmp\): run hone data pack again/,
  );
  u.abort();
  assert.deepEqual(readdirSync(unfinished), []);
});

test('packShards writes all or nothing: an aborted pack leaves no pack, an existing folder needs --force', async () => {
  const base = tmp();
  const n = 500;
  const src = arraysSource(
    {
      input: { data: Float32Array.from({ length: n * 4 }, (_, i) => i), dims: [n, 4] },
      label: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 3)), dims: [n] },
    },
    'arrays',
  );
  const abort = new AbortController();
  const out = join(base, 'pack');
  // Ctrl-C arrives while record 100 is read.
  const interrupted = {
    ...src,
    record: (i: number) => {
      if (i === 100) abort.abort();
      return src.record(i);
    },
  };
  const r = await packShards(interrupted, out, { shardBytes: 1024, signal: abort.signal });
  assert.equal(r, undefined);
  assert.ok(!existsSync(join(out, MANIFEST)));
  assert.deepEqual(readdirSync(out), []);
  const m = await packShards(src, out, { shardBytes: 1024 });
  assert.equal(m!.records, n);
  await assert.rejects(() => packShards(src, out, {}), /exists and is not empty; .*--force/);
  const again = await packShards(src, out, { force: true, shardBytes: 1 << 20 });
  assert.equal(again!.shards.length, 1);
  assert.deepEqual(readdirSync(out).sort(), [MANIFEST, 'shard-00000.hshard']);
  const set = new ShardSet(out);
  assert.deepEqual(Array.from((set.read(321).input as { data: Float32Array }).data), [1284, 1285, 1286, 1287]);
  set.close();
  // --force replaces a pack's own files only; a folder of the user's that is not a pack is refused.
  writeFileSync(join(out, 'notes.txt'), 'mine');
  await packShards(src, out, { force: true });
  assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'mine');
  const mine = join(base, 'mine');
  await packShards(src, mine, {});
  writeFileSync(join(mine, 'notes.txt'), 'mine');
  rmSync(join(mine, MANIFEST));
  await assert.rejects(() => packShards(src, mine, { force: true }), /not a Hone pack; --force replaces only a pack/);
});

test('CRC32C is Castagnoli (the standard check value)', () => {
  assert.equal(crc32c(Buffer.from('123456789')) >>> 0, 0xe3069283);
});
