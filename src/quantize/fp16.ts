/**
 * float16 conversion: weights and compute in half precision, with the model's float32 inputs and
 * outputs kept by default (Casts at the boundary). Ops that lose accuracy in fp16 — reductions
 * (Softmax, LayerNorm, ReduceMean…), Exp/Log/Pow, Resize — stay float32 via a block list, with Casts
 * around them. Every float value gets exactly one precision, decided by its producer; a consumer of the
 * other precision reads it through one shared Cast, so the graph has no type mismatch, and value_info
 * types are rewritten to match. ORT's CPU provider runs ops that lack an fp16 kernel through its own
 * inserted Casts, so the model always loads; the win on CPU is size, not speed.
 *
 * Only the slots that carry an op's float type T change precision: inputs the schema fixes to float32
 * (Resize/Upsample scales…) and outputs fixed to float32 keep it, by the per-op table in
 * ops/float-types.ts. Constant producers (Constant, ConstantOfShape and chains computed from them alone)
 * take the precision their readers want, so a Resize's roi/scales stay float32 constants rather than
 * float16 ones read through a Cast; a ConstantOfShape without `value` (float32 zeros) gets a float16 one.
 *
 * Range: float16 overflows beyond ±65504 (to Inf, then NaN), which the weights alone cannot reveal —
 * a spectrogram's power or an un-normalized sum overflow on real inputs only. With measured activation
 * ranges (`activationRanges`, from `measureActivationRanges` on the user's data) every op that reads or
 * writes a value beyond `overflowLimit` (default 32768: half the float16 range, because calibration data
 * rarely holds the largest input a deployed model sees) stays float32, and a note names them. Without
 * data nothing can be known, so a note says the range was not checked; the fidelity comparison
 * (evaluate.ts) then reports any non-finite output the float16 model gives where the float one does not.
 */
import { attrReader } from '../ir/attrs.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { Graph, capturedValues } from '../ir/graph.js';
import { makeAttribute, makeNode } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { makeTensor, tensorArray } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { opTypesWhere } from '../ops/index.js';
import { floatInputSlot, floatOutputSlot } from '../ops/float-types.js';
import {
  copyModel,
  nodeLabel,
  opsetVersion,
  renameProduced,
  nothingToQuantize,
  selectionReason,
  tensorBytes,
  type NodeDecision,
  type NodeSelection,
  type QuantizeResult,
} from './common.js';
import { toHalfArray } from './math.js';

/**
 * Ops kept in float32 by default: the op types marked `fp16Sensitive` in their definitions (reductions and
 * transcendental ops whose fp16 error compounds, normalizations, ops whose float inputs must stay float32).
 */
export const FP16_BLOCK_LIST: readonly string[] = opTypesWhere((p) => p.fp16Sensitive === true);

export interface Fp16Options extends NodeSelection {
  /** Keep float32 graph inputs and outputs (default true), converting at the boundary. */
  keepIoTypes?: boolean;
  /** Ops kept in float32 (default FP16_BLOCK_LIST). */
  blockList?: readonly string[];
  /** Measured largest |value| of float values by name, and where they were measured (`measureActivationRanges`). */
  activationRanges?: ActivationRanges;
  /** Ops that read or write a value whose measured |value| exceeds this stay float32 (default 32768). */
  overflowLimit?: number;
}

export interface ActivationRanges {
  maxAbs: ReadonlyMap<string, number>;
  /** The data they were measured on, for the report. */
  source: string;
}

/** Half of float16's largest finite value (65504): headroom for inputs larger than the measured ones. */
export const FP16_OVERFLOW_LIMIT = 32768;

type Precision = 16 | 32;

export function convertFp16(model: ModelProto, opts: Fp16Options = {}): QuantizeResult {
  const m = copyModel(model);
  const keepIo = opts.keepIoTypes ?? true;
  const block = new Set(opts.blockList ?? FP16_BLOCK_LIST);
  const limit = opts.overflowLimit ?? FP16_OVERFLOW_LIMIT;
  const ranges = opts.activationRanges;
  const opset = opsetVersion(m);
  const before = tensorBytes(m);
  const g = new Graph(m.graph!);
  const inferred = inferShapes(m);
  const types = inferred.types;
  const isFloat = (v: string) => v !== '' && (types.get(v)?.elemType === DataType.FLOAT || g.initializer(v)?.dataType === DataType.FLOAT);
  const inSlot = (n: NodeProto, i: number) => floatInputSlot(n.opType ?? '', opset, i, n.domain ?? '');
  const outSlot = (n: NodeProto, i: number) => floatOutputSlot(n.opType ?? '', opset, i, n.domain ?? '');
  const notes: string[] = [];

  // Values read by subgraphs must keep float32: the subgraph was typed against them.
  const captured = new Set<string>();
  for (const n of g.nodes)
    for (const a of n.attribute)
      for (const sub of a.g ? [a.g, ...a.graphs] : a.graphs) for (const v of capturedValues(sub)) captured.add(v);

  // Values computed from constants alone (initializers that are not graph inputs, Constant nodes, and ops on them).
  const constant = new Set(m.graph!.initializer.map((t) => t.name ?? '').filter((v) => !g.isGraphInput(v)));
  const constantNodes = new Set<NodeProto>();
  for (const n of g.nodes) {
    if (n.attribute.some((a) => a.g || a.graphs.length) || !n.input.every((v) => v === '' || constant.has(v))) continue;
    constantNodes.add(n);
    for (const o of n.output) constant.add(o);
  }

  const overflow = new Map<NodeProto, number>();
  const overflowOf = (n: NodeProto): number | undefined => {
    if (!ranges || constantNodes.has(n)) return undefined; // weights are checked exactly (bigWeight)
    let worst = 0;
    n.input.forEach((v, i) => {
      if (inSlot(n, i) === 'T' && !constant.has(v)) worst = Math.max(worst, ranges.maxAbs.get(v) ?? 0);
    });
    n.output.forEach((v, i) => {
      if (outSlot(n, i) === 'T') worst = Math.max(worst, ranges.maxAbs.get(v) ?? 0);
    });
    return worst > limit ? worst : undefined;
  };

  // A weight beyond float16's range would be clamped: ops that read one as T stay float32 (a BatchNorm's variance of 1e8).
  const constMax = new Map<string, number>();
  const bigWeight = (n: NodeProto): number | undefined => {
    let worst = 0;
    n.input.forEach((v, i) => {
      const t = inSlot(n, i) === 'T' ? inferred.constants.get(v) : undefined;
      if (t?.dataType !== DataType.FLOAT) return;
      if (!constMax.has(v)) constMax.set(v, maxAbsOf(t));
      worst = Math.max(worst, constMax.get(v)!);
    });
    return worst > FP16_MAX ? worst : undefined;
  };

  const fusionKept = ortFusionCrashes(g, inferred.constants);
  const reasons = new Map<NodeProto, string | undefined>();
  for (const n of g.nodes) {
    const touchesFloat = n.input.some(isFloat) || n.output.some(isFloat) || isFloatConstant(n);
    if (!touchesFloat) continue;
    const big = overflowOf(n);
    const why =
      selectionReason(n, opts) ??
      (block.has(n.opType ?? '') ? 'numerically sensitive: kept float32 (block list)' : undefined) ??
      ((n.domain ?? '') !== '' && n.domain !== 'ai.onnx' ? `custom-domain op (${n.domain}): kept float32` : undefined) ??
      (n.attribute.some((a) => a.g || a.graphs.length) ? 'has a subgraph: kept float32' : undefined) ??
      (n.output.some((o) => captured.has(o)) ? 'its output is read inside a subgraph: kept float32' : undefined) ??
      (n.opType === 'Cast' && castTarget(n) !== DataType.FLOAT ? 'Cast to a non-float type' : undefined) ??
      weightReason(bigWeight(n)) ??
      (fusionKept.has(n) ? ORT_FUSION_CRASH : undefined);
    if (!why && big !== undefined) overflow.set(n, big);
    reasons.set(
      n,
      why ?? (big !== undefined ? `values reach ${big.toExponential(2)} on the data, beyond float16's range: kept float32` : undefined),
    );
  }

  const precision = new Map<NodeProto, Precision>();
  for (const [n, why] of reasons) if (why || !constantNodes.has(n)) precision.set(n, why ? 32 : 16);
  // A constant producer takes the precision its readers want: float16 only if some float16 op reads it as T.
  const graphOutputs = new Set(m.graph!.output.map((o) => o.name ?? ''));
  for (const n of [...g.nodes].reverse()) {
    if (!reasons.has(n) || precision.has(n)) continue;
    const wanted = n.output.some(
      (o, k) =>
        isFloat(o) &&
        outSlot(n, k) === 'T' &&
        ((!keepIo && graphOutputs.has(o)) ||
          g.consumers(o).some((c) => precision.get(c) === 16 && c.input.some((v, i) => v === o && inSlot(c, i) === 'T'))),
    );
    precision.set(n, wanted ? 16 : 32);
    if (!wanted) reasons.set(n, 'constant read only in float32');
  }
  const nodes: NodeDecision[] = [];
  for (const [n, why] of reasons) nodes.push({ node: nodeLabel(n), opType: n.opType!, quantized: !why, detail: why ?? 'float16' });
  if (!nodes.some((d) => d.quantized)) throw nothingToQuantize('fp16', nodes, 'float op that can run in float16');

  // The precision each float value is produced in.
  const valuePrecision = (v: string): Precision | 'init' => {
    if (g.initializer(v)) return 'init';
    const p = g.producer(v);
    if (!p) return keepIo ? 32 : 16;
    return outSlot(p, p.output.indexOf(v)) === 'float32' ? 32 : (precision.get(p) ?? 32);
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
      const node = makeNode(
        'Cast',
        [v],
        [out],
        { to: to === 16 ? DataType.FLOAT16 : DataType.FLOAT },
        { name: g.freshName(`cast_${out}`) },
      );
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
      const slot = inSlot(n, i);
      if (!isFloat(v) || slot === 'any') return;
      const want = slot === 'float32' ? 32 : p;
      const vp = valuePrecision(v);
      if (vp === 'init') {
        if (want === 16) g.setInput(n, i, halfInit(v));
        return;
      }
      if (vp !== want) g.setInput(n, i, cast(v, want));
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
  if (!keepIo)
    for (const vi of m.graph!.input) if (isFloat(vi.name ?? '') && !g.initializer(vi.name ?? '')) setElemType(vi, DataType.FLOAT16);

  // value_info: fp16 values get the new type (Cast outputs are new and have none).
  for (const vi of m.graph!.valueInfo)
    if (isFloat(vi.name ?? '') && valuePrecision(vi.name ?? '') === 16) setElemType(vi, DataType.FLOAT16);

  for (const name of halfInits.keys()) if (!g.isUsed(name)) g.removeInitializer(name);
  if (clamped) notes.push(`${clamped} weight value(s) beyond ±65504 were clamped to the float16 range`);
  if (!ranges) {
    notes.push(
      "activation ranges were not measured: a value beyond float16's ±65504 becomes Inf/NaN; give real data (--calib) to keep the ops it would overflow in float32",
    );
  } else if (overflow.size) {
    const listed = [...overflow].sort((a, b) => b[1] - a[1]).map(([n, v]) => `${nodeLabel(n)} (${v.toExponential(1)})`);
    notes.push(
      `${overflow.size} op(s) kept float32 because they read or write values beyond ±${limit} on ${ranges.source}, which float16 (max 65504) would overflow: ` +
        `${listed.slice(0, 8).join(', ')}${listed.length > 8 ? `, … ${listed.length - 8} more` : ''}`,
    );
  }
  return {
    model: m,
    report: {
      mode: 'fp16',
      settings: {
        keepIoTypes: keepIo,
        blockList: [...block],
        opTypes: opts.opTypes ?? 'all',
        excludeNodes: opts.excludeNodes ?? [],
        overflowLimit: limit,
        activationRanges: ranges?.source ?? 'not measured',
      },
      nodes,
      weightBytes: { before, after: tensorBytes(m) },
      notes,
    },
  };
}

const FP16_MAX = 65504;

/**
 * ONNX Runtime 1.30 (CPU, graphOptimizationLevel 'all') segfaults creating a session when a MatMul with a
 * constant B reads a Transpose that moves the leading axis behind the batch axes (perm [1, …, r-2, 0, r-1]:
 * a GRU's [T, B, H] output read batch-first) and float16 is involved: the MatMul in float16, or in float32
 * behind a Cast of the float16 Transpose. Its MatmulTransposeFusion turns the pair into a FusedMatMul with
 * transBatchA (through the Cast, too); disabling that fusion avoids the crash, and the same graph all in
 * float32 loads. A crash kills the user's process, so the MatMul and the ops from the Transpose to it keep
 * float32: the Cast then sits before the Transpose, where the fusion does not look.
 */
const ORT_FUSION_CRASH =
  'kept float32: ONNX Runtime 1.30 crashes fusing a batch-transposed MatMul input (FusedMatMul transBatchA) with float16';

/**
 * What may sit between the Transpose and the MatMul with the crash still happening (probed in ORT 1.30):
 * Identity and Cast, which the fusion looks through, and a Mul or Div by a scalar, which MatMulScaleFusion
 * folds into the FusedMatMul first. A Sqrt, Relu, Add or a Mul by a vector in between stops the fusion.
 */
function ortFusionCrashes(g: Graph, constants: ReadonlyMap<string, TensorProto>): Set<NodeProto> {
  const isConstant = (v: string) => constants.has(v) || !!g.initializer(v);
  const scalar = (v: string) => {
    const t = constants.get(v) ?? g.initializer(v);
    return !!t && t.dims.reduce((a, b) => a * Number(b), 1) === 1;
  };
  const kept = new Set<NodeProto>();
  for (const n of g.nodes) {
    if (n.opType !== 'MatMul' || (n.domain ?? '') !== '' || !isConstant(n.input[1] ?? '')) continue;
    const chain: NodeProto[] = [n];
    for (let p = g.producer(n.input[0] ?? ''); p && (p.domain ?? '') === ''; ) {
      if (p.opType === 'Transpose') {
        if (movesLeadingAxis(attrReader(p).ints('perm', []))) for (const c of [...chain, p]) kept.add(c);
        break;
      }
      const [a = '', b = ''] = p.input;
      const from =
        p.opType === 'Identity' || p.opType === 'Cast'
          ? a
          : (p.opType === 'Mul' || p.opType === 'Div') && scalar(b)
            ? a
            : p.opType === 'Mul' && scalar(a)
              ? b
              : undefined;
      if (from === undefined) break;
      chain.push(p);
      p = g.producer(from);
    }
  }
  return kept;
}

/** perm [1, …, r-2, 0, r-1] or [1, …, r-2, r-1, 0] (r >= 3): what FusedMatMul's transBatchA (with or without transA) does. */
function movesLeadingAxis(perm: readonly number[]): boolean {
  const r = perm.length;
  if (r < 3 || perm.slice(0, r - 2).some((p, i) => Number(p) !== i + 1)) return false;
  const tail = perm.slice(r - 2).map(Number);
  return tail.includes(0) && tail.includes(r - 1);
}

function weightReason(maxAbs: number | undefined): string | undefined {
  return maxAbs === undefined ? undefined : `reads a weight beyond float16's range (|w| up to ${maxAbs.toExponential(2)}): kept float32`;
}

function maxAbsOf(t: TensorProto): number {
  let m = 0;
  try {
    for (const v of tensorArray(t) as Float32Array) if (Math.abs(v) > m && Number.isFinite(v)) m = Math.abs(v); // ±Inf and NaN exist in float16
  } catch {
    return 0; // external data not loaded: nothing known
  }
  return m;
}

function castTarget(n: NodeProto): number | undefined {
  return attrReader(n).int('to');
}

function isFloatConstant(n: NodeProto): boolean {
  if (n.opType === 'ConstantOfShape' && !n.attribute.some((a) => a.name === 'value')) return true; // float32 zeros by default
  return (n.opType === 'Constant' || n.opType === 'ConstantOfShape') && n.attribute.some((a) => a.t?.dataType === DataType.FLOAT);
}

/** Attributes that name the output type: Cast's `to`, a float Constant's or ConstantOfShape's value, a `dtype`. */
function retypeAttributes(n: NodeProto): void {
  if (n.opType === 'ConstantOfShape' && !n.attribute.some((a) => a.name === 'value')) {
    n.attribute.push(makeAttribute('value', halfTensor(makeTensor('', DataType.FLOAT, [1], Float32Array.of(0)))));
  }
  for (const a of n.attribute) {
    if (n.opType === 'Cast' && a.name === 'to' && a.i === DataType.FLOAT) a.i = DataType.FLOAT16;
    if (a.name === 'dtype' && a.i === DataType.FLOAT) a.i = DataType.FLOAT16;
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
