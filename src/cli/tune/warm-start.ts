import { badInput } from '../../errors.js';
import { storageKind, storageWhere } from '../../tune/storage/open.js';
import type { Storage } from '../../tune/storage/storage.js';
import type { Distribution } from '../../tune/types.js';
import { loadWarmStartSource, warmStart, type SourceTrials } from '../../tune/warm-start.js';
import type { Io } from '../command.js';

/**
 * `hone tune --warm-start STUDY[@STORAGE] [--warm-start-top K]`, or in a config
 * `warm_start: { study, storage, top }` (or `warm_start: STUDY[@STORAGE]`): a new study's first K trials
 * are the best K of an earlier study, mapped onto the new search space (src/tune/warm-start.ts says how).
 * The storage defaults to the new study's own. It applies when the study is created; `--resume` continues
 * a study as it is.
 */
export interface WarmStartConfig {
  study: string;
  /** The source's storage URL; undefined: the new study's storage. */
  storage?: string;
  top: number;
}

export const WARM_START_TOP = 5;

/** The warm start a config and the flags ask for (the flags win), checked; undefined when none. */
export function parseWarmStart(
  raw: unknown,
  flag: string | undefined,
  flagTop: number | undefined,
  src: string,
): WarmStartConfig | undefined {
  let study: string | undefined;
  let storage: string | undefined;
  let top: number | undefined;
  if (raw !== undefined && raw !== null) {
    if (typeof raw === 'string') ({ study, storage } = splitStudyAt(raw, `warm_start in ${src}`));
    else if (typeof raw === 'object' && !Array.isArray(raw)) {
      const o = raw as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (!['study', 'storage', 'top'].includes(k)) throw badInput(`unknown key 'warm_start.${k}' in ${src}; known: study, storage, top`);
      if (typeof o.study !== 'string' || !o.study) throw badInput(`warm_start.study in ${src} must name the earlier study`);
      if (o.storage !== undefined && (typeof o.storage !== 'string' || !o.storage))
        throw badInput(`warm_start.storage in ${src} must be a storage URL (sqlite:PATH or postgresql://…)`);
      if (o.top !== undefined && !(typeof o.top === 'number' && Number.isInteger(o.top) && o.top >= 1))
        throw badInput(`warm_start.top in ${src} must be an integer ≥ 1, got ${JSON.stringify(o.top)}`);
      study = o.study;
      storage = o.storage as string | undefined;
      top = o.top as number | undefined;
    } else throw badInput(`warm_start in ${src} must be { study, storage, top } or STUDY[@STORAGE]`);
  }
  if (flag !== undefined) ({ study, storage } = splitStudyAt(flag, '--warm-start'));
  if (study === undefined) {
    if (flagTop !== undefined)
      throw badInput('--warm-start-top needs --warm-start STUDY[@STORAGE] (the study to take the best trials from)');
    return undefined;
  }
  if (storage !== undefined) storageKind(storage); // an unknown kind of URL is an error now
  return { study, ...(storage !== undefined ? { storage } : {}), top: flagTop ?? top ?? WARM_START_TOP };
}

/** `lr-search@sqlite:runs.db` → study and storage, split at the first '@' (a PostgreSQL URL has its own). */
function splitStudyAt(v: string, what: string): { study: string; storage?: string } {
  const at = v.indexOf('@');
  const study = at < 0 ? v : v.slice(0, at);
  const storage = at < 0 ? undefined : v.slice(at + 1);
  if (!study || storage === '') throw badInput(`${what} '${v}' should be STUDY or STUDY@STORAGE, e.g. lr-search@sqlite:runs.db`);
  return { study, ...(storage !== undefined ? { storage } : {}) };
}

/**
 * Reads the source study before the new one is created, so a wrong name or storage ends the run (exit 2)
 * before any trial, naming the studies that exist. `target` is the new study's open storage.
 */
export async function loadCliWarmStart(
  ws: WarmStartConfig,
  target: { storage: Storage; url: string; study: string },
): Promise<SourceTrials> {
  const url = ws.storage ?? target.url;
  if (storageKind(url) === 'memory')
    throw badInput(
      `--warm-start ${ws.study}: memory storage holds no earlier study; say where it is, e.g. --warm-start ${ws.study}@sqlite:runs.db`,
    );
  const same = ws.storage === undefined || ws.storage === target.url;
  if (same && ws.study === target.study)
    throw badInput(`--warm-start names the study being created ('${ws.study}'); give the earlier study, or another --study name`);
  return loadWarmStartSource(
    same
      ? { storage: target.storage, study: ws.study, where: storageWhere(url) }
      : { storage: url, study: ws.study, where: storageWhere(url) },
  );
}

/** Enqueues the source's best trials in the new study (at most `budget`) and says on stderr what went in. */
export async function enqueueCliWarmStart(
  target: { storage: Storage; id: number },
  source: SourceTrials,
  ws: WarmStartConfig,
  space: Record<string, Distribution>,
  budget: number | undefined,
  io: Io,
): Promise<void> {
  const r = await warmStart(target, source, { topK: Math.min(ws.top, budget ?? ws.top), space });
  const changed = r.enqueued.filter((e) => e.dropped.length || e.adjusted.length);
  const detail = changed.length
    ? `; mapped onto this space: ${changed
        .map(
          (e) =>
            `trial ${e.from}${e.adjusted.length ? ` clipped ${e.adjusted.join(', ')}` : ''}${e.dropped.length ? `${e.adjusted.length ? ',' : ''} dropped ${e.dropped.join(', ')}` : ''}`,
        )
        .join('; ')}`
    : '';
  io.stderr(
    `hone: note: warm start: the first ${r.enqueued.length} trial(s) re-run the best of study '${source.study}' (${source.where}): trial(s) ${r.enqueued.map((e) => e.from).join(', ') || 'none'}${detail}${r.skipped.length ? `; ${r.skipped.length} passed over (no parameter fits, or a duplicate)` : ''}\n`,
  );
}
