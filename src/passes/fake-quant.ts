/**
 * Quantization-aware training's graph forms. A QDQ model (the static quantizer's output) becomes a float
 * model with `FakeQuantize` nodes (Hone's training-only op, ops/quant.ts): each int8 weight behind a
 * DequantizeLinear becomes a float initializer (its dequantized values, which training then moves) feeding a
 * FakeQuantize with the same scale and zero point; each activation's QuantizeLinear → DequantizeLinear pair
 * becomes one FakeQuantize; an int32 bias becomes a float initializer behind a FakeQuantize that training
 * treats as the identity (its rounding is 2⁻³¹ of the range). The scales stay what calibration chose.
 *
 * `lowerFakeQuant` gives ORT the same computation in its ops (bounds → QuantizeLinear → DequantizeLinear),
 * for the training step and evaluation; `fromFakeQuant` writes the trained model back as QDQ, each weight
 * quantized with its own scale — the model ORT runs in int8.
 */
import { DataType } from '../ir/dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { floatTensor, makeTensor, numElements, tensorArray } from '../ir/tensor.js';
import { makeNode } from '../ir/builder.js';
import { inferShapes } from '../ops/infer.js';
import { HONE_DOMAIN } from '../ops/quant.js';

const INT32_RANGE: [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/** The integer range of a zero point's type. */
function typeRange(dataType: number): [number, number] {
  switch (dataType) {
    case DataType.INT8:
      return [-128, 127];
    case DataType.UINT8:
      return [0, 255];
    case DataType.INT32:
      return INT32_RANGE;
    default:
      throw new Error(`fake quantization supports int8, uint8 and int32, not type ${dataType}`);
  }
}

interface Quant {
  scale: Float32Array;
  zeroPoint: ArrayLike<number>;
  /** Per-channel axis (normalized), or undefined per tensor. */
  axis?: number;
}

function quantOf(node: NodeProto, inits: ReadonlyMap<string, TensorProto>, rank: number): Quant {
  const s = inits.get(node.input[1]!);
  if (!s) throw new Error(`${node.opType} '${node.name}': its scale is not a constant`);
  const scale = tensorArray(s) as Float32Array;
  const zpT = node.input[2] ? inits.get(node.input[2]) : undefined;
  const zeroPoint = zpT ? Array.from(tensorArray(zpT) as ArrayLike<number>, Number) : new Array(scale.length).fill(0);
  const a = node.attribute.find((x) => x.name === 'axis')?.i ?? 1;
  return { scale, zeroPoint, axis: scale.length > 1 ? (a < 0 ? a + rank : a) : undefined };
}

function channelOf(q: Quant, dims: readonly number[], i: number): number {
  if (q.axis === undefined) return 0;
  const inner = dims.slice(q.axis + 1).reduce((a, b) => a * b, 1);
  return Math.floor(i / inner) % dims[q.axis]!;
}

function attrInt(n: NodeProto, name: string, fallback: number): number {
  return n.attribute.find((a) => a.name === name)?.i ?? fallback;
}

/**
 * The QDQ model as a float model to train: FakeQuantize wherever it quantized. `weightRange` is the integer
 * range its weights use (7-bit or symmetric weights leave part of int8 unused: [-127, 127], [-63, 63]).
 */
export function toFakeQuant(qdq: ModelProto, weightRange: [number, number]): { model: ModelProto; weights: string[] } {
  const g = qdq.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name!, t]));
  const producer = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) producer.set(o, n);
  const uses = new Map<string, number>();
  for (const n of g.node) for (const v of n.input) uses.set(v, (uses.get(v) ?? 0) + 1);
  const replaced = new Set<NodeProto>();
  const added: TensorProto[] = [];
  const dropped = new Set<string>();
  const weights: string[] = [];
  const nodes: NodeProto[] = [];
  const fq = (inputs: string[], output: string, axis: number | undefined, range: [number, number], name: string) =>
    makeNode(
      'FakeQuantize',
      inputs,
      [output],
      { qmin: range[0], qmax: range[1], ...(axis !== undefined ? { axis } : {}) },
      { name, domain: HONE_DOMAIN },
    );
  for (const n of g.node) {
    if (n.opType !== 'DequantizeLinear' || (n.domain && n.domain !== 'ai.onnx')) {
      nodes.push(n);
      continue;
    }
    const src = n.input[0]!;
    const t = inits.get(src);
    if (t) {
      // A stored weight or bias: float values to train, fake-quantized with the same scale.
      const dims = t.dims.map(Number);
      const q = quantOf(n, inits, dims.length);
      const data = tensorArray(t) as ArrayLike<number>;
      const values = new Float32Array(data.length);
      for (let i = 0; i < values.length; i++) {
        const c = channelOf(q, dims, i);
        values[i] = (Number(data[i]) - q.zeroPoint[c]!) * q.scale[c]!;
      }
      const floatName = `${src}_float`;
      added.push(floatTensor(floatName, dims, values));
      weights.push(floatName);
      if ((uses.get(src) ?? 0) <= 1) dropped.add(src);
      const range = t.dataType === DataType.INT32 ? INT32_RANGE : weightRange;
      const zp = n.input[2] ? n.input[2] : zeroPointFor(added, `${src}_zp`, t.dataType!, q.scale.length);
      nodes.push(fq([floatName, n.input[1]!, zp], n.output[0]!, q.axis, range, n.name || `${src}_fq`));
      replaced.add(n);
      continue;
    }
    const qn = producer.get(src);
    if (qn?.opType === 'QuantizeLinear' && (!qn.domain || qn.domain === 'ai.onnx')) {
      const zpT = qn.input[2] ? inits.get(qn.input[2]) : undefined;
      const zpType = zpT?.dataType ?? DataType.UINT8;
      const axis =
        (inits.get(qn.input[1]!)?.dims.length ?? 0) === 1 && numElements(inits.get(qn.input[1]!)!.dims.map(Number)) > 1
          ? attrInt(qn, 'axis', 1)
          : undefined;
      const zp = qn.input[2] ? qn.input[2] : zeroPointFor(added, `${src}_zp`, zpType, 1);
      nodes.push(fq([qn.input[0]!, qn.input[1]!, zp], n.output[0]!, axis, typeRange(zpType), n.name || `${src}_fq`));
      replaced.add(n);
      continue;
    }
    nodes.push(n);
  }
  // Quantize nodes whose every reader became a FakeQuantize go.
  const readers = new Map<string, number>();
  for (const n of nodes) for (const v of n.input) readers.set(v, (readers.get(v) ?? 0) + 1);
  const kept = nodes.filter((n) => !(n.opType === 'QuantizeLinear' && n.output.every((o) => !readers.has(o))));
  return {
    model: {
      ...qdq,
      opsetImport: [...qdq.opsetImport.filter((o) => o.domain !== HONE_DOMAIN), { domain: HONE_DOMAIN, version: 1 }],
      graph: {
        ...g,
        node: kept,
        initializer: [...g.initializer.filter((t) => !dropped.has(t.name!)), ...added],
      },
    },
    weights,
  };
}

function zeroPointFor(added: TensorProto[], name: string, dataType: number, n: number): string {
  added.push(makeTensor(name, dataType, n > 1 ? [n] : [], new Array(n).fill(0)));
  return name;
}

/** A FakeQuantize node's parts. */
interface FakeQuantNode {
  node: NodeProto;
  x: string;
  s: string;
  zp: string;
  zpType: number;
  qmin: number;
  qmax: number;
  /** `{ axis }` for per-axis Q/DQ nodes, else empty. */
  axis: { axis?: number };
}

/**
 * `model` with each FakeQuantize replaced by the nodes `expand` pushes (initializers it adds go in `added`,
 * names in `dropped` leave), and Hone's domain out of the opset imports.
 */
function rewriteFakeQuant(
  model: ModelProto,
  expand: (fq: FakeQuantNode, out: NodeProto[], added: TensorProto[], dropped: Set<string>) => void,
): ModelProto {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name!, t]));
  const added: TensorProto[] = [];
  const dropped = new Set<string>();
  const node: NodeProto[] = [];
  for (const n of g.node) {
    if (n.domain !== HONE_DOMAIN || n.opType !== 'FakeQuantize') {
      node.push(n);
      continue;
    }
    const [x, s, zp] = n.input as [string, string, string];
    const axisAttr = n.attribute.find((a) => a.name === 'axis');
    const fq: FakeQuantNode = {
      node: n,
      x,
      s,
      zp,
      zpType: inits.get(zp)!.dataType!,
      qmin: attrInt(n, 'qmin', 0),
      qmax: attrInt(n, 'qmax', 255),
      axis: axisAttr ? { axis: axisAttr.i! } : {},
    };
    expand(fq, node, added, dropped);
  }
  return {
    ...model,
    opsetImport: model.opsetImport.filter((o) => o.domain !== HONE_DOMAIN),
    graph: { ...g, node, initializer: [...g.initializer.filter((t) => !dropped.has(t.name!)), ...added] },
  };
}

/** FakeQuantize nodes as ONNX Runtime runs them: bounds (when the range is narrower than the type) → Q → DQ. */
export function lowerFakeQuant(model: ModelProto): ModelProto {
  if (!model.graph!.node.some((n) => n.domain === HONE_DOMAIN)) return model;
  const inits = new Map(model.graph!.initializer.map((t) => [t.name!, t]));
  const types = inferShapes(model).types;
  return rewriteFakeQuant(model, ({ node: n, x, s, zp, zpType, qmin, qmax, axis }, node, added) => {
    const out = n.output[0]!;
    if (zpType === DataType.INT32) {
      node.push(makeNode('Identity', [x], [out], {}, { name: n.name }));
      return;
    }
    const [tmin, tmax] = typeRange(zpType);
    let input = x;
    if (qmin > tmin || qmax < tmax) {
      // Bounds (q − zp)·s per channel, shaped [C, 1, …] to broadcast against x along the axis; computed in the
      // graph, since a scale QAT learns is an input of the training step, not a constant.
      const channels = inits.get(zp)?.dims.reduce((a, b) => a * Number(b), 1) ?? 1;
      const rank = types.get(x)?.shape?.length ?? inits.get(x)?.dims.length ?? 0;
      const a = axis.axis ?? 1;
      const shape = channels > 1 ? [channels, ...new Array(Math.max(0, rank - (a < 0 ? a + rank : a) - 1)).fill(1)] : [];
      const zf = `${out}_zp_float`;
      node.push(makeNode('Cast', [zp], [zf], { to: DataType.FLOAT }, { name: `${n.name}_zp_cast` }));
      const shapeName = `${out}_bound_shape`;
      added.push(makeTensor(shapeName, DataType.INT64, [shape.length], BigInt64Array.from(shape, BigInt)));
      const bound = (q: number, what: string) => {
        const c = floatTensor(`${out}_${what}_q`, [], [q]);
        added.push(c);
        node.push(makeNode('Sub', [c.name!, zf], [`${out}_${what}_levels`], {}, { name: `${n.name}_${what}_sub` }));
        node.push(makeNode('Mul', [`${out}_${what}_levels`, s], [`${out}_${what}_flat`], {}, { name: `${n.name}_${what}_mul` }));
        node.push(makeNode('Reshape', [`${out}_${what}_flat`, shapeName], [`${out}_${what}`], {}, { name: `${n.name}_${what}_reshape` }));
        return `${out}_${what}`;
      };
      const [lo, hi] = [bound(qmin, 'lo'), bound(qmax, 'hi')];
      node.push(makeNode('Max', [x, lo], [`${out}_clip_lo`], {}, { name: `${n.name}_max` }));
      node.push(makeNode('Min', [`${out}_clip_lo`, hi], [`${out}_clip`], {}, { name: `${n.name}_min` }));
      input = `${out}_clip`;
    }
    node.push(makeNode('QuantizeLinear', [input, s, zp], [`${out}_q`], axis, { name: `${n.name}_quantize` }));
    node.push(makeNode('DequantizeLinear', [`${out}_q`, s, zp], [out], axis, { name: `${n.name}_dequantize` }));
  });
}

/** The trained fake-quant model as QDQ: each float weight quantized with its FakeQuantize's scale and range. */
export function fromFakeQuant(trained: ModelProto): ModelProto {
  const model = withBiasScales(trained);
  const inits = new Map(model.graph!.initializer.map((t) => [t.name!, t]));
  return rewriteFakeQuant(model, ({ node: n, x, s, zp, zpType, qmin, qmax, axis }, node, added, dropped) => {
    const w = inits.get(x);
    if (!w) {
      const q = `${n.output[0]}_quantized`;
      node.push(makeNode('QuantizeLinear', [x, s, zp], [q], axis, { name: `${n.name}_quantize` }));
      node.push(makeNode('DequantizeLinear', [q, s, zp], [n.output[0]!], axis, { name: n.name }));
      return;
    }
    const dims = w.dims.map(Number);
    const q = quantOf(n, inits, dims.length);
    const values = tensorArray(w) as Float32Array;
    const out = new Array<number>(values.length);
    for (let i = 0; i < values.length; i++) {
      const c = channelOf(q, dims, i);
      out[i] = Math.min(Math.max(Math.round(values[i]! / q.scale[c]!) + q.zeroPoint[c]!, qmin), qmax);
    }
    const name = x.endsWith('_float') ? x.slice(0, -'_float'.length) : `${x}_quantized`;
    added.push(makeTensor(name, zpType, dims, out));
    dropped.add(x);
    node.push(makeNode('DequantizeLinear', [name, s, zp], [n.output[0]!], axis, { name: n.name }));
  });
}

/**
 * Each int32 bias's scale made input scale × weight scale again, as ORT's integer kernels assume: when QAT
 * learned the activation scales (LSQ), the bias scales calibrated with the old ones no longer match. A scale
 * initializer shared with another node gets a copy.
 */
function withBiasScales(model: ModelProto): ModelProto {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name!, t]));
  const producer = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) producer.set(o, n);
  const uses = new Map<string, number>();
  for (const n of g.node) for (const v of n.input) uses.set(v, (uses.get(v) ?? 0) + 1);
  const fqOf = (v: string | undefined) => {
    const p = v ? producer.get(v) : undefined;
    return p?.opType === 'FakeQuantize' && p.domain === HONE_DOMAIN ? p : undefined;
  };
  const scaleOf = (n: NodeProto) => {
    const t = inits.get(n.input[1] ?? '');
    return t && t.dataType === DataType.FLOAT ? (tensorArray(t) as Float32Array) : undefined;
  };
  const replaced = new Map<string, TensorProto>();
  const added: TensorProto[] = [];
  const renamed = new Map<NodeProto, string>();
  for (const n of g.node) {
    if (!['Conv', 'Gemm'].includes(n.opType ?? '')) continue;
    const [xq, wq, bq] = [fqOf(n.input[0]), fqOf(n.input[1]), fqOf(n.input[2])];
    if (!xq || !wq || !bq || Number(attrInt(bq, 'qmin', 0)) !== INT32_RANGE[0]) continue;
    const [sx, sw, sb] = [scaleOf(xq), scaleOf(wq), scaleOf(bq)];
    if (!sx || !sw || !sb || sx.length !== 1 || (sw.length !== sb.length && sw.length !== 1)) continue;
    const want = Float32Array.from(sb, (_, c) => sx[0]! * sw[sw.length === 1 ? 0 : c]!);
    if (want.every((v, c) => v === sb[c])) continue;
    const t = inits.get(bq.input[1]!)!;
    const dims = t.dims.map(Number);
    if ((uses.get(t.name!) ?? 0) === 1) replaced.set(t.name!, floatTensor(t.name!, dims, want));
    else {
      const name = `${t.name}_${bq.name || bq.output[0]}`;
      added.push(floatTensor(name, dims, want));
      renamed.set(bq, name);
    }
  }
  if (replaced.size === 0 && added.length === 0) return model;
  return {
    ...model,
    graph: {
      ...g,
      node: g.node.map((n) => (renamed.has(n) ? { ...n, input: n.input.map((v, i) => (i === 1 ? renamed.get(n)! : v)) } : n)),
      initializer: [...g.initializer.map((t) => replaced.get(t.name!) ?? t), ...added],
    },
  };
}
