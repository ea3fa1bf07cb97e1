/**
 * Static evaluation of the small integer arithmetic that exporters emit around shapes (PyTorch's
 * Shape → Gather → Unsqueeze → Concat → Reshape chains), so that shape inference sees the values.
 * Only small tensors (≤ MAX_ELEMENTS) are evaluated, in JS numbers; nothing here rewrites the model
 * (graph-level folding is `fold.ts`).
 */
import type { Dim, OpContext, ValueType } from './types.js';
import { shapeRange, sliceLength } from './tensor.js';
import { DataType } from '../ir/dtype.js';
import type { TensorProto } from '../ir/proto.js';
import { arrayCtor, makeTensor, numElements, tensorNumbers, toInt64, type TypedArray } from '../ir/tensor.js';

const MAX_ELEMENTS = 4096;

/** The output values of `ctx.node` when they can be computed from constant inputs (or, for Shape/Size, from known shapes). */
export function foldNode(ctx: OpContext, outputs: ValueType[]): TensorProto[] | undefined {
  if ((ctx.node.domain ?? '') !== '' && ctx.node.domain !== 'ai.onnx') return undefined;
  if (ctx.node.opType === 'Split') return foldSplit(ctx, outputs);
  const fn = folders[ctx.node.opType ?? ''];
  if (!fn) return undefined;
  const out = outputs[0];
  if (!out?.shape?.every((d): d is number => typeof d === 'number') || numElements(out.shape) > MAX_ELEMENTS) return undefined;
  try {
    const inputs: (Value | undefined)[] = ctx.node.input.map((name, i) => (name === '' ? undefined : foldedValue(ctx.constant(i))));
    const v = fn(ctx, inputs, out.shape);
    if (!v || v.values.some((x) => Number.isNaN(x))) return undefined;
    return [numbersTensor(v.dataType, out.shape, v.values)];
  } catch {
    return undefined; // an input is not a plain number tensor (or its external data is not loaded): leave it unknown
  }
}

/**
 * Split of a 1-D constant into consecutive pieces, sized by the outputs' inferred shapes (tf2onnx builds
 * Pad's pads as Concat(Split(const))): one tensor per output.
 */
function foldSplit(ctx: OpContext, outputs: ValueType[]): TensorProto[] | undefined {
  let x: Value | undefined;
  try {
    x = foldedValue(ctx.constant(0));
  } catch {
    return undefined;
  }
  if (x?.dims.length !== 1) return undefined;
  const sizes = outputs.map((o) => (o?.shape?.length === 1 && typeof o.shape[0] === 'number' ? o.shape[0] : undefined));
  if (sizes.some((n) => n === undefined) || sizes.reduce((a, n) => a! + n!, 0) !== x.dims[0]) return undefined;
  let at = 0;
  return sizes.map((n) => numbersTensor(x!.dataType, [n!], x!.values.slice(at, (at += n!))));
}

interface Value {
  dataType: number;
  dims: number[];
  values: number[];
}
type Folder = (ctx: OpContext, inputs: (Value | undefined)[], outDims: number[]) => { dataType: number; values: number[] } | undefined;

/** Types whose elements `tensorNumbers` reads as values (fp16/bf16, 8-bit floats and 4-bit ints come out as raw bits). */
const NUMERIC = new Set<number>([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.BOOL,
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);

function foldedValue(t: TensorProto | undefined): Value | undefined {
  if (!t || !NUMERIC.has(t.dataType ?? 0) || numElements(t.dims) > MAX_ELEMENTS) return undefined;
  return { dataType: t.dataType ?? 0, dims: t.dims, values: tensorNumbers(t) };
}

/** A tensor of `values`; int64 values beyond the int64 range (INT64_MAX read as a double) are clamped. */
export function numbersTensor(dataType: number, dims: number[], values: number[]): TensorProto {
  const Ctor = arrayCtor(dataType) as unknown as { new (n: number): TypedArray };
  const out = new Ctor(values.length);
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (big) (out as unknown as bigint[])[i] = toInt64(v);
    else (out as unknown as number[])[i] = v;
  }
  return makeTensor('', dataType, dims, out);
}

const isInt = (dt: number) =>
  [
    DataType.INT8,
    DataType.INT16,
    DataType.INT32,
    DataType.INT64,
    DataType.UINT8,
    DataType.UINT16,
    DataType.UINT32,
    DataType.UINT64,
  ].includes(dt as 2);

const same: Folder = (_ctx, [x]) => x && { dataType: x.dataType, values: x.values };

/** Index into a broadcast input for each output element. */
function broadcastValues(x: Value, outDims: number[]): number[] {
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

function elementwise(op: (...v: number[]) => number, outType?: number): Folder {
  return (_ctx, inputs, outDims) => {
    if (inputs.some((x) => x === undefined)) return undefined;
    const xs = inputs as Value[];
    const cols = xs.map((x) => broadcastValues(x, outDims));
    const dataType = outType ?? xs[0]!.dataType;
    const int = isInt(dataType);
    const values = cols[0]!.map((_, k) => {
      const r = op(...cols.map((c) => c[k]!));
      return int ? Math.trunc(r) : r;
    });
    return { dataType, values };
  };
}

const folders: Record<string, Folder> = {
  Identity: same,
  Reshape: same,
  Squeeze: same,
  Unsqueeze: same,
  Flatten: same,
  Shape(ctx) {
    const s = ctx.inputs[0]?.shape;
    if (!s) return undefined;
    const [a, b] = shapeRange(ctx, s.length);
    const dims = s.slice(a, b);
    if (!dims.every((d): d is number => typeof d === 'number')) return undefined;
    return { dataType: DataType.INT64, values: dims };
  },
  Size(ctx) {
    const s = ctx.inputs[0]?.shape;
    if (!s?.every((d): d is number => typeof d === 'number')) return undefined;
    return { dataType: DataType.INT64, values: [numElements(s)] };
  },
  Cast(ctx, [x]) {
    const to = ctx.attr.int('to', 0);
    if (!x || !(isInt(to) || to === DataType.FLOAT || to === DataType.DOUBLE || to === DataType.BOOL)) return undefined;
    const values = x.values.map((v) =>
      to === DataType.BOOL ? Number(v !== 0) : isInt(to) ? Math.trunc(v) : to === DataType.FLOAT ? Math.fround(v) : v,
    );
    return { dataType: to, values };
  },
  Add: elementwise((a, b) => a + b),
  Sub: elementwise((a, b) => a - b),
  Mul: elementwise((a, b) => a * b),
  Div: elementwise((a, b) => a / b),
  Mod: elementwise((a, b) => a - Math.floor(a / b) * b),
  Neg: elementwise((a) => -a),
  Abs: elementwise(Math.abs),
  Floor: elementwise(Math.floor),
  Ceil: elementwise(Math.ceil),
  Sqrt: elementwise(Math.sqrt),
  Max: elementwise(Math.max),
  Min: elementwise(Math.min),
  Equal: elementwise((a, b) => Number(a === b), DataType.BOOL),
  Less: elementwise((a, b) => Number(a < b), DataType.BOOL),
  Greater: elementwise((a, b) => Number(a > b), DataType.BOOL),
  Not: elementwise((a) => Number(!a), DataType.BOOL),
  Where(_ctx, [c, a, b], outDims) {
    if (!c || !a || !b) return undefined;
    const [cc, ca, cb] = [c, a, b].map((x) => broadcastValues(x, outDims)) as [number[], number[], number[]];
    return { dataType: a.dataType, values: cc.map((v, k) => (v ? ca[k]! : cb[k]!)) };
  },
  Expand(_ctx, [x], outDims) {
    return x && { dataType: x.dataType, values: broadcastValues(x, outDims) };
  },
  ConstantOfShape(ctx, _inputs, outDims) {
    const v = ctx.attr.tensor('value');
    const fill = v ? (tensorNumbers(v)[0] ?? 0) : 0;
    return { dataType: v?.dataType ?? DataType.FLOAT, values: new Array<number>(numElements(outDims)).fill(fill) };
  },
  Range(_ctx, [s, l, d], outDims) {
    if (!s || !d || !l) return undefined;
    const [start, delta] = [s.values[0]!, d.values[0]!];
    return { dataType: s.dataType, values: Array.from({ length: outDims[0]! }, (_, i) => start + i * delta) };
  },
  Concat(_ctx, inputs) {
    if (inputs.some((x) => x === undefined)) return undefined;
    const xs = inputs as Value[];
    if (xs.some((x) => x.dims.length !== 1)) return undefined;
    return { dataType: xs[0]!.dataType, values: xs.flatMap((x) => x.values) };
  },
  Gather(ctx, [x, idx]) {
    if (!x || !idx) return undefined;
    const r = x.dims.length;
    const axis = ((ctx.attr.int('axis', 0) % r) + r) % r;
    const outer = numElements(x.dims.slice(0, axis));
    const inner = numElements(x.dims.slice(axis + 1));
    const n = x.dims[axis]!;
    const values: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const i0 of idx.values) {
        const i = i0 < 0 ? i0 + n : i0;
        if (i < 0 || i >= n) return undefined;
        for (let k = 0; k < inner; k++) values.push(x.values[(o * n + i) * inner + k]!);
      }
    }
    return { dataType: x.dataType, values };
  },
  Slice(ctx, inputs) {
    const x = inputs[0];
    if (!x || x.dims.length === 0) return undefined;
    const [starts, ends, axes, steps] =
      ctx.opset < 10
        ? [ctx.attr.ints('starts'), ctx.attr.ints('ends'), ctx.attr.ints('axes'), undefined]
        : [inputs[1]?.values, inputs[2]?.values, inputs[3]?.values, inputs[4]?.values];
    if (!starts || !ends) return undefined;
    // Per axis: first index, step and length (every axis: PyTorch's pad export reverses a [n, 2] list on axis 0).
    const r = x.dims.length;
    const first = x.dims.map(() => 0);
    const step = x.dims.map(() => 1);
    const len = [...x.dims];
    for (let k = 0; k < starts.length; k++) {
      const axis = (((axes?.[k] ?? k) % r) + r) % r;
      const d = x.dims[axis]!;
      const st = steps?.[k] ?? 1;
      let b = starts[k]!;
      b = b < 0 ? b + d : b;
      first[axis] = st > 0 ? Math.min(Math.max(b, 0), d) : Math.min(Math.max(b, 0), d - 1);
      step[axis] = st;
      len[axis] = sliceLength(d, starts[k]!, ends[k]!, st);
    }
    return { dataType: x.dataType, values: gatherStrided(x, len, (axis, i) => first[axis]! + i * step[axis]!) };
  },
  Transpose(ctx, [x]) {
    if (!x) return undefined;
    const perm = ctx.attr.ints('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
    return {
      dataType: x.dataType,
      values: gatherStrided(
        x,
        perm.map((p) => x.dims[p]!),
        (_axis, i) => i,
        perm,
      ),
    };
  },
  ReduceProd: reduceAll((a, b) => a * b, 1),
  ReduceSum: reduceAll((a, b) => a + b, 0),
};

/**
 * The elements of `x` at every index of an output of dims `outDims`: output axis k reads input axis
 * `perm[k]` (identity by default) at position `at(k, i)`.
 */
function gatherStrided(x: Value, outDims: number[], at: (axis: number, i: number) => number, perm?: number[]): number[] {
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

/** Reductions of a 1-D tensor over its only axis (the shape-arithmetic case: product of some dims). */
function reduceAll(op: (a: number, b: number) => number, init: number): Folder {
  return (_ctx, [x], outDims) => {
    if (x?.dims.length !== 1 || numElements(outDims) !== 1) return undefined;
    return { dataType: x.dataType, values: [x.values.reduce(op, init)] };
  };
}

/**
 * Elements of a small integer output in terms of dims, when some are symbolic (Shape of a ['batch', 3]
 * value, Gather/Slice/Concat of such lists, and arithmetic that leaves a symbol unchanged). Arithmetic
 * on a symbol otherwise gives a fresh symbol, which is stored once so that every user sees the same one.
 */
export function foldSymbolic(ctx: OpContext, outputs: ValueType[]): Dim[] | undefined {
  if ((ctx.node.domain ?? '') !== '' && ctx.node.domain !== 'ai.onnx') return undefined;
  const out = outputs[0];
  if (!out?.shape || out.shape.length > 1 || (out.elemType !== DataType.INT64 && out.elemType !== DataType.INT32)) return undefined;
  const elems = (i: number): Dim[] | undefined => {
    const name = ctx.node.input[i];
    if (!name) return undefined;
    const c = ctx.constant(i);
    if (c) return c.dims.length <= 1 && numElements(c.dims) <= MAX_ELEMENTS ? tensorNumbers(c) : undefined;
    return ctx.symbolicValue?.(i);
  };
  const op = ctx.node.opType;
  switch (op) {
    case 'Shape': {
      const s = ctx.inputs[0]?.shape;
      if (!s) return undefined;
      const [a, b] = shapeRange(ctx, s.length);
      return s.slice(a, b);
    }
    case 'Identity':
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
    case 'Flatten':
    case 'Cast':
      return elems(0);
    case 'Concat': {
      const parts = ctx.node.input.map((_, i) => elems(i));
      return parts.every((p) => p !== undefined) ? parts.flat() : undefined;
    }
    case 'Gather': {
      const x = elems(0);
      const idx = ctx.constant(1) && tensorNumbers(ctx.constant(1)!);
      if (!x || !idx) return undefined;
      const picked = idx.map((i) => x[i < 0 ? i + x.length : i]);
      return picked.every((d) => d !== undefined) ? (picked as Dim[]) : undefined;
    }
    case 'Slice': {
      const x = elems(0);
      const [s, e, ax, st] = [1, 2, 3, 4].map((i) => (ctx.node.input[i] ? ctx.constant(i) && tensorNumbers(ctx.constant(i)!) : null));
      if (!x || ctx.opset < 10 || !s || !e || ax === undefined || st === undefined) return undefined;
      if (ax && (ax.length !== 1 || (ax[0] !== 0 && ax[0] !== -1))) return undefined;
      const step = st?.[0] ?? 1;
      const d = x.length;
      let start = s[0]! < 0 ? s[0]! + d : s[0]!;
      start = step > 0 ? Math.min(Math.max(start, 0), d) : Math.min(Math.max(start, 0), d - 1);
      return Array.from({ length: sliceLength(d, s[0]!, e[0]!, step) }, (_, i) => x[start + i * step]!);
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Max':
    case 'Min': {
      const a = elems(0);
      const b = elems(1);
      if (!a || !b) return undefined;
      const n = Math.max(a.length, b.length);
      if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
      return Array.from({ length: n }, (_, i) => symbolicArith(ctx, op, a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
    }
    default:
      return undefined;
  }
}

function symbolicArith(ctx: OpContext, op: string, a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case 'Add':
        return a + b;
      case 'Sub':
        return a - b;
      case 'Mul':
        return a * b;
      case 'Div':
        return Math.trunc(a / b);
      case 'Max':
        return Math.max(a, b);
      default:
        return Math.min(a, b);
    }
  }
  if ((op === 'Add' || op === 'Sub') && b === 0) return a;
  if (op === 'Add' && a === 0) return b;
  if ((op === 'Mul' || op === 'Div') && b === 1) return a;
  if (op === 'Mul' && a === 1) return b;
  if ((op === 'Max' || op === 'Min') && a === b) return a;
  return ctx.freshDim();
}
