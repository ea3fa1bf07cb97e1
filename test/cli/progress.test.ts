// Progress without a terminal (deliverable: `hone … | tee log` shows progress as it happens): the long
// commands print plain lines to stderr, no carriage returns, also with --json (stdout stays one JSON
// object); --quiet silences them. Spawned, so stdout and stderr are real pipes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHone } from '../helpers/spawn.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-progress-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command piped, then again with --quiet; returns the progress lines of the first run. */
async function progressOf(argv: string[]): Promise<string[]> {
  const r = await runHone([...argv, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'stdout is one JSON object');
  JSON.parse(r.stdout);
  assert.ok(!r.stderr.includes('\r'), 'no carriage returns when piped');
  assert.ok(!r.stderr.includes('\x1b'), 'no terminal escapes when piped');
  const quiet = await runHone([...argv, '--json', '--quiet']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '', '--quiet prints nothing on stderr');
  JSON.parse(quiet.stdout);
  return r.stderr.trimEnd().split('\n');
}

test('profile: a line per batch size measured', async () => {
  const lines = await progressOf(['profile', 'zoo:mlp:hidden=16', '--batch-sizes', '1,4', '--runs', '2', '--warmup', '1']);
  assert.ok(
    lines.some((l) => /^… batch 1: 1 warm-up \+ 2 timed runs/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^… batch 4: 1 warm-up \+ 2 timed runs/.test(l)),
    lines.join('\n'),
  );
});

test('quantize: accuracy guard, calibration, evaluation and timing lines', async () => {
  const lines = await progressOf([
    'quantize',
    'zoo:lenet5',
    '-o',
    join(dir, 'q.onnx'),
    '--mode',
    'static',
    '--samples',
    '32',
    '--batch-sizes',
    '1',
    '--runs',
    '2',
    '--warmup',
    '1',
  ]);
  assert.deepEqual(
    lines.map((l) => l.replace(/ \(.*$| on .*$/, '')),
    [
      '… accuracy guard: checking the drop',
      '… evaluating with every layer quantized',
      '… calibrating',
      '… drop 0.000',
      '… comparing outputs',
      '… timing float and quantized side by side',
    ],
  );
});

test('train: one line per epoch', async () => {
  const lines = await progressOf([
    'train',
    '--model',
    'zoo:mlp:hidden=16',
    '--data',
    'mnist',
    '--limit',
    '256',
    '--epochs',
    '2',
    '-o',
    join(dir, 't.onnx'),
  ]);
  // After the epochs, at most one more line: whether training was input-bound (this tiny MLP's steps are short).
  const epochs = lines.filter((l) => !l.startsWith('hone: input-bound: '));
  assert.ok(lines.length - epochs.length <= 1, lines.join('\n'));
  assert.equal(epochs.length, 2, lines.join('\n'));
  assert.match(lines[0]!, /^epoch 1 {2}loss \d+\.\d{4} {2}acc /);
  assert.match(lines[1]!, /^epoch 2 {2}loss /);
});

test('lr-find: a line every tenth of the sweep', async () => {
  const lines = await progressOf([
    'lr-find',
    '--model',
    'zoo:mlp:hidden=16',
    '--data',
    'mnist',
    '--limit',
    '512',
    '--steps',
    '20',
    '--end',
    '1e-2',
  ]);
  assert.deepEqual(
    lines.map((l) => /^… step (\d+)\/20: lr \d\.\d\de[-+]\d+, loss \d+\.\d{4}$/.exec(l)?.[1]),
    ['2', '4', '6', '8', '10', '12', '14', '16', '18', '20'],
  );
});
