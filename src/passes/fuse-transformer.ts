/**
 * Transformer fusions: the patterns ONNX Runtime's Python transformers optimizer rewrites into
 * com.microsoft ops that ORT's CPU provider runs as single kernels, found by structure (and Hone's shape
 * inference) over the graphs exporters really write: Hone's zoo builder, PyTorch's TorchScript export of
 * nn.TransformerEncoder (sequence-first heads, packed in_proj, -inf padding mask) and BERT's
 * ((1 - mask) · -10000).
 *
 * ORT's own C++ optimizer (session level 'extended'/'all', the default) already fuses some of these. What
 * it leaves, counted in the optimized graphs ORT 1.30 saves for the zoo encoder and a PyTorch 1.13 export
 * (test/corpus/models/tiny-encoder.onnx), is what these passes add:
 *   - attention: ORT fuses none of the 4 (zoo) or 2 (PyTorch) attention blocks;
 *   - skip layer norm: ORT fuses Add + LayerNormalization only when nothing else reads the sum, so in a
 *     pre-LN encoder (the sum is also the residual stream) it fuses 1 of 8; in the PyTorch export
 *     (post-LN, LayerNorm decomposed below opset 17) none;
 *   - embed layer norm: not fused by ORT in either;
 *   - layer norm: ORT fuses the decomposed form itself (5 of 5); the skip and embedding passes here
 *     need it fused first.
 * Gelu/BiasGelu ORT fuses itself on both graphs; FastGelu (tanh) changes the numbers and measured no
 * faster than ORT's Gelu here (4 × [8,128,1024]: 3.99 vs 3.66 ms): no pass.
 *
 * The passes compose with dynamic int8 (src/quantize/dynamic.ts) in either order: MultiHeadAttention
 * keeps the Q/K/V MatMuls (and their bias Adds) for the quantizer, and the fused ops read the
 * quantizer's integer MatMuls.
 *
 * Speed (bench/fusions.ts and side-by-side sessions at 1 thread; ORT 1.30 on a 2-core AVX-512/VNNI/AMX
 * Xeon shared with other work, so runs differ by ±10-20%): none of these fusions is a clear win here. On
 * the zoo encoder at 8×128 attention (either form) measured 0.9-1.1x in fp32 and 0.9-1.1x of int8 alone
 * on top of int8 (ORT's unfused attention is MatMul + FusedMatMul + Softmax already, and
 * MultiHeadAttention's flash kernel measured no faster than its non-flash one); the Attention form
 * before int8 keeps the QKV projection float and loses (1.6-1.9x vs int8's 2.2-2.6x); skip layer norm
 * loses everywhere (see its note). On the PyTorch export (d=64, masked, 8×128, 1 thread) the fusions
 * measured 1.04x in fp32 and 0.9x of int8 alone on top of int8.
 */
import type { ModelProto } from '../ir/proto.js';
import { copyModel, requireDomain } from '../quantize/common.js';
import type { ModelFacts, Pass, PassOptions, PassResult } from './pass.js';
import { FusionGraph } from './fuse-transformer-graph.js';
import {
  type Found,
  findEmbedLayerNorms,
  findLayerNorms,
  findSkipLayerNorms,
  fuseEmbedLayerNorm,
  fuseLayerNorm,
  fuseSkipLayerNorm,
} from './fuse-transformer-norm.js';
import { type AttentionForm, findAttention, fuseAttention } from './fuse-transformer-attention.js';

export type { AttentionForm } from './fuse-transformer-attention.js';

interface Fusion<M, O extends PassOptions> {
  id: string;
  description: string;
  /** Op types the pattern needs (a cheap first check of `applies`). */
  ops: string[];
  /** What the pattern is, for "not found" reasons. */
  what: string;
  find(fg: FusionGraph): Found<M>;
  /** Rewrites one match; false when this form cannot take it. */
  fuse(fg: FusionGraph, m: M, options: O): boolean;
  /** What was fused, for the summary ('4 attention blocks → MultiHeadAttention'). */
  summary(n: number, options: O): string;
  domain?: string;
  notes?(model: ModelProto, options: O): string[];
}

/** Why `find` found nothing: the op types missing, or the first candidates' rejections. */
function whyNot<M>(f: Fusion<M, PassOptions>, model: ModelProto, facts: ModelFacts): string | undefined {
  const missing = f.ops.filter((op) => !facts.opTypes.has(op));
  if (missing.length) return `no ${f.what}: the model has no ${missing.join('/')} op`;
  const found = f.find(new FusionGraph(model));
  if (found.matches.length) return undefined;
  const shown = found.rejected.slice(0, 3).join('; ');
  const more = found.rejected.length > 3 ? ` (+${found.rejected.length - 3} more)` : '';
  return `no ${f.what} found${shown ? `: ${shown}${more}` : ''}`;
}

/** Runs one fusion on a copy of `model`. */
function runFusion<M, O extends PassOptions>(f: Fusion<M, O>, model: ModelProto, options: O): PassResult {
  const copy = copyModel(model);
  const fg = new FusionGraph(copy);
  const found = f.find(fg);
  let n = 0;
  for (const m of found.matches) if (f.fuse(fg, m, options)) n++;
  if (n === 0) {
    const summary = found.matches.length
      ? `found ${found.matches.length} ${f.what}(s), none in a form these options can fuse`
      : `no ${f.what} found`;
    return {
      model,
      changed: false,
      report: { summary, notes: found.rejected.slice(0, 3), detail: { fused: 0, rejected: found.rejected } },
    };
  }
  fg.g.removeDeadCode();
  fg.g.topoSort();
  if (f.domain) requireDomain(copy, f.domain, 1);
  const notes = [...(f.notes?.(copy, options) ?? [])];
  if (found.matches.length > n) notes.push(`${found.matches.length - n} match(es) left as they were: the chosen form cannot take them`);
  return { model: copy, changed: true, report: { summary: f.summary(n, options), notes, detail: { fused: n, rejected: found.rejected } } };
}

function pass<M, O extends PassOptions>(f: Fusion<M, O>, defaults: O, space: Pass<O>['space'] = {}): Pass<O> {
  return {
    id: f.id,
    description: f.description,
    applies: (model, facts) => whyNot(f as unknown as Fusion<M, PassOptions>, model, facts),
    space,
    defaults,
    needs: [],
    run: async (model, options) => runFusion(f, model, { ...defaults, ...options } as O),
  };
}

// ---- The passes ------------------------------------------------------------------------------------

const layerNormFusion: Fusion<ReturnType<typeof findLayerNorms>['matches'][number], Record<string, never>> = {
  id: 'fuse.layer-norm',
  description: 'decomposed layer norms (ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add) → LayerNormalization',
  ops: ['ReduceMean', 'Sqrt'],
  what: 'decomposed layer norm',
  find: findLayerNorms,
  fuse: (fg, m) => {
    fuseLayerNorm(fg, m);
    return true;
  },
  summary: (n) => `fused ${n} decomposed layer norm(s) into LayerNormalization`,
  notes: (model) => {
    const opset = model.opsetImport.find((o) => (o.domain ?? '') === '')?.version ?? 0;
    return opset < 17
      ? [`LayerNormalization is standard from opset 17; at opset ${opset} it is ONNX Runtime's extension (what its own fusion writes)`]
      : [];
  },
};

const skipLayerNormFusion: Fusion<ReturnType<typeof findSkipLayerNorms>['matches'][number], Record<string, never>> = {
  id: 'fuse.skip-layer-norm',
  description:
    'residual Add (+ projection bias) → LayerNormalization as com.microsoft SkipLayerNormalization, the sum kept when read elsewhere',
  ops: ['LayerNormalization', 'Add'],
  what: 'residual Add feeding a LayerNormalization',
  find: findSkipLayerNorms,
  fuse: (fg, m) => {
    fuseSkipLayerNorm(fg, m);
    return true;
  },
  summary: (n) => `fused ${n} residual Add + LayerNormalization into SkipLayerNormalization`,
  domain: 'com.microsoft',
  notes: () => [
    "ORT 1.30's CPU SkipLayerNormalization kernel measured slower than Add + LayerNormalization on an AVX-512 Xeon (8 of them on [8,128,256]: 11.2 vs 2.2 ms, 1 thread): keep this fusion only where it measures faster",
  ],
};

const embedLayerNormFusion: Fusion<ReturnType<typeof findEmbedLayerNorms>['matches'][number], Record<string, never>> = {
  id: 'fuse.embed-layer-norm',
  description: 'token Gather + position rows → LayerNormalization as com.microsoft EmbedLayerNormalization',
  ops: ['LayerNormalization', 'Gather', 'Add'],
  what: 'token + position embedding feeding a LayerNormalization',
  find: findEmbedLayerNorms,
  fuse: (fg, m) => {
    fuseEmbedLayerNorm(fg, m);
    return true;
  },
  summary: (n) => `fused ${n} embedding sum + LayerNormalization into EmbedLayerNormalization`,
  domain: 'com.microsoft',
};

export interface AttentionOptions extends PassOptions {
  /** 'mha': MultiHeadAttention over the model's Q/K/V projections; 'attention': Attention with them packed in. */
  form: AttentionForm;
}

const attentionFusion: Fusion<ReturnType<typeof findAttention>['matches'][number], AttentionOptions> = {
  id: 'fuse.attention',
  description:
    'multi-head self-attention (MatMul, scale, mask, Softmax, MatMul with the head reshapes) → com.microsoft MultiHeadAttention or Attention',
  ops: ['Softmax', 'MatMul'],
  what: 'self-attention block',
  find: findAttention,
  fuse: (fg, m, o) => fuseAttention(fg, m, o.form),
  summary: (n, o) => `fused ${n} attention block(s) into ${o.form === 'attention' ? 'Attention' : 'MultiHeadAttention'}`,
  domain: 'com.microsoft',
};

export const fuseLayerNormPass = pass(layerNormFusion, {});
export const fuseSkipLayerNormPass = pass(skipLayerNormFusion, {});
export const fuseEmbedLayerNormPass = pass(embedLayerNormFusion, {});
export const fuseAttentionPass = pass<ReturnType<typeof findAttention>['matches'][number], AttentionOptions>(
  attentionFusion,
  { form: 'mha' },
  { form: { type: 'categorical', choices: ['mha', 'attention'] } },
);

/**
 * The transformer fusions, in the order they compose: layer norms first (the embedding and skip fusions
 * match LayerNormalization), the embedding before skip layer norm (both end in a LayerNormalization of an
 * Add; the embedding's Add is of a [B,S,D] and a [1,S,D] value, which skip layer norm leaves anyway).
 */
export const TRANSFORMER_FUSIONS: Pass[] = [fuseLayerNormPass, fuseEmbedLayerNormPass, fuseAttentionPass, fuseSkipLayerNormPass] as Pass[];
