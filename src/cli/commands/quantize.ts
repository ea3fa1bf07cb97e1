/** `hone quantize`: a thin wrapper over `quantizeModel` and the text/JSON/HTML reports. */
import type { Command, Io } from '../command.js';
import { quietHelp, checkWritable, numberFlag, oneOf, parseFlags, progressLines, qatRanges, quietFlag, sameFile } from '../command.js';
import { badInput } from '../../errors.js';
import { saveModel } from '../../ir/model.js';
import { MODEL_INPUT_HELP, TIMING_HELP, modelInputFlags, parseModelInputs, parseTiming, timingFlags } from '../model-flags.js';
import { quantizeModel, type QuantizeJob } from '../../quantize/pipeline.js';
import type { QuantMode } from '../../quantize/common.js';
import type { CalibMethod } from '../../quantize/calibrate.js';
import { quantizeText } from '../../report/quantize-text.js';
import { quantizeHtml } from '../../report/quantize-html.js';
import { writeFileAtomic } from '../../util/fs.js';
import { adaroundRefinement, quantizeAwareTraining } from '../../qat/index.js';
import { loadSampleData } from '../../quantize/data.js';
import { resolveData, resolveModel } from './train-args.js';

const HELP = `hone quantize MODEL -o OUT [options]

Post-training quantization, proved by measurement: writes the quantized model and reports size,
latency (float and quantized timed side by side), output fidelity (cosine, max abs error, top-1
agreement), task accuracy when the data has labels, and which nodes were quantized or left in float and why.

MODEL is a .onnx file or zoo:NAME (zoo:transformer, zoo:resnet, zoo:lenet5…).

Modes (--mode):
  dynamic  int8 weights, activations quantized at run time: MatMul/Gemm become ORT's
           DynamicQuantizeMatMul (fastest CPU form measured). No calibration. Best for transformers.
  static   int8 weights and activations, ranges from calibration data (--calib). QDQ format (default,
           U8S8: ORT fuses Q/DQ around Conv/MatMul/Gemm/Add… into integer kernels) or --format qoperator
           (QLinearConv/QLinearMatMul… nodes). Best for CNNs.
  fp16     float16 weights and compute, float32 inputs/outputs, sensitive ops (Softmax, LayerNorm,
           reductions, Exp/Log, Resize) kept float32. Halves the size; on CPU it is not faster.
  int4     4-bit block-wise weight-only MatMul (ORT's MatMulNBits), weights ~0.16x their float size.

Options:
  -o, --output OUT          where to write the quantized model (required; written atomically)
  --mode MODE               dynamic (default), static, fp16, int4
  --calib DATA              calibration data: .npy, .npz (arrays named after the model inputs, or one array
                            'input'; labels in 'label'), a folder of .npy, or mnist. Required for static
                            mode except zoo models (zoo:lenet5 uses mnist; others seeded synthetic data)
  --samples N               use at most N samples of the calibration/evaluation data (default 256 / all)
  --eval DATA               data for fidelity and accuracy (default: the calibration data; zoo:lenet5: the
                            mnist test split; else seeded random inputs)
  --max-accuracy-drop X     keep the most accuracy-sensitive layers in float until the drop is <= X
                            (accuracy points with labels, else 100·(1 − output cosine)) on the --eval
                            data; always writes the best model found and says why when X was not reached.
                            Searches the first layers from the input, then the most sensitive (one pass of
                            the float and quantized models), doubling how many stay float, then bisecting
                            (at most 1 + 4·log2(layers) evaluations, printed as progress)
  --budget SECONDS          with --max-accuracy-drop or the accuracy guard: stop searching after SECONDS
                            and write the best model found so far (the report says the budget ran out);
                            without it the search always ends, and its answer does not depend on the
                            machine's speed
  --no-accuracy-guard       static: skip the default accuracy guard. Without --max-accuracy-drop, static
                            mode checks its output on the calibration data and, when cosine < 0.99 (or
                            with labels, accuracy drops by > 1 point), keeps the fewest sensitive layers
                            float that meet it (the search above). The report names them, with cosine
                            before/after on the --eval data
  --op-types A,B            only quantize these op types (e.g. Conv,MatMul)
  --exclude-nodes A,B       never quantize these nodes (by name)
  --method M                static calibration: auto (default: per tensor, whichever of the others'
                            ranges has the least squared quantization error on its histogram), minmax,
                            percentile, entropy (KL divergence), mse (the clipping range with the least
                            squared quantization error on each tensor's histogram)
  --equalize, --no-equalize cross-layer equalization of Conv → ReLU → Conv chains (depthwise/pointwise
                            pairs too) before calibration; exact in float (default: on)
  --bias-correction, --no-bias-correction
                            correct each Conv/Gemm bias for the mean output shift quantization causes
                            (weight and activation rounding), measured layer by layer on the quantized
                            model with the calibration data (default: on)
  --percentile P            percentile kept by --method percentile (default 99.99)
  --symmetric               symmetric activation ranges (default asymmetric)
  --format F                static: qdq (default) or qoperator
  --activation-type T       static: uint8 (default; ORT's fastest CPU path, measured) or int8 (S8S8)
  --weight-type T           static: int8 (default) or uint8
  --per-tensor              one scale per weight tensor (default: per output channel)
  --reduce-range            7-bit weights (the default on this CPU when it lacks VNNI). On x86 CPUs
                            without AVX512-VNNI/AVX-VNNI, ORT's u8·s8 int8 kernels add pairs of products
                            into int16, which can saturate with full 8-bit weights and silently corrupt
                            results; 7-bit weights avoid it at some accuracy cost
  --no-reduce-range         full 8-bit weights even here: for a model that will run on a VNNI CPU or ARM
  --block-size N            int4: values per block along K: 16, 32 (default), 64, 128, 256
  --int4-symmetric          int4: symmetric blocks (no zero points)
  --accuracy-level N        int4: MatMulNBits accuracy_level (4 = int8 compute, faster; default fp32)
  --fp16-io                 fp16: make the model's inputs and outputs float16 too
  --qat DATA                static: quantization-aware training after calibration — the QDQ model trained
                            as a float model with fake quantization where it quantizes (straight-through
                            gradients, calibrated scales fixed) on DATA ('mnist' or an .npz with 'label'),
                            then written back as QDQ; the report gives float, post-training and QAT accuracy
                            on --eval (or DATA's test split). --calib defaults to DATA
  --adaround                static: learned rounding (AdaRound) — each Conv/Gemm/MatMul weight rounded up or
                            down, layer by layer, to keep the layer's output on the calibration data closest
                            to the float model's, instead of to the nearest integer; kept only when the
                            model's output on the calibration data is closer to float than round-to-nearest
  --adaround-iters N        --adaround: optimization steps per layer (default 1000; 32 samples each)
  --qat-ranges fixed|learned
                            --qat: activation ranges at their calibrated values (default), or learned with
                            the weights (LSQ: each activation's quantization step trained by its own gradient)
  --epochs N                --qat: training epochs (default 1)
  --lr LR                   --qat: learning rate (default 1e-4; Adam, batch 64)
  --no-latency              skip the latency comparison (float and quantized are timed side by side,
                            in 3 blocks per model, at each batch size below)
  --force                   quantize a model that is quantized (Q/DQ, integer ops, int8 weights) or, for
                            fp16, float16 already, which is refused otherwise
  --json                    print one JSON object instead of the tables
  --html FILE               also write a self-contained HTML report
${quietHelp(28)}

${TIMING_HELP}
${MODEL_INPUT_HELP}
Examples:
  hone quantize zoo:transformer -o transformer.int8.onnx --batch-size 8 --dim seq=128
  hone quantize vad.onnx -o vad.int8.onnx --batch-size 1 --dim samples=512 --input sr=16000
  hone quantize model.onnx -o model.int8.onnx --mode static --calib calib.npz --method entropy
  hone quantize zoo:lenet5 -o lenet.int8.onnx --mode static --max-accuracy-drop 0.5 --html q.html
  hone quantize lenet5.onnx -o lenet5.qat.onnx --mode static --qat mnist --epochs 2
  hone quantize model.onnx -o model.int8.onnx --mode static --calib calib.npz --adaround
  hone quantize model.onnx -o model.fp16.onnx --mode fp16
  hone quantize llm.onnx -o llm.int4.onnx --mode int4 --block-size 64
`;

const MODES: readonly QuantMode[] = ['dynamic', 'static', 'fp16', 'int4'];
const METHODS: readonly CalibMethod[] = ['minmax', 'percentile', 'entropy', 'mse', 'auto'];

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'post-training quantization (dynamic/static int8, fp16, int4) and quantization-aware training, measured before and after',
  help: HELP,
  async run(argv, io) {
    const { values: v, positionals } = parseFlags('quantize', argv, {
      output: { type: 'string', short: 'o' },
      mode: { type: 'string' },
      calib: { type: 'string' },
      samples: { type: 'string' },
      eval: { type: 'string' },
      'max-accuracy-drop': { type: 'string' },
      budget: { type: 'string' },
      'no-accuracy-guard': { type: 'boolean' },
      'op-types': { type: 'string' },
      'exclude-nodes': { type: 'string' },
      method: { type: 'string' },
      percentile: { type: 'string' },
      symmetric: { type: 'boolean' },
      equalize: { type: 'boolean' },
      'no-equalize': { type: 'boolean' },
      'bias-correction': { type: 'boolean' },
      'no-bias-correction': { type: 'boolean' },
      format: { type: 'string' },
      'activation-type': { type: 'string' },
      'weight-type': { type: 'string' },
      'per-tensor': { type: 'boolean' },
      'reduce-range': { type: 'boolean' },
      'no-reduce-range': { type: 'boolean' },
      'block-size': { type: 'string' },
      'int4-symmetric': { type: 'boolean' },
      'accuracy-level': { type: 'string' },
      'fp16-io': { type: 'boolean' },
      ...modelInputFlags,
      ...timingFlags,
      'no-latency': { type: 'boolean' },
      qat: { type: 'string' },
      'qat-ranges': { type: 'string' },
      adaround: { type: 'boolean' },
      'adaround-iters': { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      ...quietFlag,
    });
    if (positionals.length !== 1)
      throw badInput(
        `quantize needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone quantize zoo:transformer -o t.int8.onnx'`,
      );
    const output = v.output;
    if (!output) throw badInput('quantize needs an output path: add -o OUT.onnx');
    checkWritable(output);
    if (sameFile(output, positionals[0]!))
      throw badInput(`-o ${output} is the input model itself; write the quantized model to another file so the float one is kept`);
    if (v.html) checkWritable(v.html);
    const mode = oneOf(v.mode ?? 'dynamic', MODES, '--mode');
    const list = (s: string | undefined) =>
      s === undefined
        ? undefined
        : s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean);
    const job: QuantizeJob = {
      model: positionals[0]!,
      mode,
      calib: v.calib,
      eval: v.eval,
      samples: numberFlag(v.samples, '--samples', { int: true, min: 1 }),
      maxAccuracyDrop: numberFlag(v['max-accuracy-drop'], '--max-accuracy-drop', { min: 0 }),
      budget: numberFlag(v.budget, '--budget', { min: 0 }),
      accuracyGuard: v['no-accuracy-guard'] ? false : undefined,
      force: v.force,
      ...modelInputs(v),
      options: {
        opTypes: list(v['op-types']),
        excludeNodes: list(v['exclude-nodes']),
        method: v.method === undefined ? undefined : oneOf(v.method, METHODS, '--method'),
        percentile: numberFlag(v.percentile, '--percentile', { min: 50 }),
        symmetric: v.symmetric,
        equalize: v['no-equalize'] ? false : v.equalize,
        biasCorrection: v['no-bias-correction'] ? false : v['bias-correction'],
        format: v.format === undefined ? undefined : oneOf(v.format, ['qdq', 'qoperator'] as const, '--format'),
        activationType:
          v['activation-type'] === undefined ? undefined : oneOf(v['activation-type'], ['int8', 'uint8'] as const, '--activation-type'),
        weightType: v['weight-type'] === undefined ? undefined : oneOf(v['weight-type'], ['int8', 'uint8'] as const, '--weight-type'),
        perChannel: v['per-tensor'] ? false : undefined,
        reduceRange: reduceRangeFlag(v['reduce-range'], v['no-reduce-range']),
        blockSize: numberFlag(v['block-size'], '--block-size', { int: true, min: 16 }),
        accuracyLevel: numberFlag(v['accuracy-level'], '--accuracy-level', { int: true, min: 0 }),
        keepIoTypes: v['fp16-io'] ? false : undefined,
      },
      onProgress: progressLines(io, v.quiet),
    };
    if (mode === 'int4') job.options!.symmetric = v['int4-symmetric'];
    if (job.budget !== undefined && job.maxAccuracyDrop === undefined && (mode !== 'static' || v['no-accuracy-guard'])) {
      throw badInput(
        "--budget limits the --max-accuracy-drop search or static mode's accuracy guard; add --max-accuracy-drop X, or drop --budget",
      );
    }
    if (v['no-accuracy-guard'] && mode !== 'static')
      throw badInput(`--no-accuracy-guard applies to --mode static (the default accuracy guard), not --mode ${mode}; drop it`);
    if (v['no-accuracy-guard'] && job.maxAccuracyDrop !== undefined)
      throw badInput('--no-accuracy-guard contradicts --max-accuracy-drop (an explicit accuracy target); give one');
    if (job.options!.percentile !== undefined && job.options!.percentile > 100)
      throw badInput(`--percentile must be in (50, 100], got ${job.options!.percentile}`);
    if (job.options!.blockSize !== undefined && ![16, 32, 64, 128, 256].includes(job.options!.blockSize)) {
      throw badInput(`--block-size must be 16, 32, 64, 128 or 256, got ${job.options!.blockSize}`);
    }
    const iters = numberFlag(v['adaround-iters'], '--adaround-iters', { int: true, min: 1 });
    if (iters !== undefined && !v.adaround) throw badInput('--adaround-iters sets learned rounding; add --adaround');
    if (v.adaround) {
      if (mode !== 'static')
        throw badInput(`--adaround learns the rounding of static int8 weights; use --mode static (not --mode ${mode})`);
      if (v.qat !== undefined)
        throw badInput('--adaround and --qat both set the int8 weights; give one (QAT trains them, AdaRound only rounds them)');
      if (v.format === 'qoperator') throw badInput('--adaround writes a QDQ model; drop --format qoperator');
      job.refine = adaroundRefinement({ iterations: iters, onProgress: job.onProgress });
    }
    if (v.qat !== undefined) return quantizeAware(v, job, output, io);
    if (v.epochs !== undefined || v.lr !== undefined || v['qat-ranges'] !== undefined)
      throw badInput('--epochs, --lr and --qat-ranges set quantization-aware training; add --qat DATA');
    const { model, summary } = await quantizeModel(job);
    saveModel(model, output);
    if (v.html) writeFileAtomic(v.html, quantizeHtml(summary, output));
    io.stdout(v.json ? `${JSON.stringify({ output, ...summary })}\n` : quantizeText(summary, output));
    return 0;
  },
};

/**
 * `--qat DATA`: static int8, then quantization-aware training on DATA (labels needed), written as QDQ; the
 * report compares float, post-training and QAT accuracy on the --eval data (or DATA's test split).
 */
async function quantizeAware(
  v: {
    qat?: string;
    'qat-ranges'?: string;
    epochs?: string;
    lr?: string;
    calib?: string;
    eval?: string;
    json?: boolean;
    quiet?: boolean;
    html?: string;
    format?: string;
    'max-accuracy-drop'?: string;
    'no-accuracy-guard'?: boolean;
    limit?: string;
  },
  job: QuantizeJob,
  output: string,
  io: Io,
): Promise<number> {
  if (job.mode !== 'static') throw badInput(`--qat trains through static int8; use --mode static (not --mode ${job.mode})`);
  if (v.html || v.format === 'qoperator' || v['max-accuracy-drop'] !== undefined || v['no-accuracy-guard'])
    throw badInput(
      '--qat writes a QDQ model and its own report; drop --html, --format qoperator, --max-accuracy-drop and --no-accuracy-guard',
    );
  const model = typeof job.model === 'string' ? resolveModel(job.model, 'quantize') : job.model;
  const data = await resolveData(v.qat, model, undefined, 'quantize --qat');
  const calib = await loadSampleData(v.calib ?? v.qat!, model, { samples: job.samples ?? 256 });
  const evalSet = v.eval ? await resolveData(v.eval, model, undefined, 'quantize --eval') : undefined;
  const test = evalSet ? (evalSet.test ?? evalSet.train) : data.test;
  const { model: qat, report } = await quantizeAwareTraining(model, data.train, {
    calib,
    ranges: qatRanges(v['qat-ranges']),
    static: { ...job.options, equalize: job.options?.equalize, biasCorrection: job.options?.biasCorrection },
    train: {
      epochs: numberFlag(v.epochs, '--epochs', { int: true, min: 1 }) ?? 1,
      batchSize: 64,
      lr: numberFlag(v.lr, '--lr', { min: 0 }) ?? 1e-4,
      dims: job.dims,
      shapes: job.shapes,
    },
    test,
    testSource: v.eval ? v.eval : `${v.qat} (test)`,
    onProgress: progressLines(io, v.quiet),
  });
  saveModel(qat, output);
  if (v.json) {
    io.stdout(`${JSON.stringify({ output, ...report })}\n`);
    return 0;
  }
  const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  const lines = [
    `quantization-aware training: static int8, then ${report.epochs} epoch(s) with ${report.weights} weights through fake quantization`,
  ];
  if (report.qat)
    lines.push(
      `  accuracy on ${report.samples} samples of ${report.source}: float ${pct(report.floatAccuracy)}, post-training int8 ${pct(report.ptq?.accuracy)}, QAT int8 ${pct(report.qat.accuracy)}`,
      `  output cosine against float: post-training ${report.ptq!.cosine.toFixed(4)}, QAT ${report.qat.cosine.toFixed(4)}`,
    );
  lines.push(`→ ${output} (QDQ int8)`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

/** The shared model-input and timing flags as the job's fields. */
function modelInputs(
  v: Parameters<typeof parseModelInputs>[0] & Parameters<typeof parseTiming>[0] & { 'no-latency'?: boolean },
): Partial<QuantizeJob> {
  const inputs = parseModelInputs(v);
  const { batchSizes, runs, warmup } = parseTiming(v);
  return {
    dims: Object.fromEntries(inputs.dims),
    shapes: Object.fromEntries(inputs.shapes),
    values: Object.fromEntries(inputs.values),
    batchSizes,
    latency: v['no-latency'] ? false : { runs, warmup, threads: inputs.threads, provider: inputs.provider },
  };
}

/** --reduce-range / --no-reduce-range; neither: the quantizer's default for this CPU (quantize/common.ts). */
function reduceRangeFlag(on: boolean | undefined, off: boolean | undefined): boolean | undefined {
  if (on && off)
    throw badInput(
      '--reduce-range and --no-reduce-range contradict each other; give one (neither: 7-bit weights exactly where this CPU needs them)',
    );
  return on ? true : off ? false : undefined;
}
