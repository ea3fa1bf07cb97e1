import { HoneError } from '../../errors.js';
import type { Direction, FrozenTrial, TrialState } from '../types.js';

/**
 * What the SQL storages share: JSON columns that keep NaN and ±Infinity (objective values and reported
 * intermediate values may be non-finite, and plain JSON would turn them into null), row → FrozenTrial,
 * and the state rules every storage enforces the same way.
 */

export const FINISHED: readonly TrialState[] = ['complete', 'pruned', 'fail'];
export const TRIAL_STATES: readonly TrialState[] = ['running', 'waiting', 'complete', 'pruned', 'fail'];

export function isFinished(state: TrialState): boolean {
  return FINISHED.includes(state);
}

/** Numbers as JSON, with non-finite ones spelled as strings so they survive a round trip. */
export function encodeNumbers(x: number[] | Record<number, number> | undefined): string | null {
  if (x === undefined) return null;
  return JSON.stringify(x, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export function decodeNumbers<T extends number[] | Record<string, number>>(text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  return JSON.parse(text, (_k, v) => (v === 'NaN' || v === 'Infinity' || v === '-Infinity' ? Number(v) : v)) as T;
}

/** JSON for attributes and params; non-finite numbers in user attributes become null, as JSON.stringify does. */
export function encodeJson(x: unknown): string {
  return JSON.stringify(x ?? {});
}

export function decodeJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined) return fallback;
  return (typeof text === 'string' ? JSON.parse(text) : text) as T;
}

/** A trial row as both SQL storages select it (JSON columns as text). */
export interface TrialRow {
  id: number | string;
  number: number;
  state: string;
  vals: string | null;
  params: string;
  distributions: string;
  intermediate: string;
  user_attrs: string;
  system_attrs: string;
  datetime_start: number | string | null;
  datetime_complete: number | string | null;
}

export function rowToTrial(r: TrialRow): FrozenTrial {
  const t: FrozenTrial = {
    id: Number(r.id),
    number: Number(r.number),
    state: r.state as TrialState,
    params: decodeJson(r.params, {}),
    distributions: decodeJson(r.distributions, {}),
    intermediateValues: numericKeys(decodeNumbers<Record<string, number>>(r.intermediate) ?? {}),
    userAttrs: decodeJson(r.user_attrs, {}),
    systemAttrs: decodeJson(r.system_attrs, {}),
  };
  const values = decodeNumbers<number[]>(r.vals);
  if (values !== undefined) t.values = values;
  if (r.datetime_start !== null) t.datetimeStart = Number(r.datetime_start);
  if (r.datetime_complete !== null) t.datetimeComplete = Number(r.datetime_complete);
  return t;
}

function numericKeys(o: Record<string, number>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [k, v] of Object.entries(o)) out[Number(k)] = v;
  return out;
}

export function checkDirections(directions: Direction[]): void {
  if (directions.length === 0 || directions.some((d) => d !== 'minimize' && d !== 'maximize')) {
    throw new HoneError(`directions must be 'minimize' or 'maximize' (one per objective), got ${JSON.stringify(directions)}`);
  }
}

export function checkState(state: TrialState): void {
  if (!TRIAL_STATES.includes(state))
    throw new HoneError(`unknown trial state '${String(state)}'; use one of ${TRIAL_STATES.join(', ')}`, 1);
}

export function studyExists(name: string): HoneError {
  return new HoneError(`study '${name}' already exists; load it (--resume) or choose another study name`);
}

export function directionsMismatch(name: string, have: Direction[], want: Direction[]): HoneError {
  return new HoneError(
    `study '${name}' exists with directions [${have.join(', ')}], not [${want.join(', ')}]; use the same directions or another study name`,
  );
}

export function noStudy(id: number): HoneError {
  return new HoneError(`no study with id ${id} in this storage; list studies with 'hone study list'`);
}

export function noTrial(id: number): HoneError {
  return new HoneError(`no trial with id ${id} in this storage`, 1);
}

/** Writes to a finished trial are a bug in the caller (or a worker that outlived its heartbeat grace). */
export function trialFinished(number: number, state: string): HoneError {
  return new HoneError(`trial #${number} is already finished (${state}) and cannot be updated`, 1);
}

/** Exponential back-off with jitter, for retries against a busy database. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const ms = Math.min(capMs, baseMs * 2 ** attempt);
  return ms / 2 + Math.random() * (ms / 2);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
