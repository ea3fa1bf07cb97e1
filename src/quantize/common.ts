/**
 * What every quantization pass shares: the report it returns, node selection (--op-types,
 * --exclude-nodes), reading float weights, opset/domain bookkeeping, and copying the input model so a
 * pass never edits its caller's model.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import type { Graph } from '../ir/graph.js';
import type { QuantRule } from '../ops/types.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import { forEachGraph, forEachTensor } from '../ir/walk.js';
import { numElements, tensorArray } from '../ir/tensor.js';
import { badInput, HoneError } from '../errors.js';
import { foldConstants } from '../passes/fold.js';
import { int8SaturationRisk } from '../runtime/cpu.js';
import { isQuantizedOp } from '../ops/index.js';

export type QuantMode = 'dynamic' | 'static' | 'fp16' | 'int4';

/** What happened to one node. */
export interface NodeDecision {
  node: string;
  opType: string;
  /** True when the node now computes in the quantized (or fp16) form. */
  quantized: boolean;
  /** The form it became ('DynamicQuantizeMatMul', 'QDQ', 'QLinearConv', 'MatMulNBits', 'float16'…) or why it stayed float. */
  detail: string;
}

export interface QuantizeReport {
  mode: QuantMode;
  /** The options in force, as given plus defaults. */
  settings: Record<string, unknown>;
  nodes: NodeDecision[];
  /** Bytes of initializer data before and after. */
  weightBytes: { before: number; after: number };
  /** Things the user should know (opset bumped, values clamped…). */
  notes: string[];
}

export interface QuantizeResult {
  model: ModelProto;
  report: QuantizeReport;
  /**
   * The float model after the pass's exact rewrites (folds, equalization), when it made any: its
   * intermediate tensors are the ones the quantized model approximates (equalization rescales channels).
   */
  prepared?: ModelProto;
  /** Static int8: each weight quantized for one node alone, for passes that refine its rounding (adaround). */
  weights?: QuantizedWeightInfo[];
}

/** A weight static int8 quantized with round-to-nearest, and where its pieces are. */
export interface QuantizedWeightInfo {
  /** The node of the quantized model that reads it (through a DequantizeLinear). */
  node: NodeProto;
  /** That node's input slot. */
  slot: number;
  /** The float initializer's name in `prepared`. */
  float: string;
  /** Initializer names in the quantized model: the integers, their scale and zero point. */
  quantized: string;
  scale: string;
  zeroPoint: string;
  /** The channel axis of per-channel scales. */
  axis?: number;
  /** The integer range the values were clipped to. */
  range: [number, number];
  /** The node's output in `prepared` (a folded ReLU renames it in the quantized model). */
  reference: string;
}

/** Which nodes a pass may touch. */
export interface NodeSelection {
  /** Only these op types (default: every op the mode handles). */
  opTypes?: readonly string[];
  /** Never these node names. */
  excludeNodes?: readonly string[];
}

/** Why `node` is not selected, or undefined when it is. */
/**
 * Default of `reduceRange` (7-bit weights): on where this CPU's u8·s8 kernels can saturate (x86-64 without
 * VNNI, runtime/cpu.ts), since the fidelity Hone measures, and the model's results on this machine, would
 * otherwise carry clipped dot products (M-LSD static: cosine 0.83 with 8-bit weights, 0.94 with 7-bit, on an
 * AVX2 EPYC). Says so in `notes`, with how to turn it off for a VNNI or ARM target.
 */
export function defaultReduceRange(notes: string[]): boolean {
  if (!int8SaturationRisk()) return false;
  notes.push(
    "7-bit weights (reduce range): this CPU has no VNNI, so ORT's u8·s8 int8 kernels add pairs of products in int16 and full 8-bit weights can saturate; for a VNNI or ARM target pass --no-reduce-range",
  );
  return true;
}

export function selectionReason(node: NodeProto, sel: NodeSelection): string | undefined {
  if (sel.excludeNodes?.includes(node.name ?? '')) return 'excluded (--exclude-nodes)';
  if (sel.opTypes && !sel.opTypes.includes(node.opType ?? '')) return 'op type not selected (--op-types)';
  return undefined;
}

/**
 * A copy of `model` that passes may edit freely: every message and list is new, while tensor data
 * (typed arrays, raw bytes) is shared, so copying costs the graph's size, not the weights'. Passes
 * replace tensors; they never write into one.
 */
export function copyModel(model: ModelProto): ModelProto {
  return clone(model);
}

function clone<T>(v: T): T {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = clone(x);
  return out as T;
}

export function nodeLabel(n: NodeProto): string {
  return n.name || `${n.opType}(${n.output[0] ?? ''})`;
}

/** A float32 initializer's values, or undefined when `name` is not a float initializer of this graph. */
export function floatInitializer(g: Graph, name: string): { t: TensorProto; data: Float32Array } | undefined {
  const t = g.initializer(name);
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  return { t, data: tensorArray(t) as Float32Array };
}

/** The output-channel axis of a weight input under `rule`, normalised to [0, rank). */
export function weightAxis(rule: QuantRule, node: NodeProto, input: number, rank: number): number | undefined {
  const w = rule.weights?.find((x) => x.input === input);
  if (!w) return undefined;
  const spec = w.axis;
  let axis: number;
  if (typeof spec === 'number') axis = spec;
  else axis = attrReader(node).int(spec.attr, 0) ? spec.ifSet : spec.ifZero;
  return axis < 0 ? axis + rank : axis;
}

/** The version of `domain` the model imports (0 when it does not). */
export function opsetVersion(model: ModelProto, domain = ''): number {
  return model.opsetImport.find((o) => (o.domain ?? '') === domain || (domain === '' && o.domain === 'ai.onnx'))?.version ?? 0;
}

/** Imports `domain` at `version` at least. */
export function requireDomain(model: ModelProto, domain: string, version: number): void {
  const o = model.opsetImport.find((x) => (x.domain ?? '') === domain);
  if (!o) model.opsetImport.push({ domain, version });
  else if ((o.version ?? 0) < version) o.version = version;
}

/** Total bytes of tensor data in the model. */
export function tensorBytes(model: ModelProto): number {
  let n = 0;
  forEachTensor(model, (t) => {
    n +=
      t.rawData?.byteLength ??
      (t.floatData?.byteLength ?? 0) + (t.int64Data?.byteLength ?? 0) + (t.int32Data?.byteLength ?? 0) + (t.doubleData?.byteLength ?? 0);
  });
  return n;
}

/**
 * The "nothing to quantize" error (a bad-input HoneError): the CLI writes nothing in that case, and a pass
 * (passes/quantize.ts) reports it as a pass that found nothing to do.
 */
export class NothingToQuantize extends HoneError {}

export function nothingToQuantize(mode: QuantMode, decisions: readonly NodeDecision[], what: string): Error {
  const seen = decisions.length
    ? ` (${decisions.length} candidate node${decisions.length === 1 ? '' : 's'}, none eligible: ${decisions[0]!.detail})`
    : '';
  return new NothingToQuantize(`nothing to quantize in ${mode} mode: the model has no ${what}${seen}; nothing was written`, 2);
}

/** Renames a node output and its node uses, leaving graph outputs that name it alone. */
export function renameProduced(g: Graph, from: string, to: string): void {
  const p = g.producer(from)!;
  const at = g.nodes.indexOf(p);
  g.removeNode(p);
  p.output = p.output.map((o) => (o === from ? to : o));
  g.insertNode(p, at);
  for (const c of g.consumers(from))
    c.input.forEach((x, i) => {
      if (x === from) g.setInput(c, i, to);
    });
}

/**
 * Turns weights computed from constants (Constant nodes, ConstantOfShape/Cast/Transpose/DequantizeLinear
 * chains, as exporters write them; in subgraphs too) into initializers, so the passes see them as weights.
 * Returns a note when any.
 */
export function constantWeights(m: ModelProto): string[] {
  const { folded } = foldConstants(m);
  return folded
    ? [`folded ${folded} constant node(s) (Constant, Cast/Transpose/DequantizeLinear of weights…) into initializers first`]
    : [];
}

const LOW_BIT = new Set<number>([
  DataType.INT8,
  DataType.UINT8,
  DataType.INT4,
  DataType.UINT4,
  DataType.FLOAT8E4M3FN,
  DataType.FLOAT8E4M3FNUZ,
  DataType.FLOAT8E5M2,
  DataType.FLOAT8E5M2FNUZ,
]);
const HALF = new Set<number>([DataType.FLOAT16, DataType.BFLOAT16]);

/**
 * What shows the model was quantized already, for `mode`, or undefined: quantized ops (`isQuantizedOp`: Q/DQ
 * pairs, QLinear*, MatMulInteger/ConvInteger, MatMulNBits…) and low-bit weights (int8/uint8/int4/float8 tensors read by a
 * dequantizing op or a Cast) for every mode, and float16 weights for fp16 mode. Quantizing such a model
 * again re-rounds weights that were already rounded and wraps Q/DQ in more Q/DQ: it grows, and its
 * fidelity is measured against a model that is not the float one. In subgraphs too. Small tensors (scales,
 * zero points, fill values) are not weights.
 */
export function quantizedAlready(model: ModelProto, mode: QuantMode): { kind: 'quantized' | 'float16'; found: string } | undefined {
  const ops = new Map<string, number>();
  const weights = new Map<string, number>();
  let lowBit = false;
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  forEachGraph(model, (g) => {
    const tensors = new Map<string, TensorProto>();
    for (const t of g.initializer) tensors.set(t.name ?? '', t);
    for (const n of g.node) {
      const t = n.opType === 'Constant' ? n.attribute.find((a) => a.name === 'value')?.t : undefined;
      if (t) tensors.set(n.output[0] ?? '', t);
    }
    const seen = new Set<string>();
    for (const n of g.node) {
      const op = n.opType ?? '';
      const quantOp = isQuantizedOp(op);
      if (quantOp) count(ops, op);
      const toFloat = op === 'Cast' && (attrReader(n).int('to') === DataType.FLOAT || HALF.has(attrReader(n).int('to', 0)));
      for (const v of n.input) {
        const t = tensors.get(v);
        if (!t || seen.has(v) || numElements(t.dims) < 16) continue;
        const type = t.dataType ?? 0;
        if ((LOW_BIT.has(type) && (quantOp || toFloat)) || (mode === 'fp16' && HALF.has(type) && op !== 'Constant')) {
          seen.add(v);
          lowBit ||= LOW_BIT.has(type);
          count(weights, dtypeName(type));
        }
      }
    }
  });
  const parts = [...ops].map(([op, n]) => `${n} ${op}`).concat([...weights].map(([type, n]) => `${n} ${type} weight${n === 1 ? '' : 's'}`));
  if (!parts.length) return undefined;
  return { kind: ops.size || lowBit ? 'quantized' : 'float16', found: parts.join(', ') };
}

/** Refuses to quantize a model that is quantized already (`quantizedAlready`), naming what was found and the way out. */
export function refuseQuantized(model: ModelProto, mode: QuantMode): void {
  const q = quantizedAlready(model, mode);
  if (!q) return;
  throw badInput(
    q.kind === 'float16'
      ? `the model is float16 already (${q.found}): converting it again saves nothing and re-rounds what it kept float32; pass --force to convert its float32 ops anyway`
      : `the model is quantized already (${q.found}): quantizing it again re-rounds its weights and adds nodes, not savings; quantize the float model it was made from, or pass --force to ${mode === 'fp16' ? 'convert' : 'quantize'} it anyway`,
  );
}
