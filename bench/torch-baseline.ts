/**
 * PyTorch as a fair baseline for the benches that run it (bench/train.ts, bench/conv-grad.ts): whether
 * `python` imports torch, and if so whether its GEMMs come from an optimized BLAS and its convolutions
 * from oneDNN (bench/torch_check.py); exits 2 with the fixing command otherwise, since a ratio against
 * Debian's reference BLAS (about 10x slower GEMMs) means nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface TorchBaseline {
  /** Whether `python` imports torch; without it the benches print Hone's numbers only. */
  available: boolean;
  /** One line for the bench's output: PyTorch's version and backends, or why there is none. */
  header: string;
  /** The environment to run PyTorch in: BLAS and OpenMP at the bench's thread count. */
  env: NodeJS.ProcessEnv;
}

interface Probe {
  torch: string;
  blas: { kind: string; variant: string | null; version: string | null; file: string | null };
  mkldnn: { available: boolean; enabled: boolean; version: string | null };
  ok: boolean;
  problem: string | null;
  fix: string | null;
}

export function torchBaseline(python: string, threads: number): TorchBaseline {
  const env = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
  };
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0)
    return {
      available: false,
      header: `PyTorch: none (${python} cannot import torch; apt-get install python3-torch) — Hone's numbers only`,
      env,
    };
  const probe = JSON.parse(
    execFileSync(python, [join(import.meta.dirname, 'torch_check.py')], { encoding: 'utf8', env })
      .trim()
      .split('\n')
      .pop()!,
  ) as Probe;
  if (!probe.ok) {
    console.error(`PyTorch is not a fair baseline here: ${probe.problem}; fix: ${probe.fix}`);
    process.exit(2);
  }
  const { blas, mkldnn } = probe;
  return {
    available: true,
    header: `PyTorch ${probe.torch} · BLAS ${blas.kind}${blas.version ? ` ${blas.version}` : ''}${blas.variant ? ` (${blas.variant})` : ''} · conv oneDNN${mkldnn.version ? ` ${mkldnn.version}` : ''}`,
    env,
  };
}

/** glibc malloc settings under which large buffers are reused instead of mapped and unmapped on every call. */
export const STEADY_MALLOC = 'glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824';

/**
 * Re-runs this bench in a child process with STEADY_MALLOC in GLIBC_TUNABLES (for Hone and, through the
 * environment, for PyTorch), unless it is set already or `off`; returns only when nothing needs re-running.
 *
 * Why: glibc serves a buffer of 128 KiB or more (its threshold adapts up to 32 MiB) with mmap and returns it
 * with munmap, so a framework that allocates its large tensors per call takes a page fault for every 4 KiB of
 * them on every call; on this project's VMs a fault costs about 14 µs (8 MiB: 2,048 faults, ~28 ms), and
 * whether a call pays depends on the allocator's history, so times switch between two levels 2–3x apart.
 * PyTorch allocates activations per step this way (hence the usual advice to run it on jemalloc or
 * tcmalloc); Hone's trainer mostly does not (ORT's arena, outputs bound to its own buffers). Both sides get
 * the same allocator settings: the best each can do, and numbers that repeat.
 */
export function withSteadyMalloc(off: boolean): void {
  if (off || process.platform !== 'linux' || (process.env.GLIBC_TUNABLES ?? '').includes('mmap_threshold')) return;
  const tunables = [process.env.GLIBC_TUNABLES, STEADY_MALLOC].filter(Boolean).join(':');
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: tunables },
  });
  process.exit(r.status ?? 1);
}
