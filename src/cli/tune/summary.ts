import { paramImportance } from '../../tune/importance.js';
import { dominates } from '../../tune/study.js';
import type { Direction, FrozenTrial, ParamValue, StudySummary, TrialState } from '../../tune/types.js';

/** What `hone tune` and `hone study show` report about a study; also the `--json` object. */
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

export interface HistoryEntry {
  number: number;
  state: TrialState;
  values: number[] | null;
  params: Record<string, ParamValue>;
  /** Best value of the first objective among trials up to this one. */
  bestSoFar: number | null;
  durationS: number | null;
  /** Why a failed trial failed (its fail_reason), when known. */
  failReason?: string;
  /** The intermediate values it reported, [step, value] by step (JSON has no Infinity: null); absent when none. */
  intermediate?: [number, number][];
  /** The earlier study's trial it was enqueued from by a warm start ({ study, trial }), when it was. */
  warmStart?: { study: string; trial: number };
  /** The sampler the auto sampler chose to propose it (its system attribute auto:sampler), when it chose. */
  sampler?: string;
}

export function studyReport(summary: Pick<StudySummary, 'name' | 'directions'>, trials: readonly FrozenTrial[]): StudyReport {
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
    importance: paramImportance(trials, directions),
    history,
  };
}

/** The human report: counts, best trial, importance bars, the last trials. */
export function formatReport(r: StudyReport, opts: { where?: string; historyRows?: number } = {}): string {
  const lines: string[] = [];
  const counts = (['complete', 'pruned', 'fail', 'running', 'waiting'] as const)
    .filter((s) => r.states[s] > 0)
    .map((s) => `${r.states[s]} ${s === 'fail' ? 'failed' : s}`)
    .join(', ');
  lines.push(`study ${r.study}${opts.where ? ` (${opts.where})` : ''}: ${r.nTrials} trials${counts ? ` — ${counts}` : ''}`);
  if (r.bestTrial !== null) {
    lines.push(`best: trial #${r.bestTrial}, value ${formatValue(r.bestValue!)} (${r.directions[0]})`);
    for (const [k, v] of Object.entries(r.bestParams!))
      lines.push(`  ${k} = ${typeof v === 'number' ? formatValue(v) : JSON.stringify(v)}`);
  } else if (r.bestTrials.length) {
    lines.push(`Pareto front (${r.directions.join(', ')}): ${r.bestTrials.length} trials`);
    for (const t of r.bestTrials.slice(0, 10))
      lines.push(`  #${t.number}  [${t.values.map(formatValue).join(', ')}]  ${paramText(t.params)}`);
  } else {
    lines.push('best: no trial completed yet');
  }
  const imp = Object.entries(r.importance);
  if (imp.length) {
    lines.push('parameter importance (PED-ANOVA):');
    const width = Math.max(...imp.map(([k]) => k.length));
    for (const [k, v] of imp) lines.push(`  ${k.padEnd(width)}  ${'█'.repeat(Math.round(v * 30)).padEnd(30)} ${v.toFixed(3)}`);
  }
  const rows = r.history.slice(-(opts.historyRows ?? 10));
  if (rows.length) {
    lines.push(`history (last ${rows.length}):`);
    const samplers = rows.some((h) => h.sampler);
    lines.push(`  trial  state     value        best so far${samplers ? '  sampler' : ''}`);
    for (const h of rows) {
      const value = h.values ? h.values.map(formatValue).join(', ') : h.failReason ? h.failReason.slice(0, 60) : '-';
      const best = h.bestSoFar === null ? '-' : formatValue(h.bestSoFar);
      lines.push(
        `  ${String(h.number).padStart(5)}  ${h.state.padEnd(8)}  ${value.padEnd(11)}  ${samplers ? `${best.padEnd(11)}  ${h.sampler ?? '-'}` : best}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A value as reports print it: 6 significant digits, exponent notation when very small or large. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : Number(v.toPrecision(6)).toString();
}

/** `lr=0.001 act="relu"`: a trial's params on one line. */
export function paramText(p: Record<string, ParamValue>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatValue(v) : JSON.stringify(v)}`)
    .join(' ');
}
