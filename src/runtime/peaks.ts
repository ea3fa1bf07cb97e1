/**
 * The machine's measured peaks (FLOP/s and memory bandwidth), for the roofline in the bottleneck
 * verdict. Measured once (about a second, in a worker) and cached as JSON under ~/.cache/hone (or the OS
 * temp dir when home is not writable), keyed by CPU model, core count, ORT version and thread setting.
 *
 * A cached figure is checked on every use by a probe (a few milliseconds on this thread: peaks-kernel.ts),
 * compared with the probe taken right after the cached figures: figures cached while a neighbour kept the
 * machine busy read low, and would tilt every later verdict, so a probe that runs clearly faster than the
 * cached one has them measured again, and the higher of old and new is kept (the key
 * pins the hardware and runtime, so a higher rate is a truer one). A probe clearly slower means the machine
 * is busy now: the cached figures stand, and the check says so. Figures older than MAX_AGE_MS are measured
 * again outright, since what the key cannot see (firmware, a VM moved to other hardware) may have changed.
 */
import { readFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { cpuIdentity } from './cpu.js';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { MachinePeaks } from './measure.js';
import { runWorker } from './measure.js';
import { probePeaks } from './peaks-kernel.js';
import { validInt8Speedups } from './int8-kernels.js';
import type { SessionOpts } from './session.js';
import { ensureDir, writeFileAtomic } from '../util/fs.js';

export type { MachinePeaks } from './measure.js';

export interface PeaksOpts {
  session?: SessionOpts;
  /** Cache folder (default ~/.cache/hone, falling back to the OS temp dir). */
  cacheDir?: string;
  /** Measure again even when cached, replacing the cached figures. */
  refresh?: boolean;
  /** Check cached figures with a probe (default true). */
  probe?: boolean;
}

/** The peaks and how they were obtained (`check`: one line for the report). */
export interface CheckedPeaks extends MachinePeaks {
  check: string;
}

/** Cached figures older than this (30 days) are measured again. */
export const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
/** A probe this much faster than the cache means the cache was measured on a busy machine: measure again. */
export const PROBE_FASTER = 1.25;
/** A probe under this fraction of the cache means the machine is busy now. */
export const PROBE_SLOWER = 0.5;

export async function machinePeaks(opts: PeaksOpts = {}): Promise<CheckedPeaks> {
  const key = peaksKey(opts.session);
  const dirs = opts.cacheDir ? [opts.cacheDir] : [join(homedir(), '.cache', 'hone'), join(tmpdir(), 'hone')];
  const measure = async () => (await runWorker({ kind: 'peaks', session: opts.session, key })) as MachinePeaks;
  const hit = opts.refresh ? undefined : dirs.map((d) => readCache(join(d, 'machine-peaks.json'))[key]).find(valid);
  if (!hit) return { ...store(dirs, key, await measure()), check: opts.refresh ? 'measured (--refresh-peaks)' : 'measured (none cached)' };
  const age = Date.now() - hit.measuredAt!;
  if (age > MAX_AGE_MS)
    return { ...store(dirs, key, await measure()), check: `measured again (the cached figures were ${(age / 864e5).toFixed(0)} days old)` };
  if (opts.probe === false) return { ...hit, check: 'cached, not probed' };
  const probe = await probePeaks(opts.session ?? {});
  const then = hit.probe!;
  const ratio = Math.min(probe.flops / then.flops, probe.cacheBandwidth / then.cacheBandwidth);
  const faster = Math.max(probe.flops / then.flops, probe.cacheBandwidth / then.cacheBandwidth);
  if (faster > PROBE_FASTER) {
    const fresh = await measure();
    const best = { ...fresh };
    for (const k of ['flops', 'bandwidth', 'cacheBandwidth'] as const) best[k] = Math.max(hit[k], fresh[k]);
    best.probe = {
      flops: Math.max(then.flops, fresh.probe!.flops, probe.flops),
      cacheBandwidth: Math.max(then.cacheBandwidth, fresh.probe!.cacheBandwidth, probe.cacheBandwidth),
    };
    return {
      ...store(dirs, key, best),
      check: `measured again: a probe ran ${faster.toFixed(2)}x the cached figures' (they were measured on a busier machine)`,
    };
  }
  if (ratio < PROBE_SLOWER)
    return {
      ...hit,
      check: `cached; a probe reached only ${(ratio * 100).toFixed(0)}% of them: the machine is busy now, so latencies may read high`,
    };
  return { ...hit, check: `cached, a probe agrees (${((probe.flops / then.flops) * 100).toFixed(0)}% of the FLOP/s)` };
}

/**
 * How the peaks are measured, in the key so that figures measured another way are measured again:
 * 2 = the FLOP/s MatMul summed in the graph (peaks-kernel.ts), whose runs allocate no large output.
 */
const METHOD = 'm2';

/** What the peaks depend on: the CPU, how many cores, ORT's version, the provider and its threads (and the method). */
export function peaksKey(session: SessionOpts = {}): string {
  const cpu = cpuIdentity();
  return [
    METHOD,
    cpu,
    `${cpus().length}cpu`,
    `ort${ort.env.versions.node ?? ort.env.versions.common}`,
    session.provider ?? 'cpu',
    `t${session.intraOpThreads ?? 0}`,
  ].join('|');
}

/** A cache entry of the current format (older ones, without `measuredAt`, `probe` or `int8`, are measured again). */
function valid(p: MachinePeaks | undefined): p is MachinePeaks {
  return (
    !!p &&
    validInt8Speedups(p.int8) &&
    [p.flops, p.bandwidth, p.cacheBandwidth, p.cacheBytes, p.measuredAt, p.probe?.flops, p.probe?.cacheBandwidth].every(
      (x) => typeof x === 'number' && x > 0,
    )
  );
}

/** Writes `peaks` under `key` into the first writable cache folder; returns them. */
function store(dirs: string[], key: string, peaks: MachinePeaks): MachinePeaks {
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

function readCache(file: string): Record<string, MachinePeaks> {
  try {
    const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return data && typeof data === 'object' ? (data as Record<string, MachinePeaks>) : {};
  } catch {
    return {};
  }
}
