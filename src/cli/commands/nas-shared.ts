/**
 * `hone nas --weight-sharing`: the space's largest architecture is trained once as a supernet
 * (nas/supernet.ts), every architecture the search visits is evaluated with the weights it inherits from
 * it — validation accuracy after BatchNormalization recalibration, latency measured at batch 1 like the
 * separate-training search — and the chosen one is fine-tuned on its own. The evaluations are the trials
 * of an ordinary multi-objective study (NSGA-II), so the front, the report and the dashboard are the
 * same as without weight sharing.
 */
import type { ModelProto } from '../../ir/proto.js';
import { split } from '../../data/dataset.js';
import {
  archSpec,
  buildSupernet,
  classifierAccuracy,
  elasticSpace,
  hasBatchNorm,
  recalibrate,
  trainSupernet,
  type ArchConfig,
  type Choice,
  type ElasticSpace,
} from '../../nas/supernet.js';
import { inferenceLatencyMs, architectureCosts } from '../../nas/latency-model.js';
import { train, type TrainOptions } from '../../train/index.js';
import { createStudy } from '../../tune/study.js';
import { studyReport, type StudyReport } from '../../tune/report.js';
import { openStorage, storageWhere } from '../../tune/storage/open.js';
import type { Distribution, ParamValue } from '../../tune/types.js';
import { zooModel, zooSpec } from '../../zoo/index.js';
import { badInput } from '../../errors.js';
import { progressLines, type Io } from '../command.js';
import type { SamplerName } from '../tune/config.js';
import { makeSampler } from '../tune/factory.js';
import { interruptReason } from '../tune/interrupt.js';
import { countParams } from '../tune/train-objective.js';
import { COST_ATTR, TRAIN_DEFAULTS, type CostMetric } from '../tune/train-spec.js';
import { parseOptimizer, parseSchedule, resolveData } from './train-args.js';

export interface SharedSearchOptions {
  model: string;
  space: Record<string, Distribution>;
  /** The reference architecture's `model.*` values, evaluated first. */
  reference?: Record<string, ParamValue>;
  data: string;
  limit: number;
  /** Architectures to evaluate; default every one when the space has at most 100, else 100. */
  trials?: number;
  timeoutS?: number;
  supernetEpochs: number;
  finetuneEpochs: number;
  recipe: { lr: number; batchSize: number; weightDecay: number; schedule: string };
  storage?: string;
  /** Where latency is measured (default cpu). */
  provider?: string;
  /** The second objective (default latency); MACs and parameters are counted, not timed. */
  cost?: CostMetric;
  /** The tuner's sampler (default NSGA-II with its own options). */
  sampler?: { name: SamplerName; seed: number; options: Record<string, unknown> };
  study: string;
  seed: number;
  io: Io;
  quiet?: boolean;
  signal: AbortSignal;
}

/** What weight sharing did, for report.json and the summary. */
export interface WeightSharingInfo {
  /** The options searched with shared weights, and those kept at one value (their choices share no weights). */
  searched: Record<string, Choice[]>;
  fixed: Record<string, Choice>;
  architectures: number;
  supernet: { model: string; epochs: number; steps: number; seconds: number; sampled: Record<string, number> };
  evaluation: { architectures: number; seconds: number; recalibrated: boolean };
  /** The chosen architecture trained on alone from its inherited weights (absent with --finetune-epochs 0 or none chosen). */
  finetune?: { epochs: number; seconds: number; accuracyBefore: number; accuracyAfter: number };
  /** Training, evaluation and fine-tuning together. */
  seconds: number;
}

export interface SharedSearch {
  report: StudyReport;
  where: string;
  /** The base spec with the fixed options: architectures are it plus their searched options. */
  base: string;
  /** The reference's searched options (the fixed ones are the base's). */
  reference?: Record<string, ParamValue>;
  info: WeightSharingInfo;
  /** The model to write for a chosen architecture: fine-tuned, or extracted when not fine-tuned. */
  modelFor(options: Record<string, unknown>): Promise<ModelProto>;
  interrupted?: string;
}

const ALL_WHEN_AT_MOST = 100;

export async function weightSharingSearch(o: SharedSearchOptions): Promise<SharedSearch> {
  const t0 = performance.now();
  const progress = progressLines(o.io, o.quiet);
  const choices: Record<string, Choice[]> = {};
  for (const [k, d] of Object.entries(o.space)) {
    if (d.type !== 'categorical')
      throw badInput(
        `--weight-sharing searches listed choices; ${k} is a ${d.type} range: give it as { type: categorical, choices: [...] }`,
      );
    choices[k] = d.choices.filter((c): c is Choice => c !== null);
  }
  const ref = o.reference ? Object.fromEntries(Object.entries(o.reference).map(([k, v]) => [k.replace(/^model\./, ''), v as Choice])) : {};
  const es = elasticSpace(o.model, choices, ref);
  const fixedNote = Object.entries(es.fixed).map(([k, v]) => `${k}=${v}`);
  if (fixedNote.length)
    o.io.stderr(
      `hone: note: weight sharing keeps ${fixedNote.join(', ')} (their choices share no weights); search them without --weight-sharing\n`,
    );
  const net = await buildSupernet(es, { seed: o.seed });
  const base = zooSpec(o.model, Object.entries(es.fixed));
  const all = enumerate(es);

  const data = (await resolveData(o.data, zooModel(archSpec(es, es.largest)), o.limit, 'nas')).train;
  const [trainSet, valSet] = split(data, TRAIN_DEFAULTS.validation, TRAIN_DEFAULTS.seed + 7919);
  const recipe = (epochs: number): TrainOptions => {
    const steps = Math.floor(trainSet.size / o.recipe.batchSize);
    if (steps < 1)
      throw badInput(`the data has ${trainSet.size} training samples, fewer than a batch of ${o.recipe.batchSize}; raise --limit`);
    return {
      epochs,
      batchSize: o.recipe.batchSize,
      lr: o.recipe.lr,
      optimizer: parseOptimizer({ optimizer: 'adam', 'weight-decay': String(o.recipe.weightDecay) }),
      schedule: parseSchedule(o.recipe.schedule, steps, epochs),
      seed: TRAIN_DEFAULTS.seed,
      onStep: () => (o.signal.aborted ? false : undefined),
    };
  };

  progress?.(
    `training the supernet (${archSpec(es, es.largest)}) for ${o.supernetEpochs} epoch(s): of every 4 steps, the largest, the smallest and 2 random architectures of ${all.length}`,
  );
  const st = await trainSupernet(net, trainSet, {
    ...recipe(o.supernetEpochs),
    onEpoch: (r) =>
      progress?.(`supernet epoch ${r.epoch + 1}/${o.supernetEpochs}: loss ${r.trainLoss.toFixed(4)} (${r.seconds.toFixed(1)} s)`),
  });
  const info: WeightSharingInfo = {
    searched: es.options,
    fixed: es.fixed,
    architectures: all.length,
    supernet: { model: archSpec(es, es.largest), epochs: o.supernetEpochs, steps: st.steps, seconds: st.seconds, sampled: st.sampled },
    evaluation: { architectures: 0, seconds: 0, recalibrated: hasBatchNorm(net.model) },
    seconds: 0,
  };

  const storageUrl = o.storage ?? 'memory';
  const storage = await openStorage(storageUrl);
  const where = storageWhere(storageUrl);
  const models = new Map<string, ModelProto>();
  const extracted = async (config: ArchConfig) => {
    const spec = archSpec(es, config);
    let m = models.get(spec);
    if (!m) {
      m = net.extract(config, st.weights);
      if (info.evaluation.recalibrated) m = await recalibrate(m, trainSet, { seed: TRAIN_DEFAULTS.seed });
      models.set(spec, m);
    }
    return m;
  };
  try {
    const study = await createStudy({
      name: o.study,
      directions: ['maximize', 'minimize'],
      sampler: makeSampler(o.sampler ?? { name: 'nsga2', seed: o.seed, options: {} }, o.space),
      storage,
    });
    const trials = o.trials ?? Math.min(all.length, ALL_WHEN_AT_MOST);
    const refConfig = Object.keys(ref).length ? pickSearched(es, ref) : undefined;
    if (refConfig) await study.enqueueTrial(withPrefix(refConfig), { userAttrs: { reference: true } });
    if (all.length <= trials)
      for (const c of all) if (!refConfig || archSpec(es, c) !== archSpec(es, refConfig)) await study.enqueueTrial(withPrefix(c));
    const te = performance.now();
    let done = 0;
    const evaluated = new Map<string, [number, number]>();
    if (!o.signal.aborted)
      await study.optimize(
        async (trial) => {
          const config: ArchConfig = {};
          for (const [k, cs] of Object.entries(es.options)) config[k] = trial.suggestCategorical(`model.${k}`, cs) as Choice;
          const spec = archSpec(es, config);
          const m = await extracted(config);
          let values = evaluated.get(spec);
          const cost = o.cost ?? 'latency';
          if (!values) {
            const c =
              cost === 'latency'
                ? await inferenceLatencyMs(m, 0, o.provider)
                : cost === 'macs'
                  ? architectureCosts(spec)?.macs
                  : architectureCosts(spec)?.parameters;
            if (c === undefined) throw new Error(`cannot count the ${cost} of ${spec}`);
            values = [await classifierAccuracy(m, valSet), c];
            evaluated.set(spec, values);
          }
          trial.setUserAttr('model', spec);
          if (cost === 'latency') trial.setUserAttr(COST_ATTR.latency, values[1]);
          trial.setUserAttr(COST_ATTR.params, countParams(m));
          trial.setUserAttr('weights', 'inherited from the supernet');
          done++;
          progress?.(
            `architecture ${done}/${trials}: accuracy ${(100 * values[0]).toFixed(2)}% (inherited weights), ${cost === 'latency' ? `${values[1].toPrecision(3)} ms` : `${values[1]} ${cost === 'macs' ? 'MACs' : 'parameters'}`}  ${spec}`,
          );
          return values;
        },
        {
          nTrials: trials,
          ...(o.timeoutS !== undefined ? { timeoutS: Math.max(0, o.timeoutS - st.seconds) } : {}),
          callbacks: [(s) => (o.signal.aborted ? s.stop() : undefined)],
        },
      );
    info.evaluation = { ...info.evaluation, architectures: evaluated.size, seconds: (performance.now() - te) / 1000 };
    const summary = await storage.getStudy(study.id);
    const report = studyReport(summary, await storage.getAllTrials(study.id));
    const finetuned = new Map<string, ModelProto>();
    return {
      report,
      where,
      base,
      ...(refConfig ? { reference: withPrefix(refConfig) } : {}),
      info,
      ...(o.signal.aborted ? { interrupted: interruptReason(o.signal) } : {}),
      async modelFor(options) {
        const config = pickSearched(es, options as ArchConfig);
        const spec = archSpec(es, config);
        const start = await extracted(config);
        if (o.finetuneEpochs === 0 || o.signal.aborted) return start;
        let m = finetuned.get(spec);
        if (!m) {
          progress?.(`fine-tuning ${spec} from its inherited weights for ${o.finetuneEpochs} epoch(s)`);
          const tf = performance.now();
          const r = await train(start, trainSet, { ...recipe(o.finetuneEpochs), test: valSet });
          const last = r.history[r.history.length - 1]!;
          info.finetune = {
            epochs: o.finetuneEpochs,
            seconds: (performance.now() - tf) / 1000,
            accuracyBefore: evaluated.get(spec)?.[0] ?? (await classifierAccuracy(start, valSet)),
            accuracyAfter: last.testAccuracy ?? Number.NaN,
          };
          m = r.model;
          finetuned.set(spec, m);
        }
        info.seconds = (performance.now() - t0) / 1000;
        return m;
      },
    };
  } finally {
    info.seconds = (performance.now() - t0) / 1000;
    await storage.close();
  }
}

/** Every architecture of the space, in the order of its options' choices. */
export function enumerate(es: ElasticSpace): ArchConfig[] {
  let out: ArchConfig[] = [{}];
  for (const [k, cs] of Object.entries(es.options)) out = out.flatMap((c) => cs.map((v) => ({ ...c, [k]: v })));
  return out;
}

function pickSearched(es: ElasticSpace, options: ArchConfig): ArchConfig {
  return Object.fromEntries(Object.keys(es.options).map((k) => [k, options[k]!]));
}

function withPrefix(config: ArchConfig): Record<string, ParamValue> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [`model.${k}`, v]));
}
