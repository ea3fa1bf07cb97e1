/**
 * Quantization rules per op type, as data (see `QuantRule` in types.ts). They live here for now, beside
 * the op families, and are attached to each op's rule with `quantRule()`; folding them into the family
 * files is a mechanical move.
 */
import { getOpRule } from './registry.js';
import type { QuantRule } from './types.js';

const conv: QuantRule = {
  kind: 'compute',
  activations: [0],
  weights: [{ input: 1, axis: 0 }],
  bias: 2,
  qoperator: { opType: 'QLinearConv', layout: ['x0', 'x1', 'y0', 'b2'] },
};

const matmul: QuantRule = {
  // B is a weight when it is an initializer, an activation otherwise (attention's Q·Kᵀ).
  kind: 'compute',
  activations: [0, 1],
  weights: [{ input: 1, axis: -1 }],
  qoperator: { opType: 'QLinearMatMul', layout: ['x0', 'x1', 'y0'] },
  dynamic: true,
  int4: true,
};

const gemm: QuantRule = {
  kind: 'compute',
  activations: [0],
  weights: [{ input: 1, axis: { attr: 'transB', ifZero: 1, ifSet: 0 } }],
  bias: 2,
  qoperator: { opType: 'QGemm', domain: 'com.microsoft', layout: ['x0', 'x1', 'b2', 'y0'] },
  dynamic: true,
};

const binary = (opType: string): QuantRule => ({
  kind: 'compute',
  activations: [0, 1],
  qoperator: { opType, domain: 'com.microsoft', layout: ['x0', 'x1', 'y0'] },
});

const unary = (opType: string, attrs?: Record<string, number>): QuantRule => ({
  kind: 'compute',
  activations: [0],
  qoperator: { opType, domain: 'com.microsoft', layout: ['x0', 'y0'], attrs },
});

const passthrough: QuantRule = { kind: 'passthrough', activations: [0] };

export const QUANT_RULES: Readonly<Record<string, QuantRule>> = {
  Conv: conv,
  MatMul: matmul,
  Gemm: gemm,
  Add: binary('QLinearAdd'),
  Mul: binary('QLinearMul'),
  GlobalAveragePool: unary('QLinearGlobalAveragePool', { channels_last: 0 }),
  AveragePool: unary('QLinearAveragePool'),
  Sigmoid: unary('QLinearSigmoid'),
  LeakyRelu: unary('QLinearLeakyRelu'),
  Concat: { kind: 'compute', activations: 'all', qoperator: { opType: 'QLinearConcat', domain: 'com.microsoft', layout: ['y0', '*x'] } },
  // Ops that only move, select or clip values: an int8 tensor passes through with its scale unchanged.
  MaxPool: passthrough,
  Relu: { ...passthrough, foldsIntoRange: {} },
  Clip: { ...passthrough, foldsIntoRange: { lowerInput: 1, lowerAttr: 'min' } },
  Reshape: passthrough,
  Transpose: passthrough,
  Flatten: passthrough,
  Squeeze: passthrough,
  Unsqueeze: passthrough,
};

/** The quantization rule of an op: the op's own `quant` field when its family sets one, else this table. */
export function quantRule(domain: string | undefined, opType: string): QuantRule | undefined {
  if (domain && domain !== 'ai.onnx') return getOpRule(domain, opType)?.quant;
  return getOpRule(domain, opType)?.quant ?? QUANT_RULES[opType];
}
