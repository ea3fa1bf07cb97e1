/**
 * Static evaluation of the small integer arithmetic that exporters emit around shapes (PyTorch's
 * Shape → Gather → Unsqueeze → Concat → Reshape chains), so that shape inference sees the values.
 * Only small tensors (≤ MAX_ELEMENTS) are evaluated, in JS numbers; nothing here rewrites the model
 * (graph-level folding is `fold.ts`).
 */
import type { OpContext, ValueType } from '../ops/types.js';
import { shapeRange, sliceLength } from '../ops/tensor.js';
import { DataType } from './dtype.js';
import type { TensorProto } from './proto.js';
import { arrayCtor, makeTensor, numElements, tensorNumbers, type TypedArray } from './tensor.js';

const MAX_ELEMENTS = 4096;

/** The output values of `ctx.node` when they can be computed from constant inputs (or, for Shape/Size, from known shapes). */
export function foldNode(ctx: OpContext, outputs: ValueType[]): TensorProto[] | undefined {
  if ((ctx.node.domain ?? '') !== '' && ctx.node.domain !== 'ai.onnx') return undefined;
  const fn = folders[ctx.node.opType ?? ''];
  if (!fn) return undefined;
  const out = outputs[0];
  if (!out?.shape || !out.shape.every((d): d is number => typeof d === 'number') || numElements(out.shape) > MAX_ELEMENTS) return undefined;
  const inputs: (Value | undefined)[] = ctx.node.input.map((name, i) => (name === '' ? undefined : valueOf(ctx.constant(i))));
  try {
    const v = fn(ctx, inputs, out.shape);
    if (!v || v.values.some((x) => Number.isNaN(x))) return undefined;
    return [toTensor(v.dataType, out.shape, v.values)];
  } catch {
    return undefined; // an input is not a plain number tensor, or something else unusual: leave it unknown
  }
}

interface Value { dataType: number; dims: number[]; values: number[] }
type Folder = (ctx: OpContext, inputs: (Value | undefined)[], outDims: number[]) => { dataType: number; values: number[] } | undefined;

function valueOf(t: TensorProto | undefined): Value | undefined {
  if (!t || t.dataType === DataType.STRING || numElements(t.dims) > MAX_ELEMENTS) return undefined;
  return { dataType: t.dataType ?? 0, dims: t.dims, values: tensorNumbers(t) };
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** A tensor of `values`; int64 values beyond the int64 range (INT64_MAX read as a double) are clamped. */
function toTensor(dataType: number, dims: number[], values: number[]): TensorProto {
  const Ctor = arrayCtor(dataType) as unknown as { new (n: number): TypedArray };
  const out = new Ctor(values.length);
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (big) {
      let b = BigInt(Math.trunc(v));
      if (b > INT64_MAX) b = INT64_MAX;
      if (b < INT64_MIN) b = INT64_MIN;
      (out as unknown as bigint[])[i] = b;
    } else (out as unknown as number[])[i] = v;
  }
  return makeTensor('', dataType, dims, out);
}

const isInt = (dt: number) => [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64].includes(dt as 2);

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
    if (!s || !s.every((d): d is number => typeof d === 'number')) return undefined;
    return { dataType: DataType.INT64, values: [numElements(s)] };
  },
  Cast(ctx, [x]) {
    const to = ctx.attr.int('to', 0);
    if (!x || !(isInt(to) || to === DataType.FLOAT || to === DataType.DOUBLE || to === DataType.BOOL)) return undefined;
    const values = x.values.map((v) => (to === DataType.BOOL ? Number(v !== 0) : isInt(to) ? Math.trunc(v) : to === DataType.FLOAT ? Math.fround(v) : v));
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
    const fill = v ? tensorNumbers(v)[0] ?? 0 : 0;
    return { dataType: v?.dataType ?? DataType.FLOAT, values: new Array<number>(numElements(outDims)).fill(fill) };
  },
  Range(_ctx, [s, l, d], outDims) {
    if (!s || !d || !l) return undefined;
    const [start, delta] = [s.values[0]!, d.values[0]!];
    return { dataType: s.dataType, values: Array.from({ length: outDims[0]! }, (_, i) => start + i * delta) };
  },
  Concat(ctx, inputs) {
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
    if (!x || x.dims.length !== 1) return undefined;
    const [starts, ends, axes, steps] = ctx.opset < 10
      ? [ctx.attr.ints('starts'), ctx.attr.ints('ends'), ctx.attr.ints('axes'), undefined]
      : [inputs[1]?.values, inputs[2]?.values, inputs[3]?.values, inputs[4]?.values];
    if (!starts || !ends) return undefined;
    if (axes && (axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -1))) return undefined;
    const d = x.dims[0]!;
    const step = steps?.[0] ?? 1;
    let s = starts[0]!;
    s = s < 0 ? s + d : s;
    s = step > 0 ? Math.min(Math.max(s, 0), d) : Math.min(Math.max(s, 0), d - 1);
    const len = sliceLength(d, starts[0]!, ends[0]!, step);
    return { dataType: x.dataType, values: Array.from({ length: len }, (_, i) => x.values[s + i * step]!) };
  },
  ReduceProd: reduceAll((a, b) => a * b, 1),
  ReduceSum: reduceAll((a, b) => a + b, 0),
};

/** Reductions of a 1-D tensor over its only axis (the shape-arithmetic case: product of some dims). */
function reduceAll(op: (a: number, b: number) => number, init: number): Folder {
  return (_ctx, [x], outDims) => {
    if (!x || x.dims.length !== 1 || numElements(outDims) !== 1) return undefined;
    return { dataType: x.dataType, values: [x.values.reduce(op, init)] };
  };
}
