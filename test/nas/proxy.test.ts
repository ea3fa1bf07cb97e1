// The NASWOT zero-cost proxy: log |det| by LU against known determinants, the score deterministic and
// finite for a working network, and −Infinity for one whose units never switch on (no sample told apart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logAbsDet, naswotScore } from '../../src/nas/proxy.js';
import { zooModel } from '../../src/zoo/index.js';
import { mnist } from '../../src/data/mnist.js';
import { floatTensor, tensorArray } from '../../src/ir/tensor.js';

test('logAbsDet: LU with pivoting against known determinants', () => {
  assert.ok(Math.abs(logAbsDet(Float64Array.from([2, 0, 0, 3]), 2) - Math.log(6)) < 1e-12);
  // A pivot is needed (a zero in the corner): det [[0,1],[2,3]] = -2.
  assert.ok(Math.abs(logAbsDet(Float64Array.from([0, 1, 2, 3]), 2) - Math.log(2)) < 1e-12);
  assert.ok(
    Math.abs(
      logAbsDet(Float64Array.from([4, 3, 6, 3, 2, 1, 1, 5, 7]), 3) - Math.log(Math.abs(4 * (2 * 7 - 5) - 3 * (3 * 7 - 1) + 6 * (15 - 2))),
    ) < 1e-9,
  );
  assert.equal(logAbsDet(Float64Array.from([1, 2, 2, 4]), 2), Number.NEGATIVE_INFINITY);
});

test('naswotScore: deterministic and finite for LeNet-5; −Infinity when no unit ever switches on', async () => {
  const data = mnist().train;
  const m = zooModel('zoo:lenet5');
  const a = await naswotScore(m, data, 32);
  assert.ok(Number.isFinite(a) && a > 0, `score ${a}`);
  assert.equal(await naswotScore(m, data, 32), a);
  // conv1 with a large negative bias: every ReLU after it is off for every sample, and so is everything
  // downstream of those zeros but fc biases: codes then differ only where biases alone switch units on,
  // the same for every sample, so K is all one value: singular.
  const dead = structuredClone(m);
  dead.graph!.initializer = dead.graph!.initializer.map((t) =>
    t.name === 'conv1.bias' || t.name === 'conv2.bias' || t.name === 'fc1.bias' || t.name === 'fc2.bias'
      ? floatTensor(t.name!, t.dims.map(Number), new Float32Array((tensorArray(t) as Float32Array).length).fill(-1e6))
      : t,
  );
  assert.equal(await naswotScore(dead, data, 32), Number.NEGATIVE_INFINITY);
  await assert.rejects(naswotScore(zooModel('zoo:lenet5'), { ...data, size: 1 }, 32), /at least 2 samples/);
});
