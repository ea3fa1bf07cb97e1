/**
 * Sequence values inside shape inference. `ValueType` describes tensors only, so sequences are tracked
 * here, beside the tensor types: what each element is when the sequence's makeup is known statically
 * (SequenceConstruct, SplitToSequence of a known shape, inserts at constant positions), else the common
 * type of any element. Sequence ops then give their tensor outputs (SequenceAt, ConcatFromSequence,
 * SequenceLength) real types.
 */
import type { Dim, OpContext, ValueType } from './types.js';
import { fail, input, normAxis, shapeStr } from './util.js';
import { DataType } from '../ir/dtype.js';
import { tensorNumbers } from '../ir/tensor.js';

export interface SeqType {
  elemType: number;
  /** Each element's type, in order, when known. */
  items?: ValueType[];
  /** A type every element has (dims that differ between elements are symbols); undefined when none is known. */
  any?: ValueType;
}

/** Outputs of a sequence op: tensors (undefined where not a tensor) and the sequence it produces, if any. */
export interface SeqResult {
  tensors: (ValueType | undefined)[];
  seq?: SeqType;
}

export const sequenceOps = new Set([
  'SequenceEmpty',
  'SequenceConstruct',
  'SequenceInsert',
  'SequenceErase',
  'SequenceAt',
  'SequenceLength',
  'SplitToSequence',
  'ConcatFromSequence',
]);

/** Infers a sequence op; `seqOf(i)` is the sequence at input i, `merge` the common type of two types. */
export function inferSequenceOp(
  ctx: OpContext,
  seqOf: (i: number) => SeqType | undefined,
  merge: (a?: ValueType, b?: ValueType) => ValueType | undefined,
): SeqResult {
  const pos = (i: number): number | undefined => {
    const t = (ctx.node.input[i] ?? '') !== '' ? ctx.constant(i) : undefined;
    return t ? tensorNumbers(t)[0] : undefined;
  };
  const seq = (i: number): SeqType => seqOf(i) ?? fail(`input ${i} ('${ctx.node.input[i]}') is not a known sequence`);
  const mergeAll = (s: SeqType) => (s.items ? s.items.reduce<ValueType | undefined>((a, t) => merge(a, t), undefined) : s.any);
  const withItems = (elemType: number, items: ValueType[] | undefined, any: ValueType | undefined): SeqType => ({
    elemType,
    items,
    any: items ? items.reduce<ValueType | undefined>((a, t) => merge(a, t), undefined) : any,
  });
  const hasPos = (i: number) => (ctx.node.input[i] ?? '') !== '';

  switch (ctx.node.opType) {
    case 'SequenceEmpty':
      return { tensors: [undefined], seq: { elemType: ctx.attr.int('dtype', DataType.FLOAT), items: [] } };
    case 'SequenceConstruct': {
      const items = ctx.node.input.map((_, i) => input(ctx, i));
      return { tensors: [undefined], seq: withItems(items[0]!.elemType, items, undefined) };
    }
    case 'SequenceInsert': {
      const s = seq(0);
      const t = input(ctx, 1);
      const p = hasPos(2) ? pos(2) : s.items?.length;
      let items: ValueType[] | undefined;
      if (s.items && p !== undefined) {
        const at = p < 0 ? p + s.items.length : p;
        if (at < 0 || at > s.items.length) fail(`SequenceInsert position ${p} is outside a sequence of ${s.items.length}`);
        items = [...s.items.slice(0, at), t, ...s.items.slice(at)];
      }
      return { tensors: [undefined], seq: withItems(s.elemType, items, merge(s.any, t)) };
    }
    case 'SequenceErase': {
      const s = seq(0);
      const p = hasPos(1) ? pos(1) : -1;
      let items: ValueType[] | undefined;
      if (s.items && p !== undefined) {
        const at = p < 0 ? p + s.items.length : p;
        if (at < 0 || at >= s.items.length) fail(`SequenceErase position ${p} is outside a sequence of ${s.items.length}`);
        items = s.items.filter((_, i) => i !== at);
      }
      return { tensors: [undefined], seq: withItems(s.elemType, items, s.any) };
    }
    case 'SequenceAt': {
      const s = seq(0);
      const p = pos(1);
      if (s.items && p !== undefined) {
        const at = p < 0 ? p + s.items.length : p;
        const t = s.items[at] ?? fail(`SequenceAt position ${p} is outside a sequence of ${s.items.length}`);
        return { tensors: [t] };
      }
      return { tensors: [mergeAll(s) ?? { elemType: s.elemType }] };
    }
    case 'SequenceLength':
      seq(0);
      return { tensors: [{ elemType: DataType.INT64, shape: [] }] };
    case 'SplitToSequence':
      return { tensors: [undefined], seq: splitToSequence(ctx, merge) };
    case 'ConcatFromSequence': {
      const s = seq(0);
      return { tensors: [concatFromSequence(ctx, s, mergeAll(s))] };
    }
    default:
      fail(`${ctx.node.opType} is not a sequence op`);
  }
}

/** SplitToSequence(input, split?): chunks along `axis` (size 1 and squeezed unless keepdims, without split). */
function splitToSequence(ctx: OpContext, merge: (a?: ValueType, b?: ValueType) => ValueType | undefined): SeqType {
  const x = input(ctx, 0);
  if (!x.shape) return { elemType: x.elemType, any: { elemType: x.elemType } };
  const axis = normAxis(ctx.attr.int('axis', 0), x.shape.length);
  const d = x.shape[axis]!;
  const hasSplit = (ctx.node.input[1] ?? '') !== '';
  const split = hasSplit ? ctx.constant(1) : undefined;
  const shapeWith = (size: Dim | undefined): Dim[] =>
    size === undefined ? x.shape!.filter((_, i) => i !== axis) : x.shape!.map((e, i) => (i === axis ? size : e));
  let sizes: number[] | undefined;
  if (!hasSplit) {
    const keep = ctx.attr.int('keepdims', 1) !== 0;
    const item = { elemType: x.elemType, shape: shapeWith(keep ? 1 : undefined) };
    return typeof d === 'number'
      ? { elemType: x.elemType, items: Array.from({ length: d }, () => item), any: item }
      : { elemType: x.elemType, any: item };
  }
  if (split) {
    const v = tensorNumbers(split);
    if (split.dims.length === 0 && typeof d === 'number') {
      const chunk = v[0]!;
      if (chunk <= 0) fail(`SplitToSequence split ${chunk} must be positive`);
      sizes = Array.from({ length: Math.ceil(d / chunk) }, (_, i) => Math.min(chunk, d - i * chunk));
    } else if (split.dims.length === 1) {
      sizes = v;
      const total = v.reduce((a, b) => a + b, 0);
      if (typeof d === 'number' && total !== d) fail(`SplitToSequence sizes ${shapeStr(v)} sum to ${total}, not ${d}`);
    }
  }
  if (!sizes)
    return { elemType: x.elemType, any: { elemType: x.elemType, shape: x.shape.map((e, i) => (i === axis ? ctx.freshDim() : e)) } };
  const items = sizes.map((s) => ({ elemType: x.elemType, shape: shapeWith(s) }));
  return { elemType: x.elemType, items, any: items.reduce<ValueType | undefined>((a, t) => merge(a, t), undefined) };
}

/** ConcatFromSequence: Concat of the elements along `axis`, or a stack along a new axis (new_axis = 1). */
function concatFromSequence(ctx: OpContext, s: SeqType, any: ValueType | undefined): ValueType {
  const newAxis = ctx.attr.int('new_axis', 0) !== 0;
  const axisAttr = ctx.attr.int('axis') ?? fail('ConcatFromSequence needs axis');
  const ref = s.items?.[0] ?? any;
  if (!ref?.shape) return { elemType: s.elemType };
  const r = ref.shape.length;
  const axis = normAxis(axisAttr, newAxis ? r + 1 : r);
  const items = s.items;
  if (newAxis) {
    const n: Dim = items ? items.length : ctx.freshDim();
    const base = any?.shape ?? ref.shape;
    return { elemType: s.elemType, shape: [...base.slice(0, axis), n, ...base.slice(axis)] };
  }
  let total: Dim = ctx.freshDim();
  if (items?.every((t) => typeof t.shape?.[axis] === 'number')) total = items.reduce((a, t) => a + (t.shape![axis] as number), 0);
  const base = any?.shape ?? ref.shape;
  return { elemType: s.elemType, shape: base.map((d, i) => (i === axis ? total : d)) };
}
