/** NumPy .npy files: the header (magic, version, Python-dict header) and the little-endian array after it. */
import { badInput } from '../errors.js';
import type { ArrayTensor, NumericArray } from './dataset.js';

/** Parses one .npy file's bytes. `what` names it in errors. */
export function parseNpy(bytes: Uint8Array, what = 'the .npy file'): ArrayTensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b))
    throw badInput(`${what} is not a .npy file (bad magic); save arrays with numpy.save or numpy.savez`);
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw badInput(`${what} has an unreadable .npy header`);
  if (fortran === 'True') throw badInput(`${what} is stored in Fortran order; save it with numpy.ascontiguousarray first`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const body = bytes.subarray(offset);
  const data = typedFromBytes(descr, body, count, what);
  return { data, dims };
}

function typedFromBytes(descr: string, body: Uint8Array, count: number, what: string): NumericArray {
  if (descr.startsWith('>')) throw badInput(`${what} is big-endian (${descr}); save it little-endian (array.astype('<f4'))`);
  const kind = descr.replace(/^[<|=]/, '');
  const sizes: Record<string, number> = { f4: 4, f8: 8, i8: 8, i4: 4, i2: 2, u2: 2, u1: 1, i1: 1, b1: 1 };
  const size = sizes[kind];
  if (!size)
    throw badInput(`${what} has dtype '${descr}', which Hone cannot read; use float32, float64, int64, int32, int16, uint8 or bool`);
  if (body.byteLength < count * size) throw badInput(`${what} is truncated: ${body.byteLength} bytes for ${count} elements of ${descr}`);
  // Copy to an aligned buffer: the array's offset inside the file is rarely a multiple of its element size.
  // (Not body.slice: on a Node Buffer that is a view, and its .buffer the whole file or pool.)
  const buf = new Uint8Array(body.subarray(0, count * size)).buffer;
  switch (kind) {
    case 'f4':
      return new Float32Array(buf);
    case 'f8':
      return Float32Array.from(new Float64Array(buf));
    case 'i8':
      return new BigInt64Array(buf);
    case 'i4':
      return new Int32Array(buf);
    case 'i2':
      return new Int16Array(buf);
    case 'u2':
      return new Uint16Array(buf);
    case 'i1':
      return new Int8Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

/** Encodes a little-endian .npy (version 1.0) for float32, float64, int64, int32 or uint8 data. */
export function encodeNpy(
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array,
  dims: readonly number[],
): Uint8Array {
  const descr =
    data instanceof Float32Array
      ? '<f4'
      : data instanceof Float64Array
        ? '<f8'
        : data instanceof BigInt64Array
          ? '<i8'
          : data instanceof Int32Array
            ? '<i4'
            : '|u1';
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so the data starts on a 64-byte boundary, newline-terminated, as numpy does.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = `${header.padEnd(total - 10 - 1, ' ')}\n`;
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}
