import type { Direction, Distribution, FrozenTrial, ParamValue, StudySummary, TrialState } from '../types.js';

/**
 * Where studies live. Every method is async so one interface serves memory, SQLite (one machine, many
 * processes) and PostgreSQL (many machines). Implementations must make `createTrial` and state changes
 * atomic: no trial is lost or run twice, also with many workers.
 */
export interface Storage {
  /** Creates the study; with `loadIfExists`, returns the existing one's id (directions must match). */
  createStudy(name: string, directions: Direction[], opts?: { loadIfExists?: boolean }): Promise<number>;
  getStudyId(name: string): Promise<number | undefined>;
  getStudy(studyId: number): Promise<StudySummary>;
  listStudies(): Promise<StudySummary[]>;
  deleteStudy(studyId: number): Promise<void>;
  setStudyUserAttr(studyId: number, key: string, value: unknown): Promise<void>;
  setStudySystemAttr(studyId: number, key: string, value: unknown): Promise<void>;

  /**
   * Creates a trial. With `template` (an enqueued or retried trial) copies its params/attrs.
   * state 'waiting' enqueues a trial; 'running' starts it now.
   */
  createTrial(studyId: number, template?: Partial<FrozenTrial>): Promise<FrozenTrial>;
  /** Atomically takes the oldest 'waiting' trial and marks it running; undefined when none waits. */
  popWaitingTrial(studyId: number): Promise<FrozenTrial | undefined>;
  setTrialParam(trialId: number, name: string, value: ParamValue, distribution: Distribution): Promise<void>;
  /** Finishes (or changes) a trial's state; returns false when the trial was already finished by someone else. */
  setTrialState(trialId: number, state: TrialState, values?: number[]): Promise<boolean>;
  setTrialIntermediateValue(trialId: number, step: number, value: number): Promise<void>;
  setTrialUserAttr(trialId: number, key: string, value: unknown): Promise<void>;
  setTrialSystemAttr(trialId: number, key: string, value: unknown): Promise<void>;
  getTrial(trialId: number): Promise<FrozenTrial>;
  /** All trials of a study in number order, optionally only those in `states`. */
  getAllTrials(studyId: number, states?: TrialState[]): Promise<FrozenTrial[]>;

  /** Heartbeats: a running trial whose worker stops beating for `graceS` is failed by `failStaleTrials`. */
  recordHeartbeat(trialId: number): Promise<void>;
  /** Marks running trials without a heartbeat for `graceS` seconds as failed; returns their ids. */
  failStaleTrials(studyId: number, graceS: number): Promise<number[]>;

  close(): Promise<void>;
}
