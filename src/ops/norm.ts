/**
 * Normalizations: BatchNormalization (inference and training outputs), LayerNormalization (optional
 * mean / inverse-stddev outputs; also ORT's com.microsoft variants), Instance/Group/Lp normalization,
 * MeanVarianceNormalization, LRN. Costs count flops per element: statistics plus scale-and-shift.
 */
import { DataType } from '../ir/dtype.js';
import type { OpContext, OpRule, ValueType } from './types.js';
import { batchNormGrad, layerNormGrad } from './grad/nn.js';
import { perChannelParams } from './prune-rules.js';
import { eachOp, fail, input, normAxis, perElementCost, shapeStr } from './util.js';

function channelShape(ctx: OpContext): ValueType['shape'] {
  const x = input(ctx, 0).shape;
  return x && x.length >= 2 ? [x[1]!] : undefined;
}

/**
 * BatchNormalization: Y like X; in training mode (opset 14+ `training_mode`, or the extra outputs of
 * opsets 6–9) the running/saved mean and variance, each [C].
 */
const batchNorm: OpRule = {
  opTypes: ['BatchNormalization'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (x.shape && x.shape.length < 2) fail(`BatchNormalization input must be [N, C, ...], got ${shapeStr(x.shape)}`);
    const statType = ctx.inputs[3]?.elemType ?? x.elemType;
    const out: ValueType[] = [{ elemType: x.elemType, shape: x.shape }];
    for (let i = 1; i < ctx.node.output.length; i++) out.push({ elemType: statType, shape: channelShape(ctx) });
    return out;
  },
  cost: perElementCost(2),
  grad: batchNormGrad,
  prune: perChannelParams([1, 2, 3, 4], 1),
  props: { ortFusedIntoProducer: true },
};

/** LayerNormalization: Y like X; Mean and InvStdDev are X's shape with the normalized dims set to 1. */
function layerNormInfer(ctx: OpContext): ValueType[] {
  const x = input(ctx, 0);
  const out: ValueType[] = [{ elemType: x.elemType, shape: x.shape }];
  if (ctx.node.output.length === 1) return out;
  const stash = ctx.attr.int('stash_type', 1);
  const statType = ctx.node.domain === 'com.microsoft' ? DataType.FLOAT : stash;
  let statShape: ValueType['shape'];
  if (x.shape) {
    const axis = normAxis(ctx.attr.int('axis', -1), x.shape.length);
    statShape = x.shape.map((d, i) => (i < axis ? d : 1));
  }
  for (let i = 1; i < ctx.node.output.length; i++) out.push({ elemType: statType, shape: statShape });
  return out;
}

// fp16Sensitive: a mean and a variance over the normalized axes, whose float16 sums lose precision.
const layerNorm = eachOp(
  { infer: layerNormInfer, cost: perElementCost(8) },
  {
    LayerNormalization: {
      grad: layerNormGrad,
      props: {
        fp16Sensitive: true,
        ortForms: ['SkipLayerNormalization', 'SimplifiedLayerNormalization', 'SkipSimplifiedLayerNormalization'],
      },
    },
    RMSNormalization: {},
  },
);
const msLayerNorm: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['LayerNormalization', 'SimplifiedLayerNormalization'],
  infer: layerNormInfer,
  cost: perElementCost(8),
  props: { fp16Sensitive: true },
};

/** SkipLayerNormalization(input, skip, gamma, beta?, bias?): Y, mean, inv_std_var, input+skip+bias. */
const skipLayerNorm = eachOp(
  {
    domain: 'com.microsoft',
    infer: (ctx) => {
      const x = input(ctx, 0);
      const stat = x.shape ? x.shape.map((d, i) => (i < x.shape!.length - 1 ? d : 1)) : undefined;
      return ctx.node.output.map((_, i) =>
        i === 1 || i === 2 ? { elemType: DataType.FLOAT, shape: stat } : { elemType: x.elemType, shape: x.shape },
      );
    },
    cost: perElementCost(10),
  },
  { SkipLayerNormalization: { props: { fp16Sensitive: true } }, SkipSimplifiedLayerNormalization: {} },
);

/**
 * EmbedLayerNormalization(input_ids [B,S], segment_ids?, word_embedding [V,D], position_embedding, …):
 * Y [B,S,D], mask_index [B] int32, embedding_sum [B,S,D].
 */
const embedLayerNorm: OpRule = {
  domain: 'com.microsoft',
  opTypes: ['EmbedLayerNormalization'],
  infer: (ctx) => {
    const ids = input(ctx, 0).shape;
    const words = input(ctx, 2);
    const y = ids && words.shape ? [ids[0]!, ids[1]!, words.shape[1]!] : undefined;
    return ctx.node.output.map((_, i) =>
      i === 1 ? { elemType: DataType.INT32, shape: ids ? [ids[0]!] : undefined } : { elemType: words.elemType, shape: y },
    );
  },
  cost: perElementCost(10),
};

const sameAsInput = eachOp(
  {
    infer: (ctx) => {
      const x = input(ctx, 0);
      if (ctx.node.opType !== 'LpNormalization' && x.shape && x.shape.length < 2) {
        fail(`${ctx.node.opType} input must be [N, C, ...], got ${shapeStr(x.shape)}`);
      }
      return [{ elemType: x.elemType, shape: x.shape }];
    },
    cost: perElementCost(6),
  },
  {
    InstanceNormalization: { props: { fp16Sensitive: true }, prune: perChannelParams([1, 2], 1) },
    GroupNormalization: { props: { fp16Sensitive: true } },
    LpNormalization: {},
    MeanVarianceNormalization: {},
    LRN: {},
  },
);

export const normOps: OpRule[] = [batchNorm, ...layerNorm, msLayerNorm, ...skipLayerNorm, embedLayerNorm, ...sameAsInput];
