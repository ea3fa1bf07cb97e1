/**
 * The tuner's data model (Optuna's, in TypeScript): distributions, trials, studies. Samplers, pruners
 * and storages all speak these types; storages persist them as JSON.
 */
export type Direction = 'minimize' | 'maximize';

import type { Distribution, ParamValue } from '../util/space.js';

// Defined in util/space.ts, below every layer that declares a search space (a pass's options).
export type { Distribution, ParamValue };

export type TrialState = 'running' | 'waiting' | 'complete' | 'pruned' | 'fail';

export interface FrozenTrial {
  /** Global id in the storage. */
  id: number;
  /** 0-based number within its study. */
  number: number;
  state: TrialState;
  /** One value per objective (direction); set when complete. */
  values?: number[];
  /** Parameter values in external form (what the objective saw). */
  params: Record<string, ParamValue>;
  distributions: Record<string, Distribution>;
  /** step → value, from trial.report. */
  intermediateValues: Record<number, number>;
  userAttrs: Record<string, unknown>;
  systemAttrs: Record<string, unknown>;
  /** ms since epoch */
  datetimeStart?: number;
  datetimeComplete?: number;
}

export interface StudySummary {
  id: number;
  name: string;
  directions: Direction[];
  userAttrs: Record<string, unknown>;
  systemAttrs: Record<string, unknown>;
  nTrials: number;
  datetimeStart?: number;
}
