// Knowledge distillation (distill/distill.ts, the trainer's `distill` loss): the loss's terms checked where
// their values are known, cached and on-the-fly teacher outputs agreeing, and `hone distill`'s bad input.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firstSamples, mnist } from '../../src/data/index.js';
import * as ort from 'onnxruntime-node';
import { valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { distill, FEATURE_LOSS, withFeatureLoss, withoutFeatureLoss } from '../../src/distill/index.js';
import { createSession, mulberry32 } from '../../src/runtime/index.js';
import { saveModel } from '../../src/ir/model.js';
import { tensorArray } from '../../src/ir/tensor.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { train } from '../../src/train/index.js';
import { lenet5, mlp } from '../../src/zoo/index.js';
import { hone } from '../helpers/cli.js';

const data = () => firstSamples(mnist().train, 256);
const weights = (m: ModelProto) => m.graph!.initializer.map((t) => Array.from(tensorArray(t) as Float32Array));

describe('distillation (distill/distill.ts)', () => {
  it('with α = 0 trains exactly as cross-entropy alone', async () => {
    const settings = { epochs: 1, batchSize: 32, seed: 3 };
    const d = await distill(lenet5(), mlp({ hidden: [16] }), data(), { alpha: 0, train: settings, baseline: true, test: mnist().test });
    assert.equal(d.report.student.accuracy, d.report.baseline!.accuracy);
    const alone = await train(mlp({ hidden: [16] }), data(), settings);
    // Not bit for bit: the distill step adds its teacher term (zero at α = 0) into the logits' gradient,
    // and from the second step the output bias, summed by a MatMul with ones, differs in the last bit
    // (1.5e-8 after this epoch; each step graph alone repeats itself exactly). A teacher term leaking in
    // would move the weights by far more.
    const [a, b] = [weights(d.model).flat(), weights(alone.model).flat()];
    assert.equal(a.length, b.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    assert.ok(diff < 1e-6, `max weight difference ${diff}`);
  });

  it('a student identical to its teacher has no teacher term: the loss is (1 − α)·CE', async () => {
    const teacher = lenet5();
    const frozen = { epochs: 1, batchSize: 32, lr: 1e-12, seed: 1, maxStepsPerEpoch: 4 }; // weights all but fixed
    const ce = await train(teacher, data(), frozen);
    for (const alpha of [1, 0.5]) {
      const d = await distill(teacher, lenet5(), data(), { alpha, temperature: 3, train: frozen });
      const loss = d.report.student.history[0]!.trainLoss;
      assert.ok(Math.abs(loss - (1 - alpha) * ce.history[0]!.trainLoss) < 1e-4, `α=${alpha}: ${loss}`);
    }
  });

  it('teacher outputs cached or computed before each run train the same student', async () => {
    const settings = { epochs: 1, batchSize: 32, seed: 5 };
    const runs = await Promise.all(
      (['cache', 'fly'] as const).map((teacherOutputs) =>
        distill(lenet5(), mlp({ hidden: [16] }), data(), { teacherOutputs, train: settings }),
      ),
    );
    assert.equal(runs[0]!.report.teacherOutputs, 'cache');
    assert.equal(runs[1]!.report.teacherOutputs, 'fly');
    const [a, b] = runs.map((r) => weights(r.model).flat());
    let diff = 0;
    for (let i = 0; i < a!.length; i++) diff = Math.max(diff, Math.abs(a![i]! - b![i]!));
    assert.ok(diff < 1e-4, `max weight difference ${diff}`);
  });
});

describe('feature matching (distill/features.ts)', () => {
  it('adds β·mean((W·s − t)²) through a 1×1 projection, and removing it gives back the student', async () => {
    const student = lenet5({ channels: [4, 8], fc: [32] });
    const { model, inputs } = withFeatureLoss(student, [{ teacher: 'pool1_out', student: 'pool1_out' }], [[6, 14, 14]], 0.5, 3);
    assert.deepEqual(inputs, ['hone_feature_t0']);
    const r = mulberry32(9);
    const x = Float32Array.from({ length: 2 * 784 }, () => r());
    const t = Float32Array.from({ length: 2 * 6 * 196 }, () => r() - 0.5);
    const s = await createSession({
      ...model,
      graph: { ...model.graph!, output: [...model.graph!.output, valueInfo('pool1_out', DataType.FLOAT)] },
    });
    const out = await s.run(
      { input: new ort.Tensor('float32', x, [2, 1, 28, 28]), hone_feature_t0: new ort.Tensor('float32', t, [2, 6, 14, 14]) },
      ['pool1_out', FEATURE_LOSS],
    );
    await s.release();
    const feat = out.pool1_out!.data as Float32Array; // [2, 4, 14, 14]
    const w = tensorArray(model.graph!.initializer.find((i) => i.name === 'hone_feature_w0')!) as Float32Array; // [6, 4, 1, 1]
    let sum = 0;
    for (let n = 0; n < 2; n++)
      for (let o = 0; o < 6; o++)
        for (let p = 0; p < 196; p++) {
          let v = 0;
          for (let c = 0; c < 4; c++) v += w[o * 4 + c]! * feat[(n * 4 + c) * 196 + p]!;
          sum += (v - t[(n * 6 + o) * 196 + p]!) ** 2;
        }
    const expected = (0.5 * sum) / (2 * 6 * 196);
    const got = (out[FEATURE_LOSS]!.data as Float32Array)[0]!;
    assert.ok(Math.abs(got - expected) < 1e-5 * expected, `${got} vs ${expected}`);
    const back = withoutFeatureLoss(model, inputs);
    assert.deepEqual(
      back.graph!.node.map((n) => n.name),
      student.graph!.node.map((n) => n.name),
    );
    assert.deepEqual(back.graph!.initializer.map((i) => i.name).sort(), student.graph!.initializer.map((i) => i.name).sort());
    assert.deepEqual(
      back.graph!.input.map((i) => i.name),
      student.graph!.input.map((i) => i.name),
    );
  });

  it('distills with a feature term and writes the plain student', async () => {
    const teacher = (await train(lenet5(), data(), { epochs: 1, batchSize: 64 })).model;
    const student = lenet5({ channels: [4, 8], fc: [32] });
    const d = await distill(teacher, student, data(), {
      features: [{ teacher: 'pool2_out', student: 'pool2_out' }],
      train: { epochs: 1, batchSize: 64 },
      test: firstSamples(mnist().test, 200),
    });
    assert.deepEqual(d.report.features, { pairs: [{ teacher: 'pool2_out', student: 'pool2_out' }], weight: 0.1 });
    assert.ok(!d.model.graph!.initializer.some((t) => t.name!.startsWith('hone_feature')));
    assert.deepEqual(
      d.model.graph!.output.map((o) => o.name),
      student.graph!.output.map((o) => o.name),
    );
    assert.ok(d.report.student.accuracy! > 0);
    await assert.rejects(
      distill(teacher, student, data(), {
        features: [{ teacher: 'pool1_out', student: 'pool2_out' }],
        train: { epochs: 1, batchSize: 64 },
      }),
      /needs the same rank and spatial size/,
    );
    await assert.rejects(
      distill(teacher, student, data(), { features: [{ teacher: 'nope', student: 'pool2_out' }], train: { epochs: 1, batchSize: 64 } }),
      /the teacher has no value 'nope'/,
    );
  });
});

describe('hone distill', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hone-distill-'));
    saveModel(lenet5(), join(dir, 'teacher.onnx'));
    saveModel(mlp({ hidden: [16], classes: 5 }), join(dir, 'five.onnx'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('distills and reports both accuracies', async () => {
    const out = join(dir, 's.onnx');
    const r = await hone(
      'distill',
      '--teacher',
      join(dir, 'teacher.onnx'),
      '--student',
      'zoo:mlp:hidden=16',
      '--data',
      'mnist',
      '--limit',
      '256',
      '-o',
      out,
      '--json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.teacher.params, 61706);
    assert.ok(rep.student.accuracy > 0 && rep.teacher.accuracy > 0);
    assert.ok(existsSync(out));
  });

  for (const [why, args, message] of [
    ['no teacher', ['--student', 'zoo:mlp', '--data', 'mnist'], /needs --teacher/],
    ['classes that differ', ['--teacher', 'TEACHER', '--student', 'FIVE', '--data', 'mnist'], /10 outputs per sample and the student 5/],
    [
      'an alpha above 1',
      ['--teacher', 'TEACHER', '--student', 'zoo:mlp', '--data', 'mnist', '--alpha', '1.5'],
      /--alpha must be in \[0, 1\]/,
    ],
    ['a loss', ['--teacher', 'TEACHER', '--student', 'zoo:mlp', '--data', 'mnist', '--loss', 'mse'], /sets its own loss/],
    [
      'a feature weight without features',
      ['--teacher', 'TEACHER', '--student', 'zoo:mlp', '--data', 'mnist', '--feature-weight', '2'],
      /--feature-weight weighs feature matching; add --features/,
    ],
    [
      'a malformed feature pair',
      ['--teacher', 'TEACHER', '--student', 'zoo:mlp', '--data', 'mnist', '--features', 'a'],
      /TEACHER_VALUE:STUDENT_VALUE/,
    ],
  ] as const) {
    it(`refuses ${why} with one line and writes nothing`, async () => {
      const out = join(dir, 'bad.onnx');
      const argv = args.map((a) => (a === 'TEACHER' ? join(dir, 'teacher.onnx') : a === 'FIVE' ? join(dir, 'five.onnx') : a));
      const r = await hone('distill', ...argv, '-o', out);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^hone: /);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.ok(!existsSync(out));
    });
  }
});
