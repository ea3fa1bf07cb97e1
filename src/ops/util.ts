/**
 * Helpers shared by the op-family rules: input access, axis handling, numpy broadcasting over symbolic
 * dims, output-size arithmetic that keeps a symbol when it can, and the byte/element counts costs use.
 *
 * Costs are computed on shapes whose dims the profiler has fixed; a dim still symbolic (or a shape of
 * unknown rank) counts as 1 so that costs are never NaN.
 */
import { HoneError } from '../errors.js';
import { byteSize, dtypeName } from '../ir/dtype.js';
import { isExternal, tensorNumbers } from '../ir/tensor.js';
import type { Cost, Dim, OpContext, OpRule, ValueType } from './types.js';

/** Inputs that cannot be valid for the op (wrong rank, mismatched dims…). Shape inference records it per node. */
export class ShapeError extends HoneError {
  constructor(message: string) {
    super(message, 2);
  }
}

export function fail(message: string): never {
  throw new ShapeError(message);
}

/** The type of required input `i`; throws when it is absent. Its shape may still be unknown. */
export function input(ctx: OpContext, i: number): ValueType {
  const t = ctx.inputs[i];
  if (!t) fail(`input ${i} ('${ctx.node.input[i] ?? ''}') is missing or has no known type`);
  return t;
}

/** True when optional input `i` is given (a non-empty name). */
export function hasInput(ctx: OpContext, i: number): boolean {
  return (ctx.node.input[i] ?? '') !== '';
}

/** Elements of input `i` as numbers, when that input is a known constant (external data not loaded counts as unknown). */
export function constNumbers(ctx: OpContext, i: number): number[] | undefined {
  if (!hasInput(ctx, i)) return undefined;
  const t = ctx.constant(i);
  return t && !(isExternal(t) && !t.rawData) ? tensorNumbers(t) : undefined;
}

/** Elements of input `i` as dims: numbers when constant, symbols where only known symbolically. */
export function dimValues(ctx: OpContext, i: number): Dim[] | undefined {
  if (!hasInput(ctx, i)) return undefined;
  return constNumbers(ctx, i) ?? ctx.symbolicValue?.(i);
}

/** A normalized axis in [0, rank); throws when out of range. */
export function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Numpy broadcasting of several shapes. A symbol with 1 keeps the symbol; two different symbols give a fresh one. */
export function broadcast(ctx: OpContext, shapes: (Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const list = shapes as Dim[][];
  const rank = Math.max(0, ...list.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let d: Dim = 1;
    for (const s of list) {
      const e = s[s.length - rank + k];
      if (e === undefined) continue;
      d = broadcastDim(ctx, d, e, list);
    }
    out.push(d);
  }
  return out;
}

function broadcastDim(ctx: OpContext, a: Dim, b: Dim, shapes: Dim[][]): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && typeof b === 'number') {
    fail(`shapes ${shapes.map((s) => `[${s.join(',')}]`).join(' and ')} cannot be broadcast (${a} vs ${b})`);
  }
  // A symbol against a number n > 1 must be 1 or n at run time; either way the result is n.
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return ctx.freshDim();
}

/** Product of dims: a number when all are known, else undefined. */
export function knownProduct(dims: readonly Dim[]): number | undefined {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return undefined;
    p *= d;
  }
  return p;
}

/** Product of dims as a dim: known → number; a single symbol among 1s → that symbol; else a fresh symbol. */
export function productDim(ctx: OpContext, dims: readonly Dim[]): Dim {
  const known = knownProduct(dims);
  if (known !== undefined) return known;
  const syms = dims.filter((d) => typeof d === 'string');
  const nums = dims.filter((d): d is number => typeof d === 'number');
  if (syms.length === 1 && nums.every((n) => n === 1)) return syms[0]!;
  if (nums.includes(0)) return 0;
  return ctx.freshDim();
}

/**
 * Output length of a sliding window (conv/pool): floor or ceil of (in + pads - dil*(k-1) - 1)/stride + 1.
 * A symbolic input keeps its symbol when the window preserves length (stride 1, "same" padding).
 */
export function windowDim(
  ctx: OpContext,
  d: Dim,
  k: number,
  stride: number,
  dil: number,
  padTotal: number,
  ceil = false,
  padBegin = 0,
): Dim {
  const span = dil * (k - 1) + 1;
  if (typeof d !== 'number') return stride === 1 && padTotal === span - 1 ? d : ctx.freshDim();
  const num = d + padTotal - span;
  if (num < 0) fail(`window of size ${span} (kernel ${k}, dilation ${dil}) is larger than the padded input ${d + padTotal}`);
  let out = (ceil ? Math.ceil(num / stride) : Math.floor(num / stride)) + 1;
  // As ORT and PyTorch do: in ceil mode the last window must start inside the input or left padding.
  // (ONNX's own shape inference omits this and disagrees with ORT's kernels; the kernels are what run.)
  if (ceil && (out - 1) * stride >= d + padBegin) out--;
  return out;
}

/** ceil(d / s) for a dim; a symbol survives when s = 1. */
export function ceilDivDim(ctx: OpContext, d: Dim, s: number): Dim {
  if (typeof d === 'number') return Math.ceil(d / s);
  return s === 1 ? d : ctx.freshDim();
}

/** Element count with unknown dims (and unknown rank) counted as 1. */
export function numel(t: ValueType | undefined): number {
  if (!t?.shape) return t ? 1 : 0;
  let n = 1;
  for (const d of t.shape) n *= typeof d === 'number' ? d : 1;
  return n;
}

export function bytesOf(t: ValueType | undefined): number {
  return t ? byteSize(t.elemType, numel(t)) : 0;
}

/** Bytes read (all present inputs) and written (all outputs). */
export function ioBytes(ctx: OpContext, outputs: ValueType[]): { bytesRead: number; bytesWritten: number } {
  let bytesRead = 0;
  for (const t of ctx.inputs) bytesRead += bytesOf(t);
  let bytesWritten = 0;
  for (const t of outputs) bytesWritten += bytesOf(t);
  return { bytesRead, bytesWritten };
}

/** Cost of an op doing `perElement` operations for each element of its first output. */
export function perElementCost(perElement: number): NonNullable<OpRule['cost']> {
  return (ctx, outputs) => ({ macs: 0, flops: perElement * numel(outputs[0]), ...ioBytes(ctx, outputs) });
}

/** Cost of pure data movement (reshape, transpose, gather…): no arithmetic. */
export function movementCost(ctx: OpContext, outputs: ValueType[]): Cost {
  return { macs: 0, flops: 0, ...ioBytes(ctx, outputs) };
}

export function shapeStr(s: readonly Dim[] | undefined): string {
  return s ? `[${s.join(',')}]` : '[?]';
}

/** Same element type required of several inputs (e.g. Add's A and B). */
export function sameElemType(ctx: OpContext, idx: number[]): number {
  const types = idx.map((i) => ctx.inputs[i]).filter((t): t is ValueType => t !== undefined);
  if (types.length === 0) fail('no input has a known type');
  const e = types[0]!.elemType;
  for (const t of types) if (t.elemType !== e) fail(`inputs have different element types (${dtypeName(e)} vs ${dtypeName(t.elemType)})`);
  return e;
}

/** Spatial attribute list (kernel, strides, dilations) of length n, defaulting to `fill`. */
export function spatial(ctx: OpContext, name: string, n: number, fill: number): number[] {
  const v = ctx.attr.ints(name);
  if (v === undefined || v.length === 0) return new Array<number>(n).fill(fill);
  if (v.length !== n) fail(`attribute ${name} has ${v.length} values, expected ${n} (one per spatial dim)`);
  return v;
}

/** What one op of a group adds to the rules the group shares: its gradient, quantization, folding, properties. */
export type OpExtras = Omit<Partial<OpRule>, 'opTypes' | 'domain'>;

/**
 * One rule per op type: the group's shared rule (shape, cost) with each op's own extras, its properties
 * added to the group's. A family file lists its ops' differences in one table this way.
 */
export function eachOp(base: Omit<OpRule, 'opTypes'>, ops: Readonly<Record<string, OpExtras>>): OpRule[] {
  return Object.entries(ops).map(([op, extra]) => ({ ...base, ...extra, opTypes: [op], props: { ...base.props, ...extra.props } }));
}
