import { badInput } from '../../errors.js';
import type { Direction, Distribution, FrozenTrial, ParamValue, StudySummary, TrialState } from '../types.js';
import type { Storage } from './storage.js';

/**
 * Studies in this process's memory. Each method does all its work synchronously before its promise
 * settles, so concurrent async callers in one process see atomic updates (no interleaving inside a call).
 *
 * Returned trials are snapshots shared between callers until the trial next changes: treat them as
 * read-only. (Cloning 1,000 trials on every `ask` would dominate the samplers' cost.)
 */
export class InMemoryStorage implements Storage {
  private studies = new Map<number, StudyRecord>();
  private trials = new Map<number, TrialRecord>();
  private nextStudyId = 0;
  private nextTrialId = 0;

  async createStudy(name: string, directions: Direction[], opts?: { loadIfExists?: boolean }): Promise<number> {
    const existing = this.findStudy(name);
    if (existing) {
      if (!opts?.loadIfExists) throw badInput(`study '${name}' already exists; pick another name or load it (loadIfExists)`);
      if (existing.directions.join() !== directions.join()) {
        throw badInput(
          `study '${name}' exists with directions [${existing.directions.join(', ')}], not [${directions.join(', ')}]; ` +
            `use the same directions or another study name`,
        );
      }
      return existing.id;
    }
    const id = this.nextStudyId++;
    this.studies.set(id, {
      id,
      name,
      directions: [...directions],
      userAttrs: {},
      systemAttrs: {},
      trialIds: [],
      waiting: [],
      datetimeStart: Date.now(),
    });
    return id;
  }

  async getStudyId(name: string): Promise<number | undefined> {
    return this.findStudy(name)?.id;
  }

  async getStudy(studyId: number): Promise<StudySummary> {
    return this.summary(this.study(studyId));
  }

  async listStudies(): Promise<StudySummary[]> {
    return [...this.studies.values()].map((s) => this.summary(s));
  }

  async deleteStudy(studyId: number): Promise<void> {
    const s = this.study(studyId);
    for (const t of s.trialIds) this.trials.delete(t);
    this.studies.delete(studyId);
  }

  async setStudyUserAttr(studyId: number, key: string, value: unknown): Promise<void> {
    this.study(studyId).userAttrs[key] = clone(value);
  }

  async setStudySystemAttr(studyId: number, key: string, value: unknown): Promise<void> {
    this.study(studyId).systemAttrs[key] = clone(value);
  }

  async createTrial(studyId: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial> {
    const s = this.study(studyId);
    const id = this.nextTrialId++;
    const state = template?.state ?? 'running';
    const now = Date.now();
    const t: FrozenTrial = {
      id,
      number: s.trialIds.length,
      state,
      values: template?.values ? [...template.values] : undefined,
      params: { ...(template?.params ?? {}) },
      distributions: clone(template?.distributions ?? {}),
      intermediateValues: { ...(template?.intermediateValues ?? {}) },
      userAttrs: clone(template?.userAttrs ?? {}),
      systemAttrs: clone(template?.systemAttrs ?? {}),
      datetimeStart: state === 'waiting' ? undefined : (template?.datetimeStart ?? now),
      datetimeComplete: isFinished(state) ? (template?.datetimeComplete ?? now) : undefined,
    };
    s.trialIds.push(id);
    if (state === 'waiting') s.waiting.push(id);
    this.trials.set(id, { studyId, trial: t, heartbeat: state === 'running' ? now : undefined });
    return this.snapshot(id);
  }

  async popWaitingTrial(studyId: number): Promise<FrozenTrial | undefined> {
    const waiting = this.study(studyId).waiting;
    while (waiting.length) {
      const id = waiting.shift()!;
      const r = this.trials.get(id);
      // A waiting trial may have been finished directly (setTrialState) since it was queued.
      if (r?.trial.state !== 'waiting') continue;
      r.trial.state = 'running';
      r.trial.datetimeStart = Date.now();
      r.heartbeat = r.trial.datetimeStart;
      r.snapshot = undefined;
      return this.snapshot(id);
    }
    return undefined;
  }

  async setTrialParam(trialId: number, name: string, value: ParamValue, distribution: Distribution): Promise<void> {
    const r = this.mutable(trialId);
    r.trial.params[name] = value;
    r.trial.distributions[name] = clone(distribution);
  }

  async setTrialState(trialId: number, state: TrialState, values?: number[]): Promise<boolean> {
    const r = this.record(trialId);
    if (isFinished(r.trial.state)) return false;
    r.snapshot = undefined;
    r.trial.state = state;
    if (values) r.trial.values = [...values];
    if (state === 'running') {
      r.trial.datetimeStart = Date.now();
      r.heartbeat = r.trial.datetimeStart;
    }
    if (isFinished(state)) r.trial.datetimeComplete = Date.now();
    return true;
  }

  async setTrialIntermediateValue(trialId: number, step: number, value: number): Promise<void> {
    this.mutable(trialId).trial.intermediateValues[step] = value;
  }

  async setTrialUserAttr(trialId: number, key: string, value: unknown): Promise<void> {
    this.record(trialId).snapshot = undefined;
    this.record(trialId).trial.userAttrs[key] = clone(value);
  }

  async setTrialSystemAttr(trialId: number, key: string, value: unknown): Promise<void> {
    this.record(trialId).snapshot = undefined;
    this.record(trialId).trial.systemAttrs[key] = clone(value);
  }

  async getTrial(trialId: number): Promise<FrozenTrial> {
    return this.snapshot(trialId);
  }

  async getAllTrials(studyId: number, states?: TrialState[]): Promise<FrozenTrial[]> {
    const out: FrozenTrial[] = [];
    for (const id of this.study(studyId).trialIds) {
      const r = this.trials.get(id)!;
      if (!states || states.includes(r.trial.state)) out.push(this.snapshot(id));
    }
    return out;
  }

  async recordHeartbeat(trialId: number): Promise<void> {
    this.record(trialId).heartbeat = Date.now();
  }

  async failStaleTrials(studyId: number, graceS: number): Promise<number[]> {
    const now = Date.now();
    const failed: number[] = [];
    for (const id of this.study(studyId).trialIds) {
      const r = this.trials.get(id)!;
      if (r.trial.state === 'running' && r.heartbeat !== undefined && now - r.heartbeat > graceS * 1000) {
        r.snapshot = undefined;
        r.trial.state = 'fail';
        r.trial.datetimeComplete = now;
        r.trial.systemAttrs.fail_reason = `no heartbeat for ${graceS} s`;
        failed.push(id);
      }
    }
    return failed;
  }

  async close(): Promise<void> {}

  private findStudy(name: string): StudyRecord | undefined {
    for (const s of this.studies.values()) if (s.name === name) return s;
    return undefined;
  }

  private study(id: number): StudyRecord {
    const s = this.studies.get(id);
    if (!s) throw badInput(`study id ${id} does not exist in this storage; list studies to find it`);
    return s;
  }

  private record(id: number): TrialRecord {
    const r = this.trials.get(id);
    if (!r) throw badInput(`trial id ${id} does not exist in this storage`);
    return r;
  }

  /** A trial that may still change: finished trials are immutable, as in Optuna. */
  private mutable(id: number): TrialRecord {
    const r = this.record(id);
    if (isFinished(r.trial.state)) {
      throw badInput(`trial ${r.trial.number} is already finished (${r.trial.state}); it cannot be changed`);
    }
    r.snapshot = undefined;
    return r;
  }

  private snapshot(id: number): FrozenTrial {
    const r = this.record(id);
    r.snapshot ??= clone(r.trial);
    return r.snapshot;
  }

  private summary(s: StudyRecord): StudySummary {
    return {
      id: s.id,
      name: s.name,
      directions: [...s.directions],
      userAttrs: clone(s.userAttrs),
      systemAttrs: clone(s.systemAttrs),
      nTrials: s.trialIds.length,
      datetimeStart: s.datetimeStart,
    };
  }
}

interface StudyRecord {
  id: number;
  name: string;
  directions: Direction[];
  userAttrs: Record<string, unknown>;
  systemAttrs: Record<string, unknown>;
  trialIds: number[];
  /** Ids of trials created 'waiting', oldest first (popWaitingTrial skips any no longer waiting). */
  waiting: number[];
  datetimeStart: number;
}

interface TrialRecord {
  studyId: number;
  trial: FrozenTrial;
  snapshot?: FrozenTrial;
  heartbeat?: number;
}

function isFinished(state: TrialState): boolean {
  return state === 'complete' || state === 'pruned' || state === 'fail';
}

function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}
