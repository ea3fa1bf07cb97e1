import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/tune/storage/open.js';
import { InMemoryStorage } from '../../src/tune/storage/memory.js';
import type { Trial } from '../../src/tune/trial.js';
import { resolveTuneConfig } from '../../src/cli/tune/config.js';
import { runWorker } from '../../src/cli/tune/worker.js';
import { GRID_POINTS } from '../../src/cli/tune/factory.js';
import { branin } from '../../src/tune/benchmarks.js';
import { hone, honeIo } from '../helpers/cli.js';
import { spawnHone } from '../helpers/spawn.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-cli-tune-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('hone tune: benchmarks', () => {
  it('tunes bench:branin in memory and prints one JSON object with the best trial, history and importance', async () => {
    const r = await hone('tune', '--objective', 'bench:branin', '--trials', '25', '--sampler', 'tpe', '--seed', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.nTrials, 25);
    assert.equal(out.states.complete, 25);
    assert.equal(out.history.length, 25);
    assert.deepEqual(Object.keys(out.bestParams).sort(), ['x0', 'x1']);
    assert.equal(out.bestValue, Math.min(...out.history.map((h: { values: number[] }) => h.values[0])));
    assert.equal(out.history.at(-1).bestSoFar, out.bestValue);
    assert.ok(Math.abs(Object.values(out.importance as Record<string, number>).reduce((s, v) => s + v, 0) - 1) < 1e-9);
    const again = JSON.parse(
      (await hone('tune', '--objective', 'bench:branin', '--trials', '25', '--sampler', 'tpe', '--seed', '3', '--json')).stdout,
    );
    assert.equal(again.bestValue, out.bestValue, 'same seed, same study');
  });

  it('runs --workers K as concurrent loops on memory storage and stops at exactly the budget', async () => {
    const r = await hone(
      'tune',
      '--objective',
      'bench:hartmann6',
      '--trials',
      '17',
      '--workers',
      '3',
      '--sampler',
      'random',
      '--seed',
      '1',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^hone: note: memory storage cannot be shared between processes; the 3 workers run as concurrent loops in this process/,
    );
    const out = JSON.parse(r.stdout);
    assert.equal(out.nTrials, 17);
    assert.deepEqual(
      out.history.map((h: { number: number }) => h.number),
      Array.from({ length: 17 }, (_, i) => i),
    );
  });

  for (const sampler of ['auto', 'random', 'tpe', 'qmc', 'gp', 'cmaes', 'nsga2']) {
    it(`runs with --sampler ${sampler}`, async () => {
      const r = await hone('tune', '--objective', 'bench:branin', '--trials', '12', '--sampler', sampler, '--seed', '1', '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.states.complete, 12);
      assert.equal(out.bestValue, Math.min(...out.history.map((h: { values: number[] }) => h.values[0])));
    });
  }

  it('walks a grid from the search space, once per point, and stops when it is exhausted', async () => {
    const script = file('value.sh', 'echo "{\\"value\\": $HONE_PARAM_N}"\n');
    const cfg = file(
      'grid.yaml',
      [
        `objective: { command: "sh ${script}" }`,
        'sampler: { name: grid, seed: 1 }',
        'trials: 50',
        'space: { n: { type: int, low: 1, high: 3 }, act: { type: categorical, choices: [relu, tanh] }, lr: { type: float, low: 0.1, high: 0.3, step: 0.1 } }',
      ].join('\n'),
    );
    const r = await hone('tune', cfg, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.nTrials, 18);
    const points = out.history.map((h: { params: object }) => JSON.stringify(h.params));
    assert.equal(new Set(points).size, 18);
    assert.equal(out.bestValue, 1);
    // Concurrent workers cover every point; the last asks may revisit one (as Optuna's grid does).
    const two = JSON.parse((await hone('tune', cfg, '--workers', '2', '--json')).stdout);
    assert.equal(new Set(two.history.map((h: { params: object }) => JSON.stringify(h.params))).size, 18);
    assert.ok(two.nTrials >= 18 && two.nTrials <= 19, String(two.nTrials));
  });

  it("lays a grid over a benchmark's domain: --grid-points values per dimension, both ends included", async () => {
    const r = await hone('tune', '--objective', 'bench:branin', '--sampler', 'grid', '--grid-points', '4', '--trials', '100', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.nTrials, 16, 'the grid is exhausted before the budget');
    const points: number[][] = out.history.map((h: { params: { x0: number; x1: number } }) => [h.params.x0, h.params.x1]);
    assert.equal(new Set(points.map(String)).size, 16);
    assert.deepEqual(
      [...new Set(points.map((p) => p[0]))].sort((a, b) => a - b),
      [-5, 0, 5, 10],
    );
    assert.deepEqual(
      [...new Set(points.map((p) => p[1]))].sort((a, b) => a - b),
      [0, 5, 10, 15],
    );
    assert.equal(out.bestValue, Math.min(...points.map((p: number[]) => branin.evaluate(p))));
    // The default: GRID_POINTS values per dimension.
    const byDefault = JSON.parse(
      (await hone('tune', '--objective', 'bench:branin', '--sampler', 'grid', '--trials', '30', '--seed', '2', '--json')).stdout,
    );
    const x0s = Array.from({ length: GRID_POINTS }, (_, i) => -5 + (15 * i) / (GRID_POINTS - 1));
    for (const h of byDefault.history)
      assert.ok(
        x0s.some((v) => Math.abs(v - h.params.x0) < 1e-12),
        String(h.params.x0),
      );
    const bad = await hone('tune', '--objective', 'bench:branin', '--trials', '5', '--grid-points', '4');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hone: --grid-points is for the grid sampler, not auto; add --sampler grid or drop it\n$/);
  });

  it('grids a float without a step in a config: evenly in log space on a log scale', async () => {
    const cfg = file(
      'grid-log.yaml',
      [
        'objective: { command: "echo {\\"value\\": $HONE_PARAM_LR}" }',
        'sampler: { name: grid, options: { points: 4 } }',
        'trials: 20',
        'space: { lr: { type: float, low: 0.0001, high: 0.1, log: true } }',
      ].join('\n'),
    );
    const r = await hone('tune', cfg, '--json', '--quiet');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const lrs = out.history.map((h: { params: { lr: number } }) => h.params.lr).sort((a: number, b: number) => a - b);
    assert.equal(lrs.length, 4);
    [1e-4, 1e-3, 1e-2, 1e-1].forEach((v, i) => assert.ok(Math.abs(lrs[i] / v - 1) < 1e-12, `${lrs[i]} vs ${v}`));
  });

  it('stops starting trials at --timeout: no trial starts after it, and the run lasts until it', { timeout: 60_000 }, async () => {
    const db = join(dir, 'timeout.db');
    const cfg = file('slow.yaml', 'study: slow\nobjective: { bench: branin, delay: 0.2 }\nsampler: random\n');
    const t0 = Date.now();
    const r = await hone('tune', cfg, '--timeout', '1', '--storage', db, '--quiet', '--json');
    const t1 = Date.now();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const s = await openStorage(db);
    const trials = await s.getAllTrials((await s.getStudyId('slow'))!);
    await s.close();
    assert.ok(trials.length >= 1 && trials.every((t) => t.state === 'complete'));
    assert.equal(JSON.parse(r.stdout).nTrials, trials.length);
    // The deadline is set before the first trial starts, so it is at most 1 s after that start: each trial
    // but the last ended before it (a next one started), and the run did not stop before 1 s had passed.
    const deadlineAtMost = trials[0]!.datetimeStart! + 1000;
    for (const t of trials.slice(0, -1))
      assert.ok(t.datetimeComplete! <= deadlineAtMost, `trial ${t.number} ended after the deadline, yet another started`);
    assert.ok(t1 - t0 >= 1000, `the run ended after ${t1 - t0} ms, before its 1 s timeout`);
  });

  it('prints one plain line per finished trial on stderr, with --json too; --quiet silences them', async () => {
    for (const isTTY of [false, true]) {
      const r = await honeIo(isTTY, 'tune', '--objective', 'bench:branin', '--trials', '5', '--sampler', 'random', '--seed', '1', '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.doesNotMatch(r.stderr, /\r/);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 5, r.stderr);
      lines.forEach((line, i) => {
        const m = new RegExp(
          `^… tune bench-branin: trial ${i} complete: (\\S+) \\(best (\\S+), trial (\\d+)\\)  x0=\\S+ x1=\\S+  \\[${i + 1}/5\\]$`,
        ).exec(line);
        assert.ok(m, line);
        const h = out.history[i];
        assert.ok(Math.abs(Number(m[1]) / h.values[0] - 1) < 1e-5, `${m[1]} vs ${h.values[0]}`);
        assert.ok(Math.abs(Number(m[2]) / h.bestSoFar - 1) < 1e-5, `${m[2]} vs ${h.bestSoFar}`);
        assert.equal(out.history[Number(m[3])].values[0], h.bestSoFar);
      });
    }
    const quiet = await hone('tune', '--objective', 'bench:branin', '--trials', '5', '--quiet');
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    assert.match(quiet.stdout, /^study bench-branin \(memory\): 5 trials/);
  });

  it('prints a human report', async () => {
    const r = await hone('tune', '--objective', 'bench:levy5', '--trials', '12', '--sampler', 'random', '--seed', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^study bench-levy5 \(memory\): 12 trials — 12 complete\nbest: trial #\d+, value /);
    assert.match(r.stdout, /parameter importance \(PED-ANOVA\):\n {2}x\d /);
    assert.match(r.stdout, /history \(last 10\):/);
  });

  it('continues a stored study with --resume, and refuses to overwrite one without it', async () => {
    const db = join(dir, 'resume.db');
    const first = await hone(
      'tune',
      '--objective',
      'bench:branin',
      '--trials',
      '6',
      '--storage',
      db,
      '--study',
      'r',
      '--sampler',
      'random',
      '--seed',
      '1',
      '--json',
    );
    assert.equal(first.code, 0, first.stderr);
    const again = await hone('tune', '--objective', 'bench:branin', '--trials', '6', '--storage', db, '--study', 'r');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^hone: study 'r' already exists; load it \(--resume\) or choose another study name\n$/);
    const resumed = await hone('tune', '--resume', '--study', 'r', '--storage', db, '--trials', '10', '--json');
    assert.equal(resumed.code, 0, resumed.stderr);
    const out = JSON.parse(resumed.stdout);
    assert.equal(out.nTrials, 10);
    assert.ok(out.bestValue <= JSON.parse(first.stdout).bestValue);
    const missing = await hone('tune', '--resume', '--study', 'nope', '--storage', db);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no study 'nope'/);
  });
});

describe('interrupted trials on a grid', () => {
  it('are re-queued on their own grid point, so that after a resume every point is evaluated once', async () => {
    const storage = new InMemoryStorage();
    const config = resolveTuneConfig(
      {
        study: 'g',
        objective: { command: 'true' },
        sampler: { name: 'grid', seed: 3 },
        trials: 20,
        space: { n: { type: 'int', low: 1, high: 6 }, act: { type: 'categorical', choices: ['relu', 'tanh'] } },
      },
      {},
    );
    await storage.createStudy('g', ['minimize']);
    const stop = new AbortController();
    const objective = (t: Trial) => {
      const n = t.suggest('n', config.space.n!) as number;
      t.suggest('act', config.space.act!);
      if (t.number === 2) {
        stop.abort('SIGINT');
        throw new Error('the command was stopped');
      }
      return n;
    };
    const first = await runWorker({ storage, config, objective, workerIndex: 0, deadline: Infinity, signal: stop.signal });
    assert.deepEqual(first, { finished: 2, interrupted: 1 });
    const again = await runWorker({ storage, config, objective, workerIndex: 0, deadline: Infinity });
    assert.equal(again.finished, 12 - 2);
    const trials = await storage.getAllTrials((await storage.getStudyId('g'))!);
    const failed = trials.filter((t) => t.state === 'fail');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.systemAttrs.fail_reason, 'interrupted by SIGINT; re-queued with the same params');
    const retry = trials.find((t) => t.number === failed[0]!.systemAttrs.retried_by)!;
    assert.deepEqual(
      [retry.state, retry.params, retry.systemAttrs.grid_id],
      ['complete', failed[0]!.params, failed[0]!.systemAttrs.grid_id],
    );
    const points = trials.filter((t) => t.state === 'complete').map((t) => `${t.params.n}/${t.params.act}`);
    assert.equal(points.length, 12);
    assert.equal(new Set(points).size, 12, 'every point of the 6 × 2 grid once');
  });
});

describe('hone tune --resume with trials left running', () => {
  it('says so, instead of waiting in silence for their heartbeat to go stale', async () => {
    const db = join(dir, 'stale.db');
    const cfg = file(
      'stale.yaml',
      'study: stale\nobjective: bench:branin\nsampler: random\ntrials: 3\nheartbeat: { interval: 0.1, grace: 0.5 }\n',
    );
    assert.equal((await hone('tune', cfg, '--storage', db, '--quiet')).code, 0);
    // A trial whose worker was SIGKILLed: nothing marked it.
    const s = await openStorage(db);
    await s.createTrial((await s.getStudyId('stale'))!, { state: 'running' });
    await s.close();
    const r = await hone('tune', '--resume', '--study', 'stale', '--storage', db, '--trials', '5', '--quiet', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      "hone: note: 1 trial(s) of study 'stale' are marked running (by another worker, or one that was killed); a silent one fails 0.5 s after its last heartbeat, and this run waits for that before it ends\n",
    );
    const out = JSON.parse(r.stdout);
    assert.deepEqual([out.nTrials, out.states.complete, out.states.fail, out.states.running], [5, 4, 1, 0]);
    assert.match(out.history[3].failReason, /heartbeat/);
  });
});

describe('hone tune-worker', () => {
  it('joins a running study from another process and shares its budget', { timeout: 60_000 }, async () => {
    const db = join(dir, 'join.db');
    const cfg = file('join.yaml', 'study: join\nobjective: { bench: branin, delay: 0.05 }\nsampler: random\ntrials: 40\n');
    const run = spawnHone(['tune', cfg, '--storage', db, '--json']);
    let started = false;
    while (!started) {
      await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(db)) continue;
      const s = await openStorage(db);
      const id = await s.getStudyId('join');
      started = id !== undefined && (await s.getAllTrials(id)).length > 0;
      await s.close();
    }
    const joined = await hone('tune-worker', '--storage', db, '--study', 'join');
    assert.equal(joined.code, 0, joined.stderr);
    const mine = Number(/(\d+) trials finished/.exec(joined.stderr)![1]);
    assert.equal((await run.exit).code, 0);
    const out = JSON.parse(run.out());
    assert.equal(out.nTrials, 40);
    const s = await openStorage(db);
    const trials = await s.getAllTrials((await s.getStudyId('join'))!);
    await s.close();
    const workers = new Map<string, number>();
    for (const t of trials) workers.set(String(t.systemAttrs.worker), (workers.get(String(t.systemAttrs.worker)) ?? 0) + 1);
    assert.equal(workers.size, 2, JSON.stringify([...workers]));
    assert.ok(mine > 0 && mine < 40);
    assert.equal(workers.get([...workers.keys()].find((w) => w.endsWith(`:${process.pid}`))!), mine);
    const orphan = await hone('tune-worker', '--storage', db, '--study', 'nope');
    assert.equal(orphan.code, 2);
    assert.match(orphan.stderr, /^hone: no study 'nope' in this storage/);
  });
});

describe('hone tune: bad input is one line, exit 2, before any trial', () => {
  const cases: [string, string, RegExp][] = [
    ['low > high', 'space: { x: { type: float, low: 2, high: 1 } }', /parameter 'x': low \(2\) is greater than high \(1\); swap them/],
    ['log with low ≤ 0', 'space: { x: { type: float, low: 0, high: 1, log: true } }', /parameter 'x': a log scale needs low > 0/],
    ['empty choices', 'space: { c: { type: categorical, choices: [] } }', /parameter 'c': categorical choices are empty/],
    [
      'unknown type',
      'space: { x: { type: double, low: 0, high: 1 } }',
      /space\.x in .*: unknown type "double"; use float, int or categorical/,
    ],
    ['unknown key', 'space: { x: { type: float, low: 0, high: 1 } }\ntrails: 3', /unknown key 'trails' in .*; known keys:/],
    ['invalid YAML', 'space: { x: [1, 2\n', /is not valid YAML at line \d+: .*; fix the syntax/],
    ['missing objective', 'trials: 3\nspace: { x: { type: float, low: 0, high: 1 } }', /has no objective; add 'objective: \{ command:/],
    ['no trials nor timeout', 'objective: bench:branin', /sets neither 'trials' nor 'timeout'/],
    ['unknown sampler', 'objective: bench:branin\ntrials: 3\nsampler: bayes', /unknown sampler "bayes"/],
    ['unknown benchmark', 'objective: bench:nope\ntrials: 3', /unknown benchmark 'bench:nope'/],
  ];
  for (const [what, yaml, message] of cases) {
    it(what, async () => {
      const db = join(dir, `bad-${what.replace(/\W+/g, '-')}.db`);
      const body = /objective/.test(yaml) || what === 'missing objective' ? yaml : `objective: { command: "exit 1" }\ntrials: 3\n${yaml}`;
      const r = await hone('tune', file(`bad-${what.replace(/\W+/g, '-')}.yaml`, body), '--storage', db);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^hone: [^\n]+\n$/);
      assert.match(r.stderr, message);
      assert.equal(existsSync(db), false, 'no storage was touched');
    });
  }

  it('a JSON config: valid, then invalid', async () => {
    const good = await hone('tune', file('ok.json', JSON.stringify({ objective: 'bench:branin', trials: 3, sampler: 'random' })), '--json');
    assert.equal(good.code, 0, good.stderr);
    assert.equal(JSON.parse(good.stdout).study, 'ok');
    const bad = await hone('tune', file('bad.json', '{"objective": "bench:branin", trials: 3}'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hone: tune config .*bad\.json is not valid JSON: .*; fix the syntax\n$/);
  });

  it('an unreadable config file', async () => {
    const r = await hone('tune', join(dir, 'missing.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^hone: cannot read tune config .*missing\.yaml: no such file; check the path\n$/);
  });

  it('an unreachable PostgreSQL', async () => {
    const r = await hone('tune', '--objective', 'bench:branin', '--trials', '3', '--storage', 'postgresql://postgres@127.0.0.1:1/test');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^hone: cannot reach PostgreSQL at 127\.0\.0\.1:1\/test: .*ECONNREFUSED.*; check that the server runs and the URL\n$/,
    );
  });
});

describe('hone tune: command objectives', () => {
  it('passes params by env and file, reads reports and values, keeps failures and goes on', async () => {
    const script = file(
      'obj.mjs',
      `
      import { readFileSync } from 'node:fs';
      const p = JSON.parse(readFileSync(process.env.HONE_PARAMS_FILE, 'utf8'));
      const x = Number(process.env.HONE_PARAM_X);
      if (x !== p.x || process.env.HONE_PARAM_ACT !== p.act || Number(process.env.HONE_PARAM_N_LAYERS) !== p['n-layers']) process.exit(9);
      console.log('starting trial ' + process.env.HONE_TRIAL_NUMBER + ' of ' + process.env.HONE_STUDY);
      if (p.act === 'bad') { console.error('boom: bad activation'); process.exit(3); }
      console.log(JSON.stringify({ step: 0, value: x * 2 }));
      console.log(JSON.stringify({ attrs: { layers: p['n-layers'] } }));
      console.log(JSON.stringify({ value: (x - 0.3) ** 2 + p['n-layers'] }));
    `,
    );
    const db = join(dir, 'cmd.db');
    const cfg = file(
      'cmd.yaml',
      [
        'study: cmd',
        `objective: { command: "node ${script}" }`,
        'sampler: { name: random, seed: 5 }',
        'trials: 8',
        'space:',
        '  x: { type: float, low: 0, high: 1 }',
        '  n-layers: { type: int, low: 1, high: 3 }',
        '  act: { type: categorical, choices: [relu, bad] }',
      ].join('\n'),
    );
    const r = await hone('tune', cfg, '--storage', db, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.nTrials, 8);
    const s = await openStorage(db);
    const trials = await s.getAllTrials((await s.getStudyId('cmd'))!);
    await s.close();
    const bad = trials.filter((t) => t.params.act === 'bad');
    const good = trials.filter((t) => t.params.act === 'relu');
    assert.ok(bad.length > 0 && good.length > 0, 'the seed gives both kinds');
    for (const t of bad) {
      assert.equal(t.state, 'fail');
      assert.equal(t.systemAttrs.exit_code, 3);
      assert.match(String(t.systemAttrs.stderr_tail), /boom: bad activation/);
      assert.match(String(t.systemAttrs.fail_reason), /exited with code 3: boom: bad activation/);
    }
    for (const t of good) {
      assert.equal(t.state, 'complete');
      assert.equal(t.values![0], ((t.params.x as number) - 0.3) ** 2 + (t.params['n-layers'] as number));
      assert.deepEqual(t.intermediateValues, { 0: (t.params.x as number) * 2 });
      assert.deepEqual(t.userAttrs, { layers: t.params['n-layers'] });
    }
    assert.ok(
      readdirSync(tmpdir()).every((f) => !f.startsWith(`hone-params-${process.pid}-`)),
      'params files are removed',
    );
  });

  it('reads {"values": [...]} for several objectives; a report line there fails only its trial', async () => {
    const script = file(
      'multi.mjs',
      `
      const x = Number(process.env.HONE_PARAM_X);
      if (process.env.HONE_TRIAL_NUMBER === '2') console.log(JSON.stringify({ step: 0, value: x }));
      console.log(JSON.stringify({ values: [x, x * x] }));
    `,
    );
    const cfg = file(
      'multi.yaml',
      [
        `objective: { command: "node ${script}" }`,
        'directions: [minimize, maximize]',
        'sampler: { name: nsga2, seed: 3 }',
        'trials: 6',
        'space: { x: { type: float, low: 0, high: 1 } }',
      ].join('\n'),
    );
    const r = await hone('tune', cfg, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.states.complete, 5);
    assert.match(
      out.history[2].failReason,
      /printed a line Hone cannot use: trial\.report is for single-objective studies.*\(line: \{"step":0/,
    );
    for (const h of out.history.filter((e: { state: string }) => e.state === 'complete'))
      assert.deepEqual(h.values, [h.params.x, h.params.x ** 2]);
    // x ↦ (x, x²) is minimize-x vs maximize-x²: every complete trial is on the Pareto front.
    assert.equal(out.bestTrials.length, 5);
    assert.equal(out.bestValue, null);
  });

  it('fails a command that prints no value, or runs past its timeout', async () => {
    const cfg = file(
      'novalue.yaml',
      [
        'objective: { command: "echo not json; if [ $HONE_TRIAL_NUMBER = 1 ]; then sleep 60; fi", timeout: 2 }',
        'trials: 2',
        'space: { x: { type: float, low: 0, high: 1 } }',
      ].join('\n'),
    );
    const db = join(dir, 'novalue.db');
    const r = await hone('tune', cfg, '--storage', db, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.states.fail, 2);
    assert.match(out.history[0].failReason, /printed no \{"value": …\} line/);
    assert.match(out.history[1].failReason, /ran past its 2 s timeout/);
    assert.equal(out.bestValue, null);
  });

  it('prunes through the pruner: the command is stopped with SIGTERM and the trial ends pruned', async () => {
    const script = file(
      'steps.mjs',
      `
      import { writeFileSync } from 'node:fs';
      const x = Number(process.env.HONE_PARAM_X);
      for (let step = 0; step < 8; step++) {
        console.log(JSON.stringify({ step, value: x + step * 0.01 }));
        await new Promise((r) => setTimeout(r, 40));
      }
      writeFileSync(${JSON.stringify(dir)} + '/finished-' + process.env.HONE_TRIAL_NUMBER, '');
      console.log(JSON.stringify({ value: x }));
    `,
    );
    const cfg = file(
      'prune.yaml',
      [
        'study: prune',
        `objective: { command: "node ${script}" }`,
        'sampler: { name: random, seed: 11 }',
        'pruner: { name: percentile, options: { percentile: 25, nStartupTrials: 2, nWarmupSteps: 1 } }',
        'trials: 10',
        'space: { x: { type: float, low: 0, high: 1 } }',
      ].join('\n'),
    );
    const db = join(dir, 'prune.db');
    const r = await hone('tune', cfg, '--storage', db, '--json');
    assert.equal(r.code, 0, r.stderr);
    const s = await openStorage(db);
    const trials = await s.getAllTrials((await s.getStudyId('prune'))!);
    await s.close();
    const pruned = trials.filter((t) => t.state === 'pruned');
    assert.ok(pruned.length > 0, JSON.stringify(trials.map((t) => [t.state, t.params.x])));
    for (const t of pruned) {
      assert.ok(Object.keys(t.intermediateValues).length < 8, 'stopped before the last step');
      assert.equal(existsSync(join(dir, `finished-${t.number}`)), false, 'the command did not run to the end');
    }
    for (const t of trials.filter((x) => x.state === 'complete')) assert.ok(existsSync(join(dir, `finished-${t.number}`)));
  });

  it('stops a running command when hone tune is interrupted (Ctrl-C does not reach its process group), exit 130', {
    timeout: 30_000,
  }, async () => {
    const pidFile = join(dir, 'objective.pid');
    const cfg = file(
      'interrupt.yaml',
      [`objective: { command: "echo $$ > ${pidFile}; exec sleep 30" }`, 'trials: 1', 'space: { x: { type: float, low: 0, high: 1 } }'].join(
        '\n',
      ),
    );
    const run = spawnHone(['tune', cfg]);
    while (!existsSync(pidFile) || !readFileSync(pidFile, 'utf8').trim()) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const alive = () => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      // A terminated child whose parent (hone) exited first stays a zombie until PID 1 reaps it, which a
      // container's PID 1 may never do: a zombie has stopped running.
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
      } catch {
        return false; // reaped between the two checks
      }
    };
    assert.ok(alive());
    run.p.kill('SIGINT');
    const { code } = await run.exit;
    assert.equal(code, 130, run.err());
    assert.match(
      run.err(),
      /\nhone: interrupted \(SIGINT\): 0 trial\(s\) complete; memory storage ends with this process, so nothing was kept \(use --storage sqlite:PATH to be able to resume\)\n$/,
    );
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    const stat = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').trim();
      } catch {
        return 'gone';
      }
    };
    assert.equal(alive(), false, `the objective command was stopped (${stat()})`);
    assert.ok(
      readdirSync(tmpdir()).every((f) => !f.startsWith(`hone-params-${run.p.pid}-`)),
      'its params file is removed',
    );
  });
});
