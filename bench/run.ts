/**
 * `npm run bench -- NAME [flags]` runs one benchmark of this folder (bench/NAME.ts) with its flags;
 * `npm run bench` alone lists them with the first line of each one's description. Each benchmark prints
 * markdown tables for docs/benchmarks.md; run them on a quiet machine (they compare side by side, but two
 * cores shared with a build still move the numbers).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();

/** The first sentence of the file's leading doc comment, cut to 100 characters. */
function summary(name: string): string {
  const text = readFileSync(join(dir, `${name}.ts`), 'utf8');
  const doc = /^\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
  const flat = doc
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .filter(Boolean)
    .join(' ');
  const first = /^(.*?[.?!])(\s|$)/.exec(flat)?.[1] ?? flat;
  return first.length > 100 ? `${first.slice(0, 99)}…` : first;
}

const [name, ...rest] = process.argv.slice(2);
if (!name) {
  console.log('usage: npm run bench -- NAME [flags]   (flags: see the header of bench/NAME.ts)\n');
  for (const b of benches) console.log(`  ${b.padEnd(16)} ${summary(b)}`);
  process.exit(0);
}
if (!benches.includes(name)) {
  console.error(`hone: no benchmark '${name}'; choose one of ${benches.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, `${name}.ts`), ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
