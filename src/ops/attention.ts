/**
 * Attention: ONNX Attention (opset 23; 4-D [B, heads, seq, head] or 3-D [B, seq, hidden] inputs) and the
 * com.microsoft fused forms ORT's transformer optimizer produces (Attention, MultiHeadAttention,
 * GroupQueryAttention, RotaryEmbedding). MACs = B*heads*q_seq*kv_seq*(head + v_head) for QKᵀ and
 * softmax·V (plus the input projection of com.microsoft Attention).
 */
import type { Cost, Dim, OpContext, OpRule, ValueType } from './types.js';
import { eachOp, fail, hasInput, input, ioBytes, numel, perElementCost, shapeStr } from './util.js';

const n = (d: Dim | undefined) => (typeof d === 'number' ? d : 1);

/** ONNX Attention(Q, K, V, mask?, past_key?, past_value?) → Y, present_key, present_value, qk_output. */
const attention: OpRule = {
  opTypes: ['Attention'],
  infer: (ctx) => {
    const q = input(ctx, 0);
    const k = input(ctx, 1).shape;
    const v = input(ctx, 2).shape;
    if (!q.shape || !k || !v) return ctx.node.output.map(() => ({ elemType: q.elemType }));
    const r = q.shape.length;
    if (r !== 3 && r !== 4) fail(`Attention Q must be 3-D or 4-D, got ${shapeStr(q.shape)}`);
    const past = ctx.inputs[4]?.shape;
    let y: Dim[];
    let kvHeads: Dim;
    let kvSeq: Dim;
    let headK: Dim;
    let headV: Dim;
    let qHeads: Dim;
    if (r === 4) {
      y = [q.shape[0]!, q.shape[1]!, q.shape[2]!, v[3]!];
      [qHeads, kvHeads, kvSeq, headK, headV] = [q.shape[1]!, k[1]!, k[2]!, k[3]!, v[3]!];
    } else {
      qHeads = ctx.attr.int('q_num_heads') ?? fail('3-D Attention needs q_num_heads');
      kvHeads = ctx.attr.int('kv_num_heads') ?? fail('3-D Attention needs kv_num_heads');
      kvSeq = k[1]!;
      headK = typeof k[2] === 'number' ? k[2] / kvHeads : ctx.freshDim();
      headV = typeof v[2] === 'number' ? v[2] / kvHeads : ctx.freshDim();
      y = [q.shape[0]!, q.shape[1]!, typeof headV === 'number' ? qHeads * headV : ctx.freshDim()];
    }
    const total: Dim = past ? (typeof past[2] === 'number' && typeof kvSeq === 'number' ? past[2] + kvSeq : ctx.freshDim()) : kvSeq;
    const b = q.shape[0]!;
    const qSeq = r === 4 ? q.shape[2]! : q.shape[1]!;
    const out: ValueType[] = [{ elemType: q.elemType, shape: y }];
    if (ctx.node.output.length > 1) out.push({ elemType: q.elemType, shape: [b, kvHeads, total, headK] });
    if (ctx.node.output.length > 2) out.push({ elemType: q.elemType, shape: [b, kvHeads, total, headV] });
    if (ctx.node.output.length > 3) out.push({ elemType: q.elemType, shape: [b, qHeads, qSeq, total] });
    return out;
  },
  cost: (ctx, outputs): Cost => {
    const q = ctx.inputs[0]?.shape;
    const k = ctx.inputs[1]?.shape;
    const y = outputs[0]?.shape;
    if (!q || !k || !y) return { macs: 0, flops: 0, ...ioBytes(ctx, outputs) };
    // QKᵀ: every query element meets kv_seq keys; softmax·V: every output element sums kv_seq values.
    const kvSeq = n(q.length === 4 ? k[2] : k[1]) + (ctx.inputs[4]?.shape ? n(ctx.inputs[4]!.shape![2]) : 0);
    const macs = (numel(ctx.inputs[0]) + numel(outputs[0])) * kvSeq;
    return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
  },
  props: { matmulLike: true },
};

/** com.microsoft Attention(input [B,S,D], weights [D, Dq+Dk+Dv], bias, …) → [B, S, Dv], present. */
const msAttention: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['Attention'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const w = input(ctx, 1).shape;
    const sizes = ctx.attr.ints('qkv_hidden_sizes');
    const vHidden: Dim = sizes?.length === 3 ? sizes[2]! : typeof w?.[1] === 'number' ? w[1] / 3 : ctx.freshDim();
    if (!x.shape) return ctx.node.output.map(() => ({ elemType: x.elemType }));
    const [b, s] = [x.shape[0]!, x.shape[1]!];
    const heads = ctx.attr.int('num_heads', 1);
    const out: ValueType[] = [{ elemType: x.elemType, shape: [b, s, vHidden] }];
    if (ctx.node.output.length > 1) {
      const past = ctx.inputs[4]?.shape;
      const total: Dim = past ? (typeof past[3] === 'number' && typeof s === 'number' ? past[3] + s : ctx.freshDim()) : s;
      out.push({ elemType: x.elemType, shape: [2, b, heads, total, typeof vHidden === 'number' ? vHidden / heads : ctx.freshDim()] });
    }
    return out;
  },
  cost: (ctx, outputs): Cost => {
    const x = ctx.inputs[0]?.shape;
    const w = ctx.inputs[1]?.shape;
    const s = n(x?.[1]);
    const proj = numel(ctx.inputs[0]) * n(w?.[1]);
    const macs = proj + 2 * numel(outputs[0]) * s;
    return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
  },
  props: { matmulLike: true },
};

/** com.microsoft MultiHeadAttention(query, key?, value?, …) and GroupQueryAttention: output [B, S, heads*v_head]. */
const msMha = eachOp(
  {
    domain: 'com.microsoft',
    infer: (ctx) => {
      const q = input(ctx, 0);
      if (!q.shape) return ctx.node.output.map(() => ({ elemType: q.elemType }));
      const heads = ctx.attr.int('num_heads') ?? fail(`${ctx.node.opType} needs num_heads`);
      const kvHeads = ctx.attr.int('kv_num_heads', heads);
      const [b, s] = [q.shape[0]!, q.shape[1]!];
      let hidden: Dim;
      if (q.shape.length === 5)
        hidden = typeof q.shape[4] === 'number' ? heads * q.shape[4] : ctx.freshDim(); // packed [B,S,N,3,H]
      else if (!hasInput(ctx, 1) && typeof q.shape[2] === 'number')
        hidden = (q.shape[2] / (heads + 2 * kvHeads)) * heads; // packed QKV
      else {
        const v = ctx.inputs[2]?.shape;
        hidden = v?.length === 3 ? v[2]! : v?.length === 4 && typeof v[3] === 'number' ? heads * v[3] : q.shape[2]!;
      }
      return ctx.node.output.map(
        (_, i): ValueType => (i === 0 ? { elemType: q.elemType, shape: [b, s, hidden] } : { elemType: q.elemType }),
      );
    },
    cost: (ctx, outputs): Cost => {
      const k = ctx.inputs[1]?.shape;
      const kvSeq = n(k && k.length === 4 ? k[2] : (k?.[1] ?? ctx.inputs[0]?.shape?.[1]));
      const macs = 2 * numel(outputs[0]) * kvSeq;
      return { macs, flops: 2 * macs, ...ioBytes(ctx, outputs) };
    },
  },
  // matmulLike as the profiler's advice has always had it: GroupQueryAttention is not (yet) among its targets.
  { MultiHeadAttention: { props: { matmulLike: true } }, GroupQueryAttention: {} },
);

const rotary: OpRule = {
  opTypes: ['RotaryEmbedding'],
  infer: (ctx: OpContext) => [{ elemType: input(ctx, 0).elemType, shape: input(ctx, 0).shape }],
  cost: perElementCost(3),
};

export const attentionOps: OpRule[] = [attention, msAttention, ...msMha, rotary, { ...rotary, domain: 'com.microsoft' }];
