/**
 * Ops that compute differently while training, rewritten for the training graph:
 * - Dropout becomes x · mask with the mask fed by the trainer from its seeded generator (DropoutMask),
 *   or, where the trainer cannot shape the mask, gets training_mode=true and a mask output that its
 *   gradient rule reads (ORT draws that mask);
 * - BatchNormalization normalizes with the batch's statistics — their mean and variance computed in the
 *   graph and fed to a standard BatchNormalization, whose gradient rule (ops/grad/nn.ts) then accounts
 *   for the statistics analytically — and outputs updated running statistics (ONNX's rule:
 *   running = running·momentum + batch·(1 − momentum));
 * - LayerNormalization stays the standard op (opset 17), whose gradient rule reads its Mean and
 *   InvStdDev outputs; a LayerNormalization of another domain is decomposed into ReduceMean/Sub/Mul/
 *   Sqrt/Div nodes whose gradients are the already-checked elementwise rules.
 */
import { badInput } from '../errors.js';
import { DataType } from '../ir/dtype.js';
import type { GraphProto, NodeProto } from '../ir/proto.js';
import { GradEmitter } from '../ops/grad/emit.js';
import { attrReader } from '../ir/attrs.js';
import type { BatchStatistics } from '../ops/grad/index.js';
import { staticTypes } from './shapes.js';
import { valueInfo } from '../ir/builder.js';
import { tensorNumbers } from '../ir/tensor.js';
import { mulberry32 } from '../util/random.js';

/** A non-trained state tensor (an initializer) that each training step replaces with a new value. */
export interface StateUpdate {
  /** The initializer holding the state (running mean/var). */
  name: string;
  /** The training graph value with its new value after the step. */
  update: string;
}

/**
 * A Dropout turned into x · mask, the mask a graph input the trainer fills every step from its own seeded
 * generator (keep with probability 1 − ratio, scaled by 1/(1 − ratio)): the same seed and step give the
 * same masks, so a resumed run repeats an uninterrupted one exactly. Its shape is the batch dim followed
 * by `sampleDims`.
 */
export interface DropoutMask {
  name: string;
  sampleDims: number[];
  ratio: number;
}

/**
 * Rewrites `graph` for training. Returns the running-statistics updates, the dropout masks to feed, and the
 * BatchNormalization nodes that now normalize with their batch's statistics (by output name), which
 * `differentiate` hands to their gradient rule.
 */
export function setTrainingMode(
  graph: GraphProto,
  opset: number,
  taken: Set<string>,
): { updates: StateUpdate[]; masks: DropoutMask[]; batchStatistics: Map<string, BatchStatistics> } {
  const updates: StateUpdate[] = [];
  const masks: DropoutMask[] = [];
  const batchStatistics = new Map<string, BatchStatistics>();
  const types = staticTypes(graph, opset);
  // The batch dim's symbol: a dropout input that starts with it (and is static after it) gets a fed mask.
  const inits = new Set(graph.initializer.map((t) => t.name!));
  const batchSymbols = new Set<unknown>(
    graph.input
      .filter((i) => !inits.has(i.name!))
      .map((i) => types.types.get(i.name!)?.shape?.[0])
      .filter((d) => typeof d === 'string'),
  );
  const nodes: NodeProto[] = [];
  const emit = new GradEmitter(taken, opset, 'train');
  for (const node of graph.node) {
    const label = `${node.opType} node '${node.name ?? node.output[0]}'`;
    const rankOf = (v: string) => {
      const r = types.types.get(v)?.shape?.length;
      if (r === undefined) throw badInput(`${label}: training needs the rank of '${v}'; give the model input shapes`);
      return r;
    };
    if (node.opType === 'Dropout') {
      const shape = types.types.get(node.input[0]!)?.shape;
      const ratioInit = node.input[1] ? types.constants.get(node.input[1]) : undefined;
      const ratio =
        opset >= 12 ? (node.input[1] ? (ratioInit ? tensorNumbers(ratioInit)[0] : undefined) : 0.5) : attrReader(node).float('ratio', 0.5);
      const trainingInput = opset >= 12 && node.input[2];
      if (
        shape &&
        batchSymbols.has(shape[0]) &&
        shape.slice(1).every((d) => typeof d === 'number') &&
        ratio !== undefined &&
        ratio >= 0 &&
        ratio < 1 &&
        !node.output[1] &&
        !trainingInput
      ) {
        const name = emit.fresh('dropout_keep');
        graph.input.push(valueInfo(name, DataType.FLOAT, shape));
        masks.push({ name, sampleDims: shape.slice(1) as number[], ratio });
        nodes.push({
          input: [node.input[0]!, name],
          output: [node.output[0]!],
          opType: 'Mul',
          name: node.name,
          attribute: [],
          metadataProps: [],
          deviceConfigurations: [],
        });
        continue;
      }
    }
    if (node.opType === 'Dropout' && opset >= 12) {
      // Shapes the trainer cannot fill a mask for: ORT draws it (not reproducible across sessions).
      const on = emit.fresh('dropout_training');
      emit.initializers.push({
        name: on,
        dataType: DataType.BOOL,
        dims: [],
        rawData: Uint8Array.of(1),
        stringData: [],
        externalData: [],
        metadataProps: [],
      });
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
      const d = emit.sub(
        x,
        rank > 2
          ? emit.unsqueeze(
              mu,
              Array.from({ length: rank - 2 }, (_, i) => i + 1),
            )
          : mu,
      );
      const v = emit.reduceMean(emit.mul(d, d), axes, false);
      const bnNode: NodeProto = {
        ...node,
        input: [node.input[0]!, node.input[1]!, node.input[2]!, mu, v],
        output: [node.output[0]!],
        attribute: node.attribute.filter((at) => at.name === 'epsilon'),
      };
      batchStatistics.set(bnNode.output[0]!, { centered: d });
      const momentum = emit.scalar(a.float('momentum', 0.9));
      const keep = emit.scalar(1 - a.float('momentum', 0.9));
      for (const [state, batch] of [
        [mean, mu],
        [variance, v],
      ] as const) {
        updates.push({ name: state, update: emit.add(emit.mul(state, momentum), emit.mul(batch, keep)) });
      }
      nodes.push(...emit.nodes, bnNode);
      emit.nodes.length = 0;
      continue;
    }
    if (node.opType === 'LayerNormalization' && opset >= 17 && !node.domain) {
      // The standard op (ORT's fused kernel) with its own gradient rule (ops/grad/nn.ts).
      nodes.push(node);
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
      if (node.output[1])
        emit.nodes.push({
          input: [mu],
          output: [node.output[1]],
          opType: 'Identity',
          attribute: [],
          metadataProps: [],
          deviceConfigurations: [],
        });
      if (node.output[2])
        emit.nodes.push({
          input: [std],
          output: [node.output[2]],
          opType: 'Reciprocal',
          attribute: [],
          metadataProps: [],
          deviceConfigurations: [],
        });
      nodes.push(...emit.nodes);
      emit.nodes.length = 0;
      continue;
    }
    nodes.push(node);
  }
  graph.node = nodes;
  graph.initializer.push(...emit.initializers);
  return { updates, masks, batchStatistics };
}

/**
 * Fills the dropout masks for one graph run: each element kept with probability 1 − ratio, as
 * 1/(1 − ratio), else 0. The stream depends only on (seed, step, run within the step, mask), so a
 * resumed run draws what the uninterrupted one drew.
 */
export function fillDropoutMasks(
  masks: readonly DropoutMask[],
  out: readonly Float32Array[],
  seed: number,
  step: number,
  run: number,
): void {
  masks.forEach((m, k) => {
    const rng = mulberry32(mix(mix(mix(mix(0x9e3779b9, seed), step), run), k));
    const keep = 1 - m.ratio;
    const scale = 1 / keep;
    const a = out[k]!;
    for (let i = 0; i < a.length; i++) a[i] = rng() < keep ? scale : 0;
  });
}

/** One round of murmur3's 32-bit mixing of `v` into `h`. */
function mix(h: number, v: number): number {
  let k = Math.imul(v | 0, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
