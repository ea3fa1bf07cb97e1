import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/tune/storage/open.js';
import { PG_URL, dropSchema, uniqueSchema } from './pg-helpers.js';
import { hone } from '../helpers/cli.js';

let dir: string;
let db: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-cli-study-'));
  db = join(dir, 'studies.db');
  const r = await hone(
    'tune',
    '--objective',
    'bench:branin',
    '--trials',
    '8',
    '--storage',
    db,
    '--study',
    'single',
    '--sampler',
    'random',
    '--seed',
    '4',
  );
  assert.equal(r.code, 0, r.stderr);
  // A two-objective study with a failed trial and odd values, written straight to the storage.
  const s = await openStorage(db);
  const id = await s.createStudy('multi', ['minimize', 'maximize']);
  const dist = { type: 'categorical', choices: ['a,b', 'say "hi"'] } as const;
  for (const [i, values] of [
    [1, 5],
    [2, 9],
    [3, 1],
  ].entries()) {
    const t = await s.createTrial(id);
    await s.setTrialParam(t.id, 'label', dist.choices[i % 2]!, { ...dist, choices: [...dist.choices] });
    await s.setTrialUserAttr(t.id, 'note', i === 0 ? 'line\nbreak' : 'plain');
    await s.setTrialIntermediateValue(t.id, 0, Number.POSITIVE_INFINITY);
    await s.setTrialState(t.id, 'complete', values);
  }
  const f = await s.createTrial(id);
  await s.setTrialSystemAttr(f.id, 'fail_reason', 'exited with code 3');
  await s.setTrialState(f.id, 'fail');
  await s.close();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('hone study', () => {
  it('lists studies as a table and as JSON', async () => {
    const r = await hone('study', 'list', '--storage', db);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^study\s+directions\s+trials\s+complete\s+best\s+created$/);
    assert.match(lines[1]!, /^single\s+minimize\s+8\s+8\s+\d/);
    assert.match(lines[2]!, /^multi\s+minimize,maximize\s+4\s+3\s+-\s/);
    const j = JSON.parse((await hone('study', 'list', '--storage', db, '--json')).stdout);
    assert.deepEqual(
      j.studies.map((s: { name: string; nTrials: number }) => [s.name, s.nTrials]),
      [
        ['single', 8],
        ['multi', 4],
      ],
    );
  });

  it('shows a study: best trial, Pareto front, failures', async () => {
    const single = JSON.parse((await hone('study', 'show', 'single', '--storage', db, '--json')).stdout);
    assert.equal(single.nTrials, 8);
    assert.equal(single.bestValue, Math.min(...single.history.map((h: { values: number[] }) => h.values[0])));
    const multi = await hone('study', 'show', 'multi', '--storage', db);
    assert.equal(multi.code, 0, multi.stderr);
    // (1,5) and (2,9) are both optimal for [minimize, maximize]; (3,1) is dominated.
    assert.match(multi.stdout, /Pareto front \(minimize, maximize\): 2 trials/);
    assert.match(multi.stdout, /fail\s+exited with code 3/);
    // --study NAME, as hone tune takes it, names the study too.
    const byFlag = await hone('study', 'show', '--study', 'single', '--storage', db, '--json');
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.deepEqual(JSON.parse(byFlag.stdout), single);
  });

  it('exports JSON and CSV (to stdout or a file, atomically)', async () => {
    const j = JSON.parse((await hone('study', 'export', 'multi', '--storage', db, '--format', 'json')).stdout);
    assert.equal(j.trials.length, 4);
    assert.deepEqual(j.directions, ['minimize', 'maximize']);
    assert.equal(j.trials[0].intermediateValues['0'], 'Infinity');
    const out = join(dir, 'multi.csv');
    const r = await hone('study', 'export', 'multi', '--storage', db, '--format', 'csv', '-o', out);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const csv = readFileSync(out, 'utf8');
    const header = csv.slice(0, csv.indexOf('\n'));
    assert.equal(
      header,
      'number,state,values_0,values_1,datetime_start,datetime_complete,duration_s,params_label,user_attrs_note,fail_reason',
    );
    // A quoted cell keeps its comma and its line break.
    assert.match(csv, /\n0,complete,1,5,\d{4}-\d\d-\d\dT[^,]+,[^,]+,[\d.]+,"a,b","line\nbreak",\n/);
    assert.match(csv, /,"say ""hi""",plain,\n/);
    assert.match(csv, /\n3,fail,,,[^\n]*,exited with code 3\n$/);
    const single = (await hone('study', 'export', 'single', '--storage', db, '--format', 'csv')).stdout.split('\n');
    assert.equal(single[0], 'number,state,value,datetime_start,datetime_complete,duration_s,params_x0,params_x1,fail_reason');
    assert.equal(single.filter(Boolean).length, 9);
  });

  it('works on PostgreSQL too', async () => {
    const schema = uniqueSchema('hone_cli');
    const url = `${PG_URL}?schema=${schema}`;
    try {
      const t = await hone(
        'tune',
        '--objective',
        'bench:branin',
        '--trials',
        '4',
        '--storage',
        url,
        '--study',
        'pg',
        '--sampler',
        'random',
      );
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /^study pg \(postgresql:\/\/127\.0\.0\.1:5432\/test\): 4 trials/);
      const j = JSON.parse((await hone('study', 'list', '--storage', url, '--json')).stdout);
      assert.deepEqual(
        j.studies.map((s: { name: string }) => s.name),
        ['pg'],
      );
    } finally {
      await dropSchema(schema);
    }
  });

  it('bad input: one line, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['study'], /study needs an action: list, show NAME or export NAME/],
      [['study', 'list'], /study list needs --storage/],
      [['study', 'show', '--storage', db], /study show needs a study name/],
      [['study', 'show', 'nope', '--storage', db], /no study 'nope' in .*; studies there: single, multi/],
      [['study', 'show', 'single', '--study', 'multi', '--storage', db], /two names, 'single' and --study 'multi'; give one/],
      [['study', 'export', 'single', '--storage', db], /needs --format json or --format csv/],
      [['study', 'export', 'single', '--storage', db, '--format', 'xml'], /\(got 'xml'\)/],
      [['study', 'list', '--storage', 'memory'], /memory storage holds no studies/],
      [
        ['study', 'export', 'single', '--storage', db, '--format', 'csv', '-o', join(dir, 'no', 'such', 'x.csv')],
        /cannot write .*x\.csv: its folder does not exist/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await hone(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^hone: [^\n]+\n$/);
      assert.match(r.stderr, message);
    }
  });
});
