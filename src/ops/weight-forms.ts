/**
 * Ops that give one constant tensor another form — Identity, Cast/CastLike, Reshape, Flatten, Squeeze,
 * Unsqueeze, Transpose, DequantizeLinear — plus ConstantOfShape, which makes a tensor from a shape. Exporters
 * write weights this way (fp16 data cast up, int8 data dequantized, a matrix stored transposed, weights filled
 * by ConstantOfShape), so two things need to know these ops: the weights view (`weights.ts`), which counts
 * such a chain as one weight at its source, and constant folding (`passes/fold.ts`), which computes them.
 *
 * `evalWeightOp` computes them on typed arrays at any size, unlike shape inference's evaluator
 * (`infer-fold.ts`), which holds small integer tensors as JS numbers. It is exact to ORT's kernels: Cast
 * rounds to nearest even (fp16 overflow gives ±inf), DequantizeLinear computes float((x - zp)) * scale in
 * float32. Types it does not handle (8-bit floats, fp16 scales, 4-bit Transpose) give undefined: the node
 * stays as it is.
 */
import { attrReader } from '../ir/attrs.js';
import { halfBits, halfValue } from '../ir/half.js';
import type { NodeProto, TensorProto } from '../ir/proto.js';
import { DataType, byteSize } from '../ir/dtype.js';
import { arrayCtor, makeTensor, numElements, tensorArray, tensorBytes, toInt64, type TypedArray } from '../ir/tensor.js';

const RESHAPES = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
const FORMS = new Set([...RESHAPES, 'Cast', 'CastLike', 'Transpose', 'DequantizeLinear']);

/** The input whose tensor `node` gives another form (0), or undefined when the node is not such an op. */
export function formInput(node: NodeProto): number | undefined {
  const domain = node.domain ?? '';
  const op = node.opType ?? '';
  if (domain === '' || domain === 'ai.onnx') return FORMS.has(op) ? 0 : undefined;
  return domain === 'com.microsoft' && op === 'DequantizeLinear' ? 0 : undefined;
}

/** Element type of the form `node` makes, from its inputs' element types (undefined entries: unknown). */
export function formElemType(node: NodeProto, inputTypes: readonly (number | undefined)[]): number | undefined {
  switch (node.opType) {
    case 'Cast':
      return attrReader(node).int('to');
    case 'CastLike':
      return inputTypes[1];
    case 'DequantizeLinear':
      return attrReader(node).int('output_dtype', 0) || inputTypes[1];
    default:
      return inputTypes[0];
  }
}

/**
 * The output of a form op or ConstantOfShape, computed from its constant inputs at any size; `outDims` is the
 * output shape (from shape inference). Reshape-like ops share the input's bytes (no copy).
 */
export function evalWeightOp(
  node: NodeProto,
  inputs: readonly (TensorProto | undefined)[],
  outDims: readonly number[],
): TensorProto | undefined {
  const x = inputs[0];
  const op = node.opType ?? '';
  if (op === 'ConstantOfShape') return constantOfShape(node, outDims);
  if (formInput(node) === undefined || !x || x.dataType === DataType.STRING) return undefined;
  const dt = x.dataType ?? 0;
  if (RESHAPES.has(op)) return numElements(outDims) === numElements(x.dims) ? makeTensor('', dt, outDims, tensorBytes(x)) : undefined;
  if (op === 'Transpose') return transpose(x, attrReader(node).ints('perm'), outDims);
  if (op === 'DequantizeLinear') return dequantize(node, x, inputs[1], inputs[2]);
  const to = formElemType(
    node,
    inputs.map((t) => t?.dataType),
  );
  return to === undefined ? undefined : cast(x, to);
}

function constantOfShape(node: NodeProto, dims: readonly number[]): TensorProto | undefined {
  const value = attrReader(node).tensor('value');
  const dt = value?.dataType ?? DataType.FLOAT;
  const size = byteSize(dt, 1);
  if (size === 0 || byteSize(dt, 8) !== 8 * size) return undefined; // strings, sub-byte element types
  const n = numElements(dims);
  const bytes = new Uint8Array(n * size);
  const one = value ? tensorBytes(value).subarray(0, size) : new Uint8Array(size);
  if (n > 0 && one.some((b) => b !== 0)) {
    // Doubling copies fill n elements in log2(n) steps.
    bytes.set(one);
    for (let filled = size; filled < bytes.length; filled *= 2) bytes.copyWithin(filled, 0, Math.min(filled, bytes.length - filled));
  }
  return makeTensor('', dt, dims, bytes);
}

/** Unsigned views of the same width as the element type: Transpose moves elements without reading them. */
function elementView(bytes: Uint8Array, width: number): TypedArray | undefined {
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes); // (Buffer#slice would not copy)
  const n = aligned.byteLength / width;
  switch (width) {
    case 1:
      return aligned;
    case 2:
      return new Uint16Array(aligned.buffer, aligned.byteOffset, n);
    case 4:
      return new Uint32Array(aligned.buffer, aligned.byteOffset, n);
    // Not Float64Array: copying through doubles could canonicalize NaN bit patterns (int64 -1 is one).
    case 8:
      return new BigUint64Array(aligned.buffer, aligned.byteOffset, n);
    default:
      return undefined;
  }
}

function transpose(x: TensorProto, permAttr: readonly number[] | undefined, outDims: readonly number[]): TensorProto | undefined {
  const dt = x.dataType ?? 0;
  const rank = x.dims.length;
  const perm = permAttr?.length ? permAttr : x.dims.map((_, i) => rank - 1 - i);
  const width = byteSize(dt, 8) / 8;
  const src = Number.isInteger(width) ? elementView(tensorBytes(x), width) : undefined;
  if (!src || perm.length !== rank) return undefined;
  const n = numElements(x.dims);
  const out = new (src.constructor as { new (n: number): TypedArray })(n);
  const stride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) stride[d] = stride[d + 1]! * x.dims[d + 1]!;
  const inStride = perm.map((p) => stride[p]!); // input stride along each output axis
  const idx = new Array<number>(rank).fill(0);
  let from = 0;
  const s = src as unknown as unknown[];
  const o = out as unknown as unknown[];
  for (let k = 0; k < n; k++) {
    o[k] = s[from]!;
    for (let d = rank - 1; d >= 0; d--) {
      from += inStride[d]!;
      if (++idx[d]! < outDims[d]!) break;
      from -= inStride[d]! * idx[d]!;
      idx[d] = 0;
    }
  }
  return makeTensor('', dt, outDims, out);
}

/** Elements of `t` read as numbers (fp16/bf16 decoded, int4 unpacked), or undefined for types Cast does not read here. */
function reader(t: TensorProto): ((i: number) => number) | undefined {
  const dt = t.dataType ?? 0;
  switch (dt) {
    case DataType.FLOAT16: {
      const a = tensorArray(t) as Uint16Array;
      const table = halfTable();
      return (i) => table[a[i]!]!;
    }
    case DataType.BFLOAT16: {
      const a = tensorArray(t) as Uint16Array;
      return (i) => bf16Value(a[i]!);
    }
    case DataType.INT4:
    case DataType.UINT4: {
      const a = tensorBytes(t);
      const signed = dt === DataType.INT4;
      return (i) => {
        const v = (a[i >> 1]! >> ((i & 1) * 4)) & 0xf;
        return signed && v >= 8 ? v - 16 : v;
      };
    }
    case DataType.INT64:
    case DataType.UINT64: {
      const a = tensorArray(t) as BigInt64Array;
      return (i) => Number(a[i]!);
    }
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32:
    case DataType.BOOL: {
      const a = tensorArray(t) as unknown as ArrayLike<number>;
      return (i) => a[i]!;
    }
    default:
      return undefined;
  }
}

/** An array of `n` elements of type `dt` and a writer that converts as ORT's Cast does, or undefined for types not written here. */
function writer(dt: number, n: number): { data: TypedArray; set(i: number, v: number): void } | undefined {
  switch (dt) {
    case DataType.FLOAT16: {
      const a = new Uint16Array(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = halfBits(v);
        },
      };
    }
    case DataType.BFLOAT16: {
      const a = new Uint16Array(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = bf16Bits(v);
        },
      };
    }
    case DataType.BOOL: {
      const a = new Uint8Array(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = v !== 0 ? 1 : 0;
        },
      };
    }
    case DataType.INT64: {
      const a = new BigInt64Array(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = toInt64(v);
        },
      };
    }
    case DataType.UINT64: {
      const a = new BigUint64Array(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = BigInt.asUintN(64, toInt64(v));
        },
      };
    }
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32: {
      // Typed-array stores round to float32 or truncate toward zero, as C++'s static_cast does for values in range.
      const a = new (arrayCtor(dt) as unknown as { new (n: number): Float32Array })(n);
      return {
        data: a,
        set: (i, v) => {
          a[i] = v;
        },
      };
    }
    default:
      return undefined;
  }
}

function cast(x: TensorProto, to: number): TensorProto | undefined {
  const dt = x.dataType ?? 0;
  if (dt === to) return makeTensor('', dt, x.dims, tensorBytes(x));
  const get = reader(x);
  const n = numElements(x.dims);
  const out = writer(to, n);
  if (!get || !out) return undefined;
  // Half and bfloat16 come from float32, as in ORT (a double is rounded to float first).
  const viaFloat = (to === DataType.FLOAT16 || to === DataType.BFLOAT16) && dt === DataType.DOUBLE;
  for (let i = 0; i < n; i++) out.set(i, viaFloat ? Math.fround(get(i)) : get(i));
  return makeTensor('', to, x.dims, out.data);
}

/** DequantizeLinear with a float32 scale: per tensor, per axis (`axis`) or blocked (`block_size`). */
function dequantize(
  node: NodeProto,
  x: TensorProto,
  scale: TensorProto | undefined,
  zeroPoint: TensorProto | undefined,
): TensorProto | undefined {
  const outType = attrReader(node).int('output_dtype', 0) || scale?.dataType;
  if (!scale || scale.dataType !== DataType.FLOAT || outType !== DataType.FLOAT) return undefined;
  const get = reader(x);
  const zp = zeroPoint ? reader(zeroPoint) : undefined;
  if (!get || (zeroPoint && !zp)) return undefined;
  const s = tensorArray(scale) as Float32Array;
  const dims = x.dims;
  const n = numElements(dims);
  const rank = dims.length;
  const perTensor = s.length === 1 && scale.dims.every((d) => d === 1);
  const rawAxis = attrReader(node).int('axis', 1);
  const axis = rank === 0 ? 0 : ((rawAxis % rank) + rank) % rank;
  const block = attrReader(node).int('block_size', 0);
  const d = dims[axis] ?? 1;
  const inner = numElements(dims.slice(axis + 1));
  const blocks = block > 0 ? Math.ceil(d / block) : 0;
  if (!perTensor && (block > 0 ? s.length !== numElements(dims.slice(0, axis)) * blocks * inner : s.length !== d)) return undefined;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let k = 0;
    if (!perTensor) {
      const c = Math.floor(i / inner) % d;
      k = block > 0 ? (Math.floor(i / (inner * d)) * blocks + Math.floor(c / block)) * inner + (i % inner) : c;
    }
    out[i] = Math.fround(get(i) - (zp ? zp(k) : 0)) * s[k]!;
  }
  return makeTensor('', DataType.FLOAT, dims, out);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let halves: Float32Array | undefined;

/** Float values of all 65,536 half-precision bit patterns: decoding a large fp16 tensor is one lookup per element. */
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      halves[h] = halfValue(h);
    }
  }
  return halves;
}

function bf16Value(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

/** bfloat16 bits of `x`, rounded to nearest even (NaN gives the quiet NaN 0x7fc0, as ORT's Cast). */
function bf16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  f32[0] = x;
  const u = u32[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
