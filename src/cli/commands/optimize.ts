/** `hone optimize`: a thin wrapper over `optimizeModel`, OUT_DIR (written all or nothing) and the text report. */
import type { Command } from '../command.js';
import { numberFlag, parseFlags, progressLines, quietFlag, quietHelp } from '../command.js';
import { badInput } from '../../errors.js';
import { MODEL_INPUT_HELP, TIMING_HELP, modelInputFlags, parseModelInputs, parseTiming, timingFlags } from '../model-flags.js';
import { abortOnSignals, interruptExitCode } from '../tune/interrupt.js';
import {
  checkOutDir,
  DEFAULT_MAX_DROP,
  optimizeModel,
  STUDY_FILE,
  writeOptimizeOutput,
  type OptimizeGoal,
  type OptimizeTarget,
} from '../../optimize/index.js';
import { optimizeText } from '../../report/optimize-text.js';
import { optimizeHtml } from '../../report/optimize-html.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `hone optimize MODEL -o OUT_DIR [options]

Finds the fastest (or smallest) form of a model that keeps its accuracy, and proves it: profiles the model,
builds candidates from the passes that apply (transformer fusions, Conv+BatchNorm folding, dynamic int8,
static int8 with --data, ONNX Runtime's offline optimization; float16 and int4 where the profile advises
them or --goal size), rejects those beyond the accuracy constraint on a few samples first, and times the
rest side by side with the baseline (ONNX Runtime fp32, the model as given, default session settings) in
the same run. Then Hone's tuner (TPE) searches, until the budget runs out, over the pipelines, their passes'
options (calibration method, per-channel, QDQ or QOperator…) and the session settings (intra-op threads,
graph level, execution mode and inter-op threads, memory arena and pattern, ORT fusions that can run slower
than the ops they replace; batch size for throughput),
each trial timed against the baseline. The best are confirmed side by side at the end, and the best is
kept only if it beats the baseline by more than the run's own noise. Transformed models are cached in
~/.cache/hone/passes. The zoo transformer at batch 8, sequence 128:
'hone optimize zoo:transformer -o transformer-opt --batch-size 8 --dim seq=128'.

Writes OUT_DIR/model.onnx (the chosen model; the model as given when nothing beat the baseline),
OUT_DIR/candidates.json (every candidate: passes, options, session settings, metrics, and measured,
rejected or skipped with the reason), OUT_DIR/report.json (the before/after numbers, the session options
to use, the profile's verdict) and OUT_DIR/report.html (the same as one page that opens offline: a
speed-versus-accuracy chart of every candidate with the constraint and the Pareto front, per-op time
before and after, every candidate's fate). When nothing meets the accuracy constraint, the candidate
closest to it is timed too and, if it beats the baseline, written as OUT_DIR/missed-goal.onnx, marked as
missing the goal (model.onnx stays the model as given). These are written all at once at the end: nothing
of them on an error or Ctrl-C. The search's study is kept in OUT_DIR/study.db as it goes, so that --resume continues it.

Options:
  -o, --output OUT_DIR      the output folder (required). An existing folder that is not the output of a
                            previous 'hone optimize' is refused unless --force
  --data DATA               calibration and evaluation data: .npy, .npz (arrays named after the model
                            inputs; labels in 'label'), a folder of .npy, or mnist (calibrates on the train
                            split, evaluates on the test split). Enables static int8; with labels the
                            accuracy drop is in accuracy points. Without it: data-free passes, fidelity
                            against the float model on seeded synthetic inputs
  --samples N               use at most N samples of the data (default 256 to calibrate, 1000 to evaluate)
  --goal G                  latency (default: the first batch size), throughput (items/s, over the batch
                            sizes: default 1,8,32), size (smallest model that meets the constraint)
  --target T                where the model will run: node (default: onnxruntime-node) or browser
                            (onnxruntime-web's WASM backend, every candidate timed in headless Chromium:
                            Debian's chromium, or HONE_CHROMIUM; the baseline has 1 thread, what a page
                            not served cross-origin isolated gets; threads and level are searched)
  --max-accuracy-drop X     most accuracy lost (accuracy points with labels, else 100·(1 − output cosine));
                            default ${DEFAULT_MAX_DROP}
  --budget T                time for the search: seconds, or 30s, 15m, 1h (default 15m). When it runs out
                            the best candidate so far is kept; candidates not tried are marked skipped.
                            The profile before and the final side-by-side confirmation come on top
  --trials N                most tuner trials after the screening (default 200): the search ends at N
                            trials or the budget, whichever comes first
  --force                   write into an OUT_DIR that is not a previous optimize output
  --resume                  continue the search kept in OUT_DIR/study.db by a previous run (interrupted or
                            not): its trials inform the sampler and its best are timed again; the same
                            model, data and flags are required
  --json                    print the report as one JSON object instead of the tables
${quietHelp(28)}

${TIMING_HELP}
${MODEL_INPUT_HELP}
Examples:
  hone optimize zoo:lenet5 -o lenet-opt --data mnist --budget 1m
  hone optimize zoo:transformer:layers=1,dModel=64,heads=2,ffn=128 -o tiny-opt --batch-size 8 --dim seq=32 --budget 1m
  hone optimize model.onnx -o model-opt --data calib.npz --goal throughput --batch-sizes 1,8 --budget 2m
  hone optimize zoo:transformer:layers=1,dModel=64,heads=2,ffn=128 -o web-opt --target browser --batch-size 1 --dim seq=32 --budget 1m
`;

const GOALS: readonly OptimizeGoal[] = ['latency', 'throughput', 'size'];

export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'search passes and runtime settings for the fastest model within an accuracy drop, proved side by side',
  help: HELP,
  async run(argv, io) {
    const { values: v, positionals } = parseFlags('optimize', argv, {
      output: { type: 'string', short: 'o' },
      data: { type: 'string' },
      samples: { type: 'string' },
      goal: { type: 'string' },
      target: { type: 'string' },
      'max-accuracy-drop': { type: 'string' },
      budget: { type: 'string' },
      trials: { type: 'string' },
      force: { type: 'boolean' },
      resume: { type: 'boolean' },
      json: { type: 'boolean' },
      ...modelInputFlags,
      ...timingFlags,
      ...quietFlag,
    });
    if (positionals.length !== 1)
      throw badInput(
        `optimize needs exactly one MODEL (a .onnx path or zoo:NAME), got ${positionals.length}; e.g. 'hone optimize zoo:lenet5 -o lenet-opt --data mnist'`,
      );
    const outDir = v.output;
    if (!outDir) throw badInput('optimize needs an output folder: add -o OUT_DIR');
    checkOutDir(outDir, v.force);
    const goal = v.goal ?? 'latency';
    if (!(GOALS as readonly string[]).includes(goal)) throw badInput(`--goal must be one of ${GOALS.join(', ')}, got '${goal}'`);
    const target = v.target ?? 'node';
    if (target !== 'node' && target !== 'browser') throw badInput(`--target must be node or browser, got '${target}'`);
    const inputs = parseModelInputs(v);
    const timing = parseTiming(v);
    // The search's study lives in OUT_DIR from the start, so that an interrupted run can be resumed.
    const studyPath = join(outDir, STUDY_FILE);
    if (v.resume && !existsSync(studyPath))
      throw badInput(`--resume: ${outDir} holds no study of a previous run (${STUDY_FILE}); drop --resume to start one`);
    const interrupt = abortOnSignals();
    let result: Awaited<ReturnType<typeof optimizeModel>>;
    try {
      result = await optimizeModel({
        model: positionals[0]!,
        data: v.data,
        samples: numberFlag(v.samples, '--samples', { int: true, min: 1 }),
        goal: goal as OptimizeGoal,
        target: target as OptimizeTarget,
        maxAccuracyDrop: numberFlag(v['max-accuracy-drop'], '--max-accuracy-drop', { min: 0 }),
        budget: v.budget === undefined ? undefined : parseDuration(v.budget, '--budget'),
        maxTrials: numberFlag(v.trials, '--trials', { int: true, min: 0 }),
        dims: Object.fromEntries(inputs.dims),
        shapes: Object.fromEntries(inputs.shapes),
        values: Object.fromEntries(inputs.values),
        threads: inputs.threads || undefined,
        provider: inputs.provider,
        batchSizes: timing.batchSizes,
        runs: timing.runs,
        warmup: timing.warmup,
        studyPath,
        resume: v.resume,
        onProgress: progressLines(io, v.quiet),
        signal: interrupt.signal,
      });
    } catch (e) {
      if (!interrupt.signal.aborted) throw e;
      io.stderr(
        `hone: optimize interrupted (${String(interrupt.signal.reason)}); no model or report was written. The trials so far are in ${studyPath}: run the same command with --resume to continue\n`,
      );
      return interruptExitCode(interrupt.signal.reason);
    } finally {
      interrupt.release();
    }
    writeOptimizeOutput(outDir, result, v.force, optimizeHtml(result.report, result.candidates));
    io.stdout(
      v.json ? `${JSON.stringify({ output: outDir, ...result.report })}\n` : optimizeText(result.report, result.candidates, outDir),
    );
    return 0;
  },
};

/** '900', '900s', '15m', '1.5h' → seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(s|m|h)?$/.exec(text.trim());
  if (!m) throw badInput(`${flag} must be a duration such as 90, 90s, 15m or 1h, got '${text}'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}
