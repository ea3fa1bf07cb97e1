/**
 * Brings an older-opset model (PyTorch's exporter long wrote opset 6-11) to opset 16 for training, so the
 * gradient rules and the nodes they emit can use one modern op set (16: ScatterElements/ScatterND with
 * add reduction, which overlapping max-pool and embedding gradients need). Only the ops whose signature changed
 * between the model's opset and 16 are rewritten (attributes that became inputs, legacy broadcasting,
 * softmax's 2-D coercion); an op with changed semantics that is not handled here is an error naming it.
 * The exported, trained model keeps the original opset: only the training graph is upgraded.
 */
import { badInput } from '../errors.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { makeTensor } from '../ir/tensor.js';
import { attrReader } from '../ops/grad/attrs.js';
import { staticTypes } from './shapes.js';

export const TRAINING_OPSET = 16;

/** Ops whose meaning changed before opset 16 in ways this pass does not rewrite. */
const UNSUPPORTED_BELOW: Record<string, number> = { Upsample: 100, Scan: 9, Resize: 13, TopK: 10, Mod: 13 };

export function upgradeForTraining(model: ModelProto): ModelProto {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  const from = entry?.version ?? 1;
  if (from >= TRAINING_OPSET) return model;
  const src = model.graph!;
  const types = staticTypes(src, from);
  const inits: TensorProto[] = [];
  let counter = 0;
  const taken = new Set<string>([...src.node.flatMap((n) => [...n.input, ...n.output]), ...src.initializer.map((t) => t.name!), ...src.input.map((i) => i.name!)]);
  const fresh = (hint: string) => {
    let n: string;
    do n = `upgrade/${hint}_${counter++}`; while (taken.has(n));
    taken.add(n);
    return n;
  };
  const ints = (values: number[]) => {
    const name = fresh('ints');
    inits.push(makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values, (v) => BigInt(v))));
    return name;
  };
  const float = (v: number) => {
    const name = fresh('float');
    inits.push(makeTensor(name, DataType.FLOAT, [], Float32Array.of(v)));
    return name;
  };
  const nodes: NodeProto[] = [];
  for (const orig of src.node) {
    const node: NodeProto = { ...orig, input: [...orig.input], output: [...orig.output], attribute: orig.attribute.filter((a) => a.name !== 'consumed_inputs') };
    const op = node.opType!;
    const attr = attrReader(node);
    const drop = (...names: string[]) => { node.attribute = node.attribute.filter((a) => !names.includes(a.name!)); };
    const label = `${op} node '${node.name ?? node.output[0]}' (opset ${from})`;
    if (UNSUPPORTED_BELOW[op] !== undefined && from < UNSUPPORTED_BELOW[op]!) {
      throw badInput(`${label}: cannot be upgraded to opset ${TRAINING_OPSET} for training; re-export the model with opset ${TRAINING_OPSET} or later`);
    }
    if (attr.has('broadcast')) {
      // Opset < 7 broadcasting aligns B at `axis` of A; numpy-style broadcasting agrees when B is trailing.
      const axis = attr.int('axis');
      if (axis !== undefined) {
        const ra = types.types.get(node.input[0]!)?.shape?.length;
        const rb = types.types.get(node.input[1]!)?.shape?.length;
        if (ra === undefined || rb === undefined || (axis >= 0 ? axis : axis + ra) !== ra - rb) {
          throw badInput(`${label}: legacy broadcasting at axis ${axis} has no opset-${TRAINING_OPSET} equivalent; re-export the model`);
        }
      }
      drop('broadcast', 'axis');
    }
    switch (op) {
      case 'Squeeze': case 'Unsqueeze': case 'ReduceSum':
        if (attr.has('axes')) { node.input[1] = ints(attr.ints('axes', [])); drop('axes'); }
        break;
      case 'Split':
        if (attr.has('split')) { node.input[1] = ints(attr.ints('split', [])); drop('split'); }
        break;
      case 'Slice':
        if (from < 10) {
          node.input.push(ints(attr.ints('starts', [])), ints(attr.ints('ends', [])));
          if (attr.has('axes')) node.input.push(ints(attr.ints('axes', [])));
          drop('starts', 'ends', 'axes');
        }
        break;
      case 'Pad':
        if (from < 11) {
          node.input = [node.input[0]!, ints(attr.ints('pads', [])), float(attr.float('value', 0))];
          drop('pads', 'value');
        }
        break;
      case 'Clip':
        if (from < 11) {
          node.input = [node.input[0]!, attr.has('min') ? float(attr.float('min', 0)) : '', attr.has('max') ? float(attr.float('max', 0)) : ''];
          while (node.input[node.input.length - 1] === '') node.input.pop();
          drop('min', 'max');
        }
        break;
      case 'Reshape':
        if (attr.has('shape')) { node.input[1] = ints(attr.ints('shape', [])); drop('shape'); }
        break;
      case 'Dropout':
        if (from < 12) {
          if (attr.has('ratio')) node.input[1] = float(attr.float('ratio', 0.5));
          drop('ratio', 'is_test');
        }
        break;
      case 'BatchNormalization':
        if (attr.has('spatial') && attr.int('spatial', 1) !== 1) throw badInput(`${label}: spatial=0 batch normalization is not supported; re-export the model`);
        drop('spatial', 'is_test');
        break;
      case 'Softmax': case 'LogSoftmax': case 'Hardmax': {
        // Before 13: softmax over the input flattened to 2-D at `axis`. Same as 13 only for the last axis.
        if (from >= 13) break;
        const rank = types.types.get(node.input[0]!)?.shape?.length;
        let axis = attr.int('axis', 1);
        if (rank !== undefined && axis < 0) axis += rank;
        if (rank !== undefined && axis === rank - 1) break;
        const flat = fresh('flat');
        const sm = fresh('softmax');
        nodes.push(makeNode('Flatten', [node.input[0]!], [flat], { axis }, { name: fresh('Flatten') }));
        nodes.push(makeNode(op, [flat], [sm], { axis: 1 }, { name: node.name }));
        const shape = fresh('shape');
        nodes.push(makeNode('Shape', [node.input[0]!], [shape], {}, { name: fresh('Shape') }));
        nodes.push(makeNode('Reshape', [sm, shape], [node.output[0]!], {}, { name: fresh('Reshape') }));
        continue;
      }
    }
    nodes.push(node);
  }
  const graph: GraphProto = { ...src, node: nodes, initializer: [...src.initializer, ...inits] };
  return {
    ...model, irVersion: Math.max(model.irVersion ?? 7, 7), graph,
    opsetImport: model.opsetImport.map((o) => (!o.domain || o.domain === 'ai.onnx' ? { ...o, version: TRAINING_OPSET } : o)),
  };
}
