// 4 worker processes run one 200-trial study on SQLite and on PostgreSQL; one worker is SIGKILLed in the
// middle of a trial. Nothing may be lost or run twice, and the killed trial must be failed via its
// heartbeat (and retried when configured) so that the study still ends with exactly 200 trials.
// The objective is a tiny shell command (value = x); trial #20 waits for a file the test writes after the
// kill, so there is a trial to kill mid-run for sure, whatever the machine's speed (its retry has another
// number and does not wait). The heartbeat grace (6 s, beats every 1 s) is wide so that a live worker slowed
// by a busy machine is not taken for a dead one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/tune/storage/open.js';
import type { FrozenTrial } from '../../src/tune/types.js';
import { PG_URL, dropSchema, uniqueSchema } from './pg-helpers.js';
import { spawnHone } from '../helpers/spawn.js';

const TRIALS = 200;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  victim: FrozenTrial;
  trials: FrozenTrial[];
}

async function runKilled(storageUrl: string, dir: string, retries: number): Promise<Outcome> {
  const script = join(dir, 'objective.sh');
  const release = join(dir, 'release');
  writeFileSync(
    script,
    `if [ "$HONE_TRIAL_NUMBER" = 20 ]; then while [ ! -f ${release} ]; do sleep 0.05; done; fi\necho "{\\"value\\": $HONE_PARAM_X}"\n`,
  );
  const config = join(dir, 'dist.yaml');
  writeFileSync(
    config,
    [
      'study: dist',
      `objective: { command: "sh ${script}" }`,
      'space: { x: { type: float, low: 0, high: 1 }, y: { type: float, low: 0, high: 1 } }',
      'sampler: { name: random, seed: 1 }',
      `trials: ${TRIALS}`,
      'workers: 4',
      `heartbeat: { interval: 1, grace: 6, retries: ${retries} }`,
    ].join('\n'),
  );
  const run = spawnHone(['tune', config, '--storage', storageUrl, '--json']);
  const parent = run.p;

  // Watch the study; kill the worker (not the parent) that runs trial #20.
  const storage = await openStorage(storageUrl);
  let victim: FrozenTrial | undefined;
  try {
    const until = Date.now() + 40_000;
    while (!victim && Date.now() < until) {
      const id = await storage.getStudyId('dist');
      if (id !== undefined) {
        const running = await storage.getAllTrials(id, ['running']);
        const fresh = running.find((t) => t.number === 20 && t.systemAttrs.worker !== undefined && Object.keys(t.params).length === 2);
        if (fresh) {
          assert.notEqual(Number(String(fresh.systemAttrs.worker).split(':')[1]), parent.pid, 'trials run in worker processes');
          process.kill(Number(String(fresh.systemAttrs.worker).split(':')[1]), 'SIGKILL');
          victim = fresh;
          // Its command outlives a SIGKILLed worker (nothing can catch SIGKILL): let it end.
          writeFileSync(release, '');
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(victim, 'found no running trial to kill');
    const { code } = await run.exit;
    const trials = await storage.getAllTrials((await storage.getStudyId('dist'))!);
    return { code, stdout: run.out(), stderr: run.err(), victim, trials };
  } finally {
    writeFileSync(release, '');
    if (parent.exitCode === null) {
      // A hung run: stop the parent and every worker that ran a trial, so nothing outlives the test.
      parent.kill('SIGKILL');
      const id = await storage.getStudyId('dist');
      const pids = new Set(
        (id === undefined ? [] : await storage.getAllTrials(id)).map((t) => Number(String(t.systemAttrs.worker ?? '').split(':')[1])),
      );
      for (const pid of pids)
        if (pid > 0)
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
    }
    await storage.close();
    // A SIGKILLed worker cannot remove its trial's params file.
    if (victim) {
      const prefix = `hone-params-${String(victim.systemAttrs.worker).split(':')[1]}-`;
      for (const f of readdirSync(tmpdir())) if (f.startsWith(prefix)) rmSync(join(tmpdir(), f), { force: true });
    }
  }
}

function checkOutcome(o: Outcome, retries: number): void {
  assert.equal(o.code, 0, o.stderr);
  const expected = TRIALS + retries;
  // Numbers 0..N-1, each once.
  assert.deepEqual(
    o.trials.map((t) => t.number),
    Array.from({ length: expected }, (_, i) => i),
  );
  assert.ok(
    o.trials.every((t) => t.state === 'complete' || t.state === 'fail'),
    JSON.stringify(o.trials.filter((t) => t.state !== 'complete' && t.state !== 'fail')),
  );
  // The killed worker's trial: failed by the heartbeat check, not completed by anyone.
  const killed = o.trials.find((t) => t.id === o.victim.id)!;
  assert.equal(killed.state, 'fail');
  assert.match(String(killed.systemAttrs.fail_reason), /heartbeat/);
  const failed = o.trials.filter((t) => t.state === 'fail');
  assert.deepEqual(
    failed.map((t) => t.number),
    [killed.number],
    'only the killed trial fails',
  );
  // Exactly TRIALS trials count: a retried failure is replaced by its retry.
  const counting = o.trials.filter((t) => t.systemAttrs.retried_by === undefined);
  assert.equal(counting.length, TRIALS);
  if (retries) {
    const retry = o.trials.find((t) => t.number === killed.systemAttrs.retried_by)!;
    assert.equal(retry.systemAttrs.retried_from, killed.number);
    assert.equal(retry.state, 'complete');
    assert.deepEqual(retry.params, killed.params);
  } else {
    assert.equal(killed.systemAttrs.retried_by, undefined);
  }
  // Each parameter set was evaluated once.
  const complete = o.trials.filter((t) => t.state === 'complete');
  assert.equal(new Set(complete.map((t) => JSON.stringify(t.params))).size, complete.length);
  const report = JSON.parse(o.stdout) as { nTrials: number; states: Record<string, number>; warnings: string[]; bestValue: number };
  assert.equal(report.nTrials, expected);
  assert.equal(report.states.complete, complete.length);
  assert.ok(
    report.warnings.some((w) => /killed by SIGKILL/.test(w)),
    o.stdout,
  );
  assert.equal(report.bestValue, Math.min(...complete.map((t) => t.params.x as number)));
}

describe('distributed tuning: 4 worker processes, one killed mid-trial', () => {
  it('SQLite: the killed trial fails by heartbeat and is retried; 200 trials count', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dist-'));
    try {
      checkOutcome(await runKilled(`sqlite:${join(dir, 'dist.db')}`, dir, 1), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: the killed trial fails by heartbeat (no retry); exactly 200 trials', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hone-dist-'));
    const schema = uniqueSchema('hone_dist');
    try {
      checkOutcome(await runKilled(`${PG_URL}?schema=${schema}`, dir, 0), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await dropSchema(schema);
    }
  });
});
