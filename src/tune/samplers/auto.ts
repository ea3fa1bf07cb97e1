import { badInput } from '../../errors.js';
import { distributionsEqual, isSingle } from '../distributions.js';
import type { Distribution, FrozenTrial, ParamValue } from '../types.js';
import { constraintViolation, hasConstraints, lossValues, type Sampler, type StudyView } from './base.js';
import { GPSampler } from './gp.js';
import { RandomSampler } from './random.js';
import { Rng } from './rng.js';
import { TPESampler, type MultiObjectiveSplit } from './tpe.js';

export interface AutoOptions {
  seed?: number;
  /** Random trials before a model proposes. Default 10. */
  nStartupTrials?: number;
  /** How GP and TPE share a small numeric space (for experiments: bench/tune-auto-select.ts). Default AUTO_RULE. */
  rule?: AutoRule;
  /** Several objectives: how the TPE arm picks its good trials (TPEOptions.multiObjectiveSplit). Default 'hypervolume'. */
  multiObjectiveSplit?: MultiObjectiveSplit;
}

/** The system attribute that names the sampler which proposed a trial ('random', 'tpe', 'gp', 'local': the GP in a trust region). */
export const AUTO_SAMPLER_ATTR = 'auto:sampler';

export type AutoChoice = 'random' | 'tpe' | 'gp' | 'local';

/** Past this many finished trials the GP's O(n³) fit costs more than it brings: TPE alone. */
export const AUTO_GP_MAX_TRIALS = 300;
/** Numeric parameters beyond which the GP is not tried (its acquisition search grows with them). */
export const AUTO_GP_MAX_DIMS = 20;
/** Largest finite space (product of choices) the sampler enumerates to avoid repeating a point. */
const MAX_FINITE = 10_000;

/**
 * The default sampler: picks, trial by trial, the sampler that measured best on the benchmark functions
 * for the kind of search space at hand (docs/design.md, "The auto sampler"; docs/benchmarks.md).
 *
 * - First `nStartupTrials` trials: random.
 * - Several objectives: multi-objective TPE with hypervolume-based selection (it beat NSGA-II and
 *   crowding-distance MOTPE on ZDT1 and DTLZ2 at 200 and 1,000 trials).
 * - Categorical or conditional parameters (a parameter only some trials have), more than
 *   `AUTO_GP_MAX_DIMS` numeric ones, or more than `AUTO_GP_MAX_TRIALS` finished trials: TPE.
 * - Otherwise (a small numeric space): TPE and the GP share the trials by AUTO_RULE, a two-armed bandit
 *   on how often each one's recent proposals land among the best 10% of the trials before them; the
 *   other arm is probed after waits that double while its probes miss. The GP's proposals land on smooth
 *   functions (Branin, Hartmann-6), TPE's on rugged or curved ones (Ackley, Levy, Rosenbrock), and the lead
 *   can change hands within a study. Once 5 proposals in a row have not improved on the best, a third arm
 *   refines it: the GP inside a TuRBO-style trust region around the best trial (3 of every 4 trials; the
 *   bandit keeps the 4th). Chosen among other rules on held-out seeds of the bench functions.
 *
 * The TPE arm is multivariate with group decomposition and the constant liar; the GP sees the running
 * trials of other workers as complete with the worst value so far, so parallel workers spread out.
 * Independent parameters (first seen in this trial) go to TPE's univariate estimator. In a small finite
 * space (only categorical, integer and stepped parameters, ≤ 10,000 points) a proposal some trial already
 * holds is replaced by a random point none holds, and `optimize` stops once every point was evaluated.
 * Each trial records its proposer in the system attribute `auto:sampler`.
 */
export class AutoSampler implements Sampler {
  private readonly nStartupTrials: number;
  private readonly tpe: TPESampler;
  private readonly gp: GPSampler;
  private readonly random: RandomSampler;
  private readonly rng: Rng;
  private readonly rule: AutoRule;
  private readonly chosen = new Map<number, { who: AutoChoice; length?: number }>();

  constructor(opts: AutoOptions = {}) {
    const rng = new Rng(opts.seed);
    const sub = () => (opts.seed === undefined ? undefined : rng.nextUint32());
    this.nStartupTrials = opts.nStartupTrials ?? 10;
    if (!(Number.isInteger(this.nStartupTrials) && this.nStartupTrials >= 0))
      throw badInput(`auto sampler: nStartupTrials must be an integer ≥ 0 (got ${JSON.stringify(opts.nStartupTrials)})`);
    this.random = new RandomSampler({ seed: sub() });
    this.tpe = new TPESampler({
      seed: sub(),
      nStartupTrials: 0,
      group: true,
      constantLiar: true,
      ...(opts.multiObjectiveSplit ? { multiObjectiveSplit: opts.multiObjectiveSplit } : {}),
    });
    this.gp = new GPSampler({ seed: sub(), nStartupTrials: 0 });
    this.rng = new Rng(sub());
    this.rule = opts.rule ?? AUTO_RULE;
  }

  /** Which sampler proposes `trial` (decided once per trial, at its first call). */
  choose(study: StudyView, trial: FrozenTrial): AutoChoice {
    return this.pick(study, trial).who;
  }

  private pick(study: StudyView, trial: FrozenTrial): { who: AutoChoice; length?: number } {
    const known = this.chosen.get(trial.id);
    if (known) return known;
    const decided = this.decide(study);
    const pick = typeof decided === 'string' ? { who: decided } : { who: 'local' as const, length: decided.local };
    this.chosen.set(trial.id, pick);
    study.setTrialSystemAttr(trial, AUTO_SAMPLER_ATTR, pick.who);
    return pick;
  }

  inferRelativeSearchSpace(study: StudyView, trial: FrozenTrial): Record<string, Distribution> {
    const choice = this.choose(study, trial);
    if (choice === 'random') return finiteSpace(study) ?? {};
    return choice === 'tpe' ? this.tpe.inferRelativeSearchSpace(study) : this.gp.inferRelativeSearchSpace(withLiars(study, trial));
  }

  sampleRelative(study: StudyView, trial: FrozenTrial, space: Record<string, Distribution>): Record<string, ParamValue> {
    const { who, length } = this.pick(study, trial);
    const proposed =
      who === 'random'
        ? {}
        : who === 'tpe'
          ? this.tpe.sampleRelative(study, trial, space)
          : this.gp.sampleRelative(withLiars(study, trial), trial, space, length);
    return this.avoidRepeats(study, trial, space, proposed);
  }

  sampleIndependent(study: StudyView, trial: FrozenTrial, name: string, d: Distribution): ParamValue {
    return this.choose(study, trial) === 'random'
      ? this.random.sampleIndependent(study, trial, name, d)
      : this.tpe.sampleIndependent(study, trial, name, d);
  }

  afterTrial(_study: StudyView, trial: FrozenTrial): void {
    this.chosen.delete(trial.id);
  }

  /** A small finite space whose every point some finished trial holds: nothing new to propose. */
  isExhausted(study: StudyView): boolean {
    const space = finiteSpace(study);
    if (!space) return false;
    const finished = study.trials.filter((t) => t.state === 'complete' || t.state === 'pruned' || t.state === 'fail');
    return takenKeys(finished, space).size >= spaceSize(space);
  }

  private decide(study: StudyView): AutoPick | 'random' {
    const finished = study.trials.filter((t) => t.state === 'complete' || t.state === 'pruned');
    if (finished.length < this.nStartupTrials) return 'random';
    if (study.directions.length > 1) return 'tpe';
    const shape = describeSpace(finished);
    if (shape.conditional || shape.categorical || shape.dims > AUTO_GP_MAX_DIMS || finished.length > AUTO_GP_MAX_TRIALS) return 'tpe';
    // The GP needs two complete trials to fit anything.
    if (finished.filter((t) => t.state === 'complete').length < 2) return 'tpe';
    return this.rule(autoHistory(study), this.rng);
  }

  /**
   * In a small finite space: a proposal that a trial (running or finished) already holds becomes a random
   * point none holds, when one is left; the random startup draws from the free points too.
   */
  private avoidRepeats(
    study: StudyView,
    trial: FrozenTrial,
    space: Record<string, Distribution>,
    proposed: Record<string, ParamValue>,
  ): Record<string, ParamValue> {
    const finite = finiteSpace(study);
    const names = Object.keys(space).sort();
    if (
      !finite ||
      names.length !== Object.keys(finite).length ||
      !names.every((k) => finite[k] && distributionsEqual(finite[k], space[k]!))
    )
      return proposed;
    const others = study.trials.filter((t) => t.id !== trial.id && t.state !== 'waiting');
    const taken = takenKeys(others, finite);
    if (names.every((k) => k in proposed) && !taken.has(keyOf(proposed, names))) return proposed;
    const free = freePoints(finite, taken);
    if (free.length === 0) return names.every((k) => k in proposed) ? proposed : {};
    if (Object.keys(proposed).length) study.setTrialSystemAttr(trial, AUTO_SAMPLER_ATTR, 'random');
    return free[this.rng.int(free.length)]!;
  }
}

/** Lower is better; undefined for trials with no usable value (not complete, infeasible). */
function lossOf(study: StudyView, t: FrozenTrial, constrained: boolean): number | undefined {
  if (t.state !== 'complete' || !t.values) return undefined;
  if (constrained && constraintViolation(t) > 0) return undefined;
  return lossValues(study, t.values)[0];
}

/** One GP, TPE or local proposal of a study's history, as the rule that picks the next proposer sees it. */
export interface AutoStep {
  who: 'gp' | 'tpe' | 'local';
  /** Its value beat every earlier trial's. */
  improved: boolean;
  /** Earlier complete (feasible) trials with a better value. */
  better: number;
  /** Earlier complete (feasible) trials. */
  earlier: number;
}

/**
 * The proposer of the next trial on a small numeric space: the GP, TPE, or the local arm (the GP inside a
 * trust region around the best trial) with the region's side in the unit cube.
 */
export type AutoPick = 'gp' | 'tpe' | { local: number };

/** Picks the proposer of the next trial on a small numeric space from the GP, TPE and local proposals so far. */
export type AutoRule = (history: readonly AutoStep[], rng: Rng) => AutoPick;

/** The name of a pick's proposer ('gp', 'tpe' or 'local'). */
export function pickedBy(pick: AutoPick): 'gp' | 'tpe' | 'local' {
  return typeof pick === 'string' ? pick : 'local';
}

/** The GP, TPE and local proposals so far, in trial order (failed trials left out: they say nothing of the sampler). */
export function autoHistory(study: StudyView): AutoStep[] {
  const constrained = hasConstraints(study);
  const out: AutoStep[] = [];
  const seen: number[] = [];
  for (const t of study.trials) {
    if (t.state === 'running' || t.state === 'waiting' || t.state === 'fail') continue;
    const loss = lossOf(study, t, constrained);
    const who = t.systemAttrs[AUTO_SAMPLER_ATTR];
    if (who === 'gp' || who === 'tpe' || who === 'local') {
      const better = loss === undefined ? seen.length : seen.filter((l) => l < loss).length;
      out.push({ who, improved: loss !== undefined && seen.every((l) => loss < l), better, earlier: seen.length });
    }
    if (loss !== undefined) seen.push(loss);
  }
  return out;
}

/**
 * A two-armed bandit on how well proposals land: a proposal "lands" when it improves on every earlier
 * trial or falls among the best `quantile` of them. The arm whose last `window` proposals landed more
 * often proposes (each rate shrunk towards ½ by one pseudo-observation; TPE on a tie), and the other arm
 * is probed once its wait is over: 2^k trials after its last proposal, k its proposals in a row that
 * did not land, at most `maxGap`.
 */
export function landingBandit(opts: {
  quantile: number;
  window: number;
  maxGap: number;
}): (history: readonly AutoStep[], rng?: Rng) => 'gp' | 'tpe' {
  const lands = (x: AutoStep) => x.improved || x.better < Math.max(1, Math.ceil(opts.quantile * x.earlier));
  return (h) => {
    const rate = (arm: 'gp' | 'tpe') => {
      const own = h.filter((x) => x.who === arm).slice(-opts.window);
      return (own.filter(lands).length + 0.5) / (own.length + 1);
    };
    const best = rate('gp') > rate('tpe') ? 'gp' : 'tpe';
    const other = best === 'gp' ? 'tpe' : 'gp';
    let misses = 0;
    let since = 0;
    let seen = false;
    for (let i = h.length - 1; i >= 0; i--) {
      const x = h[i]!;
      if (x.who !== other) {
        if (!seen) since++;
        continue;
      }
      seen = true;
      if (lands(x)) break;
      misses++;
    }
    return since >= Math.min(opts.maxGap, 2 ** misses) ? other : best;
  };
}

/** How the local arm refines the best trial (`withLocalRefinement`). */
export interface LocalRefinement {
  /** GP/TPE/local proposals in a row that improve nothing before a local phase starts. */
  stall: number;
  /** In a local phase, every `every`-th proposal goes to the base rule, so global search goes on. */
  every: number;
  /** Local proposals in a row that improve nothing before the trust region's side is halved. */
  failures: number;
  /**
   * A trust region halved below 0.5⁷ has converged: 'same' starts it again at 0.8 around the same best
   * trial; 'global' ends the local phase, the base rule proposes until the next stall starts another; 'gp'
   * ends it too, the GP proposing over the whole space until the next stall. Only 'same' was kept: the
   * others measured no better (docs/benchmarks.md, "Hartmann-6's basin").
   */
  afterCollapse: 'same' | 'global' | 'gp';
  /** Who takes the `every`-th proposal of a local phase: the base rule, or the GP over the whole space. */
  globalArm?: 'base' | 'gp';
}

/** The rule's local refinement (chosen on held-out seeds: docs/benchmarks.md, "The auto sampler"). */
export const AUTO_REFINEMENT: LocalRefinement = { stall: 5, every: 4, failures: 4, afterCollapse: 'same' };

const TRUST_MIN = 0.5 ** 7;

/**
 * Replays a study's proposals through local refinement: whether the next proposal is local (else the base
 * rule's) and the trust region's side, adapted over the local proposals as TuRBO-1 (Eriksson et al. 2019)
 * adapts it — 0.8 at first, doubled (to at most 1.6) after 3 local improvements in a row, halved after
 * `failures` local proposals in a row that did not improve, and on falling below 0.5⁷ restarted
 * (`afterCollapse`). Local proposals outside a phase (a rule that always picks local) adapt it too.
 */
export function replayRefinement(
  history: readonly AutoStep[],
  opts: LocalRefinement = AUTO_REFINEMENT,
): { local: boolean; length: number; explore: boolean } {
  let inPhase = false;
  let explore = false;
  let run = 0;
  let since = 0;
  let length = 0.8;
  let wins = 0;
  let losses = 0;
  for (const x of history) {
    if (!inPhase) {
      run = x.improved ? 0 : run + 1;
      if (run >= opts.stall) {
        inPhase = true;
        explore = false;
        since = 0;
      }
    } else since++;
    if (x.who !== 'local') continue;
    if (x.improved) {
      wins++;
      losses = 0;
    } else {
      losses++;
      wins = 0;
    }
    if (wins >= 3) {
      length = Math.min(1.6, 2 * length);
      wins = 0;
    } else if (losses >= opts.failures) {
      length /= 2;
      losses = 0;
    }
    if (length < TRUST_MIN) {
      length = 0.8;
      if (inPhase && opts.afterCollapse !== 'same') {
        inPhase = false;
        explore = opts.afterCollapse === 'gp';
        run = 0;
      }
    }
  }
  const local = inPhase && (since + 1) % opts.every !== 0;
  return { local, length, explore: explore || (inPhase && !local && opts.globalArm === 'gp') };
}

/** The local arm's trust-region side after `history` (replayRefinement). */
export function trustLength(history: readonly AutoStep[], opts: LocalRefinement = AUTO_REFINEMENT): number {
  return replayRefinement(history, opts).length;
}

/**
 * `base` until `stall` GP/TPE/local proposals in a row have not improved on the best; from then on the local
 * arm (the GP inside a trust region around the best trial), except that every `every`-th proposal after the
 * stall is `base`'s, so the global arms keep looking for other basins (replayRefinement).
 */
export function withLocalRefinement(base: AutoRule, opts: LocalRefinement = AUTO_REFINEMENT): AutoRule {
  return (h, rng) => {
    const r = replayRefinement(h, opts);
    return r.local ? { local: r.length } : r.explore ? 'gp' : base(h, rng);
  };
}

/** The rule chosen on the benchmark functions' held-out seeds (docs/benchmarks.md, "The auto sampler"). */
export const AUTO_RULE: AutoRule = withLocalRefinement(landingBandit({ quantile: 0.1, window: 10, maxGap: 16 }), AUTO_REFINEMENT);

/** What the finished trials say about the space: conditional (parameters not all trials have), categorical, numeric dimensions. */
export function describeSpace(finished: readonly FrozenTrial[]): { conditional: boolean; categorical: boolean; dims: number } {
  const union = new Map<string, Distribution>();
  let conditional = false;
  for (const t of finished) {
    for (const [name, d] of Object.entries(t.distributions)) {
      const prev = union.get(name);
      if (!prev) union.set(name, d);
      else if (!distributionsEqual(prev, d)) conditional = true;
    }
  }
  for (const t of finished) if (Object.keys(t.distributions).length !== union.size) conditional = true;
  let categorical = false;
  let dims = 0;
  for (const d of union.values()) {
    if (d.type === 'categorical') categorical ||= d.choices.length > 1;
    else if (d.low !== d.high) dims++;
  }
  return { conditional, categorical, dims };
}

/**
 * The space of the finished trials when it is small and finite: every trial has the same parameters,
 * each categorical, integer or stepped, with at most MAX_FINITE points in all (single-valued parameters
 * left out, as the samplers leave them out); else undefined.
 */
function finiteSpace(study: StudyView): Record<string, Distribution> | undefined {
  const finished = study.trials.filter((t) => t.state === 'complete' || t.state === 'pruned');
  if (finished.length === 0 || describeSpace(finished).conditional) return undefined;
  const space: Record<string, Distribution> = {};
  for (const [name, d] of Object.entries(finished[0]!.distributions)) {
    if (d.type === 'float' && d.step === undefined) return undefined;
    if (!isSingle(d)) space[name] = d;
  }
  // No parameter to vary (an objective that suggests none): nothing to enumerate.
  if (Object.keys(space).length === 0) return undefined;
  return spaceSize(space) <= MAX_FINITE ? space : undefined;
}

function choicesOf(d: Distribution): ParamValue[] {
  if (d.type === 'categorical') return d.choices;
  const step = d.step ?? 1;
  const n = Math.floor((d.high - d.low) / step + 1e-9) + 1;
  return Array.from({ length: n }, (_, i) => (d.type === 'int' ? d.low + i * step : Number((d.low + i * step).toPrecision(15))));
}

function spaceSize(space: Record<string, Distribution>): number {
  let n = 1;
  for (const d of Object.values(space)) {
    n *= d.type === 'categorical' ? d.choices.length : Math.floor((d.high - d.low) / (d.step ?? 1) + 1e-9) + 1;
    if (n > MAX_FINITE) return Infinity;
  }
  return n;
}

function keyOf(params: Record<string, ParamValue>, names: string[]): string {
  return JSON.stringify(names.map((k) => params[k]));
}

function takenKeys(trials: readonly FrozenTrial[], space: Record<string, Distribution>): Set<string> {
  const names = Object.keys(space).sort();
  const keys = new Set<string>();
  for (const t of trials) if (names.every((k) => k in t.params)) keys.add(keyOf(t.params, names));
  return keys;
}

function freePoints(space: Record<string, Distribution>, taken: Set<string>): Record<string, ParamValue>[] {
  const names = Object.keys(space).sort();
  let points: Record<string, ParamValue>[] = [{}];
  for (const k of names) points = points.flatMap((p) => choicesOf(space[k]!).map((v) => ({ ...p, [k]: v })));
  return points.filter((p) => !taken.has(keyOf(p, names)));
}

/**
 * The study as the GP should see it while other workers' trials run: those trials (with values for
 * every parameter) as complete with the worst value so far (the "constant liar" of Ginsbourger et al.
 * 2010), so the GP does not propose the point a running trial is evaluating.
 */
function withLiars(study: StudyView, trial: FrozenTrial): StudyView {
  const running = study.trials.filter((t) => t.state === 'running' && t.id !== trial.id && Object.keys(t.params).length > 0);
  if (running.length === 0 || study.directions.length !== 1) return study;
  const constrained = hasConstraints(study);
  let worst = -Infinity;
  for (const t of study.trials) {
    const l = lossOf(study, t, constrained);
    if (l !== undefined && Number.isFinite(l)) worst = Math.max(worst, l);
  }
  if (worst === -Infinity) return study;
  const value = study.directions[0] === 'maximize' ? -worst : worst;
  const lied = new Set(running.map((t) => t.id));
  return {
    name: study.name,
    directions: study.directions,
    trials: study.trials.map((t) => (lied.has(t.id) ? { ...t, state: 'complete' as const, values: [value] } : t)),
    setTrialSystemAttr: (t, k, v) => study.setTrialSystemAttr(t, k, v),
  };
}
