/**
 * A pass's options as given (by a pipeline step, a search, profile advice) checked against what the pass
 * declares and merged over its defaults, so every pass reads a complete, valid set and a typo is one
 * bad-input line naming the options there are, not a silently ignored key.
 */
import { badInput } from '../errors.js';
import type { Pass, PassOptions } from './pass.js';

/** `options` over `pass.defaults`, after checking each key and value (see `checkOptions`). */
export function withDefaults<O extends PassOptions>(pass: Pass<O>, options: Partial<O> = {}): O {
  checkOptions(pass, options);
  const merged = { ...pass.defaults };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (merged as PassOptions)[k] = v;
  return merged;
}

/**
 * Every key must be one of the pass's defaults; a value must be one of the space's choices (categorical),
 * a number (int/float space; integral for int), or of its default's type (null defaults, meaning "decided
 * by the pass", take any value the space allows, or null).
 */
export function checkOptions(pass: Pass, options: Readonly<Record<string, unknown>>): void {
  const known = Object.keys(pass.defaults);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!known.includes(key))
      throw badInput(
        known.length
          ? `pass ${pass.id} has no option '${key}'; its options: ${known.join(', ')}`
          : `pass ${pass.id} has no option '${key}'; it takes no options`,
      );
    const fallback = pass.defaults[key];
    if (value === null && fallback === null) continue;
    const dist = pass.space[key];
    const bad = (what: string) => badInput(`pass ${pass.id}: option ${key} must be ${what}, got ${JSON.stringify(value)}`);
    if (dist?.type === 'categorical') {
      if (!dist.choices.includes(value as never)) throw bad(`one of ${dist.choices.map((c) => JSON.stringify(c)).join(', ')}`);
    } else if (dist) {
      if (typeof value !== 'number' || !Number.isFinite(value) || (dist.type === 'int' && !Number.isInteger(value)))
        throw bad(dist.type === 'int' ? 'an integer' : 'a number');
    } else if (fallback !== null && typeof value !== typeof fallback) {
      throw bad(`a ${typeof fallback}`);
    }
  }
}

/** JSON with object keys sorted at every level, so equal options give equal text (the pipeline's cache key). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** A comma-separated node list option ('conv1,conv2') as names. */
export function nameList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
