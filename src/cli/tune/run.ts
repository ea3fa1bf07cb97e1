import { badInput } from '../../errors.js';
import { progressLines, type Io } from '../command.js';
import type { Distribution, FrozenTrial } from '../../tune/types.js';
import { openStorage, storageKind, storageWhere } from '../../tune/storage/open.js';
import type { Storage } from '../../tune/storage/storage.js';
import type { TuneConfig } from './config.js';
import { makePruner, makeSampler } from './factory.js';
import { interruptReason } from './interrupt.js';
import { checkObjective, makeObjective, objectiveSpace } from './objective.js';
import { studyReport, type StudyReport } from '../../tune/report.js';
import { formatValue, paramText } from './summary.js';
import { runWorker } from './worker.js';
import { enqueueCliWarmStart, loadCliWarmStart } from './warm-start.js';
import { CONFIG_ATTR, checkWorkerExits, deadlineFrom, spawnWorkers } from './worker-process.js';

export interface TuneRun {
  report: StudyReport;
  /** Where the study lives, for messages (no password). */
  where: string;
  /** Worker processes that died (e.g. killed); the study went on without them. */
  warnings: string[];
  elapsedS: number;
  /** Why the run stopped early ('SIGINT', 'SIGTERM'), when `signal` aborted it. */
  interrupted?: string;
}

export interface TuneRunOptions {
  /** Continue an existing study instead of creating one. */
  resume: boolean;
  io: Io;
  /** No progress on stderr (by default one plain line per finished trial). */
  quiet?: boolean;
  /** Stops the run: running trials are stopped, failed as interrupted and re-queued (see worker.ts). */
  signal?: AbortSignal;
}

/**
 * Runs a study as configured: creates it (or, with `resume`, continues it), runs `config.workers`
 * workers until it has `config.trials` trials or `config.timeoutS` passes, and reports.
 *
 * Workers are processes when the storage is shared (SQLite, PostgreSQL) and there are several of them;
 * with memory storage they are concurrent loops in this process (an objective command still runs as its
 * own process, so command trials do run in parallel; a benchmark objective does not).
 */
export async function runTune(config: TuneConfig, opts: TuneRunOptions): Promise<TuneRun> {
  const t0 = Date.now();
  const kind = storageKind(config.storage);
  // Sampler and pruner options are checked by their constructors: do it now, before any trial or storage.
  makeSampler(config.sampler, objectiveSpace(config));
  makePruner(config.pruner);
  if (opts.resume && kind === 'memory')
    throw badInput('--resume needs a storage that outlives the process; add --storage sqlite:PATH or postgresql://…');
  for (const note of await checkObjective(config)) opts.io.stderr(`hone: note: ${note}\n`);
  const storage = await openStorage(config.storage);
  const where = storageWhere(config.storage);
  try {
    const studyId = await prepareStudy(storage, config, opts.resume, opts.io);
    const deadline = deadlineFrom(config);
    if (kind === 'memory' && config.workers > 1) {
      opts.io.stderr(
        `hone: note: memory storage cannot be shared between processes; the ${config.workers} workers run as concurrent loops in this process (use --storage sqlite:PATH for worker processes)\n`,
      );
    }
    const progress = opts.quiet ? undefined : startProgress(storage, studyId, config, opts.io);
    let warnings: string[] = [];
    try {
      if (kind === 'memory' || config.workers === 1) {
        const objective = makeObjective(config, opts.signal);
        const results = await Promise.allSettled(
          Array.from({ length: config.workers }, (_, workerIndex) =>
            runWorker({ storage, config, objective, workerIndex, deadline, signal: opts.signal }),
          ),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } else {
        const exits = await spawnWorkers(config.storage, config.study, config.workers, deadline, opts.signal);
        warnings = checkWorkerExits(exits, opts.signal?.aborted);
      }
    } finally {
      await progress?.stop();
    }
    const summary = await storage.getStudy(studyId);
    const report = studyReport(summary, await storage.getAllTrials(studyId));
    const interrupted = opts.signal?.aborted ? interruptReason(opts.signal) : undefined;
    return { report, where, warnings, elapsedS: (Date.now() - t0) / 1000, ...(interrupted ? { interrupted } : {}) };
  } finally {
    await storage.close();
  }
}

async function prepareStudy(storage: Storage, config: TuneConfig, resume: boolean, io: Io): Promise<number> {
  if (resume) {
    const id = await storage.getStudyId(config.study);
    if (id === undefined) throw badInput(`--resume: no study '${config.study}' in ${config.storage}; drop --resume to create it`);
    // Same directions or a clear error, via the storage's own check.
    await storage.createStudy(config.study, config.directions, { loadIfExists: true });
    await storage.setStudySystemAttr(id, CONFIG_ATTR, config);
    // Trials an interrupted run stopped are re-queued; these are another worker's, or a killed one's.
    const running = (await storage.getAllTrials(id, ['running'])).length;
    if (running > 0) {
      io.stderr(
        `hone: note: ${running} trial(s) of study '${config.study}' are marked running (by another worker, or one that was killed); a silent one fails ${config.heartbeat.graceS} s after its last heartbeat${config.heartbeat.retries ? ' and is retried' : ''}, and this run waits for that before it ends\n`,
      );
    }
    return id;
  }
  // A warm start's source is read first: a wrong name or storage stops the run before the study exists.
  const source = config.warmStart
    ? await loadCliWarmStart(config.warmStart, { storage, url: config.storage, study: config.study })
    : undefined;
  const id = await storage.createStudy(config.study, config.directions);
  await storage.setStudySystemAttr(id, CONFIG_ATTR, config);
  for (const e of config.enqueue ?? [])
    await storage.createTrial(id, { state: 'waiting', userAttrs: e.userAttrs ?? {}, systemAttrs: { fixed_params: { ...e.params } } });
  if (source) await enqueueCliWarmStart({ storage, id }, source, config.warmStart!, objectiveSpace(config), config.trials, io);
  return id;
}

/**
 * Progress on stderr while the study runs: one plain line per finished trial (no carriage returns, so a
 * log or a pipe shows it as it comes), read from the storage twice a second since worker processes
 * report through it; every finished trial is printed by the time `stop` resolves.
 */
function startProgress(storage: Storage, studyId: number, config: TuneConfig, io: Io) {
  const line = progressLines(io, false)!;
  const printed = new Set<number>();
  let best: { value: number; number: number } | undefined;
  const better = (a: number, b: number) => (config.directions[0] === 'maximize' ? a > b : a < b);
  const draw = async () => {
    for (const t of await storage.getAllTrials(studyId, ['complete', 'pruned', 'fail'])) {
      if (printed.has(t.id)) continue;
      printed.add(t.id);
      if (t.state === 'complete' && t.values && config.directions.length === 1 && (!best || better(t.values[0]!, best.value)))
        best = { value: t.values[0]!, number: t.number };
      line(trialLine(config, t, best, printed.size));
    }
  };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await draw().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await draw().catch(() => undefined);
    },
  };
}

function singleValued(d: Distribution | undefined): boolean {
  return d !== undefined && ((d.type === 'categorical' && d.choices.length === 1) || (d.type !== 'categorical' && d.low === d.high));
}

/** `tune S: trial 3 complete: 5.21 (best 0.931, trial 1)  x0=1.23 x1=3.4  [4/20]`: one finished trial, for a log. */
function trialLine(config: TuneConfig, t: FrozenTrial, best: { value: number; number: number } | undefined, seen: number): string {
  let what: string;
  if (t.state === 'complete') {
    what = `complete: ${t.values!.map(formatValue).join(', ')}${best ? ` (best ${formatValue(best.value)}, trial ${best.number})` : ''}`;
  } else if (t.state === 'fail') {
    const reason = typeof t.systemAttrs.fail_reason === 'string' ? t.systemAttrs.fail_reason : '';
    what = `failed${reason ? `: ${reason.length > 80 ? `${reason.slice(0, 79)}…` : reason}` : ''}`;
  } else {
    what = 'pruned';
  }
  // A parameter with one possible value (hone nas fixes its training recipe so) says nothing per trial.
  const varying = Object.fromEntries(Object.entries(t.params).filter(([k]) => !singleValued(config.space[k])));
  const params = paramText(varying);
  return `tune ${config.study}: trial ${t.number} ${what}  ${params.length > 100 ? `${params.slice(0, 99)}…` : params}${config.trials ? `  [${seen}/${config.trials}]` : ''}`;
}
