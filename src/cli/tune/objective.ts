import { setTimeout as delay } from 'node:timers/promises';
import { benchmarkObjective, getBenchmark } from '../../tune/benchmarks.js';
import type { Objective } from '../../tune/study.js';
import type { Distribution } from '../../tune/types.js';
import { commandObjective } from './command-objective.js';
import type { TuneConfig } from './config.js';
import { Interrupted, interruptReason } from './interrupt.js';

/**
 * The parameters a config's objective suggests: the config's space for a command (and for a train
 * objective, whose config holds its default space merged with the user's), the benchmark's own
 * (x0 … x{d−1} over its domain) for a benchmark, so a grid can be laid over either.
 */
export function objectiveSpace(config: TuneConfig): Record<string, Distribution> {
  const o = config.objective;
  if (o.kind === 'command' || o.kind === 'train') return config.space;
  const f = getBenchmark(o.name);
  return Object.fromEntries(f.bounds.map(([low, high], i) => [`x${i}`, { type: 'float', low, high, log: false } satisfies Distribution]));
}

/**
 * The objective a config names: a command (any language), a built-in benchmark, or training a model
 * with Hone's trainer. When `signal` aborts, a running command is stopped, a training run stops after
 * its step and a benchmark's delay is cut short; each rejects with `Interrupted`.
 */
export function makeObjective(config: TuneConfig, signal?: AbortSignal): Objective {
  const o = config.objective;
  if (o.kind === 'command') return commandObjective(o, config.space, config.study, signal);
  if (o.kind === 'train') {
    // Loaded on first use: a worker of a command or benchmark study need not load ONNX Runtime.
    const ready = import('./train-objective.js').then((m) =>
      m.trainObjective(o, config.space, config.study, { workers: config.workers, signal }),
    );
    ready.catch(() => undefined);
    return async (trial) => (await ready)(trial);
  }
  const evaluate = benchmarkObjective(getBenchmark(o.name));
  const delayMs = (o.delayS ?? 0) * 1000;
  if (delayMs === 0) return evaluate;
  return async (trial) => {
    const value = evaluate(trial);
    try {
      await delay(delayMs, undefined, { signal });
    } catch (e) {
      if (signal?.aborted) throw new Interrupted(`stopped: ${interruptReason(signal)}`);
      throw e;
    }
    return value;
  };
}

/**
 * Checks what can only be checked by running (a train objective's model on its data) before the first
 * trial; returns what the user should know that is not an error (one line each).
 */
export async function checkObjective(config: TuneConfig): Promise<string[]> {
  if (config.objective.kind !== 'train') return [];
  return (await import('./train-objective.js')).checkTrainObjective(config.objective);
}
