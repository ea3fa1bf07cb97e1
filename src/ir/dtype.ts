/** ONNX TensorProto.DataType: every element type of the current spec, with its size and JS array type. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
export type DataTypeName = keyof typeof DataType;

export interface DTypeInfo {
  id: number;
  name: DataTypeName;
  /** Bits per element in raw_data (4 for int4, 2 for int2: packed, low nibble first). 0 for strings. */
  bits: number;
  /** The name onnxruntime-common uses for tensors of this type, where it has one. */
  ort?: string;
}

const info: [DataTypeName, number, string?][] = [
  ['FLOAT', 32, 'float32'],
  ['UINT8', 8, 'uint8'],
  ['INT8', 8, 'int8'],
  ['UINT16', 16, 'uint16'],
  ['INT16', 16, 'int16'],
  ['INT32', 32, 'int32'],
  ['INT64', 64, 'int64'],
  ['STRING', 0, 'string'],
  ['BOOL', 8, 'bool'],
  ['FLOAT16', 16, 'float16'],
  ['DOUBLE', 64, 'float64'],
  ['UINT32', 32, 'uint32'],
  ['UINT64', 64, 'uint64'],
  ['COMPLEX64', 64],
  ['COMPLEX128', 128],
  ['BFLOAT16', 16],
  ['FLOAT8E4M3FN', 8],
  ['FLOAT8E4M3FNUZ', 8],
  ['FLOAT8E5M2', 8],
  ['FLOAT8E5M2FNUZ', 8],
  ['UINT4', 4, 'uint4'],
  ['INT4', 4, 'int4'],
  ['FLOAT4E2M1', 4],
  ['FLOAT8E8M0', 8],
  ['UINT2', 2],
  ['INT2', 2],
];

const byId = new Map<number, DTypeInfo>(info.map(([name, bits, ort]) => [DataType[name], { id: DataType[name], name, bits, ort }]));

export function dtypeInfo(id: number): DTypeInfo | undefined {
  return byId.get(id);
}

export function dtypeName(id: number | undefined): string {
  return id === undefined ? 'undefined' : (byId.get(id)?.name.toLowerCase() ?? `dtype(${id})`);
}

/** Bytes that `count` elements take in raw_data (sub-byte types packed, rounded up). */
export function byteSize(id: number, count: number): number {
  const bits = byId.get(id)?.bits ?? 0;
  return Math.ceil((bits * count) / 8);
}

export function isFloat(id: number | undefined): boolean {
  return id === DataType.FLOAT || id === DataType.DOUBLE || id === DataType.FLOAT16 || id === DataType.BFLOAT16;
}

export function isInteger(id: number | undefined): boolean {
  return id !== undefined && [2, 3, 4, 5, 6, 7, 12, 13, 21, 22, 25, 26].includes(id);
}

/** Integer types of 8 to 64 bits: one element per typed-array slot, plain numbers to `tensorNumbers` (int4/int2 are packed). */
export function isByteInteger(id: number | undefined): boolean {
  return isInteger(id) && (byId.get(id!)?.bits ?? 0) >= 8;
}

/**
 * Types whose elements are plain numbers to `tensorNumbers`: float, double, bool and 8- to 64-bit integers
 * (fp16/bf16, 8-bit floats and 4-bit ints come out as raw bits).
 */
export function isNumberType(id: number | undefined): boolean {
  return isByteInteger(id) || id === DataType.FLOAT || id === DataType.DOUBLE || id === DataType.BOOL;
}
