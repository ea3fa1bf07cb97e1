/**
 * Quantization-aware training as a pass: `quantize.qat`, static int8 then fine-tuning through fake
 * quantization on the pipeline's labelled data. Like the pruning passes it trains, so `hone optimize` lists
 * it without searching it; its space is the fine-tuning's length and learning rate.
 */
import { badInput } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import type { Pass, PassOptions } from '../passes/pass.js';
import { withDefaults } from '../passes/options.js';
import { modelFacts } from '../passes/registry.js';
import type { SampleData } from '../quantize/data.js';
import { quantizeStatic } from '../quantize/static.js';
import { quantizeAwareTraining } from './qat.js';
import { adaround, adaroundSummary } from './adaround.js';

interface QatPassOptions extends PassOptions {
  epochs: number;
  lr: number;
  ranges: string;
}

export const qatPass: Pass<QatPassOptions> = {
  id: 'quantize.qat',
  description: 'static int8, then quantization-aware training through fake quantization (straight-through gradients) on labelled data',
  applies: (model) => {
    const ops = modelFacts(model).opTypes;
    return ['Conv', 'Gemm', 'MatMul'].some((t) => ops.has(t)) ? undefined : 'the model has no Conv, Gemm or MatMul to quantize';
  },
  space: {
    epochs: { type: 'int', low: 1, high: 5, log: false, step: 1 },
    lr: { type: 'float', low: 1e-5, high: 1e-3, log: true },
    ranges: { type: 'categorical', choices: ['fixed', 'learned'] },
  },
  defaults: { epochs: 1, lr: 1e-4, ranges: 'fixed' },
  needs: ['calibration-data', 'labels', 'training'],
  async run(model, options, ctx) {
    const o = withDefaults(this, options);
    const data = ctx.data as SampleData | undefined;
    if (!data?.labels) throw badInput(`pass ${this.id} needs labelled data: samples of the model's inputs with a 'label' array`);
    const ds: Dataset = { features: data.features, labels: data.labels, size: data.size };
    const r = await quantizeAwareTraining(model, ds, {
      calib: data,
      ranges: o.ranges as 'fixed' | 'learned',
      train: { epochs: o.epochs, lr: o.lr, batchSize: Math.min(64, data.size) },
      onProgress: ctx.onProgress,
    });
    return {
      model: r.model,
      changed: true,
      report: {
        summary: `static int8 trained ${r.report.epochs} epoch(s) through fake quantization (${r.report.weights} weights)`,
        notes: [],
        detail: { ...r.report, history: r.report.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss })) },
      },
    };
  },
};

interface AdaroundPassOptions extends PassOptions {
  iterations: number;
  lr: number;
}

/**
 * Learned rounding as a pass: `quantize.adaround`, static int8 with its defaults, then each weight's rounding
 * learned on the calibration data (qat/adaround.ts). It runs gradient steps for every layer, so optimize
 * lists it without searching it, like the passes that train.
 */
export const adaroundPass: Pass<AdaroundPassOptions> = {
  id: 'quantize.adaround',
  description: 'static int8, then each Conv/Gemm/MatMul weight rounded up or down to keep its layer output closest to float (AdaRound)',
  applies: (model) => {
    const ops = modelFacts(model).opTypes;
    return ['Conv', 'Gemm', 'MatMul'].some((t) => ops.has(t)) ? undefined : 'the model has no Conv, Gemm or MatMul to quantize';
  },
  space: {
    iterations: { type: 'int', low: 200, high: 4000, log: true, step: 1 },
    lr: { type: 'float', low: 1e-3, high: 1e-1, log: true },
  },
  defaults: { iterations: 1000, lr: 1e-2 },
  needs: ['calibration-data', 'training'],
  async run(model, options, ctx) {
    const o = withDefaults(this, options);
    const data = ctx.data as SampleData | undefined;
    if (!data) throw badInput(`pass ${this.id} needs calibration data: samples of the model's inputs`);
    ctx.onProgress?.(`static int8: calibrating on ${data.size} samples`);
    const ptq = await quantizeStatic(model, data);
    const r = await adaround(ptq, data, { iterations: o.iterations, lr: o.lr, onProgress: ctx.onProgress });
    return {
      model: r.model,
      changed: true,
      report: { summary: `static int8 with ${adaroundSummary(r.report)}`, notes: ptq.report.notes, detail: { ...r.report } },
    };
  },
};

export const QAT_PASSES: readonly Pass[] = [qatPass, adaroundPass];
