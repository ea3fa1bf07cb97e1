/**
 * Opset upgrade: rewrites a model to a newer ai.onnx opset so that passes needing newer ops (static int8
 * needs QuantizeLinear from 10 and per-channel DequantizeLinear from 13; training's gradient rules emit
 * opset-16 ops) run on the old models people download (the ONNX model zoo's classics are opset 7-9, PyTorch
 * long wrote 6-11). One upgrader serves every pass.
 *
 * Only the ops whose signature or meaning changed between the two opsets are rewritten: attributes that
 * became inputs (Reshape 5, Slice/TopK 10, Pad/Clip 11, Dropout 12, Squeeze/Unsqueeze/ReduceSum/Split 13,
 * the other reductions 18), legacy broadcasting (before 7), BatchNormalization's spatial/is_test,
 * softmax's 2-D coercion (before 13), Upsample and Resize-10 to Resize with the coordinate mode that
 * keeps their results, Scatter to ScatterElements. Subgraphs (If/Loop/Scan bodies) are upgraded too.
 * An op whose meaning changed in a way this pass does not rewrite is an error naming the node.
 * The caller's model is never modified. Checked against ORT on ONNX's backend models (opset 6-12).
 */
import { badInput } from '../errors.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { makeTensor } from '../ir/tensor.js';
import { attrReader } from '../ir/attrs.js';
import { inferShapes } from '../ops/infer.js';
import { opProps } from '../ops/index.js';
import type { ValueType } from '../ops/types.js';
import type { Pass } from './pass.js';
import { withDefaults } from './options.js';

export interface UpgradeResult {
  model: ModelProto;
  changed: boolean;
  from: number;
  to: number;
}

/** The highest opset this pass can upgrade to (Reduce* axes became inputs at 18; later changes are not handled). */
export const MAX_UPGRADE_OPSET = 18;

/** The model's ai.onnx opset (the default domain). */
export function aiOnnxOpset(model: ModelProto): number {
  return model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 1;
}

/** `model` at ai.onnx opset `to`, or `model` itself when it is already there or newer. */
export function upgradeOpset(model: ModelProto, to: number): UpgradeResult {
  const from = aiOnnxOpset(model);
  if (from >= to) return { model, changed: false, from, to: from };
  if (to > MAX_UPGRADE_OPSET) throw new Error(`upgradeOpset: target opset ${to} is above ${MAX_UPGRADE_OPSET}`);
  const types = mainGraphTypes(model);
  const names = new Names(model.graph!);
  const graph = upgradeGraph(model.graph!, { from, to, types, names });
  return {
    model: {
      ...model,
      irVersion: Math.max(model.irVersion ?? 3, irVersionFor(to)),
      graph,
      opsetImport: model.opsetImport.map((o) => (!o.domain || o.domain === 'ai.onnx' ? { ...o, version: to } : o)),
    },
    changed: true,
    from,
    to,
  };
}

/** `upgrade.opset`: `upgradeOpset` as a pass (option `to`, default and at most MAX_UPGRADE_OPSET). */
export const upgradeOpsetPass: Pass<{ to: number }> = {
  id: 'upgrade.opset',
  description: `rewrites the model to a newer ai.onnx opset (option to, at most ${MAX_UPGRADE_OPSET}), changing only the ops whose signature or meaning changed`,
  applies: (_model, facts) =>
    facts.opset >= MAX_UPGRADE_OPSET
      ? `the model is at opset ${facts.opset}, and this pass upgrades to at most ${MAX_UPGRADE_OPSET}`
      : undefined,
  space: {},
  defaults: { to: MAX_UPGRADE_OPSET },
  needs: [],
  async run(model, options) {
    const o = withDefaults(this, options);
    if (!Number.isInteger(o.to) || o.to < 1 || o.to > MAX_UPGRADE_OPSET)
      throw badInput(`upgrade.opset: option to must be an opset from 1 to ${MAX_UPGRADE_OPSET}, got ${o.to}`);
    const r = upgradeOpset(model, o.to);
    return {
      model: r.model,
      changed: r.changed,
      report: {
        summary: r.changed ? `upgraded from opset ${r.from} to ${r.to}` : `already at opset ${r.from} (asked for ${o.to}): nothing to do`,
        notes: [],
        detail: { from: r.from, to: r.to },
      },
    };
  },
};

/** Ops whose meaning changed before the given opset in ways this pass does not rewrite. */
const UNSUPPORTED_BELOW: Record<string, number> = { Scan: 9 };

/** The lowest IR version each opset needs (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  return opset <= 8 ? 3 : opset <= 9 ? 4 : opset <= 10 ? 5 : opset <= 11 ? 6 : opset <= 14 ? 7 : opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

interface Ctx {
  from: number;
  to: number;
  /** Static types of the main graph's values (subgraph values are looked up there too, and often absent). */
  types: Map<string, ValueType>;
  names: Names;
}

/** Fresh value names, unique across the whole model (subgraphs see outer names). */
class Names {
  private taken = new Set<string>();
  private counter = 0;
  constructor(graph: GraphProto) {
    this.collect(graph);
  }
  fresh(hint: string): string {
    let n: string;
    do n = `upgrade/${hint}_${this.counter++}`;
    while (this.taken.has(n));
    this.taken.add(n);
    return n;
  }
  private collect(g: GraphProto): void {
    for (const n of g.node) {
      for (const v of [...n.input, ...n.output]) this.taken.add(v);
      for (const a of n.attribute) for (const sub of [a.g, ...a.graphs]) if (sub) this.collect(sub);
    }
    for (const v of [...g.initializer, ...g.input, ...g.output]) this.taken.add(v.name!);
  }
}

function mainGraphTypes(model: ModelProto): Map<string, ValueType> {
  try {
    return inferShapes(model).types;
  } catch {
    return new Map();
  }
}

function upgradeGraph(src: GraphProto, ctx: Ctx): GraphProto {
  const { from, to, names } = ctx;
  const inits: TensorProto[] = [];
  const ints = (values: readonly number[]) => {
    const name = names.fresh('ints');
    inits.push(
      makeTensor(
        name,
        DataType.INT64,
        [values.length],
        BigInt64Array.from(values, (v) => BigInt(v)),
      ),
    );
    return name;
  };
  const floats = (values: readonly number[]) => {
    const name = names.fresh('floats');
    inits.push(makeTensor(name, DataType.FLOAT, [values.length], Float32Array.from(values)));
    return name;
  };
  const nodes: NodeProto[] = [];
  /** A float scalar cast to the element type of value `like` (float when that is not known). */
  const scalarLike = (like: string, v: number) => {
    const name = names.fresh('scalar');
    inits.push(makeTensor(name, DataType.FLOAT, [], Float32Array.of(v)));
    const elemType = ctx.types.get(like)?.elemType ?? DataType.FLOAT;
    if (elemType === DataType.FLOAT) return name;
    const cast = names.fresh('scalar_cast');
    nodes.push(makeNode('Cast', [name], [cast], { to: elemType }, { name: names.fresh('Cast') }));
    return cast;
  };
  const crosses = (version: number) => from < version && to >= version;

  for (const orig of src.node) {
    const node: NodeProto = {
      ...orig,
      input: [...orig.input],
      output: [...orig.output],
      attribute: orig.attribute.filter((a) => a.name !== 'consumed_inputs').map((a) => upgradeSubgraphs(a, ctx)),
    };
    if (node.domain && node.domain !== 'ai.onnx') {
      nodes.push(node);
      continue;
    }
    const op = node.opType!;
    const attr = attrReader(node);
    const drop = (...names: string[]) => {
      node.attribute = node.attribute.filter((a) => !names.includes(a.name!));
    };
    const label = `${op} node '${node.name || node.output[0]}'`;
    const refuse = (why: string) =>
      badInput(`${label} cannot be upgraded from opset ${from} to ${to}: ${why}; re-export the model with opset ${to} or later`);
    if (UNSUPPORTED_BELOW[op] !== undefined && crosses(UNSUPPORTED_BELOW[op]!)) throw refuse('its meaning changed');

    const props = opProps('', op);
    if (crosses(7) && props.legacyBroadcast && attr.has('broadcast')) {
      // Before 7, B broadcast against A starting at `axis`; numpy-style broadcasting agrees when B is trailing.
      const axis = attr.int('axis');
      if (axis !== undefined && op !== 'Gemm') {
        const ra = ctx.types.get(node.input[0]!)?.shape?.length;
        const rb = ctx.types.get(node.input[1]!)?.shape?.length;
        if (ra === undefined || rb === undefined || (axis >= 0 ? axis : axis + ra) !== ra - rb)
          throw refuse(`legacy broadcasting at axis ${axis} has no numpy-style equivalent`);
      }
      drop('broadcast', 'axis');
    }
    switch (op) {
      case 'PRelu': {
        // Before 7 a 1-D slope was per channel (axis 1); from 7 it broadcasts numpy-style, from the last axis.
        if (!crosses(7)) break;
        const rx = ctx.types.get(node.input[0]!)?.shape?.length;
        const slope = ctx.types.get(node.input[1]!)?.shape;
        if (slope?.length !== 1 || slope[0] === 1 || rx === 2) break;
        if (rx === undefined) throw refuse("its per-channel slope needs the input's rank, which is not known");
        const shaped = names.fresh('slope');
        nodes.push(
          makeNode(
            'Reshape',
            [node.input[1]!, ints([-1, ...Array<number>(rx - 2).fill(1)])],
            [shaped],
            {},
            { name: names.fresh('Reshape') },
          ),
        );
        node.input[1] = shaped;
        break;
      }
      case 'Reshape':
        if (attr.has('shape')) {
          node.input[1] = ints(attr.ints('shape', []));
          drop('shape');
        }
        break;
      case 'Concat':
        if (crosses(4) && !attr.has('axis')) node.attribute.push(...attrsOf({ axis: 1 }));
        break;
      case 'BatchNormalization':
        if (attr.has('spatial') && attr.int('spatial', 1) !== 1) throw refuse('spatial=0 batch normalization has no later form');
        drop('spatial', 'is_test');
        break;
      case 'Dropout':
        if (crosses(7)) drop('is_test');
        if (crosses(12)) {
          if (attr.has('ratio')) node.input[1] = scalarLike('', attr.float('ratio', 0.5));
          drop('ratio');
        }
        break;
      case 'Slice':
        if (crosses(10) && attr.has('starts')) {
          node.input.push(ints(attr.ints('starts', [])), ints(attr.ints('ends', [])));
          if (attr.has('axes')) node.input.push(ints(attr.ints('axes', [])));
          drop('starts', 'ends', 'axes');
        }
        break;
      case 'TopK':
        if (crosses(10) && attr.has('k')) {
          node.input[1] = ints([attr.int('k', 1)]);
          drop('k');
        }
        break;
      case 'Upsample':
        if (to >= 10) {
          nodes.push(...upsampleToResize(node, ctx, floats));
          continue;
        }
        break;
      case 'Resize':
        if (crosses(13) && attr.string('coordinate_transformation_mode') === 'tf_half_pixel_for_nn')
          throw refuse("Resize-13 has no 'tf_half_pixel_for_nn' coordinate mode");
        if (crosses(11)) {
          // Resize-10 sampled like Upsample: asymmetric coordinates, nearest rounds down.
          const mode = attr.string('mode', 'nearest');
          node.input = [node.input[0]!, '', node.input[1]!];
          node.attribute = node.attribute.filter((a) => a.name === 'mode');
          node.attribute.push(
            ...attrsOf({ coordinate_transformation_mode: 'asymmetric', ...(mode === 'nearest' ? { nearest_mode: 'floor' } : {}) }),
          );
        }
        break;
      case 'Scatter':
        if (to >= 11) node.opType = 'ScatterElements';
        break;
      case 'Pad':
        if (crosses(11)) {
          const pads = attr.ints('pads') ?? attr.ints('paddings', []);
          node.input = [node.input[0]!, ints(pads)];
          const value = attr.float('value', 0);
          if (value !== 0 || attr.has('value')) node.input.push(scalarLike(node.input[0]!, value));
          drop('pads', 'paddings', 'value');
        }
        break;
      case 'Clip':
        if (crosses(11) && (attr.has('min') || attr.has('max'))) {
          node.input = [
            node.input[0]!,
            attr.has('min') ? scalarLike(node.input[0]!, attr.float('min', 0)) : '',
            attr.has('max') ? scalarLike(node.input[0]!, attr.float('max', 0)) : '',
          ];
          while (node.input[node.input.length - 1] === '') node.input.pop();
          drop('min', 'max');
        }
        break;
      case 'Split':
        if (crosses(13) && attr.has('split')) {
          node.input[1] = ints(attr.ints('split', []));
          drop('split');
        }
        // From 18 an equal split must say into how many parts.
        if (crosses(18) && !node.input[1] && !attr.has('num_outputs')) node.attribute.push(...attrsOf({ num_outputs: node.output.length }));
        break;
      case 'Softmax':
      case 'LogSoftmax':
      case 'Hardmax': {
        if (!crosses(13)) break;
        // Before 13: softmax over the input flattened to 2-D at `axis`; the same as 13's only for the last axis.
        const rank = ctx.types.get(node.input[0]!)?.shape?.length;
        let axis = attr.int('axis', 1);
        if (rank !== undefined && axis < 0) axis += rank;
        if (rank !== undefined && axis === rank - 1) {
          node.attribute = attrsOf({ axis: -1 });
          break;
        }
        const flat = names.fresh('flat');
        const sm = names.fresh('softmax');
        const shape = names.fresh('shape');
        nodes.push(makeNode('Flatten', [node.input[0]!], [flat], { axis }, { name: names.fresh('Flatten') }));
        nodes.push(makeNode(op, [flat], [sm], { axis: 1 }, { name: node.name }));
        nodes.push(makeNode('Shape', [node.input[0]!], [shape], {}, { name: names.fresh('Shape') }));
        nodes.push(makeNode('Reshape', [sm, shape], [node.output[0]!], {}, { name: names.fresh('Reshape') }));
        continue;
      }
    }
    // Squeeze/Unsqueeze/ReduceSum took axes as an input from 13, the other reductions from 18.
    if (props.axesInputSince !== undefined && crosses(props.axesInputSince) && attr.has('axes')) {
      node.input[1] = ints(attr.ints('axes', []));
      drop('axes');
    }
    nodes.push(node);
  }
  return { ...src, node: nodes, initializer: [...src.initializer, ...inits] };
}

function upgradeSubgraphs(a: AttributeProto, ctx: Ctx): AttributeProto {
  if (!a.g && !a.graphs.length) return a;
  return { ...a, g: a.g && upgradeGraph(a.g, ctx), graphs: a.graphs.map((g) => upgradeGraph(g, ctx)) };
}

/** Upsample (7: scales attribute; 9: scales input) as the Resize that samples the same points. */
function upsampleToResize(node: NodeProto, ctx: Ctx, floats: (v: readonly number[]) => string): NodeProto[] {
  const attr = attrReader(node);
  const mode = attr.string('mode', 'nearest');
  const scales = node.input[1] || floats(attr.floats('scales') ?? []);
  const attrs: Record<string, string> = { mode: mode === 'bilinear' ? 'linear' : mode };
  if (ctx.to >= 11) {
    attrs.coordinate_transformation_mode = 'asymmetric';
    if (attrs.mode === 'nearest') attrs.nearest_mode = 'floor';
  }
  const inputs = ctx.to >= 11 ? [node.input[0]!, '', scales] : [node.input[0]!, scales];
  return [makeNode('Resize', inputs, [node.output[0]!], attrs, { name: node.name })];
}

function attrsOf(values: Record<string, string | number>): AttributeProto[] {
  return makeNode('X', [], [], values).attribute;
}
