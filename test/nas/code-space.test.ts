// Search spaces in code (nas/code-space.ts): a module's options and model() loaded and checked, the
// architecture names read back to the same options, costs counted for them as for zoo architectures, and
// every malformed module refused in one line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { architectureName, buildCodeArchitecture, codeArchitecture, loadCodeSpace } from '../../src/nas/code-space.js';
import { architectureCosts } from '../../src/nas/latency-model.js';
import { HoneError } from '../../src/errors.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hone-code-space-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a module and returns its path (each test its own file: a module is imported once per process). */
function module(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const MLP_SPACE = `
export const space = { hidden: ['64', '128-64'], depth: { type: 'int', low: 1, high: 3 }, wide: [true, false] };
export const reference = { hidden: '128-64', depth: 2, wide: false };
export function model(o, { zoo }) {
  const widths = o.wide ? o.hidden.split('-').map((w) => 2 * w).join('-') : o.hidden;
  return zoo('mlp:hidden=' + Array.from({ length: o.depth }, () => widths).join('-'));
}
`;

test('a module: its options as the tuner distributions, its reference, and model() built from an architecture name', async () => {
  const path = module('mlp.mjs', MLP_SPACE);
  const cs = await loadCodeSpace(path);
  assert.deepEqual(cs.space, {
    hidden: { type: 'categorical', choices: ['64', '128-64'] },
    depth: { type: 'int', low: 1, high: 3, log: false, step: 1 },
    wide: { type: 'categorical', choices: [true, false] },
  });
  assert.deepEqual(cs.reference, { hidden: '128-64', depth: 2, wide: false });
  assert.equal(await loadCodeSpace(path), cs, 'imported once per process');

  // The name lists the options as zoo names do; read back, the values have their own types again.
  const name = architectureName(`code:${path}`, [
    ['hidden', '64'],
    ['depth', 2],
    ['wide', true],
  ]);
  assert.equal(name, `code:${path}:hidden=64,depth=2,wide=true`);
  assert.deepEqual(codeArchitecture(name)!.options, { hidden: '64', depth: 2, wide: true });
  // hidden 64 doubled, twice: 784 → 128 → 128 → 10.
  const m = buildCodeArchitecture(name)!;
  const gemms = m.graph!.node.filter((n) => n.opType === 'Gemm').length;
  assert.equal(gemms, 3);
  const costs = architectureCosts(name)!;
  assert.equal(costs.macs, 784 * 128 + 128 * 128 + 128 * 10);
  assert.equal(costs.parameters, 785 * 128 + 129 * 128 + 129 * 10);
  // Names of zoo architectures are unchanged; a module not loaded here gives no architecture.
  assert.equal(architectureName('zoo:mlp', [['hidden', '64']]), 'zoo:mlp:hidden=64');
  assert.equal(codeArchitecture(`code:${join(dir, 'other.mjs')}:a=1`), undefined);
});

test('model() that throws or returns no model: the trial fails with the reason, not the search', async () => {
  const cs = await loadCodeSpace(
    module(
      'bad-build.mjs',
      "export const space = { n: [1, 2] };\nexport function model(o) { if (o.n === 2) throw new Error('two is not allowed'); return {}; }\n",
    ),
  );
  assert.throws(() => cs.build({ n: 2 }), /model\(\{"n":2\}\) in .*bad-build\.mjs threw: two is not allowed/);
  assert.throws(() => cs.build({ n: 1 }), /did not return an ONNX model \(a ModelProto with a graph\)/);
});

test('malformed modules are refused in one line that names the fix', async () => {
  const cases: [string, string, RegExp][] = [
    ['no-model.mjs', 'export const space = { a: [1, 2] };', /must export function model\(options, \{ zoo, GraphBuilder \}\)/],
    ['no-space.mjs', 'export function model() {}', /must export space = \{ OPTION: \[choices…\]/],
    ['empty.mjs', 'export const space = {};\nexport function model() {}', /exports an empty space/],
    [
      'bad-range.mjs',
      "export const space = { a: { type: 'int', low: 4, high: 1 } };\nexport function model() {}",
      /option a: .*low \(4\) is greater than high \(1\)/,
    ],
    ['bad-kind.mjs', "export const space = { a: 'wide' };\nexport function model() {}", /option a must be a list of choices or \{ type:/],
    ['comma.mjs', "export const space = { a: ['1,2'] };\nexport function model() {}", /choice '1,2' holds ',', '=' or ':'/],
    [
      'bad-ref.mjs',
      'export const space = { a: [1, 2] };\nexport const reference = { a: 3 };\nexport function model() {}',
      /reference\.a is 3, not in the space's a/,
    ],
    ['syntax.mjs', 'export const space = {', /could not be imported: /],
  ];
  for (const [file, text, re] of cases) {
    const path = module(file, text);
    await assert.rejects(
      loadCodeSpace(path),
      (e: unknown) => e instanceof HoneError && re.test(e.message) && !e.message.includes('\n'),
      file,
    );
  }
  await assert.rejects(loadCodeSpace(join(dir, 'missing.mjs')), /space module .*missing\.mjs does not exist/);
});
