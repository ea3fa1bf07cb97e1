/**
 * float16 conversion: weights and compute in half precision, with the model's float32 inputs and
 * outputs kept by default (Casts at the boundary). Ops that lose accuracy in fp16 — reductions
 * (Softmax, LayerNorm, ReduceMean…), Exp/Log/Pow, Resize — stay float32 via a block list, with Casts
 * around them. Every float value gets exactly one precision, decided by its producer; a consumer of the
 * other precision reads it through one shared Cast, so the graph has no type mismatch, and value_info
 * types are rewritten to match. ORT's CPU provider runs ops that lack an fp16 kernel through its own
 * inserted Casts, so the model always loads; the win on CPU is size, not speed.
 */
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph, capturedValues } from '../ir/graph.js';
import { makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { copyModel, nodeLabel, renameProduced, nothingToQuantize, selectionReason, tensorBytes, type NodeDecision, type NodeSelection, type QuantizeResult } from './common.js';
import { toHalfArray } from './math.js';

/** Ops kept in float32 by default: reductions and transcendental ops whose fp16 error compounds. */
export const FP16_BLOCK_LIST: readonly string[] = [
  'Softmax', 'LogSoftmax', 'LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'InstanceNormalization',
  'GroupNormalization', 'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceProd', 'CumSum', 'Exp', 'Log', 'Pow', 'Resize', 'Upsample', 'Range', 'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear',
  'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'NonMaxSuppression', 'RoiAlign', 'TopK',
];

export interface Fp16Options extends NodeSelection {
  /** Keep float32 graph inputs and outputs (default true), converting at the boundary. */
  keepIoTypes?: boolean;
  /** Ops kept in float32 (default FP16_BLOCK_LIST). */
  blockList?: readonly string[];
}

type Precision = 16 | 32;

export function convertFp16(model: ModelProto, opts: Fp16Options = {}): QuantizeResult {
  const m = copyModel(model);
  const keepIo = opts.keepIoTypes ?? true;
  const block = new Set(opts.blockList ?? FP16_BLOCK_LIST);
  const before = tensorBytes(m);
  const g = new Graph(m.graph!);
  const types = inferShapes(m).types;
  const isFloat = (v: string) => v !== '' && (types.get(v)?.elemType === DataType.FLOAT || g.initializer(v)?.dataType === DataType.FLOAT);
  const nodes: NodeDecision[] = [];
  const notes: string[] = [];

  // Values read by subgraphs must keep float32: the subgraph was typed against them.
  const captured = new Set<string>();
  for (const n of g.nodes) for (const a of n.attribute) for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) for (const v of capturedValues(sub)) captured.add(v);

  const precision = new Map<NodeProto, Precision>();
  for (const n of g.nodes) {
    const touchesFloat = n.input.some(isFloat) || n.output.some(isFloat) || isFloatConstant(n);
    if (!touchesFloat) continue;
    const why = selectionReason(n, opts)
      ?? (block.has(n.opType ?? '') ? 'numerically sensitive: kept float32 (block list)' : undefined)
      ?? ((n.domain ?? '') !== '' && n.domain !== 'ai.onnx' ? `custom-domain op (${n.domain}): kept float32` : undefined)
      ?? (n.attribute.some((a) => a.g || a.graphs.length) ? 'has a subgraph: kept float32' : undefined)
      ?? (n.output.some((o) => captured.has(o)) ? 'its output is read inside a subgraph: kept float32' : undefined)
      ?? (n.opType === 'Cast' && castTarget(n) !== DataType.FLOAT ? 'Cast to a non-float type' : undefined);
    precision.set(n, why ? 32 : 16);
    nodes.push({ node: nodeLabel(n), opType: n.opType!, quantized: !why, detail: why ?? 'float16' });
  }
  if (!nodes.some((d) => d.quantized)) throw nothingToQuantize('fp16', nodes, 'float op that can run in float16');

  // The precision each float value is produced in.
  const valuePrecision = (v: string): Precision | 'init' => {
    if (g.initializer(v)) return 'init';
    const p = g.producer(v);
    return p ? precision.get(p) ?? 32 : keepIo ? 32 : 16;
  };

  const halfInits = new Map<string, string>();
  let clamped = 0;
  const halfInit = (name: string): string => {
    let h = halfInits.get(name);
    if (!h) {
      const t = g.initializer(name)!;
      const conv = toHalfArray(tensorArray(t) as Float32Array);
      clamped += conv.clamped;
      h = g.addInitializer(makeTensor(g.freshName(`${name}_fp16`), DataType.FLOAT16, t.dims, conv.bits));
      halfInits.set(name, h);
    }
    return h;
  };
  const casts = new Map<string, string>();
  const cast = (v: string, to: Precision): string => {
    const key = `${v}|${to}`;
    let out = casts.get(key);
    if (!out) {
      out = g.freshName(`${v}_${to === 16 ? 'fp16' : 'fp32'}`);
      const node = makeNode('Cast', [v], [out], { to: to === 16 ? DataType.FLOAT16 : DataType.FLOAT }, { name: g.freshName(`cast_${out}`) });
      const p = g.producer(v);
      if (p) g.insertAfter(p, node);
      else g.insertNode(node, 0);
      casts.set(key, out);
    }
    return out;
  };

  for (const n of [...g.nodes]) {
    const p = precision.get(n);
    if (p === undefined) continue;
    n.input.forEach((v, i) => {
      if (!isFloat(v) || castInputIsAnyType(n, i)) return;
      const vp = valuePrecision(v);
      if (vp === 'init') { if (p === 16) g.setInput(n, i, halfInit(v)); return; }
      if (vp !== p) g.setInput(n, i, cast(v, p));
    });
    if (p === 16) retypeAttributes(n);
  }

  // Graph outputs produced in fp16: keep their names and float32 type through a final Cast.
  for (const o of m.graph!.output) {
    const v = o.name ?? '';
    if (!isFloat(v) || valuePrecision(v) !== 16) continue;
    if (keepIo) {
      const inner = g.freshName(`${v}_fp16`);
      renameProduced(g, v, inner);
      g.insertAfter(g.producer(inner)!, makeNode('Cast', [inner], [v], { to: DataType.FLOAT }, { name: g.freshName(`cast_${v}`) }));
    } else setElemType(o, DataType.FLOAT16);
  }
  if (!keepIo) for (const vi of m.graph!.input) if (isFloat(vi.name ?? '') && !g.initializer(vi.name ?? '')) setElemType(vi, DataType.FLOAT16);

  // value_info: fp16 values get the new type (Cast outputs are new and have none).
  for (const vi of m.graph!.valueInfo) if (isFloat(vi.name ?? '') && valuePrecision(vi.name ?? '') === 16) setElemType(vi, DataType.FLOAT16);

  for (const name of halfInits.keys()) if (!g.isUsed(name)) g.removeInitializer(name);
  if (clamped) notes.push(`${clamped} weight value(s) beyond ±65504 were clamped to the float16 range`);
  return {
    model: m,
    report: {
      mode: 'fp16',
      settings: { keepIoTypes: keepIo, blockList: [...block], opTypes: opts.opTypes ?? 'all', excludeNodes: opts.excludeNodes ?? [] },
      nodes,
      weightBytes: { before, after: tensorBytes(m) },
      notes,
    },
  };
}

function castTarget(n: NodeProto): number | undefined {
  return n.attribute.find((a) => a.name === 'to')?.i;
}

/** Inputs whose float type is not tied to the op's compute type (Cast reads anything; Resize's scales are float32 always). */
function castInputIsAnyType(n: NodeProto, i: number): boolean {
  return n.opType === 'Cast' || (n.opType === 'Resize' && i === 2);
}

function isFloatConstant(n: NodeProto): boolean {
  return (n.opType === 'Constant' || n.opType === 'ConstantOfShape') && n.attribute.some((a) => a.t?.dataType === DataType.FLOAT);
}

/** Attributes that name the output type: Cast's `to`, a float Constant's or ConstantOfShape's value. */
function retypeAttributes(n: NodeProto): void {
  for (const a of n.attribute) {
    if (n.opType === 'Cast' && a.name === 'to' && a.i === DataType.FLOAT) a.i = DataType.FLOAT16;
    if (a.t?.dataType === DataType.FLOAT) a.t = halfTensor(a.t);
    if (n.opType === 'Constant' && a.name === 'value_float' && a.f !== undefined) {
      a.name = 'value';
      a.type = 4;
      a.t = halfTensor(makeTensor('', DataType.FLOAT, [], Float32Array.of(a.f)));
      a.f = undefined;
    }
    if (n.opType === 'Constant' && a.name === 'value_floats') {
      a.name = 'value';
      a.type = 4;
      a.t = halfTensor(makeTensor('', DataType.FLOAT, [a.floats.length], Float32Array.from(a.floats)));
      a.floats = [];
    }
  }
}

function halfTensor(t: TensorProto): TensorProto {
  return { ...makeTensor(t.name ?? '', DataType.FLOAT16, t.dims, toHalfArray(tensorArray(t) as Float32Array).bits), name: t.name };
}

function setElemType(vi: { type?: { tensorType?: { elemType?: number } } }, elemType: number): void {
  if (vi.type?.tensorType) vi.type.tensorType.elemType = elemType;
}
