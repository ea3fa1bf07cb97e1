/**
 * Building models in code: a small, typed front to the proto objects. Used by the zoo, by passes that
 * add nodes, and by tests.
 */
import { createRequire } from 'node:module';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from './proto.js';
import { AttributeType } from './proto.js';
import { floatAttrKind } from './attr-types.js';
import { DataType } from './dtype.js';
import type { TypedArray } from './tensor.js';
import { floatTensor, makeTensor } from './tensor.js';

/** The installed package's version (package.json is two folders up from both src/ir/ and dist/ir/), written as producerVersion. */
const HONE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** A dimension: a number, or a symbol such as 'batch'. */
export type Dim = number | string;

export type AttrValue =
  | number
  | string
  | number[]
  | string[]
  | TensorProto
  | GraphProto
  | { floats: number[] }
  | { ints: number[] }
  | { float: number };

/** The op an attribute belongs to, so that its ONNX type can be looked up (see attr-types.ts). */
export interface AttrOwner {
  opType: string;
  /** '' (the default) or 'ai.onnx' for ONNX's default domain, else e.g. 'com.microsoft'. */
  domain?: string;
}

/**
 * Makes an AttributeProto, inferring its type: strings → STRING(S), integers → INT(S), other numbers →
 * FLOAT(S). Given the op it belongs to, a number or number list for an attribute the op defines as FLOAT or
 * FLOATS (LeakyRelu's alpha, Gemm's beta, FusedConv's activation_params, …) is written as such even when
 * integral. Without `op`, `{ float: x }` / `{ floats: [...] }` say it.
 */
export function makeAttribute(name: string, value: AttrValue, op?: AttrOwner): AttributeProto {
  const a: AttributeProto = { name, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
  const isFloat = op !== undefined && floatAttrKind(op.opType, name, op.domain) !== undefined;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && !isFloat) {
      a.type = AttributeType.INT;
      a.i = value;
    } else {
      a.type = AttributeType.FLOAT;
      a.f = value;
    }
  } else if (typeof value === 'string') {
    a.type = AttributeType.STRING;
    a.s = new TextEncoder().encode(value);
  } else if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      a.type = AttributeType.STRINGS;
      a.strings = (value as string[]).map((s) => new TextEncoder().encode(s));
    } else if (!isFloat && (value as number[]).every((x) => Number.isInteger(x))) {
      a.type = AttributeType.INTS;
      a.ints = value as number[];
    } else {
      a.type = AttributeType.FLOATS;
      a.floats = value as number[];
    }
  } else if ('floats' in value) {
    a.type = AttributeType.FLOATS;
    a.floats = value.floats;
  } else if ('ints' in value) {
    a.type = AttributeType.INTS;
    a.ints = value.ints;
  } else if ('float' in value) {
    a.type = AttributeType.FLOAT;
    a.f = value.float;
  } else if ('node' in value) {
    a.type = AttributeType.GRAPH;
    a.g = value as GraphProto;
  } else {
    a.type = AttributeType.TENSOR;
    a.t = value as TensorProto;
  }
  return a;
}

export function tensorType(elemType: number, shape?: readonly Dim[]): TypeProto {
  return {
    tensorType: {
      elemType,
      shape: shape === undefined ? undefined : { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

export function valueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  return { name, type: tensorType(elemType, shape), metadataProps: [] };
}

/**
 * `model` with `names` added as float32 graph outputs, each once (outputs it has already stay as they are), to
 * read intermediate values from a session. Nodes and tensors are shared with `model`.
 */
export function withFloatOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  const g = model.graph!;
  const have = new Set(g.output.map((o) => o.name));
  const extra = [...new Set(names)].filter((n) => !have.has(n)).map((n) => valueInfo(n, DataType.FLOAT));
  return { ...model, graph: { ...g, output: [...g.output, ...extra] } };
}

export function emptyGraph(name = 'main'): GraphProto {
  return {
    node: [],
    name,
    initializer: [],
    sparseInitializer: [],
    input: [],
    output: [],
    valueInfo: [],
    quantizationAnnotation: [],
    metadataProps: [],
  };
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue | undefined> = {},
  opts: { name?: string; domain?: string } = {},
): NodeProto {
  return {
    input: inputs,
    output: outputs,
    name: opts.name,
    opType,
    domain: opts.domain,
    attribute: Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => makeAttribute(k, v!, { opType, domain: opts.domain })),
    metadataProps: [],
    deviceConfigurations: [],
  };
}

export interface ModelOptions {
  opset?: number;
  irVersion?: number;
  producerName?: string;
  extraOpsets?: Record<string, number>;
  docString?: string;
}

export function makeModel(graph: GraphProto, opts: ModelOptions = {}): ModelProto {
  return {
    irVersion: opts.irVersion ?? 10,
    opsetImport: [
      { domain: '', version: opts.opset ?? 21 },
      ...Object.entries(opts.extraOpsets ?? {}).map(([domain, version]) => ({ domain, version })),
    ],
    producerName: opts.producerName ?? 'hone',
    producerVersion: HONE_VERSION,
    docString: opts.docString,
    graph,
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    configuration: [],
  };
}

/**
 * Appends nodes to a graph with fresh, readable names: `b.op('Relu', [x])` returns the output name.
 */
export class GraphBuilder {
  readonly graph: GraphProto;
  private counts = new Map<string, number>();
  private used = new Set<string>();

  constructor(name = 'main') {
    this.graph = emptyGraph(name);
  }

  /** A name not used before in this builder, `prefix`, `prefix_1`, … */
  fresh(prefix: string): string {
    let name = prefix;
    let n = this.counts.get(prefix) ?? 0;
    while (this.used.has(name)) name = `${prefix}_${++n}`;
    this.counts.set(prefix, n);
    this.used.add(name);
    return name;
  }

  input(name: string, elemType: number, shape: readonly Dim[]): string {
    this.used.add(name);
    this.graph.input.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: number, shape?: readonly Dim[]): string {
    this.graph.output.push(valueInfo(name, elemType, shape));
    return name;
  }

  initializer(prefix: string, dataType: number, dims: readonly number[], data: TypedArray | ArrayLike<number>): string {
    const name = this.fresh(prefix);
    this.graph.initializer.push(makeTensor(name, dataType, dims, data));
    return name;
  }

  floatInit(prefix: string, dims: readonly number[], data: Float32Array | ArrayLike<number>): string {
    const name = this.fresh(prefix);
    this.graph.initializer.push(floatTensor(name, dims, data));
    return name;
  }

  int64Init(prefix: string, data: readonly number[]): string {
    return this.initializer(
      prefix,
      DataType.INT64,
      [data.length],
      BigInt64Array.from(data, (x) => BigInt(x)),
    );
  }

  /** Adds a node with one output; returns the output's name. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue | undefined> = {},
    opts: { name?: string; output?: string; domain?: string } = {},
  ): string {
    return this.opN(opType, inputs, 1, attrs, opts.output ? { ...opts, outputs: [opts.output] } : opts)[0]!;
  }

  /** Adds a node with `n` outputs; returns their names. */
  opN(
    opType: string,
    inputs: string[],
    n: number,
    attrs: Record<string, AttrValue | undefined> = {},
    opts: { name?: string; outputs?: string[]; domain?: string } = {},
  ): string[] {
    const name = opts.name ? this.fresh(opts.name) : this.fresh(opType.toLowerCase());
    const outputs = opts.outputs ?? Array.from({ length: n }, (_, i) => this.fresh(n === 1 ? `${name}_out` : `${name}_out${i}`));
    for (const o of outputs) this.used.add(o);
    this.graph.node.push(makeNode(opType, inputs, outputs, attrs, { name, domain: opts.domain }));
    return outputs;
  }

  model(opts: ModelOptions = {}): ModelProto {
    return makeModel(this.graph, opts);
  }
}
