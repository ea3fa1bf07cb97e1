import { writeFileAtomic } from '../../util/fs.js';
import { lrFind, lrFindHtml } from '../../train/index.js';
import type { Command } from '../command.js';
import { checkWritable, numberFlag, parseFlags, progressLines, quietFlag, quietHelp } from '../command.js';
import { commonFlags, parseTrainCommon, parseTrainInputs, resolveData, resolveModel, parseReadFlags } from './train-args.js';
import { MODEL_INPUT_HELP } from '../model-flags.js';

const HELP = `hone lr-find — LR range test: sweep the learning rate exponentially and suggest one

Usage: hone lr-find --model MODEL --data DATA [options]

Trains for --steps steps while the learning rate grows from --start to --end, smooths the loss curve and
suggests the rate where the loss falls fastest. Stops early when the loss diverges.

Options:
  --start LR --end LR      sweep range (default 1e-7 to 10)
  --steps N                steps (default 200)
  --batch-size B, --optimizer NAME, --loss NAME, --freeze A,B, --seed S, --limit N (as in hone train)
  --html FILE              write the curve as a self-contained HTML page (inline SVG)
  --json                   one JSON object: suggestedLr, lrs, losses, smoothed
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
    const r = await lrFind(model, data.train, {
      batchSize: inputs.batchSize,
      ...parseTrainCommon(values, inputs),
      startLr: numberFlag(values.start, '--start', { min: 0 }),
      endLr: numberFlag(values.end, '--end', { min: 0 }),
      steps: numberFlag(values.steps, '--steps', { int: true, min: 10 }),
      // A line every tenth of the sweep: the learning rate reached and the smoothed loss there.
      onProgress:
        progress &&
        ((p) => {
          if (p.step % Math.max(1, Math.round(p.steps / 10)) === 0)
            progress(`step ${p.step}/${p.steps}: lr ${p.lr.toExponential(2)}, loss ${p.smoothed.toFixed(4)}`);
        }),
    });
    if (values.html) writeFileAtomic(values.html, lrFindHtml(r));
    if (values.json) io.stdout(`${JSON.stringify(r)}\n`);
    else
      io.stdout(
        `suggested learning rate: ${r.suggestedLr.toExponential(2)} (${r.lrs.length} steps${r.stoppedEarly ? ', stopped when the loss diverged' : ''})${values.html ? ` → ${values.html}` : ''}\n`,
      );
    return 0;
  },
};
