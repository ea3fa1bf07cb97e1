import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { paramImportance } from '../../src/tune/importance.js';
import { mulberry32 } from '../../src/util/random.js';
import type { FrozenTrial, Distribution } from '../../src/tune/types.js';

const X: Distribution = { type: 'float', low: 0, high: 1, log: false };
const LR: Distribution = { type: 'float', low: 1e-5, high: 1, log: true };
const K: Distribution = { type: 'int', low: 1, high: 8, log: false, step: 1 };
const C: Distribution = { type: 'categorical', choices: ['a', 'b', 'c'] };

function trials(n: number, f: (p: Record<string, number | string>) => number, seed = 1): FrozenTrial[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const params = {
      x: r(),
      lr: Math.exp(Math.log(1e-5) + r() * Math.log(1e5)),
      k: 1 + Math.floor(r() * 8),
      c: ['a', 'b', 'c'][Math.floor(r() * 3)]!,
    };
    return {
      id: i,
      number: i,
      state: 'complete',
      values: [f(params)],
      params,
      distributions: { x: X, lr: LR, k: K, c: C },
      intermediateValues: {},
      userAttrs: {},
      systemAttrs: {},
    } satisfies FrozenTrial;
  });
}

describe('PED-ANOVA parameter importance', () => {
  it('finds the one parameter that matters and normalizes to 1', () => {
    const imp = paramImportance(
      trials(200, (p) => ((p.x as number) - 0.3) ** 2),
      ['minimize'],
    );
    assert.deepEqual(Object.keys(imp).sort(), ['c', 'k', 'lr', 'x']);
    assert.equal(Object.keys(imp)[0], 'x');
    assert.ok(imp.x! > 0.6, JSON.stringify(imp));
    assert.ok(Math.abs(Object.values(imp).reduce((s, v) => s + v, 0) - 1) < 1e-9);
  });

  it('ranks a log-scale, an int and a categorical parameter, and honours maximize', () => {
    const f = (p: Record<string, number | string>) => -Math.abs(Math.log10(p.lr as number) + 3) - (p.c === 'b' ? 0 : 5);
    const imp = paramImportance(trials(300, f, 7), ['maximize']);
    const order = Object.keys(imp);
    assert.deepEqual(new Set(order.slice(0, 2)), new Set(['lr', 'c']), JSON.stringify(imp));
    const onlyK = paramImportance(
      trials(300, (p) => Math.abs((p.k as number) - 6), 3),
      ['minimize'],
    );
    assert.equal(Object.keys(onlyK)[0], 'k', JSON.stringify(onlyK));
  });

  it('returns nothing for too few trials, and skips failed trials', () => {
    assert.deepEqual(
      paramImportance(
        trials(3, (p) => p.x as number),
        ['minimize'],
      ),
      {},
    );
    const ts = trials(50, (p) => p.x as number);
    for (const t of ts.slice(0, 48)) t.state = 'fail';
    assert.deepEqual(paramImportance(ts, ['minimize']), {});
  });
});
