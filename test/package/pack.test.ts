import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball installed into
 * an empty project, then the `hone` binary, a profile and a TypeScript program that imports the API by the
 * package's name. It packs a copy of the tree, so the work tree's own dist/ is never rewritten under other tests.
 * The install skips install scripts: no download of ORT's GPU libraries, no compile of better-sqlite3 — so it
 * also shows that everything but SQLite storage works without better-sqlite3's native module.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
// Dependencies come from npm's cache (filled by `npm ci`); the registry is asked only for what is missing.
const offline = ['--prefer-offline', '--no-audit', '--no-fund'];

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}${r.error ? ` (${r.error.message})` : ''}:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

test('the npm tarball installs into an empty project and runs: hone --version, a profile, the typed API', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'hone-pack-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  // A copy of the tree without node_modules (linked), .git and any built dist/; a .scratch/ file stands for
  // the dev-only paths the tarball must leave out.
  const tree = join(tmp, 'tree');
  const skip = new Set(['node_modules', '.git', 'dist', '.scratch']);
  cpSync(repo, tree, { recursive: true, filter: (src) => !skip.has(relative(repo, src).split(/[\\/]/)[0]!) });
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'), 'junction');
  mkdirSync(join(tree, '.scratch'));
  writeFileSync(join(tree, '.scratch', 'note.ts'), '// scratch\n');

  const packed = ok(run('npm', ['pack', '--json', '--pack-destination', tmp], tree, 300_000), 'npm pack');
  const [info] = JSON.parse(packed.slice(packed.search(/^\[$/m))) as { filename: string; files: { path: string }[] }[];
  const paths = info!.files.map((f) => f.path);
  for (const need of [
    'package.json',
    'README.md',
    'dist/cli/bin.js',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/runtime/measure-worker.js',
    'dist/dashboard/public/index.html',
    'dist/dashboard/public/app.js',
  ]) {
    assert.ok(paths.includes(need), `the tarball lacks ${need}`);
  }
  const devOnly = paths.filter(
    (p) => /^(test|bench|scripts|src|\.scratch|\.ci|node_modules)\//.test(p) || (/\.(ts|map)$/.test(p) && !p.endsWith('.d.ts')),
  );
  assert.deepEqual(devOnly, [], 'dev-only paths in the tarball');

  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  ok(
    run('npm', ['install', join(tmp, basename(info!.filename)), '--ignore-scripts', ...offline], app, 300_000),
    'npm install of the tarball',
  );

  // The binary, by its name, from the project.
  assert.equal(ok(run('npx', ['--no-install', 'hone', '--version'], app), 'hone --version').trim(), pkg.version);
  const report = JSON.parse(
    ok(run('npx', ['--no-install', 'hone', 'profile', 'zoo:lenet5', '--runs', '3', '--json'], app), 'hone profile'),
  );
  assert.equal(report.model.source, 'zoo:lenet5');
  assert.ok(report.params > 0 && report.macs > 0, JSON.stringify(report).slice(0, 300));
  assert.ok(report.batches.length > 0);
  for (const b of report.batches) assert.ok(b.latencyMs.p50 > 0 && b.latencyMs.runs >= 3, JSON.stringify(b.latencyMs));
  assert.ok('bottleneck' in report);

  // The same binary through its link; without better-sqlite3's native module only SQLite storage is refused,
  // in one line that says how to build it.
  const hone = join(app, 'node_modules', '.bin', 'hone');
  const sqlite = run(hone, ['tune', '--objective', 'bench:branin', '--trials', '2', '--storage', 'sqlite:s.db'], app);
  assert.equal(sqlite.status, 2, sqlite.stderr);
  assert.match(sqlite.stderr, /^hone: SQLite storage needs better-sqlite3's native module.*npm rebuild better-sqlite3.*\n$/);

  // The dashboard starts from the installed package (its page and ECharts resolved there) and stops cleanly.
  const dash = run(hone, ['dashboard', '--logs', '.', '--port', '0', '--stop-after', '0.3s'], app);
  assert.equal(dash.status, 0, dash.stderr);
  assert.match(dash.stderr, /open http:\/\/127\.0\.0\.1:\d+\/\?token=/);

  // The GPU recipe names the install script of the onnxruntime-node this project has (no GPU libraries: scripts were skipped).
  if (`${process.platform}/${process.arch}` === 'linux/x64') {
    const cuda = run(hone, ['profile', 'zoo:lenet5', '--provider', 'cuda'], app);
    assert.equal(cuda.status, 2, cuda.stderr);
    const script = join(app, 'node_modules', 'onnxruntime-node', 'script', 'install.js');
    assert.ok(existsSync(script));
    assert.ok(cuda.stderr.includes(`'node ${script} --onnxruntime-node-install-cuda=v12'`), cuda.stderr);
  }

  // The library, typed, by the package's name: the README's example (on a saved zoo model), compiled by this repo's
  // TypeScript against the installed declarations (skipLibCheck off, so they must hold together with only the
  // package's dependencies), then run.
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const example = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes(`from '${pkg.name}'`));
  assert.ok(example?.includes(`loadModel('model.onnx')`), 'the README has no library example that loads model.onnx');
  writeFileSync(
    join(app, 'main.ts'),
    [
      `import { saveModel, zooModel, type ProfileReport } from '${pkg.name}';`,
      `saveModel(zooModel('lenet5'), 'model.onnx');`,
      example,
      `const typed: ProfileReport = report;`,
      `console.log(JSON.stringify({ params: typed.params, batches: typed.batches.map((b) => b.batchSize) }));`,
    ].join('\n'),
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        outDir: 'out',
      },
      files: ['main.ts'],
    }),
  );
  ok(
    run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app, 300_000),
    'tsc of the README example',
  );
  const out = ok(run(process.execPath, [join('out', 'main.js')], app), 'the README example')
    .trimEnd()
    .split('\n');
  assert.match(out[0]!, /^model\s+lenet5\b/);
  assert.deepEqual(JSON.parse(out.at(-1)!), { params: report.params, batches: [1, 8] });
});
