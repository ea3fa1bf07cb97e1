/**
 * QOperator format: each fused-able QDQ unit (DequantizeLinear inputs → op → QuantizeLinear output)
 * becomes the op's QLinear form, with inputs laid out as its rule's `qoperator.layout` says. Units that
 * do not match (no Q on the output, a float bias) stay in QDQ form, which ORT runs just the same.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { quantRule } from '../ops/index.js';
import { nodeLabel } from './common.js';

/** Rewrites QDQ units in place; returns node label → the QLinear op it became. */
export function toQOperator(m: ModelProto): Map<string, string> {
  const g = new Graph(m.graph!);
  const converted = new Map<string, string>();
  const touched = new Set<string>();
  for (const n of [...g.nodes]) {
    const q = quantRule(n.domain, n.opType ?? '')?.qoperator;
    if (!q) continue;
    if (n.opType === 'Gemm' && attrReader(n).float('beta', 1) !== 1) continue; // QGemm has no beta
    const unit = matchUnit(g, n, q.layout);
    if (!unit) continue;
    const attrs = n.attribute.filter((a) => !(n.opType === 'Gemm' && a.name === 'beta'));
    const node = makeNode(q.opType, unit.inputs, [unit.output], q.attrs ?? {}, { name: n.name, domain: q.domain });
    node.attribute = [...attrs, ...node.attribute.filter((a) => !attrs.some((b) => b.name === a.name))];
    g.removeNode(unit.quantize);
    g.replaceNode(n, [node]);
    // Float readers of the old output (graph outputs, float ops) read it through a DequantizeLinear.
    const out = n.output[0]!;
    if (g.isUsed(out))
      g.insertAfter(
        node,
        makeNode(
          'DequantizeLinear',
          [unit.output, ...unit.quantize.input.slice(1)],
          [out],
          {},
          { name: g.freshName(`${out}_DequantizeLinear`) },
        ),
      );
    for (const v of n.input) touched.add(v);
    converted.set(nodeLabel(n), q.opType);
  }
  removeUnusedQdq(g, touched);
  return converted;
}

interface Unit {
  inputs: string[];
  output: string;
  quantize: NodeProto;
}

function matchUnit(g: Graph, n: NodeProto, layout: readonly string[]): Unit | undefined {
  const inputs: string[] = [];
  let output: string | undefined;
  let quantize: NodeProto | undefined;
  const dq = (v: string | undefined) => {
    const p = v ? g.producer(v) : undefined;
    return p?.opType === 'DequantizeLinear' && (p.domain ?? '') === '' ? p : undefined;
  };
  const addInput = (i: number): boolean => {
    const p = dq(n.input[i]);
    if (!p || p.input.length < 3) return false;
    inputs.push(p.input[0]!, p.input[1]!, p.input[2]!);
    return true;
  };
  for (const token of layout) {
    const kind = token[0];
    const i = Number(token.slice(1));
    if (token === '*x') {
      for (let k = 0; k < n.input.length; k++) if (!addInput(k)) return undefined;
    } else if (kind === 'x') {
      if (!addInput(i)) return undefined;
    } else if (kind === 'y') {
      quantize = g.consumers(n.output[i]!).find((c) => c.opType === 'QuantizeLinear' && (c.domain ?? '') === '');
      if (!quantize) return undefined;
      inputs.push(quantize.input[1]!, quantize.input[2]!);
      output = quantize.output[0]!;
    } else if (kind === 'b') {
      if (!n.input[i]) continue;
      const p = dq(n.input[i]);
      if (!p || !g.initializer(p.input[0]!) || g.initializer(p.input[0]!)!.dataType !== 6) return undefined;
      inputs.push(p.input[0]!);
    }
  }
  return output && quantize ? { inputs, output, quantize } : undefined;
}

/** Removes Q/DQ nodes left without readers, then the initializers only they used. */
function removeUnusedQdq(g: Graph, candidates: Set<string>): void {
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of [...g.nodes]) {
      if ((n.opType === 'DequantizeLinear' || n.opType === 'QuantizeLinear') && n.output.every((o) => !g.isUsed(o))) {
        for (const v of n.input) candidates.add(v);
        g.removeNode(n);
        changed = true;
      }
    }
  }
  for (const v of candidates) if (g.initializer(v) && !g.isUsed(v)) g.removeInitializer(v);
}
