/**
 * How much faster ONNX Runtime's int8 kernels run than its fp32 ones on this machine, by operation size,
 * measured once with the machine peaks (peaks-kernel.ts) and cached with them. Profile advice sizes its
 * int8 gains from this instead of a constant: on CPUs with VNNI (or AMX) int8 convolutions and MatMuls
 * measured 1.5-2.9x fp32 at large sizes here, while on an AVX2-only EPYC the top int8 advice measured slower
 * on 4 of 6 real models; and small ops gain nothing anywhere, since quantizing and dequantizing their
 * activations costs as much as the multiply-adds saved (docs/benchmarks.md).
 *
 * Each probe is a model of CHAIN identical ops, timed fp32 and int8 (the QDQ form `hone quantize --mode
 * static` writes for convolutions, which ORT fuses into QLinearConv; DynamicQuantizeMatMul for MatMuls, as
 * `--mode dynamic` writes), best of several runs: the ratio at each size is a point of a curve that
 * `int8Speedup` interpolates in log(MACs). The chain amortizes the per-run overhead that a single-op model
 * would add to both sides. A float op (Sin, which has no int8 form) sits between the convolutions, so each
 * quantizes its input and dequantizes its output, as a convolution between float ops in a real model does:
 * the curve is what an isolated op gains, a lower bound for long int8 chains (where ORT drops the DQ → Q
 * pairs between QLinearConvs: 64 channels at 56x56 ran 2.4-3.1x fp32 chained, against the isolated figure).
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { encodeModel } from '../ir/codec.js';
import type { SessionOpts } from './session.js';
import { createSession } from './session.js';
import { mulberry32 } from '../util/random.js';

/** int8 time over fp32 time, inverted (fp32 / int8: above 1 is faster), at a number of MACs per op. */
export interface SpeedupPoint {
  macs: number;
  speedup: number;
}

export interface Int8Speedups {
  /** Dense convolutions (group 1), static QDQ. */
  conv: SpeedupPoint[];
  /** Depthwise convolutions, static QDQ. */
  depthwise: SpeedupPoint[];
  /** MatMuls with a constant weight, dynamic (DynamicQuantizeMatMul). */
  matmul: SpeedupPoint[];
}

/** Ops per probe model. */
const CHAIN = 4;

/** Conv probes: channels in = out, spatial size, kernel. From LeNet-sized to ResNet-stage-sized. */
const CONV_SIZES: readonly [number, number, number][] = [
  [8, 16, 3],
  [16, 14, 3],
  [32, 28, 3],
  [64, 28, 3],
  [64, 56, 3],
  [128, 28, 3],
];
const DEPTHWISE_SIZES: readonly [number, number, number][] = [
  [32, 56, 3],
  [128, 28, 3],
];
/** MatMul probes: rows (batch × tokens), K = N. */
const MATMUL_SIZES: readonly [number, number][] = [
  [1, 64],
  [16, 128],
  [64, 256],
  [128, 512],
  [256, 768],
];

export async function measureInt8Speedups(opts: SessionOpts, runs = 20): Promise<Int8Speedups> {
  const conv: SpeedupPoint[] = [];
  for (const [c, h, k] of CONV_SIZES) conv.push(await convPoint(c, h, k, 1, opts, runs));
  const depthwise: SpeedupPoint[] = [];
  for (const [c, h, k] of DEPTHWISE_SIZES) depthwise.push(await convPoint(c, h, k, c, opts, runs));
  const matmul: SpeedupPoint[] = [];
  for (const [m, n] of MATMUL_SIZES) {
    const feeds = { x: new ort.Tensor('float32', seeded(m * n, 1), [m, n]) };
    const f = await bestMs(matmulChain(m, n, false), feeds, opts, runs);
    const q = await bestMs(matmulChain(m, n, true), feeds, opts, runs);
    matmul.push({ macs: m * n * n, speedup: f / q });
  }
  return { conv, depthwise, matmul };
}

/**
 * The measured speedup for one op of `macs` MACs: interpolated in log(MACs) between the probes, held at
 * the end points beyond them.
 */
export function int8Speedup(points: readonly SpeedupPoint[], macs: number): number {
  const p = [...points].sort((a, b) => a.macs - b.macs);
  if (p.length === 0) return 1;
  if (macs <= p[0]!.macs) return p[0]!.speedup;
  for (let i = 1; i < p.length; i++) {
    if (macs <= p[i]!.macs) {
      const t = Math.log(macs / p[i - 1]!.macs) / Math.log(p[i]!.macs / p[i - 1]!.macs);
      return p[i - 1]!.speedup + t * (p[i]!.speedup - p[i - 1]!.speedup);
    }
  }
  return p[p.length - 1]!.speedup;
}

/** Whether a cached value has the shape of `Int8Speedups` (older caches lack it). */
export function validInt8Speedups(s: unknown): s is Int8Speedups {
  const points = (x: unknown) =>
    Array.isArray(x) &&
    x.length > 0 &&
    x.every((p) => p && typeof p.macs === 'number' && p.macs > 0 && typeof p.speedup === 'number' && p.speedup > 0);
  const o = s as Int8Speedups | undefined;
  return !!o && points(o.conv) && points(o.depthwise) && points(o.matmul);
}

async function convPoint(c: number, h: number, k: number, group: number, opts: SessionOpts, runs: number): Promise<SpeedupPoint> {
  const feeds = { x: new ort.Tensor('float32', seeded(c * h * h, 2), [1, c, h, h]) };
  const f = await bestMs(convChain(c, h, k, group, false), feeds, opts, runs);
  const q = await bestMs(convChain(c, h, k, group, true), feeds, opts, runs);
  return { macs: ((c * c) / group) * k * k * h * h, speedup: f / q };
}

/** The fastest of `runs` timed runs after one warm-up, ms (a neighbour only ever slows a run). */
export async function bestMs(model: Uint8Array, feeds: Record<string, ort.Tensor>, opts: SessionOpts, runs: number): Promise<number> {
  const session = await createSession(model, { ...opts, profilePrefix: undefined });
  try {
    await session.run(feeds);
    let best = Infinity;
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await session.run(feeds);
      best = Math.min(best, performance.now() - t);
    }
    return best;
  } finally {
    await session.release();
  }
}

/** Q → DQ around `x` with a uint8 activation grid (what calibration writes). */
function qdq(b: GraphBuilder, x: string, scale: number): string {
  const s = b.floatInit('scale', [], [scale]);
  const z = b.initializer('zero', DataType.UINT8, [], [128]);
  return b.op('DequantizeLinear', [b.op('QuantizeLinear', [x, s, z]), s, z]);
}

function convChain(c: number, h: number, k: number, group: number, int8: boolean): Uint8Array {
  const b = new GraphBuilder('int8_conv_probe');
  let x = b.input('x', DataType.FLOAT, [1, c, h, h]);
  const wdims = [c, c / group, k, k];
  const wn = wdims.reduce((p, d) => p * d, 1);
  for (let i = 0; i < CHAIN; i++) {
    let w: string;
    let bias: string;
    if (!int8) {
      w = b.floatInit('w', wdims, seeded(wn, 0.1, i));
      bias = b.floatInit('b', [c], seeded(c, 0.1, i + 7));
    } else {
      x = qdq(b, x, 0.02);
      const wq = b.initializer('wq', DataType.INT8, wdims, Int8Array.from(seeded(wn, 254, i), Math.round));
      const ws = b.floatInit('ws', [c], new Float32Array(c).fill(0.002));
      w = b.op('DequantizeLinear', [wq, ws, b.initializer('wz', DataType.INT8, [c], new Int8Array(c))], { axis: 0 });
      const bq = b.initializer('bq', DataType.INT32, [c], new Int32Array(c));
      const bs = b.floatInit('bs', [c], new Float32Array(c).fill(4e-5));
      bias = b.op('DequantizeLinear', [bq, bs, b.initializer('bz', DataType.INT32, [c], new Int32Array(c))], { axis: 0 });
    }
    x = b.op('Conv', [x, w, bias], { kernel_shape: [k, k], pads: [k >> 1, k >> 1, k >> 1, k >> 1], group });
    if (int8) x = qdq(b, x, 0.05);
    x = b.op('Sin', [x]);
  }
  b.op('Identity', [x], {}, { output: 'y' });
  b.output('y', DataType.FLOAT);
  return encodeModel(b.model({ opset: 17 }));
}

function matmulChain(m: number, n: number, int8: boolean): Uint8Array {
  const b = new GraphBuilder('int8_matmul_probe');
  let x = b.input('x', DataType.FLOAT, [m, n]);
  for (let i = 0; i < CHAIN; i++) {
    if (!int8) x = b.op('MatMul', [x, b.floatInit('w', [n, n], seeded(n * n, 0.1, i))]);
    else {
      const wq = b.initializer('wq', DataType.INT8, [n, n], Int8Array.from(seeded(n * n, 254, i), Math.round));
      const ws = b.floatInit('ws', [n], new Float32Array(n).fill(0.001));
      x = b.op('DynamicQuantizeMatMul', [x, wq, ws], {}, { domain: 'com.microsoft' });
    }
  }
  b.op('Identity', [x], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [m, n]);
  return encodeModel(b.model({ opset: 17, extraOpsets: { 'com.microsoft': 1 } }));
}

/** Seeded values in [-scale/2, scale/2). */
function seeded(n: number, scale: number, seed = 0): Float32Array {
  const rand = mulberry32(12345 + seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale);
}
