/**
 * The report of a study: counts by state, the best trial (or the Pareto front), PED-ANOVA importance and
 * every trial's history. `hone tune` and `hone study show` print it (as text or `--json`), and
 * `hone study show --html` draws it, so all three show the same numbers from this one shape.
 */
import { paramImportance } from './importance.js';
import { dominates } from './study.js';
import type { Direction, FrozenTrial, ParamValue, StudySummary, TrialState } from './types.js';

/** What `hone tune` and `hone study show` report about a study; also the `--json` object and what `--html` draws. */
export interface StudyReport {
  study: string;
  directions: Direction[];
  nTrials: number;
  states: Record<TrialState, number>;
  /** Single objective: the best complete trial; null when none completed (or several objectives). */
  bestValue: number | null;
  bestParams: Record<string, ParamValue> | null;
  bestTrial: number | null;
  /** Several objectives: the Pareto front. */
  bestTrials: { number: number; values: number[]; params: Record<string, ParamValue> }[];
  /** PED-ANOVA importance of each parameter for the first objective (sums to 1). */
  importance: Record<string, number>;
  history: HistoryEntry[];
}

/** One trial of the report. */
export interface HistoryEntry {
  number: number;
  state: TrialState;
  /** One per objective; null unless complete (a pruned single-objective trial keeps its last reported value). */
  values: number[] | null;
  params: Record<string, ParamValue>;
  /** Best value of the first objective among trials up to this one. */
  bestSoFar: number | null;
  /** Seconds from start to finish; null while it runs (or when either time is unknown). */
  durationS: number | null;
  /** Why a failed trial failed (its fail_reason), when known. */
  failReason?: string;
  /** Why a pruned trial was stopped (its prune_reason: over a limit, dominated, the pruner's verdict), when told. */
  pruneReason?: string;
  /** The intermediate values it reported, [step, value] by step (JSON has no Infinity: null); absent when none. */
  intermediate?: [number, number][];
  /** The earlier study's trial it was enqueued from by a warm start ({ study, trial }), when it was. */
  warmStart?: { study: string; trial: number };
  /** The sampler the auto sampler chose to propose it (its system attribute auto:sampler), when it chose. */
  sampler?: string;
}

/**
 * The report of a study from its trials (in trial-number order, as storages return them). `importance:
 * false` leaves it empty: PED-ANOVA is most of the cost on large studies (~140 ms at 10,000 trials), and a
 * list of studies shows none.
 */
export function studyReport(
  summary: Pick<StudySummary, 'name' | 'directions'>,
  trials: readonly FrozenTrial[],
  opts: { importance?: boolean } = {},
): StudyReport {
  const directions = summary.directions;
  const better = (a: number, b: number) => (directions[0] === 'maximize' ? a > b : a < b);
  const states: Record<TrialState, number> = { complete: 0, pruned: 0, fail: 0, running: 0, waiting: 0 };
  for (const t of trials) states[t.state]++;
  const complete = trials.filter((t) => t.state === 'complete' && t.values);

  let best: FrozenTrial | undefined;
  let bestSoFar: number | null = null;
  const history: HistoryEntry[] = trials.map((t) => {
    if (t.state === 'complete' && t.values) {
      const v = t.values[0]!;
      if (bestSoFar === null || better(v, bestSoFar)) bestSoFar = v;
      if (directions.length === 1 && (!best || better(v, best.values![0]!))) best = t;
    }
    const e: HistoryEntry = {
      number: t.number,
      state: t.state,
      values: t.values ?? null,
      params: t.params,
      bestSoFar,
      durationS: t.datetimeStart !== undefined && t.datetimeComplete !== undefined ? (t.datetimeComplete - t.datetimeStart) / 1000 : null,
    };
    if (t.state === 'fail' && typeof t.systemAttrs.fail_reason === 'string') e.failReason = t.systemAttrs.fail_reason;
    if (t.state === 'pruned' && typeof t.systemAttrs.prune_reason === 'string') e.pruneReason = t.systemAttrs.prune_reason;
    const steps = Object.keys(t.intermediateValues)
      .map(Number)
      .sort((a, b) => a - b);
    if (steps.length) e.intermediate = steps.map((s) => [s, t.intermediateValues[s]!]);
    const from = t.systemAttrs.warm_start as { study?: unknown; trial?: unknown } | undefined;
    if (typeof from?.study === 'string' && typeof from.trial === 'number') e.warmStart = { study: from.study, trial: from.trial };
    if (typeof t.systemAttrs['auto:sampler'] === 'string') e.sampler = t.systemAttrs['auto:sampler'];
    return e;
  });

  let front: FrozenTrial[] = [];
  if (directions.length > 1) {
    const loss = complete.map((t) => t.values!.map((v, i) => (directions[i] === 'maximize' ? -v : v)));
    front = complete.filter((_, i) => !loss.some((o, j) => j !== i && dominates(o, loss[i]!)));
  }
  const chosen = best as FrozenTrial | undefined;
  return {
    study: summary.name,
    directions,
    nTrials: trials.length,
    states,
    bestValue: chosen ? chosen.values![0]! : null,
    bestParams: chosen ? chosen.params : null,
    bestTrial: chosen ? chosen.number : null,
    bestTrials: front.map((t) => ({ number: t.number, values: t.values!, params: t.params })),
    importance: opts.importance === false ? {} : paramImportance(trials, directions),
    history,
  };
}
