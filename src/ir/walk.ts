/** Visiting every graph and tensor of a model: main graph, subgraphs in attributes, functions, training info. */
import type { GraphProto, ModelProto, NodeProto, TensorProto } from './proto.js';

/** Calls `fn` for every graph in the model, outer graphs before the subgraphs they hold. */
export function forEachGraph(model: ModelProto, fn: (g: GraphProto) => void): void {
  if (model.graph) visitGraph(model.graph, fn);
  for (const ti of model.trainingInfo) {
    if (ti.initialization) visitGraph(ti.initialization, fn);
    if (ti.algorithm) visitGraph(ti.algorithm, fn);
  }
  for (const f of model.functions) for (const n of f.node) visitNodeGraphs(n, fn);
}

function visitGraph(g: GraphProto, fn: (g: GraphProto) => void): void {
  fn(g);
  for (const n of g.node) visitNodeGraphs(n, fn);
}

function visitNodeGraphs(n: NodeProto, fn: (g: GraphProto) => void): void {
  for (const a of n.attribute) {
    if (a.g) visitGraph(a.g, fn);
    for (const sub of a.graphs) visitGraph(sub, fn);
  }
}

/** The subgraphs a node holds (If branches, Loop/Scan bodies), with the attribute each sits in. */
export function nodeGraphs(n: NodeProto): { attr: string; graph: GraphProto }[] {
  const out: { attr: string; graph: GraphProto }[] = [];
  for (const a of n.attribute) {
    if (a.g) out.push({ attr: a.name ?? '', graph: a.g });
    a.graphs.forEach((graph, i) => out.push({ attr: `${a.name ?? ''}[${i}]`, graph }));
  }
  return out;
}

/** Calls `fn` for every TensorProto that holds data: initializers, sparse parts, tensor attributes. */
export function forEachTensor(model: ModelProto, fn: (t: TensorProto) => void): void {
  const seen = new Set<TensorProto>();
  const visit = (t: TensorProto | undefined) => {
    if (t && !seen.has(t)) {
      seen.add(t);
      fn(t);
    }
  };
  const visitNodes = (nodes: NodeProto[]) => {
    for (const n of nodes)
      for (const a of n.attribute) {
        visit(a.t);
        a.tensors.forEach(visit);
        if (a.sparseTensor) {
          visit(a.sparseTensor.values);
          visit(a.sparseTensor.indices);
        }
        for (const s of a.sparseTensors) {
          visit(s.values);
          visit(s.indices);
        }
      }
  };
  forEachGraph(model, (g) => {
    g.initializer.forEach(visit);
    for (const s of g.sparseInitializer) {
      visit(s.values);
      visit(s.indices);
    }
    visitNodes(g.node);
  });
  for (const f of model.functions) visitNodes(f.node);
}
