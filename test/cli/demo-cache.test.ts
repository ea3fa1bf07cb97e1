// The demo's cache of trained models (src/cli/commands/demo.ts) is pruned after a model is written: the
// most recently used few are kept, never the one in use, and nothing else in the folder is touched. A file
// that another demo removed meanwhile, or one that cannot be removed, does not stop the demo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheName, DEMO_CACHE_KEEP, pruneDemoCache } from '../../src/cli/commands/demo.js';

/** A folder with cached models named as the demo names them, each used `age` seconds before 2024-01-01. */
function cacheWith(entries: { name: string; age: number }[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'hone-demo-cache-'));
  const epoch = Date.UTC(2024, 0, 1) / 1000;
  for (const { name, age } of entries) {
    writeFileSync(join(dir, name), 'model');
    utimesSync(join(dir, name), epoch - age, epoch - age);
  }
  return dir;
}

test('keeps the most recently used models, the one in use among them however old, and nothing else is touched', () => {
  const names = {
    current: cacheName(8000),
    fewDigits: cacheName(256),
    older: cacheName(8000, '0.0.9'),
    oldest: cacheName(8000, '0.0.8'),
    ancient: cacheName(512, '0.0.1'),
  };
  assert.equal(new Set(Object.values(names)).size, 5);
  const dir = cacheWith([
    { name: names.fewDigits, age: 10 },
    { name: names.older, age: 20 },
    { name: names.oldest, age: 30 },
    { name: names.ancient, age: 40 },
    { name: names.current, age: 1000 },
  ]);
  try {
    // Another demo's model being written, and a file the user keeps there.
    const temporary = `.${names.current}.1234.lq2x.tmp`;
    writeFileSync(join(dir, temporary), 'partial');
    writeFileSync(join(dir, 'notes.onnx'), 'mine');
    const removed = pruneDemoCache(dir, join(dir, names.current), 3);
    assert.deepEqual(removed.sort(), [names.ancient, names.oldest].sort());
    assert.deepEqual(readdirSync(dir).sort(), [temporary, names.current, names.fewDigits, names.older, 'notes.onnx'].sort());
    // Within the limit: nothing more goes, and a second demo pruning after the first finds nothing to do.
    assert.deepEqual(pruneDemoCache(dir, join(dir, names.current), 3), []);
    // keep 1: only the model in use stays, though it is the oldest.
    assert.deepEqual(pruneDemoCache(dir, join(dir, names.current), 1).sort(), [names.fewDigits, names.older].sort());
    assert.deepEqual(readdirSync(dir).sort(), [temporary, names.current, 'notes.onnx'].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(DEMO_CACHE_KEEP, 3);
});

test('a model another demo removed meanwhile, one that cannot be removed, or no folder at all does not fail the prune', () => {
  const dir = cacheWith([
    { name: cacheName(100), age: 1 },
    { name: cacheName(200), age: 2 },
  ]);
  try {
    // Listed but gone by the time it is looked at (a link to a removed file).
    symlinkSync(join(dir, 'removed-by-another-demo'), join(dir, cacheName(300)));
    // Cannot be removed as a file (even by root): warned about, and the prune goes on.
    mkdirSync(join(dir, cacheName(400)));
    utimesSync(join(dir, cacheName(400)), 0, 0);
    const warnings: string[] = [];
    const removed = pruneDemoCache(dir, join(dir, cacheName(100)), 1, (m) => warnings.push(m));
    assert.deepEqual(removed, [cacheName(200)]);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0]!.startsWith(`could not remove the older cached model ${join(dir, cacheName(400))}: `), warnings[0]);
    assert.ok(readdirSync(dir).includes(cacheName(100)));
    assert.deepEqual(pruneDemoCache(join(dir, 'no-such-folder'), join(dir, 'x.onnx')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
