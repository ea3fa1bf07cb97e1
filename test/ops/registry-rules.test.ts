/**
 * The op registry holds each op's rules in its definition (issue 14: per-op knowledge in one place). These
 * tests check that every registered op has the rules its properties promise, and that the properties hold
 * exactly the op sets the passes used to keep for themselves (the gradient registry and its
 * non-differentiable list, fp16's block list, quant-rules.ts's table, infer-fold.ts's folders, the profiler's
 * MATMUL_OPS/CONV_OPS/FUSED_FORMS/FOLDED_AFTER, the opset upgrader's REDUCE_18/LEGACY_BROADCAST).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { TensorProto } from '../../src/ir/proto.js';
import { makeTensor } from '../../src/ir/tensor.js';
import { getOpRule, knownOpTypes, opProps, opTypesWhere, quantRule } from '../../src/ops/index.js';
import { opContext } from '../../src/ops/infer.js';
import type { Dim, OpProps, OpRule, ValueType } from '../../src/ops/types.js';
import { FP16_BLOCK_LIST } from '../../src/quantize/fp16.js';

const F = DataType.FLOAT;

/** Every registered op: its domain ('' for ai.onnx), type and rule. */
const registered = knownOpTypes().map((k) => {
  const [domain, opType] = k.split('::') as [string, string];
  return { domain, opType, rule: getOpRule(domain, opType)! };
});
const where = (pick: (r: OpRule, props: OpProps) => boolean) =>
  registered.filter(({ rule }) => pick(rule, rule.props ?? {})).map(({ domain, opType }) => (domain ? `${domain}::${opType}` : opType));

/** Output types of op `opType` for inputs of the given types (constants by input index), at `opset`. */
function inferOp(
  opType: string,
  inputs: (ValueType | undefined)[],
  opts: { domain?: string; opset?: number; attrs?: Parameters<typeof makeNode>[3]; constants?: Record<number, TensorProto> } = {},
): ValueType[] {
  const names = inputs.map((t, i) => (t ? `in${i}` : ''));
  const node = makeNode(opType, names, ['out'], opts.attrs ?? {}, { domain: opts.domain || undefined });
  let n = 0;
  const ctx = opContext(node, {
    opset: opts.opset ?? 18,
    type: (name) => inputs[names.indexOf(name)],
    constant: (name) => opts.constants?.[names.indexOf(name)],
    freshDim: () => `unk__${n++}`,
  });
  return getOpRule(opts.domain, opType)!.infer(ctx);
}

/** Cost of op `opType` on these inputs, with the output types its own rule infers. */
function costOf(opType: string, inputs: ValueType[], opts: { domain?: string; attrs?: Parameters<typeof makeNode>[3] } = {}) {
  const node = makeNode(
    opType,
    inputs.map((_, i) => `in${i}`),
    ['out'],
    opts.attrs ?? {},
    { domain: opts.domain || undefined },
  );
  const ctx = opContext(node, {
    opset: 23,
    type: (name) => inputs[Number(name.slice(2))],
    constant: () => undefined,
    freshDim: () => 'unk',
  });
  const rule = getOpRule(opts.domain, opType)!;
  return rule.cost!(ctx, rule.infer(ctx));
}

const t = (shape: Dim[], elemType: number = F): ValueType => ({ elemType, shape });
const ints = (...v: number[]) => makeTensor('', DataType.INT64, [v.length], BigInt64Array.from(v, BigInt));

test('an op without gradients has no gradient rule, and one with a rule is not marked non-differentiable', () => {
  assert.deepEqual(
    where((r, p) => !!p.nonDifferentiable && !!r.grad),
    [],
  );
});

test('every elementwise op infers the broadcast shape of its inputs', () => {
  const ops = registered.filter(({ rule }) => rule.props?.elementwise);
  assert.ok(ops.length > 60, `only ${ops.length} elementwise ops`);
  for (const { domain, opType } of ops) {
    const attrs = opType === 'Cast' ? { to: F } : {};
    // The fewest inputs the op accepts: one for the maps, two for arithmetic, three for Where.
    let checked = false;
    for (const arity of [1, 2, 3]) {
      const inputs = Array.from({ length: arity }, (_, i) =>
        t(i === arity - 1 && arity > 1 ? [1, 3] : [2, 3], opType === 'Where' && i === 0 ? DataType.BOOL : F),
      );
      let out: ValueType[];
      try {
        out = inferOp(opType, inputs, { domain, attrs });
      } catch {
        continue;
      }
      assert.deepEqual(out[0]!.shape, [2, 3], `${domain}::${opType} with ${arity} inputs`);
      checked = true;
      break;
    }
    assert.ok(checked, `${domain}::${opType}: no arity of 1-3 inputs was accepted`);
  }
});

test('non-elementwise ops the test above would pass are not forgotten: Softmax and MatMul keep or change shapes their own way', () => {
  // A shape-preserving op is not elementwise by that alone (Softmax mixes elements along an axis).
  assert.equal(opProps('', 'Softmax').elementwise, undefined);
  assert.equal(opProps('', 'MatMul').elementwise, undefined);
  assert.equal(opProps('', 'Add').elementwise, true);
  assert.equal(opProps('com.microsoft', 'BiasGelu').elementwise, true);
});

/** Inputs on which each matmul-like and conv-like op does real work (the cost rule must count MACs). */
const WORK: Record<string, { inputs: ValueType[]; attrs?: Parameters<typeof makeNode>[3] }> = {
  MatMul: { inputs: [t([2, 3]), t([3, 4])] },
  Gemm: { inputs: [t([2, 3]), t([3, 4])] },
  'com.microsoft::FusedMatMul': { inputs: [t([2, 3]), t([3, 4])] },
  Attention: { inputs: [t([1, 2, 4, 8]), t([1, 2, 4, 8]), t([1, 2, 4, 8])] },
  'com.microsoft::Attention': { inputs: [t([1, 4, 8]), t([8, 24]), t([24])], attrs: { num_heads: 2 } },
  'com.microsoft::MultiHeadAttention': { inputs: [t([1, 4, 8]), t([1, 4, 8]), t([1, 4, 8])], attrs: { num_heads: 2 } },
  Conv: { inputs: [t([1, 2, 5, 5]), t([3, 2, 3, 3])] },
  ConvTranspose: { inputs: [t([1, 2, 5, 5]), t([2, 3, 3, 3])] },
  'com.microsoft::FusedConv': { inputs: [t([1, 2, 5, 5]), t([3, 2, 3, 3])] },
};

test('every matmul-like and conv-like op counts multiply-accumulates', () => {
  const ops = where((_r, p) => !!p.matmulLike || !!p.convLike);
  assert.deepEqual(ops.sort(), Object.keys(WORK).sort(), 'a sample input for each matmul-like/conv-like op');
  for (const key of ops) {
    const [domain, opType] = key.includes('::') ? (key.split('::') as [string, string]) : ['', key];
    const { inputs, attrs } = WORK[key]!;
    const cost = costOf(opType, inputs, { domain, attrs });
    assert.ok(cost.macs > 0 && cost.flops >= 2 * cost.macs, `${key}: ${JSON.stringify(cost)}`);
  }
});

test('ops with axesInputSince read axes from input 1 from that opset and from the attribute before it', () => {
  const ops = registered.filter(({ rule }) => rule.props?.axesInputSince !== undefined);
  assert.equal(ops.length, 12);
  for (const { opType, rule } of ops) {
    const since = rule.props!.axesInputSince!;
    const x = t([2, 1, 3]);
    const attrs = opType.startsWith('Reduce') ? { keepdims: 0 } : {};
    const asInput = inferOp(opType, [x, t([1], DataType.INT64)], { opset: since, attrs, constants: { 1: ints(1) } });
    const asAttr = inferOp(opType, [x], { opset: since - 1, attrs: { ...attrs, axes: [1] } });
    assert.deepEqual(asInput[0]!.shape, asAttr[0]!.shape, opType);
    assert.notDeepEqual(asInput[0]!.shape, x.shape, `${opType} changed nothing`);
  }
});

test('quantization rules name forms that exist: QOperator ops, int4 and dynamic kernels are registered', () => {
  const quantized = registered.filter(({ rule }) => rule.quant);
  for (const { domain, opType, rule } of quantized) {
    const q = rule.quant!;
    const label = `${domain}::${opType}`;
    if (q.qoperator) assert.ok(getOpRule(q.qoperator.domain, q.qoperator.opType), `${label}: ${q.qoperator.opType} is not registered`);
    if (q.int4) assert.ok(getOpRule('com.microsoft', 'MatMulNBits'), label);
    if (q.dynamic)
      assert.ok(getOpRule('com.microsoft', 'DynamicQuantizeMatMul') && getOpRule('com.microsoft', 'MatMulIntegerToFloat'), label);
    if (q.foldsIntoRange) assert.equal(q.kind, 'passthrough', `${label}: only a clipping op folds into a range`);
    if (q.bias !== undefined) assert.ok(!q.weights?.some((w) => w.input === q.bias), `${label}: the bias is not a weight`);
    assert.ok(q.kind === 'passthrough' || q.qoperator || q.weights, `${label}: a compute rule quantizes something`);
  }
});

test('fold rules are ai.onnx only (the driver evaluates nothing else) and ORT forms are other op types', () => {
  assert.deepEqual(
    where((r) => !!r.fold).filter((k) => k.includes('::')),
    [],
  );
  for (const { opType, rule } of registered) {
    const forms = rule.props?.ortForms;
    if (forms) assert.ok(forms.length > 0 && !forms.includes(opType), opType);
  }
});

// ---- The sets the passes kept before, now properties: the same ops, exactly --------------------------

test('non-differentiable ops: autodiff’s former list', () => {
  assert.deepEqual(
    opTypesWhere((p) => p.nonDifferentiable === true),
    [
      'And',
      'ArgMax',
      'ArgMin',
      'Ceil',
      'Constant',
      'ConstantOfShape',
      'Equal',
      'EyeLike',
      'Floor',
      'Greater',
      'GreaterOrEqual',
      'IsInf',
      'IsNaN',
      'Less',
      'LessOrEqual',
      'Multinomial',
      'NonZero',
      'Not',
      'OneHot',
      'Or',
      'RandomNormal',
      'RandomNormalLike',
      'RandomUniform',
      'RandomUniformLike',
      'Range',
      'Round',
      'Shape',
      'Sign',
      'Size',
      'Xor',
    ],
  );
  assert.deepEqual(opProps('', 'Resize').settingInputs, [1, 2, 3]);
  assert.deepEqual(opProps('', 'Upsample').settingInputs, [1]);
  // And Hone's training-only FakeQuantize: its scale and zero point are calibrated settings, never trained.
  assert.deepEqual(
    where((_r, p) => p.settingInputs !== undefined),
    ['Resize', 'Upsample', 'ai.hone::FakeQuantize'],
  );
});

test('gradient rules: the ops the gradient registry had, each ai.onnx', () => {
  assert.ok(getOpRule('ai.hone', 'FakeQuantize')!.grad, "QAT's FakeQuantize has one too (the straight-through estimator)");
  assert.deepEqual(
    where((r) => !!r.grad && !r.domain),
    [
      'Abs',
      'Add',
      'AveragePool',
      'BatchNormalization',
      'Cast',
      'Clip',
      'Concat',
      'Conv',
      'ConvTranspose',
      'Cos',
      'Div',
      'Dropout',
      'Erf',
      'Exp',
      'Expand',
      'Flatten',
      'Gather',
      'Gelu',
      'Gemm',
      'GlobalAveragePool',
      'HardSigmoid',
      'HardSwish',
      'Identity',
      'LayerNormalization',
      'LeakyRelu',
      'Log',
      'LogSoftmax',
      'MatMul',
      'Max',
      'MaxPool',
      'Min',
      'Mul',
      'Neg',
      'Pad',
      'Pow',
      'Reciprocal',
      'ReduceMean',
      'ReduceSum',
      'Relu',
      'Reshape',
      'Resize',
      'Sigmoid',
      'Sin',
      'Slice',
      'Softmax',
      'SoftmaxCrossEntropyLoss',
      'Split',
      'Sqrt',
      'Squeeze',
      'Sub',
      'Sum',
      'Tanh',
      'Transpose',
      'Unsqueeze',
      'Where',
    ],
  );
  // Ops that shared one rule still do.
  const rule = (op: string) => getOpRule('', op)!.grad;
  assert.equal(rule('Add'), rule('Sub'));
  assert.equal(rule('Add'), rule('Sum'));
  assert.equal(rule('Max'), rule('Min'));
  assert.equal(rule('Reshape'), rule('Flatten'));
  assert.notEqual(rule('Add'), rule('Mul'));
});

test('fp16 block list: the same op types as before, from fp16Sensitive', () => {
  assert.deepEqual([...FP16_BLOCK_LIST].sort(), [
    'CumSum',
    'DequantizeLinear',
    'DynamicQuantizeLinear',
    'Exp',
    'GroupNormalization',
    'InstanceNormalization',
    'LayerNormalization',
    'Log',
    'LogSoftmax',
    'Multinomial',
    'NonMaxSuppression',
    'Pow',
    'QuantizeLinear',
    'RandomNormal',
    'RandomNormalLike',
    'RandomUniform',
    'RandomUniformLike',
    'Range',
    'ReduceL1',
    'ReduceL2',
    'ReduceLogSum',
    'ReduceLogSumExp',
    'ReduceMean',
    'ReduceProd',
    'ReduceSum',
    'ReduceSumSquare',
    'Resize',
    'RoiAlign',
    'SimplifiedLayerNormalization',
    'SkipLayerNormalization',
    'Softmax',
    'TopK',
    'Upsample',
  ]);
  // The com.microsoft forms of the names on the list are marked too, so a query by domain agrees with it.
  for (const op of ['LayerNormalization', 'QuantizeLinear', 'DequantizeLinear', 'SimplifiedLayerNormalization', 'SkipLayerNormalization'])
    assert.equal(opProps('com.microsoft', op).fp16Sensitive, true, op);
});

test('quantization rules: the ops and forms of the former table', () => {
  assert.deepEqual(
    where((r) => !!r.quant),
    [
      'Add',
      'AveragePool',
      'Clip',
      'Concat',
      'Conv',
      'Flatten',
      'Gemm',
      'GlobalAveragePool',
      'LeakyRelu',
      'MatMul',
      'MaxPool',
      'Mul',
      'Relu',
      'Reshape',
      'Sigmoid',
      'Squeeze',
      'Transpose',
      'Unsqueeze',
    ],
  );
  const forms = Object.fromEntries(
    where((r) => !!r.quant?.qoperator).map((op) => [
      op,
      `${quantRule('', op)!.qoperator!.domain ?? ''}::${quantRule('', op)!.qoperator!.opType}`,
    ]),
  );
  assert.deepEqual(forms, {
    Add: 'com.microsoft::QLinearAdd',
    AveragePool: 'com.microsoft::QLinearAveragePool',
    Concat: 'com.microsoft::QLinearConcat',
    Conv: '::QLinearConv',
    Gemm: 'com.microsoft::QGemm',
    GlobalAveragePool: 'com.microsoft::QLinearGlobalAveragePool',
    LeakyRelu: 'com.microsoft::QLinearLeakyRelu',
    MatMul: '::QLinearMatMul',
    Mul: 'com.microsoft::QLinearMul',
    Sigmoid: 'com.microsoft::QLinearSigmoid',
  });
  assert.deepEqual(quantRule('', 'Gemm')!.weights, [{ input: 1, axis: { attr: 'transB', ifZero: 1, ifSet: 0 } }]);
  assert.deepEqual(quantRule('', 'Clip')!.foldsIntoRange, { lowerInput: 1, lowerAttr: 'min' });
  assert.deepEqual(quantRule('', 'Relu')!.foldsIntoRange, {});
  assert.deepEqual(
    where((r) => !!r.quant?.dynamic),
    ['Gemm', 'MatMul'],
  );
  assert.deepEqual(
    where((r) => !!r.quant?.int4),
    ['MatMul'],
  );
  assert.equal(quantRule('com.microsoft', 'MatMul'), undefined, 'an op of another domain does not borrow the ai.onnx rule');
});

test('folding: the ops infer-fold.ts evaluated', () => {
  assert.deepEqual(
    where((r) => !!r.fold?.value || !!r.fold?.outputs),
    [
      'Abs',
      'Add',
      'Cast',
      'Ceil',
      'Concat',
      'ConstantOfShape',
      'Div',
      'Equal',
      'Expand',
      'Flatten',
      'Floor',
      'Gather',
      'Greater',
      'Identity',
      'Less',
      'Max',
      'Min',
      'Mod',
      'Mul',
      'Neg',
      'Not',
      'Range',
      'ReduceProd',
      'ReduceSum',
      'Reshape',
      'Shape',
      'Size',
      'Slice',
      'Split',
      'Sqrt',
      'Squeeze',
      'Sub',
      'Transpose',
      'Unsqueeze',
      'Where',
    ],
  );
  assert.deepEqual(
    where((r) => !!r.fold?.dims),
    [
      'Add',
      'Cast',
      'Concat',
      'Div',
      'Flatten',
      'Gather',
      'Identity',
      'Max',
      'Min',
      'Mul',
      'Reshape',
      'Shape',
      'Slice',
      'Squeeze',
      'Sub',
      'Unsqueeze',
    ],
  );
});

test("the profiler's op sets: matmul-like, conv-like, ORT's forms and fusions", () => {
  assert.deepEqual(
    opTypesWhere((p) => p.matmulLike === true),
    ['Attention', 'FusedMatMul', 'Gemm', 'MatMul', 'MultiHeadAttention'],
  );
  assert.deepEqual(
    opTypesWhere((p) => p.convLike === true),
    ['Conv', 'ConvTranspose', 'FusedConv'],
  );
  assert.deepEqual(
    opTypesWhere((p) => p.ortFusedIntoProducer === true),
    ['Add', 'BatchNormalization', 'Clip', 'HardSigmoid', 'LeakyRelu', 'Mul', 'Relu', 'Sigmoid', 'Tanh'],
  );
  const forms = Object.fromEntries(opTypesWhere((p) => p.ortForms !== undefined).map((op) => [op, opProps('', op).ortForms]));
  assert.deepEqual(forms, {
    Add: ['QLinearAdd'],
    AveragePool: ['QLinearAveragePool', 'NhwcQLinearAveragePool'],
    Conv: ['FusedConv', 'NhwcFusedConv', 'NhwcConv', 'QLinearConv', 'NhwcQLinearConv'],
    Gemm: ['FusedGemm', 'QGemm'],
    GlobalAveragePool: ['QLinearGlobalAveragePool'],
    LayerNormalization: ['SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization'],
    MatMul: ['Gemm', 'FusedGemm', 'FusedMatMul', 'MatMulNBits', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul'],
    MaxPool: ['NhwcMaxPool'],
    Mul: ['QLinearMul'],
  });
});

test("the opset upgrader's op sets: legacy broadcasting and axes that became inputs", () => {
  assert.deepEqual(
    opTypesWhere((p) => p.legacyBroadcast === true),
    ['Add', 'And', 'Div', 'Equal', 'Gemm', 'Greater', 'Less', 'Mul', 'Or', 'PRelu', 'Pow', 'Sub', 'Xor'],
  );
  assert.deepEqual(
    opTypesWhere((p) => p.axesInputSince === 18),
    ['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare'],
  );
  assert.deepEqual(
    opTypesWhere((p) => p.axesInputSince === 13),
    ['ReduceSum', 'Squeeze', 'Unsqueeze'],
  );
});

test('an op Hone does not know has no properties and no rules', () => {
  assert.deepEqual(opProps('', 'NoSuchOp'), {});
  assert.equal(quantRule('', 'NoSuchOp'), undefined);
  assert.deepEqual(opProps('com.example', 'Relu'), {});
});
