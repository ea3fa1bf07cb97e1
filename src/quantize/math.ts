/**
 * Quantization arithmetic: scales and zero points from ranges, quantizing weights per tensor or per
 * channel, float16 conversion. Pure functions over typed arrays; the passes decide where they apply.
 */
import { halfBits, halfValue } from '../ir/half.js';

/** An integer type a tensor is quantized to. */
export interface QType {
  signed: boolean;
  bits: number;
}

export const S8: QType = { signed: true, bits: 8 };
export const U8: QType = { signed: false, bits: 8 };

/** The integer range of `t`; symmetric signed ranges drop the most negative code (-127..127) as ORT does. */
export function qrange(t: QType, symmetric = false): [number, number] {
  if (t.signed) {
    const hi = 2 ** (t.bits - 1) - 1;
    return [symmetric ? -hi : -hi - 1, hi];
  }
  return [0, 2 ** t.bits - 1];
}

export interface QParams {
  scale: number;
  zeroPoint: number;
}

/**
 * Scale and zero point that map the float range [min, max] onto `t`. The range is widened to hold 0 (so
 * zero padding and ReLU outputs are exact). Symmetric: zero point at the middle of the integer range.
 */
export function rangeParams(min: number, max: number, t: QType, symmetric: boolean): QParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const [qmin, qmax] = qrange(t, symmetric);
  if (symmetric) {
    const absmax = Math.max(Math.abs(lo), Math.abs(hi));
    const scale = absmax / ((qmax - qmin) / 2) || 1;
    return { scale, zeroPoint: t.signed ? 0 : Math.round((qmin + qmax + 1) / 2) };
  }
  const scale = (hi - lo) / (qmax - qmin) || 1;
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - lo / scale)));
  return { scale, zeroPoint };
}

export function quantizeValue(x: number, p: QParams, qmin: number, qmax: number): number {
  const q = Math.round(x / p.scale) + p.zeroPoint;
  return q < qmin ? qmin : Math.min(q, qmax);
}

export interface QuantizedWeight {
  /** Quantized values in the weight's own layout. */
  data: Int8Array | Uint8Array;
  /** One scale (per tensor) or one per channel along `axis`. */
  scale: Float32Array;
  zeroPoint: Int8Array | Uint8Array;
  /** The channel axis, or undefined for per-tensor. */
  axis?: number;
}

export interface WeightQuantOptions {
  type: QType;
  /** Channel axis for per-channel scales; undefined = one scale for the tensor. */
  axis?: number;
  symmetric: boolean;
  /** Use one bit less than the type has (7-bit weights), for CPUs whose u8·s8 dot products saturate. */
  reduceRange?: boolean;
}

/** Quantizes a float weight of shape `dims` per tensor or per channel. */
export function quantizeWeight(w: Float32Array, dims: readonly number[], o: WeightQuantOptions): QuantizedWeight {
  const t: QType = o.reduceRange ? { ...o.type, bits: o.type.bits - 1 } : o.type;
  const [qmin, qmax] = qrange(t, o.symmetric);
  const channels = o.axis === undefined ? 1 : dims[o.axis]!;
  // Elements are laid out as [outer, channels, inner] around the axis.
  const inner = o.axis === undefined ? w.length : dims.slice(o.axis + 1).reduce((a, b) => a * b, 1);
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < w.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    const v = w[i]!;
    if (v < mins[c]!) mins[c] = v;
    if (v > maxs[c]!) maxs[c] = v;
  }
  const params = Array.from({ length: channels }, (_, c) => rangeParams(mins[c]!, maxs[c]!, t, o.symmetric));
  const data = o.type.signed ? new Int8Array(w.length) : new Uint8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    data[i] = quantizeValue(w[i]!, params[c]!, qmin, qmax);
  }
  const zp = o.type.signed ? new Int8Array(channels) : new Uint8Array(channels);
  params.forEach((p, c) => {
    zp[c] = p.zeroPoint;
  });
  return { data, scale: Float32Array.from(params, (p) => p.scale), zeroPoint: zp, axis: o.axis };
}

/** Reconstructs the float weight from its quantized form (for error measurement and tests). */
export function dequantizeWeight(q: QuantizedWeight, dims: readonly number[]): Float32Array {
  const channels = q.scale.length;
  const inner = q.axis === undefined ? q.data.length : dims.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(q.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = (q.data[i]! - q.zeroPoint[c]!) * q.scale[c]!;
  }
  return out;
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose2d<T extends Float32Array | Int8Array | Uint8Array>(a: T, rows: number, cols: number): T {
  const out = new (a.constructor as { new (n: number): T })(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/** Half-precision bits of `x`, rounded to nearest even; finite values past the range saturate to ±65504 (as ORT's converter clamps). */
export function toHalf(x: number): number {
  const h = halfBits(x);
  return (h & 0x7fff) === 0x7c00 && Number.isFinite(x) ? (h & 0x8000) | 0x7bff : h;
}

/** The float value of half-precision bits `h`. */
export const fromHalf = halfValue;

/** Converts a float32 array to half bits; returns how many finite values were clamped to ±65504. */
export function toHalfArray(a: Float32Array): { bits: Uint16Array; clamped: number } {
  const bits = new Uint16Array(a.length);
  let clamped = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (Number.isFinite(v) && Math.abs(v) > 65504) clamped++;
    bits[i] = toHalf(v);
  }
  return { bits, clamped };
}
