import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HoneError, badInput } from '../../errors.js';
import { openStorage, storageKind } from '../../tune/storage/open.js';
import { writeFileAtomic } from '../../util/fs.js';
import { checkWritable } from '../command.js';
import type { TuneConfig } from './config.js';
import type { StudyReport } from '../../tune/report.js';
import { trialModelPath } from './train-spec.js';

/** `-o FILE` of `hone tune`, checked before any trial: a train objective, a writable path, no file there unless `force`. */
export function checkModelOutput(config: TuneConfig, out: string, force: boolean | undefined): void {
  if (config.objective.kind !== 'train')
    throw badInput(`-o writes the best trial's trained model, which only a train objective has (--objective train:zoo:NAME); drop -o`);
  if (existsSync(out) && !force) throw badInput(`${out} exists; pass --force to replace it, or choose another -o path`);
  checkWritable(out);
}

export interface WrittenModel {
  trial: number;
  values: number[];
  /** Said on stderr: which Pareto-optimal trial -o took, when several objectives made several best ones. */
  note?: string;
}

/**
 * Copies the best trial's model (kept by the trial under the study's models folder) to `out`, atomically.
 * With several metrics the best is the Pareto-front trial best in the first metric. A model written on
 * another machine (a `hone tune-worker` elsewhere, `models` not a shared folder) is not copied: the error
 * names the machine and path.
 */
export async function writeBestModel(config: TuneConfig, report: StudyReport, out: string): Promise<WrittenModel> {
  const spec = config.objective;
  if (spec.kind !== 'train') throw badInput('-o needs a train objective');
  let chosen: { number: number; values: number[] } | undefined;
  let note: string | undefined;
  if (report.directions.length === 1) {
    if (report.bestTrial !== null) chosen = { number: report.bestTrial, values: [report.bestValue!] };
  } else if (report.bestTrials.length > 0) {
    const sign = report.directions[0] === 'maximize' ? -1 : 1;
    chosen = [...report.bestTrials].sort((a, b) => sign * (a.values[0]! - b.values[0]!) || a.number - b.number)[0]!;
    if (report.bestTrials.length > 1) {
      const others = spec.modelsTemporary
        ? 'the others end with this process (memory storage; --storage sqlite:PATH keeps them)'
        : `the others are in ${dirname(trialModelPath(spec, config.study, 0))}`;
      note = `the Pareto front has ${report.bestTrials.length} trials (${report.bestTrials.map((t) => t.number).join(', ')}); -o took trial ${chosen.number}, the best in ${spec.metrics[0]}; ${others}`;
    }
  }
  if (!chosen) throw new HoneError(`no trial completed, so there is no trained model to write to ${out}`, 1);
  const path = trialModelPath(spec, config.study, chosen.number);
  if (!existsSync(path)) throw new HoneError(await missingModel(config, chosen.number, path, out), 1);
  writeFileAtomic(out, readFileSync(path));
  return { trial: chosen.number, values: chosen.values, ...(note ? { note } : {}) };
}

/** Why the best model is not here: the machine and path its worker recorded, when the storage has them. */
async function missingModel(config: TuneConfig, number: number, path: string, out: string): Promise<string> {
  const fallback = `trial ${number}'s model is not at ${path}; nothing written to ${out}`;
  if (storageKind(config.storage) === 'memory') return fallback;
  const storage = await openStorage(config.storage);
  try {
    const id = await storage.getStudyId(config.study);
    const trial = id === undefined ? undefined : (await storage.getAllTrials(id)).find((t) => t.number === number);
    const host = trial?.systemAttrs.model_host;
    if (typeof host !== 'string') return fallback;
    return `trial ${number}'s model was written by the worker that ran it, on ${host}, at ${String(trial!.systemAttrs.model_path)}; copy it from there (or set objective.train.models to a folder every worker shares); nothing written to ${out}`;
  } finally {
    await storage.close();
  }
}
