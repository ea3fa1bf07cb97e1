/**
 * The driver of the op families' fold rules (`FoldRule`, `fold` in each op's definition): static
 * evaluation of the small integer arithmetic that exporters emit around shapes (PyTorch's Shape → Gather →
 * Unsqueeze → Concat → Reshape chains), so that shape inference sees the values. Only small tensors
 * (≤ MAX_ELEMENTS) are evaluated, in JS numbers; nothing here rewrites the model (graph-level folding is
 * `passes/fold.ts`).
 */
import { getOpRule } from './registry.js';
import type { Dim, FoldValue, OpContext, ValueType } from './types.js';
import { DataType, isNumberType } from '../ir/dtype.js';
import type { TensorProto } from '../ir/proto.js';
import { arrayCtor, makeTensor, numElements, tensorNumbers, toInt64, type TypedArray } from '../ir/tensor.js';

const MAX_ELEMENTS = 4096;

/** The output values of `ctx.node` when they can be computed from constant inputs (or, for Shape/Size, from known shapes). */
export function foldNode(ctx: OpContext, outputs: ValueType[]): TensorProto[] | undefined {
  if ((ctx.node.domain ?? '') !== '' && ctx.node.domain !== 'ai.onnx') return undefined;
  const rule = getOpRule(ctx.node.domain, ctx.node.opType ?? '')?.fold;
  if (!rule?.value && !rule?.outputs) return undefined;
  try {
    const inputs: (FoldValue | undefined)[] = ctx.node.input.map((name, i) => (name === '' ? undefined : foldedValue(ctx.constant(i))));
    if (rule.outputs) {
      const vs = rule.outputs(ctx, inputs, outputs);
      return vs?.map((v) => numbersTensor(v.dataType, v.dims, v.values));
    }
    const out = outputs[0];
    if (!out?.shape?.every((d): d is number => typeof d === 'number') || numElements(out.shape) > MAX_ELEMENTS) return undefined;
    const v = rule.value!(ctx, inputs, out.shape);
    if (!v || v.values.some((x) => Number.isNaN(x))) return undefined;
    return [numbersTensor(v.dataType, out.shape, v.values)];
  } catch {
    return undefined; // an input is not a plain number tensor (or its external data is not loaded): leave it unknown
  }
}

function foldedValue(t: TensorProto | undefined): FoldValue | undefined {
  if (!t || !isNumberType(t.dataType) || numElements(t.dims) > MAX_ELEMENTS) return undefined;
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
  return getOpRule(ctx.node.domain, ctx.node.opType ?? '')?.fold?.dims?.(ctx, elems);
}
