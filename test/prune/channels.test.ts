// Structured pruning (prune/channels.ts, prune/structured.ts): which channels couple, why some stay, and a
// rewrite that computes exactly what the model with those channels' weights zeroed computes, in ORT.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { analyzeChannels, type ChannelGroup } from '../../src/prune/channels.js';
import {
  channelImportance,
  removeChannels,
  selectChannels,
  taylorImportance,
  zeroChannels,
  zeroChannelsInPlace,
} from '../../src/prune/structured.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { firstSamples, mnist } from '../../src/data/index.js';
import { createSession, mulberry32 } from '../../src/runtime/index.js';
import { lenet5, mobilenet, resnet } from '../../src/zoo/index.js';
import { maxRelDiff } from '../helpers/compare.js';

const F = DataType.FLOAT;

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const s = await createSession(model, { intraOpThreads: 1 });
  try {
    const out = await s.run(feeds);
    return s.outputNames.map((n) => out[n]!.data as Float32Array);
  } finally {
    await s.release();
  }
}

function randomInput(dims: number[], seed = 1): ort.Tensor {
  const r = mulberry32(seed);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1),
    dims,
  );
}

/** A random subset of each prunable group's channels (at least one kept, at least one dropped when it can). */
function randomKeep(groups: readonly ChannelGroup[], seed: number): Map<ChannelGroup, number[]> {
  const r = mulberry32(seed);
  const keep = new Map<ChannelGroup, number[]>();
  for (const g of groups) {
    if (g.pinned) continue;
    const kept = Array.from({ length: g.size }, (_, i) => i).filter(() => r() < 0.5);
    if (kept.length === 0) kept.push(Math.floor(r() * g.size));
    if (kept.length < g.size) keep.set(g, kept);
  }
  return keep;
}

/** Within 1e-4 of the reference's scale (or absolutely, when the reference is all zeros). */
function close(got: Float32Array, want: Float32Array): boolean {
  const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
  return got.every((v, i) => Math.abs(v - want[i]!) <= 1e-4 * scale);
}

/** Pruned vs zeroed: the same outputs, and the pruned model really is smaller. */
async function checkRewrite(model: ModelProto, input: string, dims: number[], seeds = [1, 2, 3]) {
  const an = analyzeChannels(model);
  for (const seed of seeds) {
    const keep = randomKeep(an.groups, seed);
    assert.ok(keep.size > 0, 'some group loses channels');
    const pruned = removeChannels(an, keep);
    const zeroed = zeroChannels(an, keep);
    const feeds = { [input]: randomInput(dims, seed) };
    const [a, b] = await Promise.all([run(pruned, feeds), run(zeroed, feeds)]);
    a.forEach((out, i) => assert.ok(close(out, b[i]!), `seed ${seed} output ${i}: ${maxRelDiff(out, b[i]!)}`));
    const params = (m: ModelProto) => m.graph!.initializer.reduce((n, t) => n + t.dims.reduce((x, y) => x * Number(y), 1), 0);
    assert.ok(params(pruned) < params(model), 'fewer parameters');
  }
  return an;
}

describe('channel groups (prune/channels.ts)', () => {
  it('LeNet-5: convs and hidden Gemms prune; the classifier stays, named', () => {
    const an = analyzeChannels(lenet5());
    const free = an.groups.filter((g) => !g.pinned);
    assert.deepEqual(
      free.map((g) => g.size),
      [6, 16, 120, 84],
    );
    const pinned = an.groups.filter((g) => g.pinned);
    assert.equal(pinned.length, 1);
    assert.match(pinned[0]!.pinned!, /graph output/);
  });

  it('ResNet: the residual stream of each stage is one group; block-internal channels are their own', () => {
    const an = analyzeChannels(resnet({ widths: [8, 16, 32], blocks: [2, 2, 2] }));
    const free = an.groups.filter((g) => !g.pinned);
    // stem+stage 1 stream, 2 downsampled streams, 6 block-internal convs
    assert.equal(free.length, 9);
    const streams = free.filter((g) => g.producers.length > 1);
    assert.equal(streams.length, 3);
    for (const s of streams) assert.ok(s.producers.length >= 2);
  });

  it('rewrites LeNet-5 (Flatten into Gemm: a channel is 16 features)', async () => {
    await checkRewrite(lenet5(), 'input', [2, 1, 28, 28]);
  });

  it('rewrites a ResNet (residual Adds, BatchNorm, strided 1×1 shortcuts)', async () => {
    await checkRewrite(resnet({ widths: [8, 16, 32], blocks: [1, 2, 1] }), 'input', [2, 3, 32, 32]);
  });

  it('rewrites a MobileNet-v2 (expansions through depthwise Convs, Clip, residual projections)', async () => {
    const an = await checkRewrite(mobilenet({ stages: 4, size: 32, widthMultiplier: 0.5 }), 'input', [2, 3, 32, 32], [1, 2]);
    assert.ok(an.groupAttrs.length > 0, 'depthwise convs follow their channel count');
  });

  it('follows Concat, Transpose, MatMul and elementwise constants', async () => {
    const b = new GraphBuilder('mix');
    b.input('x', F, ['batch', 4, 6, 6]);
    const r = mulberry32(7);
    const w = (name: string, dims: number[]) =>
      b.floatInit(
        name,
        dims,
        Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, () => r() - 0.5),
      );
    const a = b.op('Relu', [b.op('Conv', ['x', w('wa', [8, 4, 3, 3]), w('ba', [8])], { pads: [1, 1, 1, 1] })]);
    const c = b.op('Conv', ['x', w('wc', [6, 4, 1, 1])]);
    const scaled = b.op('Mul', [c, w('scale', [1, 6, 1, 1])]); // a per-channel constant: sliced
    const cat = b.op('Concat', [a, scaled, 'x'], { axis: 1 }); // x's 4 channels stay
    const mixed = b.op('Conv', [cat, w('wm', [5, 18, 1, 1])]);
    const pooled = b.op('GlobalAveragePool', [mixed]);
    const flat = b.op('Flatten', [pooled]);
    const h = b.op('MatMul', [flat, w('w1', [5, 7])]);
    const hb = b.op('Relu', [b.op('Add', [h, w('b1', [7])])]);
    const back = b.op('Transpose', [b.op('Transpose', [hb], { perm: [1, 0] })], { perm: [1, 0] });
    b.op('MatMul', [back, w('w2', [7, 3])], {}, { output: 'y' });
    b.output('y', F, ['batch', 3]);
    const model = b.model({ opset: 17 });
    const an = await checkRewrite(model, 'x', [2, 4, 6, 6]);
    const sizes = an.groups.filter((g) => !g.pinned).map((g) => g.size);
    assert.deepEqual(
      sizes.sort((x, y) => x - y),
      [5, 6, 7, 8],
    );
  });

  it('keeps channels it cannot follow and names the node', () => {
    const b = new GraphBuilder('stuck');
    b.input('x', F, [1, 4, 5, 5]);
    const conv = (name: string, src: string, out: number) =>
      b.op('Conv', [src, b.floatInit(`w_${name}`, [out, 4, 1, 1], new Float32Array(out * 4).fill(0.1))], {}, { name });
    const soft = b.op('Softmax', [conv('c1', 'x', 4)], { axis: 1 }, { name: 'soft' });
    const shaped = b.op('Reshape', [conv('c2', soft, 4), b.int64Init('target', [1, 4, 25])], {}, { name: 'spelled' });
    b.op('ReduceSum', [shaped], { keepdims: 0 }, { output: 'y' });
    b.output('y', F, []);
    const an = analyzeChannels(b.model({ opset: 17 }));
    const why = Object.fromEntries(an.groups.map((g) => [g.producers[0], g.pinned]));
    assert.match(why.c1!, /Softmax 'soft'/);
    assert.match(why.c2!, /Reshape 'spelled'/);
  });

  it('zeroes dropped channels in live arrays as zeroChannels does in a model (gradual pruning)', () => {
    const an = analyzeChannels(lenet5());
    const keep = randomKeep(an.groups, 4);
    const live = new Map(an.model.graph!.initializer.map((t) => [t.name!, Float32Array.from(tensorArray(t) as Float32Array)]));
    zeroChannelsInPlace(an, keep, (name) => live.get(name));
    for (const t of zeroChannels(an, keep).graph!.initializer) assert.deepEqual(live.get(t.name!), tensorArray(t), t.name);
    // And ranking from live arrays ranks as from the model.
    const fromModel = channelImportance(an, 'l2');
    const fromLive = channelImportance(
      an,
      'l2',
      (name) => tensorArray(an.model.graph!.initializer.find((t) => t.name === name)!) as Float32Array,
    );
    for (const [g, v] of fromModel) assert.deepEqual(fromLive.get(g), v);
  });

  it('Taylor importance: zero for a channel whose weights are zero, positive for the others', async () => {
    const model = lenet5();
    const first = analyzeChannels(model);
    const conv1 = first.groups.find((g) => g.producers.includes('conv1'))!;
    const zeroed = zeroChannels(first, new Map([[conv1, [0, 1, 3, 4, 5]]]));
    const an = analyzeChannels(zeroed);
    const imp = await taylorImportance(an, firstSamples(mnist().train, 128), { batches: 2, batchSize: 64 });
    const scores = imp.get(an.groups.find((g) => g.producers.includes('conv1'))!)!;
    assert.equal(scores[2], 0);
    for (const i of [0, 1, 3, 4, 5]) assert.ok(scores[i]! > 0, `channel ${i}: ${scores[i]}`);
    for (const [g, v] of imp)
      assert.ok(
        v.every((x) => Number.isFinite(x) && x >= 0),
        g.producers[0],
      );
  });

  it('selects by importance: layer scope removes the same fraction per group, rounded to a multiple', () => {
    const an = analyzeChannels(resnet({ widths: [16, 32, 64], blocks: [1, 1, 1] }));
    const imp = channelImportance(an, 'l1');
    const keep = selectChannels(imp, { sparsity: 0.5, scope: 'layer', roundTo: 8 });
    for (const [g, kept] of keep) {
      assert.equal(kept.length, g.size / 2);
      assert.equal(kept.length % 8, 0);
      const scores = imp.get(g)!;
      const dropped = Array.from(scores.keys()).filter((i) => !kept.includes(i));
      assert.ok(Math.min(...kept.map((i) => scores[i]!)) >= Math.max(...dropped.map((i) => scores[i]!)), 'keeps the largest');
    }
    const global = selectChannels(imp, { sparsity: 0.5, scope: 'global' });
    const removed = [...global].reduce((n, [g, k]) => n + g.size - k.length, 0);
    const total = [...imp.keys()].reduce((n, g) => n + g.size, 0);
    assert.equal(removed, Math.round(total * 0.5));
  });
});
