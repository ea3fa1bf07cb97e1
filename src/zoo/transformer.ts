/**
 * A pre-LayerNorm transformer encoder (as in GPT-2/ViT): per layer
 *   x + Wo·Attention(LN(x)),  then  x + W2·gelu(W1·LN(x)),  and a final LayerNorm.
 * Projections are MatMul with 2-D weight initializers plus a bias Add, the form dynamic int8
 * quantization rewrites; attention is spelled out (Reshape/Transpose to heads, MatMul QKᵀ, Div √dₕ,
 * Softmax, MatMul V) in standard ops only.
 */
import { GraphBuilder, type Dim } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { badInput } from '../errors.js';
import { Layers, ZOO_IR_VERSION, ZOO_OPSET } from './layers.js';
import { COMMON_OPTIONS, requireInt, type ZooModelInfo } from './options.js';

export interface TransformerOptions {
  layers: number;
  dModel: number;
  heads: number;
  /** Width of the feed-forward hidden layer. */
  ffn: number;
  /** Sequence dimension: a symbol (free) or a fixed length. */
  seq: Dim;
  /** When > 0, the input is int64 token ids [batch, seq] embedded by a Gather plus learned positions. */
  vocab: number;
  /** Rows of the positional embedding table (longest sequence) when vocab > 0. */
  maxSeq: number;
  activation: 'gelu' | 'relu';
  finalNorm: boolean;
  /**
   * When > 0 (and vocab is 0), the input is [batch, seq, inputSize] features projected to dModel, plus learned
   * positions (as with tokens): rows of an image (sequential MNIST: seq 28, inputSize 28), sensor frames.
   */
  inputSize: number;
  /** When > 0, a classifier: the mean over the sequence and a Gemm head give 'logits' [batch, classes]. */
  classes: number;
  batch: Dim;
  seed: number;
}

export const TRANSFORMER_DEFAULTS: TransformerOptions = {
  layers: 4,
  dModel: 256,
  heads: 4,
  ffn: 1024,
  seq: 'seq',
  vocab: 0,
  maxSeq: 512,
  activation: 'gelu',
  finalNorm: true,
  inputSize: 0,
  classes: 0,
  batch: 'batch',
  seed: 0,
};

export const transformerInfo: ZooModelInfo = {
  name: 'transformer',
  description:
    "pre-LN transformer encoder: 'input' [batch,seq,256] → 4× (LayerNorm, multi-head attention, FFN with Gelu) → 'output' [batch,seq,256]",
  example: 'transformer:layers=2,dModel=128,heads=2,ffn=512',
  options: [
    { name: 'layers', kind: 'int', default: '4', help: 'encoder layers' },
    { name: 'dModel', kind: 'int', default: '256', help: 'model width (divisible by heads)' },
    { name: 'heads', kind: 'int', default: '4', help: 'attention heads' },
    { name: 'ffn', kind: 'int', default: '1024', help: 'feed-forward hidden width' },
    { name: 'seq', kind: 'dim', default: 'seq', help: 'sequence dimension: a symbol or a fixed length' },
    { name: 'vocab', kind: 'int', default: '0', min: 0, help: 'token vocabulary; > 0 makes the input int64 ids [batch,seq]' },
    { name: 'maxSeq', kind: 'int', default: '512', help: 'positional embedding rows when vocab > 0' },
    {
      name: 'activation',
      kind: 'enum',
      values: ['gelu', 'relu'],
      default: 'gelu',
      help: 'feed-forward activation (gelu: exact, Erf-based)',
    },
    { name: 'finalNorm', kind: 'bool', default: 'true', help: 'LayerNorm after the last layer' },
    {
      name: 'inputSize',
      kind: 'int',
      default: '0',
      min: 0,
      help: 'input features per position, projected to dModel (0: the input is dModel wide)',
    },
    {
      name: 'classes',
      kind: 'int',
      default: '0',
      min: 0,
      help: "a classifier head: mean over the sequence, then 'logits' [batch,classes] (0: none)",
    },
    ...COMMON_OPTIONS,
  ],
};

export function transformer(options: Partial<TransformerOptions> = {}): ModelProto {
  const o: TransformerOptions = { ...TRANSFORMER_DEFAULTS, ...options };
  requireInt('transformer', 'layers', o.layers);
  requireInt('transformer', 'dModel', o.dModel);
  requireInt('transformer', 'heads', o.heads);
  requireInt('transformer', 'ffn', o.ffn);
  requireInt('transformer', 'vocab', o.vocab, 0);
  requireInt('transformer', 'maxSeq', o.maxSeq);
  requireInt('transformer', 'inputSize', o.inputSize, 0);
  requireInt('transformer', 'classes', o.classes, 0);
  if (o.vocab > 0 && o.inputSize > 0) throw badInput('zoo:transformer: give vocab (token ids) or inputSize (features), not both');
  if (o.dModel % o.heads !== 0)
    throw badInput(`zoo:transformer: dModel (${o.dModel}) must be divisible by heads (${o.heads}); change one of them`);
  if ((o.vocab > 0 || o.inputSize > 0) && typeof o.seq === 'number' && o.seq > o.maxSeq) {
    throw badInput(`zoo:transformer: seq (${o.seq}) is longer than maxSeq (${o.maxSeq}); raise maxSeq`);
  }

  const b = new GraphBuilder('transformer');
  const L = new Layers(b, o.seed);
  const d = o.dModel;
  let x: string;
  if (o.vocab > 0) {
    const ids = b.input('input', DataType.INT64, [o.batch, o.seq]);
    // Token embeddings of unit variance (the scale the float input is expected at); small positions.
    const rng = L.rng;
    const tok = b.floatInit('embed_tokens.weight', [o.vocab, d], rng.uniform(o.vocab * d, -Math.sqrt(3), Math.sqrt(3)));
    const pos = b.floatInit('embed_positions.weight', [o.maxSeq, d], rng.uniform(o.maxSeq * d, -0.1, 0.1));
    const tokens = b.op('Gather', [tok, ids], { axis: 0 }, { name: 'embed_tokens' });
    const seqLen = b.op('Shape', [ids], { start: 1, end: 2 }, { name: 'seq_len' });
    const zero = L.ints('zero', [0]);
    const positions = b.op('Slice', [pos, zero, seqLen, zero], {}, { name: 'embed_positions' });
    x = b.op('Add', [tokens, positions], {}, { name: 'embed_add' });
  } else if (o.inputSize > 0) {
    const feats = b.input('input', DataType.FLOAT, [o.batch, o.seq, o.inputSize]);
    const pos = b.floatInit('embed_positions.weight', [o.maxSeq, d], L.rng.uniform(o.maxSeq * d, -0.1, 0.1));
    const projected = L.linear(feats, o.inputSize, d, 'embed_input');
    const seqLen = b.op('Shape', [feats], { start: 1, end: 2 }, { name: 'seq_len' });
    const zero = L.ints('zero', [0]);
    const positions = b.op('Slice', [pos, zero, seqLen, zero], {}, { name: 'embed_positions' });
    x = b.op('Add', [projected, positions], {}, { name: 'embed_add' });
  } else {
    x = b.input('input', DataType.FLOAT, [o.batch, o.seq, d]);
  }

  const shared = {
    toHeads: L.ints('heads_shape', [0, 0, o.heads, d / o.heads]),
    fromHeads: L.ints('model_shape', [0, 0, d]),
    sqrtDh: L.scalar(Math.sqrt(d / o.heads)),
  };
  for (let i = 0; i < o.layers; i++) x = encoderLayer(L, x, o, `layers.${i}`, shared);
  if (o.finalNorm) x = L.layerNorm(x, d, 'norm');
  if (o.classes > 0) {
    const pooled = b.op('ReduceMean', [x], { axes: [1], keepdims: 0 }, { name: 'pool' });
    L.gemm(pooled, d, o.classes, 'head', { init: 'xavier', output: 'logits' });
    b.output('logits', DataType.FLOAT, [o.batch, o.classes]);
    return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: transformer' });
  }
  // The last node's output becomes the graph output 'output' (nothing else reads it).
  const last = b.graph.node[b.graph.node.length - 1]!;
  last.output[0] = 'output';
  b.output('output', DataType.FLOAT, [o.batch, o.seq, d]);
  return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: transformer' });
}

interface Shared {
  toHeads: string;
  fromHeads: string;
  sqrtDh: string;
}

function encoderLayer(L: Layers, x: string, o: TransformerOptions, name: string, s: Shared): string {
  const { b } = L;
  const d = o.dModel;
  const h = L.layerNorm(x, d, `${name}.norm1`);
  const heads = (t: string, what: string, perm: number[]) =>
    b.op(
      'Transpose',
      [b.op('Reshape', [t, s.toHeads], {}, { name: `${name}.attn.${what}.reshape` })],
      { perm },
      { name: `${name}.attn.${what}.transpose` },
    );
  const q = heads(L.linear(h, d, d, `${name}.attn.q_proj`), 'q', [0, 2, 1, 3]); // [b, h, s, dh]
  const kT = heads(L.linear(h, d, d, `${name}.attn.k_proj`), 'k', [0, 2, 3, 1]); // [b, h, dh, s]
  const v = heads(L.linear(h, d, d, `${name}.attn.v_proj`), 'v', [0, 2, 1, 3]);
  const scores = b.op('Div', [b.op('MatMul', [q, kT], {}, { name: `${name}.attn.qk` }), s.sqrtDh], {}, { name: `${name}.attn.scale` });
  const probs = b.op('Softmax', [scores], { axis: -1 }, { name: `${name}.attn.softmax` });
  const ctx = b.op('MatMul', [probs, v], {}, { name: `${name}.attn.pv` });
  const merged = b.op(
    'Reshape',
    [b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }, { name: `${name}.attn.merge.transpose` }), s.fromHeads],
    {},
    { name: `${name}.attn.merge.reshape` },
  );
  x = b.op('Add', [x, L.linear(merged, d, d, `${name}.attn.out_proj`)], {}, { name: `${name}.residual1` });

  const h2 = L.layerNorm(x, d, `${name}.norm2`);
  const f = L.activation(
    L.linear(h2, d, o.ffn, `${name}.ffn.fc1`, { init: o.activation === 'relu' ? 'he' : 'xavier' }),
    o.activation,
    `${name}.ffn.act`,
  );
  return b.op('Add', [x, L.linear(f, o.ffn, d, `${name}.ffn.fc2`)], {}, { name: `${name}.residual2` });
}
