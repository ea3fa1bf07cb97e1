/**
 * Finite-difference checking of gradient rules: a tiny graph per op is differentiated with respect to
 * its inputs, the analytic gradients (for a random upstream gradient r) are compared with central
 * differences of Σ y·r computed in float64 from float32 forward runs.
 */
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { nchwcConvs } from '../../src/passes/nchwc.js';
import type { ModelProto } from '../../src/ir/proto.js';
import type { AttrReader } from '../../src/ops/types.js';
import type { Dataset } from '../../src/data/index.js';
import { GradEmitter, type GradContext, type GradRule } from '../../src/ops/grad/index.js';
import { getOpRule, registerOps } from '../../src/ops/index.js';
import { createSession } from '../../src/runtime/index.js';
import { differentiate } from '../../src/train/autodiff.js';
import { staticTypes } from '../../src/train/shapes.js';
import type { TrainingGraph } from '../../src/train/autodiff.js';
import { mulberry32 } from '../../src/util/random.js';

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
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
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
  Object.fromEntries(
    inputs.map((i) => [
      i.name,
      i.int64
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(i.data, (v) => BigInt(v)),
            i.shape,
          )
        : new ort.Tensor('float32', override?.name === i.name ? override.data : i.data, i.shape),
    ]),
  );

/** One checked element: the rule's gradient, the finite difference, and the tolerance allowed between them. */
export interface CheckedPoint {
  input: string;
  index: number;
  analytic: number;
  numeric: number;
  tolerance: number;
}

/**
 * How many of the checked points a different gradient (another rule's value at each point) would fail:
 * a test calls it to show its tolerance tells the right rule from a plausible wrong one.
 */
export function rejectedBy(points: readonly CheckedPoint[], other: (p: CheckedPoint) => number): number {
  return points.filter((p) => !(Math.abs(other(p) - p.numeric) <= p.tolerance)).length;
}

/**
 * Runs `body` with the gradient rule of `opType` replaced by `wrong(original)` and puts the original back
 * afterwards: a test shows that its check fails when a rule makes a plausible mistake.
 */
export async function withWrongRule<T>(
  opType: string,
  wrong: (original: GradRule) => GradRule['grad'],
  body: () => Promise<T>,
): Promise<T> {
  const rule = getOpRule(undefined, opType);
  const original = rule?.grad;
  assert.ok(rule && original, `no gradient rule for ${opType}`);
  registerOps([{ ...rule, opTypes: [opType], grad: { grad: wrong(original) } }]);
  try {
    return await body();
  } finally {
    registerOps([{ ...rule, opTypes: [opType] }]);
  }
}

/** A wrong rule for withWrongRule: the right gradients, each scaled by `factor`. */
export const scaledBy = (factor: number) => (original: GradRule) => (ctx: GradContext) =>
  original.grad(ctx).map((g) => (g === undefined ? g : ctx.emit.mul(g, ctx.emit.scalar(factor, ctx.elemType))));

/**
 * A wrong rule for withWrongRule: the right rule reading `values` in place of the node's attributes of
 * those names, as a rule that ignored an attribute (Gelu's approximate, BatchNorm's epsilon) would.
 */
export const readingAttributes = (values: Record<string, number | string>) => (original: GradRule) => (ctx: GradContext) => {
  const attr = ctx.attr;
  const read = <T>(name: string, own: () => T): T => (name in values ? (values[name] as T) : own());
  return original.grad({
    ...ctx,
    attr: {
      ...attr,
      int: ((name: string, fallback?: number) => read(name, () => attr.int(name, fallback!))) as AttrReader['int'],
      float: ((name: string, fallback?: number) => read(name, () => attr.float(name, fallback!))) as AttrReader['float'],
      string: ((name: string, fallback?: string) => read(name, () => attr.string(name, fallback!))) as AttrReader['string'],
    },
  });
};

/**
 * Builds `body` over the given inputs (it returns the output value names), then checks every float
 * input's gradient and returns the checked points. `opset` defaults to 17; the upstream gradients are
 * uniform in `upstream` (default [-1, 1]).
 */
export async function gradcheck(
  inputs: CheckInput[],
  body: (b: GraphBuilder, names: string[]) => string[],
  opts: {
    opset?: number;
    eps?: number;
    rtol?: number;
    atol?: number;
    maxChecks?: number;
    seed?: number;
    upstream?: [number, number];
    /** GradContext.blockedDepthwise; the backward graph then also runs through passes/nchwc.ts with it. */
    blockedDepthwise?: number;
  } = {},
): Promise<CheckedPoint[]> {
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
  const taken = new Set<string>([
    ...graph.node.flatMap((n) => [...n.input, ...n.output]),
    ...graph.input.map((v) => v.name!),
    ...graph.initializer.map((t) => t.name!),
  ]);
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
    upstream[dy] = new ort.Tensor('float32', rand(y.size, 1000 + k + (opts.seed ?? 0), ...(opts.upstream ?? [-1, 1])), y.dims);
    seeds.set(o, dy);
  });
  const wrt = inputs.filter((i) => i.wrt !== false && !i.int64).map((i) => i.name);
  const types = staticTypes(graph, opset, new Set(wrt));
  const grads = differentiate(graph, opset, types, emit, seeds, new Set(wrt), undefined, opts.blockedDepthwise);
  graph.node.push(...emit.nodes);
  graph.initializer.push(...emit.initializers);
  graph.output = [];
  for (const w of wrt) {
    const g = grads.get(w);
    assert.ok(g, `no gradient for ${w}`);
    graph.output.push(valueInfo(g, DataType.FLOAT));
  }
  const built: ModelProto = gb.model({ opset });
  const bwd = opts.blockedDepthwise ? nchwcConvs(built, { blockSize: opts.blockedDepthwise }).model : built;
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
  const points: CheckedPoint[] = [];
  for (const w of wrt) {
    const inp = inputs.find((i) => i.name === w)!;
    const analytic = res[grads.get(w)!]!.data as Float32Array;
    assert.equal(analytic.length, inp.data.length, `gradient of ${w} has ${analytic.length} elements, input has ${inp.data.length}`);
    const n = inp.data.length;
    const maxChecks = opts.maxChecks ?? 40;
    const step = Math.max(1, Math.floor(n / maxChecks));
    for (let i = 0; i < n; i += step) {
      const plus = Float32Array.from(inp.data);
      plus[i]! += eps;
      const minus = Float32Array.from(inp.data);
      minus[i]! -= eps;
      const numeric = ((await objective(w, plus)) - (await objective(w, minus))) / (plus[i]! - minus[i]!);
      const a = analytic[i]!;
      const tolerance = atol + rtol * Math.abs(numeric);
      assert.ok(Math.abs(a - numeric) <= tolerance, `d/d${w}[${i}]: analytic ${a}, numeric ${numeric}`);
      points.push({ input: w, index: i, analytic: a, numeric, tolerance });
    }
  }
  return points;
}

/**
 * Checks a whole training graph: the loss gradient of every parameter, at `perParam` elements of each
 * (drawn without replacement by a seeded generator; all of a small parameter), against a finite
 * difference of the loss itself, with the given data and labels feeds.
 *
 * One scheme for every point: central differences at steps h and 2h, combined by Richardson
 * extrapolation (4·D(h) − D(2h))/3, whose truncation error is O(h⁴), with h = eps·max(1, |θ|). The loss
 * is float32 (ORT's kernels), so what is left is its rounding (~1e-7·|L| per evaluation, divided by h).
 * The largest error measured over the 460 points the normalization and loss tests check was 2.9e-5;
 * the default tolerance, 1e-4 + 2e-3·|numeric|, is about three times that, and a gradient off by 10%
 * fails it wherever |gradient| > 1e-3. The models must be smooth near the point: a ReLU kink within 2h
 * makes any finite difference wrong, so the tests use Tanh.
 */
export async function checkTrainingGradients(
  tg: TrainingGraph,
  feeds: Record<string, ort.Tensor>,
  opts: { eps?: number; rtol?: number; atol?: number; perParam?: number; seed?: number } = {},
): Promise<{ outputs: Record<string, ort.Tensor>; points: CheckedPoint[] }> {
  const session = await createSession(tg.model, { intraOpThreads: 1 });
  const params = tg.params.map((p) => Float32Array.from(p.init));
  const all = (override?: [number, Float32Array]) => ({
    ...feeds,
    ...Object.fromEntries(
      tg.params.map((p, i) => [p.name, new ort.Tensor('float32', override && override[0] === i ? override[1] : params[i]!, p.dims)]),
    ),
    ...Object.fromEntries(tg.buffers.map((b) => [b.name, new ort.Tensor('float32', b.init, b.dims)])),
  });
  const outputs = await session.run(all());
  const lossAt = async (i: number, j: number, delta: number) => {
    const moved = Float32Array.from(params[i]!);
    moved[j]! += delta;
    const l = ((await session.run(all([i, moved])))[tg.lossName]!.data as Float32Array)[0]!;
    return { l, at: moved[j]! };
  };
  /** Central difference over the representable points nearest θ ± h. */
  const central = async (i: number, j: number, h: number) => {
    const [p, m] = [await lossAt(i, j, h), await lossAt(i, j, -h)];
    return (p.l - m.l) / (p.at - m.at);
  };
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-3;
  const atol = opts.atol ?? 1e-4;
  const points: CheckedPoint[] = [];
  for (let i = 0; i < tg.params.length; i++) {
    const name = tg.params[i]!.name;
    const g = outputs[tg.params[i]!.grad]!.data as Float32Array;
    const n = params[i]!.length;
    assert.equal(g.length, n, `gradient of ${name} has ${g.length} elements, the parameter ${n}`);
    for (const j of sample(n, opts.perParam ?? 12, (opts.seed ?? 0) + 97 * i)) {
      const h = eps * Math.max(1, Math.abs(params[i]![j]!));
      const [d1, d2] = [await central(i, j, h), await central(i, j, 2 * h)];
      const numeric = (4 * d1 - d2) / 3;
      const tolerance = atol + rtol * Math.abs(numeric);
      assert.ok(
        Math.abs(g[j]! - numeric) <= tolerance,
        `${name}[${j}]: analytic ${g[j]}, numeric ${numeric} (central differences ${d1} at h, ${d2} at 2h)`,
      );
      points.push({ input: name, index: j, analytic: g[j]!, numeric, tolerance });
    }
  }
  return { outputs, points };
}

/** k distinct indices below n (all of them when n ≤ k), ascending, the same for the same seed. */
function sample(n: number, k: number, seed: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const r = mulberry32(seed);
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(r() * n));
  return [...picked].sort((a, b) => a - b);
}

/** n samples of 4 features; label 1 when the feature sum is positive (learnable by a small MLP). */
export function signData(n: number, seed: number): Dataset {
  const x = rand(n * 4, seed);
  const y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) y[i] = x[4 * i]! + x[4 * i + 1]! + x[4 * i + 2]! + x[4 * i + 3]! > 0 ? 1n : 0n;
  return { features: { input: { data: x, dims: [n, 4] } }, labels: { data: y, dims: [n] }, size: n };
}
