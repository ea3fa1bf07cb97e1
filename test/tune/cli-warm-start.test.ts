// End to end through the CLI: `hone tune --warm-start` (flag and config key) seeds a new study with the
// best trials of an earlier one, refuses bad sources before any trial, and `hone study show --html` writes
// the study's page (and --json carries what it shows).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/tune/storage/open.js';
import { hone } from '../helpers/cli.js';
import { chartOf, linePoints, seriesMarks } from '../helpers/chart-svg.js';

interface Entry {
  number: number;
  state: string;
  values: number[] | null;
  params: Record<string, number>;
  warmStart?: { study: string; trial: number };
  intermediate?: [number, number | null][];
}

let dir: string;
let db: string;
/** The source study's complete trials, best first. */
let best: Entry[];
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hone-cli-warm-'));
  db = join(dir, 'runs.db');
  const r = await hone(
    'tune',
    '--objective',
    'bench:branin',
    '--trials',
    '12',
    '--storage',
    db,
    '--study',
    'src',
    '--seed',
    '1',
    '--quiet',
  );
  assert.equal(r.code, 0, r.stderr);
  const show = JSON.parse((await hone('study', 'show', 'src', '--storage', db, '--json')).stdout) as { history: Entry[] };
  best = show.history.filter((h) => h.state === 'complete').sort((a, b) => a.values![0]! - b.values![0]!);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const history = (stdout: string) => (JSON.parse(stdout) as { history: Entry[] }).history;

describe('hone tune --warm-start', () => {
  it('runs the best K trials of the earlier study first, then samples', async () => {
    const r = await hone(
      'tune',
      '--objective',
      'bench:branin',
      '--trials',
      '6',
      '--storage',
      db,
      '--study',
      'dst',
      '--warm-start',
      'src',
      '--warm-start-top',
      '3',
      '--seed',
      '2',
      '--quiet',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const h = history(r.stdout);
    assert.equal(h.length, 6);
    assert.deepEqual(
      h.slice(0, 3).map((e) => e.params),
      best.slice(0, 3).map((e) => e.params),
    );
    assert.deepEqual(
      h.slice(0, 3).map((e) => e.warmStart),
      best.slice(0, 3).map((e) => ({ study: 'src', trial: e.number })),
    );
    assert.deepEqual(h[0]!.values, best[0]!.values, 'the same function: the same value again');
    assert.equal(h[3]!.warmStart, undefined);
    assert.match(
      r.stderr,
      new RegExp(`warm start: the first 3 trial\\(s\\) re-run the best of study 'src' .*: trial\\(s\\) ${best[0]!.number}, `),
    );
  });

  it("takes warm_start from a config, from another storage, and the study's page marks those trials", async () => {
    const other = join(dir, 'other.db');
    const cfg = join(dir, 'warm.yaml');
    writeFileSync(
      cfg,
      `objective: bench:branin\ntrials: 4\nstorage: ${other}\nwarm_start: { study: src, storage: "sqlite:${db}", top: 2 }\n`,
    );
    const r = await hone('tune', cfg, '--quiet', '--json');
    assert.equal(r.code, 0, r.stderr);
    const h = history(r.stdout);
    assert.deepEqual(
      h.slice(0, 2).map((e) => e.params),
      best.slice(0, 2).map((e) => e.params),
    );
    const page = join(dir, 'warm.html');
    const show = await hone('study', 'show', 'warm', '--storage', other, '--html', page);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^study warm/, 'the text report still goes to stdout');
    const html = readFileSync(page, 'utf8');
    assert.equal(seriesMarks(chartOf(html, 'history'), 0).length, 4, 'four complete trials on the history');
    assert.match(html, /<th>warm start from<\/th>/);
    assert.match(html, new RegExp(`<td>src #${best[0]!.number}</td>`));
  });

  it('refuses a source that does not exist before any trial (exit 2), naming what exists', async () => {
    const run = (...extra: string[]) =>
      hone('tune', '--objective', 'bench:branin', '--trials', '3', '--storage', db, '--study', 'never', ...extra);
    const cases: [string[], RegExp][] = [
      [['--warm-start', 'srcc'], /^hone: warm start: no study 'srcc' in .*runs\.db; studies there: src, dst\n$/],
      [['--warm-start', `src@${join(dir, 'nope.db')}`], /no storage at .*nope\.db \(no such file\)/],
      [['--warm-start', 'src@'], /--warm-start 'src@' should be STUDY or STUDY@STORAGE/],
      [['--warm-start', 'src@ftp://x'], /unknown storage 'ftp:\/\/x'/],
      [['--warm-start', 'never'], /names the study being created/],
      [['--warm-start-top', '2'], /--warm-start-top needs --warm-start/],
      [['--warm-start', 'src', '--warm-start-top', '0'], /--warm-start-top/],
    ];
    for (const [extra, re] of cases) {
      const r = await run(...extra);
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    const mem = await hone('tune', '--objective', 'bench:branin', '--trials', '3', '--warm-start', 'src');
    assert.equal(mem.code, 2);
    assert.match(mem.stderr, /memory storage holds no earlier study; say where it is, e\.g\. --warm-start src@sqlite:/);
    const resume = await hone('tune', '--resume', '--study', 'dst', '--storage', db, '--warm-start', 'src');
    assert.equal(resume.code, 2);
    assert.match(resume.stderr, /--warm-start seeds a new study/);
    const list = JSON.parse((await hone('study', 'list', '--storage', db, '--json')).stdout) as { studies: { name: string }[] };
    assert.deepEqual(
      list.studies.map((s) => s.name),
      ['src', 'dst'],
      'no study was created by the refused runs',
    );
  });
});

describe('hone study show --html', () => {
  it('writes the page; --json carries the intermediate values it draws', async () => {
    // A study with learning curves: two complete trials and a pruned one, written straight to the storage.
    const s = await openStorage(db);
    const id = await s.createStudy('curves', ['minimize']);
    const dist = { type: 'float', low: 0, high: 1, log: false } as const;
    for (const [i, final] of [0.2, 0.1, null].entries()) {
      const t = await s.createTrial(id);
      await s.setTrialParam(t.id, 'lr', 0.1 * (i + 1), dist);
      for (let step = 0; step < (final === null ? 2 : 4); step++) await s.setTrialIntermediateValue(t.id, step, 1 / (step + 1) + i);
      await s.setTrialState(t.id, final === null ? 'pruned' : 'complete', final === null ? [1.5 + i] : [final]);
    }
    await s.close();
    const page = join(dir, 'curves.html');
    const r = await hone('study', 'show', 'curves', '--storage', db, '--html', page, '--json');
    assert.equal(r.code, 0, r.stderr);
    const h = history(r.stdout);
    assert.deepEqual(h[0]!.intermediate, [
      [0, 1],
      [1, 0.5],
      [2, 1 / 3],
      [3, 0.25],
    ]);
    assert.equal(h[2]!.intermediate!.length, 2);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /^<!doctype html>/);
    // The history: the two complete trials, and the pruned one at its last reported value.
    const drawn = chartOf(html, 'history');
    assert.equal(seriesMarks(drawn, 0).length, 2);
    assert.equal(seriesMarks(drawn, 1).length, 1);
    // The learning curves: the pruned trial's line (grey) has the two steps it reported.
    assert.equal(linePoints(chartOf(html, 'intermediate'), '#9aa5b8').length, 2);
  });

  it('refuses --html where it cannot write, and on other actions', async () => {
    const missing = join(dir, 'no-such-folder', 'x.html');
    const r = await hone('study', 'show', 'src', '--storage', db, '--html', missing);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot write .*x\.html: its folder does not exist/);
    assert.ok(!existsSync(missing));
    const folder = await hone('study', 'show', 'src', '--storage', db, '--html', dir);
    assert.equal(folder.code, 2);
    assert.match(folder.stderr, /it is a folder/);
    const list = await hone('study', 'list', '--storage', db, '--html', join(dir, 'l.html'));
    assert.equal(list.code, 2);
    assert.match(list.stderr, /--html is for 'study show'/);
  });
});
