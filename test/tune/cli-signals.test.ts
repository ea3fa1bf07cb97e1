// Interrupting `hone tune` with worker processes, sent to real processes: SIGINT to the parent alone,
// SIGTERM to the whole process group, and SIGKILL to the parent. Every worker and every objective command
// must go (no orphans), no trial may stay 'running', and the interrupted trials must be re-queued so that
// `--resume` runs them at once: the heartbeat grace is 300 s, longer than the tests may take, so a trial
// left for the heartbeat check would hang the resume instead of finishing it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../../src/tune/storage/open.js';
import type { FrozenTrial } from '../../src/tune/types.js';
import { spawnHone } from '../helpers/spawn.js';

const TRIALS = 6;

/** Waits for `f`; the deadline only guards against a hang. */
async function until(what: string, f: () => boolean | Promise<boolean>, seconds = 90): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await f())) {
    if (Date.now() > end) assert.fail(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every process below `root`, from /proc. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.replace(/^.*\) /s, '').split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length)
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  return out;
}

/**
 * Running, as opposed to gone or a zombie: a process whose parent exited first stays a zombie until PID 1
 * reaps it, which a container's PID 1 may never do, and a zombie has stopped running.
 */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

function describeProcess(pid: number): string {
  try {
    return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`;
  } catch {
    return `${pid}: gone`;
  }
}

/**
 * A study of TRIALS trials on SQLite with 2 worker processes whose objective (a shell running `sleep`)
 * blocks until the file `release` exists. Resolves once both workers run a trial, with the processes
 * below the parent at that moment.
 */
async function startBlockedStudy(dir: string, detached = false, extra: string[] = []) {
  const script = join(dir, 'objective.sh');
  writeFileSync(
    script,
    [
      'touch "$HONE_TRIAL_NUMBER.started"',
      `while [ ! -f ${JSON.stringify(join(dir, 'release'))} ]; do sleep 0.1; done`,
      'echo "{\\"value\\": $HONE_PARAM_X}"',
    ].join('\n'),
  );
  const config = join(dir, 'sig.yaml');
  writeFileSync(
    config,
    [
      'study: sig',
      `objective: { command: "sh ${script}" }`,
      'space: { x: { type: float, low: 0, high: 1 } }',
      'sampler: { name: random, seed: 4 }',
      `trials: ${TRIALS}`,
      'workers: 2',
      'heartbeat: { interval: 1, grace: 300 }',
    ].join('\n'),
  );
  const db = join(dir, 'sig.db');
  const run = spawnHone(['tune', config, '--storage', `sqlite:${db}`, ...extra], { detached });
  await until('two running trials', () => readdirSync(dir).filter((f) => f.endsWith('.started')).length === 2);
  const tree = descendants(run.p.pid!);
  // Two workers, and each one's shell and sleep (tsx adds an esbuild service per process).
  assert.ok(tree.filter((pid) => /worker-entry/.test(describeProcess(pid))).length === 2, tree.map(describeProcess).join('\n'));
  assert.ok(tree.filter((pid) => /objective\.sh/.test(describeProcess(pid))).length >= 2, tree.map(describeProcess).join('\n'));
  return { run, tree, db };
}

async function trialsOf(db: string): Promise<FrozenTrial[]> {
  const s = await openStorage(`sqlite:${db}`);
  try {
    return await s.getAllTrials((await s.getStudyId('sig'))!);
  } finally {
    await s.close();
  }
}

/** No process of the tree runs any more, and the interrupted trials were failed and re-queued with their params. */
async function checkStopped(tree: number[], db: string, reason: string): Promise<FrozenTrial[]> {
  await until('every worker and command to exit', () => tree.every((pid) => !alive(pid)), 30).catch((e) => {
    assert.fail(`${(e as Error).message}; still running:\n${tree.filter(alive).map(describeProcess).join('\n')}`);
  });
  const trials = await trialsOf(db);
  assert.deepEqual(
    trials.filter((t) => t.state === 'running').map((t) => t.number),
    [],
    'no trial left running',
  );
  const interrupted = trials.filter((t) => t.state === 'fail');
  assert.equal(interrupted.length, 2, JSON.stringify(trials.map((t) => [t.number, t.state])));
  for (const t of interrupted) {
    assert.equal(t.systemAttrs.fail_reason, `interrupted by ${reason}; re-queued with the same params`);
    const retry = trials.find((r) => r.number === t.systemAttrs.retried_by)!;
    assert.equal(retry.state, 'waiting');
    assert.deepEqual(retry.params, t.params);
  }
  return trials;
}

/** Runs `fn` on a blocked study in a fresh folder; whatever survives a failing test is killed after it. */
async function withBlockedStudy(
  detached: boolean,
  extra: string[],
  fn: (s: Awaited<ReturnType<typeof startBlockedStudy>> & { dir: string }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hone-tune-signals-'));
  let started: Awaited<ReturnType<typeof startBlockedStudy>> | undefined;
  try {
    started = await startBlockedStudy(dir, detached, extra);
    await fn({ ...started, dir });
  } finally {
    // Only processes that are still this study's (their command line names its folder): a pid may have been reused.
    for (const pid of [started?.run.p.pid ?? 0, ...(started?.tree ?? [])]) {
      if (pid > 0 && alive(pid) && describeProcess(pid).includes(dir)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('hone tune: interrupts stop the whole worker tree', () => {
  it('SIGINT to the parent alone: exit 130, no orphans, trials re-queued, and the printed --resume finishes the study', {
    timeout: 180_000,
  }, async () => {
    await withBlockedStudy(false, [], async ({ run, tree, db, dir }) => {
      run.p.kill('SIGINT');
      const { code } = await run.exit;
      assert.equal(code, 130, run.err());
      await checkStopped(tree, db, 'SIGINT');
      const last = run.err().trim().split('\n').pop()!;
      assert.match(
        last,
        /^hone: interrupted \(SIGINT\): 0 trial\(s\) complete in sqlite:.*sig\.db \(study 'sig'\); 2 trial\(s\) queued to run first on resume; resume with: hone tune --resume --study sig --storage sqlite:\S+sig\.db$/,
      );
      assert.doesNotMatch(run.err(), /\r/);
      // Piped progress: one line per finished trial, here the two interrupted ones.
      assert.equal(
        run
          .err()
          .split('\n')
          .filter((l) => /^… tune sig: trial \d failed: interrupted by SIGINT/.test(l)).length,
        2,
        run.err(),
      );

      writeFileSync(join(dir, 'release'), '');
      const resumed = spawnHone([...last.replace(/^.*resume with: hone /, '').split(' '), '--json']);
      const done = await resumed.exit;
      assert.equal(done.code, 0, resumed.err());
      const report = JSON.parse(resumed.out()) as { nTrials: number; states: Record<string, number> };
      assert.equal(report.states.complete, TRIALS);
      assert.equal(report.nTrials, TRIALS + 2, 'the two interrupted trials stay as failed, replaced by their retries');
      const trials = await trialsOf(db);
      for (const t of trials.filter((x) => x.state === 'fail')) {
        assert.equal(trials.find((r) => r.number === t.systemAttrs.retried_by)!.state, 'complete');
      }
    });
  });

  it('SIGTERM to the whole process group: exit 143, no orphans, trials re-queued; --json says so too', { timeout: 180_000 }, async () => {
    await withBlockedStudy(true, ['--json'], async ({ run, tree, db }) => {
      process.kill(-run.p.pid!, 'SIGTERM');
      const { code } = await run.exit;
      assert.equal(code, 143, run.err());
      await checkStopped(tree, db, 'SIGTERM');
      const resume =
        /\nhone: interrupted \(SIGTERM\): 0 trial\(s\) complete .*; resume with: (hone tune --resume --study sig --storage \S+)\n$/.exec(
          run.err(),
        );
      assert.ok(resume, run.err());
      const report = JSON.parse(run.out()) as { interrupted: string; resume: string; states: Record<string, number> };
      assert.deepEqual(
        [report.interrupted, report.resume, report.states.fail, report.states.waiting, report.states.running],
        ['SIGTERM', resume[1], 2, 2, 0],
      );
    });
  });

  it('SIGKILL to the parent: the workers see it gone, stop their commands and re-queue their trials', { timeout: 180_000 }, async () => {
    await withBlockedStudy(false, [], async ({ run, tree, db }) => {
      run.p.kill('SIGKILL');
      assert.equal((await run.exit).signal, 'SIGKILL');
      const trials = await checkStopped(tree, db, 'the end of the hone tune process that started this worker');
      assert.equal(trials.length, 4);
    });
  });
});
