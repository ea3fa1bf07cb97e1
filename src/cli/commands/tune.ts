import { badInput } from '../../errors.js';
import { studyHtml } from '../../report/study-html.js';
import { writeFileAtomic } from '../../util/fs.js';
import { checkWritable, parseFlags, numberFlag, quietFlag, quietHelp, shellWord, type Command, type Io } from '../command.js';
import { applyOverrides, readTuneConfigFile, resolveTuneConfig, type TuneConfig, type TuneOverrides } from '../tune/config.js';
import { GRID_POINTS } from '../tune/factory.js';
import { abortOnSignals, interruptExitCode } from '../tune/interrupt.js';
import { runTune, type TuneRun } from '../tune/run.js';
import { formatReport, formatValue } from '../tune/summary.js';
import { checkModelOutput, writeBestModel, type WrittenModel } from '../tune/train-output.js';
import { TRAIN_METRICS, TRAIN_PARAMS, TRAIN_DEFAULTS } from '../tune/train-spec.js';
import { HoneError } from '../../errors.js';
import { storedConfig, tuneWorkerMain } from '../tune/worker-process.js';
import { openStorage, storageKind } from '../../tune/storage/open.js';

const HELP = `hone tune — tune hyperparameters of any program, of a training run, or of a benchmark, with Hone's tuner

Usage:
  hone tune CONFIG.yaml|CONFIG.json [options]
  hone tune --objective bench:NAME --trials N [options]
  hone tune --objective train:MODEL --data DATA --trials N [-o BEST.onnx] [options]
  hone tune --resume --study NAME --storage URL [--trials N]

Options:
  --objective bench:NAME   a built-in benchmark (branin, hartmann6, rosenbrock4, ackley5, levy5) instead of a config
  --objective train:MODEL  train MODEL (zoo:NAME[:opts] or a .onnx file) with Hone's trainer in each trial
                           and tune its training; see "The train objective" below
  --study NAME             study name (default: config 'study', else the config file's name, else bench-NAME
                           or train-MODEL)
  --storage URL            memory (default) | sqlite:PATH | PATH.db | postgresql://user@host:port/db[?schema=S]
  --workers K              K trials at once: K processes on sqlite/postgresql (sharing the study);
                           K concurrent loops in this process on memory storage
  --trials N               the study's total number of trials (earlier runs count)
  --timeout S              start no trial after S seconds
  --sampler NAME           auto (default) | tpe | random | grid | qmc | gp | cmaes | nsga2; auto picks per
                           trial: TPE and the GP by how well each one's proposals land on a small numeric
                           space, and once 5 in a row improve nothing, the GP in a trust region around the
                           best ('local'); TPE for categorical or conditional spaces, multi-objective TPE for
                           several objectives (each trial's proposer: system attribute auto:sampler)
                           (options in the config: sampler: { name, seed, options }; grid takes its values
                           from 'space' or a benchmark's domain — choices, ints, floats with a step, and
                           --grid-points values of a float without one — or from options.space)
  --grid-points N          values per float without a step on a grid (default ${GRID_POINTS}; log-spaced on a
                           log scale; options.points in the config)
  --seed N                 sampler seed (worker i uses N + i)
  --direction D            minimize | maximize
  --pruner NAME            none (default) | median | percentile | successive-halving | hyperband (options
                           in the config: pruner: { name, options })
  --warm-start STUDY[@STORAGE]
                           a new study's first trials re-run the best of an earlier study (its storage
                           defaults to --storage), their params mapped onto this space: a parameter it
                           lacks or a choice it lacks is dropped (sampled), a number outside its range
                           clipped into it
  --warm-start-top K       how many of its best trials (default 5)
  --resume                 continue an existing study (its stored config; flags above override)
  --html FILE              at the end write the study's page, the one 'hone study show --html' writes:
                           history, importance, Pareto front, learning curves, every trial (also after
                           an interrupt, once a trial completed); checked before the first trial
  --json                   print one JSON object: bestValue, bestParams, nTrials, states, importance, history
                           (and model: { path, trial, values } with -o, html: FILE with --html)
${quietHelp(27)}

Train objective (--objective train:MODEL, or objective: { train: … } in a config):
  --data DATA              mnist (built in) or an .npz with the model's inputs and 'label'
  --epochs N               epochs per trial (default ${TRAIN_DEFAULTS.epochs}); each reports to the pruner
  --metric M[,M2]          ${TRAIN_METRICS.join(' | ')} (default accuracy); accuracy and loss are measured
                           on the validation split (${TRAIN_DEFAULTS.validation * 100}% of the data); time is the seconds the
                           training steps took over all epochs (the trainer's per-epoch times: not building
                           the model, its training graph and session, nor validating); params is the
                           model's parameter count; latency is ms per inference of the trained model at batch
                           1 on this machine (timed after training); two or more make a multi-objective study
                           (a Pareto front), which no pruner can prune
  --limit N                train on the first N samples only
  -o BEST.onnx             write the best trial's trained model here at the end (with several metrics:
                           the Pareto-front trial best in the first); refused if the file exists
  --force                  replace an existing -o file

Ctrl-C (or SIGTERM) stops the whole run — worker processes and the commands they run: running trials are
failed as interrupted and re-queued with the same params, and hone tune says what the storage kept and
prints the --resume command that continues the study (exit code 130, or 143 for SIGTERM).

Config (YAML or JSON):
  study: lr-search
  direction: minimize                 # or directions: [minimize, maximize]
  sampler: { name: tpe, seed: 1 }
  pruner: median                      # none | median | percentile | successive-halving | hyperband
  trials: 50
  storage: sqlite:lr.db
  workers: 2
  heartbeat: { interval: 5, grace: 30, retries: 1 }   # crashed workers' trials fail after grace; retried
  warm_start: { study: lr-v1, storage: sqlite:old.db, top: 5 }   # or --warm-start lr-v1@sqlite:old.db
  space:
    lr: { type: float, low: 1.0e-5, high: 0.1, log: true }
    layers: { type: int, low: 1, high: 4 }
    act: { type: categorical, choices: [relu, tanh] }
  objective:
    command: python train.py          # or: objective: bench:branin
    timeout: 600                      # per trial, seconds (optional)

The train objective:
  Each trial trains the model in this process (or its worker's) and returns the validation metric of its
  last epoch; the model each complete trial trained is kept in a folder per study (objective.train.models;
  default: beside a SQLite file, runs.db → runs.models/STUDY/trial-N.onnx; for PostgreSQL hone-models/ in
  the folder hone tune ran in, the same path on each worker's own machine, so -o finds a model another
  machine trained only when the folder is shared; a temporary folder for memory storage). A trial whose
  settings cannot train (a batch larger than the data, a diverged loss) fails with the reason and the
  study goes on. In a config:
    objective: { train: { model: zoo:lenet5, data: mnist, epochs: 3, metric: [accuracy, time], limit: 4000 } }
  It searches ${Object.keys(TRAIN_PARAMS)
    .filter((k) => k !== 'nesterov' && k !== 'clip_norm')
    .join(', ')}
  and the zoo model's size options (model.channels, model.hidden, …; options the model spec sets are kept
  fixed). A 'space' in the config replaces the default range of each parameter it names and may add
  nesterov, clip_norm or any model.OPTION; the other parameters keep their defaults. To fix a
  parameter, give it one choice: optimizer: { type: categorical, choices: [adam] }.

The command's protocol:
  in   env HONE_PARAM_<NAME> per parameter (upper case; strings as is, others as JSON),
       HONE_PARAMS_FILE (a JSON file of all params), HONE_TRIAL_NUMBER, HONE_STUDY
  out  JSON lines on stdout: {"step": 3, "value": 0.5} reports an intermediate value (the pruner may
       stop the trial: Hone sends SIGTERM to the command's process group, SIGKILL 5 s later);
       {"value": 0.42} (or {"values": [a, b]}) is the result; {"attrs": {...}} stores user attributes.
  A non-zero exit, no value line or a per-trial timeout fails the trial (exit code and stderr tail are
  kept with it) and the study goes on.

Examples:
  hone tune --objective bench:branin --trials 40 --sampler tpe --seed 1
  hone tune --objective bench:branin --trials 30 --html branin.html
  hone tune --objective bench:branin --sampler grid --grid-points 5 --trials 25
  hone tune examples/tune.yaml --storage sqlite:runs.db --workers 4
  hone tune --objective train:zoo:lenet5 --data mnist --epochs 3 --trials 20 --pruner successive-halving -o lenet5-tuned.onnx
  hone tune --resume --study lr-search --storage sqlite:lr.db --trials 100
  hone tune examples/tune.yaml --study lr-v2 --storage sqlite:runs.db --warm-start lr-search --warm-start-top 3
`;

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'tune hyperparameters of a program or benchmark (studies on memory, SQLite or PostgreSQL)',
  help: HELP,
  async run(argv: string[], io: Io) {
    const { values, positionals } = parseFlags('tune', argv, {
      objective: { type: 'string' },
      study: { type: 'string' },
      storage: { type: 'string' },
      workers: { type: 'string' },
      trials: { type: 'string' },
      timeout: { type: 'string' },
      sampler: { type: 'string' },
      seed: { type: 'string' },
      direction: { type: 'string' },
      'grid-points': { type: 'string' },
      'warm-start': { type: 'string' },
      'warm-start-top': { type: 'string' },
      pruner: { type: 'string' },
      data: { type: 'string' },
      epochs: { type: 'string' },
      metric: { type: 'string' },
      limit: { type: 'string' },
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean' },
      resume: { type: 'boolean' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      ...quietFlag,
    });
    if (positionals.length > 1) throw badInput(`tune takes one config file, got ${positionals.length}: ${positionals.join(' ')}`);
    const file = positionals[0];
    const overrides: TuneOverrides = {
      study: values.study,
      direction: values.direction,
      sampler: values.sampler,
      seed: numberFlag(values.seed, '--seed', { int: true, min: 0 }),
      trials: numberFlag(values.trials, '--trials', { int: true, min: 1 }),
      timeoutS: numberFlag(values.timeout, '--timeout', { min: 0.001 }),
      storage: values.storage,
      workers: numberFlag(values.workers, '--workers', { int: true, min: 1 }),
      objective: values.objective,
      gridPoints: numberFlag(values['grid-points'], '--grid-points', { int: true, min: 2 }),
      warmStart: values['warm-start'],
      warmStartTop: numberFlag(values['warm-start-top'], '--warm-start-top', { int: true, min: 1 }),
      pruner: values.pruner,
      data: values.data,
      epochs: numberFlag(values.epochs, '--epochs', { int: true, min: 1 }),
      metric: values.metric,
      limit: numberFlag(values.limit, '--limit', { int: true, min: 1 }),
    };
    let config: TuneConfig;
    if (file !== undefined) config = resolveTuneConfig(readTuneConfigFile(file), overrides, file);
    else if (values.resume) config = await resumeConfig(overrides);
    else if (values.objective !== undefined) config = resolveTuneConfig(undefined, overrides);
    else throw badInput("tune needs a config file, --objective bench:NAME or --objective train:MODEL; see 'hone tune --help'");
    if (values.output !== undefined) checkModelOutput(config, values.output, values.force);
    // A page that cannot be written is refused now, not after the study's trials.
    if (values.html !== undefined) checkWritable(values.html);

    const interrupt = abortOnSignals({ onRepeat: () => process.exit(interruptExitCode(interrupt.signal.reason)) });
    let run: Awaited<ReturnType<typeof runTune>>;
    try {
      run = await runTune(config, { resume: Boolean(values.resume), io, quiet: values.quiet, signal: interrupt.signal });
    } finally {
      interrupt.release();
    }
    for (const w of run.warnings) io.stderr(`hone: warning: ${w}\n`);
    const stopped = run.interrupted ? interruptedMessage(config, run) : undefined;
    // Like hone train: an interrupted run writes nothing to -o.
    let written: WrittenModel | undefined;
    let outputError: HoneError | undefined;
    if (values.output !== undefined && !stopped) {
      try {
        written = await writeBestModel(config, run.report, values.output);
      } catch (e) {
        if (!(e instanceof HoneError)) throw e;
        outputError = e;
      }
    }
    // The page of `hone study show --html`, from the same report; an interrupted run writes it once trials gave values.
    const page = values.html !== undefined && (!stopped || finishedTrials(run) > 0) ? values.html : undefined;
    if (page !== undefined) writeFileAtomic(page, studyHtml(run.report, { where: run.where }));
    const model = written ? { model: { path: values.output, trial: written.trial, values: written.values } } : {};
    if (values.json) {
      io.stdout(
        `${JSON.stringify({
          ...run.report,
          storage: run.where,
          elapsedS: run.elapsedS,
          warnings: run.warnings,
          ...model,
          ...(page !== undefined ? { html: page } : {}),
          ...(stopped ? { interrupted: run.interrupted, resume: stopped.resume ?? null } : {}),
        })}\n`,
      );
    } else {
      io.stdout(formatReport(run.report, { where: run.where }));
      if (written) io.stdout(`\nbest model: trial ${written.trial} (${written.values.map(formatValue).join(', ')}) → ${values.output}\n`);
      if (page !== undefined) io.stdout(`${written ? '' : '\n'}study page → ${page}\n`);
    }
    if (written?.note) io.stderr(`hone: note: ${written.note}\n`);
    if (outputError) {
      io.stderr(`hone: ${outputError.message}\n`);
      return outputError.exitCode;
    }
    if (!stopped) return 0;
    const unwritten = [values.output, values.html === page ? undefined : values.html].filter((f) => f !== undefined);
    io.stderr(`hone: ${stopped.message}${unwritten.length ? `; nothing written to ${unwritten.join(' or ')}` : ''}\n`);
    return interruptExitCode(run.interrupted);
  },
};

/**
 * Trials that gave values (complete or pruned): an interrupted run writes its page only when there are
 * some. Failed ones do not count, since the interrupt itself fails the trials it stops (and re-queues them).
 */
function finishedTrials(run: TuneRun): number {
  return run.report.states.complete + run.report.states.pruned;
}

/**
 * What an interrupted run kept and how to go on: `hone tune --resume` with the study and storage (a
 * PostgreSQL password is masked; give it again, or in PGPASSWORD).
 */
function interruptedMessage(config: TuneConfig, run: TuneRun): { message: string; resume?: string } {
  const s = run.report.states;
  const head = `interrupted (${run.interrupted}): ${s.complete} trial(s) complete`;
  if (storageKind(config.storage) === 'memory') {
    return {
      message: `${head}; memory storage ends with this process, so nothing was kept (use --storage sqlite:PATH to be able to resume)`,
    };
  }
  const parts = [`${head} in ${run.where} (study '${config.study}')`];
  if (s.waiting) parts.push(`${s.waiting} trial(s) queued to run first on resume`);
  if (s.running)
    parts.push(
      `${s.running} still marked running (their worker did not stop: they fail after the ${config.heartbeat.graceS} s heartbeat grace)`,
    );
  const resume = ['hone', 'tune', '--resume', '--study', config.study, '--storage', maskPassword(config.storage)].map(shellWord).join(' ');
  return { message: `${parts.join('; ')}; resume with: ${resume}`, resume };
}

function maskPassword(url: string): string {
  if (storageKind(url) !== 'postgres') return url;
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

async function resumeConfig(o: TuneOverrides): Promise<TuneConfig> {
  if (!o.study || !o.storage) throw badInput('--resume without a config file needs --study NAME and --storage URL');
  const storage = await openStorage(o.storage);
  try {
    return applyOverrides(await storedConfig(storage, o.study), o);
  } finally {
    await storage.close();
  }
}

export const tuneWorkerCommand: Command = {
  name: 'tune-worker',
  summary: "one more worker for a running 'hone tune' study (e.g. on another machine, with PostgreSQL)",
  help: `hone tune-worker — run trials of an existing study until its budget is spent

Usage: hone tune-worker --storage URL --study NAME [--worker-index I] [--deadline MS_SINCE_EPOCH]

The study must have been created by 'hone tune' (its config is stored with it). Workers share the study
through the storage; any number may join or die (a dead worker's trial fails after the heartbeat grace).
Ctrl-C or SIGTERM stops it cleanly: its running command is stopped and the trial re-queued at once for
the other workers or a later run (exit code 130, or 143).

Example:
  hone tune-worker --storage postgresql://tuner@db:5432/hone --study lr-search
`,
  run: (argv, io) => tuneWorkerMain(argv, io),
};
