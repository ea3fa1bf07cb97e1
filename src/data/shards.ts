/**
 * Hone's shard format: a dataset as records in shard files with a manifest, read record by record with
 * positioned reads (no file is ever loaded whole), every record checked by its CRC32C.
 *
 * A pack is a folder:
 *   index.json           the manifest: format, version, schema, shards (file, records, bytes), source; written
 *                        last, so a folder without it is an unfinished pack
 *   shard-00000.hshard   records back to back between a header and a footer
 *
 * A shard file: "HSHARD01", u32 header length, the header (JSON: version, schema, shard number), the records,
 * the index (per record: u64 offset, u32 length, u32 CRC32C of its bytes), then a 32-byte trailer: u64 index
 * offset, u64 record count, u32 CRC32C of the index, u32 CRC32C of the header, "HSHEND01". All little-endian.
 * A shard is written as a .tmp file and renamed only after its trailer is written and synced, so a crashed
 * pack leaves no file that looks complete; a truncated or overwritten file loses its trailer magic or a CRC.
 *
 * A record is its fields in schema order: a tensor of fixed shape is its elements (little-endian); a tensor
 * with variable dims (-1 in the schema's shape) first gives those dims as u32s; `image` (encoded JPEG/PNG/WebP,
 * decoded when read for training) and `bytes` fields are a u32 length and the bytes. CRC32C (Castagnoli, as
 * TFRecord and iSCSI use) comes from @node-rs/crc32, which runs the CPU's crc32 instruction.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { badInput, HoneError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { NumericArray } from './dataset.js';

export const SHARD_MAGIC = 'HSHARD01';
export const SHARD_END = 'HSHEND01';
export const SHARD_EXT = '.hshard';
export const MANIFEST = 'index.json';
const TRAILER = 32;
const INDEX_ENTRY = 16;

export type FieldDType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'int64';

export type FieldSpec =
  /** A tensor per record; `shape` excludes the record axis, -1 marks a dim that varies between records. */
  | { name: string; kind: 'tensor'; dtype: FieldDType; shape: number[] }
  /** An encoded image (JPEG, PNG, WebP), decoded when read for training. */
  | { name: string; kind: 'image' }
  | { name: string; kind: 'bytes' };

export interface ShardSchema {
  fields: FieldSpec[];
  /** Class names, index = label, when the source named them (an image folder's subfolders). */
  classes?: string[];
}

/** A record's value for a field: a tensor (dims without the record axis) or raw bytes. */
export type FieldValue = { data: NumericArray; dims: number[] } | Uint8Array;
export type RecordValues = Record<string, FieldValue>;

export interface ShardManifest {
  format: 'hone-shards';
  version: 1;
  schema: ShardSchema;
  records: number;
  shards: { file: string; records: number; bytes: number }[];
  source?: string;
  created: string;
}

const DTYPES: Record<FieldDType, { bytes: number; ctor: new (n: number) => NumericArray }> = {
  float32: { bytes: 4, ctor: Float32Array },
  float64: { bytes: 8, ctor: Float64Array },
  int8: { bytes: 1, ctor: Int8Array },
  uint8: { bytes: 1, ctor: Uint8Array },
  int16: { bytes: 2, ctor: Int16Array },
  uint16: { bytes: 2, ctor: Uint16Array },
  int32: { bytes: 4, ctor: Int32Array },
  int64: { bytes: 8, ctor: BigInt64Array },
};

/** The field dtype of a typed array. */
export function dtypeOfArray(a: NumericArray): FieldDType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int32Array) return 'int32';
  return 'int64';
}

export function dtypeBytes(d: FieldDType): number {
  return DTYPES[d].bytes;
}

export function newArray(d: FieldDType, n: number): NumericArray {
  return new DTYPES[d].ctor(n);
}

/** Checks a schema read from a file or given by a caller: unique names, known kinds and dtypes, sane shapes. */
export function checkSchema(s: ShardSchema, where: string): void {
  if (!s || !Array.isArray(s.fields) || s.fields.length === 0) throw badInput(`${where}: the schema has no fields`);
  const seen = new Set<string>();
  for (const f of s.fields) {
    if (typeof f.name !== 'string' || !f.name) throw badInput(`${where}: a schema field has no name`);
    if (seen.has(f.name)) throw badInput(`${where}: the schema names field '${f.name}' twice`);
    seen.add(f.name);
    if (f.kind === 'tensor') {
      if (!(f.dtype in DTYPES)) throw badInput(`${where}: field '${f.name}' has unknown dtype '${f.dtype}'`);
      if (!Array.isArray(f.shape) || f.shape.some((d) => !Number.isInteger(d) || d < -1))
        throw badInput(`${where}: field '${f.name}' has a bad shape ${JSON.stringify(f.shape)}`);
    } else if (f.kind !== 'image' && f.kind !== 'bytes') {
      throw badInput(`${where}: field '${(f as FieldSpec).name}' has unknown kind '${(f as { kind: string }).kind}'`);
    }
  }
}

function fieldSize(f: FieldSpec & { kind: 'tensor' }, dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1) * DTYPES[f.dtype].bytes;
}

/** The bytes of one record in the schema's layout; the value's dims are checked against the schema. */
export function encodeRecord(schema: ShardSchema, rec: RecordValues): Uint8Array {
  let size = 0;
  for (const f of schema.fields) {
    const v = rec[f.name];
    if (v === undefined) throw badInput(`a record has no value for field '${f.name}'`);
    if (f.kind === 'tensor') {
      if (v instanceof Uint8Array && !('dims' in v)) throw badInput(`field '${f.name}' is a tensor but the record gives bytes`);
      const t = v as { data: NumericArray; dims: number[] };
      if (t.dims.length !== f.shape.length || f.shape.some((d, i) => d !== -1 && d !== t.dims[i]))
        throw badInput(`field '${f.name}' has dims [${t.dims}] where the schema says [${f.shape}]`);
      if (dtypeOfArray(t.data) !== f.dtype) throw badInput(`field '${f.name}' holds ${dtypeOfArray(t.data)}, the schema ${f.dtype}`);
      size += f.shape.filter((d) => d === -1).length * 4 + fieldSize(f, t.dims);
    } else {
      if (!(v instanceof Uint8Array)) throw badInput(`field '${f.name}' is ${f.kind} but the record gives a tensor`);
      size += 4 + v.byteLength;
    }
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = 0;
  for (const f of schema.fields) {
    const v = rec[f.name]!;
    if (f.kind === 'tensor') {
      const t = v as { data: NumericArray; dims: number[] };
      f.shape.forEach((d, i) => {
        if (d === -1) {
          view.setUint32(o, t.dims[i]!, true);
          o += 4;
        }
      });
      const n = fieldSize(f, t.dims);
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, n), o);
      o += n;
    } else {
      const b = v as Uint8Array;
      view.setUint32(o, b.byteLength, true);
      out.set(b, o + 4);
      o += 4 + b.byteLength;
    }
  }
  return out;
}

/** A record's fields from its bytes (copies, so the values are aligned and independent of `bytes`). */
export function decodeRecord(schema: ShardSchema, bytes: Uint8Array): RecordValues {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: RecordValues = {};
  let o = 0;
  const need = (n: number, what: string) => {
    if (o + n > bytes.byteLength) throw new HoneError(`record is shorter than its schema says (${what})`, 2);
  };
  for (const f of schema.fields) {
    if (f.kind === 'tensor') {
      const dims = f.shape.map((d) => {
        if (d !== -1) return d;
        need(4, `dims of '${f.name}'`);
        const v = view.getUint32(o, true);
        o += 4;
        return v;
      });
      const n = fieldSize(f, dims);
      need(n, `field '${f.name}'`);
      const data = newArray(f.dtype, n / DTYPES[f.dtype].bytes);
      new Uint8Array(data.buffer).set(bytes.subarray(o, o + n));
      o += n;
      out[f.name] = { data, dims };
    } else {
      need(4, `length of '${f.name}'`);
      const n = view.getUint32(o, true);
      need(4 + n, `field '${f.name}'`);
      out[f.name] = bytes.slice(o + 4, o + 4 + n);
      o += 4 + n;
    }
  }
  if (o !== bytes.byteLength) throw new HoneError(`record is ${bytes.byteLength - o} bytes longer than its schema says`, 2);
  return out;
}

export interface ShardWriterOptions {
  /** A shard is closed once it holds at least this many bytes of records (default 64 MiB). */
  shardBytes?: number;
  /** Where the records came from, kept in the manifest. */
  source?: string;
}

/**
 * Writes records into shards in `dir` (which must exist and should be empty). `close()` finishes the last
 * shard and writes the manifest; `abort()` removes everything this writer wrote.
 */
export class ShardWriter {
  readonly shards: ShardManifest['shards'] = [];
  private fd = -1;
  private tmp = '';
  private pos = 0;
  private header = new Uint8Array(0);
  private index: number[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private records = 0;
  private readonly shardBytes: number;

  constructor(
    readonly dir: string,
    readonly schema: ShardSchema,
    private readonly opts: ShardWriterOptions = {},
  ) {
    checkSchema(schema, 'shard schema');
    this.shardBytes = opts.shardBytes ?? 64 * 2 ** 20;
  }

  get count(): number {
    return this.records;
  }

  add(rec: RecordValues): void {
    const bytes = encodeRecord(this.schema, rec);
    if (this.fd < 0) this.open();
    this.index.push(this.pos + this.pendingBytes, bytes.byteLength, crc32c(bytes));
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    this.records++;
    if (this.pendingBytes >= 1 << 20) this.flush();
    if (this.pos + this.pendingBytes - this.dataStart() >= this.shardBytes) this.finishShard();
  }

  close(): ShardManifest {
    if (this.fd >= 0) this.finishShard();
    const manifest: ShardManifest = {
      format: 'hone-shards',
      version: 1,
      schema: this.schema,
      records: this.records,
      shards: this.shards,
      ...(this.opts.source ? { source: this.opts.source } : {}),
      created: new Date().toISOString(),
    };
    writeFileAtomic(join(this.dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
    return manifest;
  }

  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (this.tmp) rmSync(this.tmp, { force: true });
    for (const s of this.shards) rmSync(join(this.dir, s.file), { force: true });
    rmSync(join(this.dir, MANIFEST), { force: true });
  }

  private dataStart(): number {
    return 12 + this.header.byteLength;
  }

  private open(): void {
    const n = this.shards.length;
    this.tmp = join(this.dir, `${shardName(n)}.tmp`);
    this.fd = openSync(this.tmp, 'w');
    this.header = new TextEncoder().encode(JSON.stringify({ version: 1, shard: n, schema: this.schema }));
    const head = new Uint8Array(12);
    head.set(new TextEncoder().encode(SHARD_MAGIC));
    new DataView(head.buffer).setUint32(8, this.header.byteLength, true);
    this.pos = 0;
    this.write(head);
    this.write(this.header);
    this.index = [];
  }

  private write(b: Uint8Array): void {
    let off = 0;
    while (off < b.byteLength) off += writeSync(this.fd, b, off, b.byteLength - off);
    this.pos += b.byteLength;
  }

  private flush(): void {
    for (const b of this.pending) this.write(b);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private finishShard(): void {
    this.flush();
    const count = this.index.length / 3;
    const idx = new Uint8Array(count * INDEX_ENTRY);
    const iv = new DataView(idx.buffer);
    for (let r = 0; r < count; r++) {
      iv.setBigUint64(r * INDEX_ENTRY, BigInt(this.index[r * 3]!), true);
      iv.setUint32(r * INDEX_ENTRY + 8, this.index[r * 3 + 1]!, true);
      iv.setUint32(r * INDEX_ENTRY + 12, this.index[r * 3 + 2]!, true);
    }
    const indexOffset = this.pos;
    this.write(idx);
    const tr = new Uint8Array(TRAILER);
    const tv = new DataView(tr.buffer);
    tv.setBigUint64(0, BigInt(indexOffset), true);
    tv.setBigUint64(8, BigInt(count), true);
    tv.setUint32(16, crc32c(idx), true);
    tv.setUint32(20, crc32c(this.header), true);
    tr.set(new TextEncoder().encode(SHARD_END), 24);
    this.write(tr);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    const file = `${shardName(this.shards.length)}${SHARD_EXT}`;
    renameSync(this.tmp, join(this.dir, file));
    this.tmp = '';
    this.shards.push({ file, records: count, bytes: this.pos });
  }
}

const shardName = (n: number) => `shard-${String(n).padStart(5, '0')}`;

/** One shard file opened for positioned reads: its header and record index, both CRC-checked. */
export class Shard {
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly crcs: Uint32Array;
  readonly schema: ShardSchema;
  private fd: number;

  constructor(
    readonly path: string,
    readonly file: string,
  ) {
    this.fd = openFile(path);
    try {
      const size = fstatSync(this.fd).size;
      const bad = (why: string) => badInput(`${file}: ${why}; the shard is damaged or not a Hone shard: pack the data again`);
      if (size < 12 + TRAILER) throw bad(`${size} bytes, too short for a shard`);
      const head = this.read(0, 12);
      if (new TextDecoder().decode(head.subarray(0, 8)) !== SHARD_MAGIC) throw bad('no shard header magic');
      const headerLen = new DataView(head.buffer, head.byteOffset).getUint32(8, true);
      const tr = this.read(size - TRAILER, TRAILER);
      if (new TextDecoder().decode(tr.subarray(24)) !== SHARD_END) throw bad('no trailer (an unfinished or truncated write)');
      const tv = new DataView(tr.buffer, tr.byteOffset);
      const indexOffset = Number(tv.getBigUint64(0, true));
      const count = Number(tv.getBigUint64(8, true));
      if (12 + headerLen > size || indexOffset + count * INDEX_ENTRY + TRAILER !== size) throw bad('its trailer does not match its size');
      const header = this.read(12, headerLen);
      if (crc32c(header) !== tv.getUint32(20, true)) throw bad('the header fails its CRC32C');
      const idx = this.read(indexOffset, count * INDEX_ENTRY);
      if (crc32c(idx) !== tv.getUint32(16, true)) throw bad('the record index fails its CRC32C');
      this.schema = (JSON.parse(new TextDecoder().decode(header)) as { schema: ShardSchema }).schema;
      checkSchema(this.schema, file);
      this.offsets = new Float64Array(count);
      this.lengths = new Uint32Array(count);
      this.crcs = new Uint32Array(count);
      const iv = new DataView(idx.buffer, idx.byteOffset, idx.byteLength);
      for (let r = 0; r < count; r++) {
        this.offsets[r] = Number(iv.getBigUint64(r * INDEX_ENTRY, true));
        this.lengths[r] = iv.getUint32(r * INDEX_ENTRY + 8, true);
        this.crcs[r] = iv.getUint32(r * INDEX_ENTRY + 12, true);
        if (this.offsets[r]! < 12 + headerLen || this.offsets[r]! + this.lengths[r]! > indexOffset)
          throw bad(`record ${r}'s index entry points outside the records`);
      }
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  get records(): number {
    return this.offsets.length;
  }

  /** The record's bytes; null when they fail their CRC32C. */
  recordBytes(r: number): Uint8Array | null {
    const b = this.read(this.offsets[r]!, this.lengths[r]!);
    return crc32c(b) === this.crcs[r] ? b : null;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private read(pos: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, out, got, n - got, pos + got);
      if (k === 0) throw badInput(`${this.file}: unexpected end of file at byte ${pos + got}; the shard is truncated: pack the data again`);
      got += k;
    }
    return out;
  }
}

function openFile(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badInput(
      `cannot open ${path}: ${code === 'ENOENT' ? 'no such file (a shard the manifest lists is missing)' : (e as Error).message}`,
    );
  }
}

/** True when `dir` holds a pack's manifest. */
export function isShardDir(dir: string): boolean {
  return existsSync(join(dir, MANIFEST)) && readManifestKind(dir) === 'hone-shards';
}

function readManifestKind(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as { format?: string }).format;
  } catch {
    return undefined;
  }
}

export function readManifest(dir: string): ShardManifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) {
    const tmp = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.startsWith('.hone-pack-')) : [];
    throw badInput(
      tmp.length
        ? `${dir} is an unfinished pack (no ${MANIFEST}; an interrupted write left ${tmp.join(', ')}): run hone data pack again`
        : `${dir} has no ${MANIFEST}: it is not a Hone shard folder; make one with hone data pack SRC -o ${dir}`,
    );
  }
  let m: ShardManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ShardManifest;
  } catch (e) {
    throw badInput(`${path} is not valid JSON (${(e as Error).message}); pack the data again`);
  }
  if (m.format !== 'hone-shards') throw badInput(`${path} is not a Hone shard manifest (format '${m.format}')`);
  if (m.version !== 1) throw badInput(`${path} is shard format version ${m.version}; this Hone reads version 1: upgrade Hone`);
  checkSchema(m.schema, path);
  return m;
}

const sameSchema = (a: ShardSchema, b: ShardSchema) => JSON.stringify(a.fields) === JSON.stringify(b.fields);

/** A pack opened for reading: records by global index, read with positioned reads. */
export class ShardSet {
  readonly manifest: ShardManifest;
  readonly size: number;
  /** The first record of each shard, in the pack's numbering. */
  readonly starts: number[] = [];
  private readonly opened: (Shard | undefined)[];

  constructor(readonly dir: string) {
    this.manifest = readManifest(dir);
    let n = 0;
    for (const s of this.manifest.shards) {
      this.starts.push(n);
      n += s.records;
    }
    if (n !== this.manifest.records)
      throw badInput(`${dir}/${MANIFEST}: the shards list ${n} records but the manifest says ${this.manifest.records}`);
    this.size = n;
    this.opened = new Array(this.manifest.shards.length);
  }

  get schema(): ShardSchema {
    return this.manifest.schema;
  }

  /** The shard holding record `i` and the record's number in it. */
  locate(i: number): [number, number] {
    if (!(i >= 0 && i < this.size)) throw new RangeError(`record ${i} is outside 0..${this.size - 1}`);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return [lo, i - this.starts[lo]!];
  }

  shard(k: number): Shard {
    let s = this.opened[k];
    if (!s) {
      const entry = this.manifest.shards[k]!;
      s = new Shard(join(this.dir, entry.file), entry.file);
      if (s.records !== entry.records)
        throw badInput(
          `${entry.file} holds ${s.records} records but ${MANIFEST} says ${entry.records}; the pack is inconsistent: pack it again`,
        );
      if (!sameSchema(s.schema, this.schema))
        throw badInput(`${entry.file}'s schema differs from ${MANIFEST}'s; shards from different packs were mixed: pack the data again`);
      this.opened[k] = s;
    }
    return s;
  }

  /** Record `i`'s bytes, or an error naming shard and record when they fail their CRC32C (null with `skipCorrupt`). */
  recordBytes(i: number, skipCorrupt = false): Uint8Array | null {
    const [k, r] = this.locate(i);
    const b = this.shard(k).recordBytes(r);
    if (b === null && !skipCorrupt) throw corruptRecord(this.manifest.shards[k]!.file, r, i);
    return b;
  }

  read(i: number): RecordValues {
    return decodeRecord(this.schema, this.recordBytes(i)!);
  }

  close(): void {
    for (const s of this.opened) s?.close();
    this.opened.fill(undefined);
  }
}

export function corruptRecord(file: string, record: number, global: number): HoneError {
  return badInput(
    `${file} record ${record} (record ${global} of the pack) fails its CRC32C: the file is corrupt; pack the data again, or pass --skip-corrupt to skip such records`,
  );
}

export interface VerifyProblem {
  file: string;
  /** The record in the shard, when one record is at fault. */
  record?: number;
  problem: string;
}

/** Checks a whole pack: manifest, every shard's header, index and trailer, and every record's CRC32C and layout. */
export function verifyShards(
  dir: string,
  onProgress?: (done: number, total: number) => void,
): { records: number; bytes: number; problems: VerifyProblem[] } {
  const m = readManifest(dir);
  const problems: VerifyProblem[] = [];
  let records = 0;
  let bytes = 0;
  const listed = new Set(m.shards.map((s) => s.file));
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.tmp')) problems.push({ file: f, problem: 'an unfinished shard left by an interrupted write' });
    else if (f.endsWith(SHARD_EXT) && !listed.has(f)) problems.push({ file: f, problem: `a shard ${MANIFEST} does not list` });
  }
  for (const entry of m.shards) {
    let s: Shard;
    try {
      s = new Shard(join(dir, entry.file), entry.file);
    } catch (e) {
      problems.push({ file: entry.file, problem: (e as Error).message.replace(`${entry.file}: `, '') });
      continue;
    }
    try {
      if (s.records !== entry.records)
        problems.push({ file: entry.file, problem: `holds ${s.records} records, ${MANIFEST} says ${entry.records}` });
      if (!sameSchema(s.schema, m.schema)) problems.push({ file: entry.file, problem: `its schema differs from ${MANIFEST}'s` });
      for (let r = 0; r < s.records; r++) {
        const b = s.recordBytes(r);
        if (b === null) problems.push({ file: entry.file, record: r, problem: 'fails its CRC32C' });
        else {
          try {
            decodeRecord(s.schema, b);
          } catch (e) {
            problems.push({ file: entry.file, record: r, problem: (e as Error).message });
          }
          bytes += b.byteLength;
        }
        records++;
        if (onProgress && records % 4096 === 0) onProgress(records, m.records);
      }
    } finally {
      s.close();
    }
  }
  onProgress?.(records, m.records);
  return { records, bytes, problems };
}

/** Refuses `dir` as a new pack's place when it exists and is not empty (unless `force` and it holds a pack); creates nothing. */
export function checkPackDir(dir: string, force: boolean): void {
  if (!existsSync(dir)) return;
  const files = readdirSync(dir).filter((f) => !f.startsWith('.hone-pack-'));
  if (files.length && !force) throw badInput(`${dir} exists and is not empty; choose a new folder or pass --force to replace a pack there`);
  if (files.length && !isShardDir(dir))
    throw badInput(`${dir} holds files that are not a Hone pack; --force replaces only a pack: choose a new folder`);
}

/** checkPackDir, then makes `dir` if it is missing. */
export function preparePackDir(dir: string, force: boolean): void {
  checkPackDir(dir, force);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
}
