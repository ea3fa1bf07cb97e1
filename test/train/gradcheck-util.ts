/**
 * Finite-difference checking of gradient rules: a tiny graph per op is differentiated with respect to
 * its inputs, the analytic gradients (for a random upstream gradient r) are compared with central
 * differences of Σ y·r computed in float64 from float32 forward runs.
 */
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import type { Dataset } from '../../src/data/index.js';
import { GradEmitter } from '../../src/ops/grad/index.js';
import { createSession } from '../../src/runtime/index.js';
import { differentiate } from '../../src/train/autodiff.js';
import { staticTypes } from '../../src/train/shapes.js';

export interface CheckInput {
  name: string;
  shape: number[];
  data: Float32Array;
  /** Differentiate with respect to this input (default true). */
  wrt?: boolean;
  /** Element type when not float (indices): data given as numbers. */
  int64?: boolean;
  /** Shape declared in the graph (symbolic dims allowed) when it should differ from the data's. */
  declare?: (number | string)[];
}

export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

/** Values away from 0 (for Relu/Abs kinks): |x| in [0.2, 1]. */
export function randAwayFromZero(n: number, seed: number): Float32Array {
  const r = rand(n, seed, 0.2, 1);
  const sgn = rand(n, seed + 7);
  return r.map((v, i) => (sgn[i]! < 0 ? -v : v));
}

const feedsOf = (inputs: CheckInput[], override?: { name: string; data: Float32Array }) =>
  Object.fromEntries(inputs.map((i) => [
    i.name,
    i.int64
      ? new ort.Tensor('int64', BigInt64Array.from(i.data, (v) => BigInt(v)), i.shape)
      : new ort.Tensor('float32', override?.name === i.name ? override.data : i.data, i.shape),
  ]));

/**
 * Builds `body` over the given inputs (it returns the output value names), then checks every float
 * input's gradient. `opset` defaults to 17.
 */
export async function gradcheck(
  inputs: CheckInput[],
  body: (b: GraphBuilder, names: string[]) => string[],
  opts: { opset?: number; eps?: number; rtol?: number; atol?: number; maxChecks?: number; seed?: number } = {},
): Promise<void> {
  const opset = opts.opset ?? 17;
  const b = new GraphBuilder('check');
  const names = inputs.map((i) => b.input(i.name, i.int64 ? DataType.INT64 : DataType.FLOAT, i.declare ?? i.shape));
  const outs = body(b, names);
  for (const o of outs) b.output(o, DataType.FLOAT);
  const fwd = b.model({ opset });

  const gb = new GraphBuilder('check');
  for (const i of inputs) gb.input(i.name, i.int64 ? DataType.INT64 : DataType.FLOAT, i.declare ?? i.shape);
  const gnames = body(gb, names);
  const graph = gb.graph;
  const taken = new Set<string>([...graph.node.flatMap((n) => [...n.input, ...n.output]), ...graph.input.map((v) => v.name!), ...graph.initializer.map((t) => t.name!)]);
  const emit = new GradEmitter(taken, opset);
  // Run forward once to learn output shapes for the upstream gradients.
  const fsess = await createSession(fwd, { intraOpThreads: 1 });
  const base = await fsess.run(feedsOf(inputs));
  const seeds = new Map<string, string>();
  const upstream: Record<string, ort.Tensor> = {};
  gnames.forEach((o, k) => {
    const y = base[outs[k]!]!;
    const dy = `dy_${k}`;
    graph.input.push(valueInfo(dy, DataType.FLOAT, y.dims as number[]));
    upstream[dy] = new ort.Tensor('float32', rand(y.size, 1000 + k + (opts.seed ?? 0)), y.dims);
    seeds.set(o, dy);
  });
  const wrt = inputs.filter((i) => i.wrt !== false && !i.int64).map((i) => i.name);
  const types = staticTypes(graph, opset, new Set(wrt));
  const grads = differentiate(graph, opset, types, emit, seeds, new Set(wrt));
  graph.node.push(...emit.nodes);
  graph.initializer.push(...emit.initializers);
  graph.output = [];
  for (const w of wrt) {
    const g = grads.get(w);
    assert.ok(g, `no gradient for ${w}`);
    graph.output.push(valueInfo(g, DataType.FLOAT));
  }
  const bwd: ModelProto = gb.model({ opset });
  const bsess = await createSession(bwd, { intraOpThreads: 1 });
  const res = await bsess.run({ ...feedsOf(inputs), ...upstream });

  const objective = async (name: string, data: Float32Array) => {
    const r = await fsess.run(feedsOf(inputs, { name, data }));
    let s = 0;
    outs.forEach((o, k) => {
      const y = r[o]!.data as Float32Array;
      const u = upstream[`dy_${k}`]!.data as Float32Array;
      for (let i = 0; i < y.length; i++) s += y[i]! * u[i]!;
    });
    return s;
  };
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-3;
  for (const w of wrt) {
    const inp = inputs.find((i) => i.name === w)!;
    const analytic = res[grads.get(w)!]!.data as Float32Array;
    assert.equal(analytic.length, inp.data.length, `gradient of ${w} has ${analytic.length} elements, input has ${inp.data.length}`);
    const n = inp.data.length;
    const maxChecks = opts.maxChecks ?? 40;
    const step = Math.max(1, Math.floor(n / maxChecks));
    for (let i = 0; i < n; i += step) {
      const plus = Float32Array.from(inp.data); plus[i]! += eps;
      const minus = Float32Array.from(inp.data); minus[i]! -= eps;
      const numeric = ((await objective(w, plus)) - (await objective(w, minus))) / (plus[i]! - minus[i]!);
      const a = analytic[i]!;
      assert.ok(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric), `d/d${w}[${i}]: analytic ${a}, numeric ${numeric}`);
    }
  }
}

/**
 * Checks a whole training graph: the loss gradients of a few elements of every parameter against
 * central differences of the loss itself, with the given data and labels feeds.
 */
export async function checkTrainingGradients(
  tg: import('../../src/train/autodiff.js').TrainingGraph,
  feeds: Record<string, ort.Tensor>,
  opts: { eps?: number; rtol?: number; atol?: number; perParam?: number } = {},
): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(tg.model, { intraOpThreads: 1 });
  const params = tg.params.map((p) => Float32Array.from(p.init));
  const all = (override?: [number, Float32Array]) => ({
    ...feeds,
    ...Object.fromEntries(tg.params.map((p, i) => [p.name, new ort.Tensor('float32', override && override[0] === i ? override[1] : params[i]!, p.dims)])),
    ...Object.fromEntries(tg.buffers.map((b) => [b.name, new ort.Tensor('float32', b.init, b.dims)])),
  });
  const base = await session.run(all());
  const loss = async (i: number, data: Float32Array) => ((await session.run(all([i, data])))[tg.lossName]!.data as Float32Array)[0]!;
  const eps = opts.eps ?? 1e-2;
  for (let i = 0; i < tg.params.length; i++) {
    const g = base[tg.params[i]!.grad]!.data as Float32Array;
    const n = params[i]!.length;
    const k = Math.min(n, opts.perParam ?? 3);
    for (let c = 0; c < k; c++) {
      const j = Math.floor((c * (n - 1)) / Math.max(1, k - 1));
      const plus = Float32Array.from(params[i]!); plus[j]! += eps;
      const minus = Float32Array.from(params[i]!); minus[j]! -= eps;
      const [lp, lm, l0] = [await loss(i, plus), await loss(i, minus), await loss(i, params[i]!)];
      // ReLU networks are only piecewise smooth: at a kink the analytic gradient is one of the one-sided
      // derivatives, so agreement with the central or either one-sided difference passes.
      const candidates = [(lp - lm) / (plus[j]! - minus[j]!), (lp - l0) / (plus[j]! - params[i]![j]!), (l0 - lm) / (params[i]![j]! - minus[j]!)];
      const ok = candidates.some((numeric) => Math.abs(g[j]! - numeric) <= (opts.atol ?? 2e-3) + (opts.rtol ?? 3e-2) * Math.abs(numeric));
      assert.ok(ok, `${tg.params[i]!.name}[${j}]: analytic ${g[j]}, numeric (central, forward, backward) ${candidates.join(', ')}`);
    }
  }
  return base;
}

/** n samples of 4 features; label 1 when the feature sum is positive (learnable by a small MLP). */
export function signData(n: number, seed: number): Dataset {
  const x = rand(n * 4, seed);
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) y[i] = x[4 * i]! + x[4 * i + 1]! + x[4 * i + 2]! + x[4 * i + 3]! > 0 ? 1n : 0n;
  return { features: { input: { data: x, dims: [n, 4] } }, labels: { data: y, dims: [n] }, size: n };
}
