/**
 * Knowledge distillation (Hinton et al. 2015): a student trained on the teacher's softened outputs and the
 * true labels, α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·CE. The loss is the trainer's
 * `distill` loss; the teacher's logits reach it as the first K columns of each batch's labels, [N, K+1]
 * with the class index last — computed once over the training set and cached (the default while they fit
 * in `maxCacheBytes`), or by ONNX Runtime on the fly before every graph run, from the very tensors the
 * student is fed (a trainer callback).
 */
import * as ort from 'onnxruntime-node';
import { type Dataset, sampleSize } from '../data/dataset.js';
import { badInput } from '../errors.js';
import type { ModelProto } from '../ir/proto.js';
import { inferShapes } from '../ops/infer.js';
import { graphInputs } from '../runtime/inputs.js';
import { coreThreads } from '../runtime/cpu.js';
import { createSession } from '../runtime/session.js';
import type { TrainCallback } from '../train/callbacks.js';
import { featureTensor, type FeatureArray, prepareData } from '../train/prepare.js';
import { argmaxAt, classifierScores } from '../train/evaluate.js';
import { type EpochRecord, train, type TrainOptions } from '../train/trainer.js';
import { withFloatOutputs } from '../ir/builder.js';
import { FEATURE_LOSS, type FeaturePair, featureDims, withFeatureLoss, withoutFeatureLoss } from './features.js';

export interface DistillOptions {
  /** Softening temperature T (default 4). */
  temperature?: number;
  /** Weight of the teacher's term; 1 − α weighs the true labels' cross-entropy (default 0.9). */
  alpha?: number;
  /** Training settings for the student; `loss`, `test` and `callbacks` are distillation's. */
  train: Omit<TrainOptions, 'loss' | 'test' | 'callbacks'>;
  /** 'cache' (teacher run once over the data), 'fly' (before every run), 'auto' (cache when it fits; default). */
  teacherOutputs?: 'cache' | 'fly' | 'auto';
  /** The cache's limit for 'auto' (default 512 MiB). */
  maxCacheBytes?: number;
  /** Labelled test data: teacher, student (and baseline) accuracy. */
  test?: Dataset;
  testSource?: string;
  /** Also train the student alone (cross-entropy, same settings and seed) to show what the teacher adds. */
  baseline?: boolean;
  /** Teacher activations the student learns to match through a learned projection (features.ts); cached teacher outputs only. */
  features?: FeaturePair[];
  /** β, the weight of the feature term (default 0.1). */
  featureWeight?: number;
  onProgress?: (message: string) => void;
}

export interface DistillReport {
  temperature: number;
  alpha: number;
  teacherOutputs: 'cache' | 'fly';
  teacher: { params: number; accuracy?: number };
  student: { params: number; accuracy?: number; samplesPerSec: number; history: EpochRecord[] };
  /** The same student trained without the teacher, when asked. */
  baseline?: { accuracy?: number; history: EpochRecord[] };
  /** Feature matching, when asked. */
  features?: { pairs: FeaturePair[]; weight: number };
  /** Student outputs against the teacher's on the test data. */
  agreement?: { cosine: number; top1: number; samples: number; source: string };
}

export async function distill(
  teacher: ModelProto,
  student: ModelProto,
  data: Dataset,
  opts: DistillOptions,
): Promise<{ model: ModelProto; report: DistillReport }> {
  const temperature = opts.temperature ?? 4;
  const alpha = opts.alpha ?? 0.9;
  if (!(temperature > 0)) throw badInput(`--temperature must be > 0, got ${temperature}`);
  if (!(alpha >= 0 && alpha <= 1)) throw badInput(`--alpha must be in [0, 1], got ${alpha}`);
  const inputs = graphInputs(student).map((i) => i.name);
  const teacherInputs = graphInputs(teacher).map((i) => i.name);
  const missing = inputs.filter((n) => !teacherInputs.includes(n));
  if (missing.length || teacherInputs.length !== inputs.length)
    throw badInput(
      `the teacher's inputs (${teacherInputs.join(', ')}) and the student's (${inputs.join(', ')}) differ; both must read the same data inputs, by name`,
    );
  const k = classes(teacher, 'teacher');
  const ks = classes(student, 'student');
  if (k !== ks) throw badInput(`the teacher has ${k} outputs per sample and the student ${ks}; both must score the same classes`);
  const ds = prepareData(student, inputs, data, { kind: 'cross-entropy' }, 'the training data');
  // The teacher may shape a sample differently (LeNet-5's [1, 28, 28] where an MLP reads [784]): the same values.
  const teacherShape = new Map<string, number[]>();
  for (const i of graphInputs(teacher)) {
    const per = i.shape?.slice(1);
    const f = ds.features[i.name]!;
    if (!per?.every((d): d is number => typeof d === 'number')) teacherShape.set(i.name, f.dims.slice(1));
    else if (per.reduce((a, b) => a * b, 1) !== sampleSize(f))
      throw badInput(
        `the teacher's input '${i.name}' takes samples of [${per.join(', ')}] and the student's [${f.dims.slice(1).join(', ')}]; they must hold the same number of values`,
      );
    else teacherShape.set(i.name, per);
  }
  const teacherFeed = (name: string, t: ort.Tensor) => new ort.Tensor(t.type, t.data, [t.dims[0]!, ...teacherShape.get(name)!]);
  const hard = ds.labels.data as BigInt64Array;
  const pairs = opts.features ?? [];
  const fDims = pairs.length
    ? featureDims(
        teacher,
        pairs.map((p) => p.teacher),
        'teacher',
      )
    : [];
  const fSizes = fDims.map((d) => d.reduce((a, b) => a * b, 1));
  const bytes = ds.size * (k + fSizes.reduce((a, b) => a + b, 0)) * 4;
  const asked = opts.teacherOutputs ?? 'auto';
  const limit = opts.maxCacheBytes ?? 512 * 2 ** 20;
  const mode: 'cache' | 'fly' = asked === 'auto' ? (bytes <= limit ? 'cache' : 'fly') : asked;
  if (pairs.length && mode === 'fly')
    throw badInput(
      `feature matching caches the teacher's activations (${Math.ceil(bytes / 2 ** 20)} MiB for ${ds.size} samples${bytes > limit ? `, over the ${Math.round(limit / 2 ** 20)} MiB limit` : ''}); use fewer samples (--limit) or features, or drop --teacher-outputs fly`,
    );
  const matched = pairs.length ? withFeatureLoss(student, pairs, fDims, opts.featureWeight ?? 0.1, opts.train.seed ?? 0) : undefined;
  const cached = fSizes.map((n) => new Float32Array(ds.size * n));
  const labels = new Float32Array(ds.size * (k + 1));
  for (let i = 0; i < ds.size; i++) labels[i * (k + 1) + k] = Number(hard[i]);
  const exposed = withFloatOutputs(
    teacher,
    pairs.map((p) => p.teacher),
  );
  const session = await createSession(exposed, { intraOpThreads: opts.train.threads || coreThreads() });
  const callbacks: TrainCallback[] = [];
  try {
    if (mode === 'cache') {
      opts.onProgress?.(`teacher outputs on ${ds.size} samples`);
      const chunk = 256;
      for (let start = 0; start < ds.size; start += chunk) {
        const m = Math.min(chunk, ds.size - start);
        const feeds: Record<string, ort.Tensor> = {};
        for (const name of inputs) {
          const f = ds.features[name]!;
          const per = sampleSize(f);
          feeds[name] = teacherFeed(name, featureTensor((f.data as FeatureArray).subarray(start * per, (start + m) * per), [m, per]));
        }
        const out = await session.run(feeds);
        const logits = out[session.outputNames[0]!]!.data as Float32Array;
        for (let i = 0; i < m; i++) labels.set(logits.subarray(i * k, (i + 1) * k), (start + i) * (k + 1));
        pairs.forEach((p, j) => cached[j]!.set(out[p.teacher]!.data as Float32Array, start * fSizes[j]!));
      }
    } else {
      callbacks.push({
        // The teacher sees the exact tensors the student is about to train on, and writes its logits into the labels.
        async onBatchBegin(run) {
          const feeds = Object.fromEntries(inputs.map((n) => [n, teacherFeed(n, run.feeds[n]!)]));
          const logits = await firstOutput(session, feeds);
          const target = run.feeds.label!.data as Float32Array;
          for (let i = 0; i < run.microBatch; i++) target.set(logits.subarray(i * k, (i + 1) * k), i * (k + 1));
        },
      });
    }
    opts.onProgress?.(
      `distilling: ${opts.train.epochs} epoch(s), T=${temperature}, α=${alpha}, teacher outputs ${mode === 'cache' ? 'cached' : 'on the fly'}`,
    );
    const testSet = opts.test ? prepareData(student, inputs, opts.test, { kind: 'cross-entropy' }, 'the test data') : undefined;
    const features = { ...ds.features };
    matched?.inputs.forEach((name, j) => {
      features[name] = { data: cached[j]!, dims: [ds.size, ...fDims[j]!] };
    });
    const result = await train(
      matched?.model ?? student,
      { features, labels: { data: labels, dims: [ds.size, k + 1] }, size: ds.size },
      { ...opts.train, loss: { kind: 'distill', temperature, alpha }, callbacks, ...(matched ? { extraLoss: [FEATURE_LOSS] } : {}) },
    );
    const trained = matched ? withoutFeatureLoss(result.model, matched.inputs) : result.model;
    let baseline: DistillReport['baseline'];
    if (opts.baseline) {
      opts.onProgress?.('training the student alone (the baseline)');
      const alone = await train(student, ds, { ...opts.train, loss: { kind: 'cross-entropy' } });
      baseline = {
        history: alone.history,
        ...(testSet ? { accuracy: (await classifierScores(alone.model, testSet, inputs)).accuracy } : {}),
      };
    }
    const report: DistillReport = {
      temperature,
      alpha,
      teacherOutputs: mode,
      teacher: { params: params(teacher) },
      student: { params: params(trained), samplesPerSec: result.samplesPerSec, history: result.history },
      ...(pairs.length ? { features: { pairs, weight: opts.featureWeight ?? 0.1 } } : {}),
      ...(baseline ? { baseline } : {}),
    };
    if (testSet) {
      const t = await classifierScores(teacher, testSet, inputs, teacherShape);
      const st = await classifierScores(trained, testSet, inputs);
      report.teacher.accuracy = t.accuracy;
      report.student.accuracy = st.accuracy;
      report.agreement = { ...agreement(t.logits, st.logits, k), samples: testSet.size, source: opts.testSource ?? 'the test data' };
    }
    return { model: trained, report };
  } finally {
    await session.release();
  }
}

/** Top-1 agreement and the cosine of the flattened logits, student against teacher. */
function agreement(teacher: Float32Array, student: Float32Array, k: number): { cosine: number; top1: number } {
  let dot = 0;
  let tt = 0;
  let ss = 0;
  for (let i = 0; i < teacher.length; i++) {
    dot += teacher[i]! * student[i]!;
    tt += teacher[i]! ** 2;
    ss += student[i]! ** 2;
  }
  const n = teacher.length / k;
  let same = 0;
  for (let i = 0; i < n; i++) if (argmaxAt(teacher, i * k, k) === argmaxAt(student, i * k, k)) same++;
  return { cosine: dot / Math.sqrt(tt * ss), top1: same / n };
}

async function firstOutput(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const out = await session.run(feeds);
  return out[session.outputNames[0]!]!.data as Float32Array;
}

/** K of a classifier's first output [N, K]. */
function classes(model: ModelProto, what: string): number {
  const inference = inferShapes(model);
  const out = model.graph!.output[0];
  const shape = out ? inference.types.get(out.name!)?.shape : undefined;
  if (shape?.length !== 2 || typeof shape[1] !== 'number')
    throw badInput(
      `the ${what}'s first output must be class scores [batch, K] with K known; it is ${shape ? `[${shape.join(', ')}]` : 'of unknown shape'}`,
    );
  return shape[1];
}

function params(model: ModelProto): number {
  return model.graph!.initializer.reduce(
    (n, t) => n + (t.dataType === 1 && t.dims.length > 0 ? t.dims.reduce((a, b) => a * Number(b), 1) : 0),
    0,
  );
}
