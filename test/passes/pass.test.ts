// The pass contract (src/passes/pass.ts) held by every registered pass: run on a zoo model it applies to, a pass
// leaves its input byte for byte as it was, returns a model ORT loads, and that model computes what the input
// computes (to float rounding for the exact rewrites, cosine >= 0.99 for the quantizers, on seeded inputs);
// `applies` refuses, with the quantizers' own reasons, the models a pass must not touch.
import { loadModel } from '../../src/ir/model.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, makeNode } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { int64Tensor } from '../../src/ir/tensor.js';
import { HoneError } from '../../src/errors.js';
import { modelFacts, passById, PASSES } from '../../src/passes/registry.js';
import type { PassContext, PassOptions } from '../../src/passes/pass.js';
import { compareOutputs } from '../../src/quantize/evaluate.js';
import { syntheticData } from '../../src/quantize/pipeline.js';
import { zooModel } from '../../src/zoo/index.js';

/** Seeded uniform [-1, 1) samples of the model's inputs (`seq` 16 for the transformer). */
const samples = (m: ModelProto, n = 16, seed = 1) => syntheticData(m, n, { dims: { seq: 16 } }, seed, 'synthetic: seeded test inputs');

/** zoo:lenet5 as Paddle2ONNX writes weights: every initializer a Constant node. */
function lenet5WithConstantNodes(): ModelProto {
  const m = zooModel('lenet5');
  const g = m.graph!;
  const constants = g.initializer.map((t) =>
    makeNode('Constant', [], [t.name!], { value: { ...t, name: '' } }, { name: `${t.name}_constant` }),
  );
  return { ...m, graph: { ...g, initializer: [], node: [...constants, ...g.node] } };
}

/** zoo:mlp whose logits go through If(input.shape[1] == 784): Relu in the then branch, Neg in the else branch. */
function mlpWithStaticIf(): ModelProto {
  const m = zooModel('mlp:hidden=64');
  const g = m.graph!;
  const out = g.output[0]!.name!;
  const logits = `${out}_logits`;
  for (const n of g.node) n.output = n.output.map((o) => (o === out ? logits : o));
  const branch = (name: string, op: string) => {
    const b = new GraphBuilder(name);
    b.op(op, [logits], {}, { output: `${name}_y` });
    b.output(`${name}_y`, DataType.FLOAT, ['batch', 10]);
    return b.graph;
  };
  g.initializer.push(int64Tensor('width_axis', [], [1]), int64Tensor('width_784', [], [784]));
  g.node.push(
    makeNode('Shape', ['input'], ['input_shape']),
    makeNode('Gather', ['input_shape', 'width_axis'], ['input_width'], { axis: 0 }),
    makeNode('Equal', ['input_width', 'width_784'], ['is_784']),
    makeNode('If', ['is_784'], [out], { then_branch: branch('then', 'Relu'), else_branch: branch('else', 'Neg') }, { name: 'if_width' }),
  );
  return m;
}

interface Case {
  pass: string;
  model: () => ModelProto;
  options?: PassOptions;
  /** Calibration data in the context. */
  data?: boolean;
  /** Least cosine and, for exact rewrites, largest absolute difference of the outputs. */
  cosine: number;
  maxAbs?: number;
}

const EXACT = { cosine: 0.999999, maxAbs: 1e-4 };
const smallTransformer = () => zooModel('transformer:layers=1,dModel=64');
const smallResnet = () => zooModel('resnet:blocks=1-1,widths=8-16,size=16');

/** A model each pass applies to and changes, per registered pass (a new pass needs a case here). */
const CASES: Case[] = [
  { pass: 'upgrade.opset', model: smallTransformer, options: { to: 18 }, ...EXACT },
  { pass: 'inline.if', model: mlpWithStaticIf, ...EXACT },
  { pass: 'fold.constants', model: lenet5WithConstantNodes, ...EXACT },
  { pass: 'fuse.conv-bn', model: () => zooModel('resnet'), ...EXACT },
  { pass: 'quantize.dynamic', model: smallTransformer, cosine: 0.99 },
  { pass: 'quantize.static', model: () => zooModel('resnet'), data: true, cosine: 0.99 },
  {
    pass: 'quantize.static',
    model: smallResnet,
    options: { format: 'qoperator', method: 'minmax', biasCorrection: false },
    data: true,
    cosine: 0.99,
  },
  { pass: 'quantize.fp16', model: () => zooModel('lenet5'), cosine: 0.99 },
  { pass: 'quantize.fp16', model: smallResnet, data: true, cosine: 0.99 },
  { pass: 'quantize.int4', model: smallTransformer, cosine: 0.99 },
  { pass: 'quantize.int4', model: smallTransformer, options: { blockSize: 16, accuracyLevel: 4, symmetric: true }, cosine: 0.99 },
  { pass: 'ort.offline-optimize', model: () => zooModel('resnet'), ...EXACT },
  { pass: 'ort.offline-optimize', model: () => zooModel('lenet5'), options: { level: 'all' }, ...EXACT },
  { pass: 'ort.offline-optimize', model: smallResnet, options: { level: 'basic' }, ...EXACT },
  { pass: 'ort.offline-optimize', model: smallTransformer, ...EXACT },
  // Fusions into ORT's contrib ops: exact up to float rounding (test/passes/fuse-transformer.test.ts checks each closely).
  { pass: 'fuse.layer-norm', model: () => loadModel('test/corpus/models/tiny-encoder.onnx'), cosine: 0.99999 },
  { pass: 'fuse.embed-layer-norm', model: () => zooModel('transformer:vocab=100,layers=1,dModel=64'), cosine: 0.99999 },
  { pass: 'fuse.attention', model: smallTransformer, cosine: 0.99999 },
  { pass: 'fuse.skip-layer-norm', model: smallTransformer, cosine: 0.99999 },
];

test('every registered pass has a case below, and ids are unique and dotted', () => {
  const ids = PASSES.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    assert.match(id, /^[a-z0-9]+\.[a-z0-9.-]+$/);
    assert.ok(
      CASES.some((c) => c.pass === id),
      `pass ${id} has no case in test/passes/pass.test.ts`,
    );
  }
});

test('every pass declares defaults for each option of its space, and the defaults are valid choices', () => {
  for (const p of PASSES) {
    for (const [k, d] of Object.entries(p.space)) {
      assert.ok(k in p.defaults, `${p.id}: space option ${k} has no default`);
      const v = p.defaults[k];
      if (d.type === 'categorical' && v !== null) assert.ok(d.choices.includes(v), `${p.id}: default ${k}=${v} is not a choice`);
    }
  }
});

for (const c of CASES) {
  const label = `${c.pass}${c.options ? ` ${JSON.stringify(c.options)}` : ''}${c.data ? ' (with data)' : ''}`;
  test(`${label}: leaves its input byte-identical and returns a model ORT runs with the input's outputs`, async () => {
    const pass = passById(c.pass);
    const model = c.model();
    const before = encodeModel(model);
    assert.equal(pass.applies(model, modelFacts(model)), undefined);
    const data = samples(model);
    const ctx: PassContext = c.data ? { data } : {};
    const r = await pass.run(model, c.options ?? {}, ctx);
    assert.ok(Buffer.from(encodeModel(model)).equals(Buffer.from(before)), 'the input model was changed');
    assert.equal(r.changed, true, r.report.summary);
    assert.notEqual(r.model, model);
    assert.ok(r.report.summary.length > 0 && !r.report.summary.includes('\n'));
    JSON.stringify(r.report); // reports are cached as JSON
    const f = await compareOutputs(model, r.model, data);
    assert.ok(f.cosine >= c.cosine, `cosine ${f.cosine} < ${c.cosine}`);
    if (c.maxAbs !== undefined) assert.ok(f.maxAbsError <= c.maxAbs, `max |difference| ${f.maxAbsError} > ${c.maxAbs}`);
  });
}

test("ort.offline-optimize says when level 'all' wrote NCHWc ops tied to this CPU, and 'extended' does not write them", async () => {
  const pass = passById('ort.offline-optimize');
  const model = zooModel('lenet5');
  const all = await pass.run(model, { level: 'all' }, {});
  const extended = await pass.run(model, {}, {});
  const domains = (m: ModelProto) => new Set(m.graph!.node.map((n) => n.domain ?? ''));
  assert.equal(domains(extended.model).has('com.microsoft.nchwc'), false);
  assert.ok(extended.model.graph!.node.some((n) => n.opType === 'FusedConv'));
  // Where ORT blocks Convs for this CPU (x86 with AVX2 or AVX-512) the note names the layout ops.
  if (domains(all.model).has('com.microsoft.nchwc'))
    assert.match(all.report.notes.join(' '), /layout-specific ops \(com\.microsoft\.nchwc\./);
  else assert.match(all.report.notes.join(' '), /tied to this CPU/);
});

test('ort.offline-optimize leaves out the ORT optimizers named in `disable`, so a fusion turned off for a session is off in the saved file too', async () => {
  const pass = passById('ort.offline-optimize');
  const model = smallTransformer();
  const ops = (m: ModelProto) => m.graph!.node.map((n) => n.opType);
  const on = await pass.run(model, {}, {});
  const off = await pass.run(model, { disable: 'SkipLayerNormFusion' }, {});
  assert.ok(ops(on.model).includes('SkipLayerNormalization'));
  assert.equal(ops(off.model).includes('SkipLayerNormalization'), false);
  assert.ok(ops(off.model).includes('LayerNormalization'));
  assert.match(off.report.summary, /without SkipLayerNormFusion/);
  const data = samples(model);
  assert.ok((await compareOutputs(on.model, off.model, data)).cosine > 0.99999);
});

test('the quantizers refuse a model quantized (or converted to float16) already, with the reason', async () => {
  const q = (await passById('quantize.dynamic').run(smallTransformer(), {}, {})).model;
  const facts = modelFacts(q);
  assert.equal(facts.quantized, true);
  for (const id of ['quantize.dynamic', 'quantize.static', 'quantize.int4', 'quantize.fp16'])
    assert.match(
      passById(id).applies(q, facts) ?? '',
      /^the model is quantized already \(.*(DynamicQuantizeMatMul|MatMulIntegerToFloat)/,
      id,
    );
  const half = (await passById('quantize.fp16').run(zooModel('lenet5'), {}, {})).model;
  assert.match(passById('quantize.fp16').applies(half, modelFacts(half)) ?? '', /float16 already/);
  assert.equal(modelFacts(zooModel('lenet5')).quantized, false);
});

test('passes refuse models with nothing for them, naming what is missing', () => {
  const reason = (id: string, m: ModelProto) => passById(id).applies(m, modelFacts(m));
  assert.match(reason('quantize.int4', zooModel('lenet5')) ?? '', /no MatMul/);
  assert.match(reason('fuse.conv-bn', smallTransformer()) ?? '', /no Conv/);
  assert.match(reason('inline.if', zooModel('mlp')) ?? '', /no If/);
  const b = new GraphBuilder('relu');
  b.input('x', DataType.FLOAT, ['batch', 4]);
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4]);
  const relu = b.model({ opset: 17 });
  assert.match(reason('quantize.dynamic', relu) ?? '', /nothing to quantize: the model has no MatMul or Gemm/);
  assert.match(reason('quantize.static', relu) ?? '', /nothing to quantize: .* in its main graph/);
  const upgraded = upgradeTo18(relu);
  assert.match(reason('upgrade.opset', upgraded) ?? '', /opset 18/);
});

function upgradeTo18(m: ModelProto): ModelProto {
  return { ...m, opsetImport: m.opsetImport.map((o) => (o.domain ? o : { ...o, version: 18 })) };
}

test('a quantizer that finds no eligible node reports that it changed nothing, and returns its input', async () => {
  // A MatMul of two activations: dynamic int8 applies to MatMuls, but has no constant weight to quantize here.
  const b = new GraphBuilder('two-inputs');
  b.input('a', DataType.FLOAT, [2, 4]);
  b.input('b', DataType.FLOAT, [4, 3]);
  b.op('MatMul', ['a', 'b'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 3]);
  const m = b.model({ opset: 17 });
  const pass = passById('quantize.dynamic');
  assert.equal(pass.applies(m, modelFacts(m)), undefined);
  const r = await pass.run(m, {}, {});
  assert.equal(r.changed, false);
  assert.equal(r.model, m);
  assert.match(r.report.summary, /^nothing to quantize in dynamic mode/);
});

test('quantize.static without calibration data, and unknown or invalid options, are one-line bad-input errors', async () => {
  const m = smallResnet();
  const oneLine = (re: RegExp) => (e: unknown) =>
    e instanceof HoneError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n');
  await assert.rejects(passById('quantize.static').run(m, {}, {}), oneLine(/quantize\.static needs calibration data/));
  await assert.rejects(
    passById('quantize.int4').run(m, { blocksize: 16 } as PassOptions, {}),
    oneLine(/has no option 'blocksize'; its options: blockSize/),
  );
  await assert.rejects(passById('quantize.int4').run(m, { blockSize: 48 }, {}), oneLine(/blockSize must be one of 16, 32/));
  await assert.rejects(passById('upgrade.opset').run(m, { to: 'new' } as PassOptions, {}), oneLine(/option to must be a number/));
  assert.throws(() => passById('quantize.int8'), oneLine(/^unknown pass 'quantize\.int8'; known passes: upgrade\.opset, /));
});
