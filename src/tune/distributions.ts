import { badInput } from '../errors.js';
import type { Distribution, ParamValue } from './types.js';

/**
 * Distribution helpers shared by trials, samplers and the CLI: validation (with Optuna's rules), the
 * compatibility check between two definitions of one parameter, and the mapping between a parameter's
 * external value (what the objective sees) and its internal number (categorical → index).
 */

/**
 * Checks a distribution and returns it normalized: a step that does not divide the range moves `high`
 * down to the last point on the grid, as Optuna does. Throws a HoneError naming the parameter otherwise.
 */
export function validateDistribution(name: string, d: Distribution): Distribution {
  const where = `parameter '${name}'`;
  if (d.type === 'categorical') {
    if (!Array.isArray(d.choices) || d.choices.length === 0) {
      throw badInput(`${where}: categorical choices are empty; give at least one choice`);
    }
    for (const c of d.choices) {
      const t = typeof c;
      if (!(c === null || t === 'string' || t === 'boolean' || (t === 'number' && !Number.isNaN(c)))) {
        throw badInput(`${where}: choice ${String(c)} is not a string, number, boolean or null; use one of those`);
      }
    }
    if (new Set(d.choices.map(choiceKey)).size !== d.choices.length) {
      throw badInput(`${where}: categorical choices repeat a value; list each choice once`);
    }
    return { type: 'categorical', choices: [...d.choices] };
  }
  const { low, high, log } = d;
  if (!Number.isFinite(low) || !Number.isFinite(high)) {
    throw badInput(`${where}: bounds must be finite numbers (got low=${low}, high=${high})`);
  }
  if (low > high) throw badInput(`${where}: low (${low}) is greater than high (${high}); swap them`);
  if (log && low <= 0) throw badInput(`${where}: a log scale needs low > 0 (got low=${low}); raise low or drop log`);
  if (d.type === 'int') {
    if (!Number.isInteger(low) || !Number.isInteger(high)) {
      throw badInput(`${where}: integer bounds must be integers (got low=${low}, high=${high})`);
    }
    if (!Number.isInteger(d.step) || d.step < 1) throw badInput(`${where}: integer step must be an integer ≥ 1 (got ${d.step})`);
    if (log && d.step !== 1) throw badInput(`${where}: step and log cannot be combined; use step 1 or drop log`);
    return { type: 'int', low, high: adjustHigh(low, high, d.step), log, step: d.step };
  }
  if (d.step !== undefined) {
    if (!(Number.isFinite(d.step) && d.step > 0)) throw badInput(`${where}: step must be > 0 (got ${d.step})`);
    if (log) throw badInput(`${where}: step and log cannot be combined; drop one of them`);
    return { type: 'float', low, high: adjustHigh(low, high, d.step), log: false, step: d.step };
  }
  return { type: 'float', low, high, log };
}

/** Validates every distribution of a search space (the CLI checks a space file this way before any trial). */
export function validateSearchSpace(space: Record<string, Distribution>): Record<string, Distribution> {
  const out: Record<string, Distribution> = {};
  for (const [name, d] of Object.entries(space)) out[name] = validateDistribution(name, d);
  return out;
}

/**
 * Throws when `next` redefines a parameter incompatibly with `prev` (another type, another scale, other
 * choices). Ranges may change between trials, as in Optuna (dynamic search spaces).
 */
export function checkCompatible(name: string, prev: Distribution, next: Distribution): void {
  const describe = (d: Distribution) =>
    d.type === 'categorical' ? `categorical ${JSON.stringify(d.choices)}` : `${d.log ? 'log-' : ''}${d.type}`;
  const same =
    prev.type === next.type &&
    (prev.type === 'categorical'
      ? next.type === 'categorical' && sameChoices(prev.choices, next.choices)
      : prev.log === (next as typeof prev).log);
  if (!same) {
    throw badInput(
      `parameter '${name}' was defined as ${describe(prev)} and is now redefined as ${describe(next)}; ` +
        `use one definition per parameter name in a study`,
    );
  }
}

export function distributionsEqual(a: Distribution, b: Distribution): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'categorical') return sameChoices(a.choices, (b as typeof a).choices);
  const o = b as typeof a;
  return a.low === o.low && a.high === o.high && a.log === o.log && (a.step ?? 0) === (o.step ?? 0);
}

/** A distribution with exactly one possible value: samplers skip it. */
export function isSingle(d: Distribution): boolean {
  if (d.type === 'categorical') return d.choices.length === 1;
  return d.low === d.high;
}

/** External value → internal number (categorical: index of the choice). */
export function toInternal(d: Distribution, v: ParamValue): number {
  if (d.type === 'categorical') {
    const k = choiceKey(v);
    const i = d.choices.findIndex((c) => choiceKey(c) === k);
    if (i < 0) throw badInput(`value ${JSON.stringify(v)} is not one of the choices ${JSON.stringify(d.choices)}`);
    return i;
  }
  return v as number;
}

/** Internal number → external value; numbers are snapped onto the distribution's grid and range. */
export function toExternal(d: Distribution, x: number): ParamValue {
  if (d.type === 'categorical') return d.choices[Math.min(d.choices.length - 1, Math.max(0, Math.round(x)))]!;
  return snap(d, x);
}

/** Clips into [low, high] and rounds onto the step grid (ints always). */
export function snap(d: Exclude<Distribution, { type: 'categorical' }>, x: number): number {
  let v = Math.min(d.high, Math.max(d.low, x));
  const step = d.step;
  if (step !== undefined) {
    v = d.low + Math.round((v - d.low) / step) * step;
    v = Math.min(d.high, Math.max(d.low, v));
    if (d.type === 'float') v = roundFloatNoise(v, step);
  }
  if (d.type === 'int') v = Math.round(v);
  return v;
}

export function contains(d: Distribution, v: ParamValue): boolean {
  if (d.type === 'categorical') return d.choices.some((c) => choiceKey(c) === choiceKey(v));
  if (typeof v !== 'number' || Number.isNaN(v) || v < d.low || v > d.high) return false;
  if (d.type === 'int' && !Number.isInteger(v)) return false;
  const step = d.step;
  if (step !== undefined) {
    const k = (v - d.low) / step;
    return Math.abs(k - Math.round(k)) < 1e-8;
  }
  return true;
}

function adjustHigh(low: number, high: number, step: number): number {
  const n = Math.floor((high - low) / step + 1e-9);
  const adjusted = roundFloatNoise(low + n * step, step);
  return Math.abs(adjusted - high) < 1e-12 * Math.max(1, Math.abs(high)) ? high : adjusted;
}

/** low + k·step in floating point gives 0.30000000000000004; round to the step's decimals. */
function roundFloatNoise(v: number, step: number): number {
  const decimals = Math.min(15, Math.max(0, -Math.floor(Math.log10(step)) + 6));
  return Number(v.toFixed(decimals));
}

function sameChoices(a: ParamValue[], b: ParamValue[]): boolean {
  return a.length === b.length && a.every((c, i) => choiceKey(c) === choiceKey(b[i]!));
}

/** Distinguishes 1 from '1' and true from 'true'. */
function choiceKey(c: ParamValue | undefined): string {
  return `${typeof c}:${String(c)}`;
}
