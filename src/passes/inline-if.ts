/**
 * Inlining `If` nodes whose condition is known: once the inputs a caller fixes are known (`--input sr=16000`),
 * an If whose condition folds to a constant (`sr == 16000`) always takes the same branch, and that branch's
 * nodes can replace the If in the parent graph. Training needs this: autodiff differentiates one graph, not
 * the branches of an If (Silero VAD keeps its LSTMs inside If branches chosen by the sample rate).
 *
 * - The condition is evaluated by shape inference's constant evaluator (`ops/infer-fold.ts`: shape arithmetic,
 *   comparisons) over a copy of the model in which the fixed inputs are initializers, so a condition on a
 *   fixed input's value (`sr == 16000`) or on static dims (`x.shape[1] == 1`) is known; Ifs nested in the
 *   taken branch become main-graph Ifs and are tried in turn.
 * - Names the branch defines (node outputs, initializers) that the rest of the model also uses (a sibling
 *   branch, another If's subgraph) are renamed, in the branch's nested subgraphs too, which read them from
 *   outer scope. Values the branch reads from outer scope stay as they are: they are the parent's values.
 * - Each If output becomes an Identity of the branch output it names.
 * - `origins` maps every initializer the branch brought into the main graph to the subgraph (an object of
 *   the input model) and name it came from, so trained values can be written back into the model's own If
 *   (`exportTrained`), which keeps both branches.
 */
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from '../ir/proto.js';
import { makeNode } from '../ir/builder.js';
import { nodeGraphs } from '../ir/walk.js';
import { tensorNumbers } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import type { Pass } from './pass.js';
import { withDefaults } from './options.js';

/** Where an initializer inlined into the main graph lives in the input model. */
export interface WeightOrigin {
  /** The If branch (or a graph nested in one) of the input model that holds it. */
  graph: GraphProto;
  name: string;
}

export interface InlineIfResult {
  model: ModelProto;
  /** If nodes replaced by a branch (nested ones count once each). */
  inlined: number;
  /** Main-graph initializer name → where it lives in the input model (only for initializers that came from branches). */
  origins: Map<string, WeightOrigin>;
}

/**
 * `model` with every main-graph If whose condition is constant (given `values` for some graph inputs)
 * replaced by its taken branch, repeatedly, so nested Ifs are inlined too. `model` is not changed.
 */
export function inlineConstantIfs(model: ModelProto, values: ReadonlyMap<string, TensorProto> = new Map()): InlineIfResult {
  const g0 = model.graph!;
  const graph: GraphProto = { ...g0, node: [...g0.node], initializer: [...g0.initializer], valueInfo: [...g0.valueInfo] };
  const origins = new Map<string, WeightOrigin>();
  // Branch copies made for renaming → the graph of `model` they copy.
  const originalOf = new Map<GraphProto, GraphProto>();
  let inlined = 0;
  for (;;) {
    const conditions = knownConditions({ ...model, graph }, values);
    const target = graph.node.find((n) => isIf(n) && conditions.has(n.input[0]!));
    if (!target) break;
    const branch = nodeGraphs(target).find((s) => s.attr === (conditions.get(target.input[0]!) ? 'then_branch' : 'else_branch'))?.graph;
    if (!branch) break;
    const at = graph.node.indexOf(target);
    const { nodes, initializers, valueInfo, renamed } = inlineBranch(graph, target, branch, originalOf);
    graph.node.splice(at, 1, ...nodes);
    graph.initializer.push(...initializers);
    graph.valueInfo.push(...valueInfo);
    const home = originalOf.get(branch) ?? branch;
    for (const t of branch.initializer) origins.set(renamed.get(t.name!) ?? t.name!, { graph: home, name: t.name! });
    inlined++;
  }
  return { model: { ...model, graph }, inlined, origins };
}

/**
 * `inline.if`: `inlineConstantIfs` as a pass, for conditions the model itself decides (constants, static
 * dims). Conditions on an input's value (`--input sr=16000`) need that value, which is not an option a
 * search varies: training passes it to `inlineConstantIfs` directly.
 */
export const inlineIfPass: Pass<Record<string, never>> = {
  id: 'inline.if',
  description: 'replaces each If whose condition folds to a constant (from constants or static dims) by the branch it takes',
  applies: (_model, facts) => (facts.opTypes.has('If') ? undefined : 'the main graph has no If'),
  space: {},
  defaults: {},
  needs: [],
  async run(model, options) {
    withDefaults(this, options);
    const r = inlineConstantIfs(model);
    const left = r.model.graph!.node.filter(isIf).length;
    return {
      model: r.inlined ? r.model : model,
      changed: r.inlined > 0,
      report: {
        summary: r.inlined
          ? `inlined ${r.inlined} If node(s) whose condition is constant`
          : 'nothing to inline: no If condition folds to a constant',
        notes: left ? [`${left} If node(s) left: their condition depends on input values or dynamic dims`] : [],
        detail: { inlined: r.inlined, left },
      },
    };
  },
};

/**
 * The graph inputs an If's condition depends on (through its producers in `graph`), for messages: those whose
 * values it reads, and those whose shapes only it reads (through Shape/Size).
 */
export function conditionInputs(graph: GraphProto, node: NodeProto): { values: string[]; shapes: string[] } {
  const producers = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) if (o) producers.set(o, n);
  const inputs = new Set(graph.input.map((v) => v.name!));
  for (const t of graph.initializer) inputs.delete(t.name!);
  const found = { values: new Set<string>(), shapes: new Set<string>() };
  const seen = new Set<string>();
  const visit = (v: string, kind: 'values' | 'shapes') => {
    if (!v || seen.has(`${kind}:${v}`)) return;
    seen.add(`${kind}:${v}`);
    if (inputs.has(v)) found[kind].add(v);
    const p = producers.get(v);
    const next = p && (p.opType === 'Shape' || p.opType === 'Size') ? 'shapes' : kind;
    p?.input.forEach((i) => visit(i, next));
  };
  visit(node.input[0]!, 'values');
  return { values: [...found.values], shapes: [...found.shapes].filter((i) => !found.values.has(i)) };
}

function isIf(n: NodeProto): boolean {
  return n.opType === 'If' && (n.domain ?? '') === '';
}

/** Condition value of every main-graph If whose condition folds to a constant, by condition name. */
function knownConditions(model: ModelProto, values: ReadonlyMap<string, TensorProto>): Map<string, boolean> {
  const g = model.graph!;
  const conds = new Set(g.node.filter(isIf).map((n) => n.input[0]!));
  if (conds.size === 0) return new Map();
  const fixed = [...values].filter(([name]) => g.input.some((v) => v.name === name)).map(([name, t]) => ({ ...t, name }));
  const fixedNames = new Set(fixed.map((t) => t.name));
  const probe: ModelProto = {
    ...model,
    graph: {
      ...g,
      input: g.input.filter((v) => !fixedNames.has(v.name!)),
      initializer: [...g.initializer.filter((t) => !fixedNames.has(t.name!)), ...fixed],
    },
  };
  const known = inferShapes(probe).constants;
  const out = new Map<string, boolean>();
  for (const cond of conds) {
    const t = known.get(cond);
    const v = t && tensorNumbers(t);
    if (v?.length === 1) out.set(cond, v[0] !== 0);
  }
  return out;
}

/**
 * The nodes, initializers and value_info that replace `node` by `branch` in `graph`, with branch-defined
 * names that clash with names used elsewhere in the model renamed.
 */
function inlineBranch(graph: GraphProto, node: NodeProto, branch: GraphProto, originalOf: Map<GraphProto, GraphProto>) {
  const defined = new Set<string>([...branch.initializer.map((t) => t.name!), ...branch.node.flatMap((n) => n.output.filter(Boolean))]);
  const elsewhere = namesOutside(graph, branch);
  const renamed = new Map<string, string>();
  const fresh = (base: string) => {
    let name = `${base}_inlined`;
    for (let i = 1; elsewhere.has(name) || defined.has(name); i++) name = `${base}_inlined${i}`;
    elsewhere.add(name);
    return name;
  };
  for (const v of defined) if (elsewhere.has(v)) renamed.set(v, fresh(v));
  const r = (v: string) => renamed.get(v) ?? v;
  const nodes = branch.node.map((n) => renameNode(n, renamed, originalOf));
  branch.output.forEach((o, i) => {
    if (node.output[i])
      nodes.push(makeNode('Identity', [r(o.name!)], [node.output[i]!], {}, { name: `${node.name || node.output[0]}/${o.name}` }));
  });
  const initializers: TensorProto[] = branch.initializer.map((t) => (renamed.has(t.name!) ? { ...t, name: r(t.name!) } : t));
  const valueInfo: ValueInfoProto[] = branch.valueInfo.filter((v) => defined.has(v.name!)).map((v) => ({ ...v, name: r(v.name!) }));
  return { nodes, initializers, valueInfo, renamed };
}

/** `n` with `renamed` applied to its inputs, outputs and the outer-scope reads of its subgraphs (a copy when anything changes). */
function renameNode(n: NodeProto, renamed: ReadonlyMap<string, string>, originalOf: Map<GraphProto, GraphProto>): NodeProto {
  if (renamed.size === 0) return n;
  const r = (v: string) => renamed.get(v) ?? v;
  const subs = nodeGraphs(n);
  return {
    ...n,
    input: n.input.map(r),
    output: n.output.map(r),
    attribute:
      subs.length === 0
        ? n.attribute
        : n.attribute.map((a) => ({
            ...a,
            g: a.g && renameReads(a.g, renamed, originalOf),
            graphs: a.graphs.map((s) => renameReads(s, renamed, originalOf)),
          })),
  };
}

/** A copy of subgraph `g` reading renamed outer values under their new names (names it defines itself are untouched). */
function renameReads(g: GraphProto, renamed: ReadonlyMap<string, string>, originalOf: Map<GraphProto, GraphProto>): GraphProto {
  const own = new Set<string>([...g.input.map((v) => v.name!), ...g.initializer.map((t) => t.name!), ...g.node.flatMap((n) => n.output)]);
  const outer = new Map([...renamed].filter(([k]) => !own.has(k)));
  const copy: GraphProto = {
    ...g,
    node: g.node.map((n) => renameNode(n, outer, originalOf)),
    output: g.output.map((o) => (outer.has(o.name!) ? { ...o, name: outer.get(o.name!)! } : o)),
  };
  originalOf.set(copy, originalOf.get(g) ?? g);
  return copy;
}

/** Every name used in `graph` and its subgraphs, but for those inside `skip`. */
function namesOutside(graph: GraphProto, skip: GraphProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: GraphProto) => {
    if (g === skip) return;
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) names.add(v.name!);
    for (const t of g.initializer) names.add(t.name!);
    for (const n of g.node) {
      for (const x of [...n.input, ...n.output]) if (x) names.add(x);
      for (const { graph: sub } of nodeGraphs(n)) visit(sub);
    }
  };
  visit(graph);
  return names;
}
