// The train objective of `hone tune`: its config, its default spaces, trials that train LeNet-5 on a few
// hundred MNIST digits for one or two epochs (pruned, failed and complete ones), and the CLI end to end.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HoneError } from '../../src/errors.js';
import { loadModel } from '../../src/ir/model.js';
import { graphInputs } from '../../src/runtime/inputs.js';
import { mnist } from '../../src/data/index.js';
import { train } from '../../src/train/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import { loadStudy } from '../../src/tune/study.js';
import { readTuneConfigFile, resolveTuneConfig, type TuneConfig, type TuneOverrides } from '../../src/cli/tune/config.js';
import { makePruner, makeSampler } from '../../src/cli/tune/factory.js';
import { makeObjective } from '../../src/cli/tune/objective.js';
import { checkTrainObjective, dominatedBy } from '../../src/cli/tune/train-objective.js';
import { defaultTrainSpace, trialModelPath, type TrainObjectiveSpec } from '../../src/cli/tune/train-spec.js';
import { writeBestModel } from '../../src/cli/tune/train-output.js';
import { runWorker } from '../../src/cli/tune/worker.js';
import { hone } from '../helpers/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-train-objective-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A config of the train objective, on 400 digits (320 to train, 80 to validate: every default batch size fits). */
function config(train: Record<string, unknown>, rest: Record<string, unknown> = {}, overrides: TuneOverrides = {}): TuneConfig {
  return resolveTuneConfig(
    {
      trials: 3,
      sampler: { name: 'random', seed: 1 },
      objective: { train: { model: 'zoo:lenet5', data: 'mnist', limit: 400, ...train } },
      ...rest,
    },
    overrides,
  );
}

function trainSpec(c: TuneConfig): TrainObjectiveSpec {
  assert.equal(c.objective.kind, 'train');
  return c.objective as TrainObjectiveSpec;
}

function badInputOf(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof HoneError && e.exitCode === 2 && message.test(e.message));
}

/** Runs a config's study in this process on memory storage (with `enqueue`d params first); returns its trials. */
async function runStudy(c: TuneConfig, enqueue: Record<string, number | string>[] = []) {
  const storage = new InMemoryStorage();
  const id = await storage.createStudy(c.study, c.directions);
  const study = await loadStudy({ name: c.study, storage, sampler: makeSampler(c.sampler, c.space), pruner: makePruner(c.pruner) });
  for (const p of enqueue) await study.enqueueTrial(p);
  await runWorker({ storage, config: c, objective: makeObjective(c), workerIndex: 0, deadline: Number.POSITIVE_INFINITY });
  return storage.getAllTrials(id);
}

describe('train objective: config', () => {
  it('reads objective: { train: … } and --objective train:MODEL with --data/--epochs/--metric/--limit', () => {
    const c = config({ epochs: 2, metric: 'accuracy' });
    const o = trainSpec(c);
    assert.deepEqual(
      { model: o.model, data: o.data, epochs: o.epochs, metrics: o.metrics, limit: o.limit, validation: o.validation, loss: o.loss },
      { model: 'zoo:lenet5', data: 'mnist', epochs: 2, metrics: ['accuracy'], limit: 400, validation: 0.2, loss: 'cross-entropy' },
    );
    assert.deepEqual(c.directions, ['maximize']);
    assert.equal(c.study, 'train-lenet5');
    assert.equal(o.modelsTemporary, true, 'memory storage: the models live in a temporary folder');

    const flags = resolveTuneConfig(undefined, {
      objective: 'train:zoo:mlp:hidden=64',
      data: 'mnist',
      epochs: 4,
      metric: 'loss,params',
      limit: 500,
      trials: 2,
      storage: `sqlite:${join(dir, 'runs.db')}`,
    });
    const f = trainSpec(flags);
    assert.deepEqual([f.model, f.epochs, f.limit, f.metrics], ['zoo:mlp:hidden=64', 4, 500, ['loss', 'params']]);
    assert.deepEqual(flags.directions, ['minimize', 'minimize']);
    assert.equal(f.models, join(dir, 'runs.models'), 'beside the SQLite file');
    assert.equal(trialModelPath(f, 'a b', 3), join(dir, 'runs.models', 'a_b', 'trial-3.onnx'));
    assert.equal(flags.space['model.hidden'], undefined, 'an option the model spec sets is not searched');
  });

  it('refuses bad input before any trial, naming what is wrong', () => {
    badInputOf(() => config({ metric: 'acc' }), /unknown metric "acc".*accuracy, loss, time, params/);
    badInputOf(() => config({ metric: ['accuracy', 'accuracy'] }), /names a metric twice/);
    badInputOf(() => config({ model: 'zoo:lenet' }), /unknown zoo model 'lenet'/);
    badInputOf(() => config({ data: 'cifar' }), /no dataset 'cifar'/);
    badInputOf(() => config({ data: undefined }), /needs data: add --data mnist/);
    badInputOf(() => config({ epoch: 2 }), /unknown key 'objective.train.epoch'/);
    badInputOf(() => config({ validation: 1 }), /validation .* between 0 and 1/);
    badInputOf(() => config({ loss: 'mse' }), /metric accuracy needs loss: cross-entropy/);
    badInputOf(() => config({}, { direction: 'minimize' }), /accuracy is maximized; .*direction: maximize/);
    badInputOf(
      () => config({ metric: ['accuracy', 'time'] }, { pruner: 'median' }),
      /pruner median cannot prune a study of several metrics/,
    );
    badInputOf(
      () => config({}, { space: { learning_rate: { type: 'float', low: 0.1, high: 1 } } }),
      /space.learning_rate .* not a parameter/,
    );
    badInputOf(() => config({}, { space: { 'model.width': { type: 'categorical', choices: [1] } } }), /has no option 'width'/);
    badInputOf(
      () => config({ model: 'zoo:lenet5:pool=avg' }, { space: { 'model.pool': { type: 'categorical', choices: ['max'] } } }),
      /fixes pool already/,
    );
    badInputOf(
      () => resolveTuneConfig(undefined, { objective: 'bench:branin', data: 'mnist', trials: 2 }),
      /--data is for a train objective/,
    );
    badInputOf(() => config({ prune_dominated: true }), /prune_dominated in .* needs metric accuracy and one of latency, macs, params/);
    badInputOf(() => config({ metric: ['accuracy', 'latency'], prune_dominated: 'yes' }), /prune_dominated in .* must be true or false/);
  });

  it('prune_dominated: stopped part-way when two complete architectures were no slower and more accurate at that epoch', () => {
    const done = (number: number, ms: number, accs: number[], state = 'complete') => ({
      number,
      state,
      userAttrs: { latency_ms: ms, epochs: accs.map((valAccuracy, epoch) => ({ epoch, valAccuracy })) },
    });
    const trial = (others: ReturnType<typeof done>[]) => ({ studyTrials: others }) as unknown as Parameters<typeof dominatedBy>[0];
    // After epoch 1 (index 0) at 0.9 accuracy and 1.0 ms.
    const rec = { epoch: 0, valAccuracy: 0.9 };
    assert.equal(
      dominatedBy(trial([done(0, 0.8, [0.95, 0.97])]), rec, 'latency', 1.0, 10_000),
      undefined,
      'one dominating architecture is not enough',
    );
    const why = dominatedBy(trial([done(0, 0.8, [0.95, 0.97]), done(1, 1.0, [0.91, 0.93])]), rec, 'latency', 1.0, 10_000);
    assert.match(why!, /pruned after epoch 1: validation accuracy 0\.9000 at 1\.00 ms, and 2 complete architectures \(trial 0, trial 1\)/);
    // Slower, or less accurate at that epoch (however good at the end), or not complete: none counts.
    const none = [done(2, 1.2, [0.99, 0.99]), done(3, 0.5, [0.85, 0.99]), done(4, 0.5, [0.95, 0.96], 'pruned'), done(5, 0.5, [])];
    assert.equal(dominatedBy(trial([done(0, 0.8, [0.95, 0.97]), ...none]), rec, 'latency', 1.0, 10_000), undefined);
    assert.equal(
      dominatedBy(trial([done(0, 0.8, [0.95]), done(1, 0.8, [0.95])]), { epoch: 0 }, 'latency', 1.0, 10_000),
      undefined,
      'no accuracy: no verdict',
    );
    // Another cost compares its own attribute: MACs counted before training.
    const byMacs = (number: number, macs: number, accs: number[]) => ({
      number,
      state: 'complete',
      userAttrs: { macs, latency_ms: 99, epochs: accs.map((valAccuracy, epoch) => ({ epoch, valAccuracy })) },
    });
    const two = [byMacs(0, 4e5, [0.95]), byMacs(1, 5e5, [0.92])];
    assert.match(dominatedBy(trial(two as never), rec, 'macs', 5e5, 10_000)!, /at 500000 MACs, .* were no more MACs and more accurate/);
    assert.equal(dominatedBy(trial(two as never), rec, 'macs', 4.5e5, 10_000), undefined, 'one of the two has more MACs');
    // A lead within the held-out set's standard error is noise: at 90% on 400 samples, sqrt(0.9·0.1/400) =
    // 1.5 points, so trial 1's 91% does not count, and with it there are not two.
    const pair = [done(0, 0.8, [0.95, 0.97]), done(1, 1.0, [0.91, 0.93])];
    assert.equal(dominatedBy(trial(pair), rec, 'latency', 1.0, 400), undefined);
    assert.match(
      dominatedBy(trial([...pair, done(2, 0.9, [0.93])]), rec, 'latency', 1.0, 400)!,
      /2 complete architectures \(trial 0, trial 2\) were no slower and more accurate by more than the validation's standard error \(1\.50 points\)/,
    );
  });

  it('has a default space per zoo model, which a config space adjusts name by name', () => {
    const lenet = defaultTrainSpace({ model: 'zoo:lenet5', loss: 'cross-entropy' });
    for (const p of [
      'optimizer',
      'lr',
      'batch_size',
      'momentum',
      'beta1',
      'beta2',
      'weight_decay',
      'schedule',
      'warmup',
      'label_smoothing',
    ])
      assert.ok(lenet[p], p);
    assert.deepEqual(
      Object.keys(lenet).filter((k) => k.startsWith('model.')),
      ['model.channels', 'model.fc', 'model.activation', 'model.pool'],
    );
    const model = (spec: string) =>
      Object.keys(defaultTrainSpace({ model: spec, loss: 'cross-entropy' }))
        .filter((k) => k.startsWith('model.'))
        .sort();
    assert.deepEqual(model('zoo:mlp'), ['model.activation', 'model.hidden']);
    assert.deepEqual(model('zoo:resnet:inputChannels=1,size=28'), ['model.blocks', 'model.widths']);
    assert.deepEqual(model('zoo:resnet:depth=20'), ['model.widths'], 'depth stands for blocks');
    assert.deepEqual(model('zoo:mobilenet'), ['model.expansion', 'model.widthMultiplier']);
    assert.deepEqual(model('zoo:transformer'), ['model.ffn', 'model.heads', 'model.layers']);
    assert.deepEqual(model('zoo:lenet5:channels=8-24,activation=tanh'), ['model.fc', 'model.pool']);
    assert.equal(defaultTrainSpace({ model: 'zoo:mlp', loss: 'mse' }).label_smoothing, undefined);
    // Every choice of every default model option builds.
    for (const [spec, opts] of [
      ['lenet5', lenet],
      ['mlp', defaultTrainSpace({ model: 'zoo:mlp', loss: 'cross-entropy' })],
    ] as const) {
      for (const [k, d] of Object.entries(opts).filter(([k]) => k.startsWith('model.'))) {
        assert.equal(d.type, 'categorical');
        for (const v of d.type === 'categorical' ? d.choices : []) zooModel(`${spec}:${k.slice(6)}=${String(v)}`);
      }
    }

    const c = config(
      {},
      {
        space: {
          lr: { type: 'float', low: 0.001, high: 0.01, log: true },
          nesterov: { type: 'categorical', choices: [true, false] },
          'model.fc': { type: 'categorical', choices: ['64'] },
        },
      },
    );
    assert.deepEqual(c.space.lr, { type: 'float', low: 0.001, high: 0.01, log: true });
    assert.deepEqual(c.space['model.fc'], { type: 'categorical', choices: ['64'] });
    assert.ok(c.space.nesterov);
    assert.deepEqual(c.space.optimizer, lenet.optimizer, 'the parameters it does not name keep their defaults');
  });

  it('examples/tune-train.yaml is a valid config, and runs (shortened by flags)', async () => {
    const path = join(ROOT, 'examples', 'tune-train.yaml');
    const c = resolveTuneConfig(readTuneConfigFile(path), {}, path);
    assert.equal(c.study, 'lenet5-mnist');
    assert.equal(c.pruner.name, 'successive-halving');
    assert.deepEqual(trainSpec(c).metrics, ['accuracy']);
    assert.deepEqual(c.space.batch_size, { type: 'categorical', choices: [32, 64, 128] });
    const r = await hone('tune', path, '--trials', '2', '--limit', '400', '--epochs', '1', '--json', '--quiet');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.states.complete + report.states.pruned, 2);
    assert.equal(report.history[0].params['model.pool'], 'max');
  });
});

describe('train objective: trials', () => {
  it("the trainer stops after an epoch whose onEpoch returns false (the pruner's stop)", async () => {
    const seen: number[] = [];
    const r = await train(zooModel('lenet5'), mnistSubset(128), {
      epochs: 3,
      batchSize: 32,
      onEpoch: (rec) => {
        seen.push(rec.epoch);
        return rec.epoch === 1 ? false : undefined;
      },
    });
    assert.deepEqual(seen, [1]);
    assert.equal(r.epochs, 1);
    assert.equal(r.stopped, 'callback');
  });

  it('runs a 3-trial study: validation accuracy per epoch reported, the last one returned, each model kept', async () => {
    const c = config({ epochs: 2 }, { space: { batch_size: { type: 'categorical', choices: [32, 64] } } });
    const trials = await runStudy(c);
    assert.deepEqual(
      trials.map((t) => t.state),
      ['complete', 'complete', 'complete'],
    );
    const models = new Set<string>();
    for (const t of trials) {
      const v = t.values![0]!;
      assert.ok(v >= 0 && v <= 1, `accuracy ${v}`);
      assert.deepEqual(Object.keys(t.intermediateValues).map(Number), [1, 2]);
      assert.equal(t.intermediateValues[2], v, "the result is the last epoch's validation accuracy");
      // 80 validation digits: accuracies are multiples of 1/80.
      assert.ok(Math.abs(v * 80 - Math.round(v * 80)) < 1e-9);
      const epochs = t.userAttrs.epochs as { epoch: number; valAccuracy: number }[];
      assert.deepEqual(
        epochs.map((e) => [e.epoch, e.valAccuracy]),
        [
          [1, t.intermediateValues[1]],
          [2, v],
        ],
      );
      const path = trialModelPath(trainSpec(c), c.study, t.number);
      assert.equal(t.systemAttrs.model_path, path);
      assert.ok(existsSync(path));
      // The model it kept is the one its sampled options describe.
      const spec = t.userAttrs.model as string;
      assert.match(spec, new RegExp(`channels=${t.params['model.channels']}`));
      const convWeight = loadModel(path).graph!.initializer.find((i) => i.dims.length === 4)!;
      assert.equal(Number(convWeight.dims[0]), Number(String(t.params['model.channels']).split('-')[0]));
      models.add(spec);
      // Conditional parameters: momentum only for sgd, betas only for adam/adamw.
      assert.equal('momentum' in t.params, t.params.optimizer === 'sgd');
      assert.equal('beta1' in t.params, t.params.optimizer !== 'sgd');
      assert.equal('warmup' in t.params, t.params.schedule !== 'onecycle');
    }
    assert.ok(models.size > 1, 'the trials sample model options');
  });

  it('a pruned trial stops training after the epoch the pruner rejects; the study goes on', async () => {
    // Successive halving with a bootstrap count it never reaches prunes every trial at its first rung.
    const c = config(
      { epochs: 3 },
      { trials: 2, pruner: { name: 'successive-halving', options: { minResource: 1, bootstrapCount: 100 } } },
    );
    const trials = await runStudy(c);
    assert.deepEqual(
      trials.map((t) => t.state),
      ['pruned', 'pruned'],
    );
    for (const t of trials) {
      assert.deepEqual(Object.keys(t.intermediateValues), ['1'], 'one epoch of three');
      assert.equal((t.userAttrs.epochs as unknown[]).length, 1);
      assert.equal(t.systemAttrs.model_path, undefined, 'no model is kept for a pruned trial');
    }
  });

  it('a batch larger than the data fails that trial with the reason; the next trial runs', async () => {
    const c = config({ epochs: 1 }, { trials: 2, space: { batch_size: { type: 'categorical', choices: [32, 4096] } } });
    const trials = await runStudy(c, [{ batch_size: 4096 }, { batch_size: 32 }]);
    assert.deepEqual(
      trials.map((t) => [t.params.batch_size, t.state]),
      [
        [4096, 'fail'],
        [32, 'complete'],
      ],
    );
    assert.match(String(trials[0]!.systemAttrs.fail_reason), /batch_size 4096 is larger than the 320 training samples/);
  });

  it('several metrics: [accuracy, params] values, no intermediate values', async () => {
    const c = config({ epochs: 1, metric: ['accuracy', 'params'] }, { trials: 2 });
    assert.deepEqual(c.directions, ['maximize', 'minimize']);
    const trials = await runStudy(c);
    for (const t of trials) {
      assert.equal(t.state, 'complete');
      const [acc, params] = t.values!;
      assert.ok(acc! >= 0 && acc! <= 1);
      const model = loadModel(String(t.systemAttrs.model_path));
      const count = model.graph!.initializer.reduce((s, i) => s + i.dims.reduce((a, d) => a * Number(d), 1), 0);
      assert.equal(params, count);
      assert.deepEqual(t.intermediateValues, {});
    }
  });
});

describe('train objective: costs counted before training', () => {
  // LeNet-5's multiply-accumulates at batch 1 by hand: conv1 (28×28 outputs, 5×5×1 each), conv2 (10×10,
  // 5×5×c1), then the fully connected layers 25·c2→120→84→10.
  const lenetMacs = (c1: number, c2: number) => 28 * 28 * c1 * 25 + 10 * 10 * c2 * c1 * 25 + 25 * c2 * 120 + 120 * 84 + 84 * 10;
  const channels = { 'model.channels': { type: 'categorical', choices: ['4-8', '12-32'] } };

  it('macs is the count at batch 1, and max_macs and max_params skip an architecture untrained, with the reason', async () => {
    const c = config(
      { model: 'zoo:lenet5:fc=120-84', epochs: 1, metric: ['accuracy', 'macs'], max_macs: lenetMacs(6, 16) },
      { trials: 2, space: { batch_size: { type: 'categorical', choices: [32] }, ...channels } },
    );
    assert.deepEqual(c.directions, ['maximize', 'minimize']);
    const [small, big] = await runStudy(c, [{ 'model.channels': '4-8' }, { 'model.channels': '12-32' }]);
    assert.equal(small!.state, 'complete', String(small!.systemAttrs.fail_reason));
    assert.equal(small!.values![1], lenetMacs(4, 8));
    assert.equal(small!.userAttrs.macs, lenetMacs(4, 8));
    assert.equal(big!.state, 'pruned');
    assert.equal(big!.userAttrs.skipped, `not trained: ${lenetMacs(12, 32)} MACs per inference, over max_macs ${lenetMacs(6, 16)}`);
    assert.equal(big!.userAttrs.epochs, undefined, 'not trained at all');
    // The limit is also the study's constraint, (MACs − limit) / limit: met by one, not by the other, so
    // samplers that take constraints search within it.
    const max = lenetMacs(6, 16);
    assert.deepEqual(small!.systemAttrs.constraints, [(lenetMacs(4, 8) - max) / max]);
    assert.deepEqual(big!.systemAttrs.constraints, [(lenetMacs(12, 32) - max) / max]);

    const p = config({ model: 'zoo:lenet5:fc=120-84', epochs: 1, metric: 'accuracy', max_params: 20000 }, { trials: 1, space: channels });
    const [one] = await runStudy(p, [{ 'model.channels': '12-32' }]);
    assert.equal(one!.state, 'pruned');
    assert.match(String(one!.userAttrs.skipped), /^not trained: \d+ parameters, over max_params 20000$/);
  });

  it('a limit larger than the data is a note before the first trial, not silence', async () => {
    assert.deepEqual(await checkTrainObjective(trainSpec(config({ limit: 12000 }))), [
      'limit 12000 is more than the 8000 samples of mnist; every trial trains on all 8000',
    ]);
    assert.deepEqual(await checkTrainObjective(trainSpec(config({ limit: 400 }))), []);
  });

  it('refuses limits that are not positive integers', () => {
    badInputOf(() => config({ max_macs: 0 }), /max_macs in .* must be an integer ≥ 1, got 0/);
    badInputOf(() => config({ max_params: 1.5 }), /max_params in .* must be an integer ≥ 1, got 1.5/);
  });
});

describe('train objective: the time metric', () => {
  it("is the trainer's own training time, the epochs' step loops, not the setup around them", async () => {
    const c = config({ epochs: 2, metric: ['time', 'accuracy'] }, { trials: 1 });
    assert.deepEqual(c.directions, ['minimize', 'maximize']);
    const [t] = await runStudy(c);
    assert.equal(t!.state, 'complete', String(t!.systemAttrs.fail_reason));
    const [time] = t!.values!;
    const epochs = t!.userAttrs.epochs as { epoch: number; seconds: number }[];
    assert.deepEqual(
      epochs.map((e) => e.epoch),
      [1, 2],
    );
    // Each epoch's seconds as the trainer measured them (train() → history), summed: building the model,
    // its training graph and ORT session, validating and exporting the model are not in it.
    assert.ok(epochs.every((e) => e.seconds > 0));
    assert.equal(
      time,
      epochs.reduce((sum, e) => sum + e.seconds, 0),
    );
    assert.equal(t!.userAttrs.train_seconds, time);
  });
});

describe('hone tune --objective train:…', () => {
  const base = ['tune', '--objective', 'train:zoo:lenet5', '--data', 'mnist', '--limit', '400', '--epochs', '1', '--seed', '1'];

  it('-o writes the best trial’s model, which loads and runs on a digit; an existing -o needs --force', async () => {
    const out = join(dir, 'best.onnx');
    const r = await hone(...base, '--trials', '2', '--sampler', 'random', '-o', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.states.complete, 2);
    assert.deepEqual(report.model, { path: out, trial: report.bestTrial, values: [report.bestValue] });
    // One progress line per trial on stderr.
    assert.equal(r.stderr.match(/^… tune train-lenet5: trial \d complete: /gm)?.length, 2, r.stderr);
    const inputs = graphInputs(loadModel(out));
    assert.deepEqual(
      inputs.map((i) => [i.name, i.shape]),
      [['input', ['batch', 1, 28, 28]]],
    );
    const session = await ort.InferenceSession.create(out);
    const digit = mnist().test.features.input!.data.slice(0, 784) as Float32Array;
    const logits = (await session.run({ input: new ort.Tensor('float32', digit, [1, 1, 28, 28]) })).logits!;
    assert.deepEqual(logits.dims, [1, 10]);

    const again = await hone(...base, '--trials', '2', '-o', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^hone: .*best\.onnx exists; pass --force/);
    assert.doesNotMatch(again.stderr, /trial/, 'refused before any trial');
  });

  it('a metric that does not exist, or a model that does not fit the data: exit 2 before the first trial', async () => {
    const bad = await hone(...base, '--trials', '2', '--metric', 'f1');
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /^hone: unknown metric "f1"/);
    const misfit = await hone('tune', '--objective', 'train:zoo:mlp:inputSize=100', '--data', 'mnist', '--limit', '300', '--trials', '2');
    assert.equal(misfit.code, 2);
    assert.match(misfit.stderr, /^hone: the train objective cannot train zoo:mlp:inputSize=100 on mnist: /);
    assert.doesNotMatch(misfit.stderr, /trial 0/);
  });

  it('runs as --workers 2 processes on SQLite; the trial models sit beside the database', async () => {
    const db = join(dir, 'workers.db');
    const out = join(dir, 'workers-best.onnx');
    const r = await hone(...base, '--trials', '2', '--storage', `sqlite:${db}`, '--workers', '2', '-o', out, '--json', '--quiet');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.states.complete, 2);
    assert.deepEqual(readdirSync(join(dir, 'workers.models', 'train-lenet5')).sort(), ['trial-0.onnx', 'trial-1.onnx']);
    assert.equal(report.model.trial, report.bestTrial);
    assert.ok(existsSync(out));
    // A model another machine wrote (its folder not shared) is not here: the error names where it is.
    rmSync(join(dir, 'workers.models'), { recursive: true });
    const c = resolveTuneConfig(undefined, { objective: 'train:zoo:lenet5', data: 'mnist', trials: 2, storage: `sqlite:${db}` });
    await assert.rejects(
      writeBestModel(c, report, join(dir, 'elsewhere.onnx')),
      (e: unknown) =>
        e instanceof HoneError &&
        e.exitCode === 1 &&
        e.message.includes(`on ${hostname()}, at ${join(dir, 'workers.models', 'train-lenet5', `trial-${report.bestTrial}.onnx`)}`),
    );
    assert.ok(!existsSync(join(dir, 'elsewhere.onnx')));
  });

  it('-o with no complete trial says so (exit 1); -o needs a train objective', async () => {
    const cfg = join(dir, 'all-pruned.yaml');
    writeFileSync(
      cfg,
      [
        'trials: 1',
        'sampler: { name: random, seed: 1 }',
        'pruner: { name: successive-halving, options: { minResource: 1, bootstrapCount: 100 } }',
        'objective: { train: { model: zoo:lenet5, data: mnist, epochs: 2, limit: 400 } }',
      ].join('\n'),
    );
    const r = await hone('tune', cfg, '-o', join(dir, 'none.onnx'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /trial 0 pruned/);
    assert.match(r.stderr, /^hone: no trial completed, so there is no trained model to write/m);
    assert.ok(!existsSync(join(dir, 'none.onnx')));
    const bench = await hone('tune', '--objective', 'bench:branin', '--trials', '2', '-o', join(dir, 'b.onnx'));
    assert.equal(bench.code, 2);
    assert.match(bench.stderr, /only a train objective has/);
  });
});

function mnistSubset(n: number) {
  const d = mnist().train;
  return {
    features: { input: { data: d.features.input!.data.slice(0, n * 784), dims: [n, 1, 28, 28] } },
    labels: { data: d.labels.data.slice(0, n), dims: [n] },
    size: n,
  };
}
