/**
 * Pruning as passes (passes/pass.ts): `prune.magnitude`, `prune.channels` and `prune.heads`, their search spaces, and that
 * they need training — run as a pass they prune once without fine-tuning, which a search should follow with
 * training (`hone prune --finetune` does both). They live here, above the passes layer, because pruning
 * fine-tunes through the trainer; `hone optimize` lists them and says it does not search passes that train.
 */
import type { ModelProto } from '../ir/proto.js';
import type { Pass, PassOptions } from '../passes/pass.js';
import { withDefaults } from '../passes/options.js';
import { modelFacts } from '../passes/registry.js';
import { pruneModel, type PruneOptions } from './prune.js';

const WEIGHTED = ['Conv', 'Gemm', 'MatMul'];

function noWeights(model: ModelProto): string | undefined {
  const ops = modelFacts(model).opTypes;
  return WEIGHTED.some((t) => ops.has(t)) ? undefined : 'the model has no Conv, Gemm or MatMul to prune';
}

async function asPass(model: ModelProto, opts: PruneOptions) {
  const { model: pruned, report } = await pruneModel(model, opts);
  const what = report.groups ? (opts.structured === 'heads' ? 'heads' : 'channels') : 'weights';
  return {
    model: pruned,
    changed: report.achieved > 0,
    report: {
      summary: `pruned ${(100 * report.achieved).toFixed(1)}% of the prunable ${what} (${report.method}); MACs ${report.macs.before} → ${report.macs.after}`,
      notes: (report.skipped ?? []).map((s) => `kept ${s.channels} ${what} of ${s.producers.join(', ')}: ${s.reason}`),
      detail: { ...report, check: { cosine: report.check.cosine, samples: report.check.samples, source: report.check.source } },
    },
  };
}

/** Structured pruning of channels or heads with a pass's options. */
function structured(
  model: ModelProto,
  kind: 'channels' | 'heads',
  o: { sparsity: number; criterion: string; scope: string; roundTo?: number },
) {
  return asPass(model, {
    sparsity: o.sparsity,
    structured: kind,
    criterion: o.criterion as 'l1' | 'l2',
    scope: o.scope as 'layer' | 'global',
    roundTo: o.roundTo,
  });
}

interface MagnitudeOptions extends PassOptions {
  sparsity: number;
  scope: string;
}

export const pruneMagnitudePass: Pass<MagnitudeOptions> = {
  id: 'prune.magnitude',
  description: 'unstructured magnitude pruning of Conv/Gemm/MatMul weights (zeros; stored sparse by hone prune), then fine-tuning',
  applies: noWeights,
  space: {
    sparsity: { type: 'float', low: 0.3, high: 0.95, log: false, step: 0.05 },
    scope: { type: 'categorical', choices: ['global', 'layer'] },
  },
  defaults: { sparsity: 0.5, scope: 'global' },
  needs: ['training'],
  async run(model, options) {
    const o = withDefaults(this, options);
    return asPass(model, { sparsity: o.sparsity, scope: o.scope as 'global' | 'layer' });
  },
};

interface ChannelOptions extends PassOptions {
  sparsity: number;
  criterion: string;
  scope: string;
  roundTo: number;
}

export const pruneChannelsPass: Pass<ChannelOptions> = {
  id: 'prune.channels',
  description: 'structured pruning: whole channels removed with every coupled layer rewritten (smaller and faster), then fine-tuning',
  applies: noWeights,
  space: {
    sparsity: { type: 'float', low: 0.1, high: 0.7, log: false, step: 0.05 },
    criterion: { type: 'categorical', choices: ['l1', 'l2'] },
    scope: { type: 'categorical', choices: ['layer', 'global'] },
  },
  defaults: { sparsity: 0.3, criterion: 'l1', scope: 'layer', roundTo: 1 },
  needs: ['training'],
  async run(model, options) {
    return structured(model, 'channels', withDefaults(this, options));
  },
};

interface HeadOptions extends PassOptions {
  sparsity: number;
  criterion: string;
  scope: string;
}

export const pruneHeadsPass: Pass<HeadOptions> = {
  id: 'prune.heads',
  description: 'structured pruning of attention heads: Q/K/V columns, output projection rows and head Reshapes rewritten, then fine-tuning',
  applies: (model) => {
    const ops = modelFacts(model).opTypes;
    return ops.has('Softmax') && ops.has('MatMul') ? undefined : 'the model has no attention (Softmax between MatMuls)';
  },
  space: {
    sparsity: { type: 'float', low: 0.1, high: 0.7, log: false, step: 0.05 },
    criterion: { type: 'categorical', choices: ['l1', 'l2'] },
    scope: { type: 'categorical', choices: ['layer', 'global'] },
  },
  defaults: { sparsity: 0.25, criterion: 'l1', scope: 'layer' },
  needs: ['training'],
  async run(model, options) {
    return structured(model, 'heads', withDefaults(this, options));
  },
};

export const PRUNE_PASSES: readonly Pass[] = [pruneMagnitudePass, pruneChannelsPass, pruneHeadsPass];
