import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logGaussMass, logNdtr, ndtr, ndtri, ndtriExp, truncnormPpf } from '../../src/tune/samplers/normal.js';

const close = (a: number, b: number, rel: number, msg = '') =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(1e-300, Math.abs(b)), `${msg} ${a} vs ${b}`);

test('Φ and log Φ match reference values, also deep in the tails', () => {
  close(ndtr(0), 0.5, 1e-15);
  close(ndtr(1), 0.8413447460685429, 1e-13);
  close(ndtr(-1.96), 0.024997895148220435, 1e-12);
  close(ndtr(-5), 2.866515718791939e-7, 1e-12);
  close(logNdtr(-10), -53.23128515051247, 1e-12);
  close(logNdtr(-40), -804.6084420137538, 1e-12);
  close(logNdtr(3), Math.log(0.9986501019683699), 1e-12);
  close(logNdtr(10), -7.61985302416047e-24, 1e-6);
});

test('ndtri and ndtriExp invert Φ and log Φ', () => {
  for (const p of [1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.77, 0.999, 1 - 1e-12]) close(ndtr(ndtri(p)), p, 1e-10, `p=${p}`);
  for (const y of [-2000, -700, -50, -3, -0.5, -1e-9]) close(logNdtr(ndtriExp(y)), y, 1e-10, `y=${y}`);
});

test('log Gaussian mass of intervals is accurate on both sides and in the middle', () => {
  close(logGaussMass(-1, 1), Math.log(0.6826894921370859), 1e-12);
  close(logGaussMass(30, 31), logNdtr(-30) + Math.log1p(-Math.exp(logNdtr(-31) - logNdtr(-30))), 1e-10);
  close(logGaussMass(-31, -30), logGaussMass(30, 31), 1e-12);
});

test('truncated normal quantiles stay in [a, b] and are monotone', () => {
  for (const [a, b] of [
    [-1, 1],
    [5, 9],
    [-40, -38],
    [0.1, 0.2],
  ] as const) {
    let prev = -Infinity;
    for (let q = 0.001; q < 1; q += 0.05) {
      const x = truncnormPpf(q, a, b);
      assert.ok(x >= a && x <= b && x >= prev, `q=${q} a=${a} b=${b} x=${x}`);
      prev = x;
    }
  }
  assert.ok(Math.abs(truncnormPpf(0.5, -1, 1)) < 1e-12);
});
