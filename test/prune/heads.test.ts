// Attention-head pruning (prune/heads.ts): which heads a block has, a rewrite that computes exactly what the
// model with those heads' weights zeroed computes (separate and packed Q/K/V projections), and `hone prune
// --structured heads` end to end.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import { loadModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorNumbers } from '../../src/ir/tensor.js';
import type { ChannelGroup } from '../../src/prune/channels.js';
import { analyzeHeads } from '../../src/prune/heads.js';
import { pruneHeadsPass } from '../../src/prune/passes.js';
import { channelImportance, removeChannels, selectChannels, zeroChannels } from '../../src/prune/structured.js';
import { createSession, mulberry32 } from '../../src/runtime/index.js';
import { lenet5, transformer } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';
import { maxRelDiff } from '../helpers/compare.js';

async function run(model: ModelProto, x: ort.Tensor): Promise<Float32Array> {
  const s = await createSession(model, { intraOpThreads: 1 });
  try {
    return (await s.run({ [s.inputNames[0]!]: x }))[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

function randomInput(dims: number[], seed: number): ort.Tensor {
  const r = mulberry32(seed);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1),
    dims,
  );
}

const weight = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.3);
};

/** One self-attention block with a packed [16, 48] QKV projection cut by three Slices (PyTorch's in_proj form), 4 heads of 4. */
function packedAttention(): ModelProto {
  const b = new GraphBuilder('packed');
  const x = b.input('x', DataType.FLOAT, ['batch', 6, 16]);
  const qkv = b.op('Add', [
    b.op('MatMul', [x, b.floatInit('in_proj', [16, 48], weight(768, 1))]),
    b.floatInit('in_bias', [48], weight(48, 2)),
  ]);
  const axis = b.int64Init('axis', [2]);
  const part = (i: number) => b.op('Slice', [qkv, b.int64Init('start', [16 * i]), b.int64Init('end', [16 * (i + 1)]), axis]);
  const heads = b.int64Init('heads_shape', [0, 0, 4, 4]);
  const split = (v: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [v, heads])], { perm });
  const q = split(part(0), [0, 2, 1, 3]);
  const kT = split(part(1), [0, 2, 3, 1]);
  const v = split(part(2), [0, 2, 1, 3]);
  const probs = b.op('Softmax', [b.op('Div', [b.op('MatMul', [q, kT]), b.floatInit('sqrt_dh', [], [2])])], { axis: -1 });
  const ctx = b.op('Transpose', [b.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] });
  const merged = b.op('Reshape', [ctx, b.int64Init('merged_shape', [0, 0, 16])]);
  b.op('MatMul', [merged, b.floatInit('out_proj', [16, 16], weight(256, 3))], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 6, 16]);
  return b.model({ opset: 17 });
}

/** Pruned vs zeroed: the same outputs for random head subsets; returns the last pruned model. */
async function checkRewrite(model: ModelProto, dims: number[]): Promise<ModelProto> {
  const an = analyzeHeads(model);
  let pruned: ModelProto | undefined;
  for (const seed of [1, 2, 3]) {
    const r = mulberry32(seed);
    const keep = new Map<ChannelGroup, number[]>();
    for (const g of an.groups) {
      assert.equal(g.pinned, undefined, g.pinned);
      const kept = Array.from({ length: g.size }, (_, i) => i).filter(() => r() < 0.5);
      if (kept.length === 0) kept.push(seed % g.size);
      if (kept.length < g.size) keep.set(g, kept);
    }
    pruned = removeChannels(an, keep);
    const x = randomInput(dims, seed);
    const [a, z] = [await run(pruned, x), await run(zeroChannels(an, keep), x)];
    assert.ok(maxRelDiff(a, z) < 1e-4, `seed ${seed}: ${maxRelDiff(a, z)}`);
  }
  return pruned!;
}

describe('attention heads as prunable channels (prune/heads.ts)', () => {
  it("zoo transformer: one group per block, removal computes what zeroing computes, the heads' Reshapes follow", async () => {
    const model = transformer({ layers: 2, dModel: 32, heads: 4, ffn: 64, seq: 5 });
    const an = analyzeHeads(model);
    assert.equal(an.groups.length, 2);
    assert.deepEqual(
      an.groups.map((g) => g.size),
      [4, 4],
    );
    // Q, K, V columns and biases, and the output projection's rows, per block.
    assert.equal(an.slices.filter((s) => s.role === 'weight').length, 8);
    await checkRewrite(model, [3, 5, 32]);
    const keep = selectChannels(channelImportance(an, 'l1'), { sparsity: 0.5, scope: 'layer' });
    const pruned = removeChannels(an, keep);
    const g = new Graph(pruned.graph!);
    const q = pruned.graph!.node.find((n) => n.name === 'layers.0.attn.q_proj.matmul' || n.name?.startsWith('layers.0.attn.q_proj'))!;
    assert.deepEqual(g.initializer(q.input[1]!)!.dims.map(Number), [32, 16]);
    const reshape = pruned.graph!.node.find((n) => n.name === 'layers.0.attn.q.reshape')!;
    assert.deepEqual(tensorNumbers(g.initializer(reshape.input[1]!)!), [0, 0, 2, 8]);
  });

  it('packed Q/K/V projection: the packed columns and the Slice bounds follow the kept heads', async () => {
    const model = packedAttention();
    const an = analyzeHeads(model);
    assert.equal(an.groups.length, 1);
    assert.equal(an.groups[0]!.pinned, undefined);
    const pruned = await checkRewrite(model, [2, 6, 16]);
    assert.ok(pruned.graph!.initializer.some((t) => t.name?.startsWith('in_proj') && Number(t.dims[1]) < 48));
  });

  it('runs as the prune.heads pass', async () => {
    const r = await pruneHeadsPass.run(transformer({ layers: 1, dModel: 16, heads: 4, ffn: 32, seq: 4 }), { sparsity: 0.5 }, {});
    assert.ok(r.changed);
    assert.match(r.report.summary, /pruned 50\.0% of the prunable heads \(heads, l1 importance, layer scope\)/);
    assert.equal(
      pruneHeadsPass.applies(lenet5(), { opset: 17, opTypes: new Map(), quantized: false }),
      'the model has no attention (Softmax between MatMuls)',
    );
  });

  it('refuses a model without attention, and keeps a block whole when its head count is computed at run time', async () => {
    assert.throws(() => analyzeHeads(lenet5()), /no attention heads to prune/);
    assert.match(analyzeHeads(transformer({ layers: 1, dModel: 8, heads: 1, ffn: 8 })).groups[0]!.pinned ?? '', /one head/);
    const tiny = loadModel(join(import.meta.dirname, '..', 'corpus', 'models', 'tiny-encoder.onnx'));
    const an = analyzeHeads(tiny);
    assert.ok(an.groups.length > 0);
    for (const g of an.groups) assert.match(g.pinned ?? '', /computes its shape at run time/);
  });
});

describe('hone prune --structured heads', () => {
  it('removes half the heads of every block, checks the model in ORT, and says why a CNN has none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-heads-'));
    try {
      const out = join(dir, 't.onnx');
      const spec = 'zoo:transformer:layers=2,dModel=32,heads=4,ffn=64';
      const r = await hone(
        'prune',
        spec,
        '-o',
        out,
        '--structured',
        'heads',
        '--sparsity',
        '0.5',
        '--dim',
        'seq=8',
        '--no-latency',
        '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout);
      assert.match(rep.method, /^heads, l1 importance/);
      assert.equal(rep.achieved, 0.5);
      assert.deepEqual(
        rep.groups.map((g: { channels: number; kept: number }) => [g.channels, g.kept]),
        [
          [4, 2],
          [4, 2],
        ],
      );
      assert.ok(rep.params.after < rep.params.before);
      assert.ok(loadModel(out).graph!.node.length > 0);
      const text = await hone(
        'prune',
        spec,
        '-o',
        join(dir, 't2.onnx'),
        '--structured',
        'heads',
        '--sparsity',
        '0.25',
        '--dim',
        'seq=8',
        '--no-latency',
      );
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /of the prunable heads removed/);
      assert.match(text.stdout, /attention blocks pruned: 2 of 2/);
      const cnn = await hone('prune', 'zoo:lenet5', '-o', join(dir, 'l.onnx'), '--structured', 'heads', '--sparsity', '0.5');
      assert.equal(cnn.code, 2);
      assert.match(cnn.stderr, /^hone: no attention heads to prune: the model has no self-attention block/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
