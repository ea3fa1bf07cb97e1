/**
 * Quantization-aware training (Jacob et al. CVPR 2018): static int8 first (calibrated ranges, BatchNorm
 * folded, equalization and bias correction as `hone quantize` does them), then its QDQ model trained as a
 * float model with fake quantization where it quantizes (passes/fake-quant.ts: the straight-through
 * estimator, scales fixed at their calibrated values), then written back as QDQ with the trained weights
 * quantized — a model ORT runs in int8, compared with the float model and with post-training quantization on
 * the test data.
 */
import type { Dataset } from '../data/dataset.js';
import type { ModelProto } from '../ir/proto.js';
import { fromFakeQuant, toFakeQuant } from '../passes/fake-quant.js';
import { matchInputs, type SampleData } from '../quantize/data.js';
import { compareOutputs } from '../quantize/evaluate.js';
import { qrange } from '../quantize/math.js';
import { quantizeStatic, type StaticOptions } from '../quantize/static.js';
import { graphInputs } from '../runtime/inputs.js';
import { type EpochRecord, train, type TrainOptions } from '../train/trainer.js';

export interface QatOptions {
  /** Calibration data for the static quantization QAT starts from. */
  calib: SampleData;
  static?: StaticOptions;
  /** The fine-tuning (a few epochs at a small learning rate; default lr 1e-4). */
  train: TrainOptions;
  /** Labelled test data: float, post-training and QAT accuracy. */
  test?: Dataset;
  testSource?: string;
  onProgress?: (message: string) => void;
}

export interface QatReport {
  epochs: number;
  history: EpochRecord[];
  /** Weights trained through fake quantization. */
  weights: number;
  /** Against the float model on the test data: post-training int8 and after QAT. */
  ptq?: { cosine: number; accuracy?: number };
  qat?: { cosine: number; accuracy?: number };
  floatAccuracy?: number;
  samples?: number;
  source?: string;
}

export async function quantizeAwareTraining(
  model: ModelProto,
  data: Dataset,
  opts: QatOptions,
): Promise<{ model: ModelProto; ptq: ModelProto; report: QatReport }> {
  opts.onProgress?.('static int8: calibrating');
  const ptq = await quantizeStatic(model, opts.calib, opts.static);
  const s = ptq.report.settings as { weightType: string; reduceRange: boolean };
  const signed = s.weightType !== 'uint8';
  const weightRange = qrange({ signed, bits: s.reduceRange ? 7 : 8 }, signed);
  const fq = toFakeQuant(ptq.model, weightRange);
  opts.onProgress?.(`quantization-aware training: ${opts.train.epochs} epoch(s), ${fq.weights.length} weights through fake quantization`);
  const trained = await train(fq.model, data, { lr: 1e-4, ...opts.train });
  const qat = fromFakeQuant(trained.model);
  const report: QatReport = { epochs: trained.epochs, history: trained.history, weights: fq.weights.length };
  if (opts.test) {
    opts.onProgress?.('comparing float, post-training and QAT int8 on the test data');
    const t = opts.test;
    const sample = matchInputs({ ...t.features, label: t.labels }, graphInputs(model), opts.testSource ?? 'the test data');
    const [a, b] = [await compareOutputs(model, ptq.model, sample), await compareOutputs(model, qat, sample)];
    report.floatAccuracy = a.accuracy?.float;
    report.ptq = { cosine: a.cosine, ...(a.accuracy ? { accuracy: a.accuracy.quantized } : {}) };
    report.qat = { cosine: b.cosine, ...(b.accuracy ? { accuracy: b.accuracy.quantized } : {}) };
    report.samples = a.samples;
    report.source = a.source;
  }
  return { model: qat, ptq: ptq.model, report };
}
