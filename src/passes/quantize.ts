/**
 * The quantizers (src/quantize) as passes: `quantize.dynamic`, `quantize.static` (QDQ or QOperator, the
 * `format` option), `quantize.fp16` and `quantize.int4`. Each quantizer already works on a copy and returns
 * a report; the pass adds what the contract asks of every pass:
 * - `applies` gives the quantizer's own refusals without running it: a model quantized already (the
 *   `quantizedAlready` check `hone quantize` refuses with), no op the mode quantizes, an opset the
 *   upgrader cannot raise to static int8's 13 (tried only below 10, where static would fail);
 * - "nothing to quantize" (every candidate ineligible, e.g. weights that are not constants) is a pass that
 *   found nothing to do (`changed: false`), not an error;
 * - options are scalars a search can vary: node lists are comma-separated names, and `reduceRange: null`
 *   leaves 7-bit weights to the CPU check the quantizers make (`defaultReduceRange`).
 * These are the quantizers alone: the accuracy guard and the accuracy-targeted search of `hone quantize`
 * (quantize/pipeline.ts) measure candidates, which is the evaluator's job in a search, not a pass's.
 */
import { badInput } from '../errors.js';
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { forEachGraph } from '../ir/walk.js';
import { quantRule } from '../ops/index.js';
import type { QuantRule } from '../ops/types.js';
import { NothingToQuantize, quantizedAlready, type QuantizeReport, type QuantizeResult, type QuantMode } from '../quantize/common.js';
import type { SampleData } from '../quantize/data.js';
import { quantizeDynamic } from '../quantize/dynamic.js';
import { convertFp16, FP16_OVERFLOW_LIMIT } from '../quantize/fp16.js';
import { measureActivationRanges } from '../quantize/fp16-ranges.js';
import { quantizeInt4 } from '../quantize/int4.js';
import { calibrateStatic, quantizeStatic, STATIC_DEFAULTS, type Calibration, type StaticOptions } from '../quantize/static.js';
import { aiOnnxOpset, upgradeOpset } from './upgrade.js';
import { nameList, withDefaults } from './options.js';
import type { ModelFacts, Pass, PassContext, PassResult } from './pass.js';

type DynamicPassOptions = { perChannel: boolean; reduceRange: boolean | null; shareInputQuantization: boolean; excludeNodes: string };

export const dynamicPass: Pass<DynamicPassOptions> = {
  id: 'quantize.dynamic',
  description: 'int8 weights, activations quantized at run time: MatMul/Gemm with constant weights become ORT integer matmuls',
  applies: (model) => alreadyQuantized(model, 'dynamic') ?? noneToQuantize(model, (r) => !!r.dynamic, 'MatMul or Gemm'),
  space: {
    perChannel: { type: 'categorical', choices: [true, false] },
    reduceRange: { type: 'categorical', choices: [false, true] },
  },
  defaults: { perChannel: true, reduceRange: null, shareInputQuantization: true, excludeNodes: '' },
  needs: [],
  async run(model, options) {
    const o = withDefaults(this, options);
    return asPass(model, 'dynamic int8', () =>
      quantizeDynamic(model, {
        perChannel: o.perChannel,
        reduceRange: o.reduceRange ?? undefined,
        shareInputQuantization: o.shareInputQuantization,
        excludeNodes: nameList(o.excludeNodes),
      }),
    );
  },
};

type CalibMethod = NonNullable<StaticOptions['method']>;
type StaticPassOptions = {
  method: CalibMethod;
  percentile: number;
  perChannel: boolean;
  reduceRange: boolean | null;
  format: 'qdq' | 'qoperator';
  equalize: boolean;
  biasCorrection: boolean;
  activationType: 'uint8' | 'int8';
  symmetric: boolean;
  excludeNodes: string;
};

export const staticPass: Pass<StaticPassOptions> = {
  id: 'quantize.static',
  description:
    'int8 weights and activations from calibration data (format qdq: Q/DQ pairs ORT fuses; qoperator: QLinearConv/QLinearMatMul… nodes)',
  applies(model, facts) {
    return (
      alreadyQuantized(model, 'static') ??
      noneToQuantize(model, (r) => r.kind === 'compute', 'Conv, MatMul, Gemm or other quantizable op', true) ??
      staticOpsetReason(model, facts)
    );
  },
  space: {
    method: { type: 'categorical', choices: ['minmax', 'percentile', 'entropy', 'mse', 'auto'] },
    perChannel: { type: 'categorical', choices: [true, false] },
    reduceRange: { type: 'categorical', choices: [false, true] },
    format: { type: 'categorical', choices: ['qdq', 'qoperator'] },
    equalize: { type: 'categorical', choices: [true, false] },
    biasCorrection: { type: 'categorical', choices: [true, false] },
  },
  defaults: {
    method: STATIC_DEFAULTS.method,
    percentile: 99.99,
    perChannel: true,
    reduceRange: null,
    format: 'qdq',
    equalize: STATIC_DEFAULTS.equalize,
    biasCorrection: STATIC_DEFAULTS.biasCorrection,
    activationType: 'uint8',
    symmetric: false,
    excludeNodes: '',
  },
  needs: ['calibration-data'],
  async run(model, options, ctx) {
    const o = withDefaults(this, options);
    const data = sampleData(ctx, this.id);
    const opts: StaticOptions = {
      method: o.method,
      percentile: o.percentile,
      perChannel: o.perChannel,
      reduceRange: o.reduceRange ?? undefined,
      format: o.format,
      equalize: o.equalize,
      biasCorrection: o.biasCorrection,
      activationType: o.activationType,
      symmetric: o.symmetric,
      excludeNodes: nameList(o.excludeNodes),
    };
    return asPass(model, `static int8 (${o.format === 'qoperator' ? 'QOperator' : 'QDQ'})`, async () => {
      const calibration = await calibrated(model, data, opts, ctx);
      return quantizeStatic(model, calibration, opts);
    });
  },
};

type Fp16PassOptions = { keepIoTypes: boolean; overflowLimit: number; excludeNodes: string };

export const fp16Pass: Pass<Fp16PassOptions> = {
  id: 'quantize.fp16',
  description: 'float16 weights and compute, with the ops float16 would hurt (and, given real data, those it would overflow) kept float32',
  applies: (model) => alreadyQuantized(model, 'fp16'),
  space: {},
  defaults: { keepIoTypes: true, overflowLimit: FP16_OVERFLOW_LIMIT, excludeNodes: '' },
  needs: [],
  optionalNeeds: ['calibration-data'],
  async run(model, options, ctx) {
    const o = withDefaults(this, options);
    const data = ctx.data === undefined ? undefined : sampleData(ctx, this.id);
    // Ranges from real data only: synthetic inputs say nothing about which activations grow large (as `hone quantize`).
    const real = data && !data.source.startsWith('synthetic') ? data : undefined;
    if (real) ctx.onProgress?.(`measuring activation ranges for float16 on ${real.size} samples`);
    const activationRanges = real ? await measureActivationRanges(model, real) : undefined;
    return asPass(model, 'float16', () =>
      convertFp16(model, {
        keepIoTypes: o.keepIoTypes,
        overflowLimit: o.overflowLimit,
        activationRanges,
        excludeNodes: nameList(o.excludeNodes),
      }),
    );
  },
};

type Int4PassOptions = { blockSize: number; accuracyLevel: number; symmetric: boolean; excludeNodes: string };

export const int4Pass: Pass<Int4PassOptions> = {
  id: 'quantize.int4',
  description: '4-bit block-wise weights for MatMuls with constant 2-D weights (ORT MatMulNBits), activations float',
  applies: (model) => alreadyQuantized(model, 'int4') ?? noneToQuantize(model, (r) => !!r.int4, 'MatMul'),
  space: {
    blockSize: { type: 'categorical', choices: [16, 32, 64, 128, 256] },
    // MatMulNBits' accuracy_level: 0 computes in float32, 4 quantizes the activations to int8 (faster, less exact).
    accuracyLevel: { type: 'categorical', choices: [0, 4] },
    symmetric: { type: 'categorical', choices: [false, true] },
  },
  defaults: { blockSize: 32, accuracyLevel: 0, symmetric: false, excludeNodes: '' },
  needs: [],
  async run(model, options) {
    const o = withDefaults(this, options);
    return asPass(model, 'int4', () =>
      quantizeInt4(model, {
        blockSize: o.blockSize,
        accuracyLevel: o.accuracyLevel,
        symmetric: o.symmetric,
        excludeNodes: nameList(o.excludeNodes),
      }),
    );
  },
};

export const QUANTIZE_PASSES: readonly Pass[] = [dynamicPass, staticPass, fp16Pass, int4Pass];

// ---- Shared -------------------------------------------------------------------------------------------

function alreadyQuantized(model: ModelProto, mode: QuantMode): string | undefined {
  const q = quantizedAlready(model, mode);
  if (!q) return undefined;
  return q.kind === 'float16'
    ? `the model is float16 already (${q.found}): converting it again saves nothing`
    : `the model is quantized already (${q.found}): quantize the float model it was made from`;
}

/** Why not, when no node (main graph only with `mainOnly`) has a rule `has` accepts: the quantizer would find nothing. */
function noneToQuantize(model: ModelProto, has: (rule: QuantRule) => boolean, what: string, mainOnly = false): string | undefined {
  let found = false;
  const scan = (nodes: readonly NodeProto[]) => {
    for (const n of nodes) {
      const rule = quantRule(n.domain, n.opType ?? '');
      if (rule && has(rule)) found = true;
    }
  };
  if (mainOnly) scan(model.graph!.node);
  else forEachGraph(model, (g) => scan(g.node));
  return found ? undefined : `nothing to quantize: the model has no ${what}${mainOnly ? ' in its main graph' : ''}`;
}

/**
 * Static int8 upgrades models below opset 13; below 10 (no QuantizeLinear) a model the upgrader cannot
 * take there cannot be quantized at all. Only then is the upgrade tried here.
 */
function staticOpsetReason(model: ModelProto, facts: ModelFacts): string | undefined {
  if (facts.opset >= 10) return undefined;
  try {
    upgradeOpset(model, 13);
    return undefined;
  } catch (e) {
    return `static int8 needs opset 10 or newer and the model's opset ${aiOnnxOpset(model)} cannot be upgraded: ${(e as Error).message}`;
  }
}

function sampleData(ctx: PassContext, id: string): SampleData {
  const d = ctx.data as Partial<SampleData> | undefined;
  if (!d || typeof d !== 'object' || typeof d.features !== 'object' || typeof d.size !== 'number')
    throw badInput(
      `pass ${id} needs calibration data: give the pipeline samples of the model's inputs (a .npy/.npz file, a folder of .npy, or mnist)`,
    );
  return d as SampleData;
}

/**
 * Calibrations by model object and data: a search varies options such as the format, reduce range or bias
 * correction over one model and one data set, and calibration (a float pass over every sample, with
 * histograms) is most of static quantization's time; only the options ranges depend on are in the key.
 */
const calibrations = new WeakMap<ModelProto, WeakMap<SampleData, Map<string, Promise<Calibration>>>>();

function calibrated(model: ModelProto, data: SampleData, opts: StaticOptions, ctx: PassContext): Promise<Calibration> {
  let byData = calibrations.get(model);
  if (!byData) calibrations.set(model, (byData = new WeakMap()));
  let byKey = byData.get(data);
  if (!byKey) byData.set(data, (byKey = new Map()));
  const key = JSON.stringify([opts.method, opts.percentile, opts.symmetric, opts.equalize, opts.perChannel]);
  let c = byKey.get(key);
  if (!c) {
    ctx.onProgress?.(`calibrating (${opts.method}) on ${data.size} samples from ${data.source}`);
    c = calibrateStatic(model, data, { ...opts, excludeNodes: [] });
    byKey.set(key, c);
    c.catch(() => byKey.delete(key));
  }
  return c;
}

/** A quantizer's result as a PassResult; its "nothing to quantize" as a pass that changed nothing. */
async function asPass(model: ModelProto, what: string, quantize: () => QuantizeResult | Promise<QuantizeResult>): Promise<PassResult> {
  let result: QuantizeResult;
  try {
    result = await quantize();
  } catch (e) {
    if (!(e instanceof NothingToQuantize)) throw e;
    return { model, changed: false, report: { summary: e.message.replace(/; nothing was written$/, ''), notes: [] } };
  }
  return { model: result.model, changed: true, report: passReport(what, result.report) };
}

function passReport(what: string, r: QuantizeReport): { summary: string; notes: string[]; detail: QuantizeReport } {
  const done = r.nodes.filter((d) => d.quantized);
  const byOp = new Map<string, number>();
  for (const d of done) byOp.set(d.opType, (byOp.get(d.opType) ?? 0) + 1);
  const ops = [...byOp].map(([op, n]) => `${op} ×${n}`).join(', ');
  const kb = (b: number) => `${(b / 1024).toFixed(b < 10 * 1024 ? 1 : 0)} KiB`;
  const notes = [...r.notes];
  const why = new Map<string, string[]>();
  for (const d of r.nodes) if (!d.quantized) why.set(d.detail, [...(why.get(d.detail) ?? []), d.node]);
  for (const [reason, nodes] of why)
    notes.push(`${nodes.length} node(s) left float: ${reason} (${nodes.slice(0, 3).join(', ')}${nodes.length > 3 ? ', …' : ''})`);
  return {
    summary: `${what}: ${done.length} of ${r.nodes.length} candidate node(s) (${ops}); weights ${kb(r.weightBytes.before)} → ${kb(r.weightBytes.after)}`,
    notes,
    detail: r,
  };
}
