// Convolutions on ORT's NCHWc kernels with their weights as graph inputs (passes/nchwc.ts): which convs
// convert, the same outputs as ORT's plain Conv, and a training run that ends at the same weights.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, makeModel, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { NCHWC_DOMAIN, nchwcConvs } from '../../src/passes/nchwc.js';
import { cpuFeatures } from '../../src/runtime/cpu.js';
import { createSession, nchwcBlockSize } from '../../src/runtime/index.js';
import { train } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { maxRelDiff } from '../helpers/compare.js';
import { rand } from '../train/gradcheck-util.js';

const F = DataType.FLOAT;

/** Convs reading their weights from graph inputs: which the pass takes and which it leaves (see `expected`). */
function convModel(): { model: ModelProto; shapes: Record<string, number[]>; expected: string[] } {
  const g = new GraphBuilder().graph;
  const shapes: Record<string, number[]> = {
    x: [2, 16, 8, 8],
    big: [1, 16, 32, 32],
    rgb: [2, 3, 8, 8],
    w_a: [32, 16, 3, 3],
    w_b: [16, 32, 3, 3],
    b_b: [16],
    w_c: [16, 16, 1, 1],
    w_g: [16, 8, 3, 3],
    w_odd: [12, 16, 3, 3],
    w_big: [16, 16, 3, 3],
    w_rgb: [16, 3, 3, 3],
    w_dw: [16, 1, 3, 3],
    w_dw2: [32, 1, 3, 3],
  };
  for (const [name, dims] of Object.entries(shapes)) g.input.push(valueInfo(name, F, dims));
  const conv = (name: string, inputs: string[], attrs: Record<string, number[] | number>) => {
    g.node.push(makeNode('Conv', inputs, [`y_${name}`], attrs, { name }));
    g.output.push(valueInfo(`y_${name}`, F));
    return `y_${name}`;
  };
  const a = conv('a', ['x', 'w_a'], { pads: [1, 1, 1, 1] });
  conv('b', [a, 'w_b', 'b_b'], { strides: [2, 2], pads: [1, 0, 1, 0] }); // strided, bias, uneven pads
  conv('c', ['x', 'w_c'], {}); // reads x too: one ReorderInput for a and c
  conv('g', ['x', 'w_g'], { group: 2, pads: [1, 1, 1, 1] }); // grouped: stays
  conv('odd', ['x', 'w_odd'], {}); // 12 output channels, not a block multiple: stays
  conv('big', ['big', 'w_big'], { pads: [1, 1, 1, 1] }); // 32×32 outputs: converted (any size by default)
  conv('rgb', ['rgb', 'w_rgb'], { pads: [1, 1, 1, 1] }); // 3 input channels: stays
  conv('dw', ['x', 'w_dw'], { group: 16, pads: [1, 1, 1, 1] }); // depthwise: converted (OIHWBo filter)
  conv('dw2', ['x', 'w_dw2'], { group: 16, pads: [1, 1, 1, 1] }); // two filters per channel: stays
  conv('dwbig', ['big', 'w_dw'], { group: 16, strides: [2, 2], pads: [0, 0, 1, 1] }); // depthwise at any size
  return { model: makeModel(g, { opset: 17 }), shapes, expected: ['a', 'b', 'c', 'big', 'dw', 'dwbig'] };
}

async function runAll(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await createSession(model, { graphOptimizationLevel: 'disabled', intraOpThreads: 1 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

describe('NCHWc convolutions (passes/nchwc.ts)', () => {
  it('finds the block size of ORT on this CPU', async () => {
    const block = await nchwcBlockSize();
    const flags = cpuFeatures().flags;
    if (flags?.has('avx512f')) assert.equal(block, 16);
    else if (flags?.has('avx2')) assert.equal(block, 8);
    else assert.ok(block === 0 || block >= 8, `block ${block}`);
  });

  it('converts the eligible convs, shares input reorders, and computes what the plain Conv computes', async (t) => {
    const block = await nchwcBlockSize();
    if (block !== 16 && block !== 8) return t.skip(`no NCHWc kernels on this CPU (${cpuFeatures().arch})`);
    const { model, shapes, expected } = convModel();
    const before = JSON.stringify(model);
    const { model: out, converted } = nchwcConvs(model, { blockSize: block });
    assert.equal(JSON.stringify(model), before, 'the input model is unchanged');
    assert.equal(converted, expected.length);
    const nchwcConvNames = out.graph!.node.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').map((n) => n.name);
    assert.deepEqual(nchwcConvNames, expected);
    const reorderInputs = out.graph!.node.filter((n) => n.opType === 'ReorderInput').map((n) => n.input[0]);
    assert.deepEqual(reorderInputs, ['x', 'y_a', 'big'], 'one reorder of x for a, c and dw');
    assert.ok(out.opsetImport.some((o) => o.domain === NCHWC_DOMAIN));

    const feeds = Object.fromEntries(
      Object.entries(shapes).map(([name, dims], i) => [
        name,
        new ort.Tensor(
          'float32',
          rand(
            dims.reduce((p, q) => p * q, 1),
            i + 1,
          ),
          dims,
        ),
      ]),
    );
    const want = await runAll(model, feeds);
    const got = await runAll(out, feeds);
    for (const name of Object.keys(want))
      assert.ok(maxRelDiff(got[name]!, want[name]!) < 1e-5, `${name}: ${maxRelDiff(got[name]!, want[name]!)}`);

    // A block size the kernels do not have, or none: nothing changes.
    assert.equal(nchwcConvs(model, { blockSize: 0 }).model, model);
    assert.equal(nchwcConvs(model, { blockSize: 16, maxPositions: 0, maxDepthwisePositions: 0 }).converted, 0);
    assert.equal(nchwcConvs(model, { blockSize: 16, maxPositions: 0 }).converted, 2, 'depthwise at any size by default');
    // A size limit keeps the larger group-1 convs (here 'big', 32×32) on ORT's plain kernel.
    assert.equal(nchwcConvs(model, { blockSize: 16, maxPositions: 256 }).converted, expected.length - 1);
  });

  // ResNet: group-1 convs at 16×16 and 8×8; MobileNet: depthwise convs, whose weight gradients take the
  // stacked form (ops/grad/nn.ts) only when the step runs on NCHWc kernels. One SGD step from the same
  // weights on the same batch: the update of every tensor (the gradient times the rate) must agree, not
  // just the weights (a wrong gradient hides under the weights' own scale). Over several steps the two
  // runs drift apart as float rounding flips ReLU6 clips and small-batch BatchNorms amplify it.
  for (const spec of ['resnet:blocks=1-1-1,widths=16-16-32,size=16', 'mobilenet:widthMultiplier=0.5,stages=3,size=16']) {
    it(`a training step on NCHWc kernels makes the update of one on the plain kernel (${spec})`, async (t) => {
      const block = await nchwcBlockSize();
      if (block !== 16 && block !== 8) return t.skip(`no NCHWc kernels on this CPU (${cpuFeatures().arch})`);
      const n = 8;
      const data = {
        features: { input: { data: rand(n * 3 * 16 * 16, 11), dims: [n, 3, 16, 16] } },
        labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), dims: [n] },
        size: n,
      };
      // The test set runs through the evaluation model, converted as well (its batch stays symbolic).
      const opts = { epochs: 1, batchSize: n, lr: 0.05, seed: 1, optimizer: { kind: 'sgd' as const }, test: data };
      const plain = await train(zooModel(spec), data, { ...opts, nchwc: false });
      const blocked = await train(zooModel(spec), data, { ...opts, nchwc: true });
      const weights = (m: ModelProto) =>
        new Map(
          m.graph!.initializer.flatMap((w) => {
            const a = tensorArray(w);
            return a instanceof Float32Array ? [[w.name!, a] as const] : [];
          }),
        );
      const w0 = weights(zooModel(spec));
      const wp = weights(plain.model);
      const wb = weights(blocked.model);
      let compared = 0;
      let differ = 0;
      for (const [name, init] of w0) {
        const dp = wp.get(name)!.map((v, i) => v - init[i]!);
        const db = wb.get(name)!.map((v, i) => v - init[i]!);
        const scale = dp.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        if (scale < 1e-6) continue; // no update to speak of (running statistics, the loss's flat directions)
        compared++;
        assert.ok(maxRelDiff(db, dp) < 2e-3, `${name}: updates differ by ${maxRelDiff(db, dp)} of their size`);
        if (db.some((v, i) => v !== dp[i])) differ++;
      }
      assert.ok(compared > 10, `only ${compared} tensors were updated`);
      // Other kernels ran (their sums round differently), yet the steps agree.
      assert.ok(differ > 0, 'the NCHWc step computed every update bit for bit like the plain one: did its kernels run?');
      assert.ok(Math.abs(blocked.trainLoss - plain.trainLoss) < 1e-4 * Math.max(1, plain.trainLoss));
      assert.ok(plain.testLoss !== undefined && Math.abs(blocked.testLoss! - plain.testLoss) < 1e-3 * Math.max(1, plain.testLoss));
    });
  }
});
