// `hone tune --html FILE`: the page written at the end is the one `hone study show --html` writes for the
// same study; a path it cannot write is refused before any trial; an interrupted run writes the page when
// trials finished, and says it wrote nothing when none did.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sameIds } from '../helpers/chart-svg.js';
import { hone } from '../helpers/cli.js';
import { spawnHone } from '../helpers/spawn.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-tune-html-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function until(f: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 60_000;
  while (!f()) {
    if (Date.now() > end) assert.fail(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('hone tune --html', () => {
  it("writes the study's page at the end: the page hone study show --html writes", async () => {
    const db = join(dir, 'runs.db');
    const page = join(dir, 'tune.html');
    const r = await hone(
      'tune',
      '--objective',
      'bench:branin',
      '--trials',
      '8',
      '--sampler',
      'random',
      '--seed',
      '4',
      '--storage',
      db,
      '--study',
      'b<i>',
      '--html',
      page,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.html, page);
    assert.equal(out.states.complete, 8);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /b&lt;i&gt;/, 'the study is named, escaped');
    assert.doesNotMatch(html, /b<i>/);
    const shown = join(dir, 'show.html');
    const show = await hone('study', 'show', 'b<i>', '--storage', db, '--html', shown);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(sameIds(html), sameIds(readFileSync(shown, 'utf8')));

    // Without --json, the text report says where the page went.
    const text = await hone('tune', '--objective', 'bench:branin', '--trials', '3', '--html', join(dir, 'text.html'));
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /\nstudy page → .*text\.html\n$/);
    assert.ok(existsSync(join(dir, 'text.html')));
  });

  it('refuses a path it cannot write before the study starts', async () => {
    const db = join(dir, 'refused.db');
    for (const [path, why] of [
      [join(dir, 'no-such-folder', 'x.html'), /its folder does not exist/],
      [dir, /it is a folder/],
    ] as const) {
      const r = await hone('tune', '--objective', 'bench:branin', '--trials', '3', '--storage', db, '--html', path);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^hone: cannot write .*: /);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, '');
      assert.equal(existsSync(db), false, 'no study was created');
    }
  });

  it('interrupted: writes the page when a trial finished, and says it wrote nothing when none did', { timeout: 60_000 }, async () => {
    // The first trial completes; every later one blocks until interrupted.
    const done = join(dir, 'first-done');
    const blocked = join(dir, 'blocked');
    const cfg = join(dir, 'interrupt.yaml');
    writeFileSync(
      cfg,
      [
        `objective: { command: "if [ -e ${done} ]; then touch ${blocked}; exec sleep 30; fi; touch ${done}; echo '{\\"value\\": 0.5}'" }`,
        'trials: 3',
        'space: { x: { type: float, low: 0, high: 1 } }',
      ].join('\n'),
    );
    const page = join(dir, 'interrupted.html');
    const run = spawnHone(['tune', cfg, '--html', page, '--quiet']);
    await until(() => existsSync(blocked), 'the second trial to start');
    run.p.kill('SIGINT');
    assert.equal((await run.exit).code, 130, run.err());
    assert.match(run.err(), /hone: interrupted \(SIGINT\): 1 trial\(s\) complete/);
    assert.doesNotMatch(run.err(), /nothing written/);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /interrupt/, 'the study (named after its config) is on the page');

    // No trial finished: no page, and the message says so.
    rmSync(blocked);
    const none = join(dir, 'none.html');
    const second = spawnHone(['tune', cfg, '--html', none, '--quiet']);
    await until(() => existsSync(blocked), 'the first trial to start');
    second.p.kill('SIGINT');
    assert.equal((await second.exit).code, 130, second.err());
    assert.match(second.err(), /0 trial\(s\) complete; .*; nothing written to .*none\.html\n$/);
    assert.equal(existsSync(none), false);
  });
});
