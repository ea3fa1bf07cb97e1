/**
 * Constant folding of simple cases: nodes whose inputs are all constant and whose op is cheap to
 * evaluate here (Constant, Identity, Cast, shape arithmetic, layout ops on weights). Their outputs
 * become initializers and the nodes go. Big elementwise math is left to ORT's own folding.
 */
import type { AttributeProto, ModelProto, NodeProto, TensorProto } from './proto.js';
import { Graph } from './graph.js';
import { DataType } from './dtype.js';
import { arrayCtor, makeTensor, numElements, tensorArray, type TypedArray } from './tensor.js';

/** Elementwise folding is limited to small tensors so folding never bloats a model. */
const MAX_ELEMENTWISE = 65536;

export interface FoldResult {
  folded: number;
}

/** Folds constants in the model's main graph in place. */
export function foldConstants(model: ModelProto): FoldResult {
  const graph = new Graph(model.graph!);
  graph.topoSort();
  const outputs = new Set(model.graph!.output.map((o) => o.name));
  let folded = 0;
  for (const node of [...graph.nodes]) {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') continue;
    const inputs = node.input.map((name) => (name === '' ? null : graph.initializer(name) ?? undefined));
    if (inputs.some((t) => t === undefined)) continue;
    // An initializer that is also a graph input can be overridden at run time: not a constant.
    if (node.input.some((name) => name !== '' && graph.isGraphInput(name))) continue;
    if (node.input.some((name) => model.graph!.input.some((v) => v.name === name))) continue;
    const values = evaluate(node, inputs as (TensorProto | null)[]);
    if (!values) continue;
    graph.removeNode(node);
    node.output.forEach((name, i) => {
      const t = values[i]!;
      t.name = name;
      if (outputs.has(name)) {
        // Graph outputs must come from a node: keep an Identity of the folded value.
        const c = graph.freshName(`${name}_const`);
        t.name = c;
        graph.addInitializer(t);
        graph.insertNode({ input: [c], output: [name], opType: 'Identity', name: graph.freshName(`${name}_identity`), attribute: [], metadataProps: [], deviceConfigurations: [] });
      } else {
        graph.addInitializer(t);
      }
    });
    folded++;
  }
  graph.removeDeadCode();
  return { folded };
}

type Evaluator = (node: NodeProto, inputs: (TensorProto | null)[]) => TensorProto[] | undefined;

const attr = (n: NodeProto, name: string): AttributeProto | undefined => n.attribute.find((a) => a.name === name);
const ints = (n: NodeProto, name: string) => attr(n, name)?.ints;
const int = (n: NodeProto, name: string, d: number) => attr(n, name)?.i ?? d;

function evaluate(node: NodeProto, inputs: (TensorProto | null)[]): TensorProto[] | undefined {
  const fn = evaluators[node.opType ?? ''];
  if (!fn) return undefined;
  try {
    return fn(node, inputs);
  } catch {
    return undefined; // anything odd: leave the node for ORT
  }
}

function numbers(t: TensorProto): number[] {
  return Array.from(tensorArray(t) as ArrayLike<number | bigint>, Number);
}

function fromNumbers(dataType: number, dims: number[], values: number[]): TensorProto {
  const Ctor = arrayCtor(dataType) as unknown as { new (n: number): TypedArray } | undefined;
  if (!Ctor) throw new Error('unsupported');
  const out = new Ctor(values.length);
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < values.length; i++) {
    // INT64_MAX read as a double is 2^63: clamp instead of letting BigInt64Array wrap it to INT64_MIN.
    (out as unknown as (number | bigint)[])[i] = big ? clampInt64(values[i]!) : values[i]!;
  }
  return makeTensor('', dataType, dims, out);
}

function clampInt64(v: number): bigint {
  const b = BigInt(Math.trunc(v));
  return b > 2n ** 63n - 1n ? 2n ** 63n - 1n : b < -(2n ** 63n) ? -(2n ** 63n) : b;
}

/** Same bytes, new dims (Reshape, Squeeze, Unsqueeze, Flatten, Identity). */
function withDims(t: TensorProto, dims: number[]): TensorProto {
  const data = tensorArray(t);
  return makeTensor('', t.dataType ?? 0, dims, data);
}

const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

const evaluators: Record<string, Evaluator> = {
  Constant(node) {
    const a = node.attribute[0];
    if (!a) return undefined;
    if (a.t) return [{ ...a.t, name: '' }];
    if (a.name === 'value_int') return [fromNumbers(DataType.INT64, [], [a.i ?? 0])];
    if (a.name === 'value_ints') return [fromNumbers(DataType.INT64, [a.ints.length], a.ints)];
    if (a.name === 'value_float') return [fromNumbers(DataType.FLOAT, [], [a.f ?? 0])];
    if (a.name === 'value_floats') return [fromNumbers(DataType.FLOAT, [a.floats.length], a.floats)];
    return undefined;
  },
  Identity: (_n, [x]) => [withDims(x!, x!.dims)],
  Cast(node, [x]) {
    const to = int(node, 'to', 0);
    if (numElements(x!.dims) > MAX_ELEMENTWISE || !isNumeric(to) || !isNumeric(x!.dataType ?? 0)) return undefined;
    let v = numbers(x!);
    if (isIntType(to)) v = v.map(Math.trunc);
    return [fromNumbers(to, x!.dims, v)];
  },
  Reshape(node, [x, shape]) {
    const target = numbers(shape!);
    const allowZero = int(node, 'allowzero', 0) === 1;
    const dims = target.map((d, i) => (d === 0 && !allowZero ? x!.dims[i]! : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    return [withDims(x!, dims.map((d) => (d === -1 ? numElements(x!.dims) / known : d)))];
  },
  Flatten(node, [x]) {
    const axis = normAxis(int(node, 'axis', 1), x!.dims.length);
    const a = x!.dims.slice(0, axis).reduce((p, d) => p * d, 1);
    return [withDims(x!, [a, numElements(x!.dims) / a])];
  },
  Unsqueeze(node, [x, axesT]) {
    const axes = axesT ? numbers(axesT) : ints(node, 'axes') ?? [];
    const rank = x!.dims.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, rank)));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) dims.push(set.has(i) ? 1 : x!.dims[k++]!);
    return [withDims(x!, dims)];
  },
  Squeeze(node, [x, axesT]) {
    const axes = axesT ? numbers(axesT) : ints(node, 'axes');
    const set = axes && axes.length ? new Set(axes.map((a) => normAxis(a, x!.dims.length))) : undefined;
    return [withDims(x!, x!.dims.filter((d, i) => (set ? !set.has(i) : d !== 1)))];
  },
  Concat(node, inputs) {
    const ts = inputs.filter((t): t is TensorProto => t !== null);
    if (ts.some((t) => t.dims.length !== 1) || ts.reduce((s, t) => s + t.dims[0]!, 0) > MAX_ELEMENTWISE) return undefined;
    if (normAxis(int(node, 'axis', 0), 1) !== 0) return undefined;
    const v = ts.flatMap(numbers);
    return [fromNumbers(ts[0]!.dataType ?? 0, [v.length], v)];
  },
  Gather(node, [x, idx]) {
    if (x!.dims.length !== 1 || int(node, 'axis', 0) !== 0 || numElements(idx!.dims) > MAX_ELEMENTWISE) return undefined;
    const v = numbers(x!);
    const out = numbers(idx!).map((i) => v[i < 0 ? i + v.length : i]!);
    if (out.some((o) => o === undefined)) return undefined;
    return [fromNumbers(x!.dataType ?? 0, idx!.dims, out)];
  },
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary((a, b) => a / b, true),
  Transpose(node, [x]) {
    const rank = x!.dims.length;
    const perm = ints(node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (rank !== 2 || perm[0] !== 1) return undefined; // only the 2-D weight transpose exporters emit
    const [r, c] = x!.dims as [number, number];
    const src = tensorArray(x!);
    const Ctor = src.constructor as { new (n: number): TypedArray };
    const out = new Ctor(src.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) (out as unknown as unknown[])[j * r + i] = (src as unknown as unknown[])[i * c + j];
    return [makeTensor('', x!.dataType ?? 0, [c, r], out)];
  },
};

function binary(op: (a: number, b: number) => number, intDivide = false): Evaluator {
  return (_node, [a, b]) => {
    if (a!.dataType !== b!.dataType || !isNumeric(a!.dataType ?? 0)) return undefined;
    const rank = Math.max(a!.dims.length, b!.dims.length);
    const pa = [...new Array(rank - a!.dims.length).fill(1), ...a!.dims];
    const pb = [...new Array(rank - b!.dims.length).fill(1), ...b!.dims];
    const dims = pa.map((d, i) => (d === 1 ? pb[i]! : d));
    if (pa.some((d, i) => d !== pb[i] && d !== 1 && pb[i] !== 1)) return undefined;
    const n = numElements(dims);
    if (n > MAX_ELEMENTWISE) return undefined;
    const va = numbers(a!);
    const vb = numbers(b!);
    const isInt = isIntType(a!.dataType ?? 0);
    const out = new Array<number>(n);
    const idx = new Array<number>(rank).fill(0);
    for (let k = 0; k < n; k++) {
      let ia = 0, ib = 0;
      for (let d = 0; d < rank; d++) {
        ia = ia * pa[d]! + (pa[d] === 1 ? 0 : idx[d]!);
        ib = ib * pb[d]! + (pb[d] === 1 ? 0 : idx[d]!);
      }
      let r = op(va[ia]!, vb[ib]!);
      if (isInt && intDivide) r = Math.trunc(r);
      out[k] = r;
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d]! < dims[d]!) break;
        idx[d] = 0;
      }
    }
    if (out.some((x) => !Number.isFinite(x))) return undefined;
    return [fromNumbers(a!.dataType ?? 0, dims, out)];
  };
}

function isIntType(dt: number): boolean {
  return [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64].includes(dt as 2);
}

function isNumeric(dt: number): boolean {
  return isIntType(dt) || dt === DataType.FLOAT || dt === DataType.DOUBLE;
}
