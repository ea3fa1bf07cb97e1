import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { firstSamples, mnist, type Dataset } from '../../src/data/index.js';
import { loadCheckpoint, train, type TrainCallback, type TrainingRun } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { rand, signData } from './gradcheck-util.js';

/** 4 features → 8 hidden → 2 logits, plus `shift` [batch, 2] added to the logits when `withShift`. */
function tinyMlp(withShift = false): ModelProto {
  const b = new GraphBuilder('tiny');
  const x = b.input('input', DataType.FLOAT, ['batch', 4]);
  const h = b.op('Relu', [
    b.op('Gemm', [x, b.floatInit('w1', [8, 4], rand(32, 1, -0.5, 0.5)), b.floatInit('b1', [8], new Float32Array(8))], { transB: 1 }),
  ]);
  const z = b.op('Gemm', [h, b.floatInit('w2', [2, 8], rand(16, 2, -0.5, 0.5)), b.floatInit('b2', [2], new Float32Array(2))], {
    transB: 1,
  });
  if (withShift) b.op('Add', [z, b.input('shift', DataType.FLOAT, ['batch', 2])], {}, { output: 'logits' });
  else b.op('Identity', [z], {}, { output: 'logits' });
  b.output('logits', DataType.FLOAT, ['batch', 2]);
  return b.model({ opset: 17 });
}

const weight = (m: ModelProto, name: string) => tensorArray(m.graph!.initializer.find((t) => t.name === name)!) as Float32Array;
const weights = (m: ModelProto) => new Map(m.graph!.initializer.map((t) => [t.name!, Float32Array.from(tensorArray(t) as Float32Array)]));
const savedEpoch = (dir: string) => loadCheckpoint(dir)?.meta.epoch ?? 0;
const param = (run: TrainingRun, name: string) => run.params[run.graph.params.findIndex((p) => p.name === name)]!;

describe('training callbacks', () => {
  it('stop training after an epoch (checkpointed) or after a step (not checkpointed)', async () => {
    const data = signData(128, 1);
    const dir = mkdtempSync(join(tmpdir(), 'hone-cb-stop-'));
    const atEpoch: TrainCallback = {
      onEpochEnd(run, rec) {
        if (rec.epoch === 2) run.stop();
      },
    };
    const r = await train(tinyMlp(), data, { epochs: 5, batchSize: 16, checkpointDir: dir, callbacks: [atEpoch] });
    assert.equal(r.stopped, 'callback');
    assert.equal(r.epochs, 2);
    assert.equal(r.history.length, 2);
    assert.equal(savedEpoch(dir), 2);

    const dir2 = mkdtempSync(join(tmpdir(), 'hone-cb-stop-step-'));
    const atStep: TrainCallback = {
      onStepEnd(run, s) {
        if (s.step === 5) run.stop();
      },
    };
    const cut = await train(tinyMlp(), data, { epochs: 5, batchSize: 16, checkpointDir: dir2, callbacks: [atStep] });
    assert.equal(cut.stopped, 'callback');
    assert.deepEqual(
      cut.history.map((h) => h.step),
      [5],
    );
    // The epoch was cut short: resuming from a checkpoint of it would skip its other steps.
    assert.ok(!existsSync(join(dir2, 'checkpoint.bin')));
  });

  it('a mask re-applied after every update: the exported weight keeps exactly those zeros, and the loss still falls', async () => {
    const data = firstSamples(mnist().train, 512);
    const masked = (i: number) => i % 2 === 0;
    const prune = (everyStep: boolean): TrainCallback => {
      const apply = (run: TrainingRun) => {
        const w = param(run, 'fc1.weight');
        for (let i = 0; i < w.length; i += 2) w[i] = 0;
      };
      return { onTrainBegin: apply, onStepEnd: everyStep ? apply : undefined };
    };
    const opts = { epochs: 2, batchSize: 32, lr: 3e-3, seed: 1 };
    const r = await train(zooModel('mlp:hidden=32'), data, { ...opts, callbacks: [prune(true)] });
    const w = weight(r.model, 'fc1.weight');
    const before = weight(zooModel('mlp:hidden=32'), 'fc1.weight');
    assert.equal(w.length, 784 * 32);
    for (let i = 0; i < w.length; i++) {
      if (masked(i)) assert.equal(w[i], 0, `fc1.weight[${i}]`);
      else assert.notEqual(w[i], 0, `fc1.weight[${i}]`);
    }
    assert.ok(
      w.some((v, i) => !masked(i) && v !== before[i]),
      'the unmasked half trains',
    );
    assert.ok(r.history[1]!.trainLoss < r.history[0]!.trainLoss, `losses ${r.history.map((h) => h.trainLoss)}`);
    // Zeroed only once, Adam moves the masked weights again: the mask holds because it is re-applied.
    const once = weight((await train(zooModel('mlp:hidden=32'), data, { ...opts, callbacks: [prune(false)] })).model, 'fc1.weight');
    assert.ok(once.some((v, i) => masked(i) && v !== 0));
  });

  it('feeds an extra input per batch, in the sample order the trainer shuffled', async () => {
    const n = 96;
    const base = signData(n, 2);
    const shift = rand(n * 2, 3, -2, 2);
    const opts = { epochs: 2, batchSize: 16, microBatch: 8, lr: 0.02, seed: 5 };
    // The same input given as data.
    const asData = await train(tinyMlp(true), { ...base, features: { ...base.features, shift: { data: shift, dims: [n, 2] } } }, opts);

    const x = base.features.input!.data as Float32Array;
    const orders: number[][] = [];
    let mismatches = 0;
    const feeder: TrainCallback = {
      inputs: ['shift'],
      onTrainBegin(run) {
        run.feeds.shift = new ort.Tensor('float32', new Float32Array(run.microBatch * 2), [run.microBatch, 2]);
      },
      onEpochBegin() {
        orders.push([]);
      },
      onBatchBegin(run, batch) {
        const buf = run.feeds.shift!.data as Float32Array;
        const fed = run.feeds.input!.data as Float32Array;
        for (let i = 0; i < run.microBatch; i++) {
          const sample = run.order[batch.first + i]!;
          orders[orders.length - 1]!.push(sample);
          buf.set(shift.subarray(sample * 2, sample * 2 + 2), i * 2);
          for (let j = 0; j < 4; j++) if (fed[i * 4 + j] !== x[sample * 4 + j]) mismatches++;
        }
      },
    };
    const fedByCallback = await train(tinyMlp(true), base, { ...opts, callbacks: [feeder] });
    assert.equal(mismatches, 0, 'the fed samples are the ones the order names');
    assert.deepEqual(weights(fedByCallback.model), weights(asData.model));
    // Each epoch visits every sample once, in its own order.
    assert.equal(orders.length, 2);
    for (const o of orders)
      assert.deepEqual(
        [...o].sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i),
      );
    assert.notDeepEqual(orders[0], orders[1]);

    await assert.rejects(
      train(
        tinyMlp(true),
        { ...base, features: { ...base.features, shift: { data: shift, dims: [n, 2] } } },
        { ...opts, callbacks: [feeder] },
      ),
      /input 'shift' is fed by a training callback; drop its array from the training data/,
    );
    await assert.rejects(
      train(tinyMlp(true), base, { ...opts, validationSplit: 0.25, callbacks: [feeder] }),
      /validation and test metrics need input 'shift', which a training callback feeds only to training steps/,
    );
  });

  it('runs metrics first, then the callbacks in order, the option callbacks, early stopping and checkpoints last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cb-order-'));
    const log: string[] = [];
    const logger = (tag: string): TrainCallback => ({
      onTrainBegin() {
        log.push(`${tag} begin`);
      },
      onEpochBegin(run) {
        log.push(`${tag} epoch ${run.epoch + 1}`);
      },
      onBatchBegin(_run, b) {
        log.push(`${tag} batch ${b.step}`);
      },
      onStepEnd(_run, s) {
        log.push(`${tag} step ${s.step}`);
      },
      onEpochEnd(run, rec) {
        log.push(`${tag} end ${rec.epoch} val=${rec.valLoss !== undefined} saved=${savedEpoch(dir)} stopping=${run.stopping}`);
      },
      onTrainEnd(run) {
        log.push(`${tag} done saved=${savedEpoch(dir)} stopping=${run.stopping}`);
      },
    });
    // 48 training samples: 3 steps an epoch. No validation loss can beat the last by 1e9: early stopping ends epoch 2.
    const r = await train(tinyMlp(), signData(64, 4), {
      epochs: 5,
      batchSize: 16,
      validationSplit: 0.25,
      earlyStopping: { patience: 1, minDelta: 1e9 },
      checkpointDir: dir,
      callbacks: [logger('A'), logger('B')],
      onStep: (s) => {
        log.push(`onStep ${s.step}`);
        return undefined;
      },
      onProgress: (p) => log.push(`progress ${p.epoch}.${p.step}`),
      onEpoch: (rec) => log.push(`onEpoch ${rec.epoch} saved=${savedEpoch(dir)}`),
    });
    const expected = ['A begin', 'B begin'];
    for (const epoch of [1, 2]) {
      expected.push(`A epoch ${epoch}`, `B epoch ${epoch}`);
      for (let s = 0; s < 3; s++) {
        const step = (epoch - 1) * 3 + s;
        expected.push(`A batch ${step}`, `B batch ${step}`, `A step ${step + 1}`, `B step ${step + 1}`, `onStep ${step + 1}`);
      }
      expected.push(`progress ${epoch}.3`);
      for (const tag of ['A', 'B']) expected.push(`${tag} end ${epoch} val=true saved=${epoch - 1} stopping=undefined`);
      expected.push(`onEpoch ${epoch} saved=${epoch - 1}`);
    }
    expected.push('A done saved=2 stopping=early-stopping', 'B done saved=2 stopping=early-stopping');
    assert.deepEqual(log, expected);
    assert.equal(r.stopped, 'early-stopping');
    assert.equal(r.epochs, 2);

    // Stopped by a callback and by early stopping in the same epoch: the callback came first, its reason stands.
    const both = await train(tinyMlp(), signData(64, 4), {
      epochs: 5,
      batchSize: 16,
      validationSplit: 0.25,
      earlyStopping: { patience: 1, minDelta: 1e9 },
      callbacks: [
        {
          onEpochEnd(run, rec) {
            if (rec.epoch === 2) run.stop();
          },
        },
      ],
    });
    assert.equal(both.stopped, 'callback');
    assert.equal(both.epochs, 2);
  });

  it("a callback's state is checkpointed beside early stopping's and restored on resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-cb-state-'));
    const counter = () => {
      const c = {
        seen: 0,
        loaded: -1,
        onStepEnd() {
          c.seen++;
        },
        state: () => ({ stepsSeen: c.seen }),
        loadState(saved: Readonly<Record<string, unknown>>) {
          c.loaded = saved.stepsSeen as number;
          c.seen = c.loaded;
        },
      };
      return c;
    };
    const opts = { batchSize: 16, seed: 2, validationSplit: 0.25, earlyStopping: { patience: 3 }, checkpointDir: dir };
    const first = counter();
    await train(tinyMlp(), signData(64, 5), { ...opts, epochs: 2, callbacks: [first] });
    const trainer = loadCheckpoint(dir)!.meta.trainer;
    assert.equal(trainer.stepsSeen, 6);
    assert.equal(typeof trainer.bestValLoss, 'number');
    assert.equal(trainer.history.length, 2);
    const second = counter();
    await train(tinyMlp(), signData(64, 5), { ...opts, epochs: 3, resume: true, callbacks: [second] });
    assert.equal(second.loaded, 6);
    assert.equal(loadCheckpoint(dir)!.meta.trainer.stepsSeen, 9);
  });

  it('checkpoints within an epoch: a run stopped mid-epoch resumes at the next step and ends with the weights of one that never stopped', async () => {
    const data = signData(160, 8);
    const opts = { batchSize: 16, seed: 4, optimizer: { kind: 'adam' as const }, lr: 0.01, epochs: 3 };
    const whole = await train(tinyMlp(), data, opts);
    for (const loader of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'hone-cb-midepoch-'));
      const more = { ...opts, checkpointDir: dir, checkpointEverySteps: 3, ...(loader ? { loader: { workers: 0 } } : {}) };
      // 10 steps an epoch: stopped after step 17 (the 7th of epoch 2), the last checkpoint is at step 15.
      const stopper: TrainCallback = {
        onStepEnd(run) {
          if (run.step === 17) run.stop();
        },
      };
      await train(tinyMlp(), data, { ...more, callbacks: [stopper] });
      const ck = loadCheckpoint(dir)!.meta;
      assert.deepEqual([ck.epoch, ck.step, ck.stepInEpoch], [1, 15, 5]);
      const resumed = await train(tinyMlp(), data, { ...more, resume: true });
      assert.equal(resumed.epochs, 3);
      for (const [name, w] of weights(whole.model)) assert.deepEqual(weights(resumed.model).get(name), w, `${name} (loader: ${loader})`);
    }
  });

  it('an error thrown in a callback ends training with that error and leaves the last checkpoint whole', async () => {
    const data: Dataset = signData(64, 6);
    for (const where of ['epoch end', 'batch'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'hone-cb-error-'));
      const boom = new Error(`failed at ${where}`);
      let ended = false;
      const failing: TrainCallback = {
        onEpochEnd(_run, rec) {
          if (where === 'epoch end' && rec.epoch === 2) throw boom;
        },
        // An async hook's rejection ends training too (4 steps an epoch: step 5 is the second epoch's second).
        async onBatchBegin(_run, b) {
          if (where === 'batch' && b.step === 5) throw boom;
        },
        onTrainEnd() {
          ended = true;
        },
      };
      await assert.rejects(
        train(tinyMlp(), data, { epochs: 3, batchSize: 16, checkpointDir: dir, callbacks: [failing] }),
        (e) => e === boom,
      );
      assert.equal(savedEpoch(dir), 1, where);
      assert.deepEqual(readdirSync(dir), ['checkpoint.bin'], where);
      assert.equal(ended, false);
    }
  });
});
