/**
 * Constant folding: nodes whose inputs are all initializers become initializers themselves. The values
 * come from shape inference's evaluator (`ops/infer-fold.ts`: Constant, Cast, shape arithmetic,
 * small elementwise math, Gather/Slice/Concat…), so there is one evaluator for both; the only extra
 * here is the 2-D Transpose that exporters put on weights, which is too large for that evaluator.
 */
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { makeTensor, tensorArray, type TypedArray } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';

export interface FoldResult {
  folded: number;
}

/** Folds constants in the model's main graph in place; returns how many nodes went. */
export function foldConstants(model: ModelProto): FoldResult {
  const graph = new Graph(model.graph!);
  graph.topoSort();
  const { constants } = inferShapes(model);
  // An initializer that is also a graph input can be overridden at run time: not a constant.
  const inputs = new Set(model.graph!.input.map((v) => v.name));
  const outputs = new Set(model.graph!.output.map((o) => o.name));
  let folded = 0;
  for (const node of [...graph.nodes]) {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') continue;
    if (node.attribute.some((a) => a.g || a.graphs.length)) continue;
    if (node.input.some((name) => name !== '' && (inputs.has(name) || !graph.initializer(name)))) continue;
    const values = node.output.map((name) => constants.get(name)) as (TensorProto | undefined)[];
    if (values.some((v) => v === undefined)) {
      const t = transpose2d(node, graph);
      if (!t || node.output.length !== 1) continue;
      values[0] = t;
    }
    graph.removeNode(node);
    node.output.forEach((name, i) => {
      const t: TensorProto = { ...values[i]!, name };
      if (outputs.has(name)) {
        // Graph outputs must come from a node: keep an Identity of the folded value.
        t.name = graph.freshName(`${name}_const`);
        graph.addInitializer(t);
        graph.insertNode(makeNode('Identity', [t.name], [name], {}, { name: graph.freshName(`${name}_identity`) }));
      } else {
        graph.addInitializer(t);
      }
    });
    folded++;
  }
  graph.removeDeadCode();
  return { folded };
}

/** Transpose of a 2-D initializer (a weight stored transposed), of any size. */
function transpose2d(node: NodeProto, graph: Graph): TensorProto | undefined {
  if (node.opType !== 'Transpose') return undefined;
  const x = graph.initializer(node.input[0]!)!;
  const perm = node.attribute.find((a) => a.name === 'perm')?.ints;
  if (x.dims.length !== 2 || (perm && perm[0] !== 1)) return undefined;
  const [r, c] = x.dims as [number, number];
  const src = tensorArray(x);
  const out = new (src.constructor as { new (n: number): TypedArray })(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) (out as unknown as unknown[])[j * r + i] = (src as unknown as unknown[])[i * c + j];
  return makeTensor('', x.dataType ?? 0, [c, r], out);
}
