/**
 * Matrix products: MatMul (numpy semantics: 1-D promotion, batched with broadcasting), Gemm, the
 * integer and quantized variants, and ORT's com.microsoft quantized matmuls. MACs = batch*M*N*K.
 * matmulLike: the float products (MatMul, Gemm, FusedMatMul; attention.ts has the attention ops).
 */
import { DataType } from '../ir/dtype.js';
import { gemmGrad, matmulGrad } from './grad/math.js';
import { slice } from './prune-rules.js';
import type { Cost, Dim, OpContext, OpRule, ValueType } from './types.js';
import { broadcast, fail, input, ioBytes, numel, shapeStr } from './util.js';

/** Output shape of numpy matmul of shapes a and b; undefined when a rank is unknown. */
export function matmulShape(ctx: OpContext, a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
  if (!a || !b) return undefined;
  if (a.length === 0 || b.length === 0) fail('MatMul inputs must have rank >= 1');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) fail(`MatMul inner dims differ: ${shapeStr(a)} x ${shapeStr(b)}`);
  const batch = broadcast(ctx, [a2.slice(0, -2), b2.slice(0, -2)])!;
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** MACs of a matmul: every output element takes K multiply-adds (K from A's last dim). */
function matmulMacs(a: ValueType | undefined, out: ValueType | undefined): number {
  const k = a?.shape?.[a.shape.length - 1];
  return numel(out) * (typeof k === 'number' ? k : 1);
}

function matmulCost(ctx: OpContext, outputs: ValueType[]): Cost {
  const macs = matmulMacs(ctx.inputs[0], outputs[0]);
  return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
}

const matmul: OpRule = {
  opTypes: ['MatMul'],
  infer: (ctx) => [{ elemType: input(ctx, 0).elemType, shape: matmulShape(ctx, input(ctx, 0).shape, input(ctx, 1).shape) }],
  cost: matmulCost,
  grad: matmulGrad,
  quant: {
    // B is a weight when it is an initializer, an activation otherwise (attention's Q·Kᵀ).
    kind: 'compute',
    activations: [0, 1],
    weights: [{ input: 1, axis: -1 }],
    qoperator: { opType: 'QLinearMatMul', layout: ['x0', 'x1', 'y0'] },
    dynamic: true,
    int4: true,
  },
  prune: {
    // A constant 2-D B: column n of B makes feature n of the output's last axis; row k reads feature k of A's.
    produces: (ctx) => {
      const rank = ctx.outputs[0]?.shape?.length;
      return ctx.isConstant(1) && ctx.inputs[1]?.shape?.length === 2 && rank !== undefined
        ? { axis: rank - 1, slices: [slice(1, 1)] }
        : undefined;
    },
    flow: (ctx, input, axis) =>
      input === 0 && ctx.isConstant(1) && ctx.inputs[1]?.shape?.length === 2 && axis === (ctx.inputs[0]?.shape?.length ?? 0) - 1
        ? { kind: 'absorb', slices: [slice(1, 0)] }
        : undefined,
  },
  props: {
    matmulLike: true,
    ortForms: ['Gemm', 'FusedGemm', 'FusedMatMul', 'MatMulNBits', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul'],
  },
};

const matmulInteger: OpRule = {
  opTypes: ['MatMulInteger'],
  infer: (ctx) => [{ elemType: DataType.INT32, shape: matmulShape(ctx, input(ctx, 0).shape, input(ctx, 1).shape) }],
  cost: matmulCost,
};

/** QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp): output has y_zp's type. */
const qlinearMatmul: OpRule = {
  opTypes: ['QLinearMatMul'],
  infer: (ctx) => [{ elemType: input(ctx, 7).elemType, shape: matmulShape(ctx, input(ctx, 0).shape, input(ctx, 3).shape) }],
  cost: matmulCost,
};

const gemm: OpRule = {
  opTypes: ['Gemm'],
  infer: (ctx) => {
    const a = input(ctx, 0);
    const b = input(ctx, 1);
    if (!a.shape || !b.shape) return [{ elemType: a.elemType }];
    if (a.shape.length !== 2 || b.shape.length !== 2) fail(`Gemm needs 2-D A and B, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
    const ta = ctx.attr.int('transA', 0) !== 0;
    const tb = ctx.attr.int('transB', 0) !== 0;
    const [m, ka] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [kb, n] = tb ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
      fail(
        `Gemm inner dims differ: A ${shapeStr(a.shape)}${ta ? ' (transposed)' : ''} and B ${shapeStr(b.shape)}${tb ? ' (transposed)' : ''}`,
      );
    }
    const c = ctx.inputs[2];
    if (c?.shape) broadcast(ctx, [[m, n], c.shape]);
    return [{ elemType: a.elemType, shape: [m, n] }];
  },
  cost: (ctx, outputs) => {
    const a = ctx.inputs[0];
    const ta = ctx.attr.int('transA', 0) !== 0;
    const k = a?.shape?.[ta ? 0 : 1];
    const mn = numel(outputs[0]);
    const macs = mn * (typeof k === 'number' ? k : 1);
    const hasBias = (ctx.node.input[2] ?? '') !== '';
    return { macs, flops: 2 * macs + (hasBias ? mn : 0) + (ctx.attr.float('alpha', 1) !== 1 ? mn : 0), ...ioBytes(ctx, outputs) };
  },
  grad: gemmGrad,
  quant: {
    kind: 'compute',
    activations: [0],
    weights: [{ input: 1, axis: { attr: 'transB', ifZero: 1, ifSet: 0 } }],
    bias: 2,
    qoperator: { opType: 'QGemm', domain: 'com.microsoft', layout: ['x0', 'x1', 'b2', 'y0'] },
    dynamic: true,
  },
  prune: {
    // Output column n is B's row n (transB) or column n, plus C's column n when C has one per column.
    produces(ctx) {
      if (!ctx.isConstant(1)) return undefined;
      const c = ctx.inputs[2]?.shape;
      const n = ctx.outputs[0]?.shape?.[1];
      const bias = (ctx.node.input[2] ?? '') !== '' && c && c.length > 0 && c[c.length - 1] === n && n !== 1;
      if (bias && !ctx.isConstant(2)) return undefined;
      return { axis: 1, slices: [slice(1, ctx.attr.int('transB', 0) ? 0 : 1), ...(bias ? [slice(2, c.length - 1, 'other')] : [])] };
    },
    flow: (ctx, input, axis) =>
      input === 0 && axis === 1 && !ctx.attr.int('transA', 0) && ctx.isConstant(1)
        ? { kind: 'absorb', slices: [slice(1, ctx.attr.int('transB', 0) ? 1 : 0)] }
        : undefined,
  },
  props: { matmulLike: true, legacyBroadcast: true, ortForms: ['FusedGemm', 'QGemm'] },
};

/** MatMulNBits(A, B packed [N, blocks, blob], scales, …): A [.., K] → [.., N] with N, K as attributes. */
const matmulNBits: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['MatMulNBits'],
  infer: (ctx) => {
    const a = input(ctx, 0);
    const n = ctx.attr.int('N');
    const k = ctx.attr.int('K');
    if (n === undefined || k === undefined) fail('MatMulNBits needs the attributes N and K');
    const last = a.shape?.[a.shape.length - 1];
    if (typeof last === 'number' && last !== k) fail(`MatMulNBits: A's last dim ${last} is not K=${k}`);
    return [{ elemType: a.elemType, shape: a.shape && [...a.shape.slice(0, -1), n] }];
  },
  cost: matmulCost,
};

/** DynamicQuantizeMatMul(A float, B int8, b_scale, b_zp, bias) and MatMulIntegerToFloat(A, B, a_scale, b_scale, …): float outputs. */
const msQuantMatmul: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['DynamicQuantizeMatMul', 'MatMulIntegerToFloat'],
  infer: (ctx) => {
    const elemType = ctx.node.opType === 'DynamicQuantizeMatMul' ? input(ctx, 0).elemType : input(ctx, 2).elemType;
    return [{ elemType, shape: matmulShape(ctx, input(ctx, 0).shape, input(ctx, 1).shape) }];
  },
  cost: matmulCost,
};

/** com.microsoft FusedMatMul: MatMul with optional transposes of the last two dims and alpha. */
const fusedMatmul: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['FusedMatMul'],
  infer: (ctx) => {
    const t = (s: Dim[] | undefined, on: boolean) =>
      s && on && s.length >= 2 ? [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!] : s;
    const a = t(input(ctx, 0).shape, ctx.attr.int('transA', 0) !== 0);
    const b = t(input(ctx, 1).shape, ctx.attr.int('transB', 0) !== 0);
    return [{ elemType: input(ctx, 0).elemType, shape: matmulShape(ctx, a, b) }];
  },
  cost: (ctx, outputs) => {
    const a = ctx.inputs[0]?.shape;
    const k = a && (ctx.attr.int('transA', 0) !== 0 ? a[a.length - 2] : a[a.length - 1]);
    const macs = numel(outputs[0]) * (typeof k === 'number' ? k : 1);
    return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
  },
  props: { matmulLike: true },
};

export const matmulOps: OpRule[] = [matmul, matmulInteger, qlinearMatmul, gemm, matmulNBits, msQuantMatmul, fusedMatmul];
