// The transformer fusions find their patterns in Hone's zoo encoder (pre-LN, [B,S,D] heads) and in a
// PyTorch 1.13 nn.TransformerEncoder export (post-LN, decomposed LayerNorm, sequence-first heads, a
// key-padding mask), leave the input model untouched, and the fused models compute what the originals do
// in ORT at every optimization level — alone, and composed with dynamic int8 in both orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import { loadModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { zooModel } from '../../src/zoo/index.js';
import { inferShapes } from '../../src/ops/infer.js';
import { quantizeDynamic } from '../../src/quantize/index.js';
import {
  TRANSFORMER_FUSIONS,
  fuseAttentionPass,
  fuseEmbedLayerNormPass,
  fuseLayerNormPass,
  fuseSkipLayerNormPass,
} from '../../src/passes/fuse-transformer.js';
import type { ModelFacts, Pass, PassResult } from '../../src/passes/pass.js';
import { maxRelDiff } from '../helpers/compare.js';

const TINY = 'test/corpus/models/tiny-encoder.onnx';
const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
type Feeds = Record<string, ort.Tensor>;

function facts(m: ModelProto): ModelFacts {
  const opTypes = new Map<string, number>();
  for (const n of m.graph!.node) opTypes.set(n.opType!, (opTypes.get(n.opType!) ?? 0) + 1);
  return { opset: m.opsetImport.find((o) => !o.domain)?.version ?? 0, opTypes, quantized: false };
}

const count = (m: ModelProto, op: string, domain?: string) =>
  m.graph!.node.filter((n) => n.opType === op && (domain === undefined || (n.domain ?? '') === domain)).length;

/** Seeded values in [-1, 1). */
function wave(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const zooFeeds = (b = 2, s = 16, d = 256): Feeds => ({ input: new ort.Tensor('float32', wave(b * s * d, 7), [b, s, d]) });

/** Token ids and a padding mask with the last keys of the first row padded: the mask changes the output. */
function tinyFeeds(b = 2, s = 16): Feeds {
  const ids = BigInt64Array.from({ length: b * s }, (_, i) => BigInt((i * 37 + 11) % 1000));
  const mask = new BigInt64Array(b * s).fill(1n);
  for (let j = s - 5; j < s; j++) mask[j] = 0n;
  return { input_ids: new ort.Tensor('int64', ids, [b, s]), attention_mask: new ort.Tensor('int64', mask, [b, s]) };
}

async function run(m: ModelProto, feeds: Feeds, level: (typeof LEVELS)[number] = 'all'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: level, logSeverityLevel: 4 });
  try {
    return (await s.run(feeds))[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Runs `pass`, checking that the input model's encoding did not change. */
async function runPass(pass: Pass, model: ModelProto, options: Record<string, string> = {}): Promise<PassResult> {
  const before = encodeModel(model);
  const r = await pass.run(model, options, {});
  assert.deepEqual(encodeModel(model), before, `${pass.id} changed its input model`);
  return r;
}

/** Outputs equal to the reference model's within 1e-4 (relative to the largest) at every ORT level. */
async function assertSameOutputs(ref: ModelProto, fused: ModelProto, feeds: Feeds): Promise<void> {
  const want = await run(ref, feeds, 'disabled');
  for (const level of LEVELS) {
    const err = maxRelDiff(await run(fused, feeds, level), want);
    assert.ok(err < 1e-4, `relative error ${err} at level ${level}`);
  }
}

async function applyAll(model: ModelProto, form = 'mha'): Promise<ModelProto> {
  let m = model;
  for (const p of TRANSFORMER_FUSIONS) m = (await p.run(m, p.id === 'fuse.attention' ? { form } : {}, {})).model;
  return m;
}

test('zoo transformer: attention → 4 MultiHeadAttention over the Q/K/V projections', async () => {
  const zoo = zooModel('transformer');
  assert.equal(fuseAttentionPass.applies(zoo, facts(zoo)), undefined);
  const r = await runPass(fuseAttentionPass as Pass, zoo);
  assert.ok(r.changed);
  assert.equal(count(r.model, 'MultiHeadAttention', 'com.microsoft'), 4);
  assert.equal(count(r.model, 'Softmax'), 0);
  assert.equal(count(r.model, 'Transpose'), 0, 'the head reshapes and transposes go');
  assert.equal(count(r.model, 'MatMul'), 24, 'Q/K/V, output and FFN projections stay MatMuls (for a quantizer)');
  assert.equal(r.report.detail && (r.report.detail as { fused: number }).fused, 4);
  assert.ok(r.model.opsetImport.some((o) => o.domain === 'com.microsoft'));
  await assertSameOutputs(zoo, r.model, zooFeeds());
});

test('zoo transformer: attention form=attention packs Q/K/V into 4 Attention ops', async () => {
  const zoo = zooModel('transformer');
  const r = await runPass(fuseAttentionPass as Pass, zoo, { form: 'attention' });
  assert.equal(count(r.model, 'Attention', 'com.microsoft'), 4);
  assert.equal(count(r.model, 'MatMul'), 12, 'only the output and FFN projections are left');
  const packed = r.model.graph!.initializer.filter((t) => t.name?.endsWith('_qkv_weight'));
  assert.deepEqual(
    packed.map((t) => t.dims.map(Number)),
    Array(4).fill([256, 768]),
  );
  await assertSameOutputs(zoo, r.model, zooFeeds());
});

test('zoo transformer: skip layer norm fuses all 8 residual sums, keeping the residual stream as the 4th output', async () => {
  const zoo = zooModel('transformer');
  const r = await runPass(fuseSkipLayerNormPass as Pass, zoo);
  assert.equal(count(r.model, 'SkipLayerNormalization', 'com.microsoft'), 8);
  assert.equal(count(r.model, 'LayerNormalization', ''), 1, "layer 0's first norm reads the input, not a sum");
  const skips = r.model.graph!.node.filter((n) => n.opType === 'SkipLayerNormalization');
  assert.equal(skips.filter((n) => n.output[3]).length, 7, 'every sum but the last is read by the next residual');
  assert.equal(skips.filter((n) => n.input[4]).length, 8, 'the projection biases move into the op');
  await assertSameOutputs(zoo, r.model, zooFeeds());
});

test('zoo transformer: all fusions together, and the passes that do not apply say why', async () => {
  const zoo = zooModel('transformer');
  const f = facts(zoo);
  assert.match(fuseLayerNormPass.applies(zoo, f) ?? '', /no decomposed layer norm: the model has no ReduceMean\/Sqrt op/);
  assert.match(fuseEmbedLayerNormPass.applies(zoo, f) ?? '', /no token \+ position embedding.*Gather/);
  const fused = await applyAll(zoo);
  assert.equal(count(fused, 'MultiHeadAttention'), 4);
  assert.equal(count(fused, 'SkipLayerNormalization'), 8);
  // Per layer: 6 projections, their 5 bias Adds left for a quantizer (Q/K/V, FFN in; the others are in
  // SkipLayerNormalization) and the Erf Gelu that ORT fuses itself; layer 0's first norm stays.
  const ops = new Map<string, number>();
  for (const n of fused.graph!.node) ops.set(n.opType!, (ops.get(n.opType!) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(ops), {
    LayerNormalization: 1,
    MatMul: 24,
    Add: 20,
    MultiHeadAttention: 4,
    SkipLayerNormalization: 8,
    Div: 4,
    Erf: 4,
    Mul: 8,
  });
  await assertSameOutputs(zoo, fused, zooFeeds(1, 7));
});

test('zoo transformer with token ids: EmbedLayerNormalization keeps the embedding sum for the first residual', async () => {
  const zoo = zooModel('transformer:vocab=100,layers=2,dModel=64,heads=2,ffn=128');
  const r = await runPass(fuseEmbedLayerNormPass as Pass, zoo);
  assert.equal(count(r.model, 'EmbedLayerNormalization', 'com.microsoft'), 1);
  const embed = r.model.graph!.node.find((n) => n.opType === 'EmbedLayerNormalization')!;
  assert.ok(embed.output[2], 'the sum is also the residual stream');
  const ids = {
    input: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: 18 }, (_, i) => BigInt((i * 7) % 100)),
      [2, 9],
    ),
  };
  const all = await applyAll(zoo);
  assert.equal(count(all, 'MultiHeadAttention'), 2);
  assert.equal(count(all, 'SkipLayerNormalization'), 4);
  await assertSameOutputs(zoo, r.model, ids);
  await assertSameOutputs(zoo, all, ids);
});

test('PyTorch encoder export: each fusion in turn, the padding mask kept', async () => {
  const tiny = loadModel(TINY);
  const feeds = tinyFeeds();
  // Skip layer norm needs LayerNormalization: on the raw export it says so.
  assert.match(fuseSkipLayerNormPass.applies(tiny, facts(tiny)) ?? '', /no LayerNormalization op/);

  const ln = await runPass(fuseLayerNormPass as Pass, tiny);
  assert.equal(count(ln.model, 'LayerNormalization'), 5);
  assert.equal(count(ln.model, 'ReduceMean') + count(ln.model, 'Sqrt') + count(ln.model, 'Pow'), 0);
  assert.match(ln.report.notes.join(' '), /opset 14/);
  await assertSameOutputs(tiny, ln.model, feeds);

  const embed = await runPass(fuseEmbedLayerNormPass as Pass, ln.model);
  assert.equal(count(embed.model, 'EmbedLayerNormalization'), 1);
  // Shape inference knows the fused op (the passes after it match on shapes).
  const node = embed.model.graph!.node.find((n) => n.opType === 'EmbedLayerNormalization')!;
  assert.deepEqual(inferShapes(embed.model).types.get(node.output[0]!)?.shape, ['batch', 'sequence', 64]);
  await assertSameOutputs(tiny, embed.model, feeds);

  const att = await runPass(fuseAttentionPass as Pass, embed.model);
  assert.equal(count(att.model, 'MultiHeadAttention'), 2);
  assert.equal(count(att.model, 'Softmax') + count(att.model, 'Where'), 0, 'the -inf mask path is replaced by the key padding input');
  const mha = att.model.graph!.node.filter((n) => n.opType === 'MultiHeadAttention');
  assert.ok(
    mha.every((n) => n.input[4] && n.input[4] === mha[0]!.input[4]),
    'both layers read one int32 key padding mask',
  );
  await assertSameOutputs(tiny, att.model, feeds);

  const skip = await runPass(fuseSkipLayerNormPass as Pass, att.model);
  assert.equal(count(skip.model, 'SkipLayerNormalization'), 4);
  await assertSameOutputs(tiny, skip.model, feeds);

  // The mask matters: a different padding changes the original's output, and the fused model follows it.
  const unpadded = { ...feeds, attention_mask: new ort.Tensor('int64', new BigInt64Array(32).fill(1n), [2, 16]) };
  assert.ok(maxRelDiff(await run(tiny, unpadded), await run(tiny, feeds)) > 1e-3);
  await assertSameOutputs(tiny, skip.model, unpadded);
});

test('PyTorch encoder export: form=attention packs in_proj into Attention with mask_index', async () => {
  const tiny = loadModel(TINY);
  const fused = await applyAll(tiny, 'attention');
  assert.equal(count(fused, 'Attention', 'com.microsoft'), 2);
  assert.ok(fused.graph!.node.filter((n) => n.opType === 'Attention').every((n) => n.input[3]));
  await assertSameOutputs(tiny, fused, tinyFeeds(3, 9));
});

/**
 * One self-attention block as Hugging Face's BERT exports it: [B,S,H,d] heads and BERT's additive mask
 * (1 - mask) · -10000 from an int64 [B, S] mask through two Unsqueezes and a Cast.
 */
function bertAttention(): ModelProto {
  const [D, H] = [32, 4];
  const b = new GraphBuilder('bert');
  const x = b.input('x', DataType.FLOAT, ['batch', 'seq', D]);
  const mask = b.input('mask', DataType.INT64, ['batch', 'seq']);
  const ints = (v: number[]) => b.int64Init('shape', v);
  const heads = (name: string, perm: number[], seed: number) => {
    const w = b.floatInit(
      `${name}.weight`,
      [D, D],
      wave(D * D, seed).map((v) => v * 0.3),
    );
    const y = b.op('Add', [b.floatInit(`${name}.bias`, [D], wave(D, seed + 1)), b.op('MatMul', [x, w])]);
    return b.op('Transpose', [b.op('Reshape', [y, ints([0, 0, H, D / H])])], { perm });
  };
  const q = heads('q', [0, 2, 1, 3], 1);
  const k = heads('k', [0, 2, 3, 1], 3);
  const v = heads('v', [0, 2, 1, 3], 5);
  const ext = b.op('Cast', [b.op('Unsqueeze', [b.op('Unsqueeze', [mask, ints([1])]), ints([2])])], { to: DataType.FLOAT });
  const bias = b.op('Mul', [b.op('Sub', [b.floatInit('one', [], [1]), ext]), b.floatInit('neg', [], [-10000])]);
  const scores = b.op('Add', [b.op('Div', [b.op('MatMul', [q, k]), b.floatInit('sqrt_d', [], [Math.sqrt(D / H)])]), bias]);
  const ctx = b.op('MatMul', [b.op('Softmax', [scores], { axis: -1 }), v]);
  b.op('Reshape', [b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), ints([0, 0, D])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 'seq', D]);
  return b.model({ opset: 17 });
}

test("Hugging Face BERT's attention and mask form", async () => {
  const bert = bertAttention();
  const mask = new BigInt64Array(2 * 10).fill(1n);
  mask.fill(0n, 6, 10);
  const feeds = { x: new ort.Tensor('float32', wave(2 * 10 * 32, 9), [2, 10, 32]), mask: new ort.Tensor('int64', mask, [2, 10]) };
  for (const form of ['mha', 'attention']) {
    const r = await runPass(fuseAttentionPass as Pass, bert, { form });
    const op = r.model.graph!.node.find((n) => n.domain === 'com.microsoft');
    assert.equal(op?.opType, form === 'mha' ? 'MultiHeadAttention' : 'Attention');
    assert.equal(count(r.model, 'Softmax') + count(r.model, 'Sub'), 0);
    await assertSameOutputs(bert, r.model, feeds);
  }
});

test('fusions compose with dynamic int8 in either order', async () => {
  const zoo = zooModel('transformer');
  const feeds = zooFeeds();
  const want = await run(zoo, feeds);
  const fusedFirst = quantizeDynamic(await applyAll(zoo)).model;
  assert.equal(count(fusedFirst, 'MultiHeadAttention'), 4);
  assert.equal(count(fusedFirst, 'MatMul'), 0, 'the quantizer still finds every projection');
  const quantizedFirst = await applyAll(quantizeDynamic(zoo).model);
  assert.equal(count(quantizedFirst, 'MultiHeadAttention'), 4, 'attention is found over integer projections');
  assert.equal(count(quantizedFirst, 'SkipLayerNormalization'), 8);
  for (const m of [fusedFirst, quantizedFirst]) {
    for (const level of LEVELS) assert.ok(cosine(want, await run(m, feeds, level)) > 0.99, level);
  }
});

test('models without the patterns: every fusion says why and returns the model as it was', async () => {
  const lenet = zooModel('lenet5');
  for (const p of TRANSFORMER_FUSIONS) {
    const why = p.applies(lenet, facts(lenet));
    assert.match(why ?? '', /^no .*: the model has no /, p.id);
    const r = await p.run(lenet, {}, {});
    assert.equal(r.changed, false);
    assert.equal(r.model, lenet);
  }
  // A Softmax that ends a classifier is a candidate, rejected with its reason.
  const b = new GraphBuilder('classifier');
  const x = b.input('x', DataType.FLOAT, ['batch', 8]);
  const logits = b.op('MatMul', [x, b.floatInit('w', [8, 4], wave(32, 3))]);
  b.op('Softmax', [logits], { axis: -1 }, { name: 'probs', output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4]);
  const classifier = b.model({ opset: 17 });
  assert.match(
    fuseAttentionPass.applies(classifier, facts(classifier)) ?? '',
    /^no self-attention block found: probs: its input is not a batch of score matrices/,
  );
});
