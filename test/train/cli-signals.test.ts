// Ctrl-C in `hone train`, sent to a real process: it stops after the current step, writes nothing to -o,
// keeps the last finished epoch's checkpoint and prints the command that resumes; that command finishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHone } from '../helpers/spawn.js';

async function until(what: string, f: () => boolean, seconds = 120): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!f()) {
    if (Date.now() > end) assert.fail(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("SIGINT during hone train: no output model, the finished epoch's checkpoint kept, a resume command that works", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hone-train-sigint-'));
  const out = join(dir, 'lenet.onnx');
  const ck = join(dir, 'ck');
  // Piped (no TTY): one plain line per epoch on stderr, which also tells us when epoch 1 is done.
  const args = [
    'train',
    '--model',
    'zoo:lenet5',
    '--data',
    'mnist',
    '--limit',
    '512',
    '--epochs',
    '200',
    '--batch-size',
    '32',
    '--checkpoint',
    ck,
    '-o',
    out,
  ];
  const run = spawnHone(args);
  await until('the first epoch line', () => /^epoch 1 /m.test(run.err()));
  assert.doesNotMatch(run.err(), /\r/, 'piped progress has no carriage returns');
  run.p.kill('SIGINT');
  const { code } = await run.exit;
  assert.equal(code, 130, run.err());
  const last = run.err().trim().split('\n').pop()!;
  assert.match(
    last,
    /^hone: interrupted \(SIGINT\) at step \d+; nothing written to .*lenet\.onnx; the checkpoint of epoch \d+ is in .*; resume with: hone train .* --resume$/,
  );
  assert.ok(!existsSync(out), 'no partial output model');
  const epochs = Number(/the checkpoint of epoch (\d+)/.exec(last)![1]);
  assert.ok(epochs >= 1 && epochs < 200);

  // The printed command, with fewer epochs so it ends, resumes from that checkpoint.
  const resumeArgs = last
    .replace(/^.*resume with: hone /, '')
    .split(' ')
    .map((w) => (w === '200' ? String(epochs + 1) : w));
  const resumed = spawnHone(resumeArgs);
  assert.equal((await resumed.exit).code, 0, resumed.err());
  assert.ok(existsSync(out));
  assert.match(resumed.out(), new RegExp(`trained ${epochs + 1} epoch`));
  assert.ok(readFileSync(out).length > 1000);
});
