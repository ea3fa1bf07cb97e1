/**
 * Runs Hone's commands (as library calls) on one corpus model, the way a user would: profile (static and
 * measured), every quantize mode, and one training step. Shared by test/corpus/corpus.test.ts, which
 * asserts on the results, and bench/models.ts, which writes docs/models.md from them.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HoneError } from '../../src/errors.js';
import { loadModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { encodeModel } from '../../src/ir/codec.js';
import { profileModel } from '../../src/profile/profile.js';
import type { ProfileReport } from '../../src/profile/types.js';
import { quantizeModel, type QuantizeSummary } from '../../src/quantize/pipeline.js';
import type { QuantMode } from '../../src/quantize/common.js';
import { valueTensor, type InputValue } from '../../src/runtime/values.js';
import { graphInputs, shapeSymbols } from '../../src/runtime/inputs.js';
import { train } from '../../src/train/trainer.js';
import type { Dataset } from '../../src/data/dataset.js';
import { mulberry32 } from '../../src/util/random.js';
import type { CorpusModel } from './corpus.js';
import { realData } from './corpus-inputs.js';
import { writeNpy } from './npz.js';

/** ORT's own warnings (unused initializers, initializers listed as inputs) are not the test's output. */
const QUIET: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };

export const QUANT_MODES: readonly QuantMode[] = ['dynamic', 'static', 'fp16', 'int4'];

/** How a model is fed: shapes and fixed values from the manifest, and real data where the corpus has it. */
export interface ModelFeed {
  shapes: Record<string, number[]>;
  values: Record<string, InputValue>;
  /** Samples by input name (samples first), for calibration (first half) and evaluation (second half). */
  arrays: Record<string, { data: Float32Array | BigInt64Array | Uint8Array; dims: number[] }>;
  /** 'real: …' or 'random: …'. */
  what: string;
  real: boolean;
}

export function inputValue(name: string, v: number): InputValue {
  return { dims: [], data: Float64Array.of(v), text: `${name}=${v}` };
}

/** The model's feed: real data (test/corpus/inputs) where there is some, else seeded random samples. */
export async function modelFeed(m: CorpusModel, samples = 8): Promise<ModelFeed> {
  const real = await realData(m.id);
  const values: Record<string, InputValue> = {};
  for (const [k, v] of Object.entries({ ...m.entry.testValues, ...real?.values })) values[k] = inputValue(k, v);
  const shapes = Object.fromEntries(Object.entries(m.entry.testShapes).filter(([, s]) => s.length > 0));
  if (real) return { shapes, values, arrays: real.arrays, what: `real: ${real.what}`, real: true };
  const rand = mulberry32(7);
  const model = loadModel(m.path);
  const arrays: ModelFeed['arrays'] = {};
  for (const input of graphInputs(model)) {
    if (input.name in values) continue;
    const per = m.entry.testShapes[input.name]!.slice(1);
    const n = samples * per.reduce((a, b) => a * b, 1);
    const dims = [samples, ...per];
    if (input.elemType === 7)
      arrays[input.name] = { data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 100))), dims };
    else if (input.elemType === 9) arrays[input.name] = { data: Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)), dims };
    else arrays[input.name] = { data: Float32Array.from({ length: n }, () => rand() * 2 - 1), dims };
  }
  return { shapes, values, arrays, what: `random: ${samples} seeded samples`, real: false };
}

/** Writes the feed's samples as folders of .npy named after the inputs: calibration (first half), evaluation (the rest). */
export function writeFeed(feed: ModelFeed, dir: string): { calib: string; eval: string; samples: number } {
  const n = Math.min(...Object.values(feed.arrays).map((a) => a.dims[0]!));
  const half = Math.max(1, Math.floor(n / 2));
  const calib = join(dir, 'calib');
  const evalDir = join(dir, 'eval');
  mkdirSync(calib, { recursive: true });
  mkdirSync(evalDir, { recursive: true });
  for (const [name, a] of Object.entries(feed.arrays)) {
    const per = a.data.length / a.dims[0]!;
    const part = (from: number, to: number) => ({
      data: a.data.slice(from * per, to * per) as Float32Array,
      dims: [to - from, ...a.dims.slice(1)],
    });
    writeNpy(join(calib, `${name}.npy`), part(0, half));
    // Held out: the samples calibration did not see (the one sample there is, for a feed of one).
    writeNpy(join(evalDir, `${name}.npy`), n > 1 ? part(half, n) : part(0, 1));
  }
  return { calib, eval: evalDir, samples: n };
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string; userError: boolean };

async function attempt<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e), userError: e instanceof HoneError && e.exitCode === 2 };
  }
}

export interface ProfileOutcome {
  static: Outcome<ProfileReport>;
  dynamic?: Outcome<ProfileReport>;
}

export async function profileCorpusModel(
  m: CorpusModel,
  feed: ModelFeed,
  opts: { runs?: number; dynamic?: boolean } = {},
): Promise<ProfileOutcome> {
  const common = { shapes: feed.shapes, values: feed.values, threads: 1 };
  const stat = await attempt(() => profileModel(m.path, { ...common, dynamic: false }));
  if (opts.dynamic === false) return { static: stat };
  const dyn = await attempt(() => profileModel(m.path, { ...common, runs: opts.runs ?? 5, warmup: 1, profileRuns: 2 }));
  return { static: stat, dynamic: dyn };
}

export interface QuantOutcome {
  summary: QuantizeSummary;
  /** The written model loads and runs in ORT (checked on the first evaluation sample). */
  runs: boolean;
}

/** Quantizes with `mode` through the same job the CLI builds; the output is encoded and run once in ORT. */
export async function quantizeCorpusModel(
  m: CorpusModel,
  feed: ModelFeed,
  mode: QuantMode,
  data: { calib: string; eval: string },
  opts: { runs?: number; blocks?: number; latency?: boolean; accuracyGuard?: boolean } = {},
): Promise<Outcome<QuantOutcome>> {
  return attempt(async () => {
    const { model, summary } = await quantizeModel({
      model: m.path,
      mode,
      shapes: feed.shapes,
      values: feed.values,
      calib: mode === 'static' ? data.calib : undefined,
      eval: data.eval,
      accuracyGuard: opts.accuracyGuard,
      latency: opts.latency === false ? false : { runs: opts.runs ?? 5, blocks: opts.blocks ?? 2 },
    });
    const s = await ort.InferenceSession.create(encodeModel(model), QUIET);
    await s.release();
    return { summary, runs: true };
  });
}

export interface TrainOutcome {
  loss: number;
  /** Largest change of the first output on the trained sample: nonzero when the step moved the weights. */
  outputChange: number;
}

/**
 * One training step: MSE of the first output against 0.9× the float model's own output (a target it can
 * move towards), batch 1, lr 1e-3. The trained model must run in ORT.
 */
export async function trainCorpusModel(m: CorpusModel, feed: ModelFeed): Promise<Outcome<TrainOutcome>> {
  return attempt(async () => {
    const model = loadModel(m.path);
    const names = Object.keys(feed.arrays);
    const session = await ort.InferenceSession.create(m.path, QUIET);
    // The sample with the most signal (a silent audio chunk can sit at a clip bound, where nothing moves).
    const first = feedAt(feed, model, loudest(feed));
    const out = await session.run(first);
    const y = out[session.outputNames[0]!]!;
    await session.release();
    const target = Float32Array.from(y.data as Float32Array, (v) => 0.9 * v);
    const features = Object.fromEntries(
      names.map((n) => {
        const a = feed.arrays[n]!;
        const per = a.data.length / a.dims[0]!;
        const at = loudest(feed);
        return [n, { data: a.data.slice(at * per, (at + 1) * per), dims: [1, ...a.dims.slice(1)] }];
      }),
    );
    const data: Dataset = { features: features as Dataset['features'], labels: { data: target, dims: [1, ...y.dims.slice(1)] }, size: 1 };
    const r = await train(model, data, {
      epochs: 1,
      batchSize: 1,
      lr: 1e-3,
      loss: { kind: 'mse' },
      dims: trainDims(model, feed),
      values: feed.values,
      threads: 1,
      maxStepsPerEpoch: 1,
    });
    const s2 = await ort.InferenceSession.create(encodeModel(r.model), QUIET);
    const after = (await s2.run(first))[s2.outputNames[0]!]!.data as Float32Array;
    await s2.release();
    const before = y.data as Float32Array;
    const outputChange = after.reduce((a, v, k) => Math.max(a, Math.abs(v - before[k]!)), 0);
    return { loss: r.trainLoss, outputChange };
  });
}

/** Sizes of the symbolic dims the manifest's shapes imply, but for the data's batch dims (the trainer sets those). */
function trainDims(model: ModelProto, feed: ModelFeed): Record<string, number> {
  const batch = new Set(
    graphInputs(model)
      .filter((i) => i.name in feed.arrays)
      .map((i) => i.shape?.[0]),
  );
  return Object.fromEntries(Object.entries(shapeSymbols(model, feed.shapes)).filter(([d]) => !batch.has(d)));
}

/** The index of the sample whose first float array has the largest mean absolute value. */
function loudest(feed: ModelFeed): number {
  const a = Object.values(feed.arrays).find((x) => x.data instanceof Float32Array);
  if (!a) return 0;
  const per = a.data.length / a.dims[0]!;
  let best = 0;
  let bestSum = -1;
  for (let i = 0; i < a.dims[0]!; i++) {
    let sum = 0;
    for (let k = i * per; k < (i + 1) * per; k++) sum += Math.abs(a.data[k] as number);
    if (sum > bestSum) {
      bestSum = sum;
      best = i;
    }
  }
  return best;
}

/** Sample `i` of the feed as ORT tensors, batch 1 (inputs fed a value take it over their shape at batch 1). */
function feedAt(feed: ModelFeed, model: ModelProto, i: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const sizes = trainDims(model, feed);
  for (const input of graphInputs(model)) {
    const v = feed.values[input.name];
    if (v) {
      const shape = (input.shape ?? []).map((d) => (typeof d === 'number' ? d : (sizes[d] ?? 1)));
      feeds[input.name] = valueTensor(input, shape, v);
      continue;
    }
    const a = feed.arrays[input.name]!;
    const per = a.data.length / a.dims[0]!;
    const data = a.data.slice(i * per, (i + 1) * per);
    const dims = [1, ...a.dims.slice(1)];
    feeds[input.name] =
      data instanceof BigInt64Array
        ? new ort.Tensor('int64', data, dims)
        : data instanceof Uint8Array
          ? new ort.Tensor('bool', data, dims)
          : new ort.Tensor('float32', data, dims);
  }
  return feeds;
}

/** A temp folder for one model's files, removed by the returned function. */
export function scratch(id: string): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `hone-corpus-${id}-`));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}
