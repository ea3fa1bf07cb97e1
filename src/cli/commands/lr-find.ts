import { writeFileAtomic } from '../../util/fs.js';
import { LR_FIND_DEFAULTS, lrFind, type LossSpec, type OptimizerSpec } from '../../train/index.js';
import { lrFindHtml, type LrFindReport, type LrFindRun } from '../../report/lr-find-html.js';
import type { Command } from '../command.js';
import { checkWritable, numberFlag, parseFlags, progressLines, quietFlag, quietHelp } from '../command.js';
import { commonFlags, parseTrainCommon, parseTrainInputs, resolveData, resolveModel, parseReadFlags } from './train-args.js';
import { MODEL_INPUT_HELP } from '../model-flags.js';
import { coreThreads } from '../../runtime/cpu.js';

const HELP = `hone lr-find — LR range test: sweep the learning rate exponentially and suggest one

Usage: hone lr-find --model MODEL --data DATA [options]

Trains for --steps steps while the learning rate grows from --start to --end, smooths the loss curve and
suggests the rate where the loss falls fastest. Stops early when the loss diverges.

Options:
  --start LR --end LR      sweep range (default 1e-7 to 10)
  --steps N                steps (default 200)
  --batch-size B, --optimizer NAME, --loss NAME, --freeze A,B, --seed S, --limit N (as in hone train)
  --html FILE              write a self-contained HTML page (inline SVG, no script): raw and smoothed loss
                           against the learning rate, the suggestion marked, the model and settings named
  --json                   one JSON object: suggestedLr, lrs, losses, smoothed, and run (model, data,
                           settings)
${quietHelp(27)}

${MODEL_INPUT_HELP}
Examples:
  hone lr-find --model zoo:lenet5 --data mnist --steps 150 --html lr.html
  hone lr-find --model zoo:mlp --data mnist --optimizer sgd --momentum 0.9 --json
`;

export const lrFindCommand: Command = {
  name: 'lr-find',
  summary: 'LR range test: exponential learning-rate sweep, suggested learning rate, HTML plot',
  help: HELP,
  async run(argv, io) {
    const { values } = parseFlags(
      'lr-find',
      argv,
      {
        ...commonFlags,
        start: { type: 'string' },
        end: { type: 'string' },
        steps: { type: 'string' },
        html: { type: 'string' },
        ...quietFlag,
      },
      false,
    );
    if (values.html) checkWritable(values.html);
    const model = resolveModel(values.model, 'lr-find');
    const inputs = parseTrainInputs(values, model);
    const data = await resolveData(
      values.data,
      model,
      numberFlag(values.limit, '--limit', { int: true, min: 1 }),
      'lr-find',
      inputs.values,
      parseReadFlags(values),
    );
    const progress = progressLines(io, values.quiet);
    const common = parseTrainCommon(values, inputs);
    const sweep = {
      startLr: numberFlag(values.start, '--start', { min: 0 }),
      endLr: numberFlag(values.end, '--end', { min: 0 }),
      steps: numberFlag(values.steps, '--steps', { int: true, min: 10 }),
    };
    const r = await lrFind(model, data.train, {
      batchSize: inputs.batchSize,
      ...common,
      ...sweep,
      // A line every tenth of the sweep: the learning rate reached and the smoothed loss there.
      onProgress:
        progress &&
        ((p) => {
          if (p.step % Math.max(1, Math.round(p.steps / 10)) === 0)
            progress(`step ${p.step}/${p.steps}: lr ${p.lr.toExponential(2)}, loss ${p.smoothed.toFixed(4)}`);
        }),
    });
    const report: LrFindReport = { ...r, run: runInfo(values, inputs.batchSize, common, sweep, data.train.size) };
    if (values.html) writeFileAtomic(values.html, lrFindHtml(report));
    if (values.json) io.stdout(`${JSON.stringify(report)}\n`);
    else
      io.stdout(
        `suggested learning rate: ${r.suggestedLr.toExponential(2)} (${r.lrs.length} steps${r.stoppedEarly ? ', stopped when the loss diverged' : ''})${values.html ? ` → ${values.html}` : ''}\n`,
      );
    return 0;
  },
};

/** The model, data and settings of the sweep, for the page and --json to name. */
function runInfo(
  values: { model?: string; data?: string; augment?: string },
  batchSize: number,
  common: ReturnType<typeof parseTrainCommon>,
  sweep: { startLr?: number; endLr?: number; steps?: number },
  samples: number,
): LrFindRun {
  const start = sweep.startLr ?? LR_FIND_DEFAULTS.startLr;
  const end = sweep.endLr ?? LR_FIND_DEFAULTS.endLr;
  const settings: Record<string, string> = {
    'requested sweep': `${start} → ${end} over ${sweep.steps ?? LR_FIND_DEFAULTS.steps} steps`,
    'batch size': String(batchSize),
    optimizer: optimizerText(common.optimizer),
    loss: lossText(common.loss),
    seed: String(common.seed),
    runtime: `${common.provider ?? 'cpu'} provider, intra-op threads ${common.threads || `${coreThreads()} (one per core)`}`,
  };
  if (common.frozen?.length) settings.frozen = common.frozen.join(', ');
  if (values.augment) settings.augment = values.augment;
  const fixed = Object.entries({ ...common.dims, ...common.shapes }).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('x') : v}`);
  if (fixed.length) settings['input dims'] = fixed.join(', ');
  return { model: values.model ?? '', data: values.data ?? '', samples, settings };
}

/** The optimizer as its flags set it: 'sgd, momentum 0.9, nesterov, weight decay 0.0001'. */
function optimizerText(o: OptimizerSpec): string {
  const parts: string[] = [o.kind];
  if (o.kind === 'sgd') {
    if (o.momentum) parts.push(`momentum ${o.momentum}`);
    if (o.nesterov) parts.push('nesterov');
  }
  if (o.weightDecay) parts.push(`weight decay ${o.weightDecay}`);
  return parts.join(', ');
}

/** The loss as its flags set it: 'cross-entropy, label smoothing 0.1'. */
function lossText(l: LossSpec): string {
  if (l.kind === 'cross-entropy' && l.labelSmoothing) return `${l.kind}, label smoothing ${l.labelSmoothing}`;
  if (l.kind === 'kd' || l.kind === 'distill') return `${l.kind}, temperature ${l.temperature}`;
  return l.kind;
}
