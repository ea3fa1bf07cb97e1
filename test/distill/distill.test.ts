// Knowledge distillation (distill/distill.ts, the trainer's `distill` loss): the loss's terms checked where
// their values are known, cached and on-the-fly teacher outputs agreeing, and `hone distill`'s bad input.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { firstSamples, mnist } from '../../src/data/index.js';
import { distill } from '../../src/distill/index.js';
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
    assert.deepEqual(weights(d.model), weights(alone.model));
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
