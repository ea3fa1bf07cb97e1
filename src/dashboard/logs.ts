/**
 * What `hone dashboard --logs DIR` finds in a folder: training logs (`hone train --log FILE`: one JSON
 * object per epoch, a line each) and reports (the JSON that `hone profile|quantize|optimize|lr-find|study
 * show --json` print, or optimize's and nas's OUT_DIR/report.json). Files are recognised by their content, not their
 * names; anything else is ignored. A line of a training log that does not parse (a run killed mid-write, a
 * hand edit) is skipped and counted, and the page says how many.
 *
 * Only files under the folder are ever read: a page names a file by its path relative to the folder, and
 * that path must be one this scan found.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { EpochRecord } from '../train/trainer.js';

export type ReportKind = 'profile' | 'quantize' | 'optimize' | 'lr-find' | 'study' | 'nas';

export interface LogFile {
  /** Path relative to the logs folder, '/'-separated (the id pages use). */
  path: string;
  kind: 'run' | ReportKind;
  bytes: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
  /** A short description: the model (reports), or the epochs and last loss (runs). */
  label: string;
}

/** Folders not descended into, and how deep the scan goes (DIR itself is depth 0). */
const SKIP_DIRS = new Set(['node_modules', '.git']);
const MAX_DEPTH = 4;
const MAX_FILES = 5000;
/** Files over this size are not opened to be recognised (a report or log is far smaller; a model is not one). */
const MAX_BYTES = 64 * 1024 * 1024;

/** The training logs and reports under `dir`, newest first. */
export function scanLogs(dir: string): LogFile[] {
  const found: LogFile[] = [];
  let seen = 0;
  const walk = (d: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // unreadable folder: nothing to show from it
    }
    for (const e of entries) {
      if (seen >= MAX_FILES) return;
      const full = join(d, e.name);
      if (e.isDirectory()) {
        if (depth < MAX_DEPTH && !e.name.startsWith('.') && !SKIP_DIRS.has(e.name)) walk(full, depth + 1);
        continue;
      }
      if (!e.isFile() || !/\.(jsonl|json|log|ndjson)$/i.test(e.name)) continue;
      seen++;
      const f = recognise(dir, full);
      if (f) found.push(f);
    }
  };
  walk(dir, 0);
  return found.sort((a, b) => b.mtimeMs - a.mtimeMs || a.path.localeCompare(b.path));
}

/**
 * What each file was found to be, by folder and path, with the size and time it had then: a live page rescans the
 * folder every second, and only files that changed since are read again.
 */
const seenFiles = new Map<string, { size: number; mtimeMs: number; found: LogFile | undefined }>();

function recognise(root: string, full: string): LogFile | undefined {
  let st: import('node:fs').Stats;
  try {
    st = statSync(full);
  } catch {
    return undefined;
  }
  const key = `${root}\0${full}`;
  const known = seenFiles.get(key);
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.found;
  const found = readAndRecognise(root, full, st);
  if (seenFiles.size > 4 * MAX_FILES) seenFiles.clear();
  seenFiles.set(key, { size: st.size, mtimeMs: st.mtimeMs, found });
  return found;
}

function readAndRecognise(root: string, full: string, st: import('node:fs').Stats): LogFile | undefined {
  let text: string;
  try {
    if (st.size > MAX_BYTES || st.size === 0) return undefined;
    text = readFileSync(full, 'utf8');
  } catch {
    return undefined;
  }
  const path = relative(root, full).split(sep).join('/');
  const base = { path, bytes: st.size, mtimeMs: st.mtimeMs };
  const run = parseRun(text);
  if (run.records.length) {
    const last = run.records[run.records.length - 1]!;
    return {
      ...base,
      kind: 'run',
      label: `${run.records.length} epoch${run.records.length === 1 ? '' : 's'}, loss ${fmt(last.trainLoss)}`,
    };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const kind = reportKind(doc);
  return kind ? { ...base, kind, label: reportLabel(kind, doc as Record<string, unknown>) } : undefined;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
}

/** Which report a parsed JSON document is, by the fields each command writes; undefined for anything else. */
export function reportKind(doc: unknown): ReportKind | undefined {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  if (o.tool === 'hone optimize' && o.baseline) return 'optimize';
  if (o.tool === 'hone nas' && Array.isArray(o.architectures) && o.study && typeof o.study === 'object') return 'nas';
  if (typeof o.suggestedLr === 'number' && Array.isArray(o.lrs) && Array.isArray(o.losses)) return 'lr-find';
  if (typeof o.study === 'string' && Array.isArray(o.directions) && Array.isArray(o.history)) return 'study';
  if (typeof o.mode === 'string' && o.size && typeof (o.size as Record<string, unknown>).quantized === 'number' && o.report)
    return 'quantize';
  const model = o.model as Record<string, unknown> | undefined;
  if (model && typeof model.source === 'string' && Array.isArray(o.opTypes) && typeof o.macs === 'number') return 'profile';
  return undefined;
}

function reportLabel(kind: ReportKind, o: Record<string, unknown>): string {
  switch (kind) {
    case 'profile':
      return String((o.model as Record<string, unknown>).source);
    case 'optimize':
      return `${String(o.source)} (goal: ${String(o.goal)})`;
    case 'quantize':
      return `${String(o.source)} (${String(o.mode)})`;
    case 'lr-find':
      return `suggested lr ${fmt(o.suggestedLr as number)}`;
    case 'study':
      return `study ${String(o.study)}, ${(o.history as unknown[]).length} trials`;
    case 'nas':
      return `architecture search over ${String(o.space)}, ${(o.architectures as unknown[]).length} trained`;
  }
}

/**
 * A training log's epoch records; lines that are not epoch records are skipped and counted. (A diverged
 * run's loss is NaN, which JSON writes as null: such a record is kept.)
 */
export function parseRun(text: string): { records: EpochRecord[]; skipped: number; run?: RunHeader } {
  const records: EpochRecord[] = [];
  let skipped = 0;
  let run: RunHeader | undefined;
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l) continue;
    let o: unknown;
    try {
      o = JSON.parse(l);
    } catch {
      skipped++;
      continue;
    }
    if (isEpochRecord(o)) records.push(o);
    else if (!run && !records.length && isRunHeader(o)) run = o.run;
    else skipped++;
  }
  return run ? { records, skipped, run } : { records, skipped };
}

/** The first line `hone train --log` writes: what the run was. */
export interface RunHeader {
  model: string | null;
  data: string | null;
  /** The command's flags as given (output and log paths left out). */
  flags: Record<string, string | boolean>;
  started: string;
}

function isRunHeader(o: unknown): o is { run: RunHeader } {
  const r = (o as { run?: unknown } | null)?.run as Record<string, unknown> | undefined;
  return !!r && typeof r === 'object' && typeof r.flags === 'object' && r.flags !== null;
}

/** A run's settings in one line: `optimizer=sgd lr=0.1 epochs=5` (model and data named apart). */
export function runSettings(run: RunHeader | undefined): string {
  if (!run) return '';
  return Object.entries(run.flags)
    .filter(([k]) => k !== 'model' && k !== 'data')
    .map(([k, v]) => (v === true ? `--${k}` : `${k}=${v}`))
    .join(' ');
}

function isEpochRecord(o: unknown): o is EpochRecord {
  if (!o || typeof o !== 'object') return false;
  const r = o as Record<string, unknown>;
  return Number.isInteger(r.epoch) && (typeof r.trainLoss === 'number' || r.trainLoss === null) && typeof r.lr === 'number';
}

/** Reads one file the scan found (by its relative path), or undefined when it is not among them. */
export function readLogFile(dir: string, files: readonly LogFile[], path: string): { file: LogFile; text: string } | undefined {
  const file = files.find((f) => f.path === path);
  if (!file) return undefined;
  try {
    return { file, text: readFileSync(join(dir, ...file.path.split('/')), 'utf8') };
  } catch {
    return undefined;
  }
}
