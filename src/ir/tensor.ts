/**
 * Tensor values: reading a TensorProto's elements (zero-copy over raw_data where alignment allows),
 * and making TensorProtos from typed arrays.
 */
import type { TensorProto } from './proto.js';
import { DataType, byteSize, dtypeName } from './dtype.js';
import { HoneError } from '../errors.js';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export function numElements(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** True when the tensor's bytes live in an external file (see `external.ts`). */
export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === 1;
}

/** The tensor's raw little-endian bytes, whether stored as raw_data or in a typed field. */
export function tensorBytes(t: TensorProto): Uint8Array {
  if (isExternal(t) && !t.rawData) throw new HoneError(`tensor '${t.name}' has external data that was not loaded`, 1);
  if (t.rawData) return t.rawData;
  const typed = typedField(t);
  if (!typed) return new Uint8Array(0);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function typedField(t: TensorProto): TypedArray | undefined {
  const dt = t.dataType ?? 0;
  if (t.floatData?.length) return t.floatData;
  if (t.doubleData?.length) return t.doubleData;
  if (t.int64Data?.length) return t.int64Data;
  if (t.uint64Data?.length) return dt === DataType.UINT32 ? Uint32Array.from(t.uint64Data, Number) : t.uint64Data;
  if (t.int32Data?.length) {
    // int32_data carries every small type (int8/16, uint8/16, bool, fp16/bf16 bits, fp8, int4 packed).
    const src = t.int32Data;
    switch (dt) {
      case DataType.INT32:
        return src;
      case DataType.INT8:
        return Int8Array.from(src);
      case DataType.INT16:
        return Int16Array.from(src);
      case DataType.UINT16:
      case DataType.FLOAT16:
      case DataType.BFLOAT16:
        return Uint16Array.from(src);
      default:
        return Uint8Array.from(src);
    }
  }
  return undefined;
}

/**
 * The elements as a typed array of the natural JS type (float16/bfloat16 as raw Uint16 bits, 8-bit floats
 * and 4-bit types as raw bytes). A view over raw_data when its offset is aligned, else one copy.
 */
export function tensorArray(t: TensorProto): TypedArray {
  const dt = t.dataType ?? 0;
  if (!t.rawData && !isExternal(t)) {
    const typed = typedField(t);
    if (typed) return typed;
  }
  const bytes = tensorBytes(t);
  const Ctor = arrayCtor(dt);
  if (!Ctor) throw new HoneError(`tensor '${t.name}' has element type ${dtypeName(dt)}, which has no numeric array form`, 2);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0)
    throw new HoneError(`tensor '${t.name}': ${bytes.byteLength} bytes is not a whole number of ${dtypeName(dt)} elements`, 2);
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // (Buffer#slice would not copy)
  return new Ctor(aligned.buffer, aligned.byteOffset, aligned.byteLength / size) as TypedArray;
}

type Ctor = { new (buf: ArrayBufferLike, off: number, len: number): TypedArray; BYTES_PER_ELEMENT: number };

export function arrayCtor(dt: number): Ctor | undefined {
  switch (dt) {
    case DataType.FLOAT:
      return Float32Array as unknown as Ctor;
    case DataType.DOUBLE:
      return Float64Array as unknown as Ctor;
    case DataType.INT8:
      return Int8Array as unknown as Ctor;
    case DataType.INT16:
      return Int16Array as unknown as Ctor;
    case DataType.INT32:
      return Int32Array as unknown as Ctor;
    case DataType.INT64:
      return BigInt64Array as unknown as Ctor;
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array as unknown as Ctor;
    case DataType.UINT32:
      return Uint32Array as unknown as Ctor;
    case DataType.UINT64:
      return BigUint64Array as unknown as Ctor;
    case DataType.STRING:
    case DataType.COMPLEX64:
    case DataType.COMPLEX128:
      return undefined;
    default:
      return Uint8Array as unknown as Ctor; // uint8, bool, 8-bit floats, packed 4/2-bit types
  }
}

/** Elements as plain numbers (int64 converted), for small tensors such as shapes and axes. */
export function tensorNumbers(t: TensorProto): number[] {
  return Array.from(tensorArray(t) as ArrayLike<number | bigint>, Number);
}

/** Makes a TensorProto whose raw_data views `data` (no copy). */
export function makeTensor(name: string, dataType: number, dims: readonly number[], data: TypedArray | ArrayLike<number>): TensorProto {
  let bytes: Uint8Array;
  if (ArrayBuffer.isView(data)) {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    const Ctor = arrayCtor(dataType);
    if (!Ctor) throw new HoneError(`cannot make a ${dtypeName(dataType)} tensor from numbers`, 1);
    const arr = new (Ctor as unknown as { new (n: number): TypedArray })(data.length);
    for (let i = 0; i < data.length; i++)
      (arr as unknown as (number | bigint)[])[i] =
        arr instanceof BigInt64Array || arr instanceof BigUint64Array ? BigInt(data[i]!) : data[i]!;
    bytes = new Uint8Array(arr.buffer);
  }
  const expected = byteSize(dataType, numElements(dims));
  if (bytes.byteLength !== expected) {
    throw new HoneError(
      `tensor '${name}': ${bytes.byteLength} bytes of data for dims [${dims.join(',')}] of ${dtypeName(dataType)} (expected ${expected})`,
      1,
    );
  }
  return { name, dataType, dims: [...dims], rawData: bytes, stringData: [], externalData: [], metadataProps: [] };
}

export const floatTensor = (name: string, dims: readonly number[], data: Float32Array | ArrayLike<number>) =>
  makeTensor(name, DataType.FLOAT, dims, data instanceof Float32Array ? data : Float32Array.from(data));

export const int64Tensor = (name: string, dims: readonly number[], data: ArrayLike<number>) =>
  makeTensor(name, DataType.INT64, dims, BigInt64Array.from(Array.from(data), toInt64));

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * A JS number as an int64, clamped to the int64 range: INT64_MAX read into a double is 2^63, which a
 * BigInt64Array would wrap to INT64_MIN (turning e.g. a Slice end into "empty").
 */
export function toInt64(v: number): bigint {
  if (!Number.isFinite(v)) return v > 0 ? INT64_MAX : INT64_MIN;
  const b = BigInt(Math.trunc(v));
  return b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
}
