/**
 * Learned rounding (AdaRound: Nagel et al., "Up or Down? Adaptive Rounding for Post-Training Quantization",
 * ICML 2020). Round-to-nearest picks each weight's integer alone; AdaRound picks floor or ceil for every
 * weight of a layer together, so that the layer's output on calibration data stays closest to the float
 * model's. Per layer, in the order data flows:
 *
 *   W̃ = s · (clip(⌊W/s⌋ + z + h(V), qmin, qmax) − z),  h(V) = clip(σ(V)·(ζ−γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1
 *   minimize  ‖op(x̃, W̃) − op(x, W)‖² + λ · Σ (1 − |2h(V) − 1|^β)
 *
 * where x̃ is the layer's input in the quantized model with every earlier layer's rounding already chosen
 * (activations quantized as ORT will run them) and op(x, W) the float model's output (asymmetric
 * reconstruction, as AdaRound §5 and BRECQ do). V starts where h(V) is W/s's fractional part, so the
 * soft weights start at the float weights; λ's term is off for the first 20% of iterations, then β falls
 * from 20 to 2 so that h(V) is pushed to 0 or 1; the rounding is up where h(V) ≥ ½. The reconstruction is
 * summed over output channels and averaged over the rest, with λ = 0.01 (the settings of the authors' and
 * BRECQ's code). The layer's step is a training graph from Hone's autodiff (train/autodiff.ts), the rounding
 * term added through its `extraLoss` hook; Adam updates V. Every fourth calibration sample (given four or
 * more) is held out of the fit: a layer keeps its learned rounding only where it reconstructs those samples
 * better than nearest, and `hone quantize` keeps the model only where its output on them is closer to float.
 *
 * The biases stay as static int8 left them: corrected for round-to-nearest's mean shift when bias correction
 * is on (quantize/bias-correct.ts); the learned rounding is fitted to them. Measured on M-LSD tiny (2
 * held-out scenes, output cosine against float): round-to-nearest 0.956; AdaRound from it 0.982; from the
 * model without bias correction 0.975; with bias correction measured again afterwards 0.977.
 */
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors.js';
import { GraphBuilder, valueInfo, withFloatOutputs } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import { Graph } from '../ir/graph.js';
import { copyModel, nodeLabel, opsetVersion, type QuantizedWeightInfo, type QuantizeResult } from '../quantize/common.js';
import { batches, sampleSubset, type SampleData } from '../quantize/data.js';
import type { Refinement } from '../quantize/pipeline.js';
import { createSession, ortRunError } from '../runtime/session.js';
import { buildTrainingGraph } from '../train/autodiff.js';
import { createOptimizer } from '../train/optimizers.js';
import { mulberry32 } from '../util/random.js';

const ZETA = 1.1;
const GAMMA = -0.1;

export interface AdaroundOptions {
  /** Adam iterations per layer (default 1000). */
  iterations?: number;
  /** Calibration samples per iteration (default 32). */
  batchSize?: number;
  /** Adam's learning rate for V (default 1e-2). */
  lr?: number;
  /** Weight λ of the rounding term (default 0.01). */
  regularization?: number;
  /** Fraction of the iterations before the rounding term starts (default 0.2). */
  warmup?: number;
  /** Batch size of the runs that collect each layer's inputs and outputs (default 16). */
  runBatchSize?: number;
  seed?: number;
  onProgress?: (message: string) => void;
}

type Tunables = Required<Pick<AdaroundOptions, 'iterations' | 'batchSize' | 'lr' | 'regularization' | 'warmup'>>;

export const ADAROUND_DEFAULTS: Readonly<Tunables> = {
  iterations: 1000,
  batchSize: 32,
  lr: 1e-2,
  regularization: 0.01,
  warmup: 0.2,
};

export interface AdaroundLayer {
  node: string;
  opType: string;
  /** Weights in the layer, and how many of them round the other way than to nearest. */
  weights: number;
  flipped: number;
  /**
   * Reconstruction error (squared, summed over output channels, against the float layer's output) on the
   * held-out calibration samples, with round-to-nearest and with the rounding kept.
   */
  nearestError: number;
  learnedError: number;
}

export interface AdaroundReport {
  layers: AdaroundLayer[];
  /** Weights left at round-to-nearest, and why. */
  skipped: { node: string; why: string }[];
  iterations: number;
  samples: number;
}

/**
 * Learns the rounding of every weight `ptq` (static int8 with round-to-nearest, from quantizeStatic)
 * quantized for one node alone, on the calibration `data`; returns the QDQ model with those integers.
 */
export async function adaround(
  ptq: QuantizeResult,
  data: SampleData,
  opts: AdaroundOptions = {},
): Promise<{ model: ModelProto; report: AdaroundReport }> {
  const o = withDefaults(opts);
  if (!(o.iterations >= 1 && Number.isInteger(o.iterations)))
    throw badInput(`adaround iterations must be a whole number >= 1, got ${o.iterations}`);
  if (!(o.lr > 0)) throw badInput(`adaround learning rate must be > 0, got ${o.lr}`);
  if (!(o.warmup >= 0 && o.warmup < 1)) throw badInput(`adaround warm-up must be in [0, 1), got ${o.warmup}`);
  if (!ptq.prepared || !ptq.weights) throw badInput('adaround refines a static int8 model: quantize with --mode static');
  const float = ptq.prepared;
  const q = ptq.model;
  const index = new Map(q.graph!.node.map((n, i) => [n, i]));
  const skipped: AdaroundReport['skipped'] = [];
  const layers = ptq.weights
    .filter((w) => {
      const why = unsupported(w);
      if (why) skipped.push({ node: nodeLabel(w.node), why });
      return !why;
    })
    .sort((a, b) => index.get(a.node)! - index.get(b.node)!);
  const qg = new Graph(q.graph!);
  const fg = new Graph(float.graph!);

  // The quantized model with its integer weights as inputs (so that each layer's choice feeds the next
  // layer's inputs without a new session) and every layer's input exposed; the float model with every
  // layer's output exposed.
  const current = new Map<string, Int8Array | Uint8Array>();
  const probe = copyModel(q);
  const tuned = new Set(layers.map((l) => l.quantized));
  probe.graph!.initializer = probe.graph!.initializer.filter((t) => !tuned.has(t.name!));
  for (const l of layers) {
    const t = qg.initializer(l.quantized)!;
    current.set(l.quantized, (t.dataType === DataType.INT8 ? Int8Array : Uint8Array).from(tensorArray(t) as Int8Array));
    probe.graph!.input.push(valueInfo(l.quantized, t.dataType!, t.dims.map(Number)));
  }
  const probed = withFloatOutputs(
    probe,
    layers.map((l) => l.node.input[0]!),
  );
  // A layer followed by its activation alone (ReLU, ReLU6, HardSwish…) is reconstructed through it, as
  // AdaRound §5 found best: errors the activation removes (negative outputs before a ReLU) cost nothing.
  const activations = new Map(layers.map((l) => [l, followingActivation(fg, l.reference)]));
  const targetOf = (l: QuantizedWeightInfo) => activations.get(l)?.output[0] ?? l.reference;
  const reference = withFloatOutputs(float, layers.map(targetOf));
  const runBatch = o.runBatchSize ?? 16;
  const [probeSession, floatSession] = [
    await createSession(probed, { graphOptimizationLevel: 'basic' }),
    await createSession(reference, { graphOptimizationLevel: 'basic' }),
  ];
  const report: AdaroundReport = { layers: [], skipped, iterations: o.iterations, samples: data.size };
  try {
    for (const [k, l] of layers.entries()) {
      o.onProgress?.(`adaround: layer ${k + 1}/${layers.length} (${nodeLabel(l.node)})`);
      const weightFeeds = Object.fromEntries(
        [...current].map(([name, v]) => [
          name,
          new ort.Tensor(v instanceof Int8Array ? 'int8' : 'uint8', v, qg.initializer(name)!.dims.map(Number)),
        ]),
      );
      const w = fg.initializer(l.float);
      if (!w || w.dataType !== DataType.FLOAT) {
        skipped.push({ node: nodeLabel(l.node), why: `its float weight '${l.float}' is not a float32 initializer of the prepared model` });
        continue;
      }
      const x = await collect(probeSession, q, l.node.input[0]!, data, runBatch, weightFeeds);
      const y = await collect(floatSession, q, targetOf(l), data, runBatch, {});
      const result = await learnRounding(q, qg, fg, l, activations.get(l), w, x, y, o, k);
      current.set(l.quantized, result.values);
      report.layers.push({ node: nodeLabel(l.node), opType: l.node.opType!, ...result.stats });
    }
  } finally {
    await probeSession.release();
    await floatSession.release();
  }

  const out = copyModel(q);
  const og = new Graph(out.graph!);
  for (const [name, values] of current) {
    const t = og.initializer(name)!;
    out.graph!.initializer[out.graph!.initializer.indexOf(t)] = makeTensor(name, t.dataType!, t.dims.map(Number), values);
  }
  return { model: out, report };
}

/** Why a quantized weight keeps round-to-nearest, or undefined when its rounding can be learned. */
function unsupported(w: QuantizedWeightInfo): string | undefined {
  const op = w.node.opType ?? '';
  if (!['Conv', 'Gemm', 'MatMul'].includes(op)) return `${op} weights keep round-to-nearest (adaround handles Conv, Gemm and MatMul)`;
  if (w.slot !== 1) return `its weight is input ${w.slot}, not the second input`;
  if (op === 'Gemm' && w.node.attribute.some((a) => a.name === 'transA' && Number(a.i) !== 0))
    return 'a Gemm with transA keeps round-to-nearest';
  return undefined;
}

interface Collected {
  data: Float32Array;
  /** Dims of the whole set: samples first. */
  dims: number[];
}

/** `name` on every calibration sample, concatenated along the first axis. */
async function collect(
  session: ort.InferenceSession,
  model: ModelProto,
  name: string,
  data: SampleData,
  batchSize: number,
  extra: Record<string, ort.Tensor>,
): Promise<Collected> {
  const parts: Float32Array[] = [];
  let rest: number[] | undefined;
  let rows = 0;
  for (const batch of batches(data, model, batchSize)) {
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run({ ...batch.feeds, ...extra }, [name]);
    } catch (e) {
      throw ortRunError(e, `collecting layer inputs for adaround on ${data.source}`);
    }
    const t = out[name]!;
    parts.push(Float32Array.from(t.data as Float32Array));
    rest ??= t.dims.slice(1).map(Number);
    rows += Number(t.dims[0] ?? 1);
  }
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return { data: all, dims: [rows, ...(rest ?? [])] };
}

interface LayerResult {
  values: Int8Array | Uint8Array;
  stats: Omit<AdaroundLayer, 'node' | 'opType'>;
}

/** The options with ADAROUND_DEFAULTS where they are not given (an undefined field takes the default too). */
function withDefaults(opts: AdaroundOptions): Tunables & AdaroundOptions {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...ADAROUND_DEFAULTS, ...given };
}

/** One layer's rounding problem: the op, its float weight and quantization grid, its input and output shapes. */
export interface RoundingLayer {
  /** The layer's node (its op type and attributes are used) and the activation it is reconstructed through. */
  node: NodeProto;
  activation?: { node: NodeProto; constants: TensorProto[] };
  weight: Float32Array;
  dims: number[];
  /** Per-tensor (one value) or per-channel along `axis`. */
  scale: Float32Array;
  zeroPoint: ArrayLike<number>;
  axis?: number;
  range: [number, number];
  bias?: Float32Array;
  /** Dims of the layer's input and output after the first (batch) axis. */
  inputDims: number[];
  outputDims: number[];
  opset: number;
}

/**
 * The layer's model for its training graph: inputs x, beta and lambda, outputs y = act(op(x, W̃(v))) and
 * round_loss = lambda · Σ(1 − |2h(v) − 1|^beta); v is both an initializer (starting where h(v) is W/s's
 * fractional part) and an input, so that no folding treats it as a constant. Also ⌊W/s⌋ + z per element
 * and which elements round-to-nearest rounds up.
 */
export function roundingModel(l: RoundingLayer): {
  model: ModelProto;
  v: string;
  roundLoss: string;
  base: Float32Array;
  nearest: Uint8Array;
} {
  const { weight: wv, dims, scale, zeroPoint: zp } = l;
  const [lo, hi] = l.range;
  // Per-element floor(W/s) + z and the fractional part, over [outer, channel, inner] around the axis.
  const channels = scale.length;
  const inner = l.axis === undefined ? wv.length : dims.slice(l.axis + 1).reduce((a, b) => a * b, 1);
  const base = new Float32Array(wv.length);
  const frac = new Float32Array(wv.length);
  for (let i = 0; i < wv.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    const t = wv[i]! / scale[c]!;
    const f = Math.floor(t);
    base[i] = f + Number(zp[c]);
    frac[i] = t - f;
  }
  const bcast = dims.map((d, i) => (i === l.axis ? d : 1));
  const b = new GraphBuilder('adaround');
  const xIn = b.input('x', DataType.FLOAT, ['N', ...l.inputDims]);
  const beta = b.input('beta', DataType.FLOAT, []);
  const lambda = b.input('lambda', DataType.FLOAT, []);
  const v = b.floatInit(
    'v',
    dims,
    Float32Array.from(frac, (f) => initialV(f)),
  );
  b.graph.input.push(valueInfo(v, DataType.FLOAT, dims));
  const h = b.op('Clip', [
    b.op('Add', [b.op('Mul', [b.op('Sigmoid', [v]), scalar(b, ZETA - GAMMA)]), scalar(b, GAMMA)]),
    scalar(b, 0),
    scalar(b, 1),
  ]);
  const wint = b.op('Clip', [b.op('Add', [b.floatInit('base', dims, base), h]), scalar(b, lo), scalar(b, hi)]);
  const zpF = b.floatInit('zero_point', bcast, Float32Array.from(channelValues(zp, channels), Number));
  const sF = b.floatInit('scale', bcast, channelValues(scale, channels));
  const wq = b.op('Mul', [b.op('Sub', [wint, zpF]), sF]);
  const inputs = [xIn, wq, ...(l.bias ? [b.floatInit('bias', [l.bias.length], l.bias)] : [])];
  const act = l.activation;
  let yOut = b.op(l.node.opType!, inputs, {}, { output: act ? 'pre' : 'y' });
  b.graph.node.at(-1)!.attribute = l.node.attribute.map((a) => ({ ...a }));
  if (act) {
    const consts = act.node.input.slice(1).map((name, i) => {
      const t = act.constants[i];
      return name && t ? b.floatInit('act_const', t.dims.map(Number), tensorArray(t) as Float32Array) : '';
    });
    yOut = b.op(act.node.opType!, [yOut, ...consts], {}, { output: 'y' });
    b.graph.node.at(-1)!.attribute = act.node.attribute.map((a) => ({ ...a }));
  }
  const centred = b.op('Abs', [b.op('Sub', [b.op('Mul', [h, scalar(b, 2)]), scalar(b, 1)])]);
  const round = b.op('ReduceSum', [b.op('Sub', [scalar(b, 1), b.op('Pow', [centred, beta])])], { keepdims: 0 });
  const roundLoss = b.op('Mul', [round, lambda], {}, { output: 'round_loss' });
  b.output(yOut, DataType.FLOAT, ['N', ...l.outputDims]);
  b.output(roundLoss, DataType.FLOAT, []);
  const nearest = Uint8Array.from(frac, (f) => (f >= 0.5 ? 1 : 0));
  return { model: b.model({ opset: Math.max(13, l.opset) }), v, roundLoss, base, nearest };
}

/** Learns the rounding of one layer's weight; returns its integers and the errors before and after. */
async function learnRounding(
  q: ModelProto,
  qg: Graph,
  fg: Graph,
  l: QuantizedWeightInfo,
  activation: NodeProto | undefined,
  w: TensorProto,
  x: Collected,
  y: Collected,
  o: Tunables & AdaroundOptions,
  layerIndex: number,
): Promise<LayerResult> {
  const wv = tensorArray(w) as Float32Array;
  const dims = w.dims.map(Number);
  const [lo, hi] = l.range;
  const outAxis = l.node.opType === 'Conv' ? 1 : y.dims.length - 1;
  const {
    model: layerModel,
    v,
    roundLoss,
    base,
    nearest,
  } = roundingModel({
    node: l.node,
    activation: activation && {
      node: activation,
      constants: activation.input.slice(1).map((name) => fg.initializer(name)!),
    },
    weight: wv,
    dims,
    scale: tensorArray(qg.initializer(l.scale)!) as Float32Array,
    zeroPoint: tensorArray(qg.initializer(l.zeroPoint)!) as Int8Array | Uint8Array,
    axis: l.axis,
    range: l.range,
    bias: currentBias(qg, l.node),
    inputDims: x.dims.slice(1),
    outputDims: y.dims.slice(1),
    opset: opsetVersion(q),
  });

  const tg = buildTrainingGraph(layerModel, { loss: { kind: 'mse' }, trainable: [v], extraLoss: [roundLoss], labelsName: 'target' });
  const param = tg.params[0]!;
  const session = await createSession(tg.model, { graphOptimizationLevel: 'all' });
  try {
    const samples = x.dims[0]!;
    const xRow = x.data.length / samples;
    const yRow = y.data.length / samples;
    if (y.dims[0] !== samples) throw badInput(`adaround: ${samples} layer inputs but ${y.dims[0]} float outputs for ${nodeLabel(l.node)}`);
    // Every fourth sample is held out (given four or more): the rounding is fitted on the rest and kept only
    // where it reconstructs the held-out samples better than nearest — with few calibration samples (8 pages
    // of a text detector) it can otherwise fit them and lose on others.
    const all = Array.from({ length: samples }, (_, i) => i);
    const held = heldOutSamples(samples) ?? all;
    const fit = held === all ? all : all.filter((i) => i % 4 !== 3);
    const bs = Math.min(o.batchSize, fit.length);
    const xb = new Float32Array(bs * xRow);
    const yb = new Float32Array(bs * yRow);
    // The reconstruction is summed over output channels: the mean the loss takes is that sum over C.
    const perChannel = 1 / (y.dims[outAxis] ?? 1);
    /** Runs the step on `rows` (at most bs): the loss, and the gradient when asked. */
    const run = async (rows: readonly number[], vals: Float32Array, betaV: number, lambdaV: number, fetchGrad: boolean) => {
      rows.forEach((r, i) => {
        xb.set(x.data.subarray(r * xRow, (r + 1) * xRow), i * xRow);
        yb.set(y.data.subarray(r * yRow, (r + 1) * yRow), i * yRow);
      });
      const m = rows.length;
      const feeds = {
        x: new ort.Tensor('float32', xb.subarray(0, m * xRow), [m, ...x.dims.slice(1)]),
        target: new ort.Tensor('float32', yb.subarray(0, m * yRow), [m, ...y.dims.slice(1)]),
        beta: new ort.Tensor('float32', Float32Array.of(betaV), []),
        lambda: new ort.Tensor('float32', Float32Array.of(lambdaV * perChannel), []),
        [param.name]: new ort.Tensor('float32', vals, dims),
      };
      try {
        return await session.run(feeds, fetchGrad ? [tg.lossName, param.grad] : [tg.lossName]);
      } catch (e) {
        throw ortRunError(e, `learning the rounding of ${nodeLabel(l.node)}`);
      }
    };
    // Reconstruction error of a hard rounding (h = 0 or 1 exactly) on the held-out samples.
    const hard = (up: Uint8Array) => Float32Array.from(up, (u) => (u ? 10 : -10));
    const error = async (up: Uint8Array) => {
      const vals = hard(up);
      let sum = 0;
      for (let s = 0; s < held.length; s += bs) {
        const rows = held.slice(s, s + bs);
        const out = await run(rows, vals, 2, 0, false);
        sum += Number((out[tg.lossName]!.data as Float32Array)[0]) * rows.length;
      }
      return sum / held.length / perChannel;
    };

    const opt = createOptimizer({ kind: 'adam' }, [wv.length]);
    const { params, grads } = opt.allocate();
    params[0]!.set(param.init);
    const rng = mulberry32((o.seed ?? 0) + 7919 * layerIndex);
    const order = [...fit];
    let at = order.length;
    const warm = Math.floor(o.iterations * o.warmup);
    for (let it = 0; it < o.iterations; it++) {
      const rows: number[] = [];
      while (rows.length < bs) {
        if (at >= order.length) {
          shuffle(order, rng);
          at = 0;
        }
        rows.push(order[at++]!);
      }
      const on = it >= warm;
      const betaV = on ? 20 - (18 * (it - warm)) / Math.max(1, o.iterations - warm) : 20;
      const out = await run(rows, params[0]!, betaV, on ? o.regularization : 0, true);
      grads[0]!.set(out[param.grad]!.data as Float32Array);
      opt.step(params, grads, o.lr);
    }
    const learned = Uint8Array.from(params[0]!, (vv) => (vv >= 0 ? 1 : 0));
    const [nearestError, learnedError] = [await error(nearest), await error(learned)];
    // Learned rounding that reconstructs the held-out samples worse than nearest (too few iterations, a
    // layer whose rounding errors cancel anyway, a fit to too few samples) is not kept.
    const up = learnedError <= nearestError ? learned : nearest;
    const isSigned = lo < 0;
    const values = isSigned ? new Int8Array(base.length) : new Uint8Array(base.length);
    for (let i = 0; i < base.length; i++) values[i] = Math.min(hi, Math.max(lo, base[i]! + up[i]!));
    let flipped = 0;
    for (let i = 0; i < up.length; i++) if (up[i] !== nearest[i]) flipped++;
    return { values, stats: { weights: wv.length, flipped, nearestError, learnedError: Math.min(learnedError, nearestError) } };
  } finally {
    await session.release();
  }
}

const ACTIVATIONS = new Set(['Relu', 'LeakyRelu', 'Clip', 'HardSwish', 'HardSigmoid', 'Sigmoid', 'Tanh']);

/**
 * The elementwise activation that alone reads `value` in the float model, when its other inputs are float
 * initializers (Clip's bounds): the layer is reconstructed through it.
 */
function followingActivation(g: Graph, value: string): NodeProto | undefined {
  const users = g.consumers(value);
  const a = users.length === 1 ? users[0]! : undefined;
  if (!a || a.domain || !ACTIVATIONS.has(a.opType ?? '') || a.input[0] !== value) return undefined;
  const constant = (name: string) => !name || g.initializer(name)?.dataType === DataType.FLOAT;
  return a.input.slice(1).every(constant) ? a : undefined;
}

/** The calibration samples held out from fitting the rounding (every fourth), given four or more. */
export function heldOutSamples(samples: number): number[] | undefined {
  return samples >= 4 ? Array.from({ length: samples }, (_, i) => i).filter((i) => i % 4 === 3) : undefined;
}

/** The V whose h(V) is `f`: σ⁻¹((f − γ)/(ζ − γ)). */
function initialV(f: number): number {
  const p = (f - GAMMA) / (ZETA - GAMMA);
  return Math.log(p / (1 - p));
}

function scalar(b: GraphBuilder, value: number): string {
  return b.floatInit('c', [], [value]);
}

function channelValues(a: ArrayLike<number>, channels: number): Float32Array {
  return Float32Array.from({ length: channels }, (_, c) => Number(a[c]));
}

function shuffle(a: number[], rng: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/** The node's bias as the quantized model holds it now (int32 dequantized, or float), if it has one. */
function currentBias(g: Graph, n: NodeProto): Float32Array | undefined {
  const slot = n.opType === 'Conv' || n.opType === 'Gemm' ? 2 : -1;
  const name = slot > 0 ? n.input[slot] : undefined;
  if (!name) return undefined;
  const t = g.initializer(name);
  if (t) return Float32Array.from(tensorArray(t) as Float32Array);
  const dq = g.producer(name);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const ints = g.initializer(dq.input[0] ?? '');
  const s = g.initializer(dq.input[1] ?? '');
  if (!ints || !s) return undefined;
  const iv = tensorArray(ints);
  const sv = tensorArray(s) as Float32Array;
  return Float32Array.from({ length: iv.length }, (_, c) => Number(iv[c]) * sv[sv.length === 1 ? 0 : c]!);
}

/** AdaRound as the static pipeline's refinement step (`hone quantize --mode static --adaround`). */
export function adaroundRefinement(opts: AdaroundOptions = {}): Refinement {
  return {
    name: 'adaround',
    async run(result, calib) {
      const { model, report } = await adaround(result, calib, opts);
      const settings = adaroundSettings(opts);
      const held = heldOutSamples(calib.size);
      return {
        model,
        ...(held ? { heldOut: sampleSubset(calib, held, `${held.length} held-out samples of ${calib.source}`) } : {}),
        summary: adaroundSummary(report),
        settings: Object.entries(settings)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
        detail: { settings, ...report },
      };
    },
  };
}

/** The settings in force, as given plus defaults (for reports). */
export function adaroundSettings(opts: AdaroundOptions): Record<string, number> {
  const o = withDefaults(opts);
  return { iterations: o.iterations, batchSize: o.batchSize, lr: o.lr, regularization: o.regularization, warmup: o.warmup };
}

/** One line: layers learned, weights flipped, the median drop of the reconstruction error. */
export function adaroundSummary(r: AdaroundReport): string {
  const weights = r.layers.reduce((s, l) => s + l.weights, 0);
  const flipped = r.layers.reduce((s, l) => s + l.flipped, 0);
  const drops = r.layers.map((l) => (l.nearestError > 0 ? 1 - l.learnedError / l.nearestError : 0)).sort((a, b) => a - b);
  const median = drops.length ? drops[Math.floor(drops.length / 2)]! : 0;
  const kept = r.layers.filter((l) => l.flipped === 0).length;
  return (
    `learned the rounding of ${r.layers.length} layer(s) on ${r.samples} calibration samples, ${r.iterations} iterations each: ` +
    `${flipped} of ${weights} weights (${((100 * flipped) / Math.max(1, weights)).toFixed(1)}%) rounded away from nearest, ` +
    `layer reconstruction error −${(100 * median).toFixed(0)}% (median)` +
    (kept ? `, ${kept} layer(s) kept at nearest` : '') +
    (r.skipped.length ? `; ${r.skipped.length} weight(s) not handled (${r.skipped[0]!.why}${r.skipped.length > 1 ? ', …' : ''})` : '')
  );
}
