/** `hone profile`: a thin wrapper over `profileModel` and the text/JSON/HTML reports. */
import type { Command } from '../command.js';
import { quietHelp, parseFlags, progressLines, quietFlag } from '../command.js';
import { badInput } from '../../errors.js';
import { profileModel } from '../../profile/profile.js';
import { MODEL_INPUT_HELP, TIMING_HELP, modelInputFlags, parseModelInputs, parseTiming, timingFlags } from '../model-flags.js';
import { profileText } from '../../report/profile-text.js';
import { profileHtml } from '../../report/profile-html.js';
import { writeFileAtomic } from '../../util/fs.js';

const HELP = `hone profile MODEL [options]

Measures where a model spends its time and memory, and what to do about it: parameters, MACs and FLOPs
per op type (static), latency p50/p90/p99 and throughput per batch size, peak memory, per-op time share
from an ONNX Runtime trace, and a bottleneck verdict (compute, memory or overhead) with ranked advice.

MODEL is a path to an .onnx file, or zoo:NAME for a built-in model (zoo:lenet5, zoo:mlp, zoo:resnet,
zoo:mobilenet, zoo:transformer; options as zoo:mlp:hidden=128-64; 'hone zoo list' shows them all, and
'hone zoo export NAME -o FILE.onnx' writes one as a file).

Options:
  --json                    print one JSON object instead of the tables
  --html FILE               also write a self-contained HTML report (charts inline, works offline)
  --no-dynamic              static analysis only: do not run the model
  --refresh-peaks           measure the machine's peak FLOP/s and bandwidth again (cached in ~/.cache/hone;
                            measure on an idle machine: the verdict compares the model against them)
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
      ...quietFlag,
    });
    if (positionals.length !== 1) {
      throw badInput(
        `profile needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone profile zoo:lenet5'`,
      );
    }
    const inputs = parseModelInputs(values);
    const timing = parseTiming(values);
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
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : profileText(report));
    return 0;
  },
};
