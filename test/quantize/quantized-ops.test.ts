// One list of the op types that mean "quantized already" (src/ops/quant.ts), read by both `hone quantize`
// (quantizedAlready: it refuses such a model) and the profiler (quantizedOpTypes: no quantization advice),
// so the two never disagree: every op of the list, and every quantized form Hone's own passes write, is
// seen by both; float ops by neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyGraph, makeModel, makeNode } from '../../src/ir/builder.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { HoneError } from '../../src/errors.js';
import { isQuantizedOp, knownOpTypes, QUANTIZED_OP_TYPES, quantRule } from '../../src/ops/index.js';
import { quantizedOpTypes } from '../../src/profile/profile.js';
import { quantizedAlready, refuseQuantized, type QuantMode } from '../../src/quantize/common.js';
import { quantizeDynamic } from '../../src/quantize/dynamic.js';
import { quantizeInt4 } from '../../src/quantize/int4.js';
import { modelFacts, passById } from '../../src/passes/registry.js';
import { zooModel } from '../../src/zoo/index.js';

const MODES: QuantMode[] = ['dynamic', 'static', 'fp16', 'int4'];

/** A graph of one node of `opType` (no weights: only the op type can show it quantized). */
function oneNode(opType: string): ModelProto {
  const g = emptyGraph();
  g.node.push(makeNode(opType, ['x'], ['y'], {}, { name: 'n0' }));
  return makeModel(g);
}

test('every op of the list, and any other QLinear* op, is quantized for both quantize and profile', () => {
  for (const op of ['MatMulNBits', 'QAttention', 'DynamicQuantizeMatMul', 'QGemm', 'QLinearConv', 'QLinearMatMul', 'ConvInteger'])
    assert.ok(QUANTIZED_OP_TYPES.has(op), op);
  for (const op of [...QUANTIZED_OP_TYPES, 'QLinearSomethingNew']) {
    const m = oneNode(op);
    assert.deepEqual(quantizedOpTypes(m), [op], `profile: ${op}`);
    for (const mode of MODES) assert.deepEqual(quantizedAlready(m, mode), { kind: 'quantized', found: `1 ${op}` }, `${mode}: ${op}`);
  }
  for (const op of ['MatMul', 'Conv', 'Gemm', 'Cast', 'Attention', 'LayerNormalization', 'Quantize']) {
    const m = oneNode(op);
    assert.deepEqual(quantizedOpTypes(m), [], op);
    assert.equal(isQuantizedOp(op), false, op);
    for (const mode of MODES) assert.equal(quantizedAlready(m, mode), undefined, `${mode}: ${op}`);
  }
});

test("every QOperator form the op rules name, and Hone's own quantized models, are in the list", () => {
  for (const key of knownOpTypes()) {
    const [domain, op] = key.split('::') as [string, string];
    const q = quantRule(domain, op)?.qoperator;
    if (q) assert.ok(isQuantizedOp(q.opType), `${key} quantizes to ${q.opType}, which the list lacks`);
  }
  const float = zooModel('transformer:layers=1,dModel=32,heads=2,ffn=64');
  assert.deepEqual(quantizedOpTypes(float), []);
  for (const [mode, model, expected] of [
    ['int4', quantizeInt4(float).model, 'MatMulNBits'],
    ['dynamic', quantizeDynamic(float).model, 'DynamicQuantizeMatMul'],
  ] as const) {
    // Profile reports it quantized; quantize (the command and the pass) refuses it, naming the same op.
    assert.ok(quantizedOpTypes(model).includes(expected), `profile sees ${expected}`);
    assert.throws(
      () => refuseQuantized(model, mode),
      (e: unknown) =>
        e instanceof HoneError && e.exitCode === 2 && new RegExp(`quantized already \\((.*, )?\\d+ ${expected}[,)]`).test(e.message),
    );
    assert.match(
      passById(`quantize.${mode}`).applies(model, modelFacts(model)) ?? '',
      new RegExp(`quantized already \\((.*, )?\\d+ ${expected}[,)]`),
    );
    assert.deepEqual(
      quantizedOpTypes(model),
      [...new Set(model.graph!.node.map((n) => n.opType!).filter((op) => quantizedAlready(oneNode(op), mode)))].sort(),
      'the same op types, node by node',
    );
  }
});
