import { existsSync } from 'node:fs';
import { badInput } from '../errors.js';
import { contains, snap } from './distributions.js';
import { constraintViolation, type Sampler, type StudyView } from './samplers/base.js';
import { crowdingDistance, nonDominatedRanks } from './samplers/nsga2.js';
import { openStorage, sqlitePath, storageKind } from './storage/open.js';
import type { Storage } from './storage/storage.js';
import type { Direction, Distribution, FrozenTrial, ParamValue, TrialState } from './types.js';

/**
 * Warm starts: a new study seeded from the trials of an earlier one on a similar task (another data set,
 * a wider model, a moved range). Two ways, usable together:
 *
 * - `warmStart` (enqueue): the source's best K trials' parameters are enqueued in the target, so its
 *   first K trials re-measure the best known configurations on the new task before the sampler takes
 *   over. Works with every sampler, every storage and worker processes (the queue lives in the storage).
 * - `WarmStartSampler` (prior): wraps a sampler so that it sees the source's finished trials as extra
 *   observations beside the study's own. Model-based samplers (TPE, GP) then skip their random start-up
 *   and model the new task from the first trial; the prior is never stored in the target study, so its
 *   history, best trial and budget stay its own.
 *
 * Parameters are mapped onto the target's search space (`space`, or what its trials defined so far) by
 * one rule, `adaptParams`: a parameter the target does not define is dropped; a value the target's
 * distribution holds is kept; a finite number outside a numeric distribution is clipped into its range
 * and snapped onto its step (ints rounded) — the source found its best values at that edge, so the edge
 * is the closest thing to them the new space offers; anything else (a choice the new categorical lacks,
 * a string for a number) is dropped, and the target's sampler draws that parameter.
 */

export interface WarmStartSource {
  /** The source study's name. */
  study: string;
  /** Its storage: an open one, or a URL (sqlite:PATH, PATH.db, postgresql://…; opened and closed here). */
  storage: Storage | string;
  /** How messages name the storage (default: the URL, or 'the source storage'). */
  where?: string;
}

/** A source study's trials, read once (`loadWarmStartSource`) and usable by both warm-start ways. */
export interface SourceTrials {
  study: string;
  /** Where it was read from, for messages. */
  where: string;
  directions: Direction[];
  /** All its trials, in number order. */
  trials: FrozenTrial[];
}

/**
 * Reads a source study; throws a one-line error naming what exists when the storage or the study does
 * not, or when the study has no complete trial to start from.
 */
export async function loadWarmStartSource(source: WarmStartSource | SourceTrials): Promise<SourceTrials> {
  if ('trials' in source) return source;
  const where = source.where ?? (typeof source.storage === 'string' ? source.storage : 'the source storage');
  let storage: Storage;
  if (typeof source.storage === 'string') {
    const url = source.storage;
    const kind = storageKind(url);
    if (kind === 'memory')
      throw badInput(
        `warm start: memory storage holds no earlier study; give the sqlite:PATH or postgresql://… storage that holds '${source.study}'`,
      );
    if (kind === 'sqlite' && !existsSync(sqlitePath(url)))
      throw badInput(`warm start: no storage at ${url} (no such file); give the storage that holds study '${source.study}'`);
    storage = await openStorage(url);
  } else storage = source.storage;
  try {
    const id = await storage.getStudyId(source.study);
    if (id === undefined) {
      const names = (await storage.listStudies()).map((s) => s.name);
      throw badInput(
        `warm start: no study '${source.study}' in ${where}${names.length ? `; studies there: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}` : '; it holds no studies'}`,
      );
    }
    const summary = await storage.getStudy(id);
    const trials = await storage.getAllTrials(id);
    if (!trials.some(usable)) {
      throw badInput(
        `warm start: study '${source.study}' in ${where} has no complete trial to start from (${trials.length} trial(s)${trials.length ? `: ${stateCounts(trials)}` : ''}); run it first or pick another`,
      );
    }
    return { study: source.study, where, directions: summary.directions, trials };
  } finally {
    if (typeof source.storage === 'string') await storage.close();
  }
}

function usable(t: FrozenTrial): boolean {
  return t.state === 'complete' && t.values !== undefined && t.values.length > 0 && t.values.every((v) => Number.isFinite(v));
}

function stateCounts(trials: readonly FrozenTrial[]): string {
  const n = new Map<TrialState, number>();
  for (const t of trials) n.set(t.state, (n.get(t.state) ?? 0) + 1);
  return [...n].map(([s, k]) => `${k} ${s}`).join(', ');
}

/**
 * The source's complete trials, best first by its own directions: by value with one objective; by
 * non-domination rank, then crowding distance (spread-out points first) with several. Feasible trials
 * come before infeasible ones where constraints were stored; ties keep trial order.
 */
export function rankTrials(trials: readonly FrozenTrial[], directions: readonly Direction[]): FrozenTrial[] {
  const done = trials.filter((t) => usable(t) && t.values!.length === directions.length);
  const constrained = done.some((t) => Array.isArray(t.systemAttrs.constraints));
  const violation = done.map((t) => (constrained ? constraintViolation(t) : 0));
  const loss = done.map((t) => t.values!.map((v, i) => (directions[i] === 'maximize' ? -v : v)));
  const order = done.map((_, i) => i);
  if (directions.length === 1) {
    order.sort((a, b) => violation[a]! - violation[b]! || loss[a]![0]! - loss[b]![0]! || a - b);
  } else {
    const rank = nonDominatedRanks(loss, violation);
    const crowd = new Array<number>(done.length).fill(0);
    for (const r of new Set(rank)) {
      const members = order.filter((i) => rank[i] === r);
      crowdingDistance(members.map((i) => loss[i]!)).forEach((c, k) => (crowd[members[k]!] = c));
    }
    order.sort((a, b) => rank[a]! - rank[b]! || crowd[b]! - crowd[a]! || a - b);
  }
  return order.map((i) => done[i]!);
}

/** What `adaptParams` did to one trial's parameters. */
export interface AdaptedParams {
  params: Record<string, ParamValue>;
  /** Not in the target space, or a value its distribution cannot take (see the module comment). */
  dropped: string[];
  /** Numbers clipped into the target's range or snapped onto its grid. */
  adjusted: string[];
}

/**
 * Maps a source trial's parameters onto `space` (the rule in the module comment). With `space`
 * undefined every parameter is kept as it is.
 */
export function adaptParams(params: Record<string, ParamValue>, space: Record<string, Distribution> | undefined): AdaptedParams {
  const out: AdaptedParams = { params: {}, dropped: [], adjusted: [] };
  for (const [name, v] of Object.entries(params)) {
    if (!space) {
      out.params[name] = v;
      continue;
    }
    const d = space[name];
    if (!d) out.dropped.push(name);
    else if (contains(d, v)) out.params[name] = v;
    else if (d.type !== 'categorical' && typeof v === 'number' && Number.isFinite(v)) {
      out.params[name] = snap(d, v);
      out.adjusted.push(name);
    } else out.dropped.push(name);
  }
  return out;
}

/** The distributions the target's trials defined so far (the latest definition of each name). */
function spaceOfTrials(trials: readonly FrozenTrial[]): Record<string, Distribution> {
  const space: Record<string, Distribution> = {};
  for (const t of trials) Object.assign(space, t.distributions);
  return space;
}

export interface WarmStartOptions {
  /** How many of the source's best trials to enqueue. Default 5. */
  topK?: number;
  /**
   * The target's search space, to map parameters onto (see `adaptParams`). Default: the distributions
   * its trials defined so far; with none, parameters go in as they are (a value the objective's
   * distribution turns out not to hold is then sampled instead, as for any enqueued trial).
   */
  space?: Record<string, Distribution>;
}

export interface WarmStartResult {
  source: { study: string; where: string };
  /** The enqueued trials, in queue order: the source trial each came from, and what the mapping did. */
  enqueued: ({ from: number } & AdaptedParams)[];
  /** Source trials passed over: every parameter dropped, or the same parameters as one enqueued already or in the target. */
  skipped: { from: number; reason: string }[];
}

/**
 * Enqueues the parameters of the source's best `topK` trials in `target` (best first, so they are its
 * next trials), each mapped onto the target's space. Distinct parameter sets only: a source trial that
 * maps onto one already enqueued (or already in the target) is passed over for the next best. Each
 * enqueued trial records its origin in systemAttrs.warm_start ({ study, trial }).
 */
export async function warmStart(
  target: { storage: Storage; id: number },
  source: WarmStartSource | SourceTrials,
  opts: WarmStartOptions = {},
): Promise<WarmStartResult> {
  const topK = opts.topK ?? 5;
  if (!(Number.isInteger(topK) && topK >= 1)) throw badInput(`warm start: topK must be an integer ≥ 1 (got ${topK})`);
  const src = await loadWarmStartSource(source);
  const existing = await target.storage.getAllTrials(target.id);
  const space = opts.space ?? (existing.length ? spaceOfTrials(existing) : undefined);
  const seen = new Set(existing.map((t) => paramsKey((t.systemAttrs.fixed_params as Record<string, ParamValue> | undefined) ?? t.params)));
  const result: WarmStartResult = { source: { study: src.study, where: src.where }, enqueued: [], skipped: [] };
  for (const t of rankTrials(src.trials, src.directions)) {
    if (result.enqueued.length >= topK) break;
    const a = adaptParams(t.params, space);
    if (Object.keys(a.params).length === 0) {
      result.skipped.push({ from: t.number, reason: `none of its parameters (${Object.keys(t.params).join(', ')}) fits the new space` });
      continue;
    }
    const key = paramsKey(a.params);
    if (seen.has(key)) {
      result.skipped.push({ from: t.number, reason: 'the same parameters as a trial already queued or run' });
      continue;
    }
    seen.add(key);
    await target.storage.createTrial(target.id, {
      state: 'waiting',
      userAttrs: {},
      systemAttrs: { fixed_params: a.params, warm_start: { study: src.study, trial: t.number } },
    });
    result.enqueued.push({ from: t.number, ...a });
  }
  return result;
}

/** One key per parameter set, whatever the order of its names. */
function paramsKey(p: Record<string, ParamValue>): string {
  return JSON.stringify(
    Object.keys(p)
      .sort()
      .map((k) => [k, typeof p[k], p[k]]),
  );
}

export interface PriorOptions {
  /** The target's search space (see `adaptParams`). Default: what its trials defined so far, learned as they run. */
  space?: Record<string, Distribution>;
  /**
   * At most this many source trials, spread evenly over their ranking (best and worst kept) so that the
   * prior keeps both its good and its poor regions, which TPE needs both of. Default 25. The prior weighs
   * as this many observations: a small one gives way sooner to the study's own trials.
   */
  size?: number;
}

/**
 * A sampler that sees the source's complete trials as extra observations (the prior) before the study's
 * own. The prior trials are mapped onto the target's space (`adaptParams`), numbered below 0 (they come
 * first, in the source's trial order), carry their values and constraints and nothing else, and exist
 * only in what the wrapped sampler sees: nothing is written to the storage.
 *
 * Useful with samplers that model all finished trials: TPE and GP (which then start modelling at the
 * first trial: the prior counts towards their start-up trials). Samplers that track their own
 * generations (CMA-ES, NSGA-II) or a fixed sequence (grid, QMC, random) ignore trials they did not
 * make, so a prior does nothing for them. Values must be comparable across the two studies (the same
 * metric on a similar task): TPE ranks the prior with the study's own trials, and the GP fits them
 * together. Where the scales differ, enqueue instead (`warmStart`), which only reuses parameters.
 *
 * Why a wrapper and not trials copied into the target (Optuna's `add_trials`): copies would count in
 * the target's budget and history and could become its best trial without ever running on the new task.
 */
export class WarmStartSampler implements Sampler {
  private readonly prior: FrozenTrial[];
  private cache?: { key: string; trials: FrozenTrial[] };

  constructor(
    readonly inner: Sampler,
    readonly source: SourceTrials,
    private readonly opts: PriorOptions = {},
  ) {
    const size = opts.size ?? 25;
    if (!(Number.isInteger(size) && size >= 1)) throw badInput(`warm start prior: size must be an integer ≥ 1 (got ${size})`);
    const ranked = rankTrials(source.trials, source.directions);
    if (ranked.length === 0) throw badInput(`warm start prior: study '${source.study}' in ${source.where} has no complete trial`);
    this.prior = spread(ranked, size).sort((a, b) => a.number - b.number);
  }

  /** How many source trials the prior holds. */
  get priorSize(): number {
    return this.prior.length;
  }

  inferRelativeSearchSpace(study: StudyView, trial: FrozenTrial): Record<string, Distribution> {
    return this.inner.inferRelativeSearchSpace(this.view(study), trial);
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    return this.inner.sampleRelative(this.view(study, space), trial, space);
  }

  sampleIndependent(study: StudyView, trial: FrozenTrial, name: string, distribution: Distribution): ParamValue {
    return this.inner.sampleIndependent(this.view(study, { [name]: distribution }), trial, name, distribution);
  }

  beforeTrial(study: StudyView, trial: FrozenTrial): void {
    this.inner.beforeTrial?.(this.view(study), trial);
  }

  afterTrial(study: StudyView, trial: FrozenTrial, state: TrialState, values: number[] | undefined): void {
    this.inner.afterTrial?.(this.view(study), trial, state, values);
  }

  isExhausted(study: StudyView): boolean {
    // Exhaustion is about the study's own trials (a grid's points taken), not the prior's.
    return this.inner.isExhausted?.(study) ?? false;
  }

  /** The study as the wrapped sampler sees it: the prior, mapped onto the space known now, then the study's trials. */
  private view(study: StudyView, asked: Record<string, Distribution> = {}): StudyView {
    const src = this.source;
    if (study.directions.length !== src.directions.length || study.directions.some((d, i) => d !== src.directions[i])) {
      throw badInput(
        `warm start prior: study '${src.study}' has directions [${src.directions.join(', ')}] and this one [${study.directions.join(', ')}]; a prior needs the same objectives (enqueue its best trials instead)`,
      );
    }
    const space = { ...(this.opts.space ?? spaceOfTrials(study.trials)), ...asked };
    const key = JSON.stringify(Object.entries(space).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (this.cache?.key !== key) this.cache = { key, trials: this.mapPrior(space) };
    const prior = this.cache.trials;
    return {
      name: study.name,
      directions: study.directions,
      trials: [...prior, ...study.trials],
      // The prior is not in the storage: a sampler's note on one of its trials has nowhere to go.
      setTrialSystemAttr: (t, k, v) => {
        if (t.id >= 0) study.setTrialSystemAttr(t, k, v);
      },
    };
  }

  /**
   * The prior trials on `space`. A name the space defines is mapped as `adaptParams` does, and a trial
   * whose value cannot be mapped (a choice the new space lacks) is left out of the prior: it describes no
   * point of the new space. A name the space does not define yet keeps its source value and distribution,
   * unless the caller fixed the whole space (`opts.space`): then it is dropped.
   */
  private mapPrior(space: Record<string, Distribution>): FrozenTrial[] {
    const mapped: FrozenTrial[] = [];
    for (const t of this.prior) {
      const params: Record<string, ParamValue> = {};
      const distributions: Record<string, Distribution> = {};
      let fits = true;
      for (const [name, v] of Object.entries(t.params)) {
        const d = space[name];
        if (!d) {
          if (this.opts.space) continue;
          params[name] = v;
          distributions[name] = t.distributions[name]!;
          continue;
        }
        const a = adaptParams({ [name]: v }, { [name]: d });
        if (!(name in a.params)) {
          fits = false;
          break;
        }
        params[name] = a.params[name]!;
        distributions[name] = d;
      }
      if (!fits || Object.keys(params).length === 0) continue;
      const systemAttrs: Record<string, unknown> = {};
      if (Array.isArray(t.systemAttrs.constraints)) systemAttrs.constraints = t.systemAttrs.constraints;
      mapped.push({
        id: 0,
        number: 0,
        state: 'complete',
        values: [...t.values!],
        params,
        distributions,
        intermediateValues: {},
        userAttrs: {},
        systemAttrs,
        datetimeStart: t.datetimeStart,
        datetimeComplete: t.datetimeComplete,
      });
    }
    // Numbered -n … -1: before the study's own trials, in the source's order.
    mapped.forEach((t, i) => (t.id = t.number = i - mapped.length));
    return mapped;
  }
}

/** `m` items of `ranked` at evenly spaced ranks, the first and the last included. */
function spread<T>(ranked: readonly T[], m: number): T[] {
  if (ranked.length <= m) return [...ranked];
  if (m === 1) return [ranked[0]!];
  const picked = new Set<number>();
  for (let k = 0; k < m; k++) picked.add(Math.round((k * (ranked.length - 1)) / (m - 1)));
  return [...picked].map((i) => ranked[i]!);
}
