/**
 * Shape and type inference over a model's main graph, using the per-op rules in `src/ops/`.
 *
 * Walks nodes in topological order, gives every value (inputs, initializers, node outputs) an element
 * type and shape (numbers, or symbols such as 'batch'; sizes that depend on data get fresh 'unk__N'
 * symbols), and evaluates the small integer arithmetic exporters build around shapes so that Reshape
 * targets computed from Shape resolve. Errors are recorded per node; with `strict` the first one throws.
 * Subgraphs (If/Loop/Scan) are inferred with the outer scope visible, and give the outer node's outputs.
 *
 * `nodeCosts` evaluates each node's cost rule on the inferred types (the profiler's static cost).
 */
import { HoneError, errorMessage } from '../errors.js';
import '../ops/index.js';
import { getOpRule } from './registry.js';
import type { AttrReader, Cost, Dim, OpContext, ValueType } from './types.js';
import { bytesOf, constNumbers, ShapeError } from './util.js';
import { constantValue } from './tensor.js';
import { attrReader } from '../ir/attrs.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto, TypeProto } from '../ir/proto.js';
import { foldNode, foldSymbolic, numbersTensor } from './infer-fold.js';
import { topoOrder } from '../ir/graph.js';
import { DataType } from '../ir/dtype.js';
import { inferSequenceOp, sequenceOps, type SeqType } from './infer-seq.js';

export { ShapeError } from './util.js';
export type { Dim, ValueType } from './types.js';
export type { SeqType } from './infer-seq.js';

export interface ShapeOptions {
  /** Values for named symbolic dims, e.g. { batch: 8 }. */
  dims?: Record<string, number>;
  /** Replacement shapes for graph inputs, by input name (symbols allowed). */
  shapes?: Record<string, Dim[]>;
  /** Throw a HoneError at the first unknown op, invalid node or unresolvable shape instead of recording it. */
  strict?: boolean;
}

export interface NodeShapeError {
  node: NodeProto;
  message: string;
}

export interface ShapeInference {
  /** The graph this inference is of (the main graph, or the subgraph of an entry in `subgraphs`). */
  graph: GraphProto;
  /** Type of every main-graph value whose type could be inferred. */
  types: Map<string, ValueType>;
  /** Values known statically: initializers that cannot be overridden, Constant outputs, folded shape arithmetic. */
  constants: Map<string, TensorProto>;
  /** Small integer values known only in terms of dims (Shape of a symbolic shape, and arithmetic on it). */
  symbolic: Map<string, Dim[]>;
  /** Nodes whose rule rejected their inputs, with the reason. */
  errors: NodeShapeError[];
  /** Nodes with no rule (their outputs get the graph's declared value_info types where present). */
  unknownOps: NodeProto[];
  /** Main-graph nodes in the order they were inferred (topological). */
  order: NodeProto[];
  /** Opset version per domain ('' for ai.onnx). */
  opsets: Map<string, number>;
  /** Inference of each If/Loop/Scan node's subgraphs (each names its `graph`), nested ones included. */
  subgraphs: Map<NodeProto, ShapeInference[]>;
  /** Sequence-typed values (not in `types`, which holds tensors): their element types where known. */
  sequences: Map<string, SeqType>;
}

export interface NodeCost {
  node: NodeProto;
  opType: string;
  domain: string;
  cost: Cost;
  /** False when the op has no cost rule (or its types are unknown): the cost then counts bytes only. */
  known: boolean;
}

export function inferShapes(model: ModelProto, opts: ShapeOptions = {}): ShapeInference {
  const graph = model.graph;
  if (!graph) throw new HoneError('the model has no graph; is this an ONNX model file?', 2);
  const opsets = opsetMap(model);
  const state = new InferState(opsets, opts);
  const overridable = (model.irVersion ?? 0) >= 4;
  return state.run(graph, new Scope(), overridable, true);
}

/**
 * Cost of each node (in inference order) from its op's cost rule and the inferred types. If/Loop/Scan cost
 * their subgraphs: the costlier If branch, a Loop body times its trip count (1 when unknown), a Scan body
 * times the sequence length.
 */
export function nodeCosts(_model: ModelProto, inference: ShapeInference): NodeCost[] {
  return costsOf(inference.order, [inference], inference);
}

function costsOf(order: NodeProto[], chain: ShapeInference[], root: ShapeInference): NodeCost[] {
  const find = <T>(get: (inf: ShapeInference) => T | undefined) => {
    for (const inf of chain) {
      const v = get(inf);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  let fresh = 0;
  const source: Omit<ValueSource, 'opset'> = {
    type: (n) => find((inf) => inf.types.get(n)),
    constant: (n) => find((inf) => inf.constants.get(n)),
    symbolic: (n) => find((inf) => inf.symbolic.get(n)),
    freshDim: () => `unk__cost${fresh++}`,
  };
  return order.map((node) => {
    const ctx = opContext(node, { ...source, opset: root.opsets.get(normDomain(node.domain)) ?? 1 });
    const outputs = node.output.map((o) => source.type(o)).filter((t): t is ValueType => t !== undefined);
    const subs = root.subgraphs.get(node);
    if (subs)
      return controlCost(
        ctx,
        outputs,
        subs.map((sub) => costsOf(sub.order, [sub, ...chain], root)),
      );
    const rule = getOpRule(node.domain, node.opType ?? '');
    const known = !!rule?.cost && outputs.length === node.output.filter((o) => o !== '').length;
    let cost: Cost;
    try {
      cost = known ? rule!.cost!(ctx, outputs) : bytesOnly(ctx, outputs);
    } catch {
      cost = bytesOnly(ctx, outputs);
    }
    return { node, opType: node.opType ?? '', domain: node.domain ?? '', cost, known: known && !Number.isNaN(cost.macs) };
  });
}

function controlCost(ctx: OpContext, outputs: ValueType[], bodies: NodeCost[][]): NodeCost {
  const sum = (list: NodeCost[]): Cost =>
    list.reduce(
      (a, c) => ({
        macs: a.macs + c.cost.macs,
        flops: a.flops + c.cost.flops,
        bytesRead: a.bytesRead + c.cost.bytesRead,
        bytesWritten: a.bytesWritten + c.cost.bytesWritten,
      }),
      { macs: 0, flops: 0, bytesRead: 0, bytesWritten: 0 },
    );
  const totals = bodies.map(sum);
  const node = ctx.node;
  let body = totals.reduce((a, b) => (b.flops > a.flops ? b : a), totals[0] ?? sum([]));
  const count = (d: Dim | undefined) => (typeof d === 'number' ? d : 1);
  let times = 1;
  if (node.opType === 'Loop') {
    const m = constNumbers(ctx, 0);
    times = m && !node.input[1] ? (m[0] ?? 1) : count(outputs[node.input.length - 2]?.shape?.[0]);
  } else if (node.opType === 'Scan') {
    const m = ctx.attr.int('num_scan_inputs', 0);
    const first = ctx.inputs[node.input.length - m];
    times = ctx.opset < 9 ? count(first?.shape?.[1]) : count(first?.shape?.[ctx.attr.ints('scan_input_axes', [0])[0] ?? 0]);
  }
  body = { macs: body.macs * times, flops: body.flops * times, bytesRead: body.bytesRead * times, bytesWritten: body.bytesWritten * times };
  return { node, opType: node.opType ?? '', domain: node.domain ?? '', cost: body, known: bodies.every((b) => b.every((c) => c.known)) };
}

function bytesOnly(ctx: OpContext, outputs: ValueType[]): Cost {
  return {
    macs: 0,
    flops: 0,
    bytesRead: ctx.inputs.reduce((s, t) => s + bytesOf(t), 0),
    bytesWritten: outputs.reduce((s, t) => s + bytesOf(t), 0),
  };
}

/** An OpContext for `node` of `model`'s main graph over the results of `inferShapes` (for passes that consult rules). */
export function createOpContext(_model: ModelProto, inference: ShapeInference, node: NodeProto): OpContext {
  let n = 0;
  return opContext(node, {
    opset: inference.opsets.get(normDomain(node.domain)) ?? 1,
    type: (name) => inference.types.get(name),
    constant: (name) => inference.constants.get(name),
    symbolic: (name) => inference.symbolic.get(name),
    freshDim: () => `unk__ctx${n++}`,
  });
}

export interface ValueSource {
  opset: number;
  type(name: string): ValueType | undefined;
  constant(name: string): TensorProto | undefined;
  symbolic?(name: string): Dim[] | undefined;
  freshDim(): string;
}

/** The low-level OpContext builder: where a node's input types and values come from. */
export function opContext(node: NodeProto, from: ValueSource): OpContext {
  return new NodeContext(node, from);
}

/** A class rather than an object of closures: shape inference builds one per node, and this keeps that cheap. */
class NodeContext implements OpContext {
  readonly opset: number;
  readonly inputs: (ValueType | undefined)[];
  readonly attr: AttrReader;
  readonly freshDim: () => string;

  constructor(
    readonly node: NodeProto,
    private readonly from: ValueSource,
  ) {
    this.opset = from.opset;
    this.inputs = node.input.map((name) => (name === '' ? undefined : from.type(name)));
    this.attr = attrReader(node);
    this.freshDim = from.freshDim;
  }

  constant(i: number): TensorProto | undefined {
    const name = this.node.input[i];
    return name ? this.from.constant(name) : undefined;
  }

  symbolicValue(i: number): Dim[] | undefined {
    const name = this.node.input[i];
    return name && this.from.symbolic ? this.from.symbolic(name) : undefined;
  }
}

/** The opset version per domain ('' for ai.onnx; ai.onnx.ml etc. by name). */
export function opsetMap(model: ModelProto): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of model.opsetImport) m.set(normDomain(o.domain), o.version ?? 1);
  return m;
}

const normDomain = (d: string | undefined) => (d === undefined || d === 'ai.onnx' ? '' : d);

/** Value type of a TypeProto: tensors only (sequences, maps and optionals give undefined). */
export function valueTypeOf(t: TypeProto | undefined, fresh?: () => string): ValueType | undefined {
  const tt = t?.tensorType ?? t?.sparseTensorType;
  if (!tt || tt.elemType === undefined) return undefined;
  if (!tt.shape) return { elemType: tt.elemType };
  return { elemType: tt.elemType, shape: tt.shape.dim.map((d) => d.dimValue ?? d.dimParam ?? (fresh ? fresh() : '?')) };
}

// ---- Implementation -------------------------------------------------------------------------------

/** Names visible to a graph: its own values over the enclosing graphs'. */
class Scope {
  readonly types = new Map<string, ValueType>();
  readonly constants = new Map<string, TensorProto>();
  readonly symbolic = new Map<string, Dim[]>();
  readonly sequences = new Map<string, SeqType>();
  constructor(readonly parent?: Scope) {}

  sequence(name: string): SeqType | undefined {
    return this.sequences.get(name) ?? (this.types.has(name) ? undefined : this.parent?.sequence(name));
  }

  symbolicValue(name: string): Dim[] | undefined {
    return this.symbolic.get(name) ?? (this.types.has(name) ? undefined : this.parent?.symbolicValue(name));
  }

  type(name: string): ValueType | undefined {
    return this.types.get(name) ?? this.parent?.type(name);
  }

  constant(name: string): TensorProto | undefined {
    return this.constants.get(name) ?? (this.types.has(name) ? undefined : this.parent?.constant(name));
  }
}

class InferState {
  private fresh = 0;
  private depth = 0;
  private readonly subgraphs = new Map<NodeProto, ShapeInference[]>();

  constructor(
    readonly opsets: Map<string, number>,
    readonly opts: ShapeOptions,
  ) {}

  freshDim = (): string => `unk__${this.fresh++}`;

  run(graph: GraphProto, scope: Scope, overridable: boolean, main: boolean): ShapeInference {
    const errors: NodeShapeError[] = [];
    const unknownOps: NodeProto[] = [];
    const declared = new Map<string, ValueType>();
    for (const v of [...graph.valueInfo, ...graph.output]) {
      const t = valueTypeOf(v.type, this.freshDim);
      if (v.name && t) declared.set(v.name, t);
    }

    const inputNames = new Set(graph.input.map((v) => v.name ?? ''));
    for (const t of graph.initializer) {
      const name = t.name ?? '';
      scope.types.set(name, { elemType: t.dataType ?? 0, shape: [...t.dims] });
      if (!(overridable && inputNames.has(name))) scope.constants.set(name, t);
    }
    for (const v of graph.input) {
      const name = v.name ?? '';
      const over = main ? this.opts.shapes?.[name] : undefined;
      let t = valueTypeOf(v.type, this.freshDim);
      const seqElem = v.type?.sequenceType?.elemType;
      if (seqElem?.tensorType) {
        const any = valueTypeOf(seqElem, this.freshDim);
        scope.sequences.set(name, { elemType: seqElem.tensorType.elemType ?? 0, any: any && this.fixDims(any) });
        continue;
      }
      if (!t && scope.types.has(name)) continue; // old models list initializers as inputs without types
      if (t && over) t = { elemType: t.elemType, shape: [...over] };
      if (!t) continue;
      scope.types.set(name, this.fixDims(t));
    }
    if (main && this.opts.shapes) {
      for (const name of Object.keys(this.opts.shapes)) {
        if (!inputNames.has(name))
          throw new HoneError(`--shape ${name}: the model has no input named '${name}'; its inputs are ${[...inputNames].join(', ')}`, 2);
      }
    }

    const available = new Set<string>([...inputNames, ...graph.initializer.map((t) => t.name ?? '')]);
    for (let s: Scope | undefined = scope.parent; s; s = s.parent) for (const k of s.types.keys()) available.add(k);
    const order = topoOrder(graph.node, available);
    const untyped = new Set<string>();
    const source: Omit<ValueSource, 'opset'> = {
      type: (n) => scope.type(n),
      constant: (n) => scope.constant(n),
      symbolic: (n) => scope.symbolicValue(n),
      freshDim: this.freshDim,
    };

    for (const node of order) {
      const opset = this.opsets.get(normDomain(node.domain)) ?? 1;
      const ctx = opContext(node, { ...source, opset });
      const label = `node '${node.name || node.output[0] || '?'}' (${node.opType})`;
      let outputs: (ValueType | undefined)[] | undefined;
      try {
        outputs = this.inferNode(ctx, scope, errors);
        if (outputs === undefined) {
          unknownOps.push(node);
          outputs = node.output.map((o) => declared.get(o));
          if (this.opts.strict) {
            throw new HoneError(
              `${label}: Hone has no shape rule for ${node.domain ? `${node.domain}::` : ''}${node.opType}; add one in src/ops/ or declare its outputs in the graph's value_info`,
              2,
            );
          }
        }
      } catch (e) {
        if (this.opts.strict) {
          if (e instanceof HoneError && !(e instanceof ShapeError)) throw e;
          throw new HoneError(
            `${label}: ${errorMessage(e)}; check the model, or pass --shape NAME=D1xD2x… / --dim NAME=N for its inputs`,
            2,
            { cause: e },
          );
        }
        // A node downstream of a failed or unknown one fails only as a consequence: report the cause once.
        if (!node.input.some((i) => untyped.has(i))) errors.push({ node, message: `${label}: ${errorMessage(e)}` });
        outputs = node.output.map((o) => declared.get(o));
      }
      node.output.forEach((name, i) => {
        const t = outputs![i];
        if (!name || scope.sequences.has(name)) return;
        if (!t) {
          untyped.add(name);
          if (this.opts.strict && main)
            throw new HoneError(
              `${label}: the type of output '${name}' cannot be inferred; pass --shape NAME=D1xD2x… for the model's inputs`,
              2,
            );
          return;
        }
        if (this.opts.strict && main && t.shape === undefined) {
          throw new HoneError(
            `${label}: the shape of output '${name}' cannot be inferred; pass --shape NAME=D1xD2x… / --dim NAME=N for the model's inputs`,
            2,
          );
        }
        scope.types.set(name, this.fixDims(t));
      });
      if (node.opType === 'Constant' && normDomain(node.domain) === '') {
        const value = constantValue(ctx);
        if (value && node.output[0]) scope.constants.set(node.output[0], value);
      } else {
        this.fold(ctx, scope);
      }
    }
    return {
      graph,
      types: scope.types,
      constants: scope.constants,
      symbolic: scope.symbolic,
      errors,
      unknownOps,
      order,
      opsets: this.opsets,
      subgraphs: this.subgraphs,
      sequences: scope.sequences,
    };
  }

  /** Records the node's output value when it can be computed: as numbers, or in terms of dims. */
  private fold(ctx: OpContext, scope: Scope): void {
    const name = ctx.node.output[0];
    const out = name ? scope.types.get(name) : undefined;
    if (!name || !out) return;
    const outs = ctx.node.output.map((o) => (o ? scope.types.get(o) : undefined));
    const folded = foldNode(ctx, outs as ValueType[]);
    if (folded) {
      folded.forEach((t, i) => {
        const o = ctx.node.output[i];
        if (o) scope.constants.set(o, { ...t, name: o });
      });
      return;
    }
    let dims: Dim[] | undefined;
    try {
      dims = foldSymbolic(ctx, [out]);
    } catch {
      return; // e.g. a constant whose external data is not loaded
    }
    if (!dims || !out.shape || dims.length !== (out.shape.length === 0 ? 1 : out.shape[0])) return;
    if (dims.every((d): d is number => typeof d === 'number')) {
      scope.constants.set(name, { ...numbersTensor(out.elemType, out.shape as number[], dims), name });
    } else {
      scope.symbolic.set(name, dims);
    }
  }

  /** The rule's output types, undefined when no rule exists (subgraph ops handled here). */
  private inferNode(ctx: OpContext, scope: Scope, errors: NodeShapeError[]): (ValueType | undefined)[] | undefined {
    const node = ctx.node;
    if (normDomain(node.domain) === '' && (node.opType === 'If' || node.opType === 'Loop' || node.opType === 'Scan')) {
      return this.inferControl(ctx, scope, errors);
    }
    if (normDomain(node.domain) === '' && sequenceOps.has(node.opType ?? '')) {
      const r = inferSequenceOp(
        ctx,
        (i) => scope.sequence(node.input[i] ?? ''),
        (a, b) => this.merge(a, b),
      );
      if (r.seq && node.output[0]) scope.sequences.set(node.output[0], r.seq);
      const items = node.opType === 'SequenceLength' ? scope.sequence(node.input[0] ?? '')?.items : undefined;
      if (items && node.output[0])
        scope.constants.set(node.output[0], { ...numbersTensor(DataType.INT64, [], [items.length]), name: node.output[0] });
      return r.tensors;
    }
    if (node.domain === 'ai.onnx.preview.training' && node.opType === 'Gradient') {
      // Each output is the gradient of y with respect to one of `xs`: it has that value's type.
      const xs = node.attribute.find((a) => a.name === 'xs')?.strings.map((b) => new TextDecoder().decode(b)) ?? [];
      return xs.map((x) => scope.type(x));
    }
    const rule = getOpRule(node.domain, node.opType ?? '');
    if (!rule) return undefined;
    return rule.infer(ctx);
  }

  private subgraph(
    owner: NodeProto,
    g: GraphProto,
    scope: Scope,
    errors: NodeShapeError[],
    inputTypes: (ValueType | undefined)[] = [],
  ): (ValueType | undefined)[] {
    if (this.depth > 32) throw new ShapeError('subgraphs nest deeper than 32 levels');
    const inner = new Scope(scope);
    // Body inputs (Loop/Scan) get their types from the outer node where the body does not declare them.
    g.input.forEach((v, i) => {
      const t = valueTypeOf(v.type, this.freshDim) ?? inputTypes[i];
      if (v.name && t) inner.types.set(v.name, t);
    });
    this.depth++;
    try {
      const r = this.run(g, inner, false, false);
      const list = this.subgraphs.get(owner) ?? [];
      list.push(r);
      this.subgraphs.set(owner, list);
      for (const e of r.errors) errors.push(e);
      return g.output.map((o) => inner.type(o.name ?? '') ?? valueTypeOf(o.type, this.freshDim));
    } finally {
      this.depth--;
    }
  }

  private inferControl(ctx: OpContext, scope: Scope, errors: NodeShapeError[]): (ValueType | undefined)[] {
    const node = ctx.node;
    const g = (name: string) => node.attribute.find((a) => a.name === name)?.g;
    if (node.opType === 'If') {
      const cond = ctx.constant(0);
      const thenG = g('then_branch');
      const elseG = g('else_branch');
      if (!thenG || !elseG) throw new ShapeError('If needs then_branch and else_branch');
      const a = this.subgraph(node, thenG, scope, errors);
      const b = this.subgraph(node, elseG, scope, errors);
      const c = cond && cond.dims.length === 0 ? constNumbers(ctx, 0) : undefined;
      if (c) return c[0] ? a : b;
      return a.map((t, i) => this.merge(t, b[i]));
    }
    if (node.opType === 'Loop') {
      const body = g('body');
      if (!body) throw new ShapeError('Loop needs a body');
      const carried = ctx.inputs.slice(2);
      const bodyIn: (ValueType | undefined)[] = [
        { elemType: DataType.INT64, shape: [] },
        { elemType: DataType.BOOL, shape: [] },
        ...carried,
      ];
      const out = this.subgraph(ctx.node, body, scope, errors, bodyIn);
      const n = carried.length;
      const tripConst = constNumbers(ctx, 0);
      // The trip count is exact only without a loop condition.
      const trips: Dim = tripConst && !ctx.node.input[1] ? tripConst[0]! : this.freshDim();
      const state = out.slice(1, 1 + n).map((t, i) => this.merge(t, carried[i]));
      const scans = out
        .slice(1 + n)
        .map((t) => (t?.shape ? { elemType: t.elemType, shape: [trips, ...t.shape] } : t && { elemType: t.elemType }));
      return [...state, ...scans];
    }
    const body = g('body');
    if (!body) throw new ShapeError('Scan needs a body');
    const m = ctx.attr.int('num_scan_inputs', 0);
    if (ctx.opset < 9) return this.inferScan8(ctx, body, m, scope, errors);
    // Scan (opset 9+): N state inputs then M scan inputs; outputs N states then K scan outputs.
    const n = node.input.length - m;
    const scanIn = ctx.inputs.slice(n);
    const axes = ctx.attr.ints(
      'scan_input_axes',
      scanIn.map(() => 0),
    );
    const len = scanIn[0]?.shape?.[axes[0] ?? 0] ?? this.freshDim();
    const bodyIn = [
      ...ctx.inputs.slice(0, n),
      ...scanIn.map(
        (t, i) =>
          t?.shape && {
            elemType: t.elemType,
            shape: t.shape.filter((_, k) => k !== (axes[i]! < 0 ? axes[i]! + t.shape!.length : axes[i]!)),
          },
      ),
    ];
    const out = this.subgraph(ctx.node, body, scope, errors, bodyIn);
    const outAxes = ctx.attr.ints('scan_output_axes', []);
    return out.map((t, i) => {
      if (i < n || !t?.shape) return t;
      const shape = [...t.shape];
      const a = outAxes[i - n] ?? 0;
      shape.splice(a < 0 ? a + shape.length + 1 : a, 0, len);
      return { elemType: t.elemType, shape };
    });
  }

  /** Scan-8: (sequence_lens?, states…, scans…), every input with a leading batch dim, scans [batch, seq, …]. */
  private inferScan8(ctx: OpContext, body: GraphProto, m: number, scope: Scope, errors: NodeShapeError[]): (ValueType | undefined)[] {
    const rest = ctx.inputs.slice(1);
    const n = rest.length - m;
    const drop = (t: ValueType | undefined, k: number) => t?.shape && { elemType: t.elemType, shape: t.shape.slice(k) };
    const bodyIn = [...rest.slice(0, n).map((t) => drop(t, 1)), ...rest.slice(n).map((t) => drop(t, 2))];
    const out = this.subgraph(ctx.node, body, scope, errors, bodyIn);
    const first = rest[0]?.shape;
    const batch = first?.[0] ?? this.freshDim();
    const seq = rest[n]?.shape?.[1] ?? this.freshDim();
    return out.map((t, i) => (t?.shape ? { elemType: t.elemType, shape: i < n ? [batch, ...t.shape] : [batch, seq, ...t.shape] } : t));
  }

  /** Common type of two alternatives (If branches, loop state): differing dims become fresh symbols. */
  private merge(a: ValueType | undefined, b: ValueType | undefined): ValueType | undefined {
    if (!a || !b) return a ?? b;
    if (!a.shape || !b.shape || a.shape.length !== b.shape.length) return { elemType: a.elemType };
    return { elemType: a.elemType, shape: a.shape.map((d, i) => (d === b.shape![i] ? d : this.freshDim())) };
  }

  /** Applies --dim values to named symbols. */
  private fixDims(t: ValueType): ValueType {
    const dims = this.opts.dims;
    if (!dims || !t.shape) return t;
    return { elemType: t.elemType, shape: t.shape.map((d) => (typeof d === 'string' && dims[d] !== undefined ? dims[d]! : d)) };
  }
}
