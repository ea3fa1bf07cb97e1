import type { StudyView } from '../samplers/base.js';
import type { FrozenTrial } from '../types.js';

/**
 * Decides from a running trial's reported values whether to stop it early (Optuna's pruner interface).
 * `study.trials` may include a stale copy of `trial` itself; pruners skip it by id.
 */
export interface Pruner {
  prune(study: StudyView, trial: FrozenTrial): boolean;
}

/** Never prunes. */
export class NopPruner implements Pruner {
  prune(): boolean {
    return false;
  }
}
