/**
 * The search space of `hone optimize` in the tuner's terms, and its study. A trial picks a pipeline (by
 * key: its pass ids), which of its fusions to keep (when it has several), the options of each pass in it
 * that declares a space (`quantize.static:method`…),
 * and the ORT session settings (intra-op threads, graph optimization level, execution mode with its
 * inter-op threads, memory arena and pattern, ORT fusions turned off) and, for the throughput goal, the
 * batch size. The space is define-by-run: a pass's options exist only in the trials whose pipeline holds
 * the pass, inter-op threads only with the parallel execution mode, the ORT fusions only at the levels that
 * run them.
 *
 * The study is kept in SQLite when `hone optimize` runs with an output folder (OUT_DIR/study.db), so that
 * `--resume` continues an interrupted or finished search: its trials inform the sampler again, and its
 * best ones are timed again in the new run, since a latency measured minutes or hours ago on a shared
 * machine says little about now. A study records the job it searched for (the model's hash, the data,
 * the goal, the constraint, the batch sizes, the provider, the target); resuming a different job is refused.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { badInput } from '../errors.js';
import type { Pass, PassOptions } from '../passes/pass.js';
import type { PipelineStep } from '../passes/pipeline.js';
import { createStudy, loadStudy, type Study } from '../tune/study.js';
import type { Trial } from '../tune/trial.js';
import { TPESampler } from '../tune/samplers/tpe.js';
import { NopPruner } from '../tune/pruners/base.js';
import { SqliteStorage } from '../tune/storage/sqlite.js';
import { InMemoryStorage } from '../tune/storage/memory.js';
import type { Storage } from '../tune/storage/storage.js';
import type { FrozenTrial, ParamValue } from '../tune/types.js';
import type { RuntimeSettings } from './types.js';
import { family, isFusion } from './candidates.js';

export const STUDY_NAME = 'optimize';
/** The study's file in OUT_DIR. */
export const STUDY_FILE = 'study.db';
/** Objectives: the goal's score (higher is better), then the drop (lower is better); the drop is also the constraint. */
export const DIRECTIONS = ['maximize', 'minimize'] as const;

export { pipelineKey } from './candidates.js';

export interface SearchSpace {
  /** Pipeline keys (every planned pipeline, so that the space is the same when a study is resumed) and their steps. */
  pipelines: ReadonlyMap<string, readonly PipelineStep[]>;
  passes: ReadonlyMap<string, Pass>;
  /** Intra-op thread counts to try; one value when the user fixed it. */
  threads: readonly number[];
  /** Inter-op thread counts (parallel execution mode). */
  interOpThreads: readonly number[];
  /** Batch sizes (throughput goal); one value otherwise. */
  batchSizes: readonly number[];
  /** Execution mode, memory arena and pattern are searched (onnxruntime-node; the browser's WASM session has only threads and level). */
  sessionKnobs: boolean;
  /** ORT graph optimizers each trial may turn off (names from ORT_FUSIONS_OFF that apply to the model; with sessionKnobs only). */
  ortFusions: readonly string[];
  /** The fusions that changed the model in some planned pipeline: only these may be left out one by one. */
  fusionsThatApply: ReadonlySet<string>;
}

/**
 * ORT graph optimizers a search may turn off, where a fused kernel of ORT's runs slower than the ops it
 * replaces; each applies when the model holds one of `ops` (the ops the fusion starts from, before ORT's own
 * rewrites), and runs at levels extended and all.
 *
 * SkipLayerNormFusion (Add + LayerNormalization → com.microsoft SkipLayerNormalization): ORT 1.30's CPU
 * kernel for it measured 2.6–4.3x slower than Add + LayerNormalization on [1024, 256] (0.86 against 0.33 ms
 * at 2 threads, 1.47 against 0.34 at 1, AMD EPYC); on the zoo encoder at 8×128 with dynamic int8 turning it
 * off saves ~1 ms of ~21 (docs/benchmarks.md, "`hone optimize`"). ORT fuses it wherever nothing else reads
 * the sum: once in a pre-LN encoder, twice per layer in a post-LN one (BERT).
 */
export const ORT_FUSIONS_OFF: readonly { name: string; ops: readonly string[] }[] = [
  { name: 'SkipLayerNormFusion', ops: ['LayerNormalization', 'ReduceMean'] },
];

/** The ORT fusions a search over `opTypes` may turn off: those whose starting ops the model holds. */
export function switchableOrtFusions(opTypes: ReadonlyMap<string, number>): string[] {
  return ORT_FUSIONS_OFF.filter((f) => f.ops.some((op) => opTypes.has(op))).map((f) => f.name);
}

export interface SearchChoice {
  key: string;
  steps: PipelineStep[];
  settings: RuntimeSettings;
  batch: number;
}

const LEVELS = ['basic', 'extended', 'all'] as const;

/**
 * A pipeline's fusions the search may leave out one by one (`keep:ID`, yes or no): those that changed the
 * model, in a pipeline that holds two or more of them (with one, leaving it out is the planned pipeline
 * without fusions).
 */
function optionalFusions(steps: readonly PipelineStep[], space: SearchSpace): string[] {
  const fusions = steps.filter((s) => isFusion(s.pass) && space.fusionsThatApply.has(s.pass)).map((s) => s.pass);
  return fusions.length > 1 ? fusions : [];
}

/** A trial's point in the space (see the file comment). */
export function suggestChoice(trial: Trial, space: SearchSpace): SearchChoice {
  const key = trial.suggestCategorical('pipeline', [...space.pipelines.keys()]);
  const planned = space.pipelines.get(key)!;
  const optional = new Set(optionalFusions(planned, space));
  const kept = planned.filter((s) => !optional.has(s.pass) || trial.suggestCategorical(`keep:${s.pass}`, [true, false]));
  const steps = kept.map((s) => {
    const pass = space.passes.get(s.pass);
    const options: PassOptions = { ...s.options };
    for (const [name, dist] of Object.entries(pass?.space ?? {})) options[name] = trial.suggest(`${s.pass}:${name}`, dist);
    return { pass: s.pass, options };
  });
  const settings: RuntimeSettings = {
    intraOpThreads: trial.suggestCategorical('threads', [...space.threads]),
    graphOptimizationLevel: trial.suggestCategorical('level', [...LEVELS]),
  };
  if (space.sessionKnobs) {
    const mode = trial.suggestCategorical('executionMode', ['sequential', 'parallel']);
    if (mode === 'parallel') {
      settings.executionMode = 'parallel';
      settings.interOpThreads = trial.suggestCategorical('interOpThreads', [...space.interOpThreads]);
    }
    if (!trial.suggestCategorical('memArena', [true, false])) settings.enableCpuMemArena = false;
    if (!trial.suggestCategorical('memPattern', [true, false])) settings.enableMemPattern = false;
    if (settings.graphOptimizationLevel !== 'basic') {
      const off = space.ortFusions.filter((f) => !trial.suggestCategorical(`ort:${f}`, [true, false]));
      if (off.length) settings.disabledOptimizers = off;
    }
  }
  // A fusion turned off for the session must be off in ORT's offline optimization too, or the saved file holds it.
  if (settings.disabledOptimizers?.length)
    for (const s of steps) if (family(s.pass) === 'ort') s.options = { ...s.options, disable: settings.disabledOptimizers.join(',') };
  const batch = trial.suggestCategorical('batch', [...space.batchSizes]);
  return { key, steps, settings, batch };
}

/** The fixed parameters of a trial that times `key` at `settings` with each pass's defaults where the space allows them. */
export function fixedParams(key: string, space: SearchSpace, settings: RuntimeSettings, batch: number): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = { pipeline: key };
  for (const f of optionalFusions(space.pipelines.get(key) ?? [], space)) params[`keep:${f}`] = true;
  for (const s of space.pipelines.get(key) ?? []) {
    const pass = space.passes.get(s.pass);
    for (const [name, dist] of Object.entries(pass?.space ?? {})) {
      const value = (s.options?.[name] ?? pass?.defaults[name]) as ParamValue;
      if (dist.type === 'categorical' && dist.choices.includes(value)) params[`${s.pass}:${name}`] = value;
    }
  }
  if (settings.intraOpThreads !== undefined && space.threads.includes(settings.intraOpThreads)) params.threads = settings.intraOpThreads;
  params.level = settings.graphOptimizationLevel;
  if (space.sessionKnobs) {
    params.executionMode = settings.executionMode ?? 'sequential';
    if (settings.executionMode === 'parallel' && settings.interOpThreads !== undefined) params.interOpThreads = settings.interOpThreads;
    params.memArena = settings.enableCpuMemArena ?? true;
    params.memPattern = settings.enableMemPattern ?? true;
    if (settings.graphOptimizationLevel !== 'basic')
      for (const f of space.ortFusions) params[`ort:${f}`] = !settings.disabledOptimizers?.includes(f);
  }
  params.batch = batch;
  return params;
}

/** What a study records about its job; resuming another job is refused. */
export type JobFingerprint = Record<string, string | number | boolean | number[] | null>;

/**
 * Opens the search's study: in memory without a path; in SQLite at `path` otherwise, new (a previous study
 * there is replaced) or, with `resume`, the previous one, whose fingerprint must match.
 */
export async function openSearchStudy(opts: {
  path?: string;
  resume?: boolean;
  fingerprint: JobFingerprint;
  maxDrop: number;
  seed?: number;
}): Promise<{ study: Study; resumed: FrozenTrial[] }> {
  const sampler = new TPESampler({ seed: opts.seed ?? 0, nStartupTrials: 8, group: true });
  const pruner = new NopPruner();
  // The drop bounds the search: trials beyond it are infeasible (TPE and bestTrials prefer feasible ones).
  const constraintsFunc = (t: FrozenTrial) => [(t.values?.[1] ?? Infinity) - opts.maxDrop];
  const create = async (storage: Storage) => {
    const study = await createStudy({ name: STUDY_NAME, directions: [...DIRECTIONS], sampler, pruner, constraintsFunc, storage });
    await study.setUserAttr('job', opts.fingerprint);
    return { study, resumed: [] };
  };
  if (!opts.path) {
    if (opts.resume) throw badInput('--resume needs the study of a previous run: give the same -o OUT_DIR');
    return create(new InMemoryStorage());
  }
  if (opts.resume) {
    const storage = await resumableStorage(opts.path, opts.fingerprint);
    const study = await loadStudy({ name: STUDY_NAME, storage, sampler, pruner, constraintsFunc });
    // Trials the interrupted run left running are failed: their measurements died with it.
    for (const t of study.trials)
      if (t.state === 'running' || t.state === 'waiting') await study.tell(t.number, 'fail', { failReason: 'interrupted' });
    await study.refresh();
    return { study, resumed: study.trials.filter((t) => t.state === 'complete') };
  }
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(opts.path + suffix, { force: true });
  mkdirSync(dirname(opts.path), { recursive: true });
  return create(new SqliteStorage(opts.path));
}

/**
 * The SQLite storage of a study at `path` that searched the job `fingerprint` describes; a missing study
 * or another job is refused with the fix. Cheap: `optimizeModel` calls it before any slow work.
 */
export async function resumableStorage(path: string, fingerprint: JobFingerprint): Promise<SqliteStorage> {
  if (!existsSync(path))
    throw badInput(`--resume: there is no study at ${path} (no previous run wrote this OUT_DIR); drop --resume to start one`);
  const storage = new SqliteStorage(path);
  try {
    const id = await storage.getStudyId(STUDY_NAME);
    if (id === undefined) throw badInput(`--resume: ${path} holds no optimize study; drop --resume to start one`);
    const previous = (await storage.getStudy(id)).userAttrs.job as JobFingerprint | undefined;
    const differs = Object.keys({ ...fingerprint, ...previous }).filter(
      (k) => JSON.stringify(previous?.[k]) !== JSON.stringify(fingerprint[k]),
    );
    if (differs.length)
      throw badInput(
        `--resume: the study in ${path} searched another job (${differs.join(', ')} differ); run with the same model, data and flags, or drop --resume to start over`,
      );
    return storage;
  } catch (e) {
    await storage.close();
    throw e;
  }
}

/** The best feasible trials of a study by the goal's score, best first. */
export function bestFeasible(trials: readonly FrozenTrial[], maxDrop: number, n: number): FrozenTrial[] {
  return trials
    .filter((t) => t.state === 'complete' && t.values && t.values[1]! <= maxDrop && t.values[0]! > 0)
    .sort((a, b) => b.values![0]! - a.values![0]!)
    .slice(0, n);
}
