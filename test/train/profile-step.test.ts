import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staticCost } from '../../src/profile/static.js';
import { fixDims } from '../../src/runtime/inputs.js';
import type { MachinePeaks } from '../../src/runtime/peaks.js';
import { profileTrainingStep, type TrainProfile } from '../../src/train/index.js';
import { slowDataMovement } from '../../src/train/profile-step.js';
import { zooModel } from '../../src/zoo/index.js';
import { behindOp, opWithoutGradient, withoutParams } from '../helpers/untrainable.js';

// Fixed peaks keep these tests from measuring the machine; few steps keep them short. No timing is asserted.
const peaks: MachinePeaks = { flops: 5e10, bandwidth: 5e9, cacheBandwidth: 3e10, cacheBytes: 1 << 20, key: 'test' };
const quick = { steps: 3, warmup: 1, threads: 1, peaks };

function checkShares(p: TrainProfile): void {
  const { forward, backward, optimizer } = p.phases;
  for (const [name, ph] of Object.entries(p.phases)) assert.ok(ph.share > 0 && ph.ms > 0, `${name}: ${JSON.stringify(ph)}`);
  assert.ok(Math.abs(forward.share + backward.share + optimizer.share - 1) < 1e-9);
  // The kernel rows and the update make up the same whole.
  assert.ok(Math.abs(p.kernels.reduce((s, k) => s + k.share, 0) + optimizer.share - 1) < 1e-9);
}

test('LeNet-5: forward, backward and optimizer shares, the backward pass holds the gradient kernels', async () => {
  const model = zooModel('lenet5');
  const r = await profileTrainingStep(model, { batchSize: 8, source: 'zoo:lenet5', ...quick });
  assert.equal(r.refused, undefined);
  const p = r.profile!;
  checkShares(p);
  assert.deepEqual(
    [p.settings.batchSize, p.settings.steps, p.settings.optimizer, p.settings.loss, p.settings.data],
    [8, 3, 'adam', 'cross-entropy', 'random'],
  );
  // Every kernel ORT ran is counted once, in one pass, and none had to be guessed.
  assert.ok(p.model.kernels > 0);
  assert.equal(
    p.kernels.reduce((s, k) => s + k.forwardNodes + k.backwardNodes, 0),
    p.model.kernels,
  );
  assert.ok(!p.warnings.some((w) => /could not be matched/.test(w)), p.warnings.join('\n'));

  // Forward: LeNet-5's two convolutions (as Conv or ORT's FusedConv); backward: the weight gradients of both
  // (Convs over transposed tensors: 5×5 kernels take the direct form) and the input gradient of conv2, a
  // ConvTranspose (a 'valid' conv: as a flipped Conv it would compute 1.96x the positions), which inference
  // never runs.
  const fwd = (re: RegExp) => p.kernels.filter((k) => re.test(k.opType)).reduce((s, k) => s + k.forwardNodes, 0);
  const bwd = (re: RegExp) => p.kernels.filter((k) => re.test(k.opType)).reduce((s, k) => s + k.backwardNodes, 0);
  assert.equal(fwd(/^(Fused)?Conv$/), 2);
  assert.equal(bwd(/^Conv$/), 2);
  assert.equal(bwd(/^ConvTranspose$/), 1);
  assert.equal(fwd(/^ConvTranspose$/), 0);
  for (const k of p.kernels) {
    if (k.form === 'fused') assert.equal(k.domain, 'com.microsoft', k.kernel);
    if (k.form === 'nchwc' || k.form === 'reorder') assert.equal(k.domain, 'com.microsoft.nchwc', k.kernel);
    assert.equal(k.grouped, false, `LeNet-5 has no grouped convolution: ${k.kernel}`);
  }
  // The pass comes from the graph's dependencies, not from names: it agrees with autodiff's 'grad/' prefix.
  for (const n of p.topNodes) {
    if (n.name.startsWith('grad/')) assert.equal(n.phase, 'backward', n.name);
    if (n.name === 'conv1' || n.name === 'conv2') assert.equal(n.phase, 'forward', n.name);
  }

  // Shapes and rates from ORT's trace: conv1 reads the [8, 1, 28, 28] images; kernels of one op type on the
  // same shapes are summed, the groups largest first, together no more than the step's kernels.
  const conv1 = p.topNodes.find((n) => n.name === 'conv1');
  if (conv1) assert.match(conv1.shape, /^\[8, 1, 28, 28\] → \[8, 6, \d+, \d+\]$/);
  for (const n of p.topNodes) assert.ok(n.shape === '' || /^\[[\d, ]*\] → \[[\d, ]*\]$/.test(n.shape), n.shape);
  assert.ok(
    p.topNodes.some((n) => n.bytesPerSec > 0),
    'the trace gave no sizes',
  );
  assert.ok(p.byShape.length > 0 && p.byShape.length <= 15);
  for (let i = 1; i < p.byShape.length; i++) assert.ok(p.byShape[i]!.ms <= p.byShape[i - 1]!.ms);
  const kernelMs = p.phases.forward.ms + p.phases.backward.ms;
  assert.ok(p.byShape.reduce((s, g) => s + g.ms, 0) <= kernelMs * (1 + 1e-9));
  assert.ok(p.byShape[0]!.ms >= p.topNodes[0]!.ms * (1 - 1e-9), 'the largest group holds at least the largest kernel');
  assert.ok(p.byShape.reduce((s, g) => s + g.nodes, 0) <= p.model.kernels);

  // A step does about three times the forward pass's FLOPs, plus the update's 12 per parameter (Adam).
  const forwardFlops = staticCost(fixDims(model, { dims: { batch: 8 } })).flops;
  assert.ok(p.static.flops > 2 * forwardFlops && p.static.flops < 5 * forwardFlops, `${p.static.flops} vs ${forwardFlops}`);
  assert.equal(p.static.optimizerFlops, 12 * p.model.params);
  assert.equal(p.model.params, 61_706);

  assert.ok(p.step.samplesPerSec > 0 && p.step.profiled.samplesPerSec > 0);
  assert.ok(p.step.dataShare >= 0 && p.step.dataShare < 1);
  assert.ok(['compute', 'memory', 'overhead', 'undecided'].includes(p.bottleneck.kind), p.bottleneck.kind);
  assert.match(p.bottleneck.summary, /at batch 8/);
  assert.deepEqual(p.bottleneck.advice, []);
});

test('slow data movement is named by op type and shapes; compute, fast copies and small shares are not', () => {
  const g = (kernel: string, share: number, gbps: number, nodes = 1) => ({
    kernel,
    shape: '[960, 32, 3, 3] → [960, 32, 5, 5]',
    nodes,
    ms: share * 400,
    share,
    bytesPerSec: gbps * 1e9,
  });
  const bw = 28e9;
  const note = slowDataMovement(
    [
      g('ConvTranspose (grouped)', 0.03, 0.5), // compute: not named however slow
      g('Pad', 0.02, 1.1, 3),
      g('Transpose', 0.02, 14), // at half the bandwidth: fine
      g('Where', 0.005, 0.5), // under 1% of the step
      g('ReorderInput (nchwc)', 0.015, 2.0, 12),
    ],
    bw,
  );
  assert.equal(
    note,
    "data movement far below this machine's memory bandwidth (28.0 GB/s): Pad [960, 32, 3, 3] → [960, 32, 5, 5] (3 nodes, 8.0 ms, 1.1 GB/s); ReorderInput (nchwc) [960, 32, 3, 3] → [960, 32, 5, 5] (12 nodes, 6.0 ms, 2.0 GB/s) — ORT's kernels for these move their bytes well below memory speed; another layout or op form may move them faster",
  );
  assert.equal(slowDataMovement([g('Transpose', 0.02, 14), g('Pad', 0.02, 0)], bw), undefined, 'no sizes traced: no rate to judge');
});

test('SGD over micro-batches on given data: two graph runs a step, shares still whole', async () => {
  const n = 16;
  const data = {
    features: { input: { data: Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 256) / 255), dims: [n, 1, 28, 28] } },
    labels: { data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)), dims: [n] },
    size: n,
  };
  const r = await profileTrainingStep(zooModel('mlp:hidden=32'), {
    batchSize: 8,
    microBatch: 4,
    optimizer: { kind: 'sgd', momentum: 0.9 },
    data,
    ...quick,
  });
  const p = r.profile!;
  checkShares(p);
  assert.deepEqual([p.settings.runsPerStep, p.settings.microBatch, p.settings.optimizer, p.settings.data], [2, 4, 'sgd', 'given']);
  assert.equal(p.static.optimizerFlops, 10 * p.model.params);
  assert.ok(!p.warnings.some((w) => /graph runs/.test(w)), p.warnings.join('\n'));
});

test('a model Hone cannot train is refused before any step, naming the op type or the reason', async () => {
  const op = opWithoutGradient();
  if (op) {
    const r = await profileTrainingStep(behindOp(op), { batchSize: 2, ...quick });
    assert.equal(r.profile, undefined);
    assert.match(r.refused!, new RegExp(`no gradient rule for op ${op}\\b`));
  }
  const r = await profileTrainingStep(withoutParams(), { batchSize: 2, ...quick });
  assert.match(r.refused!, /^nothing to train/);
});

test('bad settings stay errors: zero steps, a shape for an input the model lacks', async () => {
  await assert.rejects(
    profileTrainingStep(zooModel('lenet5'), { batchSize: 4, ...quick, steps: 0 }),
    /profiled steps must be an integer >= 1/,
  );
  await assert.rejects(profileTrainingStep(zooModel('lenet5'), { batchSize: 4, ...quick, shapes: { nope: [4, 1, 28, 28] } }), /nope/);
});
