/**
 * Editing a graph while keeping its producer/consumer index consistent (onnx-ir's model): every edit
 * goes through these methods, so passes never see a stale "who uses this value" answer.
 *
 * Values used inside subgraphs (If/Loop/Scan bodies) from the outer scope count as uses by the node
 * that holds the subgraph.
 */
import type { GraphProto, NodeProto, TensorProto } from './proto.js';
import { HoneError } from '../errors.js';

export class Graph {
  private producers = new Map<string, NodeProto>();
  private users = new Map<string, Set<NodeProto>>();
  private inits = new Map<string, TensorProto>();
  private names = new Set<string>();
  private counter = 0;

  constructor(readonly proto: GraphProto) {
    for (const t of proto.initializer) this.inits.set(t.name ?? '', t);
    for (const v of proto.input) this.names.add(v.name ?? '');
    for (const t of proto.initializer) this.names.add(t.name ?? '');
    for (const n of proto.node) this.index(n);
  }

  get nodes(): readonly NodeProto[] {
    return this.proto.node;
  }

  producer(value: string): NodeProto | undefined {
    return this.producers.get(value);
  }

  consumers(value: string): NodeProto[] {
    return [...(this.users.get(value) ?? [])];
  }

  /** True when the value is read by a node or is a graph output. */
  isUsed(value: string): boolean {
    return (this.users.get(value)?.size ?? 0) > 0 || this.proto.output.some((o) => o.name === value);
  }

  initializer(name: string): TensorProto | undefined {
    return this.inits.get(name);
  }

  isGraphInput(name: string): boolean {
    return this.proto.input.some((v) => v.name === name) && !this.inits.has(name);
  }

  /** A value name not yet used in this graph: `prefix`, `prefix_1`, … */
  freshName(prefix: string): string {
    let name = prefix;
    while (this.names.has(name)) name = `${prefix}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** Inserts `node` at `index` (default: end; callers usually topoSort afterwards or insert before the first use). */
  insertNode(node: NodeProto, index = this.proto.node.length): NodeProto {
    for (const o of node.output) {
      if (o && this.producers.has(o)) throw new HoneError(`graph edit: value '${o}' already has a producer`, 1);
    }
    this.proto.node.splice(index, 0, node);
    this.index(node);
    return node;
  }

  /** Inserts `node` right before `anchor`. */
  insertBefore(anchor: NodeProto, node: NodeProto): NodeProto {
    const i = this.proto.node.indexOf(anchor);
    return this.insertNode(node, i < 0 ? this.proto.node.length : i);
  }

  /** Inserts `node` right after `anchor`. */
  insertAfter(anchor: NodeProto, node: NodeProto): NodeProto {
    const i = this.proto.node.indexOf(anchor);
    return this.insertNode(node, i < 0 ? this.proto.node.length : i + 1);
  }

  removeNode(node: NodeProto): void {
    const i = this.proto.node.indexOf(node);
    if (i < 0) return;
    this.proto.node.splice(i, 1);
    this.unindex(node);
  }

  /** Replaces `node` by `replacements`, in its place. */
  replaceNode(node: NodeProto, replacements: NodeProto[]): void {
    const i = this.proto.node.indexOf(node);
    if (i < 0) throw new HoneError('graph edit: node to replace is not in the graph', 1);
    this.removeNode(node);
    replacements.forEach((r, k) => this.insertNode(r, i + k));
  }

  /** Sets input `slot` of `node` to `value`. */
  setInput(node: NodeProto, slot: number, value: string): void {
    this.unindex(node);
    node.input[slot] = value;
    this.index(node);
  }

  /** Every use of `from` (node inputs, subgraph captures, graph outputs) now reads `to`. */
  replaceAllUses(from: string, to: string): void {
    for (const n of this.consumers(from)) {
      this.unindex(n);
      n.input = n.input.map((x) => (x === from ? to : x));
      renameInSubgraphs(n, from, to);
      this.index(n);
    }
    for (const o of this.proto.output) if (o.name === from) o.name = to;
  }

  /** Renames a value everywhere: its producer (or initializer/graph input) and every use. */
  renameValue(from: string, to: string): void {
    if (from === to) return;
    if (this.names.has(to) || this.producers.has(to))
      throw new HoneError(`graph edit: cannot rename '${from}' to '${to}': the name is taken`, 1);
    const p = this.producers.get(from);
    if (p) {
      this.unindex(p);
      p.output = p.output.map((x) => (x === from ? to : x));
      this.index(p);
    }
    const init = this.inits.get(from);
    if (init) {
      init.name = to;
      this.inits.delete(from);
      this.inits.set(to, init);
    }
    for (const v of [...this.proto.input, ...this.proto.valueInfo]) if (v.name === from) v.name = to;
    this.replaceAllUses(from, to);
    this.names.add(to);
  }

  addInitializer(t: TensorProto): string {
    const name = t.name ?? '';
    if (this.inits.has(name)) throw new HoneError(`graph edit: initializer '${name}' exists`, 1);
    this.proto.initializer.push(t);
    this.inits.set(name, t);
    this.names.add(name);
    return name;
  }

  removeInitializer(name: string): void {
    const t = this.inits.get(name);
    if (!t) return;
    this.inits.delete(name);
    this.proto.initializer.splice(this.proto.initializer.indexOf(t), 1);
    this.proto.input = this.proto.input.filter((v) => v.name !== name);
  }

  /**
   * Orders nodes so every producer comes before its consumers (stable: keeps file order where it can).
   * Throws on a cycle.
   */
  topoSort(): void {
    this.proto.node = topoOrder(this.proto.node, new Set([...this.proto.input.map((v) => v.name ?? ''), ...this.inits.keys()]));
  }

  /**
   * Removes nodes whose outputs nobody reads (and are not graph outputs), then initializers nobody reads.
   * Returns how many nodes and initializers went.
   */
  removeDeadCode(): { nodes: number; initializers: number } {
    let nodes = 0;
    for (let i = this.proto.node.length - 1; i >= 0; i--) {
      const n = this.proto.node[i]!;
      if (n.output.every((o) => !o || !this.isUsed(o))) {
        this.removeNode(n);
        nodes++;
      }
    }
    let initializers = 0;
    for (const name of [...this.inits.keys()]) {
      if (!this.isUsed(name)) {
        this.removeInitializer(name);
        initializers++;
      }
    }
    return { nodes, initializers };
  }

  private index(n: NodeProto): void {
    for (const o of n.output)
      if (o) {
        this.producers.set(o, n);
        this.names.add(o);
      }
    for (const v of usedValues(n)) {
      let s = this.users.get(v);
      if (!s) this.users.set(v, (s = new Set()));
      s.add(n);
    }
  }

  private unindex(n: NodeProto): void {
    for (const o of n.output) if (this.producers.get(o) === n) this.producers.delete(o);
    for (const v of usedValues(n)) this.users.get(v)?.delete(n);
  }
}

/** The values a node reads: its inputs plus outer-scope values its subgraphs capture. */
export function usedValues(n: NodeProto): Set<string> {
  const out = new Set(n.input.filter((x) => x !== ''));
  for (const a of n.attribute) {
    for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) for (const v of capturedValues(g)) out.add(v);
  }
  return out;
}

/** Values a subgraph reads from enclosing scopes (not defined inside it). */
export function capturedValues(g: GraphProto): Set<string> {
  const defined = new Set<string>([...g.input.map((v) => v.name ?? ''), ...g.initializer.map((t) => t.name ?? '')]);
  const out = new Set<string>();
  for (const n of g.node) {
    for (const v of usedValues(n)) if (!defined.has(v)) out.add(v);
    for (const o of n.output) defined.add(o);
  }
  for (const o of g.output) if (o.name && !defined.has(o.name)) out.add(o.name);
  return out;
}

function renameInSubgraphs(n: NodeProto, from: string, to: string): void {
  for (const a of n.attribute) {
    for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) {
      if (g.input.some((v) => v.name === from) || g.initializer.some((t) => t.name === from)) continue; // shadowed
      for (const m of g.node) {
        m.input = m.input.map((x) => (x === from ? to : x));
        renameInSubgraphs(m, from, to);
      }
      for (const o of g.output) if (o.name === from) o.name = to;
    }
  }
}

/**
 * Kahn's algorithm over `nodes`, given the values available before any node runs. Stable: among ready
 * nodes, the earliest in the input order goes first. Throws on a cycle or a value nobody produces.
 */
export function topoOrder(nodes: readonly NodeProto[], available: Set<string>): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output.forEach((o) => o && producer.set(o, i)));
  const pending = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const v of usedValues(n)) {
      const p = producer.get(v);
      if (p !== undefined && p !== i && !available.has(v)) {
        pending[i]!++;
        dependents[p]!.push(i);
      }
    }
  });
  // A min-heap would be O(n log n); a sorted ready list is simpler and fast enough for graphs of ~10^5 nodes.
  const ready: number[] = [];
  pending.forEach((c, i) => c === 0 && ready.push(i));
  const order: NodeProto[] = [];
  let head = 0;
  ready.sort((a, b) => a - b);
  while (head < ready.length) {
    const i = ready[head++]!;
    order.push(nodes[i]!);
    const newly: number[] = [];
    for (const d of dependents[i]!) if (--pending[d]! === 0) newly.push(d);
    if (newly.length) {
      const rest = ready
        .slice(head)
        .concat(newly)
        .sort((a, b) => a - b);
      ready.length = head;
      ready.push(...rest);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => pending[i]! > 0);
    throw new HoneError(`the graph has a cycle through node '${stuck?.name ?? stuck?.opType}'; an ONNX graph must be acyclic`, 2);
  }
  return order;
}
