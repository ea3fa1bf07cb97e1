import { setTimeout as delay } from 'node:timers/promises';
import { benchmarkObjective, getBenchmark } from '../../tune/benchmarks.js';
import type { Objective } from '../../tune/study.js';
import type { Distribution } from '../../tune/types.js';
import { commandObjective } from './command-objective.js';
import type { TuneConfig } from './config.js';
import { Interrupted, interruptReason } from './interrupt.js';

/**
 * The parameters a config's objective suggests: the config's space for a command, the benchmark's own
 * (x0 … x{d−1} over its domain) for a benchmark, so a grid can be laid over either.
 */
export function objectiveSpace(config: TuneConfig): Record<string, Distribution> {
  const o = config.objective;
  if (o.kind === 'command') return config.space;
  const f = getBenchmark(o.name);
  return Object.fromEntries(f.bounds.map(([low, high], i) => [`x${i}`, { type: 'float', low, high, log: false } satisfies Distribution]));
}

/**
 * The objective a config names: a command (any language) or a built-in benchmark. When `signal` aborts,
 * a running command is stopped and a benchmark's delay cut short; either rejects with `Interrupted`.
 */
export function makeObjective(config: TuneConfig, signal?: AbortSignal): Objective {
  const o = config.objective;
  if (o.kind === 'command') return commandObjective(o, config.space, config.study, signal);
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
