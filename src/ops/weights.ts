/**
 * The model's weights, each tensor once, wherever it lives: initializers, Constant nodes, ConstantOfShape of
 * a constant shape, in the main graph or in If/Loop/Scan subgraphs (which may also read the outer graph's).
 * Nothing is materialized: a ConstantOfShape is counted from its shape, external data need not be loaded.
 *
 * What counts as a weight: a constant tensor the model computes with. Each source tensor (an initializer, a
 * Constant node's value, or a ConstantOfShape with a constant shape) is followed through the ops that only
 * give it another form (Cast, Reshape, Transpose, DequantizeLinear…, see `weight-forms.ts`); it is a weight
 * when one of its forms is read as data by another node (or is a graph output) with an element type that
 * weights have:
 * - float types (fp32, fp64, fp16, bf16, fp8) and the quantized integer types (int8/uint8, int16/uint16,
 *   int4/uint4, int2/uint2). The scales and zero points of quantized weights count too: they are stored;
 * - int32 only as the bias of QLinearConv or com.microsoft QGemm (in QDQ models an int32 bias reaches its
 *   Conv as DequantizeLinear's float output, which counts through the rule above);
 * - never int64, bool or strings: those are shapes, axes, indices and masks (Reshape targets, Slice starts…).
 * A ConstantOfShape read only by Concat is padding joined to activations (tf2onnx writes zero channels that
 * way), not a weight. Unused tensors are not weights.
 * A weight counts its elements and bytes once, at its source and in its stored type: a DequantizeLinear chain
 * counts its int8 data (not also the float result), a Cast chain its fp16 source, a weight shared by several
 * nodes or read from a subgraph counts once.
 */
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { DataType, byteSize, isFloat } from '../ir/dtype.js';
import { isExternal, numElements, tensorNumbers } from '../ir/tensor.js';
import { nodeGraphs } from '../ir/walk.js';
import { inferShapes, type ShapeInference } from './infer.js';
import { formElemType, formInput } from './weight-forms.js';

export interface Weight {
  /** The value that holds the tensor as stored: an initializer, a Constant node's output, a ConstantOfShape's output. */
  name: string;
  /** 'constant': a Constant node's attribute; 'computed': made at run time by ConstantOfShape, nothing stored. */
  location: 'initializer' | 'constant' | 'computed';
  /** The graph that holds it: 'main', or a subgraph's path such as 'main/If_0:then_branch'. */
  graph: string;
  /** The stored element type (int8 under a DequantizeLinear, fp16 under a Cast). */
  dataType: number;
  dims: number[];
  elements: number;
  /** Bytes of the stored data (for 'computed', of the tensor ConstantOfShape makes). */
  bytes: number;
  /** True when its data sits in an external file that was not loaded. */
  external: boolean;
  /** The other values that hold this tensor: what Cast, Reshape, Transpose, DequantizeLinear… make of it. */
  forms: { name: string; dataType?: number; dims?: number[] }[];
}

export interface ModelWeights {
  /** In walk order: a graph's initializers, then what its nodes make in graph order, a subgraph's where its node stands. */
  weights: Weight[];
  /** Elements of all weights. */
  params: number;
  /** Stored bytes of all weights. */
  bytes: number;
  /** The weight held by `value` (its source or any of its forms) of the graph at `graph` (default 'main'). */
  find(value: string, graph?: string): Weight | undefined;
}

export function modelWeights(model: ModelProto): ModelWeights {
  const inference = inferShapes(model);
  const sources: Source[] = [];
  const walker = new Walker(sources, inference);
  walker.graph(model.graph!, 'main', inference, undefined, (model.irVersion ?? 0) >= 4);
  const weights = sources.filter((s) => s.used).map((s) => s.weight);
  const byValue = new Map<string, Weight>();
  for (const w of weights) for (const name of [w.name, ...w.forms.map((f) => f.name)]) byValue.set(`${w.graph}\0${name}`, w);
  return {
    weights,
    params: weights.reduce((n, w) => n + w.elements, 0),
    bytes: weights.reduce((n, w) => n + w.bytes, 0),
    find: (value, graph = 'main') => byValue.get(`${graph}\0${value}`),
  };
}

// ---- Implementation -------------------------------------------------------------------------------

interface Source {
  weight: Weight;
  /** Read as a weight somewhere. */
  used: boolean;
}

/** What the walk knows about a value: the source whose form it is, its element type, whether it is constant. */
interface Ref {
  source?: Source;
  dataType?: number;
  constant: boolean;
  /** Its value, when small and known (shape inference's constants): ConstantOfShape reads its shape here. */
  value?: TensorProto;
}

/** Values visible in a graph: its own over the enclosing graphs'. */
class Scope {
  private refs = new Map<string, Ref>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): Ref | undefined {
    return this.refs.get(name) ?? this.parent?.get(name);
  }
  set(name: string, ref: Ref): void {
    this.refs.set(name, ref);
  }
}

const INT32_BIAS: Readonly<Record<string, number>> = { QLinearConv: 8, QGemm: 6 };
const QUANTIZED = new Set<number>([
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT4,
  DataType.UINT4,
  DataType.INT2,
  DataType.UINT2,
]);
const FLOAT8 = new Set<number>([
  DataType.FLOAT8E4M3FN,
  DataType.FLOAT8E4M3FNUZ,
  DataType.FLOAT8E5M2,
  DataType.FLOAT8E5M2FNUZ,
  DataType.FLOAT8E8M0,
  DataType.FLOAT4E2M1,
]);

/** True when the value `ref`, read by `node` at input `i` (or as a graph output), makes its source a weight. */
function readAsWeight(ref: Ref, node?: NodeProto, i?: number): boolean {
  const dt = ref.dataType;
  if (dt === undefined) return false;
  if (ref.source?.weight.location === 'computed' && node?.opType === 'Concat') return false;
  if (isFloat(dt) || FLOAT8.has(dt) || QUANTIZED.has(dt)) return true;
  return dt === DataType.INT32 && node !== undefined && INT32_BIAS[node.opType ?? ''] === i;
}

class Walker {
  constructor(
    private readonly sources: Source[],
    private readonly root: ShapeInference,
  ) {}

  graph(g: GraphProto, path: string, inf: ShapeInference | undefined, parent: Scope | undefined, overridable: boolean): void {
    const scope = new Scope(parent);
    const inputs = new Set(g.input.map((v) => v.name ?? ''));
    for (const name of inputs) scope.set(name, { constant: false });
    for (const t of g.initializer) {
      const name = t.name ?? '';
      // An initializer that is also a graph input is a default the caller may override: still a weight, not a constant.
      const constant = !(overridable && inputs.has(name));
      const source = this.source(name, 'initializer', path, t.dataType ?? 0, t.dims, isExternal(t));
      scope.set(name, { source, dataType: t.dataType, constant, value: constant ? t : undefined });
    }
    for (const node of inf?.order ?? g.node) this.node(node, path, inf, scope);
    for (const o of g.output) {
      const ref = scope.get(o.name ?? '');
      if (ref?.source && readAsWeight(ref)) ref.source.used = true;
    }
  }

  private node(node: NodeProto, path: string, inf: ShapeInference | undefined, scope: Scope): void {
    const ins = node.input.map((name) => (name ? scope.get(name) : undefined));
    const allConstant = node.input.every((name, i) => !name || ins[i]?.constant);
    const ai = (node.domain ?? '') === '' || node.domain === 'ai.onnx';
    const out = node.output[0] ?? '';
    const dims = (name: string) => {
      const s = inf?.types.get(name)?.shape;
      return s?.every((d): d is number => typeof d === 'number') ? s : undefined;
    };
    if (ai && node.opType === 'Constant' && out) {
      const t = inf?.constants.get(out); // the Constant's value, as shape inference read it
      if (t && !node.attribute.some((a) => a.name === 'sparse_value')) {
        const source = this.source(out, 'constant', path, t.dataType ?? 0, t.dims, isExternal(t));
        scope.set(out, { source, dataType: t.dataType, constant: true, value: t });
        return;
      }
    }
    if (ai && node.opType === 'ConstantOfShape' && out && ins[0]?.constant) {
      const shape = smallNumbers(ins[0].value);
      if (shape?.every((d) => Number.isInteger(d) && d >= 0)) {
        const dt = node.attribute.find((a) => a.name === 'value')?.t?.dataType ?? DataType.FLOAT;
        scope.set(out, { source: this.source(out, 'computed', path, dt, shape, false), dataType: dt, constant: true });
        return;
      }
    }
    const k = formInput(node);
    const from = k === undefined ? undefined : ins[k];
    if (from?.source && node.input.every((name, i) => i === k || !name || ins[i]?.constant)) {
      ins.forEach((ref, i) => {
        if (i !== k && ref?.source && readAsWeight(ref, node, i)) ref.source.used = true; // DequantizeLinear's scale and zero point
      });
      const dataType = formElemType(
        node,
        ins.map((r) => r?.dataType),
      );
      from.source.weight.forms.push({ name: out, dataType, dims: dims(out) });
      scope.set(out, { source: from.source, dataType, constant: from.constant, value: inf?.constants.get(out) });
      return;
    }
    ins.forEach((ref, i) => {
      if (ref?.source && readAsWeight(ref, node, i)) ref.source.used = true;
    });
    const subs = nodeGraphs(node);
    subs.forEach(({ attr, graph }) => {
      const label = node.name || `${node.opType}(${out})`;
      this.graph(
        graph,
        `${path}/${label}:${attr}`,
        this.root.subgraphs.get(node)?.find((s) => s.graph === graph),
        scope,
        false,
      );
    });
    for (const o of node.output) {
      // Constant only where inference computed the value from constant inputs (not Shape of a fixed-size input).
      const value = inf?.constants.get(o);
      if (o) scope.set(o, { constant: ai && !subs.length && allConstant && value !== undefined, value });
    }
  }

  private source(
    name: string,
    location: Weight['location'],
    graph: string,
    dataType: number,
    dims: readonly number[],
    external: boolean,
  ): Source {
    const elements = numElements(dims);
    const s: Source = {
      weight: { name, location, graph, dataType, dims: [...dims], elements, bytes: byteSize(dataType, elements), external, forms: [] },
      used: false,
    };
    this.sources.push(s);
    return s;
  }
}

/** The elements of a small integer tensor (a shape), or undefined when unknown or unreadable. */
function smallNumbers(t: TensorProto | undefined): number[] | undefined {
  if (!t || numElements(t.dims) > 64) return undefined;
  try {
    return tensorNumbers(t);
  } catch {
    return undefined; // external data not loaded
  }
}
