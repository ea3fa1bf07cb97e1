/**
 * Ops that compute differently while training, rewritten for the training graph:
 * - Dropout gets training_mode=true and a mask output (its gradient rule reads the mask);
 * - BatchNormalization normalizes with the batch's statistics — their mean and variance computed in the
 *   graph and fed to a standard BatchNormalization, whose gradient rule (ops/grad/nn.ts) then accounts
 *   for the statistics analytically — and outputs updated running statistics (ONNX's rule:
 *   running = running·momentum + batch·(1 − momentum));
 * - LayerNormalization is decomposed into ReduceMean/Sub/Mul/Sqrt/Div nodes whose gradients are the
 *   already-checked elementwise rules.
 */
import { badInput } from '../errors.js';
import { DataType } from '../ir/dtype.js';
import type { GraphProto, NodeProto } from '../ir/proto.js';
import { GradEmitter } from '../ops/grad/emit.js';
import { attrReader } from '../ops/grad/attrs.js';
import { batchStatisticsNodes } from '../ops/grad/nn.js';
import { staticTypes } from './shapes.js';

/** A non-trained state tensor (an initializer) that each training step replaces with a new value. */
export interface StateUpdate {
  /** The initializer holding the state (running mean/var). */
  name: string;
  /** The training graph value with its new value after the step. */
  update: string;
}

export function setTrainingMode(graph: GraphProto, opset: number, taken: Set<string>): StateUpdate[] {
  const updates: StateUpdate[] = [];
  const types = staticTypes(graph, opset);
  const nodes: NodeProto[] = [];
  const emit = new GradEmitter(taken, opset, 'train');
  for (const node of graph.node) {
    const label = `${node.opType} node '${node.name ?? node.output[0]}'`;
    const rankOf = (v: string) => {
      const r = types.types.get(v)?.shape?.length;
      if (r === undefined) throw badInput(`${label}: training needs the rank of '${v}'; give the model input shapes`);
      return r;
    };
    if (node.opType === 'Dropout' && opset >= 12) {
      const on = emit.fresh('dropout_training');
      emit.initializers.push({ name: on, dataType: DataType.BOOL, dims: [], rawData: Uint8Array.of(1), stringData: [], externalData: [], metadataProps: [] });
      while (node.input.length < 2) node.input.push('');
      node.input[2] = on;
      if (!node.output[1]) node.output[1] = emit.fresh('dropout_mask');
      nodes.push(node);
      continue;
    }
    if (node.opType === 'BatchNormalization') {
      // Mean and (biased) variance of the batch per channel feed a standard BatchNormalization — one
      // fast pass — whose gradient rule differentiates through the statistics analytically.
      const a = attrReader(node);
      const [x, , , mean, variance] = node.input as [string, string, string, string, string];
      const rank = rankOf(x);
      const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
      emit.nodes.length = 0;
      const mu = emit.reduceMean(x, axes, false);
      const d = emit.sub(x, rank > 2 ? emit.unsqueeze(mu, Array.from({ length: rank - 2 }, (_, i) => i + 1)) : mu);
      const v = emit.reduceMean(emit.mul(d, d), axes, false);
      const bnNode: NodeProto = {
        ...node, input: [node.input[0]!, node.input[1]!, node.input[2]!, mu, v], output: [node.output[0]!],
        attribute: node.attribute.filter((at) => at.name === 'epsilon'),
      };
      batchStatisticsNodes.set(bnNode, { centered: d });
      const momentum = emit.scalar(a.float('momentum', 0.9));
      const keep = emit.scalar(1 - a.float('momentum', 0.9));
      for (const [state, batch] of [[mean, mu], [variance, v]] as const) {
        updates.push({ name: state, update: emit.add(emit.mul(state, momentum), emit.mul(batch, keep)) });
      }
      nodes.push(...emit.nodes, bnNode);
      emit.nodes.length = 0;
      continue;
    }
    if (node.opType === 'LayerNormalization') {
      const a = attrReader(node);
      const [x, scale, bias] = node.input as [string, string, string | undefined];
      const rank = rankOf(x);
      const eps = emit.scalar(a.float('epsilon', 1e-5));
      let axis = a.int('axis', -1);
      if (axis < 0) axis += rank;
      const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
      emit.nodes.length = 0;
      const mu = emit.reduceMean(x, axes, true);
      const d = emit.sub(x, mu);
      const v = emit.reduceMean(emit.mul(d, d), axes, true);
      const std = emit.op('Sqrt', [emit.add(v, eps)]);
      let y = emit.mul(emit.div(d, std), scale);
      if (bias) y = emit.add(y, bias);
      const last = emit.nodes[emit.nodes.length - 1]!;
      last.output[0] = node.output[0]!;
      if (node.output[1]) emit.nodes.push({ input: [mu], output: [node.output[1]], opType: 'Identity', attribute: [], metadataProps: [], deviceConfigurations: [] });
      if (node.output[2]) emit.nodes.push({ input: [std], output: [node.output[2]], opType: 'Reciprocal', attribute: [], metadataProps: [], deviceConfigurations: [] });
      nodes.push(...emit.nodes);
      emit.nodes.length = 0;
      continue;
    }
    nodes.push(node);
  }
  graph.node = nodes;
  graph.initializer.push(...emit.initializers);
  return updates;
}
