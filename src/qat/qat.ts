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
import { HONE_DOMAIN } from '../ops/quant.js';
import { makeNode, valueInfo } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { floatTensor, tensorArray } from '../ir/tensor.js';
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
  /**
   * 'fixed': activation scales stay at their calibrated values; 'learned': they train with the weights (LSQ,
   * Esser et al. ICLR 2020: the step size's own gradient, ops/grad/quant.ts). Weight scales stay fixed.
   */
  ranges?: 'fixed' | 'learned';
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
  ranges: 'fixed' | 'learned';
  /** Activation scales trained (learned ranges). */
  learnedScales: number;
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
  const learned = opts.ranges === 'learned' ? activationScales(fq.model, fq.weights) : [];
  const toTrain = learned.length ? logScales(fq.model, learned) : { model: fq.model, logs: [] };
  const trained = await train(toTrain.model, data, {
    lr: 1e-4,
    ...opts.train,
    alsoTrain: [...(opts.train.alsoTrain ?? []), ...toTrain.logs],
  });
  const qat = fromFakeQuant(learned.length ? expScales(trained.model, learned) : trained.model);
  const report: QatReport = {
    epochs: trained.epochs,
    history: trained.history,
    weights: fq.weights.length,
    ranges: opts.ranges ?? 'fixed',
    learnedScales: learned.length,
  };
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

/** The scale initializers of the activation FakeQuantizes (those not on a weight), each once. */
function activationScales(model: ModelProto, weights: readonly string[]): string[] {
  const w = new Set(weights);
  const inits = new Set(model.graph!.initializer.map((t) => t.name!));
  const out = new Set<string>();
  for (const n of model.graph!.node)
    if (n.opType === 'FakeQuantize' && n.domain === HONE_DOMAIN && !w.has(n.input[0]!) && inits.has(n.input[1]!)) out.add(n.input[1]!);
  return [...out];
}

/**
 * Learned scales train as their logarithms: s = Exp(log s). Adam moves a parameter by about the learning rate
 * whatever its gradient's size, so a scale of 0.004 trained directly doubled within one epoch at lr 1e-3 (LeNet-5:
 * the input's step went from 1/255 to 0.0093); in log space each step changes it by about lr relative.
 */
function logScales(model: ModelProto, names: readonly string[]): { model: ModelProto; logs: string[] } {
  const g = model.graph!;
  const set = new Set(names);
  const logs: string[] = [];
  const initializer = g.initializer.map((t) => {
    if (!set.has(t.name!)) return t;
    const log = `${t.name}_log`;
    logs.push(log);
    return floatTensor(log, t.dims.map(Number), Array.from(tensorArray(t) as Float32Array, Math.log));
  });
  const exps = names.map((n) => makeNode('Exp', [`${n}_log`], [n], {}, { name: `${n}_exp` }));
  // Listed as inputs too, so that constant folding never turns Exp(log s) back into a constant.
  const input = [...g.input, ...logs.map((l) => valueInfo(l, DataType.FLOAT, []))];
  return { model: { ...model, graph: { ...g, initializer, input, node: [...exps, ...g.node] } }, logs };
}

/** The trained logarithms back as scale initializers (the inverse of logScales). */
function expScales(model: ModelProto, names: readonly string[]): ModelProto {
  const g = model.graph!;
  const logs = new Map(names.map((n) => [`${n}_log`, n]));
  const initializer = g.initializer.map((t) => {
    const n = logs.get(t.name!);
    return n ? floatTensor(n, t.dims.map(Number), Array.from(tensorArray(t) as Float32Array, Math.exp)) : t;
  });
  const node = g.node.filter((n) => !(n.opType === 'Exp' && logs.has(n.input[0]!) && logs.get(n.input[0]!) === n.output[0]));
  const input = g.input.filter((i) => !logs.has(i.name!));
  return { ...model, graph: { ...g, initializer, input, node } };
}
