/**
 * Protobuf wire codec for ONNX, driven by `schema.ts`.
 *
 * Why our own wire layer rather than protobufjs or @bufbuild/protobuf's generated classes: both of
 * those encoders serialize into one contiguous buffer, which copies every tensor and cannot exceed
 * 2 GiB; protobufjs also drops unknown fields. Here decoding hands out `rawData` as views into the
 * input (zero copy) and encoding computes sizes first, then yields a list of chunks in which each large
 * bytes field is the tensor's own view — the writer streams them to disk without copying tensor data.
 * Tests cross-check this codec against @bufbuild/protobuf's conformance-tested reader.
 */
import { schemas, type FieldSchema, type MessageSchema } from './schema.js';
import type { ModelProto, TensorProto } from './proto.js';
import { HoneError } from '../errors.js';
import { toInt64 } from './tensor.js';

export class DecodeError extends HoneError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`, 2);
  }
}

const MAX_DEPTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8enc = new TextEncoder();

type Obj = Record<string, unknown> & { $unknown?: Uint8Array[] };

// ---------------------------------------------------------------------------------------------- decode

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw new DecodeError(what, this.pos);
  }

  /** Varint as a number; exact below 2^53, int64 two's-complement negatives decoded exactly too. */
  varint(): number {
    const { buf } = this;
    let pos = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (pos >= this.end) this.fail('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
      mul *= 128;
    }
    // Long varint (≥ 2^49): go through BigInt, interpreting it as a signed 64-bit value.
    this.pos = pos - 7;
    const big = this.varintBig();
    return Number(BigInt.asIntN(64, big));
  }

  varintBig(): bigint {
    const { buf } = this;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    this.fail('varint longer than 10 bytes');
  }

  length(): number {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) this.fail(`length ${n} runs past the end of the data`);
    return n;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.need(8);
        this.pos += 8;
        return;
      case 2: {
        const n = this.length();
        this.pos += n;
        return;
      }
      case 5:
        this.need(4);
        this.pos += 4;
        return;
      default:
        this.fail(`invalid wire type ${wire}`);
    }
  }

  need(n: number): void {
    if (this.pos + n > this.end) this.fail('truncated field');
  }
}

export function decodeMessage<T>(buf: Uint8Array, type: string, start = 0, end = buf.byteLength): T {
  return readMessage(new Reader(buf, start, end), schemas[type]!, end, 0) as T;
}

export function decodeModel(buf: Uint8Array): ModelProto {
  return decodeMessage<ModelProto>(buf, 'ModelProto');
}

export function decodeTensor(buf: Uint8Array): TensorProto {
  return decodeMessage<TensorProto>(buf, 'TensorProto');
}

function readMessage(r: Reader, s: MessageSchema, end: number, depth: number): Obj {
  if (depth > MAX_DEPTH) r.fail(`messages nested deeper than ${MAX_DEPTH}`);
  const out: Obj = {};
  for (const name of s.arrays) out[name] = [];
  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.varint();
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no < 1) r.fail(`invalid field number ${no}`);
    const field = s.byNo.get(no);
    if (!field || !readField(r, field, wire, out, depth)) {
      r.skip(wire);
      if (r.pos > end) r.fail('field runs past the end of its message');
      (out.$unknown ??= []).push(r.buf.subarray(tagStart, r.pos));
    }
  }
  if (r.pos !== end) r.fail('field runs past the end of its message');
  return out;
}

const expectedWire: Record<string, number> = {
  int64: 0,
  uint64: 0,
  int32: 0,
  enum: 0,
  float: 5,
  double: 1,
  string: 2,
  bytes: 2,
  message: 2,
};

/** Reads one field into `out`; returns false when the wire type does not fit (kept as unknown). */
function readField(r: Reader, field: FieldSchema, wire: number, out: Obj, depth: number): boolean {
  const want = expectedWire[field.kind]!;
  if (field.repeated && wire === 2 && want !== 2) {
    readPacked(r, field, out);
    return true;
  }
  if (wire !== want) return false;
  if (field.typed) {
    appendTyped(out, field, [readScalarTyped(r, field)]);
    return true;
  }
  let value: unknown;
  if (field.kind === 'message') {
    const n = r.length();
    const end = r.pos + n;
    value = readMessage(r, schemas[field.message!]!, end, depth + 1);
  } else {
    value = readScalar(r, field.kind);
  }
  if (field.repeated) (out[field.name] as unknown[]).push(value);
  else out[field.name] = value;
  return true;
}

function readScalar(r: Reader, kind: string): unknown {
  switch (kind) {
    case 'int64':
    case 'uint64':
      return r.varint();
    case 'int32':
    case 'enum':
      return r.varint() | 0;
    case 'float': {
      r.need(4);
      const v = readF32(r.buf, r.pos);
      r.pos += 4;
      return v;
    }
    case 'double': {
      r.need(8);
      const v = readF64(r.buf, r.pos);
      r.pos += 8;
      return v;
    }
    case 'string': {
      const n = r.length();
      const v = utf8.decode(r.buf.subarray(r.pos, r.pos + n));
      r.pos += n;
      return v;
    }
    case 'bytes': {
      const n = r.length();
      const v = r.buf.subarray(r.pos, r.pos + n);
      r.pos += n;
      return v;
    }
  }
  throw new Error(`codec: unhandled kind ${kind}`);
}

function readScalarTyped(r: Reader, field: FieldSchema): number | bigint {
  switch (field.typed) {
    case 'i64':
      return BigInt.asIntN(64, r.varintBig());
    case 'u64':
      return r.varintBig();
    default:
      return readScalar(r, field.kind) as number;
  }
}

const scratch = new DataView(new ArrayBuffer(8));
function readF32(buf: Uint8Array, pos: number): number {
  for (let i = 0; i < 4; i++) scratch.setUint8(i, buf[pos + i]!);
  return scratch.getFloat32(0, true);
}
function readF64(buf: Uint8Array, pos: number): number {
  for (let i = 0; i < 8; i++) scratch.setUint8(i, buf[pos + i]!);
  return scratch.getFloat64(0, true);
}

function readPacked(r: Reader, field: FieldSchema, out: Obj): void {
  const n = r.length();
  const end = r.pos + n;
  const { buf } = r;
  if (field.typed === 'f32' || field.typed === 'f64') {
    const size = field.typed === 'f32' ? 4 : 8;
    if (n % size !== 0) r.fail('packed field length is not a multiple of the element size');
    const bytes = Uint8Array.prototype.slice.call(buf, r.pos, end); // a copy, aligned for the typed view (Buffer#slice would be a view)
    r.pos = end;
    appendTyped(out, field, field.typed === 'f32' ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer));
    return;
  }
  const values: (number | bigint)[] = [];
  const sub = new Reader(buf, r.pos, end);
  while (sub.pos < end) {
    if (field.typed) values.push(readScalarTyped(sub, field));
    else if (field.kind === 'float') {
      sub.need(4);
      values.push(readF32(buf, sub.pos));
      sub.pos += 4;
    } else if (field.kind === 'double') {
      sub.need(8);
      values.push(readF64(buf, sub.pos));
      sub.pos += 8;
    } else values.push(readScalar(sub, field.kind) as number);
  }
  r.pos = end;
  if (field.typed) appendTyped(out, field, values);
  else (out[field.name] as unknown[]).push(...values);
}

const typedCtors = {
  f32: Float32Array,
  i32: Int32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  f64: Float64Array,
} as const;

function appendTyped(out: Obj, field: FieldSchema, values: ArrayLike<number | bigint>): void {
  const Ctor = typedCtors[field.typed!] as unknown as { new (n: number): { set(a: ArrayLike<unknown>, o?: number): void; length: number } };
  const prev = out[field.name] as { length: number } | undefined;
  const next = new Ctor((prev?.length ?? 0) + values.length);
  if (prev) next.set(prev as ArrayLike<unknown>);
  next.set(values as ArrayLike<unknown>, prev?.length ?? 0);
  out[field.name] = next;
}

// ---------------------------------------------------------------------------------------------- encode

/** Bytes fields at least this large are emitted as their own chunk (the caller's view, not a copy). */
const INLINE_LIMIT = 4096;

/**
 * Encodes a message as a list of chunks whose concatenation is the protobuf encoding. Large bytes
 * fields are the caller's own views. Fields are written in field-number order, unknown fields last —
 * the order protobuf's C++ serializer uses, so files it wrote round-trip byte for byte.
 */
export function encodeMessageChunks(msg: object, type: string): Uint8Array[] {
  const sizes = new Map<object, number>();
  sizeOf(msg as Obj, schemas[type]!, sizes);
  const w = new ChunkWriter();
  writeMessage(w, msg as Obj, schemas[type]!, sizes);
  return w.finish();
}

export function encodeMessage(msg: object, type: string): Uint8Array {
  return concat(encodeMessageChunks(msg, type));
}

export function encodeModel(model: ModelProto): Uint8Array {
  return encodeMessage(model, 'ModelProto');
}

export function encodeTensor(t: TensorProto): Uint8Array {
  return encodeMessage(t, 'TensorProto');
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

function varintSize(v: number): number {
  if (v < 0) return 10;
  if (v < 128) return 1;
  if (v < 16384) return 2;
  if (v < 2097152) return 3;
  if (v < 268435456) return 4;
  let n = 4;
  let x = Math.floor(v / 268435456);
  while (x > 0) {
    n++;
    x = Math.floor(x / 128);
  }
  return n;
}

function varintBigSize(v: bigint): number {
  let x = BigInt.asUintN(64, v);
  let n = 1;
  while (x >= 128n) {
    n++;
    x >>= 7n;
  }
  return n;
}

/** A double as an int64: small integers stay numbers, the rest clamped (INT64_MAX read as a double → INT64_MAX). */
function int64Of(v: number): bigint | number {
  return Number.isSafeInteger(v) ? v : toInt64(v);
}

function scalarSize(kind: string, v: unknown): number {
  switch (kind) {
    case 'int64':
    case 'uint64': {
      const x = int64Of(v as number);
      return typeof x === 'bigint' ? varintBigSize(x) : varintSize(x);
    }
    case 'int32':
    case 'enum':
      return varintSize(v as number);
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'string': {
      const n = utf8Length(v as string);
      return varintSize(n) + n;
    }
    case 'bytes': {
      const n = (v as Uint8Array).byteLength;
      return varintSize(n) + n;
    }
  }
  throw new Error(`codec: unhandled kind ${kind}`);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function packedBodySize(field: FieldSchema, values: ArrayLike<number | bigint>): number {
  switch (field.kind) {
    case 'float':
      return 4 * values.length;
    case 'double':
      return 8 * values.length;
  }
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    n += typeof v === 'bigint' ? varintBigSize(v) : scalarSize(field.kind, v);
  }
  return n;
}

function sizeOf(m: Obj, s: MessageSchema, sizes: Map<object, number>): number {
  let total = 0;
  for (const field of s.fields) {
    const v = m[field.name];
    if (v === undefined || v === null) continue;
    const tag = varintSize(field.no * 8);
    if (field.repeated) {
      const arr = v as ArrayLike<unknown>;
      if (arr.length === 0) continue;
      if (field.packed) {
        const body = packedBodySize(field, arr as ArrayLike<number | bigint>);
        total += tag + varintSize(body) + body;
      } else if (field.kind === 'message') {
        for (let i = 0; i < arr.length; i++) {
          const n = sizeOf(arr[i] as Obj, schemas[field.message!]!, sizes);
          total += tag + varintSize(n) + n;
        }
      } else {
        for (let i = 0; i < arr.length; i++) {
          const x = arr[i];
          total += tag + (typeof x === 'bigint' ? varintBigSize(x) : scalarSize(field.kind, x));
        }
      }
    } else if (field.kind === 'message') {
      const n = sizeOf(v as Obj, schemas[field.message!]!, sizes);
      total += tag + varintSize(n) + n;
    } else {
      total += tag + scalarSize(field.kind, v);
    }
  }
  for (const u of m.$unknown ?? []) total += u.byteLength;
  sizes.set(m, total);
  return total;
}

class ChunkWriter {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(65536);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.pos > 0) {
      this.chunks.push(this.buf.subarray(0, this.pos));
      this.buf = new Uint8Array(65536);
      this.view = new DataView(this.buf.buffer);
      this.pos = 0;
    }
  }

  private ensure(n: number): void {
    if (this.pos + n > this.buf.byteLength) {
      this.flush();
      if (n > this.buf.byteLength) {
        this.buf = new Uint8Array(n);
        this.view = new DataView(this.buf.buffer);
      }
    }
  }

  varint(v: number): void {
    if (v < 0 || v > Number.MAX_SAFE_INTEGER) {
      this.varintBig(BigInt(Math.trunc(v)));
      return;
    }
    this.ensure(10);
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  varintBig(v: bigint): void {
    this.ensure(10);
    let x = BigInt.asUintN(64, v);
    while (x >= 128n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  int64(v: number): void {
    const x = int64Of(v);
    if (typeof x === 'bigint') this.varintBig(x);
    else this.varint(x);
  }

  float(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    if (b.byteLength >= INLINE_LIMIT) {
      this.flush();
      this.chunks.push(b);
      return;
    }
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  string(s: string): void {
    const n = utf8Length(s);
    this.varint(n);
    this.ensure(n);
    const { written } = utf8enc.encodeInto(s, this.buf.subarray(this.pos, this.pos + n));
    this.pos += written;
  }
}

function writeScalar(w: ChunkWriter, kind: string, v: unknown): void {
  switch (kind) {
    case 'int64':
    case 'uint64':
      w.int64(v as number);
      return;
    case 'int32':
    case 'enum':
      w.varint(v as number);
      return;
    case 'float':
      w.float(v as number);
      return;
    case 'double':
      w.double(v as number);
      return;
    case 'string':
      w.string(v as string);
      return;
    case 'bytes': {
      const b = v as Uint8Array;
      w.varint(b.byteLength);
      w.bytes(b);
      return;
    }
  }
}

const wireOf = (field: FieldSchema) => expectedWire[field.kind]!;

function writeMessage(w: ChunkWriter, m: Obj, s: MessageSchema, sizes: Map<object, number>): void {
  for (const field of s.fields) {
    const v = m[field.name];
    if (v === undefined || v === null) continue;
    if (field.repeated) {
      const arr = v as ArrayLike<unknown>;
      if (arr.length === 0) continue;
      if (field.packed) {
        w.varint(field.no * 8 + 2);
        w.varint(packedBodySize(field, arr as ArrayLike<number | bigint>));
        writePackedBody(w, field, arr as ArrayLike<number | bigint>);
      } else {
        for (let i = 0; i < arr.length; i++) {
          const x = arr[i];
          w.varint(field.no * 8 + wireOf(field));
          if (field.kind === 'message') {
            w.varint(sizes.get(x as object)!);
            writeMessage(w, x as Obj, schemas[field.message!]!, sizes);
          } else if (typeof x === 'bigint') w.varintBig(x);
          else writeScalar(w, field.kind, x);
        }
      }
    } else {
      w.varint(field.no * 8 + wireOf(field));
      if (field.kind === 'message') {
        w.varint(sizes.get(v as object)!);
        writeMessage(w, v as Obj, schemas[field.message!]!, sizes);
      } else writeScalar(w, field.kind, v);
    }
  }
  for (const u of m.$unknown ?? []) w.bytes(u);
}

function writePackedBody(w: ChunkWriter, field: FieldSchema, values: ArrayLike<number | bigint>): void {
  if (field.typed === 'f32' || field.typed === 'f64') {
    const t = values as Float32Array | Float64Array;
    w.bytes(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
    return;
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v === 'bigint') w.varintBig(v);
    else if (field.kind === 'float') w.float(v);
    else if (field.kind === 'double') w.double(v);
    else writeScalar(w, field.kind, v);
  }
}
