/**
 * The machine's measured peaks (FLOP/s and memory bandwidth), for the roofline in the bottleneck
 * verdict. Measured once (about a second, in a worker) and cached as JSON under ~/.cache/hone (or the OS
 * temp dir when home is not writable), keyed by CPU model, core count, ORT version and thread setting.
 */
import { readFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { MachinePeaks } from './measure.js';
import { runWorker } from './measure.js';
import type { SessionOpts } from './session.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';

export type { MachinePeaks } from './measure.js';

export interface PeaksOpts {
  session?: SessionOpts;
  /** Cache folder (default ~/.cache/hone, falling back to the OS temp dir). */
  cacheDir?: string;
  /** Measure again even when cached. */
  refresh?: boolean;
}

export async function machinePeaks(opts: PeaksOpts = {}): Promise<MachinePeaks> {
  const key = peaksKey(opts.session);
  const dirs = opts.cacheDir ? [opts.cacheDir] : [join(homedir(), '.cache', 'hone'), join(tmpdir(), 'hone')];
  if (!opts.refresh) {
    for (const dir of dirs) {
      const hit = readCache(join(dir, 'machine-peaks.json'))[key];
      if (hit && typeof hit.cacheBandwidth === 'number') return hit;
    }
  }
  const peaks = (await runWorker({ kind: 'peaks', session: opts.session, key })) as MachinePeaks;
  for (const dir of dirs) {
    try {
      const file = join(dir, 'machine-peaks.json');
      ensureDir(dir);
      writeFileAtomic(file, JSON.stringify({ ...readCache(file), [key]: peaks }, null, 1));
      break;
    } catch {
      // Not writable: try the next folder; without any, we simply measure again next time.
    }
  }
  return peaks;
}

/** What the peaks depend on: the CPU, how many cores, ORT's version, the provider and its threads. */
export function peaksKey(session: SessionOpts = {}): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown-cpu';
  return [cpu, `${cpus().length}cpu`, `ort${ort.env.versions.node ?? ort.env.versions.common}`, session.provider ?? 'cpu', `t${session.intraOpThreads ?? 0}`].join('|');
}

function readCache(file: string): Record<string, MachinePeaks> {
  try {
    const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return data && typeof data === 'object' ? (data as Record<string, MachinePeaks>) : {};
  } catch {
    return {};
  }
}
