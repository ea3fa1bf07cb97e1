// Window arithmetic (Conv, ConvTranspose, MaxPool, AveragePool) and Slice on seeded random configurations:
// the inferred output shapes equal ORT's for every one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type AttrValue } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import { inferShapes } from '../../src/ops/infer.js';

/** A small deterministic generator (LCG), so a failure names a reproducible case. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (lo: number, hi: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  };
}

interface Config {
  op: string;
  x: number[];
  w?: number[];
  attrs: Record<string, AttrValue>;
}

function randomConfig(r: (lo: number, hi: number) => number): Config {
  const ops = ['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool'];
  const op = ops[r(0, 3)]!;
  const n = r(1, 2);
  const k = Array.from({ length: n }, () => r(1, 4));
  const s = Array.from({ length: n }, () => r(1, 3));
  const d = Array.from({ length: n }, () => (op === 'AveragePool' ? 1 : r(1, 2)));
  // Pools need pads smaller than the kernel.
  const pads = [...k, ...k].map((kk) => r(0, op.endsWith('Pool') ? kk - 1 : 2));
  const sizes = k.map((kk, i) => d[i]! * (kk - 1) + 1 + r(0, 6));
  const c = r(1, 2) * 2;
  const attrs: Record<string, AttrValue> = { strides: s };
  if (op !== 'AveragePool') attrs.dilations = d;
  const autoPad = r(0, 3);
  if (autoPad === 1 && op !== 'ConvTranspose') {
    attrs.auto_pad = 'SAME_UPPER';
    if (op !== 'AveragePool') attrs.dilations = d.map(() => 1); // ORT runs SAME padding without dilation only
  } else if (autoPad === 2 && op !== 'ConvTranspose') attrs.auto_pad = 'VALID';
  else attrs.pads = pads;
  if (op.endsWith('Pool')) {
    attrs.kernel_shape = k;
    if (!attrs.auto_pad && r(0, 1)) attrs.ceil_mode = 1;
    return { op, x: [1, c, ...sizes], attrs };
  }
  const group = r(1, 2);
  if (op === 'ConvTranspose') {
    // output_padding must be smaller than the stride or the dilation.
    attrs.output_padding = s.map((st, i) => r(0, Math.max(st, d[i]!) - 1));
    return { op, x: [1, c, ...sizes], w: [c, r(1, 2), ...k], attrs: { ...attrs, group } };
  }
  return { op, x: [1, c, ...sizes], w: [r(1, 3) * group, c / group, ...k], attrs: { ...attrs, group } };
}

test('60 random conv/pool configurations: inferred shapes equal ORT output shapes', async () => {
  const r = rng(20261128);
  for (let i = 0; i < 60; i++) {
    const cfg = randomConfig(r);
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, cfg.x);
    const inputs = [x];
    if (cfg.w) inputs.push(b.floatInit('w', cfg.w, new Float32Array(cfg.w.reduce((p, v) => p * v, 1)).fill(0.1)));
    const y = b.op(cfg.op, inputs, cfg.attrs);
    b.output(y, DataType.FLOAT);
    const model = b.model();
    const label = `case ${i}: ${cfg.op} x=[${cfg.x}] w=[${cfg.w ?? ''}] ${JSON.stringify(cfg.attrs)}`;
    const inf = inferShapes(model);
    assert.deepEqual(inf.errors, [], label);
    const session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
    const n = cfg.x.reduce((p, v) => p * v, 1);
    const out = await session
      .run({ x: new ort.Tensor('float32', new Float32Array(n), cfg.x) })
      .catch((e: Error) => assert.fail(`${label}: ORT: ${e.message}`));
    assert.deepEqual(inf.types.get(y)?.shape, [...out[y]!.dims], label);
    await session.release();
  }
});

test('80 random Slice configurations (negative, out-of-range and INT64 extreme indices, negative steps) match ORT', async () => {
  const r = rng(7);
  const extremes = [2n ** 63n - 1n, -(2n ** 63n)];
  for (let i = 0; i < 80; i++) {
    const dims = Array.from({ length: r(1, 3) }, () => r(1, 6));
    const axes = dims.map((_, k) => k).filter(() => r(0, 2) > 0);
    if (axes.length === 0) axes.push(0);
    const index = () => (r(0, 5) === 0 ? extremes[r(0, 1)]! : BigInt(r(-8, 8)));
    const starts = axes.map(index);
    const ends = axes.map(index);
    const steps = axes.map(() => BigInt([-3, -2, -1, 1, 2, 3][r(0, 5)]!));
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, dims);
    const t = (name: string, v: bigint[]) => b.initializer(name, DataType.INT64, [v.length], BigInt64Array.from(v));
    const y = b.op('Slice', [
      x,
      t('starts', starts),
      t('ends', ends),
      t(
        'axes',
        axes.map((a) => BigInt(r(0, 1) ? a : a - dims.length)),
      ),
      t('steps', steps),
    ]);
    b.output(y, DataType.FLOAT);
    const model = b.model();
    const label = `case ${i}: dims=[${dims}] axes=[${axes}] starts=[${starts}] ends=[${ends}] steps=[${steps}]`;
    const inf = inferShapes(model);
    assert.deepEqual(inf.errors, [], label);
    const session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
    const n = dims.reduce((p, v) => p * v, 1);
    const out = await session
      .run({ x: new ort.Tensor('float32', new Float32Array(n), dims) })
      .catch((e: Error) => assert.fail(`${label}: ORT: ${e.message}`));
    assert.deepEqual(inf.types.get(y)?.shape, [...out[y]!.dims], label);
    await session.release();
  }
});
