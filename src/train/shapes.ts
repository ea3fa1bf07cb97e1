/**
 * Static types of every value in a graph, for the backward pass: shape inference over the `ops/` rules
 * (`ops/infer.ts`, which also folds the Shape arithmetic exporters write around Reshape), plus the types
 * the graph declares in value_info. Unknown stays unknown: the gradient rules fall back to Shape ops in
 * the graph. Trained initializers are never reported as constants.
 */
import type { GraphProto, TensorProto, ValueInfoProto } from '../ir/proto.js';
import { makeModel } from '../ir/builder.js';
import { inferShapes } from '../ops/infer.js';
import type { Dim, ValueType } from '../ops/types.js';

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
  const inference = inferShapes(makeModel(graph, { opset, irVersion: 8 }));
  const types = new Map(inference.types);
  for (const v of [...graph.input, ...graph.valueInfo, ...graph.output]) {
    const t = valueInfoType(v);
    if (t && !types.has(v.name!)) types.set(v.name!, t);
  }
  const constants = new Map([...inference.constants].filter(([name]) => !trained.has(name)));
  return { types, constants };
}
