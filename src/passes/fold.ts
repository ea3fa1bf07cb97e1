/**
 * Constant folding: a node whose inputs are all constants becomes initializers holding its outputs, in the
 * main graph and in every If/Loop/Scan subgraph (where the outer graph's constants count as constants too,
 * and Constant nodes become the subgraph's initializers). Values come from two evaluators: shape inference's
 * (`ops/infer-fold.ts`: Constant, shape arithmetic, small elementwise math, Gather/Slice/Concat…, up to 4096
 * elements) and `ops/weight-forms.ts` for the chains exporters write weights as (ConstantOfShape, Cast,
 * Reshape, Transpose, DequantizeLinear…), at any size — so the passes that look for weights among the
 * initializers (quantization, training) find them.
 *
 * Initializers that are also graph inputs can be overridden at run time: they are not constants (IR >= 4).
 * Shape and Size fold wherever inference knows their input's dims, as ORT's own folding does for Shape: the
 * training step graph, its batch fixed, loses BatchNormalization gradients' Size/Cast/Div chains this way.
 */
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { nodeGraphs } from '../ir/walk.js';
import { inferShapes, type ShapeInference } from '../ops/infer.js';
import { opProps } from '../ops/registry.js';
import { evalWeightOp, formInput } from '../ops/weight-forms.js';
import type { Pass } from './pass.js';
import { withDefaults } from './options.js';

export interface FoldResult {
  /** Nodes that became initializers, subgraphs included. */
  folded: number;
}

/** Folds constants in the model in place (main graph and subgraphs); returns how many nodes went. */
export function foldConstants(model: ModelProto): FoldResult {
  const root = inferShapes(model);
  const folder = new Folder(root, allNames(model));
  folder.graph(model.graph!, root, () => undefined, (model.irVersion ?? 0) >= 4);
  return { folded: folder.folded };
}

/**
 * `model` with its constants folded, `model` itself unchanged: graphs and the nodes that hold subgraphs are
 * copied, tensors and other nodes are shared (folding replaces them, it never edits one).
 */
export function foldedCopy(model: ModelProto): { model: ModelProto; folded: number } {
  const copy = { ...model, graph: copyGraph(model.graph!) };
  return { model: copy, folded: foldConstants(copy).folded };
}

/** `fold.constants`: `foldedCopy` as a pass. */
export const foldConstantsPass: Pass<Record<string, never>> = {
  id: 'fold.constants',
  description:
    'folds nodes whose inputs are all constants into initializers (weights kept as Constant nodes or Cast/Transpose/DequantizeLinear chains)',
  applies: (model) => (model.graph?.node.length ? undefined : 'the graph has no nodes'),
  space: {},
  defaults: {},
  needs: [],
  async run(model, options) {
    withDefaults(this, options);
    const { model: folded, folded: count } = foldedCopy(model);
    return {
      model: count ? folded : model,
      changed: count > 0,
      report: {
        summary: count ? `folded ${count} constant node(s) into initializers` : 'nothing to fold: no node computes from constants only',
        notes: [],
        detail: { folded: count },
      },
    };
  },
};

// ---- Implementation -------------------------------------------------------------------------------

type Lookup = (name: string) => TensorProto | undefined;

class Folder {
  folded = 0;
  constructor(
    private readonly root: ShapeInference,
    private readonly taken: Set<string>,
  ) {}

  graph(gp: GraphProto, inf: ShapeInference | undefined, outer: Lookup, overridable: boolean): void {
    const graph = new Graph(gp);
    graph.topoSort();
    const inputs = new Set(gp.input.map((v) => v.name ?? ''));
    const outputs = new Set(gp.output.map((o) => o.name ?? ''));
    const local = new Map<string, TensorProto | undefined>();
    for (const name of inputs) local.set(name, undefined); // graph inputs (Loop/Scan body inputs) shadow outer values
    for (const t of gp.initializer) if (!(overridable && inputs.has(t.name ?? ''))) local.set(t.name ?? '', t);
    const constant: Lookup = (name) => (local.has(name) ? local.get(name) : outer(name));
    for (const node of [...graph.nodes]) {
      const subs = nodeGraphs(node);
      if (subs.length) {
        for (const { graph: sub } of subs)
          this.graph(
            sub,
            this.root.subgraphs.get(node)?.find((s) => s.graph === sub),
            constant,
            false,
          );
        continue;
      }
      const values = this.values(node, inf, constant, inf === this.root);
      if (!values) continue;
      graph.removeNode(node);
      node.output.forEach((name, i) => {
        if (!name) return;
        const t: TensorProto = { ...values[i]!, name };
        local.set(name, t);
        if (outputs.has(name)) {
          // Graph outputs must come from a node: keep an Identity of the folded value.
          t.name = this.fresh(`${name}_const`);
          graph.addInitializer(t);
          graph.insertNode(makeNode('Identity', [t.name], [name], {}, { name: this.fresh(`${name}_identity`) }));
        } else {
          graph.addInitializer(t);
        }
      });
      this.folded++;
    }
    graph.removeDeadCode();
  }

  /** The node's output values when all its inputs are constants and an evaluator computes them. */
  private values(node: NodeProto, inf: ShapeInference | undefined, constant: Lookup, main: boolean): TensorProto[] | undefined {
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx' && formInput(node) === undefined) return undefined;
    if (node.attribute.some((a) => a.name === 'sparse_value')) return undefined; // inference knows its dims, not its values
    const known = node.output.map((o) => (o ? inf?.constants.get(o) : undefined));
    const all = known.every((v, i) => v || !node.output[i]);
    // Shape and Size of a tensor whose dims inference knows: constants, whatever the tensor holds. In the main
    // graph only: a Loop body's carried values may change shape from one iteration to the next.
    if (all && main && opProps(node.domain, node.opType ?? '').metadataOnly) return known as TensorProto[];
    const inputs = node.input.map((name) => (name ? constant(name) : undefined));
    if (node.input.some((name, i) => name && !inputs[i])) return undefined;
    if (all) return known as TensorProto[];
    const dims = inf?.types.get(node.output[0] ?? '')?.shape;
    if (node.output.length !== 1 || !dims?.every((d): d is number => typeof d === 'number')) return undefined;
    try {
      const v = evalWeightOp(node, inputs, dims);
      return v && [v];
    } catch {
      return undefined; // data that cannot be read (external data not loaded)
    }
  }

  /** A value name used nowhere in the model: subgraphs see the outer graph's names, so freshness is model-wide. */
  private fresh(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.taken.has(name); i++) name = `${prefix}_${i}`;
    this.taken.add(name);
    return name;
  }
}

function allNames(model: ModelProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: GraphProto) => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) names.add(v.name ?? '');
    for (const t of g.initializer) names.add(t.name ?? '');
    for (const n of g.node) {
      for (const x of [...n.input, ...n.output]) names.add(x);
      if (n.name) names.add(n.name);
      for (const { graph } of nodeGraphs(n)) visit(graph);
    }
  };
  visit(model.graph!);
  return names;
}

function copyGraph(g: GraphProto): GraphProto {
  const node = (n: NodeProto): NodeProto =>
    nodeGraphs(n).length === 0
      ? n
      : {
          ...n,
          attribute: n.attribute.map((a) => ({ ...a, g: a.g && copyGraph(a.g), graphs: a.graphs.map(copyGraph) })),
        };
  return {
    ...g,
    node: g.node.map(node),
    initializer: [...g.initializer],
    input: [...g.input],
    output: [...g.output],
    valueInfo: [...g.valueInfo],
  };
}
