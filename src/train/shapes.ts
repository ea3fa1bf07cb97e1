/**
 * Static types of every value in a graph, for the backward pass: graph inputs, initializers and
 * value_info first, then one forward walk through the shape rules in `ops/`. Unknown stays unknown
 * (the gradient rules fall back to Shape ops in the graph); a rule that throws only loses that node.
 */
import type { GraphProto, TensorProto, ValueInfoProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { getOpRule } from '../ops/index.js';
import type { Dim, ValueType } from '../ops/types.js';
import { attrReader } from '../ops/grad/attrs.js';

export interface StaticTypes {
  types: Map<string, ValueType>;
  constants: Map<string, TensorProto>;
}

export function valueInfoType(v: ValueInfoProto): ValueType | undefined {
  const t = v.type?.tensorType;
  if (!t || t.elemType === undefined) return undefined;
  return { elemType: t.elemType, shape: t.shape?.dim.map((d): Dim => (d.dimValue !== undefined ? Number(d.dimValue) : d.dimParam || '?')) };
}

export function staticTypes(graph: GraphProto, opset: number, trained: ReadonlySet<string> = new Set()): StaticTypes {
  const types = new Map<string, ValueType>();
  const constants = new Map<string, TensorProto>();
  for (const t of graph.initializer) {
    types.set(t.name!, { elemType: t.dataType ?? DataType.FLOAT, shape: t.dims.map(Number) });
    if (!trained.has(t.name!)) constants.set(t.name!, t);
  }
  for (const v of [...graph.input, ...graph.valueInfo, ...graph.output]) {
    const t = valueInfoType(v);
    if (t && !types.has(v.name!)) types.set(v.name!, t);
  }
  let fresh = 0;
  for (const node of graph.node) {
    if (node.opType === 'Constant') {
      const t = node.attribute.find((a) => a.name === 'value')?.t;
      if (t) {
        constants.set(node.output[0]!, t);
        types.set(node.output[0]!, { elemType: t.dataType ?? DataType.FLOAT, shape: t.dims.map(Number) });
      }
      continue;
    }
    const rule = getOpRule(node.domain, node.opType!);
    if (!rule) continue;
    try {
      const out = rule.infer({
        node, opset,
        inputs: node.input.map((n) => (n ? types.get(n) : undefined)),
        attr: attrReader(node),
        constant: (i) => (node.input[i] ? constants.get(node.input[i]!) : undefined),
        freshDim: () => `unk__${fresh++}`,
      });
      out.forEach((t, i) => {
        const name = node.output[i];
        if (name && !types.has(name)) types.set(name, t);
      });
    } catch {
      // A value the rules cannot type stays unknown; gradient rules fall back to runtime shapes.
    }
  }
  return { types, constants };
}
