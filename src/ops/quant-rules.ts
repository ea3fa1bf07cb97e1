/**
 * Shapes of quantization rules (`QuantRule` in types.ts) that several op families share. Each op's rule
 * is set in its family file (`quant` in the op's definition); the quantizer reads it through `quantRule`.
 */
import type { QuantRule } from './types.js';

/** A binary op ORT runs in int8 as the com.microsoft QLinear form `opType` (QLinearAdd…). */
export const qlinearBinary = (opType: string): QuantRule => ({
  kind: 'compute',
  activations: [0, 1],
  qoperator: { opType, domain: 'com.microsoft', layout: ['x0', 'x1', 'y0'] },
});

/** A unary op ORT runs in int8 as the com.microsoft QLinear form `opType` (QLinearSigmoid…). */
export const qlinearUnary = (opType: string, attrs?: Record<string, number>): QuantRule => ({
  kind: 'compute',
  activations: [0],
  qoperator: { opType, domain: 'com.microsoft', layout: ['x0', 'y0'], attrs },
});

/** Ops that only move, select or clip values: an int8 tensor passes through with its scale unchanged. */
export const passthroughQuant: QuantRule = { kind: 'passthrough', activations: [0] };
