/**
 * Shape-manipulating and indexing ops: Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Concat, Split,
 * Slice, Gather*, Scatter*, Expand, Tile, Pad, Shape, Size, ConstantOfShape, Constant, Range, Resize/
 * Upsample, DepthToSpace/SpaceToDepth, NonZero, TopK, Trilu, OneHot, Einsum and friends.
 *
 * Arguments that moved from attributes to inputs over opsets (axes, pads, split, starts/ends…) are read
 * from whichever the node's opset uses. Sizes that depend on unknown values become fresh symbols.
 * These ops move data, so their cost is bytes only (Einsum and CumSum also count arithmetic). Their
 * gradients (ops/grad/tensor.ts, resize.ts), quantization (the ones that only move values pass an int8
 * tensor through) and the folding of the shape arithmetic built from them are set beside each shape rule.
 */
import { DataType } from '../ir/dtype.js';
import type { TensorProto } from '../ir/proto.js';
import { numElements, tensorNumbers, toInt64 } from '../ir/tensor.js';
import { broadcastValues, gatherStrided, sameDims, sameValues } from './fold-values.js';
import { concatGrad, expandGrad, gatherGrad, padGrad, reshapeLikeGrad, sliceGrad, splitGrad, transposeGrad } from './grad/tensor.js';
import { resizeGrad } from './grad/resize.js';
import { passthroughQuant } from './quant-rules.js';
import { through } from './prune-rules.js';
import type { Cost, Dim, FoldValue, OpContext, OpProps, OpRule, PruneContext, PruneFlow, ValueType } from './types.js';
import {
  broadcast,
  constNumbers,
  dimValues,
  eachOp,
  fail,
  hasInput,
  input,
  ioBytes,
  knownProduct,
  movementCost,
  normAxis,
  numel,
  perElementCost,
  productDim,
  shapeStr,
} from './util.js';

const NO_GRADIENT: OpProps = { nonDifferentiable: true };
const METADATA: OpProps = { nonDifferentiable: true, metadataOnly: true };

/** Squeeze and Unsqueeze take axes as input 1 from opset 13 (an attribute before). */
const SQUEEZE_AXES_SINCE = 13;

const fresh = (ctx: OpContext, n: number): Dim[] => Array.from({ length: n }, () => ctx.freshDim());

/** Attribute before opset `from`, input `i` from then on. Undefined when given as a non-constant input. */
function attrOrInput(ctx: OpContext, attr: string, i: number, from: number): number[] | undefined | null {
  if (ctx.opset < from) return ctx.attr.ints(attr) ?? null;
  if (!hasInput(ctx, i)) return null;
  return constNumbers(ctx, i);
}

// ---- Reshape / Flatten / Transpose / Squeeze / Unsqueeze -------------------------------------------

/** Splits a product of dims into its known factor and its multiset of symbols. */
function factor(dims: readonly Dim[]): { n: number; syms: string[] } {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  return { n, syms };
}

/**
 * Reshape's target: 0 copies the input dim (unless allowzero), -1 is inferred, keeping symbols where they
 * cancel. Symbolic target entries (from a shape computed at run time) are used as they are.
 */
export function reshapeShape(ctx: OpContext, inShape: Dim[] | undefined, target: Dim[], allowZero: boolean): Dim[] {
  const out: Dim[] = target.map((t, i) => {
    if (typeof t === 'string') return t;
    if (t === 0 && !allowZero) {
      if (!inShape) return ctx.freshDim();
      if (i >= inShape.length)
        fail(`Reshape target ${shapeStr(target)} copies dim ${i} but the input ${shapeStr(inShape)} has rank ${inShape.length}`);
      return inShape[i]!;
    }
    if (t < -1) fail(`Reshape target ${shapeStr(target)} has an invalid dim ${t}`);
    return t;
  });
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1) fail(`Reshape target ${shapeStr(target)} has more than one -1`);
  if (!inShape) return out.map((d) => (d === -1 ? ctx.freshDim() : d));
  const src = factor(inShape);
  const known = factor(out.filter((d) => d !== -1));
  const rest = [...src.syms];
  let cancels = true;
  for (const s of known.syms) {
    const k = rest.indexOf(s);
    if (k < 0) cancels = false;
    else rest.splice(k, 1);
  }
  if (minus === 0) {
    if (cancels && rest.length === 0 && src.n !== known.n)
      fail(`cannot reshape ${shapeStr(inShape)} (${src.n} elements) to ${shapeStr(target)}`);
    return out;
  }
  let inferred: Dim;
  if (!cancels || known.n === 0) inferred = ctx.freshDim();
  else if (src.n % known.n !== 0) {
    if (rest.length === 0) fail(`cannot reshape ${shapeStr(inShape)} (${src.n} elements) to ${shapeStr(target)}`);
    inferred = ctx.freshDim();
  } else if (rest.length === 0) inferred = src.n / known.n;
  else if (rest.length === 1 && src.n === known.n) inferred = rest[0]!;
  else inferred = ctx.freshDim();
  return out.map((d) => (d === -1 ? inferred : d));
}

const reshape: OpRule = {
  opTypes: ['Reshape'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const target = ctx.opset < 5 ? ctx.attr.ints('shape') : dimValues(ctx, 1);
    if (!target) {
      const n = ctx.inputs[1]?.shape?.[0];
      return [{ elemType: x.elemType, shape: typeof n === 'number' ? fresh(ctx, n) : undefined }];
    }
    return [{ elemType: x.elemType, shape: reshapeShape(ctx, x.shape, target, ctx.attr.int('allowzero', 0) !== 0) }];
  },
  cost: movementCost,
  grad: reshapeLikeGrad,
  quant: passthroughQuant,
  fold: { value: sameValues, dims: sameDims },
  prune: {
    // Only a target that does not spell out the channel count (0 copies it, -1 infers it) stays valid.
    flow(ctx, input, axis) {
      const target = ctx.constantNumbers(1);
      if (input !== 0 || !target || (target[axis] !== 0 && target[axis] !== -1)) return undefined;
      if (target[axis] === -1 && target.some((d, k) => k !== axis && d === 0 && ctx.attr.int('allowzero', 0))) return undefined;
      return reshapedChannels(ctx.inputs[0]?.shape, ctx.outputs[0]?.shape, axis);
    },
  },
};

/**
 * Where a reshape puts channels on `axis`: the same axis when every dim up to it is unchanged, or the last
 * axis when the reshape flattens `axis` and what follows into it (each channel then `inner` entries).
 */
function reshapedChannels(x: Dim[] | undefined, y: Dim[] | undefined, axis: number): PruneFlow | undefined {
  if (!x || !y || y.length <= axis || x.slice(0, axis).some((d, k) => d !== y[k])) return undefined;
  if (y[axis] === x[axis] && typeof x[axis] === 'number') return through(axis, []);
  const rest = x.slice(axis + 1);
  if (y.length !== axis + 1 || !rest.every((d): d is number => typeof d === 'number')) return undefined;
  return { kind: 'flatten', axis, inner: rest.reduce((a, b) => a * b, 1) };
}

const flatten: OpRule = {
  opTypes: ['Flatten'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType, shape: fresh(ctx, 2) }];
    const r = x.shape.length;
    let axis = ctx.attr.int('axis', 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) fail(`Flatten axis ${ctx.attr.int('axis', 1)} is out of range for rank ${r}`);
    return [{ elemType: x.elemType, shape: [productDim(ctx, x.shape.slice(0, axis)), productDim(ctx, x.shape.slice(axis))] }];
  },
  cost: movementCost,
  grad: reshapeLikeGrad,
  quant: passthroughQuant,
  fold: { value: sameValues, dims: sameDims },
  prune: {
    flow: (ctx, input, axis) =>
      input === 0 && ctx.attr.int('axis', 1) === axis ? reshapedChannels(ctx.inputs[0]?.shape, ctx.outputs[0]?.shape, axis) : undefined,
  },
};

const transpose: OpRule = {
  opTypes: ['Transpose'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const r = x.shape.length;
    const perm = ctx.attr.ints('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    if (perm.length !== r || new Set(perm.map((p) => normAxis(p, r, 'perm entry'))).size !== r) {
      fail(`Transpose perm ${shapeStr(perm)} is not a permutation of the ${r} dims of ${shapeStr(x.shape)}`);
    }
    return [{ elemType: x.elemType, shape: perm.map((p) => x.shape![normAxis(p, r)]!) }];
  },
  cost: movementCost,
  grad: transposeGrad,
  quant: passthroughQuant,
  prune: {
    flow(ctx, input, axis) {
      const r = ctx.inputs[0]?.shape?.length;
      if (input !== 0 || r === undefined) return undefined;
      const perm = (ctx.attr.ints('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i)).map((p) => (p < 0 ? p + r : p));
      return through(perm.indexOf(axis), []);
    },
  },
  fold: {
    value(ctx, [x]) {
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
  },
};

const squeeze: OpRule = {
  opTypes: ['Squeeze'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const axes = attrOrInput(ctx, 'axes', 1, SQUEEZE_AXES_SINCE);
    if (!x.shape) return [{ elemType: x.elemType }];
    if (axes === undefined) return [{ elemType: x.elemType, shape: unknownAxes(ctx, x.shape.length, -1) }];
    const r = x.shape.length;
    // No axes: drop every dim of size 1 (symbolic dims are assumed not to be 1).
    const set = new Set(
      axes === null || axes.length === 0 ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axes.map((a) => normAxis(a, r)),
    );
    for (const a of set) {
      const d = x.shape[a];
      if (typeof d === 'number' && d !== 1) fail(`Squeeze axis ${a} of ${shapeStr(x.shape)} has size ${d}, not 1`);
    }
    return [{ elemType: x.elemType, shape: x.shape.filter((_, i) => !set.has(i)) }];
  },
  cost: movementCost,
  grad: reshapeLikeGrad,
  quant: passthroughQuant,
  fold: { value: sameValues, dims: sameDims },
  props: { axesInputSince: SQUEEZE_AXES_SINCE },
};

/** Squeeze/Unsqueeze with axes known only at run time: the rank follows from how many axes there are. */
function unknownAxes(ctx: OpContext, rank: number, sign: 1 | -1): Dim[] | undefined {
  const count = ctx.inputs[1]?.shape?.[0];
  return typeof count === 'number' ? fresh(ctx, rank + sign * count) : undefined;
}

const unsqueeze: OpRule = {
  opTypes: ['Unsqueeze'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const axes = attrOrInput(ctx, 'axes', 1, SQUEEZE_AXES_SINCE);
    if (axes === null) fail('Unsqueeze needs axes');
    if (!x.shape) return [{ elemType: x.elemType }];
    if (axes === undefined) return [{ elemType: x.elemType, shape: unknownAxes(ctx, x.shape.length, 1) }];
    const r = x.shape.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, r)));
    if (set.size !== axes.length) fail(`Unsqueeze axes ${shapeStr(axes)} repeat an axis`);
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) out.push(set.has(i) ? 1 : x.shape[j++]!);
    return [{ elemType: x.elemType, shape: out }];
  },
  cost: movementCost,
  grad: reshapeLikeGrad,
  quant: passthroughQuant,
  fold: { value: sameValues, dims: sameDims },
  props: { axesInputSince: SQUEEZE_AXES_SINCE },
};

// ---- Concat / Split / Slice ---------------------------------------------------------------------

const concat: OpRule = {
  opTypes: ['Concat'],
  infer: (ctx) => {
    const present = ctx.node.input.map((_, i) => input(ctx, i));
    const elemType = present[0]!.elemType;
    const shapes = present.map((t) => t.shape);
    const ref = shapes.find((s) => s !== undefined);
    if (!ref) return [{ elemType }];
    const r = ref.length;
    const axis = normAxis(ctx.attr.int('axis', ctx.opset < 4 ? 1 : 0), r);
    const known = shapes.filter((s): s is Dim[] => s !== undefined);
    for (const s of known) if (s.length !== r) fail(`Concat inputs have different ranks: ${known.map(shapeStr).join(', ')}`);
    const out: Dim[] = [];
    for (let k = 0; k < r; k++) {
      if (k === axis) {
        const parts = shapes.map((s) => s?.[k]);
        out.push(parts.every((d): d is number => typeof d === 'number') ? parts.reduce((a, b) => a + b, 0) : concatSymbolic(ctx, parts));
      } else {
        const dims = known.map((s) => s[k]!);
        const num = dims.find((d): d is number => typeof d === 'number');
        if (num !== undefined && dims.some((d) => typeof d === 'number' && d !== num))
          fail(`Concat inputs differ on dim ${k}: ${known.map(shapeStr).join(', ')}`);
        out.push(num ?? (dims.every((d) => d === dims[0]) ? dims[0]! : ctx.freshDim()));
      }
    }
    return [{ elemType, shape: out }];
  },
  cost: movementCost,
  grad: concatGrad,
  quant: { kind: 'compute', activations: 'all', qoperator: { opType: 'QLinearConcat', domain: 'com.microsoft', layout: ['y0', '*x'] } },
  prune: {
    flow(ctx, _input, _axis) {
      const r = ctx.outputs[0]?.shape?.length;
      if (r === undefined) return undefined;
      const a = ctx.attr.int('axis', 0);
      return { kind: 'concat', axis: a < 0 ? a + r : a };
    },
  },
  fold: {
    value(_ctx, inputs) {
      if (inputs.some((x) => x === undefined)) return undefined;
      const xs = inputs as FoldValue[];
      if (xs.some((x) => x.dims.length !== 1)) return undefined;
      return { dataType: xs[0]!.dataType, values: xs.flatMap((x) => x.values) };
    },
    dims(ctx, elems) {
      const parts = ctx.node.input.map((_, i) => elems(i));
      return parts.every((p) => p !== undefined) ? parts.flat() : undefined;
    },
  },
};

/** Sum along the concat axis with symbols: a single symbol plus zeros survives, else a fresh symbol. */
function concatSymbolic(ctx: OpContext, parts: (Dim | undefined)[]): Dim {
  const nonZero = parts.filter((d) => d !== 0);
  return nonZero.length === 1 && nonZero[0] !== undefined ? nonZero[0] : ctx.freshDim();
}

const split: OpRule = {
  opTypes: ['Split'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const n = ctx.node.output.length;
    if (!x.shape) return ctx.node.output.map(() => ({ elemType: x.elemType }));
    const axis = normAxis(ctx.attr.int('axis', 0), x.shape.length);
    const d = x.shape[axis]!;
    const sizes = attrOrInput(ctx, 'split', 1, 13);
    const dimsFor = (size: Dim) => ({ elemType: x.elemType, shape: x.shape!.map((e, k) => (k === axis ? size : e)) });
    if (sizes === undefined) return ctx.node.output.map(() => dimsFor(ctx.freshDim()));
    if (sizes !== null && sizes.length > 0) {
      if (sizes.length !== n) fail(`Split has ${sizes.length} sizes for ${n} outputs`);
      const total = sizes.reduce((a, b) => a + b, 0);
      if (typeof d === 'number' && total !== d) fail(`Split sizes ${shapeStr(sizes)} sum to ${total}, not the dim ${d} of axis ${axis}`);
      return sizes.map(dimsFor);
    }
    if (typeof d !== 'number') return ctx.node.output.map(() => dimsFor(ctx.freshDim()));
    const parts = ctx.attr.int('num_outputs') ?? n;
    if (ctx.attr.has('num_outputs')) {
      // Opset 18: uneven splits give ceil(d/n) to all but the last.
      const each = Math.ceil(d / parts);
      return ctx.node.output.map((_, i) => dimsFor(Math.max(0, Math.min(each, d - each * i))));
    }
    if (d % n !== 0) fail(`Split: dim ${d} of axis ${axis} does not divide into ${n} equal outputs`);
    return ctx.node.output.map(() => dimsFor(d / n));
  },
  cost: movementCost,
  grad: splitGrad,
  fold: {
    // A 1-D constant split into consecutive pieces, sized by the outputs' inferred shapes (tf2onnx builds
    // Pad's pads as Concat(Split(const))).
    outputs(_ctx, [x], outputs) {
      if (x?.dims.length !== 1) return undefined;
      const sizes = outputs.map((o) => (o?.shape?.length === 1 && typeof o.shape[0] === 'number' ? o.shape[0] : undefined));
      if (sizes.some((n) => n === undefined) || sizes.reduce((a, n) => a! + n!, 0) !== x.dims[0]) return undefined;
      let at = 0;
      return sizes.map((n) => ({ dataType: x.dataType, dims: [n!], values: x.values.slice(at, (at += n!)) }));
    },
  },
};

/** Length of slice [start:end:step] of a dim of length d, with ONNX's clamping of negative and huge indices. */
export function sliceLength(d: number, start: number, end: number, step: number): number {
  if (step === 0) fail('Slice step cannot be 0');
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = clamp(s, 0, d);
    e = clamp(e, 0, d);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, d - 1);
  e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

const slice: OpRule = {
  opTypes: ['Slice'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const r = x.shape.length;
    let starts: number[] | undefined;
    let ends: number[] | undefined;
    let axes: number[] | undefined | null;
    let steps: number[] | undefined | null;
    let symbolicEnds: Dim[] | undefined;
    if (ctx.opset < 10) {
      starts = ctx.attr.ints('starts');
      ends = ctx.attr.ints('ends');
      axes = ctx.attr.ints('axes') ?? null;
      steps = null;
    } else {
      starts = constNumbers(ctx, 1);
      const symEnds = dimValues(ctx, 2);
      ends = symEnds?.map((e) => (typeof e === 'number' ? e : NaN));
      if (symEnds?.some((e) => typeof e === 'string')) symbolicEnds = symEnds;
      axes = hasInput(ctx, 3) ? constNumbers(ctx, 3) : null;
      steps = hasInput(ctx, 4) ? constNumbers(ctx, 4) : null;
    }
    if (axes === undefined) return [{ elemType: x.elemType, shape: fresh(ctx, r) }];
    const given = ctx.inputs[1]?.shape?.[0];
    const count = starts?.length ?? (typeof given === 'number' ? given : r);
    const ax = axes === null ? Array.from({ length: count }, (_, i) => i) : axes.map((a) => normAxis(a, r));
    const out = [...x.shape];
    for (let k = 0; k < ax.length; k++) {
      const a = ax[k]!;
      const d = x.shape[a]!;
      const st = steps === null ? 1 : steps?.[k];
      const s = starts?.[k];
      const e = ends?.[k];
      if (s === 0 && st === 1 && Number.isNaN(e) && symbolicEnds?.[k] === d) {
        out[a] = d; // x[:n] where n is x's own symbolic length
      } else if (s === undefined || e === undefined || Number.isNaN(e) || st === undefined) {
        out[a] = ctx.freshDim();
      } else if (typeof d === 'number') {
        out[a] = sliceLength(d, s, e, st);
      } else {
        // Slicing everything keeps the symbol; anything else depends on the symbol's value.
        out[a] = st === 1 && s === 0 && e >= 2 ** 31 - 1 ? d : ctx.freshDim();
      }
    }
    return [{ elemType: x.elemType, shape: out }];
  },
  cost: movementCost,
  grad: sliceGrad,
  fold: {
    value(ctx, inputs) {
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
    dims(ctx, elems) {
      const x = elems(0);
      const [s, e, ax, st] = [1, 2, 3, 4].map((i) => (ctx.node.input[i] ? ctx.constant(i) && tensorNumbers(ctx.constant(i)!) : null));
      if (!x || ctx.opset < 10 || !s || !e || ax === undefined || st === undefined) return undefined;
      if (ax && (ax.length !== 1 || (ax[0] !== 0 && ax[0] !== -1))) return undefined;
      const step = st?.[0] ?? 1;
      const d = x.length;
      let start = s[0]! < 0 ? s[0]! + d : s[0]!;
      start = step > 0 ? Math.min(Math.max(start, 0), d) : Math.min(Math.max(start, 0), d - 1);
      return Array.from({ length: sliceLength(d, s[0]!, e[0]!, step) }, (_, i) => x[start + i * step]!);
    },
  },
};

// ---- Gather / Scatter -----------------------------------------------------------------------------

const gather: OpRule = {
  opTypes: ['Gather'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const idx = input(ctx, 1);
    if (!x.shape || !idx.shape) return [{ elemType: x.elemType }];
    const axis = normAxis(ctx.attr.int('axis', 0), x.shape.length);
    return [{ elemType: x.elemType, shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)] }];
  },
  cost: movementCost,
  grad: gatherGrad,
  fold: {
    value(ctx, [x, idx]) {
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
    dims(ctx, elems) {
      const x = elems(0);
      const idx = ctx.constant(1) && tensorNumbers(ctx.constant(1)!);
      if (!x || !idx) return undefined;
      const picked = idx.map((i) => x[i < 0 ? i + x.length : i]);
      return picked.every((d) => d !== undefined) ? (picked as Dim[]) : undefined;
    },
  },
};

const gatherElements: OpRule = {
  opTypes: ['GatherElements'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const idx = input(ctx, 1);
    if (x.shape && idx.shape && x.shape.length !== idx.shape.length)
      fail(`GatherElements data ${shapeStr(x.shape)} and indices ${shapeStr(idx.shape)} differ in rank`);
    return [{ elemType: x.elemType, shape: idx.shape }];
  },
  cost: movementCost,
};

const gatherND: OpRule = {
  opTypes: ['GatherND'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const idx = input(ctx, 1);
    if (!x.shape || !idx.shape) return [{ elemType: x.elemType }];
    const b = ctx.attr.int('batch_dims', 0);
    const last = idx.shape[idx.shape.length - 1];
    if (typeof last !== 'number') return [{ elemType: x.elemType }];
    if (b + last > x.shape.length) fail(`GatherND indices ${shapeStr(idx.shape)} index more dims than data ${shapeStr(x.shape)} has`);
    return [{ elemType: x.elemType, shape: [...idx.shape.slice(0, -1), ...x.shape.slice(b + last)] }];
  },
  cost: movementCost,
};

const scatter: OpRule = {
  opTypes: ['ScatterND', 'ScatterElements', 'Scatter'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: movementCost,
};

// ---- Expand / Tile / Pad --------------------------------------------------------------------------

const expand: OpRule = {
  opTypes: ['Expand'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const target = dimValues(ctx, 1);
    if (!target) {
      const n = ctx.inputs[1]?.shape?.[0];
      if (typeof n !== 'number' || !x.shape) return [{ elemType: x.elemType }];
      return [{ elemType: x.elemType, shape: fresh(ctx, Math.max(n, x.shape.length)) }];
    }
    return [{ elemType: x.elemType, shape: broadcast(ctx, [x.shape, target]) }];
  },
  cost: movementCost,
  grad: expandGrad,
  fold: { value: (_ctx, [x], outDims) => x && { dataType: x.dataType, values: broadcastValues(x, outDims) } },
};

const tile: OpRule = {
  opTypes: ['Tile'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const reps = constNumbers(ctx, 1);
    if (!reps) return [{ elemType: x.elemType, shape: x.shape.map((d) => (d === 0 ? 0 : ctx.freshDim())) }];
    if (reps.length !== x.shape.length) fail(`Tile repeats ${shapeStr(reps)} must have one value per dim of ${shapeStr(x.shape)}`);
    return [
      { elemType: x.elemType, shape: x.shape.map((d, i) => (typeof d === 'number' ? d * reps[i]! : reps[i] === 1 ? d : ctx.freshDim())) },
    ];
  },
  cost: movementCost,
};

const pad: OpRule = {
  opTypes: ['Pad'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const r = x.shape.length;
    const pads = ctx.opset < 11 ? ctx.attr.ints(ctx.opset < 2 ? 'paddings' : 'pads') : constNumbers(ctx, 1);
    if (!pads) return [{ elemType: x.elemType, shape: fresh(ctx, r) }];
    const axesIn = ctx.opset >= 18 && hasInput(ctx, 3) ? constNumbers(ctx, 3) : null;
    if (axesIn === undefined) return [{ elemType: x.elemType, shape: fresh(ctx, r) }];
    const axes = axesIn === null ? Array.from({ length: r }, (_, i) => i) : axesIn.map((a) => normAxis(a, r));
    if (pads.length !== 2 * axes.length) fail(`Pad has ${pads.length} pads for ${axes.length} axes (need begin and end for each)`);
    const out = [...x.shape];
    axes.forEach((a, k) => {
      const d = out[a]!;
      const add = pads[k]! + pads[k + axes.length]!;
      if (typeof d === 'number') {
        if (d + add < 0) fail(`Pad makes dim ${a} of ${shapeStr(x.shape)} negative`);
        out[a] = d + add;
      } else if (add !== 0) out[a] = ctx.freshDim();
    });
    return [{ elemType: x.elemType, shape: out }];
  },
  cost: movementCost,
  grad: padGrad,
};

// ---- Shape, Size, constants, Range ----------------------------------------------------------------

const shape: OpRule = {
  opTypes: ['Shape'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: DataType.INT64, shape: [ctx.freshDim()] }];
    const [s, e] = shapeRange(ctx, x.shape.length);
    return [{ elemType: DataType.INT64, shape: [Math.max(0, e - s)] }];
  },
  cost: metadataCost,
  fold: {
    value(ctx) {
      const s = ctx.inputs[0]?.shape;
      if (!s) return undefined;
      const [a, b] = shapeRange(ctx, s.length);
      const dims = s.slice(a, b);
      if (!dims.every((d): d is number => typeof d === 'number')) return undefined;
      return { dataType: DataType.INT64, values: dims };
    },
    dims(ctx) {
      const s = ctx.inputs[0]?.shape;
      if (!s) return undefined;
      const [a, b] = shapeRange(ctx, s.length);
      return s.slice(a, b);
    },
  },
  props: METADATA,
};

/** Shape and Size read only the input's metadata, not its elements. */
function metadataCost(ctx: OpContext, outputs: ValueType[]): Cost {
  return { macs: 0, flops: 0, bytesRead: 0, bytesWritten: ioBytes(ctx, outputs).bytesWritten };
}

/** The [start, end) of Shape's opset-15 slicing, clamped to the rank. */
export function shapeRange(ctx: OpContext, r: number): [number, number] {
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return [clamp(ctx.attr.int('start', 0)), clamp(ctx.attr.int('end', r))];
}

const size: OpRule = {
  opTypes: ['Size'],
  infer: () => [{ elemType: DataType.INT64, shape: [] }],
  cost: metadataCost,
  fold: {
    value(ctx) {
      const s = ctx.inputs[0]?.shape;
      if (!s?.every((d): d is number => typeof d === 'number')) return undefined;
      return { dataType: DataType.INT64, values: [numElements(s)] };
    },
  },
  props: METADATA,
};

const constantOfShape: OpRule = {
  opTypes: ['ConstantOfShape'],
  infer: (ctx) => {
    const value = ctx.attr.tensor('value');
    const elemType = value?.dataType ?? DataType.FLOAT;
    const dims = dimValues(ctx, 0);
    if (dims) return [{ elemType, shape: dims }];
    const n = ctx.inputs[0]?.shape?.[0];
    return [{ elemType, shape: typeof n === 'number' ? fresh(ctx, n) : undefined }];
  },
  cost: movementCost,
  fold: {
    value(ctx, _inputs, outDims) {
      const v = ctx.attr.tensor('value');
      const fill = v ? (tensorNumbers(v)[0] ?? 0) : 0;
      return { dataType: v?.dataType ?? DataType.FLOAT, values: new Array<number>(numElements(outDims)).fill(fill) };
    },
  },
  props: NO_GRADIENT,
};

/** The tensor a Constant node holds, from whichever value* attribute it has. */
export function constantValue(ctx: Pick<OpContext, 'attr'>): TensorProto | undefined {
  const { attr } = ctx;
  const base = { stringData: [] as Uint8Array[], externalData: [], metadataProps: [] };
  const t = attr.tensor('value');
  if (t) return t;
  const f = attr.float('value_float');
  if (f !== undefined) return { ...base, dims: [], dataType: DataType.FLOAT, floatData: Float32Array.of(f) };
  const fs = attr.floats('value_floats');
  if (fs !== undefined) return { ...base, dims: [fs.length], dataType: DataType.FLOAT, floatData: Float32Array.from(fs) };
  const i = attr.int('value_int');
  if (i !== undefined) return { ...base, dims: [], dataType: DataType.INT64, int64Data: BigInt64Array.of(toInt64(i)) };
  const is = attr.ints('value_ints');
  if (is !== undefined) return { ...base, dims: [is.length], dataType: DataType.INT64, int64Data: BigInt64Array.from(is, toInt64) };
  const raw = attr.raw('value_string') ?? attr.raw('value_strings');
  if (raw) {
    const strings = raw.s ? [raw.s] : raw.strings;
    return { ...base, dims: raw.s ? [] : [strings.length], dataType: DataType.STRING, stringData: strings };
  }
  const sparse = attr.raw('sparse_value')?.sparseTensor;
  if (sparse) return { ...base, dims: sparse.dims, dataType: sparse.values?.dataType };
  return undefined;
}

const constant: OpRule = {
  opTypes: ['Constant'],
  infer: (ctx) => {
    const t = constantValue(ctx);
    if (!t) fail('Constant has no value attribute');
    return [{ elemType: t.dataType ?? DataType.UNDEFINED, shape: [...t.dims] }];
  },
  cost: (ctx, outputs) => ({ macs: 0, flops: 0, bytesRead: 0, bytesWritten: ioBytes(ctx, outputs).bytesWritten }),
  props: NO_GRADIENT,
};

const range: OpRule = {
  opTypes: ['Range'],
  infer: (ctx) => {
    const elemType = input(ctx, 0).elemType;
    const [s, l, d] = [0, 1, 2].map((i) => dimValues(ctx, i)?.[0]);
    // arange(n) of a symbolic n has n elements.
    if (s === 0 && d === 1 && typeof l === 'string') return [{ elemType, shape: [l] }];
    if (typeof s !== 'number' || typeof l !== 'number' || typeof d !== 'number') return [{ elemType, shape: [ctx.freshDim()] }];
    if (d === 0) fail('Range delta cannot be 0');
    return [{ elemType, shape: [Math.max(0, Math.ceil((l - s) / d))] }];
  },
  cost: movementCost,
  fold: {
    value(_ctx, [s, l, d], outDims) {
      if (!s || !d || !l) return undefined;
      const [start, delta] = [s.values[0]!, d.values[0]!];
      return { dataType: s.dataType, values: Array.from({ length: outDims[0]! }, (_, i) => start + i * delta) };
    },
  },
  props: { ...NO_GRADIENT, fp16Sensitive: true },
};

const eyeLike: OpRule = {
  opTypes: ['EyeLike'],
  infer: (ctx) => [{ elemType: ctx.attr.int('dtype') ?? input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: movementCost,
  props: NO_GRADIENT,
};

// ---- Resize / depth-space ---------------------------------------------------------------------------

const resize = eachOp(
  {
    infer: (ctx) => {
      const x = input(ctx, 0);
      if (!x.shape) return [{ elemType: x.elemType }];
      const r = x.shape.length;
      const isUpsample = ctx.node.opType === 'Upsample';
      let scales: number[] | undefined;
      let sizes: Dim[] | undefined;
      if (isUpsample) scales = ctx.opset < 9 ? ctx.attr.floats('scales') : constNumbers(ctx, 1);
      else if (ctx.opset < 11) scales = constNumbers(ctx, 1);
      else {
        sizes = hasInput(ctx, 3) ? dimValues(ctx, 3) : undefined;
        const sc = hasInput(ctx, 2) ? constNumbers(ctx, 2) : undefined;
        scales = sc && sc.length > 0 ? sc : undefined;
        if (!sizes && !scales) return [{ elemType: x.elemType, shape: fresh(ctx, r) }];
      }
      if (!sizes && !scales) return [{ elemType: x.elemType, shape: fresh(ctx, r) }];
      const axes = (ctx.attr.ints('axes') ?? Array.from({ length: r }, (_, i) => i)).map((a) => normAxis(a, r));
      const vals = (sizes ?? scales)!;
      if (vals.length !== axes.length)
        fail(`${ctx.node.opType} has ${vals.length} ${sizes ? 'sizes' : 'scales'} for ${axes.length} axes of ${shapeStr(x.shape)}`);
      const out = [...x.shape];
      axes.forEach((a, k) => {
        const d = out[a]!;
        if (sizes) out[a] = sizes[k]!;
        else if (scales![k] === 1) out[a] = d;
        else out[a] = typeof d === 'number' ? Math.floor(d * scales![k]!) : ctx.freshDim();
      });
      return [{ elemType: x.elemType, shape: out }];
    },
    cost: perElementCost(4),
  },
  {
    Resize: { grad: resizeGrad, props: { fp16Sensitive: true, settingInputs: [1, 2, 3] }, prune: { flow: resizedChannels } },
    Upsample: { props: { fp16Sensitive: true, settingInputs: [1] }, prune: { flow: resizedChannels } },
  },
);

/** Channels pass a Resize/Upsample that scales their axis by 1 (sizes would spell out the channel count). */
function resizedChannels(ctx: PruneContext, input: number, axis: number): PruneFlow | undefined {
  if (input !== 0 || (ctx.node.input[3] ?? '') !== '') return undefined;
  const scales =
    ctx.node.opType === 'Upsample' && !ctx.node.input[1]
      ? ctx.attr.floats('scales')
      : ctx.constantNumbers(ctx.node.input.length >= 3 ? 2 : 1);
  const axes = ctx.attr.ints('axes');
  const k = axes ? axes.indexOf(axis) : axis;
  return k < 0 || scales?.[k] === 1 ? through(axis, []) : undefined;
}

const depthSpace: OpRule = {
  opTypes: ['DepthToSpace', 'SpaceToDepth'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    if (x.shape.length !== 4) fail(`${ctx.node.opType} needs a 4-D input, got ${shapeStr(x.shape)}`);
    const b = ctx.attr.int('blocksize');
    if (!b) fail(`${ctx.node.opType} needs blocksize`);
    const [n, c, h, w] = x.shape as [Dim, Dim, Dim, Dim];
    const mul = (d: Dim, k: number): Dim => (typeof d === 'number' ? d * k : ctx.freshDim());
    const div = (d: Dim, k: number): Dim => {
      if (typeof d !== 'number') return ctx.freshDim();
      if (d % k !== 0) fail(`${ctx.node.opType}: dim ${d} of ${shapeStr(x.shape)} is not divisible by ${k}`);
      return d / k;
    };
    const shape = ctx.node.opType === 'DepthToSpace' ? [n, div(c, b * b), mul(h, b), mul(w, b)] : [n, mul(c, b * b), div(h, b), div(w, b)];
    return [{ elemType: x.elemType, shape }];
  },
  cost: movementCost,
};

// ---- Data-dependent and misc ------------------------------------------------------------------------

const nonZero: OpRule = {
  opTypes: ['NonZero'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    return [{ elemType: DataType.INT64, shape: [x.shape ? x.shape.length : ctx.freshDim(), ctx.freshDim()] }];
  },
  cost: movementCost,
  props: NO_GRADIENT,
};

const compress: OpRule = {
  opTypes: ['Compress'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const axis = ctx.attr.int('axis');
    if (axis === undefined) return [{ elemType: x.elemType, shape: [ctx.freshDim()] }];
    const a = normAxis(axis, x.shape.length);
    return [{ elemType: x.elemType, shape: x.shape.map((d, i) => (i === a ? ctx.freshDim() : d)) }];
  },
  cost: movementCost,
};

const topK: OpRule = {
  opTypes: ['TopK'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }, { elemType: DataType.INT64 }];
    const axis = normAxis(ctx.attr.int('axis', -1), x.shape.length);
    const k = ctx.opset < 10 ? ctx.attr.int('k') : constNumbers(ctx, 1)?.[0];
    const d = x.shape[axis]!;
    if (k !== undefined && typeof d === 'number' && k > d) fail(`TopK k=${k} is larger than dim ${d} of axis ${axis}`);
    const shape = x.shape.map((e, i) => (i === axis ? (k ?? ctx.freshDim()) : e));
    return [
      { elemType: x.elemType, shape },
      { elemType: DataType.INT64, shape },
    ];
  },
  cost: (ctx, outputs) => ({ macs: 0, flops: numel(ctx.inputs[0]) * 2, ...ioBytes(ctx, outputs) }),
  props: { fp16Sensitive: true },
};

const sameShape = eachOp(
  {
    infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
    cost: perElementCost(1),
  },
  { Trilu: {}, CumSum: { props: { fp16Sensitive: true } }, ReverseSequence: {} },
);

const oneHot: OpRule = {
  opTypes: ['OneHot'],
  infer: (ctx) => {
    const idx = input(ctx, 0);
    const elemType = input(ctx, 2).elemType;
    if (!idx.shape) return [{ elemType }];
    const depth = constNumbers(ctx, 1)?.[0];
    const r = idx.shape.length + 1;
    const axis = normAxis(ctx.attr.int('axis', -1), r);
    const out = [...idx.shape];
    out.splice(axis, 0, depth ?? ctx.freshDim());
    return [{ elemType, shape: out }];
  },
  cost: movementCost,
  props: NO_GRADIENT,
};

const gridSample: OpRule = {
  opTypes: ['GridSample'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const g = input(ctx, 1).shape;
    if (!x.shape || !g) return [{ elemType: x.elemType }];
    return [{ elemType: x.elemType, shape: [x.shape[0]!, x.shape[1]!, ...g.slice(1, -1)] }];
  },
  cost: perElementCost(8),
};

const roiAlign = eachOp(
  {
    infer: (ctx) => {
      const x = input(ctx, 0);
      const rois = input(ctx, 1).shape;
      const [h, w] =
        ctx.node.opType === 'RoiAlign'
          ? [ctx.attr.int('output_height', 1), ctx.attr.int('output_width', 1)]
          : (ctx.attr.ints('pooled_shape') ?? fail('MaxRoiPool needs pooled_shape'));
      return [{ elemType: x.elemType, shape: [rois?.[0] ?? ctx.freshDim(), x.shape?.[1] ?? ctx.freshDim(), h!, w!] }];
    },
    cost: perElementCost(4),
  },
  { RoiAlign: { props: { fp16Sensitive: true } }, MaxRoiPool: {} },
);

const nms: OpRule = {
  opTypes: ['NonMaxSuppression'],
  infer: (ctx) => [{ elemType: DataType.INT64, shape: [ctx.freshDim(), 3] }],
  cost: movementCost,
  props: { fp16Sensitive: true },
};

const stringNormalizer: OpRule = {
  opTypes: ['StringNormalizer'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    // Stopword removal changes the count of strings; a [1, C] input stays 2-D.
    const shape = x.shape?.length === 2 ? [1, ctx.freshDim()] : [ctx.freshDim()];
    return [{ elemType: DataType.STRING, shape }];
  },
  cost: movementCost,
};

/** Unique: sorted/unsorted unique values (a data-dependent count), their indices, the inverse map and counts. */
const unique: OpRule = {
  opTypes: ['Unique'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const axis = ctx.attr.int('axis');
    const count = ctx.freshDim();
    let y: Dim[] | undefined = [count];
    let inverse: Dim[] | undefined = [productDim(ctx, x.shape ?? [ctx.freshDim()])];
    if (axis !== undefined) {
      if (!x.shape)
        return [
          { elemType: x.elemType },
          { elemType: DataType.INT64, shape: [count] },
          { elemType: DataType.INT64 },
          { elemType: DataType.INT64, shape: [count] },
        ];
      const a = normAxis(axis, x.shape.length);
      y = x.shape.map((d, i) => (i === a ? count : d));
      inverse = [x.shape[a]!];
    }
    const out: ValueType[] = [
      { elemType: x.elemType, shape: y },
      { elemType: DataType.INT64, shape: [count] },
      { elemType: DataType.INT64, shape: inverse },
      { elemType: DataType.INT64, shape: [count] },
    ];
    return out.slice(0, ctx.node.output.length);
  },
  cost: movementCost,
};

const det: OpRule = {
  opTypes: ['Det'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (x.shape && x.shape.length < 2) fail(`Det needs [..., M, M], got ${shapeStr(x.shape)}`);
    return [{ elemType: x.elemType, shape: x.shape?.slice(0, -2) }];
  },
  cost: (ctx, outputs) => {
    const m = ctx.inputs[0]?.shape?.at(-1);
    const k = typeof m === 'number' ? m : 1;
    return {
      macs: numel(outputs[0]) * Math.ceil((k * k * k) / 3),
      flops: numel(outputs[0]) * Math.ceil((2 * k * k * k) / 3),
      ...ioBytes(ctx, outputs),
    };
  },
};

/** Random generators: a shape attribute, or the shape of the input (…Like, Bernoulli); dtype attribute or the input's. */
const random = eachOp(
  {
    infer: (ctx) => {
      const op = ctx.node.opType!;
      if (op === 'RandomNormal' || op === 'RandomUniform') {
        const shape = ctx.attr.ints('shape') ?? fail(`${op} needs the attribute shape`);
        return [{ elemType: ctx.attr.int('dtype', DataType.FLOAT), shape }];
      }
      const x = input(ctx, 0);
      if (op === 'Multinomial') {
        return [{ elemType: ctx.attr.int('dtype', DataType.INT32), shape: x.shape && [x.shape[0]!, ctx.attr.int('sample_size', 1)] }];
      }
      return [{ elemType: ctx.attr.int('dtype') ?? x.elemType, shape: x.shape }];
    },
    cost: perElementCost(4),
  },
  {
    RandomNormal: { props: { ...NO_GRADIENT, fp16Sensitive: true } },
    RandomUniform: { props: { ...NO_GRADIENT, fp16Sensitive: true } },
    RandomNormalLike: { props: { ...NO_GRADIENT, fp16Sensitive: true } },
    RandomUniformLike: { props: { ...NO_GRADIENT, fp16Sensitive: true } },
    Bernoulli: {},
    Multinomial: { props: { ...NO_GRADIENT, fp16Sensitive: true } },
  },
);

/** Col2Im(input [N, C·∏block, L], image_shape, block_shape) → [N, C, ...image_shape]. */
const col2im: OpRule = {
  opTypes: ['Col2Im'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const image = dimValues(ctx, 1);
    const block = constNumbers(ctx, 2);
    const n = ctx.inputs[1]?.shape?.[0];
    const spatialDims = image ?? (typeof n === 'number' ? fresh(ctx, n) : undefined);
    if (!x.shape || !spatialDims) return [{ elemType: x.elemType }];
    const cb = x.shape[1]!;
    const blockSize = block?.reduce((p, b) => p * b, 1);
    const c: Dim = typeof cb === 'number' && blockSize ? cb / blockSize : ctx.freshDim();
    return [{ elemType: x.elemType, shape: [x.shape[0]!, c, ...spatialDims] }];
  },
  cost: movementCost,
};

/** CenterCropPad(input, shape): the given axes take the sizes in `shape`. */
const centerCropPad: OpRule = {
  opTypes: ['CenterCropPad'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const r = x.shape.length;
    const axes = (ctx.attr.ints('axes') ?? Array.from({ length: r }, (_, i) => i)).map((a) => normAxis(a, r));
    const sizes = dimValues(ctx, 1);
    const out = [...x.shape];
    axes.forEach((a, k) => {
      out[a] = sizes?.[k] ?? ctx.freshDim();
    });
    return [{ elemType: x.elemType, shape: out }];
  },
  cost: movementCost,
};

/** AffineGrid(theta [N, 2|3, 3|4], size [N, C, H, W(, D)]) → [N, H, W, 2] or [N, D, H, W, 3]. */
const affineGrid: OpRule = {
  opTypes: ['AffineGrid'],
  infer: (ctx) => {
    const theta = input(ctx, 0);
    const size = dimValues(ctx, 1);
    if (!size) {
      const n = ctx.inputs[1]?.shape?.[0];
      return [
        {
          elemType: theta.elemType,
          shape: typeof n === 'number' ? [theta.shape?.[0] ?? ctx.freshDim(), ...fresh(ctx, n - 2), n - 2] : undefined,
        },
      ];
    }
    return [{ elemType: theta.elemType, shape: [size[0]!, ...size.slice(2), size.length - 2] }];
  },
  cost: perElementCost(6),
};

const strings: OpRule = {
  opTypes: ['StringConcat', 'RegexFullMatch', 'StringSplit'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    switch (ctx.node.opType) {
      case 'StringConcat':
        return [{ elemType: DataType.STRING, shape: broadcast(ctx, [x.shape, input(ctx, 1).shape]) }];
      case 'RegexFullMatch':
        return [{ elemType: DataType.BOOL, shape: x.shape }];
      // Substrings padded to the longest split: a data-dependent last dim; Z counts them per element.
      default:
        return [
          { elemType: DataType.STRING, shape: x.shape && [...x.shape, ctx.freshDim()] },
          { elemType: DataType.INT64, shape: x.shape },
        ];
    }
  },
  cost: movementCost,
};

/** ImageDecoder(encoded bytes) → [H, W, C] uint8, C = 1 for Grayscale else 3; H and W depend on the image. */
const imageDecoder: OpRule = {
  opTypes: ['ImageDecoder'],
  infer: (ctx) => [
    { elemType: DataType.UINT8, shape: [ctx.freshDim(), ctx.freshDim(), ctx.attr.string('pixel_format', 'RGB') === 'Grayscale' ? 1 : 3] },
  ],
  cost: movementCost,
};

/** TensorScatter(past_cache, update, write_indices?) → the cache with the update written in: past_cache's type. */
const tensorScatter: OpRule = {
  opTypes: ['TensorScatter'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: movementCost,
};

// ---- Einsum ----------------------------------------------------------------------------------------

interface EinsumPlan {
  terms: string[][];
  output: string[];
}

/** Parses an einsum equation into per-operand letter lists ('.' stands for one ellipsis dim, expanded later). */
function parseEinsum(eq: string, ranks: number[]): EinsumPlan {
  const clean = eq.replace(/\s+/g, '');
  const [lhs, rhs] = clean.split('->') as [string, string | undefined];
  const rawTerms = lhs.split(',');
  if (rawTerms.length !== ranks.length)
    fail(`Einsum equation '${eq}' has ${rawTerms.length} operands but the node has ${ranks.length} inputs`);
  let ellipsisRank = 0;
  const terms = rawTerms.map((t, i) => {
    const letters = t.replace('...', '').split('');
    if (t.includes('...')) ellipsisRank = Math.max(ellipsisRank, ranks[i]! - letters.length);
    return t;
  });
  const ell = Array.from({ length: ellipsisRank }, (_, k) => `#${k}`);
  const expand = (t: string, rank?: number): string[] => {
    if (!t.includes('...')) return t.split('');
    const [a, b] = t.split('...') as [string, string];
    const n = rank === undefined ? ellipsisRank : rank - a.length - b.length;
    return [...a.split(''), ...ell.slice(ellipsisRank - n), ...b.split('')];
  };
  const expanded = terms.map((t, i) => expand(t, ranks[i]));
  let output: string[];
  if (rhs !== undefined) output = expand(rhs);
  else {
    const counts = new Map<string, number>();
    for (const t of expanded) for (const l of t) if (!l.startsWith('#')) counts.set(l, (counts.get(l) ?? 0) + 1);
    output = [
      ...ell,
      ...[...counts]
        .filter(([, c]) => c === 1)
        .map(([l]) => l)
        .sort(),
    ];
  }
  return { terms: expanded, output };
}

function einsumDims(ctx: OpContext): { plan: EinsumPlan; dims: Map<string, Dim> } | undefined {
  const shapes = ctx.node.input.map((_, i) => input(ctx, i).shape);
  if (shapes.some((s) => s === undefined)) return undefined;
  const eq = ctx.attr.string('equation');
  if (!eq) fail('Einsum needs an equation');
  const plan = parseEinsum(
    eq,
    shapes.map((s) => s!.length),
  );
  const dims = new Map<string, Dim>();
  plan.terms.forEach((t, i) => {
    const s = shapes[i]!;
    if (t.length !== s.length) fail(`Einsum term ${i} of '${eq}' has ${t.length} letters for an input of rank ${s.length}`);
    t.forEach((l, k) => {
      const d = s[k]!;
      const prev = dims.get(l);
      if (prev === undefined || prev === 1 || (typeof prev === 'string' && typeof d === 'number' && d !== 1)) dims.set(l, d);
      else if (typeof prev === 'number' && typeof d === 'number' && d !== prev && d !== 1)
        fail(`Einsum '${eq}': letter ${l} has sizes ${prev} and ${d}`);
    });
  });
  return { plan, dims };
}

const einsum: OpRule = {
  opTypes: ['Einsum'],
  infer: (ctx) => {
    const elemType = input(ctx, 0).elemType;
    const r = einsumDims(ctx);
    if (!r) return [{ elemType }];
    return [{ elemType, shape: r.plan.output.map((l) => r.dims.get(l) ?? fail(`Einsum output letter ${l} is not in any input`)) }];
  },
  cost: (ctx, outputs): Cost => {
    // A contraction visits every combination of all letters once (one MAC per operand pair).
    const r = einsumDims(ctx);
    const all = r ? (knownProduct([...r.dims.values()].map((d) => (typeof d === 'number' ? d : 1))) ?? 1) : numel(outputs[0]);
    const macs = all * Math.max(1, ctx.node.input.length - 1);
    return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
  },
};

export const tensorOps: OpRule[] = [
  reshape,
  flatten,
  transpose,
  squeeze,
  unsqueeze,
  concat,
  split,
  slice,
  gather,
  gatherElements,
  gatherND,
  scatter,
  expand,
  tile,
  pad,
  shape,
  size,
  constantOfShape,
  constant,
  range,
  eyeLike,
  ...resize,
  depthSpace,
  nonZero,
  compress,
  topK,
  ...sameShape,
  oneHot,
  gridSample,
  ...roiAlign,
  nms,
  stringNormalizer,
  einsum,
  unique,
  det,
  ...random,
  col2im,
  centerCropPad,
  affineGrid,
  strings,
  imageDecoder,
  tensorScatter,
];
