import { badInput } from '../../errors.js';
import { parseFlags, numberFlag, quietFlag, quietHelp, shellWord, type Command, type Io } from '../command.js';
import { applyOverrides, readTuneConfigFile, resolveTuneConfig, type TuneConfig, type TuneOverrides } from '../tune/config.js';
import { GRID_POINTS } from '../tune/factory.js';
import { abortOnSignals, interruptExitCode } from '../tune/interrupt.js';
import { runTune, type TuneRun } from '../tune/run.js';
import { formatReport } from '../tune/summary.js';
import { storedConfig, tuneWorkerMain } from '../tune/worker-process.js';
import { openStorage, storageKind } from '../../tune/storage/open.js';

const HELP = `hone tune — tune hyperparameters of any program (or a benchmark) with Hone's tuner

Usage:
  hone tune CONFIG.yaml|CONFIG.json [options]
  hone tune --objective bench:NAME --trials N [options]
  hone tune --resume --study NAME --storage URL [--trials N]

Options:
  --objective bench:NAME   a built-in benchmark (branin, hartmann6, rosenbrock4, ackley5, levy5) instead of a config
  --study NAME             study name (default: config 'study', else the config file's name, else bench-NAME)
  --storage URL            memory (default) | sqlite:PATH | PATH.db | postgresql://user@host:port/db[?schema=S]
  --workers K              K trials at once: K processes on sqlite/postgresql (sharing the study);
                           K concurrent loops in this process on memory storage
  --trials N               the study's total number of trials (earlier runs count)
  --timeout S              start no trial after S seconds
  --sampler NAME           tpe (default) | random | grid | qmc | gp | cmaes | nsga2
                           (options in the config: sampler: { name, seed, options }; grid takes its values
                           from 'space' or a benchmark's domain — choices, ints, floats with a step, and
                           --grid-points values of a float without one — or from options.space)
  --grid-points N          values per float without a step on a grid (default ${GRID_POINTS}; log-spaced on a
                           log scale; options.points in the config)
  --seed N                 sampler seed (worker i uses N + i)
  --direction D            minimize | maximize
  --resume                 continue an existing study (its stored config; flags above override)
  --json                   print one JSON object: bestValue, bestParams, nTrials, states, importance, history
${quietHelp(27)}

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
  space:
    lr: { type: float, low: 1.0e-5, high: 0.1, log: true }
    layers: { type: int, low: 1, high: 4 }
    act: { type: categorical, choices: [relu, tanh] }
  objective:
    command: python train.py          # or: objective: bench:branin
    timeout: 600                      # per trial, seconds (optional)

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
  hone tune --objective bench:branin --sampler grid --grid-points 5 --trials 25
  hone tune examples/tune.yaml --storage sqlite:runs.db --workers 4
  hone tune --resume --study lr-search --storage sqlite:lr.db --trials 100
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
      resume: { type: 'boolean' },
      json: { type: 'boolean' },
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
    };
    let config: TuneConfig;
    if (file !== undefined) config = resolveTuneConfig(readTuneConfigFile(file), overrides, file);
    else if (values.resume) config = await resumeConfig(overrides);
    else if (values.objective !== undefined) config = resolveTuneConfig(undefined, overrides);
    else throw badInput("tune needs a config file or --objective bench:NAME; see 'hone tune --help'");

    const interrupt = abortOnSignals({ onRepeat: () => process.exit(interruptExitCode(interrupt.signal.reason)) });
    let run: Awaited<ReturnType<typeof runTune>>;
    try {
      run = await runTune(config, { resume: Boolean(values.resume), io, quiet: values.quiet, signal: interrupt.signal });
    } finally {
      interrupt.release();
    }
    for (const w of run.warnings) io.stderr(`hone: warning: ${w}\n`);
    const stopped = run.interrupted ? interruptedMessage(config, run) : undefined;
    if (values.json) {
      io.stdout(
        `${JSON.stringify({
          ...run.report,
          storage: run.where,
          elapsedS: run.elapsedS,
          warnings: run.warnings,
          ...(stopped ? { interrupted: run.interrupted, resume: stopped.resume ?? null } : {}),
        })}\n`,
      );
    } else {
      io.stdout(formatReport(run.report, { where: run.where }));
    }
    if (!stopped) return 0;
    io.stderr(`hone: ${stopped.message}\n`);
    return interruptExitCode(run.interrupted);
  },
};

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
