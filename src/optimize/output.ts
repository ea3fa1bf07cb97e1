/**
 * OUT_DIR of `hone optimize`: model.onnx, candidates.json, report.json and report.html (and missed-goal.onnx
 * when nothing met the accuracy constraint and the closest candidate beats the baseline), all or nothing.
 * The files are written into a temporary folder beside OUT_DIR and renamed into place at the end, so an
 * error or a Ctrl-C leaves no partial output; an existing folder (empty, or a previous optimize output)
 * gets them from a hidden folder inside it, renamed up one by one, the report last. A folder that exists
 * and is not one (no report.json of ours, or other files beside it) is refused unless forced; then the
 * files go into it the same way, and nothing else in it is touched. The HTML is rendered by the caller
 * (report/optimize-html.ts: the report layer sits above this one) and written with the rest.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { saveModel } from '../ir/model.js';
import { writeFileAtomic } from '../util/fs.js';
import { MISSED_GOAL_FILE, type OptimizeResult } from './types.js';
import { STUDY_FILE } from './search.js';

export const OUTPUT_FILES = ['model.onnx', 'candidates.json', 'report.json', 'report.html', MISSED_GOAL_FILE] as const;
/** The search's study (search.ts) and SQLite's side files, kept in OUT_DIR while the search runs. */
const STUDY_FILES = [STUDY_FILE, `${STUDY_FILE}-wal`, `${STUDY_FILE}-shm`, `${STUDY_FILE}-journal`];

/**
 * True when `dir` holds a report.json that `hone optimize` wrote and nothing but its files (a folder the
 * user has put other files in is not replaced whole).
 */
export function isOptimizeOutput(dir: string): boolean {
  const ours = new Set<string>([...OUTPUT_FILES, 'model.onnx.data', `${MISSED_GOAL_FILE}.data`, ...STUDY_FILES]);
  try {
    const files = readdirSync(dir);
    if (files.some((f) => !ours.has(f))) return false;
    // A run interrupted before it wrote its report leaves only its study, which --resume continues.
    if (!files.includes('report.json')) return files.includes(STUDY_FILE);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { tool?: string };
    return report.tool === 'hone optimize';
  } catch {
    return false;
  }
}

/** Fails before any work when OUT_DIR cannot take the output (see the file comment). */
export function checkOutDir(dir: string, force = false): void {
  const parent = dirname(resolve(dir));
  if (!existsSync(parent)) throw badInput(`cannot write ${dir}: its parent folder does not exist; create it or choose another OUT_DIR`);
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory())
    throw badInput(`-o ${dir} is a file, not a folder; give a folder for model.onnx, candidates.json, report.json and report.html`);
  if (readdirSync(dir).length === 0 || isOptimizeOutput(dir) || force) return;
  throw badInput(
    `-o ${dir} exists and is not the output of a previous 'hone optimize'; choose a new folder, or add --force to write its files into it`,
  );
}

/**
 * Writes the result to `dir` (checked by `checkOutDir` first), all files or none; `html` is report.html
 * (`optimizeHtml(result.report, result.candidates)`), left out when not given.
 */
export function writeOptimizeOutput(dir: string, result: OptimizeResult, force = false, html?: string): void {
  checkOutDir(dir, force);
  const target = resolve(dir);
  const json = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;
  const exists = existsSync(target);
  const ours = exists && isOptimizeOutput(target);
  // A new folder is made whole beside its place and renamed into it; into an existing one (empty, a previous
  // output, or forced) the files are made in a hidden folder inside it and renamed up, the report last.
  const tmp = exists ? mkdtempSync(join(target, '.hone-optimize-')) : mkdtempSync(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    saveModel(result.model, join(tmp, 'model.onnx'));
    if (result.missedGoal) saveModel(result.missedGoal, join(tmp, MISSED_GOAL_FILE));
    writeFileAtomic(join(tmp, 'candidates.json'), json(result.candidates));
    writeFileAtomic(join(tmp, 'report.json'), json(result.report));
    if (html !== undefined) writeFileAtomic(join(tmp, 'report.html'), html);
    if (!exists) {
      renameSync(tmp, target);
      return;
    }
    // A previous output's external data would be stale beside a model that has none, and so would its
    // HTML beside a new report without one (a report.html in a folder of the user's is theirs).
    for (const f of ['model.onnx.data', MISSED_GOAL_FILE, `${MISSED_GOAL_FILE}.data`])
      if (!existsSync(join(tmp, f)) && (ours || f === 'model.onnx.data')) rmSync(join(target, f), { force: true });
    if (ours && html === undefined) rmSync(join(target, 'report.html'), { force: true });
    for (const f of readdirSync(tmp).sort((a, b) => Number(a === 'report.json') - Number(b === 'report.json')))
      renameSync(join(tmp, f), join(target, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
