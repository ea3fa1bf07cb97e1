/**
 * Static int8 quantization: weights and activations quantized, activation ranges from calibration data.
 *
 * QDQ format (default, U8S8): QuantizeLinear/DequantizeLinear pairs on every activation a quantizable op reads
 * or writes, DequantizeLinear on int8 weights (per channel) and int32 biases; ORT fuses each
 * DQ → op → Q unit into its integer kernel (QLinearConv, QLinearMatMul…). QOperator format: the same
 * plan, with each unit rewritten to the QLinear op itself (see qoperator.ts).
 *
 * What quantizes, and how, comes from the op rules (`quantRule`): compute ops get their inputs and
 * outputs quantized; pass-through ops (Reshape, MaxPool…) reuse their input's scale; a ReLU after a
 * compute op is folded into that op's output range when activations are asymmetric.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph, topoOrder } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor, makeTensor } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { quantRule } from '../ops/index.js';
import type { QuantRule } from '../ops/types.js';
import { badInput, errorMessage, HoneError } from '../errors.js';
import { aiOnnxOpset, upgradeOpset } from '../passes/upgrade.js';
import {
  copyModel,
  defaultReduceRange,
  floatInitializer,
  renameProduced,
  nodeLabel,
  nothingToQuantize,
  requireDomain,
  selectionReason,
  tensorBytes,
  weightAxis,
  type NodeDecision,
  type NodeSelection,
  type QuantizedWeightInfo,
  type QuantizeResult,
} from './common.js';
import { collectStats, type CalibOptions, type Range } from './calibrate.js';
import { qrange, quantizeWeight, rangeParams, S8, U8, type QType } from './math.js';
import type { SampleData } from './data.js';
import { toQOperator } from './qoperator.js';
import { prepareStatic } from './prepare.js';
import { correctBias, type BiasTarget } from './bias-correct.js';

export interface StaticOptions extends NodeSelection, CalibOptions {
  /** 'qdq' (default): Q/DQ pairs ORT fuses; 'qoperator': QLinearConv/QLinearMatMul… nodes. */
  format?: 'qdq' | 'qoperator';
  /**
   * Activation type. Default uint8 (U8S8): measured on this machine (AVX512-VNNI, ORT 1.30) ORT fuses
   * every unit of zoo:resnet with uint8 activations, while with int8 it left 9 of its 15 Convs unfused
   * and its int8 QLinearAdd/QLinearConv kernels ran slower (docs/benchmarks.md). Asymmetric int8 and
   * uint8 are the same grid shifted by 128, so accuracy is identical.
   */
  activationType?: 'int8' | 'uint8';
  weightType?: 'int8' | 'uint8';
  /** Per-channel weight scales (default true). */
  perChannel?: boolean;
  /** 7-bit weights (default: `defaultReduceRange()`, on where this CPU's int8 kernels can saturate). */
  reduceRange?: boolean;
  /** Cross-layer equalization of Conv → ReLU → Conv chains before calibration (default: STATIC_DEFAULTS). */
  equalize?: boolean;
  /** Empirical bias correction of each quantized Conv/Gemm on the calibration data (default: STATIC_DEFAULTS). */
  biasCorrection?: boolean;
  /**
   * Bytes of activations (all calibration batches) bias correction may keep to measure each wave of layers
   * on its own segment of the graph (default BIAS_SEGMENT_BYTES, 1 GiB); past it, or at 0, the remaining
   * waves are measured on the whole graph: the same corrections, one pass over the graph per wave.
   */
  biasCorrectionMemory?: number;
  /** Progress of calibration, samples done of total. */
  onProgress?: (done: number, total: number) => void;
}

/** The defaults chosen by measurement (docs/design.md, "Static int8: calibration defaults"). */
export const STATIC_DEFAULTS = { method: 'auto', equalize: true, biasCorrection: true } as const satisfies StaticOptions;

/** Calibrated ranges of a model's activations, reusable across quantizations of the same model. */
export interface Calibration {
  ranges: Map<string, Range>;
  method: string;
  samples: number;
  source: string;
  /** Whether the model was equalized before calibration (the ranges are those of the equalized model). */
  equalize: boolean;
  /** The calibration data, for bias correction. */
  data: SampleData;
  /**
   * The float model's per-channel output means on `data`, by tensor name and per-channel setting, kept
   * by bias correction across quantizations of this calibration (see correctBias).
   */
  biasReference?: Map<string, Map<string, Float64Array>>;
}

/** Calibrates every tensor a plan for `opts` could quantize, whatever nodes are excluded (so tuning can reuse it). */
export async function calibrateStatic(model: ModelProto, data: SampleData, opts: StaticOptions = {}): Promise<Calibration> {
  const prepared = copyModel(staticOpset(model, opts.perChannel ?? true).model);
  const equalize = opts.equalize ?? STATIC_DEFAULTS.equalize;
  prepareStatic(prepared, { equalize });
  opts = { ...opts, method: opts.method ?? STATIC_DEFAULTS.method };
  const plan = planStatic(prepared, { ...opts, excludeNodes: [] });
  // Nothing to calibrate (e.g. every quantizable op sits inside If/Loop bodies): say so before running anything.
  if (!plan.decisions.some((d) => d.quantized))
    throw nothingToQuantize('static', plan.decisions, 'Conv, MatMul, Gemm or other quantizable op with float inputs in the main graph');
  // All candidates, so that any later exclusion (--exclude-nodes, accuracy tuning) finds its ranges here.
  const stats = await collectStats(prepared, [...plan.candidates], data, opts, opts.onProgress);
  const ranges = new Map([...stats].map(([k, s]) => [k, s.range(opts)]));
  const method =
    opts.method === 'percentile'
      ? `percentile ${opts.percentile ?? 99.99}`
      : opts.method === 'auto'
        ? `auto (${autoPicks(ranges)})`
        : (opts.method ?? 'minmax');
  return { ranges, method, samples: data.size, source: data.source, equalize, data };
}

/** How often 'auto' chose each method, e.g. 'mse ×40, percentile ×3'. */
function autoPicks(ranges: Map<string, Range>): string {
  const counts = new Map<string, number>();
  for (const r of ranges.values()) if (r.picked) counts.set(r.picked, (counts.get(r.picked) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([m, c]) => `${m} ×${c}`)
    .join(', ');
}

export async function quantizeStatic(
  model: ModelProto,
  calib: SampleData | Calibration,
  opts: StaticOptions = {},
): Promise<QuantizeResult> {
  const calibration = 'ranges' in calib ? calib : await calibrateStatic(model, calib, opts);
  if (opts.equalize !== undefined && opts.equalize !== calibration.equalize) {
    throw badInput(
      `equalize is ${opts.equalize} but the calibration was made with equalize ${calibration.equalize}; calibrate with the same setting`,
    );
  }
  const upgraded = staticOpset(model, opts.perChannel ?? true);
  const m = copyModel(upgraded.model);
  const before = tensorBytes(m);
  const notes: string[] = [...upgraded.notes];
  const perChannel = upgraded.perChannel;
  notes.push(...prepareStatic(m, { equalize: calibration.equalize }));
  const prepared = copyModel(m);
  const plan = planStatic(m, opts);
  if (plan.floatOps.size)
    notes.push(`ops with no int8 form stay float between Q/DQ pairs: ${[...plan.floatOps].map(([t, c]) => `${t} ×${c}`).join(', ')}`);
  if (!plan.decisions.some((d) => d.quantized))
    throw nothingToQuantize('static', plan.decisions, 'Conv, MatMul, Gemm or other quantizable op with float inputs');
  const actType = opts.activationType === 'int8' ? S8 : U8;
  const wType = opts.weightType === 'uint8' ? U8 : S8;
  const symmetric = opts.symmetric ?? false;
  const reduceRange = opts.reduceRange ?? defaultReduceRange(notes);
  const rewrite: RewriteOptions = { actType, wType, symmetric, perChannel, reduceRange };
  const biasCorrection = opts.biasCorrection ?? STATIC_DEFAULTS.biasCorrection;
  const targets = biasCorrection ? biasTargets(m, plan) : [];
  const weights = rewriteQdq(m, plan, calibration, rewrite);
  if (targets.length) {
    calibration.biasReference ??= new Map();
    const key = `${perChannel}|${opts.batchSize ?? ''}`;
    const cache = calibration.biasReference.get(key) ?? new Map<string, Float64Array>();
    calibration.biasReference.set(key, cache);
    const fixed = await correctBias(m, prepared, targets, calibration.data, {
      batchSize: opts.batchSize,
      cache,
      segmentBytes: opts.biasCorrectionMemory,
    });
    if (fixed)
      notes.push(
        `bias correction: ${fixed} Conv/Gemm bias(es) corrected for the mean shift quantization leaves in their outputs, measured layer by layer on ${calibration.samples} calibration samples`,
      );
  }
  const format = opts.format ?? 'qdq';
  if (format === 'qoperator') {
    const converted = toQOperator(m);
    for (const d of plan.decisions) if (d.quantized && converted.has(d.node)) d.detail = converted.get(d.node)!;
    if (
      [...converted.values()].some(
        (v) =>
          v.startsWith('QGemm') ||
          v.startsWith('QLinearAdd') ||
          v.startsWith('QLinearMul') ||
          v.startsWith('QLinearGlobal') ||
          v.startsWith('QLinearConcat') ||
          v.startsWith('QLinearAverage') ||
          v.startsWith('QLinearSigmoid') ||
          v.startsWith('QLinearLeaky'),
      )
    ) {
      requireDomain(m, 'com.microsoft', 1);
    }
  }
  return {
    model: m,
    prepared,
    weights,
    report: {
      mode: 'static',
      settings: {
        format,
        calibration: calibration.method,
        calibrationSamples: calibration.samples,
        calibrationData: calibration.source,
        activationType: actType.signed ? 'int8' : 'uint8',
        weightType: wType.signed ? 'int8' : 'uint8',
        symmetricActivations: symmetric,
        perChannel,
        reduceRange,
        opTypes: opts.opTypes ?? 'all quantizable',
        excludeNodes: opts.excludeNodes ?? [],
      },
      nodes: plan.decisions,
      weightBytes: { before, after: tensorBytes(m) },
      notes,
    },
  };
}

/**
 * Static int8 needs ai.onnx opset 10 (QuantizeLinear) and, for per-channel weights, 13 (DequantizeLinear's
 * axis): older models are upgraded (passes/upgrade.ts). Where the upgrade cannot keep an op's meaning, a
 * model at 10-12 keeps its opset with per-tensor weights; below 10 the upgrader's error stands.
 */
function staticOpset(model: ModelProto, perChannel: boolean): { model: ModelProto; perChannel: boolean; notes: string[] } {
  const from = aiOnnxOpset(model);
  if (from >= 13 || (from >= 10 && !perChannel)) return { model, perChannel, notes: [] };
  try {
    return {
      model: upgradeOpset(model, 13).model,
      perChannel,
      notes: [`opset upgraded from ${from} to 13 (QuantizeLinear, per-channel DequantizeLinear)`],
    };
  } catch (e) {
    if (from < 10) throw e;
    return {
      model,
      perChannel: false,
      notes: [
        `per-channel weights need opset 13 and the model's opset ${from} cannot be upgraded (${errorMessage(e)}): used per-tensor weights`,
      ],
    };
  }
}

interface PlannedNode {
  node: NodeProto;
  rule: QuantRule;
  /** Input slots quantized as constant weights (initializers). */
  weights: number[];
  /** Input slots quantized as activations. */
  activations: number[];
  /** A ReLU folded into this node's output range. */
  foldedRelu?: NodeProto;
}

interface Plan {
  nodes: Map<NodeProto, PlannedNode>;
  /** Activation tensors that get Q/DQ, mapped to the tensor whose range they use (themselves, or a pass-through's input). */
  tensors: Map<string, string>;
  /** Tensors that need a calibrated range under this plan. */
  calibrate: Set<string>;
  /** Every float tensor any plan for this model could quantize (inputs and outputs of ops with a rule), whatever is excluded. */
  candidates: Set<string>;
  decisions: NodeDecision[];
  /** Op types with no quantization rule that stay float, with counts. */
  floatOps: Map<string, number>;
}

function planStatic(model: ModelProto, opts: StaticOptions): Plan {
  const g = new Graph(model.graph!);
  const types = inferShapes(model).types;
  const graphOutputs = new Set(model.graph!.output.map((o) => o.name));
  const isFloatAct = (v: string) => !!v && !g.initializer(v) && types.get(v)?.elemType === DataType.FLOAT;
  const asymmetric = !(opts.symmetric ?? false);
  const plan: Plan = {
    nodes: new Map(),
    tensors: new Map(),
    calibrate: new Set(),
    decisions: [],
    floatOps: new Map(),
    candidates: new Set(),
  };
  const available = new Set([...model.graph!.input.map((v) => v.name ?? ''), ...model.graph!.initializer.map((t) => t.name ?? '')]);
  const folded = new Set<NodeProto>();
  for (const n of topoOrder(model.graph!.node, available)) {
    if (folded.has(n)) continue;
    const rule = quantRule(n.domain, n.opType ?? '');
    if (!rule) {
      if (n.output.some(isFloatAct)) plan.floatOps.set(n.opType ?? '?', (plan.floatOps.get(n.opType ?? '?') ?? 0) + 1);
      for (const a of n.attribute) {
        for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) {
          for (const inner of sub.node) {
            if (quantRule(inner.domain, inner.opType ?? '')?.kind === 'compute') {
              plan.decisions.push({
                node: nodeLabel(inner),
                opType: inner.opType!,
                quantized: false,
                detail: `inside ${nodeLabel(n)}'s subgraph: static mode quantizes the main graph only`,
              });
            }
          }
        }
      }
      continue;
    }
    for (const v of [...n.input, ...n.output]) if (isFloatAct(v)) plan.candidates.add(v);
    const skip = selectionReason(n, opts);
    if (rule.kind === 'passthrough') {
      const src = n.input[0]!;
      const out = n.output[0]!;
      if (!skip && plan.tensors.has(src) && isFloatAct(out)) {
        plan.nodes.set(n, { node: n, rule, weights: [], activations: [0] });
        plan.tensors.set(out, plan.tensors.get(src)!);
        plan.decisions.push({ node: nodeLabel(n), opType: n.opType!, quantized: true, detail: 'QDQ (int8 pass-through, input scale)' });
      }
      continue;
    }
    if (skip) {
      plan.decisions.push({ node: nodeLabel(n), opType: n.opType!, quantized: false, detail: skip });
      continue;
    }
    const slots = new Set([
      ...(rule.activations === 'all' ? n.input.map((_, i) => i) : rule.activations),
      ...(rule.weights ?? []).map((w) => w.input),
    ]);
    const weights: number[] = [];
    const activations: number[] = [];
    let why: string | undefined;
    for (const i of slots) {
      const v = n.input[i];
      if (!v) continue;
      if (floatInitializer(g, v)) weights.push(i);
      else if (isFloatAct(v)) activations.push(i);
      else why = `input ${i} ('${v}') is not a float tensor`;
    }
    if (rule.weights?.some((w) => n.input[w.input] && !weights.includes(w.input) && !activations.includes(w.input)))
      why ??= 'weight is not float32';
    const out = n.output[0]!;
    if (!isFloatAct(out)) why ??= 'output is not a float tensor';
    if (activations.length === 0 && !why) why = 'no activation input (constant subgraph)';
    if (why) {
      plan.decisions.push({ node: nodeLabel(n), opType: n.opType!, quantized: false, detail: why });
      continue;
    }
    const p: PlannedNode = { node: n, rule, weights, activations };
    for (const i of activations) {
      const v = n.input[i]!;
      if (!plan.tensors.has(v)) {
        plan.tensors.set(v, v);
        plan.calibrate.add(v);
      }
    }
    // A lone ReLU after this op: quantize its output instead and drop it (asymmetric ranges clip at 0 exactly).
    const users = g.consumers(out);
    const relu = users.length === 1 && !graphOutputs.has(out) ? users[0]! : undefined;
    const reluRule = relu && quantRule(relu.domain, relu.opType ?? '');
    if (
      relu &&
      reluRule?.foldsIntoRange &&
      lowerBoundIsZero(g, relu, reluRule.foldsIntoRange) &&
      asymmetric &&
      !selectionReason(relu, opts) &&
      onlyQuantizedReaders(g, relu.output[0]!, graphOutputs)
    ) {
      p.foldedRelu = relu;
      folded.add(relu);
      plan.tensors.set(relu.output[0]!, relu.output[0]!);
      plan.calibrate.add(relu.output[0]!);
      plan.decisions.push({
        node: nodeLabel(relu),
        opType: relu.opType!,
        quantized: true,
        detail: `folded into ${nodeLabel(n)}'s output range`,
      });
    } else {
      plan.tensors.set(out, out);
      plan.calibrate.add(out);
    }
    plan.nodes.set(n, p);
    plan.decisions.push({ node: nodeLabel(n), opType: n.opType!, quantized: true, detail: 'QDQ' });
  }
  return plan;
}

/** True when the clipping op's lower bound is a constant 0 (Relu: always). */
function lowerBoundIsZero(g: Graph, n: NodeProto, fold: { lowerInput?: number; lowerAttr?: string }): boolean {
  if (fold.lowerInput === undefined && fold.lowerAttr === undefined) return true;
  const name = fold.lowerInput === undefined ? undefined : n.input[fold.lowerInput];
  if (name) return floatInitializer(g, name)?.data[0] === 0;
  return fold.lowerAttr !== undefined && attrReader(n).float(fold.lowerAttr) === 0;
}

/** True when every reader of `v` is an op with a quantization rule (so none sees the un-clipped float). */
function onlyQuantizedReaders(g: Graph, v: string, outputs: Set<string | undefined>): boolean {
  if (outputs.has(v)) return false;
  return g.consumers(v).every((c) => quantRule(c.domain, c.opType ?? '') !== undefined);
}

interface RewriteOptions {
  actType: QType;
  wType: QType;
  symmetric: boolean;
  perChannel: boolean;
  reduceRange: boolean;
}

/**
 * Each planned Conv/Gemm with a constant weight, with the float model's name for its output (before a
 * folded ReLU renames it). A Conv without a bias gets a zero one, so that the QDQ model has an int32 bias
 * to correct.
 */
function biasTargets(m: ModelProto, plan: Plan): BiasTarget[] {
  const g = new Graph(m.graph!);
  const targets: BiasTarget[] = [];
  for (const p of plan.nodes.values()) {
    const n = p.node;
    const slot = p.rule.weights?.[0]?.input;
    if ((n.opType !== 'Conv' && n.opType !== 'Gemm') || slot === undefined || !p.weights.includes(slot)) continue;
    if (n.opType === 'Conv' && !n.input[2]) {
      const channels = floatInitializer(g, n.input[slot]!)!.t.dims[0]!;
      const bias = g.addInitializer(floatTensor(g.freshName(`${n.name || n.output[0]}_bias`), [channels], new Float32Array(channels)));
      const at = g.nodes.indexOf(n);
      g.removeNode(n);
      n.input = [n.input[0]!, n.input[1]!, bias];
      g.insertNode(n, at);
    }
    targets.push({ node: n, reference: n.output[0]! });
  }
  return targets;
}

function rewriteQdq(m: ModelProto, plan: Plan, calib: Calibration, o: RewriteOptions): QuantizedWeightInfo[] {
  const g = new Graph(m.graph!);
  const reference = new Map([...plan.nodes.keys()].map((n) => [n, n.output[0]!]));
  const elem = (t: QType) => (t.signed ? DataType.INT8 : DataType.UINT8);
  const zpArray = (t: QType, values: ArrayLike<number>) => (t.signed ? Int8Array.from(values) : Uint8Array.from(values));

  // Folded ReLUs go first: the compute op now writes the ReLU's output name.
  for (const p of plan.nodes.values()) {
    if (!p.foldedRelu) continue;
    const relu = p.foldedRelu;
    const out = p.node.output[0]!;
    g.removeNode(relu);
    const at = g.nodes.indexOf(p.node);
    g.removeNode(p.node);
    p.node.output = p.node.output.map((x) => (x === out ? relu.output[0]! : x));
    g.insertNode(p.node, at);
  }

  // One scale/zero-point pair per range source, shared by pass-through aliases.
  const params = new Map<string, { scale: string; zp: string; s: number }>();
  const paramsFor = (src: string) => {
    let p = params.get(src);
    if (!p) {
      const r = calib.ranges.get(src);
      if (!r) throw new HoneError(`internal: no calibrated range for '${src}'`, 1);
      const q = rangeParams(r.min, r.max, o.actType, o.symmetric);
      p = {
        scale: g.addInitializer(floatTensor(g.freshName(`${src}_scale`), [], [q.scale])),
        zp: g.addInitializer(makeTensor(g.freshName(`${src}_zero_point`), elem(o.actType), [], zpArray(o.actType, [q.zeroPoint]))),
        s: q.scale,
      };
      params.set(src, p);
    }
    return p;
  };

  // Every reader of a quantized tensor reads it through the DQ (as ORT's quantizer does), so a
  // compute op's output Q is there for ORT to fuse even when a float op reads it; a graph output keeps
  // its name on the DequantizeLinear's output.
  const graphOutputs = new Set(m.graph!.output.map((v) => v.name));
  const dqSource = new Map<string, string>();
  for (const [t, src] of plan.tensors) {
    const p = paramsFor(src);
    const isOutput = graphOutputs.has(t);
    if (g.consumers(t).length === 0 && !isOutput) continue;
    let value = t;
    if (isOutput) {
      if (!g.producer(t)) continue;
      value = g.freshName(`${t}_float`);
      renameProduced(g, t, value);
    }
    const tq = g.freshName(`${t}_quantized`);
    const tdq = isOutput ? t : g.freshName(`${t}_dequantized`);
    const readers = g.consumers(value);
    const qn = makeNode('QuantizeLinear', [value, p.scale, p.zp], [tq], {}, { name: g.freshName(`${t}_QuantizeLinear`) });
    const dq = makeNode('DequantizeLinear', [tq, p.scale, p.zp], [tdq], {}, { name: g.freshName(`${t}_DequantizeLinear`) });
    const producer = g.producer(value);
    if (producer) {
      g.insertAfter(producer, qn);
      g.insertAfter(qn, dq);
    } else {
      g.insertNode(qn, 0);
      g.insertNode(dq, 1);
    }
    for (const c of readers)
      c.input.forEach((x, i) => {
        if (x === value) g.setInput(c, i, tdq);
      });
    dqSource.set(tdq, src);
  }

  // Weights (per channel where the rule names an axis), then int32 biases.
  const weightCache = new Map<string, { out: string; scale: Float32Array }>();
  const records = new Map<string, QuantizedWeightInfo | undefined>();
  const replaced = new Set<string>();
  for (const p of plan.nodes.values()) {
    const n = p.node;
    let wScale: Float32Array | undefined;
    for (const i of p.weights) {
      const name = n.input[i]!;
      const { t, data } = floatInitializer(g, name)!;
      // A rule weight gets the weight type (per channel); another constant input (an Add's bias, a Mul's
      // factor) is quantized like the activation it meets, since QLinearAdd/Mul need one type.
      const isWeight = p.rule.weights?.some((x) => x.input === i) ?? false;
      const type = isWeight ? o.wType : o.actType;
      const axis = isWeight && o.perChannel && t.dims.length > 1 ? weightAxis(p.rule, n, i, t.dims.length) : undefined;
      const key = `${name}|${axis}|${isWeight}`;
      let w = weightCache.get(key);
      if (!w) {
        const qw = quantizeWeight(data, t.dims, {
          type,
          axis,
          symmetric: isWeight ? type.signed : o.symmetric,
          reduceRange: isWeight && o.reduceRange,
        });
        const shape = axis === undefined ? [] : [t.dims[axis]!];
        const q = g.addInitializer(makeTensor(g.freshName(`${name}_quantized`), elem(type), t.dims, qw.data));
        const s = g.addInitializer(floatTensor(g.freshName(`${name}_scale`), shape, qw.scale));
        const zp = g.addInitializer(makeTensor(g.freshName(`${name}_zero_point`), elem(type), shape, qw.zeroPoint));
        const out = g.freshName(`${name}_dequantized`);
        g.insertNode(
          makeNode('DequantizeLinear', [q, s, zp], [out], axis === undefined ? {} : { axis }, {
            name: g.freshName(`${name}_DequantizeLinear`),
          }),
          0,
        );
        w = { out, scale: qw.scale };
        weightCache.set(key, w);
        const bits = isWeight && o.reduceRange ? type.bits - 1 : type.bits;
        const range = qrange({ ...type, bits }, isWeight ? type.signed : o.symmetric);
        const ref = reference.get(n)!;
        if (isWeight)
          records.set(key, { node: n, slot: i, float: name, quantized: q, scale: s, zeroPoint: zp, axis, range, reference: ref });
      } else {
        records.set(key, undefined); // shared by several nodes: its rounding serves them all
      }
      g.setInput(n, i, w.out);
      replaced.add(name);
      if (isWeight) wScale = w.scale;
    }
    const b = p.rule.bias;
    const x = dqSource.get(n.input[0]!);
    if (b === undefined || !n.input[b] || !wScale || x === undefined) continue;
    const bias = floatInitializer(g, n.input[b]!);
    if (bias?.t.dims.length !== 1 || (wScale.length !== 1 && wScale.length !== bias.data.length)) continue;
    const xs = params.get(x)!.s;
    const scales = Float32Array.from({ length: wScale.length }, (_, c) => xs * wScale![c]!);
    const q = Int32Array.from(bias.data, (v, c) =>
      Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(v / scales[scales.length === 1 ? 0 : c]!))),
    );
    const name = n.input[b]!;
    const bq = g.addInitializer(makeTensor(g.freshName(`${name}_quantized`), DataType.INT32, bias.t.dims, q));
    const bs = g.addInitializer(floatTensor(g.freshName(`${name}_scale`), scales.length === 1 ? [] : [scales.length], scales));
    const out = g.freshName(`${name}_dequantized`);
    g.insertNode(
      makeNode('DequantizeLinear', [bq, bs], [out], scales.length === 1 ? {} : { axis: 0 }, {
        name: g.freshName(`${name}_DequantizeLinear`),
      }),
      0,
    );
    g.setInput(n, b, out);
    replaced.add(name);
  }
  for (const name of replaced) if (!g.isUsed(name)) g.removeInitializer(name);
  return [...records.values()].filter((r): r is QuantizedWeightInfo => r !== undefined);
}
