import { benchmarkObjective, getBenchmark } from '../benchmarks.js';
import { sleep } from '../storage/codec.js';
import type { Objective } from '../study.js';
import { commandObjective } from './command-objective.js';
import type { TuneConfig } from './config.js';

/** The objective a config names: a command (any language) or a built-in benchmark. */
export function makeObjective(config: TuneConfig): Objective {
  const o = config.objective;
  if (o.kind === 'command') return commandObjective(o, config.space, config.study);
  const evaluate = benchmarkObjective(getBenchmark(o.name));
  const delayMs = (o.delayS ?? 0) * 1000;
  if (delayMs === 0) return evaluate;
  return async (trial) => {
    const value = evaluate(trial);
    await sleep(delayMs);
    return value;
  };
}
