/**
 * What the transformer fusions (fuse-transformer.ts) match with: a graph index plus two shape inferences,
 * and axis layouts that follow a tensor's axes through Reshape and Transpose.
 *
 * Two inferences: the model's own (symbolic dims: `batch`, `seq`) says which values are constants and which
 * dims are fixed; a second one with every symbolic input dim set to a distinct probe size gives numbers for
 * every shape, so that exporters' shape arithmetic (PyTorch's Shape → Gather → Concat → Reshape to
 * [seq, batch·heads, head]) becomes plain dims that layouts can follow. Probe sizes are small primes that
 * no input or weight has as a dim: small, because tables bound some dims (a position table of 128 or 512
 * rows: a larger seq breaks the Slice → Add shapes); distinct, so a probe dim is told apart from the
 * model's own. Constants are only ever read from the first inference (the probe one folds small
 * probe-sized tensors).
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor, makeTensor, numElements, tensorArray, tensorNumbers } from '../ir/tensor.js';
import { inferShapes, type Dim, type ShapeInference } from '../ops/infer.js';

const PROBE_SIZES = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

export class FusionGraph {
  readonly g: Graph;
  readonly sym: ShapeInference;
  readonly probe: ShapeInference;
  /** Opset of the ai.onnx domain. */
  readonly opset: number;

  constructor(readonly model: ModelProto) {
    this.g = new Graph(model.graph!);
    this.sym = inferShapes(model);
    const symbols = new Set<string>();
    for (const v of model.graph!.input) for (const d of v.type?.tensorType?.shape?.dim ?? []) if (d.dimParam) symbols.add(d.dimParam);
    const taken = new Set<number>();
    for (const v of model.graph!.input)
      for (const d of v.type?.tensorType?.shape?.dim ?? []) if (d.dimValue !== undefined) taken.add(Number(d.dimValue));
    for (const t of model.graph!.initializer) for (const d of t.dims) taken.add(Number(d));
    const free = PROBE_SIZES.filter((p) => !taken.has(p));
    const dims: Record<string, number> = {};
    [...symbols].forEach((s, i) => {
      dims[s] = free[i] ?? 101 + 2 * i;
    });
    this.probe = symbols.size ? inferShapes(model, { dims }) : this.sym;
    this.opset = this.sym.opsets.get('') ?? 0;
  }

  /** The value's dims at the probe sizes, when all are known. */
  shape(value: string): number[] | undefined {
    const s = this.probe.types.get(value)?.shape;
    return s?.every((d): d is number => typeof d === 'number') ? s : undefined;
  }

  /** The value's dims as the model states them (symbols where the model has them). */
  symShape(value: string): Dim[] | undefined {
    return this.sym.types.get(value)?.shape;
  }

  elemType(value: string): number | undefined {
    return this.sym.types.get(value)?.elemType;
  }

  /** A value that is the same on every run (initializer, Constant, folded arithmetic). */
  constant(value: string): TensorProto | undefined {
    return value ? this.sym.constants.get(value) : undefined;
  }

  /** A constant with exactly one element, as a number. */
  scalar(value: string): number | undefined {
    const t = this.constant(value);
    if (!t || numElements(t.dims.map(Number)) !== 1) return undefined;
    try {
      return tensorNumbers(t)[0];
    } catch {
      return undefined;
    }
  }

  /** A float constant's values. */
  floats(value: string): Float32Array | undefined {
    const t = this.constant(value);
    if (t?.dataType !== DataType.FLOAT) return undefined;
    return tensorArray(t) as Float32Array;
  }

  /** The node producing `value` when its op type is one of `ops`. */
  producer(value: string | undefined, ...ops: string[]): NodeProto | undefined {
    if (!value) return undefined;
    const p = this.g.producer(value);
    return p && (ops.length === 0 || (ops.includes(p.opType ?? '') && isOnnx(p))) ? p : undefined;
  }

  /** The one node reading `value`, when exactly one does and it is not a graph output. */
  soleConsumer(value: string): NodeProto | undefined {
    const users = this.g.consumers(value);
    if (users.length !== 1 || this.isGraphOutput(value)) return undefined;
    return users[0];
  }

  /** True when only `node` reads `value` (so removing `node` frees it). */
  onlyFeeds(value: string, node: NodeProto): boolean {
    return this.soleConsumer(value) === node;
  }

  isGraphOutput(value: string): boolean {
    return this.model.graph!.output.some((o) => o.name === value);
  }

  /** The other input of a binary node, when one of its two inputs is `value`. */
  other(node: NodeProto, value: string): string | undefined {
    if (node.input.length !== 2) return undefined;
    if (node.input[0] === value) return node.input[1];
    if (node.input[1] === value) return node.input[0];
    return undefined;
  }

  /** Adds a float initializer under a fresh name. */
  addFloats(prefix: string, dims: number[], data: Float32Array | number[]): string {
    return this.g.addInitializer(floatTensor(this.g.freshName(prefix), dims, data));
  }

  addInts(prefix: string, data: number[]): string {
    return this.g.addInitializer(
      makeTensor(
        this.g.freshName(prefix),
        DataType.INT64,
        [data.length],
        BigInt64Array.from(data, (x) => BigInt(x)),
      ),
    );
  }

  /** A node named after `base` with a fresh name; its outputs must be named by the caller. */
  node(
    opType: string,
    inputs: string[],
    outputs: string[],
    attrs: Parameters<typeof makeNode>[3],
    base: string,
    domain?: string,
  ): NodeProto {
    return makeNode(opType, inputs, outputs, attrs, { name: this.g.freshName(base), domain });
  }

  /** The normalised axis of a reduction/normalisation node on a value of rank `rank` (-1 for "the last"). */
  reduceAxes(node: NodeProto): number[] | undefined {
    const a = attrReader(node).ints('axes');
    if (a) return a;
    if (node.input[1]) {
      const t = this.constant(node.input[1]);
      return t ? tensorNumbers(t) : undefined;
    }
    return undefined;
  }
}

export function isOnnx(n: NodeProto): boolean {
  return (n.domain ?? '') === '' || n.domain === 'ai.onnx';
}

/** True when `axis` of a rank-`rank` tensor is its last axis. */
export function isLastAxis(axis: number, rank: number): boolean {
  return axis === -1 || axis === rank - 1;
}

/** Relative closeness of two numbers. */
export function near(a: number, b: number, rel = 1e-5): boolean {
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));
}

// ---- Layouts ----------------------------------------------------------------------------------------

/**
 * One factor of an axis: the part `(i / inner) % size` of the index `i` along the source axis `label`.
 * An axis is a list of factors, outermost first (size-1 factors are left out), so after
 * Reshape([B, S, D] → [B, S, H, D/H]) the last two axes are [{D, H, D/H}] and [{D, D/H, 1}].
 */
export interface Factor {
  label: string;
  size: number;
  inner: number;
}

export type Layout = Factor[][];

/** The layout of a value whose axes are themselves sources, labelled `${prefix}${axis}`. */
export function sourceLayout(dims: readonly number[], prefix: string): Layout {
  return dims.map((d, i) => (d === 1 ? [] : [{ label: `${prefix}${i}`, size: d, inner: 1 }]));
}

export function transposeLayout(l: Layout, perm: readonly number[] | undefined): Layout | undefined {
  const p = perm ?? l.map((_, i) => l.length - 1 - i);
  if (p.length !== l.length) return undefined;
  return p.map((i) => l[i]!);
}

/** The layout after a Reshape to `dims`, or undefined when a factor would have to be cut unevenly. */
export function reshapeLayout(l: Layout, dims: readonly number[]): Layout | undefined {
  const queue = l.flat();
  const out: Layout = [];
  for (const d of dims) {
    const axis: Factor[] = [];
    let need = d;
    while (need > 1) {
      const f = queue.shift();
      if (!f) return undefined;
      if (f.size <= need && need % f.size === 0) {
        axis.push(f);
        need /= f.size;
      } else if (f.size % need === 0) {
        axis.push({ label: f.label, size: need, inner: f.inner * (f.size / need) });
        queue.unshift({ label: f.label, size: f.size / need, inner: f.inner });
        need = 1;
      } else return undefined;
    }
    out.push(merge(axis));
  }
  return queue.length ? undefined : out;
}

/** Adjacent factors of one label that are contiguous become one. */
function merge(axis: Factor[]): Factor[] {
  const out: Factor[] = [];
  for (const f of axis) {
    const last = out[out.length - 1];
    if (last && last.label === f.label && last.inner === f.inner * f.size)
      out[out.length - 1] = { label: f.label, size: last.size * f.size, inner: f.inner };
    else out.push(f);
  }
  return out;
}

export function sameFactors(a: readonly Factor[], b: readonly Factor[]): boolean {
  return a.length === b.length && a.every((f, i) => f.label === b[i]!.label && f.size === b[i]!.size && f.inner === b[i]!.inner);
}

/** The whole of source axis `label` of size `size`, as one factor. */
export function whole(label: string, size: number): Factor {
  return { label, size, inner: 1 };
}
