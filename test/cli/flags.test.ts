import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import { HoneError } from '../../src/errors.js';

const options = { lr: { type: 'string' as const }, out: { type: 'string' as const, short: 'o' }, quiet: { type: 'boolean' as const } };

test('a negative number after a value-taking flag is its value (long and short), not an ambiguous option', () => {
  const { values, positionals } = parseFlags('t', ['--lr', '-1e-3', '-o', '-2', 'pos', '--', '--lr', '-3'], options);
  assert.equal(values.lr, '-1e-3');
  assert.equal(values.out, '-2');
  assert.deepEqual(positionals, ['pos', '--lr', '-3']);
  // After a boolean flag a negative number stays an (unknown) option.
  assert.throws(
    () => parseFlags('t', ['--quiet', '-1'], options),
    (e: unknown) => e instanceof HoneError && /Unknown option '-1'/.test(e.message),
  );
});

test('parse errors are one line naming the command and its help', () => {
  assert.throws(
    () => parseFlags('t', ['--lr'], options),
    (e: unknown) =>
      e instanceof HoneError &&
      e.exitCode === 2 &&
      !e.message.includes('\n') &&
      /^t: Option '--lr <value>' argument missing; see 'hone t --help'$/.test(e.message),
  );
});

test('hone train --lr -1 reaches the learning rate check: one line, exit 2', async () => {
  const err: string[] = [];
  const code = await main(['train', '--model', 'zoo:lenet5', '--data', 'mnist', '--lr', '-1', '-o', '/tmp/hone-never-written.onnx'], {
    stdout: () => {},
    stderr: (s) => err.push(s),
    isTTY: false,
  });
  assert.equal(code, 2);
  const text = err.join('');
  assert.equal(text.trim().split('\n').length, 1, text);
  assert.match(text, /^hone: .*--lr.*-1/);
});

test('the example study cited by hone tune --help runs as shipped (examples/tune.yaml)', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['tune', 'examples/tune.yaml', '--trials', '4', '--json'], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    isTTY: false,
  });
  assert.equal(code, 0, err.join(''));
  const r = JSON.parse(out.join(''));
  assert.equal(r.nTrials, 4);
  assert.equal(r.states.fail, 0);
  assert.ok(r.bestValue > 0 && r.bestValue < 2);
});

test('the test runner fails a run with a skipped test under CI, and only there', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'hone-skip-'));
  const file = join(dir, 'one.test.ts');
  writeFileSync(file, "import { test } from 'node:test';\ntest('runs', () => {});\ntest('skipped', { skip: 'no reason' }, () => {});\n");
  // NODE_TEST_CONTEXT would make the inner runner report to this one instead of printing its counts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
  const run = (ci: boolean) =>
    spawnSync(process.execPath, ['scripts/test.mjs', file], { encoding: 'utf8', env: { ...env, CI: ci ? 'true' : '' } });
  const local = run(false);
  assert.equal(local.status, 0, local.stdout);
  assert.match(local.stdout, /1 test\(s\) skipped\n/);
  const ci = run(true);
  assert.equal(ci.status, 1);
  assert.match(ci.stdout, /1 test\(s\) skipped: failing, since CI runs every test/);
});
