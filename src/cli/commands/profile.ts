/** `hone profile`: a thin wrapper over `profileModel` and the text/JSON/HTML reports. */
import type { Command } from '../command.js';
import { numberFlag, parseFlags } from '../command.js';
import { badInput } from '../../errors.js';
import { profileModel } from '../../profile/profile.js';
import { parseDimFlags, parseShapeFlags } from '../../runtime/inputs.js';
import { profileText } from '../../report/profile-text.js';
import { profileHtml } from '../../report/profile-html.js';
import { writeFileAtomic } from '../../util/fs.js';

const HELP = `hone profile MODEL [options]

Measures where a model spends its time and memory, and what to do about it: parameters, MACs and FLOPs
per op type (static), latency p50/p90/p99 and throughput per batch size, peak memory, per-op time share
from an ONNX Runtime trace, and a bottleneck verdict (compute, memory or overhead) with ranked advice.

MODEL is a path to an .onnx file, or zoo:NAME for a built-in model (zoo:lenet5, zoo:mlp, zoo:resnet,
zoo:mobilenet, zoo:transformer; options as zoo:mlp:hidden=128-64).

Options:
  --batch-sizes 1,8   batch sizes to measure (default 1,8 when the batch dim is symbolic, else the model's)
  --runs N            timed runs per batch size (default 20)
  --warmup N          untimed runs first (default 3)
  --threads N         intra-op threads (default: one per core)
  --provider NAME     execution provider: cpu (default), cuda, tensorrt, webgpu
  --shape NAME=DIMS   fix an input's shape, e.g. --shape images=1x3x640x640 (repeatable)
  --dim NAME=N        fix a symbolic dim, e.g. --dim seq=128 (repeatable)
  --json              print one JSON object instead of the tables
  --html FILE         also write a self-contained HTML report (charts inline, works offline)
  --no-dynamic        static analysis only: do not run the model
  --refresh-peaks     measure the machine's peak FLOP/s and bandwidth again (cached in ~/.cache/hone;
                      measure on an idle machine: the verdict compares the model against them)

Examples:
  hone profile zoo:lenet5
  hone profile zoo:mlp --batch-sizes 1,32 --runs 50
  hone profile zoo:transformer --dim seq=64 --batch-sizes 1,8 --html profile.html
  hone profile model.onnx --dim seq=128 --batch-sizes 1,8
  hone profile yolo.onnx --shape images=1x3x640x640 --json
`;

export const profileCommand: Command = {
  name: 'profile',
  summary: 'latency, memory, per-op cost and the bottleneck of a model, with advice',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parseFlags('profile', argv, {
      'batch-sizes': { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      provider: { type: 'string' },
      shape: { type: 'string', multiple: true },
      dim: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      html: { type: 'string' },
      'no-dynamic': { type: 'boolean' },
      'refresh-peaks': { type: 'boolean' },
    });
    if (positionals.length !== 1) {
      throw badInput(`profile needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone profile zoo:lenet5'`);
    }
    const report = await profileModel(positionals[0]!, {
      batchSizes: parseBatchSizes(values['batch-sizes']),
      runs: numberFlag(values.runs, '--runs', { int: true, min: 1 }),
      warmup: numberFlag(values.warmup, '--warmup', { int: true, min: 0 }),
      threads: numberFlag(values.threads, '--threads', { int: true, min: 1 }),
      provider: values.provider,
      shapes: parseShapeFlags(values.shape ?? []),
      dims: parseDimFlags(values.dim ?? []),
      dynamic: !values['no-dynamic'],
      refreshPeaks: values['refresh-peaks'],
      onProgress: io.isTTY && !values.json ? (m) => io.stderr(`… ${m}\n`) : undefined,
    });
    if (values.html) writeFileAtomic(values.html, profileHtml(report));
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : profileText(report));
    return 0;
  },
};

function parseBatchSizes(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) {
    throw badInput(`--batch-sizes '${v}' is not a comma-separated list of integers >= 1; write it like --batch-sizes 1,8`);
  }
  return parts.map(Number);
}
