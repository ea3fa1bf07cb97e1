/**
 * `hone nas --confirm K`: the search's answer checked before it is written. A search ranks architectures
 * by one training run each, on one validation split: the most accurate of many such runs is, more often
 * than not, one whose run went well (the winner's curse: with 1,600 held-out digits one standard error is
 * half a point, about the gap between good architectures). So the K most accurate within the limits, and
 * the space's reference, are trained again with `seeds` other seeds — each seed its own validation split
 * and initial weights, the same for every architecture (paired) — and timed again side by side, in
 * alternating rounds, so a slow moment of the machine lands on all of them alike. The answer is the
 * architecture with the best mean accuracy over all its runs (the search's and these) whose latency,
 * re-timed, is within the budget.
 *
 * Each seed is a study of the tuner's train objective (`STUDY.confirm-S`, in the search's storage, so the
 * dashboard shows it, and run by its workers), every candidate enqueued once.
 */
import type { Io } from '../command.js';
import { resolveTuneConfig } from '../tune/config.js';
import { runTune } from '../tune/run.js';
import { architectureModel, inferenceLatencyMs } from '../../nas/latency-model.js';
import { median } from '../../runtime/stats.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
import type { CostMetric } from '../tune/train-spec.js';

/** What the confirmation found for one architecture. */
export interface Confirmed {
  /** Validation accuracy per training seed: the search's run (seed 0) first, then seeds 1…S. */
  accuracies: number[];
  meanAccuracy: number;
  /** The least of its timings in the side-by-side rounds (ms at batch 1); null when the search's cost is not latency. */
  latencyMs: number | null;
  /** The median over rounds of its time over the reference's in the same round; null without a reference or timing. */
  latencyVsReference: number | null;
}

export interface ConfirmInfo {
  /** The training seeds of the extra runs (the search trained with seed 0). */
  seeds: number[];
  /** Trial numbers (of the search) confirmed, the reference among them when it has one. */
  architectures: number[];
  /** Side-by-side timing rounds (0 when nothing was timed). */
  rounds: number;
  seconds: number;
  /** Why the answer is not the best mean (e.g. none re-timed within the budget), when so. */
  note?: string;
}

/** An architecture as the confirmation takes it: its search trial, options (without 'model.') and name. */
export interface Candidate {
  number: number;
  options: Record<string, unknown>;
  model: string;
  accuracy: number;
}

export interface ConfirmOptions {
  /** The searched model (zoo:NAME or code:PATH), the data and the training settings of the search. */
  model: string;
  data: string;
  epochs: number;
  limit: number;
  recipe: Record<string, Distribution>;
  cost: CostMetric;
  provider?: string;
  storage?: string;
  study: string;
  workers: number;
  seeds: number;
  io: Io;
  quiet?: boolean;
  signal?: AbortSignal;
}

/** Side-by-side timing rounds: each architecture timed once per round, in turn. */
export const CONFIRM_ROUNDS = 7;

/**
 * Trains `candidates` again with seeds 1…`o.seeds` and, when the cost is latency, times them side by side
 * (the reference, when given, is one of them: `referenceNumber`). Returns each one's result by trial
 * number; a candidate whose extra training failed keeps the runs it has (its mean is over those).
 * Undefined when interrupted (the search's answer then stands).
 */
export async function confirmArchitectures(
  candidates: readonly Candidate[],
  referenceNumber: number | undefined,
  o: ConfirmOptions,
): Promise<{ results: Map<number, Confirmed>; info: ConfirmInfo } | undefined> {
  const t0 = performance.now();
  const keys = [...new Set(candidates.flatMap((c) => Object.keys(c.options)))];
  // Each option a categorical of the values the candidates take: the enqueued trials fix them all.
  const space: Record<string, Distribution> = { ...o.recipe };
  for (const k of keys)
    space[`model.${k}`] = { type: 'categorical', choices: [...new Set(candidates.map((c) => c.options[k] as ParamValue))] };
  const paramsOf = (c: Candidate) => Object.fromEntries(keys.map((k) => [`model.${k}`, c.options[k] as ParamValue]));
  const same = (p: Record<string, ParamValue>, c: Candidate) => keys.every((k) => p[`model.${k}`] === c.options[k]);
  const accuracies = new Map(candidates.map((c) => [c.number, [c.accuracy]]));
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  if (!o.quiet)
    o.io.stderr(
      `hone nas: confirming ${candidates.length} architectures (the ${candidates.length - (referenceNumber === undefined ? 0 : 1)} most accurate within the limits${referenceNumber === undefined ? '' : ' and the reference'}): trained again with ${o.seeds} other seed(s)${o.cost === 'latency' ? ', then timed side by side' : ''}\n`,
    );
  for (const seed of seeds) {
    const config = resolveTuneConfig(
      {
        study: `${o.study}.confirm-${seed}`,
        sampler: { name: 'random', seed: 0 },
        pruner: 'none',
        trials: candidates.length,
        workers: o.workers,
        space,
        objective: { train: { model: o.model, data: o.data, epochs: o.epochs, metric: 'accuracy', limit: o.limit, seed } },
      },
      { storage: o.storage },
    );
    config.enqueue = candidates.map((c) => ({ params: paramsOf(c) }));
    const run = await runTune(config, { resume: false, io: o.io, quiet: o.quiet, signal: o.signal });
    if (run.interrupted) return undefined;
    for (const h of run.report.history) {
      if (h.state !== 'complete' || h.values?.[0] === undefined) continue;
      const c = candidates.find((x) => same(h.params, x));
      if (c) accuracies.get(c.number)!.push(h.values[0]);
    }
  }
  const times = o.cost === 'latency' ? await sideBySide(candidates, o) : undefined;
  if (o.signal?.aborted) return undefined;
  const refIndex = candidates.findIndex((c) => c.number === referenceNumber);
  const results = new Map<number, Confirmed>();
  candidates.forEach((c, i) => {
    const acc = accuracies.get(c.number)!;
    const t = times?.[i];
    const ref = refIndex >= 0 ? times?.[refIndex] : undefined;
    results.set(c.number, {
      accuracies: acc,
      meanAccuracy: acc.reduce((s, v) => s + v, 0) / acc.length,
      latencyMs: t ? Math.min(...t) : null,
      latencyVsReference: t && ref ? median(t.map((v, r) => v / ref[r]!)) : null,
    });
  });
  return {
    results,
    info: {
      seeds,
      architectures: candidates.map((c) => c.number),
      rounds: times ? CONFIRM_ROUNDS : 0,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}

/** Each candidate timed once per round, in turn, CONFIRM_ROUNDS rounds: its timings by round. */
async function sideBySide(candidates: readonly Candidate[], o: ConfirmOptions): Promise<number[][]> {
  const models = candidates.map((c) => {
    const m = architectureModel(c.model);
    if (!m) throw new Error(`cannot build ${c.model} to time it`);
    return m;
  });
  // With ORT's default threads and nothing else running: as the model will run once deployed (a search with
  // --workers timed each on a share of the cores, beside other trainings).
  const times = models.map(() => [] as number[]);
  for (let r = 0; r < CONFIRM_ROUNDS && !o.signal?.aborted; r++)
    for (const [i, m] of models.entries()) times[i]!.push(await inferenceLatencyMs(m, 0, o.provider));
  return times;
}
