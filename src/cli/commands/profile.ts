/** `hone profile`: a thin wrapper over `profileModel` and the text/JSON/HTML reports. */
import type { Command } from '../command.js';
import { checkWritable, quietHelp, parseFlags, progressLines, quietFlag } from '../command.js';
import { badInput } from '../../errors.js';
import { profileModel } from '../../profile/profile.js';
import { MODEL_INPUT_HELP, TIMING_HELP, modelInputFlags, parseModelInputs, parseTiming, timingFlags } from '../model-flags.js';
import { profileText } from '../../report/profile-text.js';
import { profileHtml } from '../../report/profile-html.js';
import { writeFileAtomic } from '../../util/fs.js';
import { profileTrainingStep, type TrainProfile } from '../../train/index.js';
import { bytes, ms, pct, si, table } from '../../report/format.js';
import { parseList, parseLoss, parseOptimizer, parseTrainInputs, resolveData, resolveModel } from './train-args.js';
import type { Io } from '../command.js';

/** Profiled training steps under --train when --runs is not given (a step runs the model about three times over). */
const TRAIN_STEPS = 10;

const HELP = `hone profile MODEL [options]

Measures where a model spends its time and memory, and what to do about it: parameters, MACs and FLOPs
per op type (static), latency p50/p90/p99 and throughput per batch size, peak memory, per-op time share
from an ONNX Runtime trace, and a bottleneck verdict (compute, memory or overhead) with ranked advice.
Without --threads, the first batch size is timed again at one thread per core: ORT's default is its own
count of physical cores, which on some machines is fewer, and the advice says so when it costs time.

MODEL is a path to an .onnx file, or zoo:NAME for a built-in model (zoo:lenet5, zoo:mlp, zoo:resnet,
zoo:mobilenet, zoo:transformer; options as zoo:mlp:hidden=128-64; 'hone zoo list' shows them all, and
'hone zoo export NAME -o FILE.onnx' writes one as a file).

Options:
  --json                    print one JSON object instead of the tables
  --html FILE               also write a self-contained HTML report (charts inline, works offline)
  --no-dynamic              static analysis only: do not run the model
  --refresh-peaks           measure the machine's peak FLOP/s and bandwidth again (cached in ~/.cache/hone;
                            measure on an idle machine: the verdict compares the model against them)
  --train                   profile a training step instead (what 'hone train' runs): kernel time per op
                            type split into forward and backward, the optimizer's update, the kernels ORT
                            ran (fused, NCHWc, grouped convolutions), their shapes and GB/s (data movement
                            far below the memory bandwidth is named) and the step's verdict. --batch-size B
                            (default 64), --runs N profiled steps (default ${TRAIN_STEPS}), --warmup N; a model
                            Hone cannot train gets the inference profile and one line saying why
  --data DATA               with --train: 'mnist' or an .npz as 'hone train' takes (default: random data)
  --optimizer NAME          with --train: sgd | adam | adamw (default adam)
  --loss NAME               with --train: cross-entropy (default) | mse | l1 | kd
  --freeze A,B              with --train: initializers to keep fixed (as 'hone train' takes them)
${quietHelp(28)}

${TIMING_HELP}
${MODEL_INPUT_HELP}
Examples:
  hone profile zoo:lenet5
  hone profile zoo:mlp --batch-sizes 1,32 --runs 50
  hone profile zoo:transformer --dim seq=64 --batch-sizes 1,8 --html profile.html
  hone profile model.onnx --dim seq=128 --batch-sizes 1,8
  hone profile yolo.onnx --shape images=1x3x640x640 --json
  hone profile silero_vad.onnx --dim input_dim0=1 --dim input_dim1=512 --dim state_dim1=1 --input sr=16000
  hone profile --train zoo:lenet5 --data mnist --batch-size 64
`;

export const profileCommand: Command = {
  name: 'profile',
  summary: 'latency, memory, per-op cost and the bottleneck of a model, with advice',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags('profile', argv, {
      ...modelInputFlags,
      ...timingFlags,
      json: { type: 'boolean' },
      html: { type: 'string' },
      'no-dynamic': { type: 'boolean' },
      'refresh-peaks': { type: 'boolean' },
      train: { type: 'boolean' },
      data: { type: 'string' },
      optimizer: { type: 'string' },
      loss: { type: 'string' },
      freeze: { type: 'string' },
      ...quietFlag,
    });
    if (positionals.length !== 1) {
      throw badInput(
        `profile needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone profile zoo:lenet5'`,
      );
    }
    const inputs = parseModelInputs(values);
    const timing = parseTiming(values);
    let refused: string | undefined;
    if (values.train) {
      const outcome = await profileTrain(positionals[0]!, values, timing, io);
      if (outcome.profile) {
        io.stdout(values.json ? `${JSON.stringify(outcome.profile)}\n` : trainProfileText(outcome.profile));
        return 0;
      }
      refused = outcome.refused;
    } else {
      const trainOnly = (['data', 'optimizer', 'loss', 'freeze'] as const).find((f) => values[f] !== undefined);
      if (trainOnly) throw badInput(`--${trainOnly} is for profiling a training step; add --train`);
    }
    if (values.html) checkWritable(values.html);
    const report = await profileModel(positionals[0]!, {
      ...timing,
      threads: inputs.threads,
      provider: inputs.provider,
      shapes: inputs.shapes,
      dims: inputs.dims,
      values: inputs.values,
      dynamic: !values['no-dynamic'],
      refreshPeaks: values['refresh-peaks'],
      onProgress: progressLines(io, values.quiet),
    });
    if (values.html) writeFileAtomic(values.html, profileHtml(report));
    if (values.json) io.stdout(`${JSON.stringify(refused ? { ...report, training: { refused } } : report)}\n`);
    else io.stdout(`${refused ? `training  not profiled: ${refused}; the inference profile follows\n\n` : ''}${profileText(report)}`);
    return 0;
  },
};

/**
 * `--train`: the training step profiled with train's flags for data, optimizer and loss, or why the model
 * cannot be trained (then the caller profiles inference). The batch size is one: --batch-size or --batch-sizes B.
 */
async function profileTrain(
  spec: string,
  values: {
    data?: string;
    optimizer?: string;
    loss?: string;
    freeze?: string;
    runs?: string;
    html?: string;
    'no-dynamic'?: boolean;
    'refresh-peaks'?: boolean;
    quiet?: boolean;
    shape?: string[];
    dim?: string[];
    input?: string[];
    threads?: string;
    provider?: string;
  },
  timing: ReturnType<typeof parseTiming>,
  io: Io,
) {
  if (values['no-dynamic']) throw badInput('--train runs training steps; drop --no-dynamic (static analysis alone is for inference)');
  if (values.html) throw badInput('--html is not available with --train; use --json for every number of the training profile');
  if ((timing.batchSizes?.length ?? 0) > 1)
    throw badInput(`--train profiles one batch size, got --batch-sizes ${timing.batchSizes!.join(',')}; give --batch-size B`);
  const model = resolveModel(spec, 'profile');
  const inputs = parseTrainInputs({ ...values, 'batch-size': timing.batchSizes?.[0]?.toString() }, model);
  return profileTrainingStep(model, {
    batchSize: inputs.batchSize,
    data: values.data ? (await resolveData(values.data, model, undefined, 'profile', inputs.values)).train : undefined,
    optimizer: parseOptimizer({ optimizer: values.optimizer }),
    loss: parseLoss({ loss: values.loss }),
    frozen: parseList(values.freeze),
    threads: inputs.threads,
    provider: inputs.provider,
    dims: inputs.dims,
    shapes: inputs.shapes,
    values: inputs.values,
    steps: values.runs === undefined ? TRAIN_STEPS : timing.runs,
    warmup: timing.warmup,
    source: spec,
    refreshPeaks: values['refresh-peaks'],
    onProgress: progressLines(io, values.quiet),
  });
}

/** The training profile as text: the step, where it goes (forward, backward, optimizer), the kernels ORT ran, the verdict. */
export function trainProfileText(p: TrainProfile): string {
  const out: string[] = [];
  const s = p.settings;
  const st = p.step;
  const f = p.forms;
  out.push(
    `model     ${p.model.source}  (training step: ${p.model.stepNodes} nodes built, ${p.model.kernels ? `${p.model.kernels} kernels as ORT ran them` : 'the graph ORT ran not saved'}; ${si(p.model.params)} params)`,
  );
  out.push(
    `settings  batch ${s.batchSize}${s.runsPerStep > 1 ? ` in ${s.runsPerStep} runs of ${s.microBatch}` : ''}, ${s.optimizer}, ${s.loss} loss, ${s.data} data; ${s.provider}, ${s.threads || 'default'} threads; ${s.steps} profiled steps after ${s.warmup} warm-up, and ${s.steps} more unprofiled`,
  );
  out.push(
    `step      ${ms(st.meanMs)} ms mean (p50 ${ms(st.p50Ms)} ms, robust CV ${pct(st.cv)}): ${si(st.samplesPerSec)} samples/s; under profiling ${ms(st.profiled.meanMs)} ms, ${si(st.profiled.samplesPerSec)} samples/s`,
  );
  const part = (x: number) => pct(st.meanMs > 0 ? x / st.meanMs : 0);
  out.push(
    `          data ${part(st.dataMs)}, ORT run ${part(st.graphMs)} (under profiling: kernels ${ms(st.profiled.kernelMs)} ms, ORT overhead ${ms(st.profiled.ortOverheadMs)} ms), optimizer ${part(st.optimizerMs)}, rest of the update ${part(st.updateMs)}, loop ${part(st.otherMs)}`,
  );
  if (st.inputBound) out.push(`          ${st.inputBound}`);
  const ph = p.phases;
  out.push(
    `passes    forward ${pct(ph.forward.share)} (${ms(ph.forward.ms)} ms), backward ${pct(ph.backward.share)} (${ms(ph.backward.ms)} ms), optimizer ${pct(ph.optimizer.share)} (${ms(ph.optimizer.ms)} ms) of kernel + update time per step`,
  );
  out.push(
    `kernels   fused ${f.fused.nodes} (${pct(f.fused.share)}), NCHWc ${f.nchwc.nodes} (${pct(f.nchwc.share)}) with ${f.reorder.nodes} reorders (${pct(f.reorder.share)}), grouped convolutions ${f.grouped.nodes} (${pct(f.grouped.share)})`,
  );
  out.push(
    `static    per step: ${si(p.static.flops)}FLOPs, ${bytes(p.static.bytesMoved)} moved (the update ${si(p.static.optimizerFlops)}FLOPs, ${bytes(p.static.optimizerBytes)}), ${bytes(p.static.activationBytes)} of activations per run`,
  );
  if (p.static.note) out.push(`          note: ${p.static.note}`);
  if (p.static.unknownOps.length) out.push(`          ops without a cost rule (counted as 0): ${p.static.unknownOps.join(', ')}`);
  const mc = p.machine;
  out.push(
    `machine   ${si(mc.peakFlops)}FLOP/s fp32 MatMul, ${si(mc.bandwidth)}B/s memory read, ${si(mc.cacheBandwidth)}B/s cache read${mc.peaksCheck ? ` (peaks ${mc.peaksCheck})` : ''}`,
  );
  out.push('');
  // The op types that take the most time; the rest summed in one line (--json has every one).
  const shown = p.kernels.slice(0, 20);
  const rest = p.kernels.slice(20);
  out.push(
    table(
      ['op type (as ORT ran it)', 'fwd nodes', 'fwd ms', 'bwd nodes', 'bwd ms', 'ms/step', 'share'],
      [
        ...shown.map((k) => [
          k.kernel,
          String(k.forwardNodes),
          ms(k.forwardMs),
          String(k.backwardNodes),
          ms(k.backwardMs),
          ms(k.forwardMs + k.backwardMs),
          pct(k.share),
        ]),
        ...(rest.length
          ? [
              [
                `${rest.length} more op types`,
                String(rest.reduce((a, k) => a + k.forwardNodes, 0)),
                ms(rest.reduce((a, k) => a + k.forwardMs, 0)),
                String(rest.reduce((a, k) => a + k.backwardNodes, 0)),
                ms(rest.reduce((a, k) => a + k.backwardMs, 0)),
                ms(rest.reduce((a, k) => a + k.forwardMs + k.backwardMs, 0)),
                pct(rest.reduce((a, k) => a + k.share, 0)),
              ],
            ]
          : []),
        [`${s.optimizer} update (WebAssembly SIMD)`, '', '', '', '', ms(ph.optimizer.ms), pct(ph.optimizer.share)],
      ],
      [false, true, true, true, true, true, true],
    ),
  );
  const rate = (b: number) => (b > 0 ? (b / 1e9).toFixed(1) : '');
  if (p.topNodes.length) {
    out.push('');
    out.push(
      table(
        ['top kernels', 'op type', 'pass', 'shapes (data in → out)', 'ms', 'GB/s', 'share'],
        p.topNodes.slice(0, 10).map((n) => [n.name, n.kernel, n.phase, n.shape, ms(n.ms), rate(n.bytesPerSec), pct(n.share)]),
        [false, false, false, false, true, true, true],
      ),
    );
  }
  if (p.byShape.length) {
    out.push('');
    out.push(
      table(
        ['op type by shapes (data in → out)', 'nodes', 'ms/step', 'GB/s', 'share'],
        p.byShape.slice(0, 10).map((g) => [`${g.kernel} ${g.shape}`, String(g.nodes), ms(g.ms), rate(g.bytesPerSec), pct(g.share)]),
        [false, true, true, true, true],
      ),
    );
  }
  out.push('', `verdict   ${p.bottleneck.summary}`);
  for (const w of p.warnings) out.push(`note      ${w}`);
  return `${out.join('\n')}\n`;
}
