import { badInput } from '../../errors.js';
import type { Io } from '../../cli/command.js';
import { openStorage, storageKind } from '../storage/open.js';
import type { Storage } from '../storage/storage.js';
import { describeUrl } from '../storage/postgres.js';
import type { TuneConfig } from './config.js';
import { makePruner, makeSampler } from './factory.js';
import { makeObjective } from './objective.js';
import { studyReport, type StudyReport } from './summary.js';
import { runWorker } from './worker.js';
import { CONFIG_ATTR, checkWorkerExits, deadlineFrom, spawnWorkers } from './worker-process.js';

export interface TuneRun {
  report: StudyReport;
  /** Where the study lives, for messages (no password). */
  where: string;
  /** Worker processes that died (e.g. killed); the study went on without them. */
  warnings: string[];
  elapsedS: number;
}

/**
 * Runs a study as configured: creates it (or, with `resume`, continues it), runs `config.workers`
 * workers until it has `config.trials` trials or `config.timeoutS` passes, and reports.
 *
 * Workers are processes when the storage is shared (SQLite, PostgreSQL) and there are several of them;
 * with memory storage they are concurrent loops in this process (an objective command still runs as its
 * own process, so command trials do run in parallel; a benchmark objective does not).
 */
export async function runTune(config: TuneConfig, opts: { resume: boolean; io: Io }): Promise<TuneRun> {
  const t0 = Date.now();
  const kind = storageKind(config.storage);
  // Sampler and pruner options are checked by their constructors: do it now, before any trial or storage.
  makeSampler(config.sampler, config.space);
  makePruner(config.pruner);
  if (opts.resume && kind === 'memory') throw badInput('--resume needs a storage that outlives the process; add --storage sqlite:PATH or postgresql://…');
  const storage = await openStorage(config.storage);
  const where = kind === 'postgres' ? `postgresql://${describeUrl(config.storage)}` : config.storage;
  try {
    const studyId = await prepareStudy(storage, config, opts.resume);
    const deadline = deadlineFrom(config);
    const progress = opts.io.isTTY ? startProgress(storage, studyId, config, opts.io) : undefined;
    let warnings: string[] = [];
    try {
      if (kind === 'memory' && config.workers > 1) {
        opts.io.stderr(`hone: note: memory storage cannot be shared between processes; the ${config.workers} workers run as concurrent loops in this process (use --storage sqlite:PATH for worker processes)\n`);
      }
      if (kind === 'memory' || config.workers === 1) {
        const objective = makeObjective(config);
        const results = await Promise.allSettled(
          Array.from({ length: config.workers }, (_, workerIndex) => runWorker({ storage, config, objective, workerIndex, deadline })),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } else {
        warnings = checkWorkerExits(await spawnWorkers(config.storage, config.study, config.workers, deadline));
      }
    } finally {
      await progress?.stop();
    }
    const summary = await storage.getStudy(studyId);
    const report = studyReport(summary, await storage.getAllTrials(studyId));
    return { report, where, warnings, elapsedS: (Date.now() - t0) / 1000 };
  } finally {
    await storage.close();
  }
}

async function prepareStudy(storage: Storage, config: TuneConfig, resume: boolean): Promise<number> {
  if (resume) {
    const id = await storage.getStudyId(config.study);
    if (id === undefined) throw badInput(`--resume: no study '${config.study}' in ${config.storage}; drop --resume to create it`);
    // Same directions or a clear error, via the storage's own check.
    await storage.createStudy(config.study, config.directions, { loadIfExists: true });
    await storage.setStudySystemAttr(id, CONFIG_ATTR, config);
    return id;
  }
  const id = await storage.createStudy(config.study, config.directions);
  await storage.setStudySystemAttr(id, CONFIG_ATTR, config);
  return id;
}

/** A one-line progress display on stderr, redrawn twice a second (terminals only). */
function startProgress(storage: Storage, studyId: number, config: TuneConfig, io: Io) {
  let stopped = false;
  let last = '';
  const draw = async () => {
    const trials = await storage.getAllTrials(studyId);
    const done = trials.filter((t) => t.state === 'complete' || t.state === 'pruned' || t.state === 'fail');
    const running = trials.filter((t) => t.state === 'running').length;
    const values = done.filter((t) => t.state === 'complete' && t.values).map((t) => t.values![0]!);
    const best = values.length ? (config.directions[0] === 'maximize' ? Math.max(...values) : Math.min(...values)) : undefined;
    const line = `hone tune ${config.study}: ${done.length}${config.trials ? `/${config.trials}` : ''} trials, ${running} running` +
      (best !== undefined && config.directions.length === 1 ? `, best ${Number(best.toPrecision(6))}` : '');
    if (line !== last) io.stderr(`\r\x1b[2K${line}`);
    last = line;
  };
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
      io.stderr('\r\x1b[2K');
    },
  };
}
