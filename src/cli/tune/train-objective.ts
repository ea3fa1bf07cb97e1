import { mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname } from 'node:path';
import { badInput, errorMessage } from '../../errors.js';
import type { Dataset } from '../../data/index.js';
import { firstSamples } from '../../data/index.js';
import { modelWeights } from '../../ops/weights.js';
import { saveModel } from '../../ir/model.js';
import { resolveInputs } from '../../runtime/inputs.js';
import { inferenceLatencyMs, inferenceMacs, latencyVerdict, architectureFeatures } from '../../nas/latency-model.js';
import { naswotScore } from '../../nas/proxy.js';
import { architectureName, CODE_PREFIX, loadCodeSpace } from '../../nas/code-space.js';
import type { ModelProto } from '../../ir/proto.js';
import { train, type EpochRecord, type OptimizerSpec } from '../../train/index.js';
import type { Objective } from '../../tune/study.js';
import { TrialPruned, type Trial } from '../../tune/trial.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
import { parseLoss, parseOptimizer, parseSchedule, resolveData, resolveModel } from '../commands/train-args.js';
import { Interrupted, interruptReason } from './interrupt.js';
import { COST_ATTR, costMetric, trialModelPath, type CostMetric, type TrainMetric, type TrainObjectiveSpec } from './train-spec.js';

/**
 * The `train` objective: each trial builds the model with the options it samples, trains it in this
 * process with Hone's trainer on the configured data, and returns the metric(s) measured on the
 * validation split after the last epoch. With one metric (accuracy or loss) each epoch's value goes to
 * `trial.report(value, epoch)`, and when the pruner says so the trainer stops after that epoch (its
 * onEpoch returns false) and the trial ends pruned. A complete trial's trained model is written to
 * `trialModelPath` (atomically) and its path and host kept in the trial's system attrs.
 *
 * Everything that goes wrong inside a trial (a batch larger than the data, a diverged loss, model
 * options the zoo refuses) fails that trial with the reason and the study goes on: the setup itself was
 * checked before the first trial by `checkTrainObjective`.
 */
export function trainObjective(
  spec: TrainObjectiveSpec,
  space: Record<string, Distribution>,
  study: string,
  opts: { workers: number; signal?: AbortSignal },
): Objective {
  const threads = spec.threads ?? (opts.workers > 1 ? Math.max(1, Math.floor(availableParallelism() / opts.workers)) : 0);
  const reported =
    spec.metrics.length === 1 && (spec.metrics[0] === 'accuracy' || spec.metrics[0] === 'loss') ? spec.metrics[0] : undefined;
  if (spec.modelsTemporary) removeOnExit(spec.models);
  return async (trial: Trial) => {
    const s = sampleSettings(trial, space, spec);
    // The parameters reach the storage before training starts: a retry after a crash trains the same.
    await trial.flush();
    const { signal } = opts;
    if (signal?.aborted) throw new Interrupted(`not started: ${interruptReason(signal)}`);
    // The epoch after which the pruner stopped the trial.
    const prunedAt: { epoch?: EpochRecord } = {};
    try {
      const arch = architectureName(spec.model, s.modelOptions);
      if (spec.latencyBudget !== undefined) skipIfPredictedSlow(trial, arch, spec.latencyBudget);
      const model = await buildArchitecture(spec.model, arch, s.modelOptions);
      // Counted before training (they do not depend on the weights): for the metrics, the limits, dominance.
      const paramCount = countParams(model);
      const macs = inferenceMacs(model);
      trial.setUserAttr(COST_ATTR.params, paramCount);
      if (macs !== undefined) trial.setUserAttr(COST_ATTR.macs, macs);
      if (spec.metrics.includes('macs') && macs === undefined)
        throw new Error(`cannot count the MACs of ${arch}: its shapes cannot be inferred at batch 1, or an op has no cost rule`);
      if (spec.maxParams !== undefined && paramCount > spec.maxParams)
        skip(trial, arch, `not trained: ${paramCount} parameters, over max_params ${spec.maxParams}`);
      if (spec.maxMacs !== undefined && macs !== undefined && macs > spec.maxMacs)
        skip(trial, arch, `not trained: ${macs} MACs per inference, over max_macs ${spec.maxMacs}`);
      const data = await trainingData(spec, model);
      const nTrain = data.size - Math.round(data.size * spec.validation);
      if (s.batchSize > nTrain)
        throw new Error(
          `batch_size ${s.batchSize} is larger than the ${nTrain} training samples (after holding out ${Math.round(100 * spec.validation)}% for validation); lower batch_size in the space or give more data`,
        );
      const stepsPerEpoch = Math.floor(nTrain / s.batchSize);
      if (spec.proxyKeep !== undefined) await skipIfProxyLow(trial, arch, model, data, spec.proxyKeep);
      // Latency does not depend on the weights: measured first, so dominance can be judged part-way.
      const latency = spec.metrics.includes('latency') ? await inferenceLatencyMs(model, threads, spec.provider) : undefined;
      if (latency !== undefined) trial.setUserAttr(COST_ATTR.latency, latency);
      const costs: Record<CostMetric, number | undefined> = { latency, macs, params: paramCount };
      const cost = costMetric(spec.metrics);
      const dominated: { why?: string } = {};
      const result = await train(model, data, {
        epochs: spec.epochs,
        batchSize: s.batchSize,
        optimizer: s.optimizer,
        lr: s.lr,
        schedule: parseSchedule(s.schedule, stepsPerEpoch, spec.epochs),
        warmupSteps: Math.round(s.warmup * stepsPerEpoch * spec.epochs),
        loss: parseLoss({ loss: spec.loss, 'label-smoothing': s.labelSmoothing === undefined ? undefined : String(s.labelSmoothing) }),
        clipNorm: s.clipNorm,
        validationSplit: spec.validation,
        seed: spec.seed,
        threads,
        onStep: () => (signal?.aborted ? false : undefined),
        onEpoch: (rec) => {
          if (signal?.aborted) return undefined;
          if (spec.pruneDominated && cost && costs[cost] !== undefined && rec.epoch < spec.epochs - 1) {
            dominated.why = dominatedBy(trial, rec, cost, costs[cost], data.size - nTrain);
            if (dominated.why) return false;
          }
          if (!reported) return undefined;
          trial.report(metricOf(rec, reported), rec.epoch);
          if (!trial.shouldPrune()) return undefined;
          prunedAt.epoch = rec;
          return false;
        },
      });
      if (signal?.aborted) throw new Interrupted(`stopped: ${interruptReason(signal)}`);
      trial.setUserAttr('model', arch);
      trial.setUserAttr(
        'epochs',
        result.history.map((r) => ({
          epoch: r.epoch,
          trainLoss: r.trainLoss,
          valLoss: r.valLoss,
          valAccuracy: r.valAccuracy,
          seconds: r.seconds,
        })),
      );
      if (dominated.why) {
        trial.setUserAttr('pruned', dominated.why);
        throw new TrialPruned(dominated.why);
      }
      const p = prunedAt.epoch;
      if (p && reported)
        throw new TrialPruned(
          `pruned after epoch ${p.epoch} of ${spec.epochs}: validation ${reported} ${metricOf(p, reported).toPrecision(4)}`,
        );
      const last = result.history[result.history.length - 1]!;
      const seconds = trainingSeconds(result.history);
      // Timed again after training, seconds after the first time: on a shared machine a slow spell (other
      // work, the host) lasts a few seconds and lifts every run of a session alike, so the lesser of two
      // timings apart reads the architecture, not the moment (docs/design.md).
      if (latency !== undefined) {
        costs.latency = Math.min(latency, await inferenceLatencyMs(model, threads, spec.provider));
        trial.setUserAttr(COST_ATTR.latency, costs.latency);
      }
      const values = spec.metrics.map((m) => (m === 'time' ? seconds : m === 'accuracy' || m === 'loss' ? metricOf(last, m) : costs[m]!));
      trial.setUserAttr('train_seconds', seconds);
      const path = trialModelPath(spec, study, trial.number);
      mkdirSync(dirname(path), { recursive: true });
      saveModel(result.model, path);
      trial.setSystemAttr('model_path', path);
      trial.setSystemAttr('model_host', hostname());
      return values.length === 1 ? values[0]! : values;
    } catch (e) {
      if (e instanceof TrialPruned || e instanceof Interrupted) throw e;
      // A HoneError would stop the whole study (the worker takes it for a setup error): this trial's
      // settings are at fault, so it fails alone, with the reason.
      throw new Error(errorMessage(e));
    }
  };
}

/** Proxy scores needed before the filter judges: the first architectures are all trained. */
const PROXY_WARMUP = 6;

/**
 * The zero-cost proxy filter: scores the untrained network (NASWOT) into the trial's user attribute
 * `proxy_score`, and prunes it untrained when the score is below the (1 − keep) quantile of the scores of
 * the study's earlier trials (trained or not), once there are PROXY_WARMUP of them.
 */
async function skipIfProxyLow(trial: Trial, arch: string, model: ModelProto, data: Dataset, keep: number): Promise<void> {
  const score = await naswotScore(model, data);
  trial.setUserAttr('proxy_score', score);
  const seen = trial.studyTrials.flatMap((t) => (typeof t.userAttrs.proxy_score === 'number' ? [t.userAttrs.proxy_score] : []));
  if (seen.length < PROXY_WARMUP) return;
  const sorted = [...seen].sort((a, b) => a - b);
  const cut = sorted[Math.min(sorted.length - 1, Math.floor((1 - keep) * sorted.length))]!;
  if (score >= cut) return;
  skip(
    trial,
    arch,
    `not trained: zero-cost proxy (NASWOT) score ${score.toFixed(1)} is below ${cut.toFixed(1)}, the ${Math.round(100 * (1 - keep))}th percentile of the ${seen.length} architectures scored before it`,
  );
}

/** Prunes the trial untrained: its architecture and why go into its user attributes `model` and `skipped`. */
function skip(trial: Trial, arch: string, why: string): never {
  trial.setUserAttr('model', arch);
  trial.setUserAttr('skipped', why);
  throw new TrialPruned(why);
}

/** Complete trials that dominate this one at `rec`'s epoch and make it not worth finishing. */
const DOMINATORS = 2;

/** How a dominance reason names each cost. */
const COST_WORDS: Record<CostMetric, { text: (v: number) => string; cheaper: string }> = {
  latency: { text: (v) => `${v.toPrecision(3)} ms`, cheaper: 'no slower' },
  macs: { text: (v) => `${v} MACs`, cheaper: 'no more MACs' },
  params: { text: (v) => `${v} parameters`, cheaper: 'no more parameters' },
};

/**
 * Why the trial is dominated after `rec`'s epoch, or undefined: `DOMINATORS` complete trials that were no
 * costlier (`cost`, measured or counted before training) and more accurate on validation after the same
 * number of epochs — by more than the validation set's standard error, sqrt(p(1 − p)/n) for `nVal` held-out
 * samples (0.49 points at 96% of 1,600): a lead smaller than that is the split's noise, not the network's.
 */
export function dominatedBy(
  trial: Pick<Trial, 'studyTrials'>,
  rec: Pick<EpochRecord, 'epoch' | 'valAccuracy'>,
  cost: CostMetric,
  value: number,
  nVal: number,
): string | undefined {
  const acc = rec.valAccuracy;
  if (acc === undefined) return undefined;
  const margin = Math.sqrt((acc * (1 - acc)) / Math.max(1, nVal));
  const attr = COST_ATTR[cost];
  const { text, cheaper } = COST_WORDS[cost];
  const better = trial.studyTrials.filter((t) => {
    const theirs = t.userAttrs[attr];
    const epochs = t.userAttrs.epochs as { epoch: number; valAccuracy?: number }[] | undefined;
    const then = epochs?.find((e) => e.epoch === rec.epoch)?.valAccuracy;
    return t.state === 'complete' && typeof theirs === 'number' && theirs <= value && then !== undefined && then > acc + margin;
  });
  if (better.length < DOMINATORS) return undefined;
  const shown = better.slice(0, DOMINATORS).map((t) => `trial ${t.number}`);
  return `pruned after epoch ${rec.epoch + 1}: validation accuracy ${acc.toFixed(4)} at ${text(value)}, and ${better.length} complete architectures (${shown.join(', ')}${better.length > DOMINATORS ? ', …' : ''}) were ${cheaper} and more accurate by more than the validation's standard error (${(100 * margin).toFixed(2)} points) after as many epochs`;
}

/**
 * Prunes, untrained, an architecture the latency model (fitted to the study's measured ones) predicts over
 * the budget by more than twice its own error; the reason goes into the trial's user attribute `skipped`.
 */
function skipIfPredictedSlow(trial: Trial, arch: string, budgetMs: number): void {
  const features = architectureFeatures(arch);
  if (!features) return;
  const measured = trial.studyTrials.flatMap((t) => {
    const model = t.userAttrs.model;
    const ms = t.userAttrs[COST_ATTR.latency];
    if (t.state !== 'complete' || typeof model !== 'string' || typeof ms !== 'number') return [];
    const f = architectureFeatures(model);
    return f ? [{ features: f, ms }] : [];
  });
  const v = latencyVerdict(measured, features, budgetMs);
  if (!v?.over) return;
  trial.setUserAttr('predicted_latency_ms', v.predictedMs);
  skip(
    trial,
    arch,
    `not trained: predicted ${v.predictedMs.toPrecision(3)} ms at batch 1, over the ${budgetMs} ms budget (latency model fitted on ${v.fittedOn} measured architectures, leave-one-out error ${v.errorPercent.toFixed(1)}%)`,
  );
}

/**
 * Checks before the first trial that the model trains on the data at all and that the metrics can be
 * measured: one step on a few samples of the model as configured (zoo defaults for unsearched options).
 */
export async function checkTrainObjective(spec: TrainObjectiveSpec): Promise<string[]> {
  const model = spec.model.startsWith(CODE_PREFIX) ? await buildFirstCodeArchitecture(spec.model) : resolveModel(spec.model, 'tune');
  const data = await trainingData(spec, model);
  const what = `${spec.model} on ${spec.data === 'mnist' ? 'mnist' : spec.data}`;
  const n = Math.min(data.size, 16);
  if (data.size * (1 - spec.validation) < 1 || Math.round(data.size * spec.validation) < 1)
    throw badInput(`${what}: ${data.size} samples are too few for a validation split of ${spec.validation}; give more data (limit)`);
  let rec: EpochRecord | undefined;
  try {
    const r = await train(model, firstSamples(data, n), {
      epochs: 1,
      batchSize: Math.max(1, Math.floor(n / 2)),
      maxStepsPerEpoch: 1,
      validationSplit: 0.5,
      loss: parseLoss({ loss: spec.loss }),
      threads: 1,
    });
    rec = r.history[0];
  } catch (e) {
    throw badInput(`the train objective cannot train ${what}: ${errorMessage(e)}`, e);
  }
  if (spec.metrics.includes('accuracy') && rec?.valAccuracy === undefined)
    throw badInput(`metric accuracy needs a classifier (logits [batch, classes] and integer labels); ${what} has none: use metric: loss`);
  if (spec.metrics.includes('macs') && inferenceMacs(model) === undefined)
    throw badInput(
      `metric macs cannot be counted for ${what}: its shapes cannot be inferred at batch 1 or an op has no cost rule ('hone profile' shows which); use latency or params`,
    );
  if (spec.metrics.includes('latency')) {
    try {
      resolveInputs(model, { dims: new Map([['batch', 1]]) });
    } catch (e) {
      throw badInput(`metric latency times ${what} at batch 1 and cannot feed it: ${errorMessage(e)}`, e);
    }
  }
  // The data loaded is the first `limit` samples: fewer means the data has fewer, all of which are used.
  return spec.limit !== undefined && data.size < spec.limit
    ? [`limit ${spec.limit} is more than the ${data.size} samples of ${spec.data}; every trial trains on all ${data.size}`]
    : [];
}

/** The architecture's model: built by the space module's model() (imported once per process), or the zoo's. */
async function buildArchitecture(model: string, arch: string, options: [string, ParamValue][]): Promise<ModelProto> {
  if (!model.startsWith(CODE_PREFIX)) return resolveModel(arch, 'tune');
  const space = await loadCodeSpace(model.slice(CODE_PREFIX.length));
  return space.build(Object.fromEntries(options));
}

/** The check before the first trial builds a space module's first architecture: each option's first choice, or its low end. */
async function buildFirstCodeArchitecture(model: string): Promise<ModelProto> {
  const space = await loadCodeSpace(model.slice(CODE_PREFIX.length));
  const options = Object.fromEntries(
    Object.entries(space.space).map(([k, d]) => [k, d.type === 'categorical' ? d.choices[0]! : d.low] as [string, ParamValue]),
  );
  try {
    return space.build(options);
  } catch (e) {
    throw badInput(errorMessage(e), e);
  }
}

/** What one trial trains with: the sampled values, or Hone's training defaults for what the space leaves out. */
interface Settings {
  optimizer: OptimizerSpec;
  lr: number;
  batchSize: number;
  schedule: string;
  warmup: number;
  labelSmoothing?: number;
  clipNorm?: number;
  modelOptions: [string, ParamValue][];
}

/**
 * Samples the trial's parameters in a fixed order, each only where it means something (define-by-run:
 * momentum only for sgd, the betas only for adam/adamw, warm-up not with onecycle).
 */
function sampleSettings(trial: Trial, space: Record<string, Distribution>, spec: TrainObjectiveSpec): Settings {
  const pick = (name: string): ParamValue | undefined => (space[name] ? trial.suggest(name, space[name]) : undefined);
  const num = (name: string, fallback?: number): number | undefined => {
    const v = pick(name);
    if (v === undefined) return fallback;
    if (typeof v !== 'number') throw new Error(`${name} must be a number, got ${JSON.stringify(v)}; fix space.${name}`);
    return v;
  };
  const kind = String(pick('optimizer') ?? 'adam');
  const lr = num('lr', 1e-3)!;
  const batchSize = num('batch_size', 64)!;
  const sgd = kind === 'sgd';
  const momentum = sgd ? num('momentum') : undefined;
  const nesterov = sgd ? pick('nesterov') : undefined;
  const beta1 = sgd ? undefined : num('beta1');
  const beta2 = sgd ? undefined : num('beta2');
  const weightDecay = num('weight_decay');
  const base = parseOptimizer({
    optimizer: kind,
    momentum: momentum === undefined ? undefined : String(momentum),
    nesterov: nesterov === true || nesterov === 'true',
    'weight-decay': weightDecay === undefined ? undefined : String(weightDecay),
  });
  const optimizer: OptimizerSpec =
    base.kind === 'sgd' ? base : { ...base, ...(beta1 !== undefined ? { beta1 } : {}), ...(beta2 !== undefined ? { beta2 } : {}) };
  const schedule = String(pick('schedule') ?? 'constant');
  const warmup = schedule.startsWith('onecycle') ? 0 : (num('warmup', 0) as number);
  if (warmup < 0 || warmup >= 1) throw new Error(`warmup is a fraction of all steps, in [0, 1); got ${warmup}`);
  const labelSmoothing = spec.loss === 'cross-entropy' ? num('label_smoothing') : undefined;
  const clipNorm = num('clip_norm');
  const modelOptions = Object.keys(space)
    .filter((k) => k.startsWith('model.'))
    .map((k): [string, ParamValue] => [k.slice('model.'.length), pick(k)!]);
  return { optimizer, lr, batchSize, schedule, warmup, labelSmoothing, clipNorm, modelOptions };
}

/**
 * The `time` metric: the seconds the trainer's step loop took, summed over the epochs (each epoch's own
 * `seconds`, as the trial's `epochs` attribute lists them): forward, backward and update of every step with
 * its batch assembly. Not the setup (building the model, its training graph and ORT session), nor the
 * validation after each epoch or the model's export, so that trials compare what their settings cost to
 * train rather than how long a graph took to build.
 */
function trainingSeconds(history: readonly EpochRecord[]): number {
  return history.reduce((sum, r) => sum + r.seconds, 0);
}

function metricOf(rec: EpochRecord, metric: TrainMetric): number {
  const v = metric === 'accuracy' ? rec.valAccuracy : rec.valLoss;
  if (v === undefined) throw new Error(`epoch ${rec.epoch} measured no validation ${metric}`);
  return v;
}

/** The model's size in parameters: its weights' elements (src/ops/weights.ts; Constant nodes count too). */
export function countParams(model: ModelProto): number {
  return modelWeights(model).params;
}

/** The data, loaded once per process and model inputs (trials of one study share it). */
const dataCache = new Map<string, Dataset>();

async function trainingData(spec: TrainObjectiveSpec, model: ModelProto): Promise<Dataset> {
  const inputs = model.graph!.input.map((i) => i.name).join(',');
  const key = `${spec.data}|${spec.limit ?? ''}|${inputs}`;
  let d = dataCache.get(key);
  if (!d) {
    d = (await resolveData(spec.data, model, spec.limit, 'tune')).train;
    dataCache.set(key, d);
  }
  return d;
}

const toRemove = new Set<string>();

/** A memory study's models live as long as the process (the study with them). */
function removeOnExit(dir: string): void {
  if (toRemove.size === 0) process.once('exit', () => toRemove.forEach((d) => rmSync(d, { recursive: true, force: true })));
  toRemove.add(dir);
}
