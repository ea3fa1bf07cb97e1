/**
 * Helpers for the op families' fold rules (`FoldRule` in types.ts): the small integer arithmetic exporters
 * build around shapes, evaluated on JS numbers. Each op's rule is in its family file; the driver that
 * checks sizes and makes tensors is `infer-fold.ts`.
 */
import { isByteInteger } from '../ir/dtype.js';
import { numElements } from '../ir/tensor.js';
import type { Dim, Folder, FoldRule, FoldValue, OpContext } from './types.js';

/** Output = input 0, element for element (Identity and the ops that only reshape). */
export const sameValues: Folder = (_ctx, [x]) => x && { dataType: x.dataType, values: x.values };

/** Output 0's dims are input 0's (ops that keep the elements: Identity, Reshape, Squeeze, Cast…). */
export const sameDims: NonNullable<FoldRule['dims']> = (_ctx, elems) => elems(0);

/** The elements of `x` broadcast to `outDims`, in row-major order. */
export function broadcastValues(x: FoldValue, outDims: number[]): number[] {
  const rank = outDims.length;
  const dims = [...new Array<number>(rank - x.dims.length).fill(1), ...x.dims];
  const n = numElements(outDims);
  const out = new Array<number>(n);
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < n; k++) {
    let i = 0;
    for (let d = 0; d < rank; d++) i = i * dims[d]! + (dims[d] === 1 ? 0 : idx[d]!);
    out[k] = x.values[i]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outDims[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** An elementwise map over broadcast inputs (integers truncated, as ONNX's integer kernels do). */
export function mapValues(op: (...v: number[]) => number, outType?: number): Folder {
  return (_ctx, inputs, outDims) => {
    if (inputs.some((x) => x === undefined)) return undefined;
    const xs = inputs as FoldValue[];
    const cols = xs.map((x) => broadcastValues(x, outDims));
    const dataType = outType ?? xs[0]!.dataType;
    const int = isByteInteger(dataType);
    const values = cols[0]!.map((_, k) => {
      const r = op(...cols.map((c) => c[k]!));
      return int ? Math.trunc(r) : r;
    });
    return { dataType, values };
  };
}

/**
 * The elements of `x` at every index of an output of dims `outDims`: output axis k reads input axis
 * `perm[k]` (identity by default) at position `at(k, i)`.
 */
export function gatherStrided(x: FoldValue, outDims: number[], at: (axis: number, i: number) => number, perm?: number[]): number[] {
  const strides = x.dims.map((_, k) => numElements(x.dims.slice(k + 1)));
  const values: number[] = [];
  const idx = outDims.map(() => 0);
  const n = numElements(outDims);
  for (let e = 0; e < n; e++) {
    let off = 0;
    idx.forEach((i, k) => {
      const axis = perm ? perm[k]! : k;
      off += at(axis, i) * strides[axis]!;
    });
    values.push(x.values[off]!);
    for (let k = outDims.length - 1; k >= 0 && ++idx[k]! === outDims[k]; k--) idx[k] = 0;
  }
  return values;
}

/** A reduction of a 1-D tensor over its only axis (the shape-arithmetic case: the product of some dims). */
export function reduceAll(op: (a: number, b: number) => number, init: number): Folder {
  return (_ctx, [x], outDims) => {
    if (x?.dims.length !== 1 || numElements(outDims) !== 1) return undefined;
    return { dataType: x.dataType, values: [x.values.reduce(op, init)] };
  };
}

/** Which operands leave the other unchanged: x op right = x, left op x = x; `same`: x op x = x. */
interface DimIdentities {
  left?: number;
  right?: number;
  same?: boolean;
}

/**
 * Binary arithmetic on lists of dims (one of them may be a single dim, broadcast): numbers are computed,
 * a symbol survives an identity (adding 0, multiplying by 1, the max of itself), and anything else on a
 * symbol gives a fresh symbol.
 */
export function arithDims(op: (a: number, b: number) => number, identity: DimIdentities): NonNullable<FoldRule['dims']> {
  return (ctx, elems) => {
    const a = elems(0);
    const b = elems(1);
    if (!a || !b) return undefined;
    const n = Math.max(a.length, b.length);
    if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
    return Array.from({ length: n }, (_, i) => dimArith(ctx, op, identity, a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
  };
}

function dimArith(ctx: OpContext, op: (a: number, b: number) => number, identity: DimIdentities, a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return op(a, b);
  if (identity.right !== undefined && b === identity.right) return a;
  if (identity.left !== undefined && a === identity.left) return b;
  if (identity.same && a === b) return a;
  return ctx.freshDim();
}
