/**
 * OUT_DIR of `hone optimize`: model.onnx, candidates.json and report.json, all or nothing. The files are
 * written into a temporary folder beside OUT_DIR and renamed into place at the end, so an error or a
 * Ctrl-C leaves no partial output; an existing folder (empty, or a previous optimize output) gets them
 * from a hidden folder inside it, renamed up one by one, the report last. A folder that exists and is not
 * one (no report.json of ours, or other files beside it) is refused unless forced; then the three files go
 * into it the same way, and nothing else in it is touched.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { badInput } from '../errors.js';
import { saveModel } from '../ir/model.js';
import { writeFileAtomic } from '../util/fs.js';
import type { OptimizeResult } from './types.js';

export const OUTPUT_FILES = ['model.onnx', 'candidates.json', 'report.json'] as const;

/**
 * True when `dir` holds a report.json that `hone optimize` wrote and nothing but its files (a folder the
 * user has put other files in is not replaced whole).
 */
export function isOptimizeOutput(dir: string): boolean {
  const ours = new Set<string>([...OUTPUT_FILES, 'model.onnx.data']);
  try {
    if (readdirSync(dir).some((f) => !ours.has(f))) return false;
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
    throw badInput(`-o ${dir} is a file, not a folder; give a folder for model.onnx, candidates.json and report.json`);
  if (readdirSync(dir).length === 0 || isOptimizeOutput(dir) || force) return;
  throw badInput(
    `-o ${dir} exists and is not the output of a previous 'hone optimize'; choose a new folder, or add --force to write the three files into it`,
  );
}

/** Writes the result to `dir` (checked by `checkOutDir` first), all files or none. */
export function writeOptimizeOutput(dir: string, result: OptimizeResult, force = false): void {
  checkOutDir(dir, force);
  const target = resolve(dir);
  const json = (x: unknown) => `${JSON.stringify(x, null, 2)}\n`;
  const exists = existsSync(target);
  // A new folder is made whole beside its place and renamed into it; into an existing one (empty, a previous
  // output, or forced) the files are made in a hidden folder inside it and renamed up, the report last.
  const tmp = exists ? mkdtempSync(join(target, '.hone-optimize-')) : mkdtempSync(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    saveModel(result.model, join(tmp, 'model.onnx'));
    writeFileAtomic(join(tmp, 'candidates.json'), json(result.candidates));
    writeFileAtomic(join(tmp, 'report.json'), json(result.report));
    if (!exists) {
      renameSync(tmp, target);
      return;
    }
    // A previous output's external data would be stale beside a model that has none.
    if (!existsSync(join(tmp, 'model.onnx.data'))) rmSync(join(target, 'model.onnx.data'), { force: true });
    for (const f of readdirSync(tmp).sort((a, b) => Number(a === 'report.json') - Number(b === 'report.json')))
      renameSync(join(tmp, f), join(target, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
