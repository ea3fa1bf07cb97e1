/**
 * Measuring the machine's peaks through ORT itself (so they are what ORT can reach, not a datasheet):
 * - compute: an fp32 MatMul 1024x1024 by 1024x1024, 2·M·N·K FLOPs per run, its product summed to a scalar
 *   in the graph. A 4 MiB graph output is allocated again on every run, and where glibc serves it with
 *   mmap each run pays a page fault per 4 KiB (about 14 µs each on this project's VMs). Measured on an idle
 *   AMD EPYC: `hone profile --train` (ORT's default threads) read 89–96 GFLOP/s with the plain MatMul and
 *   169–179 with the summed one, three runs each; at 2 threads in a bare process the plain one's runs took
 *   200–1,000 faults each in some blocks, the summed one's 0–3. The product lives in ORT's arena instead.
 *   The sum adds 1 M additions to 2 G FLOPs of MatMul, uncounted;
 * - bandwidth: ReduceSum over 48 Mi floats (192 MiB): far beyond the caches, so each run streams its
 *   bytes from memory. A reduction, not a copy: an elementwise op's large output is allocated and then
 *   copied into a JS buffer by the Node binding on every run, which measured 3.5x slower than the read
 *   itself here; model weights are read, not written, so the read rate is the one that bounds them.
 * - cache bandwidth: 16 ReduceSums over one 1 MiB tensor (graph optimizations off, so they are not
 *   merged): the tensor stays in L2, and 16 reads per run make the per-run overhead small. A model whose
 *   weights and activations fit in cache is bounded by this rate, not by the memory's.
 * - int8 kernels' speedup over fp32 by op size (int8-kernels.ts), for the int8 advice.
 * Each takes the best of a few runs after a warm-up: a busy neighbour stalls some runs, and the fastest
 * run is the one it left alone, so the best of several is what the hardware can do (a mean or median
 * would be pulled down by every stall). Runs on the calling thread (a worker: see measure.ts).
 *
 * A probe (`probePeaks`) is a 256³ MatMul and the cache read, a few runs each: a few milliseconds, cheap
 * enough to run on the caller's thread and to check the cached peaks on every profile (see peaks.ts). It
 * is measured right after the full figures and cached with them, so later probes compare like with like.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { encodeModel } from '../ir/codec.js';
import type { MachinePeaks } from './measure.js';
import type { SessionOpts } from './session.js';
import { bestMs, measureInt8Speedups } from './int8-kernels.js';

const N = 1024;
const STREAM = 48 * 1024 * 1024;
/** Elements of the cache-resident tensor (1 MiB of floats), read CACHE_READS times per run. */
export const CACHE_ELEMENTS = 256 * 1024;
const CACHE_READS = 16;

const PROBE_N = 256;

export async function measurePeaks(opts: SessionOpts, key: string): Promise<MachinePeaks> {
  const flops = await bestRate(matmulModel(N, true), { a: new ort.Tensor('float32', filled(N * N, 0.5), [N, N]) }, 2 * N * N * N, opts, 10);
  const bandwidth = await bestRate(streamModel(), { x: new ort.Tensor('float32', filled(STREAM, 1), [STREAM]) }, 4 * STREAM, opts, 5);
  const cacheBandwidth = await cacheRate(opts, 20);
  const int8 = await measureInt8Speedups(opts);
  return {
    flops,
    bandwidth,
    cacheBandwidth,
    cacheBytes: 4 * CACHE_ELEMENTS,
    key,
    measuredAt: Date.now(),
    probe: await probePeaks(opts),
    int8,
  };
}

/** The probe: best rates of a small MatMul and of the cache read (see above). */
export async function probePeaks(opts: SessionOpts): Promise<{ flops: number; cacheBandwidth: number }> {
  const n = PROBE_N;
  const flops = await bestRate(matmulModel(n), { a: new ort.Tensor('float32', filled(n * n, 0.5), [n, n]) }, 2 * n * n * n, opts, 8);
  return { flops, cacheBandwidth: await cacheRate(opts, 8) };
}

function cacheRate(opts: SessionOpts, runs: number): Promise<number> {
  return bestRate(
    cacheModel(),
    { x: new ort.Tensor('float32', filled(CACHE_ELEMENTS, 1), [CACHE_ELEMENTS]) },
    CACHE_READS * 4 * CACHE_ELEMENTS,
    { ...opts, graphOptimizationLevel: 'disabled' },
    runs,
  );
}

async function bestRate(
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  work: number,
  opts: SessionOpts,
  runs: number,
): Promise<number> {
  return work / ((await bestMs(model, feeds, opts, runs)) / 1000);
}

/** An n³ MatMul; `summed`: its product summed to a scalar in the graph (the full figure: see the file comment). */
function matmulModel(n: number, summed = false): Uint8Array {
  const b = new GraphBuilder('peak_matmul');
  const a = b.input('a', DataType.FLOAT, [n, n]);
  const w = b.floatInit('w', [n, n], filled(n * n, 0.25));
  if (summed) {
    b.op('ReduceSum', [b.op('MatMul', [a, w])], { keepdims: 0 }, { output: 'y' });
    b.output('y', DataType.FLOAT, []);
  } else {
    b.op('MatMul', [a, w], {}, { output: 'y' });
    b.output('y', DataType.FLOAT, [n, n]);
  }
  return encodeModel(b.model());
}

function streamModel(): Uint8Array {
  const b = new GraphBuilder('peak_stream');
  const x = b.input('x', DataType.FLOAT, [STREAM]);
  b.op('ReduceSum', [x], { keepdims: 0 }, { output: 'y' });
  b.output('y', DataType.FLOAT, []);
  return encodeModel(b.model());
}

function cacheModel(): Uint8Array {
  const b = new GraphBuilder('peak_cache');
  const x = b.input('x', DataType.FLOAT, [CACHE_ELEMENTS]);
  for (let i = 0; i < CACHE_READS; i++) {
    const y = b.op('ReduceSum', [x], { keepdims: 0 }, { output: `y${i}` });
    b.output(y, DataType.FLOAT, []);
  }
  return encodeModel(b.model());
}

function filled(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}
