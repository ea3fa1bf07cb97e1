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
