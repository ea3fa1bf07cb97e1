/**
 * Values given for model inputs (`--input sr=16000`, `--input ids=101,2023,102`, `--input mask=mask.npy`):
 * inputs that must not be random — a sample rate, token ids, an attention mask, a flag. A value fills the
 * input's trailing dims and is repeated over the leading dims it leaves out (numpy broadcasting over
 * missing leading axes only): a number fills any shape, a list of n fills a last dim of n in every row.
 */
import { halfBits } from '../ir/half.js';
import * as ort from 'onnxruntime-node';
import { DataType, dtypeName } from '../ir/dtype.js';
import { numElements } from '../ir/tensor.js';
import { badInput } from '../errors.js';

export interface InputValue {
  /** [] for one number, [n] for a list, the array's dims for a .npy file. */
  dims: number[];
  /** The numbers in C order; int64 arrays stay BigInt64Array so large ids are exact. */
  data: Float64Array | BigInt64Array;
  /** How the user wrote it, for errors: `sr=16000`, `mask=mask.npy`. */
  text: string;
}

/**
 * Checks that `value` fits an input of `shape` (its dims equal the shape's trailing dims) and returns the
 * input's tensor: the value converted to `elemType` (integers must be whole and in range, bools 0 or 1)
 * and repeated over the leading dims.
 */
export function valueTensor(input: { name: string; elemType: number }, shape: readonly number[], value: InputValue): ort.Tensor {
  if (!valueFits(value.dims, shape)) {
    throw badInput(
      `--input ${value.text} has shape [${value.dims.join(',')}], which does not fill the trailing dims of input '${input.name}' [${shape.join(',')}]; give a value of shape [${shape.join(',')}] or of its last dims`,
    );
  }
  const n = numElements(shape);
  const src = value.data;
  const count = src.length;
  const at = (i: number) => src[i % count]!;
  const dims = [...shape];
  const ints = (type: IntType) => {
    const [lo, hi] = INT_RANGES[type];
    const check = (x: number | bigint) => {
      const v = typeof x === 'bigint' ? x : Number.isInteger(x) ? BigInt(x) : undefined;
      if (v === undefined || v < lo || v > hi) {
        throw badInput(
          `--input ${value.text}: input '${input.name}' is ${type}, and ${x} is not a whole number in ${lo}..${hi}; give ${type} values`,
        );
      }
      return v;
    };
    for (let i = 0; i < count; i++) check(src[i]!);
    return check;
  };
  switch (input.elemType) {
    case DataType.FLOAT:
      return new ort.Tensor(
        'float32',
        Float32Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    case DataType.DOUBLE:
      return new ort.Tensor(
        'float64',
        Float64Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    case DataType.FLOAT16:
      return new ort.Tensor(
        'float16',
        Uint16Array.from({ length: n }, (_, i) => halfBits(Number(at(i)))),
        dims,
      );
    case DataType.INT64: {
      const c = ints('int64');
      return new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, i) => c(at(i))),
        dims,
      );
    }
    case DataType.UINT64: {
      const c = ints('uint64');
      return new ort.Tensor(
        'uint64',
        BigUint64Array.from({ length: n }, (_, i) => c(at(i))),
        dims,
      );
    }
    case DataType.INT32: {
      ints('int32');
      return new ort.Tensor(
        'int32',
        Int32Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.UINT32: {
      ints('uint32');
      return new ort.Tensor(
        'uint32',
        Uint32Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.INT16: {
      ints('int16');
      return new ort.Tensor(
        'int16',
        Int16Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.UINT16: {
      ints('uint16');
      return new ort.Tensor(
        'uint16',
        Uint16Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.INT8: {
      ints('int8');
      return new ort.Tensor(
        'int8',
        Int8Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.UINT8: {
      ints('uint8');
      return new ort.Tensor(
        'uint8',
        Uint8Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    case DataType.BOOL: {
      for (let i = 0; i < count; i++) {
        const x = Number(src[i]!);
        if (x !== 0 && x !== 1)
          throw badInput(`--input ${value.text}: input '${input.name}' is bool; give true, false, 1 or 0, not ${src[i]}`);
      }
      return new ort.Tensor(
        'bool',
        Uint8Array.from({ length: n }, (_, i) => Number(at(i))),
        dims,
      );
    }
    default:
      throw badInput(
        `--input ${value.text}: input '${input.name}' has element type ${dtypeName(input.elemType)}, which --input cannot give; give values for numeric or bool inputs`,
      );
  }
}

/** True when `valueDims` are the trailing dims of `shape`. */
export function valueFits(valueDims: readonly number[], shape: readonly number[]): boolean {
  const k = shape.length - valueDims.length;
  return k >= 0 && valueDims.every((d, i) => d === shape[k + i]);
}

type IntType = 'int64' | 'uint64' | 'int32' | 'uint32' | 'int16' | 'uint16' | 'int8' | 'uint8';
const INT_RANGES: Record<IntType, [bigint, bigint]> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int8: [-128n, 127n],
  uint8: [0n, 255n],
};
