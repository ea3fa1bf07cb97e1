// `hone optimize` end to end: the three files written (and only on success), one-line exit-2 errors before
// any work for data that do not fit the model and for an OUT_DIR that is not a previous optimize output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { honeArgs as cli } from '../helpers/cli.js';
import { writeNpy } from '../helpers/npz.js';
import { loadModel } from '../../src/ir/model.js';
import { parseDuration } from '../../src/cli/commands/optimize.js';
import { isOptimizeOutput, optimizeModel, STUDY_FILE } from '../../src/optimize/index.js';
import { zooModel } from '../../src/zoo/index.js';
import { foldConstantsPass } from '../../src/passes/fold.js';
import { dynamicPass } from '../../src/passes/quantize.js';
import { SqliteStorage } from '../../src/tune/storage/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'hone-optimize-cli-'));
const small = 'zoo:transformer:layers=1,dModel=64,heads=2,ffn=128';
const fast = ['--runs', '3', '--warmup', '1', '--batch-size', '2', '--dim', 'seq=16', '--quiet'];

test('writes model.onnx, candidates.json and report.json, prints the table; a second run replaces its own output', async () => {
  const out = join(dir, 'opt');
  // Two trials end the search, not the budget, which no loaded machine exhausts: every pipeline is screened
  // whatever the load, and the run does the same work on any machine.
  const r = await cli(['optimize', small, '-o', out, '--budget', '5m', '--trials', '2', ...fast]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['candidates.json', 'model.onnx', 'report.html', 'report.json', 'study.db']);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<figure class="chart" data-chart="optimize-tradeoff">/);
  assert.match(r.stdout, /baseline \(ORT fp32, default settings\)/);
  assert.match(r.stdout, /Tried \d+ candidate\(s\): \d+ measured, \d+ rejected, \d+ skipped/);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.tool, 'hone optimize');
  assert.equal(report.budgetSeconds, 300);
  assert.equal(report.budgetExhausted, false);
  assert.match(r.stdout, /the search stopped after 2 trial\(s\): the trials asked for \(--trials\)/);
  const candidates = JSON.parse(readFileSync(join(out, 'candidates.json'), 'utf8'));
  assert.ok(candidates.length >= 2);
  for (const c of candidates) {
    assert.ok(Array.isArray(c.passes) && c.settings && c.metrics && ['measured', 'rejected', 'skipped'].includes(c.status));
    if (c.status !== 'measured') assert.ok(c.reason, `${c.id} says why it is ${c.status}`);
  }
  // The screening times every pipeline at ORT's default settings (the search's trials vary the settings: the
  // resume test below reads them from the study).
  assert.ok(candidates.some((c: { settings: { intraOpThreads?: number } }) => c.settings.intraOpThreads === undefined));
  if (report.chosen) assert.match(r.stdout, /SessionOptions to use with model\.onnx: \{"executionProviders":\["cpu"\]/);
  else assert.match(r.stdout, /nothing is claimed/);
  assert.ok(loadModel(join(out, 'model.onnx')).graph!.node.length > 0);
  // Its own output is not "a folder of the user's": a second run replaces it, as --json this time.
  const again = await cli(['optimize', small, '-o', out, '--budget', '0', '--json', ...fast]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).budgetSeconds, 0);
  assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).budgetSeconds, 0);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temporary folder left',
  );
});

test('bad input: exit 2, one line, nothing written', async () => {
  const bad = join(dir, 'bad.npy');
  writeNpy(bad, { data: new Float32Array(4 * 3 * 5), dims: [4, 3, 5] });
  const cases: { argv: string[]; expect: RegExp }[] = [
    {
      argv: ['optimize', small, '-o', join(dir, 'o1'), '--data', bad, ...fast],
      expect: /bad\.npy: array 'input' has shape \[4,3,5\].*dim 2 must be 64/,
    },
    { argv: ['optimize', small, '-o', join(dir, 'o2'), '--data', join(dir, 'missing.npz'), ...fast], expect: /cannot read .*missing\.npz/ },
    {
      argv: ['optimize', small, '-o', join(dir, 'o3'), '--goal', 'speed', ...fast],
      expect: /--goal must be one of latency, throughput, size/,
    },
    { argv: ['optimize', small, '-o', join(dir, 'o4'), '--budget', 'soon', ...fast], expect: /--budget must be a duration/ },
    { argv: ['optimize', small, ...fast], expect: /add -o OUT_DIR/ },
  ];
  const theirs = join(dir, 'theirs');
  mkdirSync(theirs);
  writeFileSync(join(theirs, 'notes.txt'), 'keep me');
  cases.push({
    argv: ['optimize', small, '-o', theirs, ...fast],
    expect: /exists and is not the output of a previous 'hone optimize'.*--force/,
  });
  for (const { argv, expect } of cases) {
    const r = await cli(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, expect);
    // One line and nothing else: without a terminal every step prints a progress line to stderr, so the
    // refusal came before any work (no wall-clock bound, which a loaded machine can break).
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  for (const o of ['o1', 'o2', 'o3', 'o4']) assert.ok(!existsSync(join(dir, o)), `${o} not created`);
  assert.deepEqual(readdirSync(theirs), ['notes.txt']);
  // --force writes the three files into the user's folder and leaves the rest alone.
  const forced = await cli(['optimize', small, '-o', theirs, '--force', '--budget', '0', ...fast]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(readdirSync(theirs).sort(), ['candidates.json', 'model.onnx', 'notes.txt', 'report.html', 'report.json', 'study.db']);
  assert.equal(readFileSync(join(theirs, 'notes.txt'), 'utf8'), 'keep me');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temporary folder left',
  );
});

test('--budget takes seconds or a unit', () => {
  assert.equal(parseDuration('15m', '--budget'), 900);
  assert.equal(parseDuration('90', '--budget'), 90);
  assert.equal(parseDuration('2.5s', '--budget'), 2.5);
  assert.equal(parseDuration('1h', '--budget'), 3600);
});

test('--resume continues the study kept in OUT_DIR/study.db; another job, or no study, is refused before any work', async () => {
  const out = join(dir, 'resumed');
  const studyPath = join(out, STUDY_FILE);
  // Two pipelines (the model as given and dynamic int8) keep the screening short; a budget no loaded machine
  // exhausts (a 15 s one once ran out before the first trial at load 10 on 2 cores) and a few trials end the
  // search instead.
  const job = {
    model: zooModel('transformer:layers=1,dModel=64,heads=2,ffn=128'),
    dims: { seq: 16 },
    batchSizes: [2],
    runs: 3,
    warmup: 1,
    budget: 300,
    maxTrials: 2,
    passes: [foldConstantsPass, dynamicPass],
    studyPath,
  };
  const first = await optimizeModel(job);
  assert.ok(
    first.report.notes.includes('the search stopped after 2 trial(s): the trials asked for (--trials)'),
    JSON.stringify(first.report.notes),
  );
  const trials = async () => {
    const storage = new SqliteStorage(studyPath);
    try {
      const id = (await storage.getStudyId('optimize'))!;
      return await storage.getAllTrials(id);
    } finally {
      await storage.close();
    }
  };
  const before = await trials();
  const complete = before.filter((t) => t.state === 'complete');
  assert.ok(complete.length > 0, 'the search ran trials and kept them');
  // Each trial is a point of the whole space: a pipeline, the session settings, the batch.
  for (const t of complete)
    assert.ok(
      'pipeline' in t.params && 'threads' in t.params && 'level' in t.params && 'executionMode' in t.params,
      JSON.stringify(t.params),
    );
  const again = await optimizeModel({ ...job, resume: true });
  assert.ok(
    again.report.notes.some((n) => new RegExp(`resumed the study in .*study\\.db: its ${complete.length} trial\\(s\\)`).test(n)),
    JSON.stringify(again.report.notes),
  );
  assert.ok((await trials()).length > before.length, 'the resumed run added trials to the same study');
  // Without resume the study is started over.
  await optimizeModel({ ...job, budget: 0 });
  assert.equal((await trials()).length, 0);
  // A different job (another constraint) is refused, through the CLI as well; so is --resume where no run kept a study.
  await assert.rejects(optimizeModel({ ...job, maxAccuracyDrop: 0.5, resume: true }), /searched another job \(maxAccuracyDrop differ/);
  const none = await cli(['optimize', small, '-o', join(dir, 'never'), '--resume', ...fast]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /holds no study of a previous run/);
  assert.ok(!existsSync(join(dir, 'never')));
  // A folder holding only a study (a run interrupted before its report) is a previous output: not refused.
  const interrupted = join(dir, 'interrupted');
  mkdirSync(interrupted);
  writeFileSync(join(interrupted, STUDY_FILE), '');
  assert.ok(isOptimizeOutput(interrupted));
  writeFileSync(join(interrupted, 'notes.txt'), '');
  assert.ok(!isOptimizeOutput(interrupted));
});
