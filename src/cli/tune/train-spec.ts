import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { badInput } from '../../errors.js';
import { checkProvider } from '../../runtime/providers.js';
import { zooModel, zooModels, type ZooModelInfo } from '../../zoo/index.js';
import { CODE_PREFIX, isCodeSpaceFile } from '../../nas/code-space.js';
import type { Direction, Distribution, FrozenTrial } from '../../tune/types.js';

/**
 * The `train` objective's configuration (no training here: config.ts reads it without loading ONNX
 * Runtime). A trial trains `model` on `data` with the hyperparameters it samples and returns the
 * validation metric(s) of its last epoch; train-objective.ts runs it.
 *
 *   objective:
 *     train:
 *       model: zoo:lenet5            # zoo:NAME[:k=v,…] (options given here are not searched) or a .onnx file
 *       data: mnist                  # or an .npz with the model's inputs and 'label'
 *       epochs: 3                    # per trial; each epoch reports the metric to the pruner
 *       metric: accuracy             # accuracy | loss | time | params | macs | latency, or a list: [accuracy, time]
 *       limit: 2000                  # train on the first N samples only
 *       validation: 0.2              # fraction of them held out; the metric is measured on it
 *       loss: cross-entropy          # | mse | l1
 *       seed: 0                      # shuffling and the validation split: the same for every trial
 *       threads: 2                   # ORT threads per trial (default: the cores shared among workers)
 *       models: trial-models         # where each complete trial's model is kept (see trainModelsDir)
 *       latency_budget: 0.5          # ms; with metric latency, architectures predicted over it are not trained
 *       max_macs: 2000000            # architectures over this many MACs per inference are not trained
 *       max_params: 100000           # nor those over this many parameters
 *       prune_dominated: true        # with accuracy and one of latency|macs|params: stop one dominated part-way
 *       provider: cpu                # with metric latency: the execution provider it is timed on
 *       proxy_keep: 0.5              # train only architectures whose zero-cost proxy score is in the top half so far
 */
export interface TrainObjectiveSpec {
  kind: 'train';
  /** `zoo:NAME[:opts]`, an absolute .onnx path, or `code:PATH` (a space module's architectures, from hone nas). */
  model: string;
  /** `mnist`, or an absolute .npz path. */
  data: string;
  epochs: number;
  metrics: TrainMetric[];
  limit?: number;
  validation: number;
  loss: TrainLoss;
  seed: number;
  threads?: number;
  /** Folder of the trials' models (absolute); trial N of study S is `models/S/trial-N.onnx`. */
  models: string;
  /** `models` is a temporary folder of the process that runs a memory-storage study; removed when it exits. */
  modelsTemporary?: boolean;
  /**
   * With the latency metric: ms at batch 1 beyond which an architecture is not worth training. Once enough
   * are measured, one the latency model predicts over it (by more than twice its error) is pruned untrained.
   */
  latencyBudget?: number;
  /** Architectures over this many MACs per inference (batch 1) are pruned untrained: counted exactly, before training. */
  maxMacs?: number;
  /** Architectures over this many parameters are pruned untrained. */
  maxParams?: number;
  /**
   * With metrics accuracy and a cost known before training (latency, macs or params; the first of them in
   * the list): multi-fidelity for a Pareto front. Latency is measured before training (it does not depend
   * on the weights), MACs and parameters are counted; after each epoch but the last, an architecture that
   * two complete ones dominate at that same epoch — no costlier, and more accurate after as many epochs —
   * is stopped there (pruned), since it is unlikely to reach the front.
   */
  pruneDominated?: boolean;
  /**
   * A zero-cost proxy as a filter (nas/proxy.ts, NASWOT): every trial's untrained network is scored first;
   * once 6 are scored, one whose score is below the (1 − proxyKeep) quantile of the scores so far is
   * pruned untrained.
   */
  proxyKeep?: number;
  /** With the latency metric: the execution provider latency is measured on (training runs on the CPU). */
  provider?: string;
}

export const TRAIN_METRICS = ['accuracy', 'loss', 'time', 'params', 'macs', 'latency'] as const;
export type TrainMetric = (typeof TRAIN_METRICS)[number];
/**
 * accuracy and loss on the validation split; time: seconds of the training steps over all epochs (the
 * trainer's own per-epoch times, without building the model, its training graph and session, or
 * validating); params: the model's parameter count; macs: multiply-accumulates of one inference at batch 1
 * (the per-op cost rules of src/ops, counted before training); latency: milliseconds per inference of the trained
 * model at batch 1 on this machine's ONNX Runtime (the least round median of a timed worker run).
 */
export const METRIC_DIRECTION: Record<TrainMetric, Direction> = {
  accuracy: 'maximize',
  loss: 'minimize',
  time: 'minimize',
  params: 'minimize',
  macs: 'minimize',
  latency: 'minimize',
};
/** The metrics known before training (they do not depend on the weights): the costs dominance and budgets use. */
export const COST_METRICS = ['latency', 'macs', 'params'] as const satisfies readonly TrainMetric[];
export type CostMetric = (typeof COST_METRICS)[number];
/**
 * The trial user attribute each cost is kept in (set before training; the study's constraints, dominance
 * part-way and the latency model read them back). A trial not trained because the latency model put it over
 * the budget has `predicted_latency_ms` instead.
 */
export const COST_ATTR: Record<CostMetric, string> = { latency: 'latency_ms', macs: 'macs', params: 'params_count' };
/** The cost a multi-fidelity search compares part-way: the first of the metrics known before training. */
export function costMetric(metrics: readonly TrainMetric[]): CostMetric | undefined {
  return metrics.find((m): m is CostMetric => (COST_METRICS as readonly string[]).includes(m));
}
export const TRAIN_LOSSES = ['cross-entropy', 'mse', 'l1'] as const;
export type TrainLoss = (typeof TRAIN_LOSSES)[number];

/** A train objective as configured: `models` only where the config names the folder. */
export type ParsedTrainObjective = Omit<TrainObjectiveSpec, 'models' | 'modelsTemporary'> & { models?: string };

/** Command-line values for a train objective (`--data`, `--epochs`, `--metric`, `--limit`). */
export interface TrainOverrides {
  data?: string;
  epochs?: number;
  metric?: string;
  limit?: number;
}

export const TRAIN_DEFAULTS = { epochs: 3, validation: 0.2, seed: 0, loss: 'cross-entropy' as TrainLoss };

const TRAIN_KEYS = [
  'model',
  'data',
  'epochs',
  'metric',
  'limit',
  'validation',
  'loss',
  'seed',
  'threads',
  'models',
  'latency_budget',
  'max_macs',
  'max_params',
  'prune_dominated',
  'proxy_keep',
  'provider',
];

/**
 * `train:MODEL` (a string) or `{ train: { model, data, … } }` (a mapping) as a spec; relative paths are
 * taken from `baseDir` (the config file's folder, or the current one for flags). `models` is filled in
 * later by `withModelsDir`, once the storage is known.
 */
export function parseTrainObjective(v: unknown, src: string, baseDir: string, o: TrainOverrides): ParsedTrainObjective {
  const raw: Record<string, unknown> =
    typeof v === 'string' ? { model: v.slice('train:'.length) } : typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : {};
  if (typeof v !== 'string' && (typeof v !== 'object' || v === null || Array.isArray(v)))
    throw badInput(`objective.train in ${src} must be a mapping like { model: zoo:lenet5, data: mnist, epochs: 3, metric: accuracy }`);
  for (const k of Object.keys(raw))
    if (!TRAIN_KEYS.includes(k)) throw badInput(`unknown key 'objective.train.${k}' in ${src}; known: ${TRAIN_KEYS.join(', ')}`);
  const where = (k: string) => `objective.train.${k} in ${src}`;
  if (typeof raw.model !== 'string' || !raw.model.trim())
    throw badInput(`${where('model')} must name a model: zoo:NAME (zoo:lenet5, zoo:mlp:hidden=128) or a .onnx file`);
  const model = checkModel(raw.model.trim(), baseDir, where('model'));
  const dataSpec = o.data ?? raw.data;
  if (dataSpec === undefined)
    throw badInput(`the train objective needs data: add --data mnist (or --data FILE.npz), or data: in objective.train in ${src}`);
  if (typeof dataSpec !== 'string' || !dataSpec) throw badInput(`${where('data')} must be 'mnist' or the path of an .npz file`);
  const data = checkData(dataSpec, o.data !== undefined ? process.cwd() : baseDir);
  const epochs = o.epochs ?? positive(raw.epochs, where('epochs'), true) ?? TRAIN_DEFAULTS.epochs;
  const metrics = parseMetrics(o.metric ?? raw.metric ?? 'accuracy', o.metric !== undefined ? '--metric' : where('metric'));
  const limit = o.limit ?? positive(raw.limit, where('limit'), true);
  const validation = raw.validation === undefined ? TRAIN_DEFAULTS.validation : (raw.validation as number);
  if (typeof validation !== 'number' || !(validation > 0 && validation < 1))
    throw badInput(`${where('validation')} must be a fraction between 0 and 1 (exclusive), got ${JSON.stringify(raw.validation)}`);
  const loss = raw.loss ?? TRAIN_DEFAULTS.loss;
  if (!(TRAIN_LOSSES as readonly unknown[]).includes(loss))
    throw badInput(`${where('loss')} must be one of ${TRAIN_LOSSES.join(', ')}, got ${JSON.stringify(loss)}`);
  if (metrics.includes('accuracy') && loss !== 'cross-entropy')
    throw badInput(`metric accuracy needs loss: cross-entropy (a classifier); with loss ${loss} use metric: loss`);
  const seed = raw.seed === undefined ? TRAIN_DEFAULTS.seed : (positive(raw.seed, where('seed'), true, 0) as number);
  const threads = positive(raw.threads, where('threads'), true, 0);
  if (raw.models !== undefined && (typeof raw.models !== 'string' || !raw.models))
    throw badInput(`${where('models')} must be the path of a folder for the trials' models`);
  const models = raw.models as string | undefined;
  let latencyBudget: number | undefined;
  if (raw.latency_budget !== undefined) {
    if (typeof raw.latency_budget !== 'number' || !(raw.latency_budget > 0))
      throw badInput(`${where('latency_budget')} must be milliseconds above 0, got ${JSON.stringify(raw.latency_budget)}`);
    if (!metrics.includes('latency')) throw badInput(`${where('latency_budget')} needs metric latency among the metrics`);
    latencyBudget = raw.latency_budget;
  }
  if (raw.prune_dominated !== undefined) {
    if (typeof raw.prune_dominated !== 'boolean') throw badInput(`${where('prune_dominated')} must be true or false`);
    if (raw.prune_dominated && !(metrics.includes('accuracy') && costMetric(metrics)))
      throw badInput(`${where('prune_dominated')} needs metric accuracy and one of latency, macs, params (it compares both part-way)`);
  }
  const maxMacs = positive(raw.max_macs, where('max_macs'), true);
  const maxParams = positive(raw.max_params, where('max_params'), true);
  if (raw.proxy_keep !== undefined && (typeof raw.proxy_keep !== 'number' || !(raw.proxy_keep > 0 && raw.proxy_keep < 1)))
    throw badInput(
      `${where('proxy_keep')} must be a fraction between 0 and 1 (exclusive): the share of architectures trained, got ${JSON.stringify(raw.proxy_keep)}`,
    );
  let provider: string | undefined;
  if (raw.provider !== undefined) {
    if (typeof raw.provider !== 'string') throw badInput(`${where('provider')} must name an execution provider such as cpu or cuda`);
    if (!metrics.includes('latency')) throw badInput(`${where('provider')} is where latency is measured; add metric latency`);
    provider = checkProvider(raw.provider);
  }
  return {
    kind: 'train',
    model,
    data,
    epochs,
    metrics,
    ...(limit !== undefined ? { limit } : {}),
    validation,
    loss: loss as TrainLoss,
    seed,
    ...(threads !== undefined ? { threads } : {}),
    ...(models !== undefined ? { models: resolve(baseDir, models) } : {}),
    ...(latencyBudget !== undefined ? { latencyBudget } : {}),
    ...(maxMacs !== undefined ? { maxMacs } : {}),
    ...(maxParams !== undefined ? { maxParams } : {}),
    ...(raw.prune_dominated === true ? { pruneDominated: true } : {}),
    ...(raw.proxy_keep !== undefined ? { proxyKeep: raw.proxy_keep as number } : {}),
    ...(provider !== undefined ? { provider } : {}),
  };
}

/**
 * Where trial models live unless `objective.train.models` says: beside a SQLite file (`runs.db` →
 * `runs.models/`), `hone-models/` in the current folder for PostgreSQL (each worker writes the trials it
 * runs there, on its own machine: point `models` at a shared folder to collect them in one place), and a
 * temporary folder for memory storage, which lives as long as the study does (this process).
 */
export function withModelsDir(spec: ParsedTrainObjective, storage: string): TrainObjectiveSpec {
  const { models, ...rest } = spec;
  if (models !== undefined) return { ...rest, models };
  if (storage === 'memory' || storage === 'memory:') {
    const unique = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    return { ...rest, models: join(tmpdir(), `hone-tune-models-${unique}`), modelsTemporary: true };
  }
  if (/^postgres(ql)?:\/\//.test(storage)) return { ...rest, models: resolve('hone-models') };
  const db = resolve(storage.replace(/^sqlite:(\/\/\/?)?/, (_m, slashes: string | undefined) => (slashes === '///' ? '/' : '')));
  return { ...rest, models: join(dirname(db), `${basename(db, extname(db))}.models`) };
}

/** Trial `number`'s model file. */
export function trialModelPath(spec: TrainObjectiveSpec, study: string, number: number): string {
  return join(spec.models, study.replace(/[^\w.-]/g, '_'), `trial-${number}.onnx`);
}

/**
 * The study's constraints for a train objective with limits (latency_budget, max_macs, max_params): for each,
 * (value − limit) / limit, met when ≤ 0. Samplers that take constraints (TPE, NSGA-II) then rank
 * architectures within the limits first, so the trials go where the answer can be. The values are the
 * trial's user attributes: latency measured (or, for one not trained, predicted), MACs and parameters
 * counted; a value not known counts as met.
 */
export function trainConstraints(
  spec: Pick<TrainObjectiveSpec, 'latencyBudget' | 'maxMacs' | 'maxParams'>,
): ((t: FrozenTrial) => number[]) | undefined {
  const all: [string[], number | undefined][] = [
    [[COST_ATTR.latency, 'predicted_latency_ms'], spec.latencyBudget],
    [[COST_ATTR.macs], spec.maxMacs],
    [[COST_ATTR.params], spec.maxParams],
  ];
  const limits = all.filter((l): l is [string[], number] => l[1] !== undefined);
  if (!limits.length) return undefined;
  return (t) =>
    limits.map(([attrs, max]) => {
      const v = attrs.map((a) => t.userAttrs[a]).find((x) => typeof x === 'number') as number | undefined;
      return v === undefined ? 0 : (v - max) / max;
    });
}

/** The study's directions: one per metric (accuracy maximized, the others minimized). */
export function trainDirections(spec: Pick<TrainObjectiveSpec, 'metrics'>): Direction[] {
  return spec.metrics.map((m) => METRIC_DIRECTION[m]);
}

function parseMetrics(v: unknown, where: string): TrainMetric[] {
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
  if (!Array.isArray(list) || list.length === 0) throw badInput(`${where} must be a metric or a list of them: ${TRAIN_METRICS.join(', ')}`);
  for (const m of list) {
    if (!(TRAIN_METRICS as readonly unknown[]).includes(m))
      throw badInput(
        `unknown metric ${JSON.stringify(m)} (${where}); a train objective measures ${TRAIN_METRICS.join(', ')} (accuracy and loss on the validation split)`,
      );
  }
  if (new Set(list).size !== list.length) throw badInput(`${where} names a metric twice: ${list.join(', ')}`);
  return list as TrainMetric[];
}

function checkModel(spec: string, baseDir: string, where: string): string {
  if (spec.startsWith('zoo:')) {
    zooModel(spec.slice(4));
    return spec;
  }
  // A space module's architectures (hone nas --space FILE.mjs; nas/code-space.ts), loaded when trials run.
  if (spec.startsWith(CODE_PREFIX)) {
    const path = resolve(baseDir, spec.slice(CODE_PREFIX.length));
    if (!isCodeSpaceFile(path) || !existsSync(path)) throw badInput(`${where}: no space module ${path} (.mjs or .js)`);
    return `${CODE_PREFIX}${path}`;
  }
  const path = resolve(baseDir, spec);
  if (!existsSync(path) || !statSync(path).isFile())
    throw badInput(
      `${where}: no model file ${path}; give a .onnx file or zoo:NAME (${zooModels()
        .map((m) => m.name)
        .join(', ')})`,
    );
  return path;
}

function checkData(spec: string, baseDir: string): string {
  if (spec === 'mnist') return spec;
  const path = resolve(baseDir, spec);
  if (!spec.endsWith('.npz') || !existsSync(path))
    throw badInput(`no dataset '${spec}': give 'mnist' or the path of an .npz file with the model's inputs and 'label'`);
  return path;
}

function positive(v: unknown, where: string, int: boolean, min = 1): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min)
    throw badInput(`${where} must be ${int ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

// ---- The search space ------------------------------------------------------------------------------

/**
 * The training hyperparameters a trial samples, by name. Some are conditional: `momentum` and `nesterov`
 * only for sgd, `beta1`/`beta2` only for adam and adamw, `warmup` only without onecycle (which warms up
 * itself), `label_smoothing` only with cross-entropy. Model options are `model.OPTION` (a zoo option).
 */
export const TRAIN_PARAMS: Record<string, string> = {
  optimizer: 'sgd | adam | adamw',
  lr: 'base learning rate',
  batch_size: 'samples per step',
  momentum: 'sgd momentum',
  nesterov: 'sgd Nesterov momentum (true/false)',
  beta1: 'adam/adamw first-moment decay',
  beta2: 'adam/adamw second-moment decay',
  weight_decay: 'L2 (sgd, adam) or decoupled (adamw) weight decay',
  schedule: "a 'hone train --schedule' value: constant, cosine, onecycle, step:E, …",
  warmup: 'linear warm-up, as a fraction of all steps',
  label_smoothing: 'cross-entropy label smoothing',
  clip_norm: 'clip gradients to this global L2 norm',
};

const f = (low: number, high: number, log = false): Distribution => ({ type: 'float', low, high, log });
const c = (...choices: (string | number | boolean)[]): Distribution => ({ type: 'categorical', choices });

/** Defaults for every model: ranges that hold for small CNNs and MLPs trained for a few epochs. */
const TRAINING_SPACE: Record<string, Distribution> = {
  optimizer: c('adam', 'adamw', 'sgd'),
  lr: f(1e-4, 1e-1, true),
  batch_size: c(32, 64, 128, 256),
  momentum: f(0.8, 0.99),
  beta1: f(0.8, 0.95),
  beta2: f(0.95, 0.9999),
  weight_decay: f(1e-6, 1e-2, true),
  schedule: c('constant', 'cosine', 'onecycle'),
  warmup: f(0, 0.2),
  label_smoothing: f(0, 0.2),
};

/** Size options searched per zoo model (the options a model spec does not fix). */
const MODEL_SPACES: Record<string, Record<string, Distribution>> = {
  lenet5: {
    channels: c('4-12', '6-16', '8-24', '12-32'),
    fc: c('84', '120-84', '256-128'),
    activation: c('relu', 'tanh'),
    pool: c('max', 'avg'),
  },
  mlp: {
    hidden: c('128', '256-128', '512-256', '1024-512'),
    activation: c('relu', 'tanh', 'gelu'),
  },
  resnet: {
    widths: c('8-16-32', '16-32-64', '32-64-128'),
    blocks: c('1-1-1', '2-2-2', '3-3-3'),
  },
  mobilenet: {
    widthMultiplier: c(0.25, 0.5, 0.75, 1),
    expansion: c(2, 4, 6),
  },
  transformer: {
    layers: c(1, 2, 4),
    heads: c(2, 4, 8),
    ffn: c(256, 512, 1024),
  },
};

/** The zoo model a spec names and the options it fixes (lower-cased names), or undefined for a file. */
export function zooParts(model: string): { info: ZooModelInfo; fixed: Set<string> } | undefined {
  if (!model.startsWith('zoo:')) return undefined;
  const [name, opts = ''] = model
    .slice(4)
    .split(/:(.*)/s)
    .map((s) => s.trim());
  const info = zooModels().find((m) => m.name === name!.toLowerCase());
  if (!info) return undefined;
  const fixed = new Set(
    opts
      .split(',')
      .filter((p) => p.includes('='))
      .map((p) => p.slice(0, p.indexOf('=')).trim().toLowerCase()),
  );
  // resnet's depth stands for blocks.
  if (info.name === 'resnet' && fixed.has('depth')) fixed.add('blocks');
  return { info, fixed };
}

/** The default space for a model: the training hyperparameters and the zoo model's size options. */
export function defaultTrainSpace(spec: Pick<TrainObjectiveSpec, 'model' | 'loss'>): Record<string, Distribution> {
  const space: Record<string, Distribution> = { ...TRAINING_SPACE };
  if (spec.loss !== 'cross-entropy') delete space.label_smoothing;
  const zoo = zooParts(spec.model);
  if (zoo) {
    for (const [opt, d] of Object.entries(MODEL_SPACES[zoo.info.name] ?? {}))
      if (!zoo.fixed.has(opt.toLowerCase())) space[`model.${opt}`] = d;
  }
  return space;
}

/**
 * The study's space: the default, with each parameter the config's `space` names replacing the default's
 * of that name (or adding one of TRAIN_PARAMS / a model option). To keep a parameter fixed, give it one
 * choice: `optimizer: { type: categorical, choices: [adam] }`.
 */
export function trainSpace(
  spec: Pick<TrainObjectiveSpec, 'model' | 'loss'>,
  user: Record<string, Distribution>,
  src: string,
): Record<string, Distribution> {
  const zoo = zooParts(spec.model);
  for (const name of Object.keys(user)) {
    if (name in TRAIN_PARAMS) continue;
    if (name.startsWith('model.')) {
      const opt = name.slice('model.'.length);
      // A space module checks its own option names when it is loaded.
      if (spec.model.startsWith(CODE_PREFIX)) continue;
      if (!zoo) throw badInput(`space.${name} in ${src}: model options are for zoo models; ${spec.model} is a file, its size is fixed`);
      const o = zoo.info.options.find((x) => x.name.toLowerCase() === opt.toLowerCase());
      if (!o)
        throw badInput(
          `space.${name} in ${src}: zoo:${zoo.info.name} has no option '${opt}'; its options are ${zoo.info.options.map((x) => x.name).join(', ')}`,
        );
      if (zoo.fixed.has(o.name.toLowerCase()))
        throw badInput(`space.${name} in ${src}: ${spec.model} fixes ${o.name} already; drop it from the model or from the space`);
      if (o.name !== opt) throw badInput(`space.${name} in ${src}: spell the option as in the zoo, model.${o.name}`);
      continue;
    }
    throw badInput(
      `space.${name} in ${src} is not a parameter of the train objective; use ${Object.keys(TRAIN_PARAMS).join(', ')} or model.OPTION (a zoo option)`,
    );
  }
  if (user.label_smoothing && spec.loss !== 'cross-entropy')
    throw badInput(`space.label_smoothing in ${src} is for loss: cross-entropy, not ${spec.loss}`);
  return { ...defaultTrainSpace(spec), ...user };
}
