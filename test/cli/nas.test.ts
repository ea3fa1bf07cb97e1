// hone nas: a small search end to end (trained architectures, measured latency, the front, the chosen
// model within the budget), a budget nothing meets, bad input refused before any training, and the
// choice rule on hand-made reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAS_SPACES, nasResult, parseMs, referenceParams, resolveSpace, type Architecture } from '../../src/cli/commands/nas.js';
import { loadModel } from '../../src/ir/model.js';
import type { StudyReport } from '../../src/tune/report.js';
import { hone } from '../helpers/cli.js';
import { openStorage } from '../../src/tune/storage/open.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-nas-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a search over MLPs: every architecture trained and timed, the front, the most accurate within the budget written', async () => {
  const out = join(dir, 'mlp');
  const r = await hone(
    'nas',
    '--space',
    'mlp',
    '--data',
    'mnist',
    '--trials',
    '4',
    '--epochs',
    '1',
    '--limit',
    '800',
    '--provider',
    'cpu',
    '-o',
    out,
    '--json',
    '--quiet',
  );
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as {
    chosen: Architecture;
    reference: Architecture;
    front: number[];
    latencyModel: { architectures: number; looMapePercent: number; coef: number[] };
  };
  const archs = JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as Architecture[];
  assert.equal(archs.length, 4);
  for (const a of archs) {
    assert.ok(a.accuracy > 0 && a.accuracy <= 1, `accuracy ${a.accuracy}`);
    assert.ok(a.latencyMs! > 0 && a.latencyMs! < 1000, `latency ${a.latencyMs}`);
    assert.equal(a.cost, a.latencyMs);
    assert.match(a.model, /^zoo:mlp:hidden=[\d-]+,activation=\w+$/);
    // MACs and parameters counted from the graph: 784 → h1 → h2 → 10, weights and biases.
    const [h1, h2] = String(a.options.hidden).split('-').map(Number) as [number, number];
    assert.equal(a.macs, 784 * h1 + h1 * h2 + h2 * 10, a.model);
    // GELU's exact form adds its three scalar constants (√2, 1, 0.5) to the weights counted.
    const constants = a.options.activation === 'gelu' ? 3 : 0;
    assert.equal(a.parameters, 785 * h1 + (h1 + 1) * h2 + (h2 + 1) * 10 + constants, a.model);
  }
  // The front: no architecture beats a front member on both objectives.
  for (const n of res.front) {
    const f = archs.find((a) => a.number === n)!;
    assert.ok(!archs.some((a) => a.accuracy > f.accuracy && a.latencyMs! < f.latencyMs!), `trial ${n} is dominated`);
  }
  // The reference (zoo:mlp's defaults) is trained first and reported, measured in the same run.
  assert.equal(res.reference.number, 0);
  assert.equal(res.reference.model, 'zoo:mlp:hidden=512-256,activation=relu');
  const best = Math.max(...archs.map((a) => a.accuracy));
  assert.equal(res.chosen.accuracy, best, 'no budget: the most accurate');
  // The model written is the chosen architecture, trained: as many Gemms as hidden layers + 1.
  const model = loadModel(join(out, 'model.onnx'));
  const hidden = String(res.chosen.options.hidden).split('-').length;
  assert.equal(model.graph!.node.filter((n) => n.opType === 'Gemm').length, hidden + 1);
  for (const f of ['report.html', 'report.json']) assert.ok(existsSync(join(out, f)), f);
  // The latency model fitted to the four measured architectures, with its leave-one-out error.
  assert.equal(res.latencyModel.architectures, 4);
  assert.ok(Number.isFinite(res.latencyModel.looMapePercent) && res.latencyModel.looMapePercent >= 0);
  assert.ok(res.latencyModel.coef.every((c) => c >= 0));
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /data-chart="pareto"/);
});

test('a latency budget nothing meets: says so, names the fastest, writes the evidence but no model (exit 1)', async () => {
  const out = join(dir, 'tight');
  const r = await hone(
    'nas',
    '--space',
    'cnn',
    '--data',
    'mnist',
    '--trials',
    '9',
    '--epochs',
    '1',
    '--limit',
    '300',
    '--latency-budget',
    '1us',
    '-o',
    out,
    '--quiet',
  );
  assert.equal(r.code, 1, r.stderr);
  // After six measured, the latency model predicts the rest far over 1 us: they are not trained.
  const skipped = Number(/, (\d+) not trained to the end \(over a limit, predicted over the latency budget/.exec(r.stdout)?.[1] ?? 0);
  assert.equal(skipped, 3, r.stdout);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { study: { history: { state: string }[] } };
  assert.equal(report.study.history.filter((h) => h.state === 'pruned').length, 3);
  assert.match(
    r.stdout,
    /hone: no architecture met --latency-budget 0\.001 ms; the fastest found was trial \d+ \(zoo:lenet5:[^)]+\) at [\d.e-]+ ms, accuracy [\d.]+: relax --latency-budget, or search a smaller space/,
  );
  assert.ok(!existsSync(join(out, 'model.onnx')));
  assert.equal((JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as unknown[]).length, 6);
});

test('--confirm: the most accurate within the budget and the reference trained again with other seeds and re-timed; the best mean is written', async () => {
  const out = join(dir, 'confirm');
  const r = await hone(
    'nas',
    '--space',
    'cnn',
    '--data',
    'mnist',
    '--trials',
    '5',
    '--epochs',
    '1',
    '--limit',
    '600',
    '--latency-budget',
    '10x',
    '--confirm',
    '2',
    '--confirm-seeds',
    '2',
    '--storage',
    `sqlite:${join(dir, 'confirm.db')}`,
    '--study',
    'c',
    '-o',
    out,
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as {
    chosen: Architecture;
    reference: Architecture;
    confirmation: { seeds: number[]; architectures: number[]; rounds: number };
  };
  assert.deepEqual(res.confirmation.seeds, [1, 2]);
  assert.equal(res.confirmation.rounds, 7);
  const archs = JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as Architecture[];
  // The cnn space does not search the activation: every architecture is LeNet-5's ReLU.
  for (const a of archs) assert.equal(a.options.activation, 'relu', a.model);
  // The two most accurate by the search (the budget holds every one), and the reference.
  const top = [...archs].sort((a, b) => b.accuracy - a.accuracy || a.cost - b.cost).slice(0, 2);
  const expected = new Set([...top.map((a) => a.number), res.reference.number]);
  assert.deepEqual(new Set(res.confirmation.architectures), expected);
  for (const a of archs) {
    if (!expected.has(a.number)) {
      assert.equal(a.confirmed, undefined);
      continue;
    }
    const c = a.confirmed!;
    assert.equal(c.accuracies.length, 3, a.model);
    assert.equal(c.accuracies[0], a.accuracy, "the search's own run comes first");
    assert.ok(Math.abs(c.meanAccuracy - (c.accuracies[0]! + c.accuracies[1]! + c.accuracies[2]!) / 3) < 1e-12);
    assert.ok(c.latencyMs! > 0 && c.latencyMs! < 1000);
    if (a.number === res.reference.number) assert.equal(c.latencyVsReference, 1);
    else assert.ok(c.latencyVsReference! > 0);
  }
  // The answer: the best mean of those confirmed (all within 1 s), not the search's best single run.
  const best = Math.max(...archs.filter((a) => a.confirmed).map((a) => a.confirmed!.meanAccuracy));
  assert.equal(res.chosen.confirmed!.meanAccuracy, best);
  // The extra runs are studies of their own beside the search's, one per seed, every candidate trained once.
  const storage = await openStorage(`sqlite:${join(dir, 'confirm.db')}`);
  try {
    for (const seed of [1, 2]) {
      const id = (await storage.getStudyId(`c.confirm-${seed}`))!;
      assert.ok(id !== undefined, `study c.confirm-${seed}`);
      const done = await storage.getAllTrials(id, ['complete']);
      assert.equal(done.length, expected.size);
      for (const t of done) {
        const a = archs.find((x) => Object.entries(x.options).every(([k, v]) => t.params[`model.${k}`] === v))!;
        assert.equal(t.values![0], a.confirmed!.accuracies[seed], `${a.model}, seed ${seed}`);
      }
    }
  } finally {
    await storage.close();
  }
  // The model written is the chosen architecture's (its conv channels), trained in the search.
  const model = loadModel(join(out, 'model.onnx'));
  const conv = model.graph!.node.find((n) => n.opType === 'Conv')!;
  const w = model.graph!.initializer.find((t) => t.name === conv.input[1])!;
  assert.equal(Number(w.dims[0]), Number(String(res.chosen.options.channels).split('-')[0]));
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    confirmation: unknown;
    latencyBudgetMs: number;
    latencyBudgetRelative: { factor: number; referenceMs: number; budgetMs: number };
  };
  assert.deepEqual(report.confirmation, res.confirmation);
  // 10x LeNet-5's latency, timed before the search: every architecture is within it.
  const rel = report.latencyBudgetRelative;
  assert.equal(rel.factor, 10);
  assert.ok(rel.referenceMs > 0 && Math.abs(rel.budgetMs - 10 * rel.referenceMs) < 1e-12);
  assert.equal(report.latencyBudgetMs, rel.budgetMs);
  assert.match(r.stderr, /--latency-budget 10x: the reference \(zoo:lenet5:[^)]+\) times [\d.]+ ms here \(median of 5\), so the budget is/);
});

test('--cost macs: MACs counted, nothing timed; --max-macs skips architectures over it untrained', async () => {
  const out = join(dir, 'macs');
  const r = await hone(
    'nas',
    ...['--space', 'cnn', '--data', 'mnist', '--trials', '6', '--epochs', '1', '--limit', '300'],
    ...['--cost', 'macs', '--max-macs', '600k', '-o', out, '--json', '--quiet'],
  );
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { chosen: Architecture; front: number[]; latencyModel: unknown };
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    cost: string;
    maxMacs: number;
    study: { directions: string[]; history: { number: number; state: string; pruneReason?: string }[] };
  };
  assert.deepEqual([report.cost, report.maxMacs, report.study.directions], ['macs', 600_000, ['maximize', 'minimize']]);
  const archs = JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as Architecture[];
  // LeNet-5, the reference, is enqueued first: 416,520 MACs, under the limit. The sampler's wider ones
  // (this seed draws 16-48 and 8-24 channels) are over it and never trained.
  assert.equal(archs[0]!.number, 0);
  assert.equal(archs[0]!.macs, 416_520);
  const pruned = report.study.history.filter((h) => h.state === 'pruned').length;
  assert.ok(pruned >= 1, 'some architecture was over the limit');
  for (const h of report.study.history.filter((x) => x.state === 'pruned'))
    assert.match(h.pruneReason!, /^not trained: \d+ MACs per inference, over max_macs 600000$/);
  assert.equal(archs.length + pruned, 6);
  for (const a of archs) {
    assert.equal(a.latencyMs, null, 'nothing timed');
    assert.equal(a.cost, a.macs);
    assert.ok(a.macs! <= 600_000 && a.withinBudget, JSON.stringify(a));
    assert.ok(a.parameters! > 0);
  }
  const front = res.front.map((n) => archs.find((a) => a.number === n)!);
  assert.deepEqual(
    front.map((a) => a.macs),
    front.map((a) => a.macs).sort((x, y) => x! - y!),
    'the front cheapest first',
  );
  assert.equal(res.chosen.accuracy, Math.max(...archs.map((a) => a.accuracy)));
  assert.equal(res.latencyModel, null, 'no latency measured, no latency model');
  assert.ok(existsSync(join(out, 'model.onnx')));
  const text = await hone(
    'nas',
    ...['--space', 'cnn', '--data', 'mnist', '--trials', '2', '--epochs', '1', '--limit', '300'],
    ...['--cost', 'params', '-o', join(dir, 'params'), '--quiet'],
  );
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /on the Pareto front \(accuracy against parameters\)/);
  assert.match(text.stdout, /reference \(the zoo defaults, same run\): trial 0, accuracy [\d.]+%, 417 K MACs, 61\.7 K params/);
});

test('a space module: its architectures trained in worker processes, named code:PATH:…, its reference first', async () => {
  const space = join(dir, 'space.mjs');
  writeFileSync(
    space,
    [
      "export const space = { hidden: ['32', '64-32'], act: ['relu', 'tanh'] };",
      "export const reference = { hidden: '64-32', act: 'relu' };",
      "export function model(o, { zoo }) { return zoo('mlp:hidden=' + o.hidden + ',activation=' + o.act); }",
    ].join('\n'),
  );
  const out = join(dir, 'module');
  const r = await hone(
    'nas',
    ...['--space', space, '--data', 'mnist', '--trials', '3', '--epochs', '1', '--limit', '300'],
    ...['--workers', '2', '--storage', `sqlite:${join(dir, 'module.db')}`, '-o', out, '--json', '--quiet'],
  );
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { chosen: Architecture; reference: Architecture };
  assert.equal(res.reference.number, 0);
  assert.equal(res.reference.model, `code:${space}:hidden=64-32,act=relu`);
  const archs = JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as Architecture[];
  assert.equal(archs.length, 3);
  for (const a of archs) {
    assert.match(a.model, new RegExp(`^code:${space.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:hidden=(32|64-32),act=(relu|tanh)$`));
    // Counted for a module's architectures as for the zoo's: 784 → hidden… → 10.
    const widths = [784, ...String(a.options.hidden).split('-').map(Number), 10];
    assert.equal(
      a.macs,
      widths.slice(1).reduce((sum, w, i) => sum + widths[i]! * w, 0),
      a.model,
    );
  }
  // The model written is the chosen architecture: as many Gemms as its hidden layers + 1.
  const hidden = String(res.chosen.options.hidden).split('-').length;
  assert.equal(loadModel(join(out, 'model.onnx')).graph!.node.filter((n) => n.opType === 'Gemm').length, hidden + 1);

  const shared = await hone('nas', '--space', space, '--data', 'mnist', '--weight-sharing', '-o', join(dir, 'module-ws'));
  assert.equal(shared.code, 2);
  assert.match(shared.stderr, /--weight-sharing masks the channels of the zoo's builders; a space module .* drop --weight-sharing/);
});

test('bad input is refused in one line before any training', async () => {
  const unknown = join(dir, 'unknown-option.yaml');
  writeFileSync(unknown, 'model: zoo:lenet5\nspace:\n  model.nosuch: { type: categorical, choices: [1, 2] }\n');
  const cases: [string[], RegExp][] = [
    [
      ['--space', unknown, '--data', 'mnist', '-o', join(dir, 'x')],
      /space\.model\.nosuch in --space .*unknown-option\.yaml and the command line: zoo:lenet5 has no option 'nosuch'/,
    ],
    [
      ['--space', 'nope', '--data', 'mnist', '-o', join(dir, 'x')],
      /--space nope: not a built-in space \(mlp, cnn, resnet, mobilenet, transformer\)/,
    ],
    [['--data', 'mnist', '-o', join(dir, 'x')], /nas needs --space/],
    [['--space', 'mlp', '-o', join(dir, 'x')], /nas needs --data/],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--latency-budget', 'fast'],
      /--latency-budget must be a time such as 0\.5/,
    ],
    [['--space', 'mlp', '--data', 'nothing.npz', '-o', join(dir, 'x')], /no dataset 'nothing\.npz'/],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'no', 'such', 'x')], /its folder .* does not exist/],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--provider', 'nope'], /provider 'nope' is not supported/],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--cost', 'time'], /--cost is one of latency, macs, params, got 'time'/],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--cost', 'macs', '--latency-budget', '1'],
      /--latency-budget needs latency measured: drop --cost macs, or bound it with --max-macs\/--max-params/,
    ],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--max-macs', 'lots'],
      /--max-macs must be a count such as 60000, 500k or 2M/,
    ],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--max-params', '0'], /--max-params must be a count/],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--sampler', 'gp'],
      /--sampler is one of auto, tpe, nsga2, random for a search with two objectives, got 'gp'/,
    ],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--confirm', '0'], /--confirm must be/],
    [
      ['--space', 'mobilenet', '--data', 'mnist', '-o', join(dir, 'x'), '--latency-budget', '1x'],
      /--latency-budget 1x is relative to the space's reference architecture, and mobilenet has none: give a time such as 0\.5ms/,
    ],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--latency-budget', '0x'], /--latency-budget must be above 0, got '0x'/],
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--confirm-seeds', '2'], /--confirm-seeds goes with --confirm K/],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'x'), '--confirm', '2', '--weight-sharing'],
      /--confirm trains candidates again from scratch; --weight-sharing evaluates them on shared weights: drop one/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await hone('nas', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const busy = join(dir, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'keep.txt'), 'mine');
  const r = await hone('nas', '--space', 'mlp', '--data', 'mnist', '-o', busy);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /holds other files \(keep\.txt\)/);
  assert.equal(readFileSync(join(busy, 'keep.txt'), 'utf8'), 'mine');
});

test('--weight-sharing: one supernet trained, every architecture evaluated with inherited weights, the answer fine-tuned and written', async () => {
  const out = join(dir, 'ws');
  const r = await hone(
    'nas',
    '--space',
    'cnn',
    '--data',
    'mnist',
    '--weight-sharing',
    '--supernet-epochs',
    '1',
    '--epochs',
    '1',
    '--trials',
    '5',
    '--limit',
    '400',
    '-o',
    out,
    '--json',
  );
  assert.equal(r.code, 0, r.stderr);
  // Pooling, the kernel and the (pinned) activation share no weights: kept at the reference's, and said so.
  assert.match(r.stderr, /weight sharing keeps pool=max, kernel=5, activation=relu/);
  assert.match(r.stderr, /training the supernet \(zoo:lenet5:pool=max,kernel=5,activation=relu,channels=16-48,fc=256-128\)/);
  const res = JSON.parse(r.stdout) as {
    chosen: Architecture;
    reference: Architecture;
    weightSharing: {
      architectures: number;
      fixed: Record<string, unknown>;
      supernet: { steps: number; sampled: Record<string, number> };
      evaluation: { architectures: number; recalibrated: boolean };
      finetune: { epochs: number; accuracyBefore: number; accuracyAfter: number };
    };
  };
  const ws = res.weightSharing;
  assert.equal(ws.architectures, 35, '7 channel pairs × 5 two-layer fc pairs');
  assert.deepEqual(ws.fixed, { pool: 'max', kernel: 5, activation: 'relu' });
  assert.equal(ws.supernet.steps, 5, '320 training samples, batch 64, one epoch');
  assert.deepEqual(ws.supernet.sampled, { largest: 2, smallest: 1, random: 2 });
  assert.equal(ws.evaluation.recalibrated, false, 'LeNet has no BatchNormalization');
  // The reference (LeNet-5) is evaluated first.
  assert.equal(res.reference.number, 0);
  assert.equal(res.reference.model, 'zoo:lenet5:pool=max,kernel=5,activation=relu,channels=6-16,fc=120-84');
  const archs = JSON.parse(readFileSync(join(out, 'front.json'), 'utf8')) as Architecture[];
  assert.equal(archs.length, 5);
  assert.equal(ws.evaluation.architectures, new Set(archs.map((a) => a.model)).size);
  for (const a of archs) assert.ok(a.accuracy >= 0 && a.accuracy <= 1 && a.latencyMs! > 0, JSON.stringify(a));
  assert.equal(ws.finetune.epochs, 1);
  assert.equal(ws.finetune.accuracyBefore, res.chosen.accuracy);
  assert.ok(ws.finetune.accuracyAfter > 0.1, `fine-tuned accuracy ${ws.finetune.accuracyAfter}`);
  // The written model is the chosen architecture itself, an ordinary LeNet of its widths.
  const m = loadModel(join(out, 'model.onnx'));
  const [c1, c2] = String(res.chosen.options.channels).split('-').map(Number);
  const dims = new Map(m.graph!.initializer.map((t) => [t.name, t.dims.map(Number)]));
  assert.deepEqual(dims.get('conv1.weight'), [c1, 1, 5, 5]);
  assert.deepEqual(dims.get('conv2.weight'), [c2, c1, 5, 5]);
  assert.ok(!m.graph!.input.some((i) => i.name!.startsWith('nas_mask')), 'no mask inputs in the answer');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { weightSharing: unknown };
  assert.deepEqual(report.weightSharing, res.weightSharing);

  const bad: [string[], RegExp][] = [
    [['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'y'), '--supernet-epochs', '2'], /--supernet-epochs goes with --weight-sharing/],
    [
      ['--space', 'mlp', '--data', 'mnist', '-o', join(dir, 'y'), '--weight-sharing', '--workers', '2'],
      /trains one supernet in this process; drop --workers/,
    ],
  ];
  const depth = join(dir, 'depth.yaml');
  writeFileSync(depth, 'model: zoo:lenet5\nspace:\n  model.fc: { type: categorical, choices: ["64", "120-84"] }\n');
  bad.push([['--space', depth, '--data', 'mnist', '-o', join(dir, 'y'), '--weight-sharing'], /model\.fc has choices of different lengths/]);
  for (const [args, re] of bad) {
    const b = await hone('nas', ...args);
    assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
    assert.match(b.stderr, re);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    assert.ok(!existsSync(join(dir, 'y')));
  }
});

test('--proxy-keep: every untrained network scored (NASWOT); after 6, one below the kept share of the scores so far is not trained', async () => {
  const out = join(dir, 'proxy');
  const db = join(dir, 'proxy.db');
  const r = await hone(
    'nas',
    '--space',
    'cnn',
    '--data',
    'mnist',
    '--trials',
    '10',
    '--epochs',
    '1',
    '--limit',
    '300',
    '--proxy-keep',
    '0.5',
    '--storage',
    `sqlite:${db}`,
    '--study',
    'p',
    '-o',
    out,
    '--quiet',
  );
  assert.equal(r.code, 0, r.stderr);
  const storage = await openStorage(`sqlite:${db}`);
  const trials = await storage.getAllTrials((await storage.getStudyId('p'))!);
  await storage.close();
  assert.equal(trials.length, 10);
  const scores = trials.map((t) => t.userAttrs.proxy_score as number);
  for (const v of scores) assert.ok(Number.isFinite(v), `score ${v}`);
  trials.forEach((t, i) => {
    const before = [...scores.slice(0, i)].sort((a, b) => a - b);
    const cut = before[Math.floor(0.5 * before.length)];
    if (i < 6) assert.equal(t.state, 'complete', `trial ${i}: the first 6 are all trained`);
    else if (t.state === 'pruned') {
      assert.match(String(t.userAttrs.skipped), /zero-cost proxy \(NASWOT\) score .* below .*50th percentile/);
      assert.ok(scores[i]! < cut!, `trial ${i} pruned with ${scores[i]} against ${cut}`);
    } else assert.ok(scores[i]! >= cut!, `trial ${i} trained with ${scores[i]} below ${cut}`);
  });
});

test('a space file: zoo options searched, the others pinned; one without an architecture option, or with a training setting, refused', async () => {
  const ok = join(dir, 'space.yaml');
  writeFileSync(ok, 'model: zoo:lenet5:pool=avg\nspace:\n  model.channels: { type: categorical, choices: [4-8, 8-16] }\n');
  // The options `hone tune` would search by default (fc, activation) are pinned to the zoo's defaults: a NAS
  // space searches what it lists. pool is fixed by the model spec.
  assert.deepEqual(await resolveSpace(ok), {
    model: 'zoo:lenet5:pool=avg',
    space: {
      'model.channels': { type: 'categorical', choices: ['4-8', '8-16'] },
      'model.fc': { type: 'categorical', choices: ['120-84'] },
      'model.activation': { type: 'categorical', choices: ['relu'] },
    },
  });
  assert.deepEqual((await resolveSpace('cnn')).space['model.activation'], { type: 'categorical', choices: ['relu'] });
  const none = join(dir, 'none.yaml');
  writeFileSync(none, 'model: zoo:mlp\nspace: {}\n');
  await assert.rejects(resolveSpace(none), /searches no architecture option/);
  const recipe = join(dir, 'recipe.yaml');
  writeFileSync(
    recipe,
    'model: zoo:mlp\nspace:\n  model.hidden: { type: categorical, choices: ["64", "128"] }\n  lr: { type: float, low: 0.001, high: 0.1 }\n',
  );
  await assert.rejects(resolveSpace(recipe), /'lr' is a training setting/);
  const noModel = join(dir, 'nomodel.yaml');
  writeFileSync(noModel, 'space:\n  model.hidden: { type: categorical, choices: ["64", "128"] }\n');
  await assert.rejects(resolveSpace(noModel), /needs model: zoo:NAME/);
  assert.deepEqual(referenceParams('zoo:lenet5', NAS_SPACES.cnn!.space), {
    'model.channels': '6-16',
    'model.fc': '120-84',
    'model.pool': 'max',
    'model.kernel': 5,
  });
  assert.equal(
    referenceParams('zoo:mobilenet:inputChannels=1,size=28', NAS_SPACES.mobilenet!.space),
    undefined,
    'its defaults are not in the space',
  );
  assert.equal(parseMs('0.5'), 0.5);
  assert.equal(parseMs('250us'), 0.25);
  assert.equal(parseMs('2ms'), 2);
});

test('the choice: the most accurate within the budget, ties to the faster; the front fastest first', () => {
  const entry = (number: number, accuracy: number, latency: number, state: 'complete' | 'fail' = 'complete') => ({
    number,
    state,
    values: state === 'complete' ? [accuracy, latency] : null,
    params: { 'model.hidden': String(64 * (number + 1)), lr: 0.002 },
    bestSoFar: null,
    durationS: 1,
  });
  const report: StudyReport = {
    study: 's',
    directions: ['maximize', 'minimize'],
    nTrials: 5,
    states: { complete: 4, pruned: 0, fail: 1, running: 0, waiting: 0 },
    bestValue: null,
    bestParams: null,
    bestTrial: null,
    bestTrials: [
      { number: 0, values: [0.9, 0.1], params: {} },
      { number: 2, values: [0.95, 0.3], params: {} },
      { number: 3, values: [0.97, 0.5], params: {} },
    ],
    importance: {},
    history: [entry(0, 0.9, 0.1), entry(1, 0.85, 0.2), entry(2, 0.95, 0.3), entry(3, 0.97, 0.5), entry(4, 0, 0, 'fail')],
  };
  const r = nasResult(report, { latencyMs: 0.35 }, 'zoo:mlp');
  assert.deepEqual(r.front, [0, 2, 3]);
  assert.equal(r.chosen!.number, 2);
  assert.equal(r.chosen!.model, 'zoo:mlp:hidden=192');
  assert.deepEqual(
    r.architectures.map((a) => a.withinBudget),
    [true, true, true, false],
  );
  assert.equal(nasResult(report, {}, 'zoo:mlp').chosen!.number, 3);
  const none = nasResult(report, { latencyMs: 0.05 }, 'zoo:mlp');
  assert.equal(none.chosen, undefined);
  assert.match(
    none.note!,
    /no architecture met --latency-budget 0\.05 ms; the fastest found was trial 0 \(zoo:mlp:hidden=64\) at 0\.100 ms/,
  );
  // Limits on counts hold with any cost: hidden=192 has 784·192 + 192·10 MACs, over 150k; 128 is not.
  const counted = nasResult(report, { latencyMs: 0.35, macs: 150_000 }, 'zoo:mlp');
  assert.deepEqual(
    counted.architectures.map((a) => [a.macs, a.withinBudget]),
    [
      [784 * 64 + 640, true],
      [784 * 128 + 1280, true],
      [784 * 192 + 1920, false],
      [784 * 256 + 2560, false],
    ],
  );
  assert.equal(counted.chosen!.number, 0, 'the most accurate under both limits');
  assert.match(
    nasResult(report, { macs: 1000, params: 10 }, 'zoo:mlp', undefined, 'params').note!,
    /no architecture met --max-macs 1000 and --max-params 10; the smallest found was trial 0 .* relax --max-macs or --max-params/,
  );
});
