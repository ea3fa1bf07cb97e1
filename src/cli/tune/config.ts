import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { badInput, errorMessage } from '../../errors.js';
import { validateDistribution } from '../../tune/distributions.js';
import type { Direction, Distribution, ParamValue } from '../../tune/types.js';
import {
  parseTrainObjective,
  trainDirections,
  trainSpace,
  withModelsDir,
  type TrainObjectiveSpec,
  type TrainOverrides,
} from './train-spec.js';
import { parseWarmStart, type WarmStartConfig } from './warm-start.js';

/**
 * `hone tune` configuration: a YAML or JSON file, overridden by flags. Everything is checked here, before
 * any trial runs, so a typo costs one line of error instead of a failed study.
 *
 *   study: lr-search
 *   direction: minimize            # or directions: [minimize, maximize]
 *   sampler: auto                  # (default) or tpe, gp, …, or { name: tpe, seed: 1, options: { nStartupTrials: 5 } }
 *                                  # grid: { name: grid, options: { points: 10 } } (values per float without a step)
 *   seed: 1
 *   pruner: median                 # none | median | percentile | successive-halving | hyperband (or { name, options })
 *   trials: 50
 *   timeout: 600                   # seconds; no trial starts after it
 *   storage: sqlite:study.db
 *   workers: 4
 *   heartbeat: { interval: 2, grace: 10, retries: 1 }
 *   warm_start: { study: lr-v1, storage: sqlite:old.db, top: 5 }   # first: the best 5 of an earlier study
 *   space:
 *     lr: { type: float, low: 1.0e-5, high: 0.1, log: true }
 *     layers: { type: int, low: 1, high: 4 }
 *     act: { type: categorical, choices: [relu, tanh] }
 *   objective:
 *     command: python train.py     # or objective: bench:branin
 *     cwd: .                       # relative to this file (default: its folder)
 *     timeout: 300                 # per trial, seconds
 *     env: { EPOCHS: "3" }
 *   # or: objective: { bench: branin, delay: 0.1 }   (a benchmark that takes 0.1 s per trial)
 *   # or: objective: { train: { model: zoo:lenet5, data: mnist, epochs: 3, metric: accuracy } }
 *   #     (Hone trains the model itself; 'space' then adjusts the model's default space, see train-spec.ts)
 */
export interface TuneConfig {
  study: string;
  directions: Direction[];
  sampler: { name: SamplerName; seed?: number; options: Record<string, unknown> };
  pruner: { name: PrunerName; options: Record<string, unknown> };
  /** The study's total number of trials (counting those of earlier runs); undefined: until timeout. */
  trials?: number;
  timeoutS?: number;
  storage: string;
  workers: number;
  heartbeat: { intervalS: number; graceS: number; retries: number };
  space: Record<string, Distribution>;
  objective: ObjectiveSpec;
  /** A new study's first trials: the best of an earlier one (warm-start.ts); applied when it is created. */
  warmStart?: WarmStartConfig;
  /** Trials with fixed parameters a new study runs first (hone nas: the reference architecture); not from a config file. */
  enqueue?: { params: Record<string, ParamValue>; userAttrs?: Record<string, unknown> }[];
}

export type ObjectiveSpec =
  | { kind: 'command'; command: string; cwd: string; env: Record<string, string>; timeoutS?: number }
  /** `delayS` makes a benchmark behave like an expensive objective (for trying workers and heartbeats). */
  | { kind: 'bench'; name: BenchName; delayS?: number }
  | TrainObjectiveSpec;

export const SAMPLERS = ['auto', 'random', 'grid', 'qmc', 'tpe', 'gp', 'cmaes', 'nsga2'] as const;
export type SamplerName = (typeof SAMPLERS)[number];
export const PRUNERS = ['none', 'median', 'percentile', 'successive-halving', 'hyperband'] as const;
export type PrunerName = (typeof PRUNERS)[number];
export const BENCHES = ['branin', 'hartmann6', 'rosenbrock4', 'ackley5', 'levy5'] as const;
export type BenchName = (typeof BENCHES)[number];

/** Flags that override the file (or stand in for it); data, epochs, metric and limit are a train objective's. */
export interface TuneOverrides extends TrainOverrides {
  study?: string;
  direction?: string;
  sampler?: string;
  seed?: number;
  trials?: number;
  timeoutS?: number;
  storage?: string;
  workers?: number;
  objective?: string;
  pruner?: string;
  /** Points per continuous parameter of a grid (sampler.options.points). */
  gridPoints?: number;
  /** --warm-start STUDY[@STORAGE] and --warm-start-top K. */
  warmStart?: string;
  warmStartTop?: number;
}

const TOP_KEYS = [
  'study',
  'direction',
  'directions',
  'sampler',
  'seed',
  'pruner',
  'trials',
  'timeout',
  'storage',
  'workers',
  'heartbeat',
  'space',
  'objective',
  'warm_start',
];

/** Reads and checks a config file (YAML, or JSON by its .json extension). */
export function readTuneConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : errorMessage(e);
    throw badInput(`cannot read tune config ${path}: ${why}; check the path`, e);
  }
  if (extname(path).toLowerCase() === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw badInput(`tune config ${path} is not valid JSON: ${errorMessage(e)}; fix the syntax`, e);
    }
  }
  try {
    return parseYaml(text) as unknown;
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}` : '';
    const first = errorMessage(e)
      .split('\n')[0]!
      .replace(/ at line \d+, column \d+:?$/, '');
    throw badInput(`tune config ${path} is not valid YAML${where}: ${first}; fix the syntax`, e);
  }
}

/**
 * Builds the effective configuration from a parsed file (or nothing) and flags. `file` names the
 * source in messages and anchors relative paths; `label` names it in messages instead (`hone nas`'s
 * configuration is built from its flags and its --space file).
 */
export function resolveTuneConfig(raw: unknown, overrides: TuneOverrides, file?: string, label?: string): TuneConfig {
  const src = label ?? file ?? 'the command line';
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw badInput(`tune config ${src} must be a mapping of keys (study, space, objective, …); see 'hone tune --help'`);
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!TOP_KEYS.includes(k)) throw badInput(`unknown key '${k}' in ${src}; known keys: ${TOP_KEYS.join(', ')}`);
  }
  const baseDir = file ? dirname(resolve(file)) : process.cwd();

  const parsed = parseObjective(overrides.objective ?? c.objective, src, baseDir, overrides);
  const storage = overrides.storage ?? optionalString(c.storage, 'storage', src) ?? 'memory';
  const objective = parsed.kind === 'train' ? withModelsDir(parsed, storage) : parsed;
  const userSpace = parseSpace(c.space, src);
  const space = objective.kind === 'train' ? trainSpace(objective, userSpace, src) : userSpace;
  if (objective.kind === 'command' && Object.keys(space).length === 0) {
    throw badInput(
      `${src} has no 'space': a command objective needs parameters to tune, e.g. space: { lr: { type: float, low: 0.0001, high: 0.1, log: true } }`,
    );
  }
  if (objective.kind === 'bench' && Object.keys(space).length > 0) {
    throw badInput(`bench:${objective.name} defines its own search space; remove 'space' from ${src}`);
  }

  const directions = parseDirections(overrides.direction ?? c.direction, c.directions, src);
  if (objective.kind === 'bench' && directions.join() !== 'minimize') {
    throw badInput(`bench:${objective.name} is minimized; drop direction(s) from ${src} or set direction: minimize`);
  }
  if (objective.kind === 'train') {
    // The metrics decide the directions; a direction given too must agree.
    const given = overrides.direction ?? c.direction ?? c.directions;
    const wanted = trainDirections(objective);
    if (given !== undefined && directions.join() !== wanted.join())
      throw badInput(
        `metric ${objective.metrics.join(', ')} is ${wanted.join(', ')}d; drop direction(s) from ${src} or set ${wanted.length > 1 ? `directions: [${wanted.join(', ')}]` : `direction: ${wanted[0]}`}`,
      );
    directions.splice(0, directions.length, ...wanted);
  }
  const sampler = parseNamed(overrides.sampler ?? c.sampler ?? 'auto', 'sampler', SAMPLERS, src);
  const seed =
    overrides.seed ??
    optionalNumber(c.seed, 'seed', src, { int: true, min: 0 }) ??
    optionalNumber(sampler.seed, 'sampler.seed', src, { int: true, min: 0 });
  const pruner = parseNamed(overrides.pruner ?? c.pruner ?? 'none', 'pruner', PRUNERS, src);
  if (objective.kind === 'train') checkTrainPruner(objective, pruner.name, src);
  const trials = overrides.trials ?? optionalNumber(c.trials, 'trials', src, { int: true, min: 1 });
  const timeoutS = overrides.timeoutS ?? optionalNumber(c.timeout, 'timeout', src, { min: 0.001 });
  if (trials === undefined && timeoutS === undefined) {
    throw badInput(`${src} sets neither 'trials' nor 'timeout'; give one (e.g. --trials 50) so the study ends`);
  }
  const workers = overrides.workers ?? optionalNumber(c.workers, 'workers', src, { int: true, min: 1 }) ?? 1;
  const hb = parseHeartbeat(c.heartbeat, src);
  const study =
    overrides.study ?? optionalString(c.study, 'study', src) ?? (file ? basename(file, extname(file)) : defaultStudyName(objective));
  const warmStart = parseWarmStart(c.warm_start, overrides.warmStart, overrides.warmStartTop, src);
  return {
    study,
    directions,
    trials,
    timeoutS,
    storage,
    workers,
    heartbeat: hb,
    space,
    objective,
    sampler: {
      name: sampler.name,
      options: withGridPoints(sampler.name, sampler.options, overrides.gridPoints),
      ...(seed !== undefined ? { seed } : {}),
    },
    pruner: { name: pruner.name, options: pruner.options },
    ...(warmStart ? { warmStart } : {}),
  };
}

/** Pruners compare one value per step, which a study of several metrics does not report (trial.report refuses). */
function checkTrainPruner(o: TrainObjectiveSpec, pruner: PrunerName, src: string): void {
  if (o.metrics.length > 1 && pruner !== 'none')
    throw badInput(
      `pruner ${pruner} cannot prune a study of several metrics (${o.metrics.join(', ')}) in ${src}: pruners compare one value per epoch; drop the pruner or keep one metric`,
    );
}

function defaultStudyName(o: ObjectiveSpec): string {
  if (o.kind === 'bench') return `bench-${o.name}`;
  if (o.kind === 'train')
    return `train-${o.model.startsWith('zoo:') ? o.model.slice(4).split(':')[0] : basename(o.model, extname(o.model))}`;
  return 'study';
}

function parseObjective(
  v: unknown,
  src: string,
  baseDir: string,
  train: TrainOverrides,
): Exclude<ObjectiveSpec, TrainObjectiveSpec> | ReturnType<typeof parseTrainObjective> {
  const isTrain = (typeof v === 'string' && v.startsWith('train:')) || (typeof v === 'object' && v !== null && 'train' in v);
  const trainFlag = (['data', 'epochs', 'metric', 'limit'] as const).find((k) => train[k] !== undefined);
  if (!isTrain && trainFlag && v !== undefined && v !== null)
    throw badInput(`--${trainFlag} is for a train objective (--objective train:zoo:NAME); ${src}'s objective is not one`);
  if (typeof v === 'string' && v.startsWith('train:')) return parseTrainObjective(v, src, baseDir, train);
  if (isTrain) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (k !== 'train') throw badInput(`unknown key 'objective.${k}' in ${src}; a train objective has its settings under objective.train`);
    return parseTrainObjective(o.train, src, baseDir, train);
  }
  if (v === undefined || v === null) {
    throw badInput(
      `${src} has no objective; add 'objective: { command: "python train.py" }' or 'objective: bench:branin' (or pass --objective bench:NAME)`,
    );
  }
  if (typeof v === 'string') {
    if (v.startsWith('bench:')) {
      const name = v.slice('bench:'.length);
      if (!(BENCHES as readonly string[]).includes(name)) throw badInput(`unknown benchmark '${v}'; use bench:${BENCHES.join(', bench:')}`);
      return { kind: 'bench', name: name as BenchName };
    }
    return parseObjective({ command: v }, src, baseDir, train);
  }
  if (typeof v !== 'object' || Array.isArray(v))
    throw badInput(`objective in ${src} must be a command mapping, bench:NAME or { train: … }`);
  const o = v as Record<string, unknown>;
  if (o.bench !== undefined) {
    for (const k of Object.keys(o))
      if (!['bench', 'delay'].includes(k))
        throw badInput(`unknown key 'objective.${k}' in ${src}; a bench objective knows bench and delay`);
    const b = parseObjective(`bench:${String(o.bench)}`, src, baseDir, train);
    const delayS = optionalNumber(o.delay, 'objective.delay', src, { min: 0 });
    return delayS === undefined ? b : ({ ...b, delayS } as ObjectiveSpec);
  }
  for (const k of Object.keys(o)) {
    if (!['command', 'cwd', 'env', 'timeout'].includes(k))
      throw badInput(`unknown key 'objective.${k}' in ${src}; known: command, cwd, env, timeout`);
  }
  if (typeof o.command !== 'string' || !o.command.trim())
    throw badInput(`objective.command in ${src} must be a non-empty command line, e.g. "python train.py"`);
  const cwd = resolve(baseDir, optionalString(o.cwd, 'objective.cwd', src) ?? '.');
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    /* reported below */
  }
  if (!isDir) throw badInput(`objective.cwd '${cwd}' (from ${src}) is not a folder; fix the path`);
  const env: Record<string, string> = {};
  if (o.env !== undefined) {
    if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env))
      throw badInput(`objective.env in ${src} must be a mapping of NAME: value`);
    for (const [k, val] of Object.entries(o.env)) env[k] = typeof val === 'string' ? val : JSON.stringify(val);
  }
  const timeoutS = optionalNumber(o.timeout, 'objective.timeout', src, { min: 0.001 });
  return { kind: 'command', command: o.command, cwd, env, ...(timeoutS !== undefined ? { timeoutS } : {}) };
}

const PARAM_KEYS = ['type', 'low', 'high', 'log', 'step', 'choices'];

/** The search space: every parameter checked (bounds, log, choices) with the tuner's own rules. */
export function parseSpace(v: unknown, src: string): Record<string, Distribution> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw badInput(`space in ${src} must be a mapping of parameter name → { type, low, high, … }`);
  const out: Record<string, Distribution> = {};
  const envNames = new Map<string, string>();
  for (const [name, spec] of Object.entries(v as Record<string, unknown>)) {
    const where = `space.${name} in ${src}`;
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
      throw badInput(`${where} must be a mapping like { type: float, low: 0, high: 1 }`);
    const p = spec as Record<string, unknown>;
    for (const k of Object.keys(p))
      if (!PARAM_KEYS.includes(k)) throw badInput(`unknown key '${k}' in ${where}; known: ${PARAM_KEYS.join(', ')}`);
    let d: Distribution;
    if (p.type === 'categorical') {
      if (!Array.isArray(p.choices)) throw badInput(`${where}: categorical needs 'choices: [a, b, …]'`);
      d = { type: 'categorical', choices: p.choices as ParamValue[] };
    } else if (p.type === 'float' || p.type === 'int') {
      if (typeof p.low !== 'number' || typeof p.high !== 'number') throw badInput(`${where}: ${p.type} needs numeric 'low' and 'high'`);
      if (p.log !== undefined && typeof p.log !== 'boolean') throw badInput(`${where}: 'log' must be true or false`);
      if (p.step !== undefined && typeof p.step !== 'number') throw badInput(`${where}: 'step' must be a number`);
      if (p.choices !== undefined) throw badInput(`${where}: 'choices' is for categorical parameters; remove it or use type: categorical`);
      const log = p.log === true;
      d =
        p.type === 'int'
          ? { type: 'int', low: p.low, high: p.high, log, step: (p.step as number | undefined) ?? 1 }
          : { type: 'float', low: p.low, high: p.high, log, ...(p.step !== undefined ? { step: p.step as number } : {}) };
    } else {
      throw badInput(`${where}: unknown type ${JSON.stringify(p.type)}; use float, int or categorical`);
    }
    try {
      out[name] = validateDistribution(name, d);
    } catch (e) {
      throw badInput(`${errorMessage(e)} (in ${src})`, e);
    }
    const env = paramEnvName(name);
    const clash = envNames.get(env);
    if (clash !== undefined) throw badInput(`parameters '${clash}' and '${name}' both become ${env}; rename one in ${src}`);
    envNames.set(env, name);
  }
  return out;
}

/** The environment variable a command objective reads a parameter from. */
export function paramEnvName(name: string): string {
  return `HONE_PARAM_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

function parseDirections(direction: unknown, directions: unknown, src: string): Direction[] {
  if (direction !== undefined && directions !== undefined) throw badInput(`${src} sets both 'direction' and 'directions'; keep one`);
  const list = directions ?? [direction ?? 'minimize'];
  if (!Array.isArray(list) || list.length === 0) throw badInput(`'directions' in ${src} must be a list like [minimize, maximize]`);
  for (const d of list) {
    if (d !== 'minimize' && d !== 'maximize') throw badInput(`direction ${JSON.stringify(d)} in ${src} is not minimize or maximize`);
  }
  return list as Direction[];
}

function parseNamed<N extends string>(
  v: unknown,
  what: string,
  names: readonly N[],
  src: string,
): { name: N; seed?: unknown; options: Record<string, unknown> } {
  let name: unknown = v;
  let options: Record<string, unknown> = {};
  let seed: unknown;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!['name', 'options', 'seed'].includes(k))
        throw badInput(`unknown key '${what}.${k}' in ${src}; known: name, options${what === 'sampler' ? ', seed' : ''}`);
    name = o.name;
    seed = o.seed;
    if (o.options !== undefined) {
      if (typeof o.options !== 'object' || o.options === null || Array.isArray(o.options))
        throw badInput(`${what}.options in ${src} must be a mapping`);
      options = o.options as Record<string, unknown>;
    }
  }
  if (typeof name !== 'string' || !(names as readonly string[]).includes(name)) {
    throw badInput(`unknown ${what} ${JSON.stringify(name)} in ${src}; use one of ${names.join(', ')}`);
  }
  return { name: name as N, seed, options };
}

function parseHeartbeat(v: unknown, src: string): TuneConfig['heartbeat'] {
  const out = { intervalS: 5, graceS: 30, retries: 0 };
  if (v === undefined) return out;
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw badInput(`heartbeat in ${src} must be a mapping { interval, grace, retries }`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['interval', 'grace', 'retries'].includes(k))
      throw badInput(`unknown key 'heartbeat.${k}' in ${src}; known: interval, grace, retries`);
  out.intervalS = optionalNumber(o.interval, 'heartbeat.interval', src, { min: 0.01 }) ?? out.intervalS;
  out.graceS = optionalNumber(o.grace, 'heartbeat.grace', src, { min: 0.01 }) ?? Math.max(out.graceS, out.intervalS * 3);
  out.retries = optionalNumber(o.retries, 'heartbeat.retries', src, { int: true, min: 0 }) ?? 0;
  if (out.graceS <= out.intervalS)
    throw badInput(
      `heartbeat.grace (${out.graceS} s) must exceed heartbeat.interval (${out.intervalS} s) in ${src}, or live trials get failed`,
    );
  return out;
}

function optionalNumber(v: unknown, what: string, src: string, opts: { int?: boolean; min?: number }): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min)) {
    throw badInput(
      `'${what}' in ${src} must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function optionalString(v: unknown, what: string, src: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !v) throw badInput(`'${what}' in ${src} must be a non-empty string`);
  return v;
}

/** `--resume` without a file: the stored config with the flags given now (trials, timeout, workers, sampler, seed). */
export function applyOverrides(stored: TuneConfig, o: TuneOverrides): TuneConfig {
  const src = 'the command line';
  const c: TuneConfig = structuredClone(stored);
  const fixed = (['objective', 'direction', 'data', 'epochs', 'metric', 'limit'] as const).filter((k) => o[k] !== undefined);
  if (fixed.length > 0) {
    throw badInput(`--resume continues a study as it was created; ${fixed.map((k) => `--${k}`).join(' and ')} cannot change it`);
  }
  if (o.warmStart !== undefined || o.warmStartTop !== undefined)
    throw badInput('--warm-start seeds a new study; --resume continues one as it is: drop --warm-start');
  if (o.trials !== undefined) c.trials = o.trials;
  if (o.timeoutS !== undefined) c.timeoutS = o.timeoutS;
  if (o.workers !== undefined) c.workers = o.workers;
  if (o.storage !== undefined) c.storage = o.storage;
  if (o.sampler !== undefined && o.sampler !== c.sampler.name) {
    const seed = c.sampler.seed;
    c.sampler = { name: parseNamed(o.sampler, 'sampler', SAMPLERS, src).name, options: {}, ...(seed !== undefined ? { seed } : {}) };
  }
  if (o.seed !== undefined) c.sampler.seed = o.seed;
  if (o.pruner !== undefined && o.pruner !== c.pruner.name) {
    c.pruner = { name: parseNamed(o.pruner, 'pruner', PRUNERS, src).name, options: {} };
    if (c.objective.kind === 'train') checkTrainPruner(c.objective, c.pruner.name, src);
  }
  c.sampler.options = withGridPoints(c.sampler.name, c.sampler.options, o.gridPoints);
  return c;
}

function withGridPoints(sampler: SamplerName, options: Record<string, unknown>, points: number | undefined): Record<string, unknown> {
  if (points === undefined) return options;
  if (sampler !== 'grid') throw badInput(`--grid-points is for the grid sampler, not ${sampler}; add --sampler grid or drop it`);
  return { ...options, points };
}
