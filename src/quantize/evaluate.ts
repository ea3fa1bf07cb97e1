/**
 * Proving a quantized model: output fidelity against the float model on the same data (cosine
 * similarity, max abs error, top-1 agreement, task accuracy with labels), and latency of both measured
 * side by side in one run — in blocks (warm up, N runs of A; warm up, N runs of B; repeat), never
 * alternating run by run, because two sessions alternating on few cores slow each other.
 */
import type * as ort from 'onnxruntime-node';
import type { ModelProto } from '../ir/proto.js';
import { encodeModel } from '../ir/codec.js';
import { createSession, ortRunError } from '../runtime/session.js';
import { measureInWorker } from '../runtime/measure.js';
import type { ConcreteInput, InputValue } from '../runtime/inputs.js';
import { batches, type SampleData } from './data.js';

export interface Fidelity {
  /** Samples compared. */
  samples: number;
  /** Where they came from. */
  source: string;
  /**
   * Cosine similarity of all float outputs, flattened, quantized vs float, over the elements where the
   * float model's output is finite. NaN when the quantized model gives non-finite values there (`nonFinite`).
   */
  cosine: number;
  /** Infinity when the quantized model gives non-finite values where the float one does not. */
  maxAbsError: number;
  /**
   * Output elements the quantized model gives as NaN or ±Inf where the float model's are finite — an
   * overflow (float16's range ends at 65504), not a loss of accuracy. Absent when there are none.
   */
  nonFinite?: { count: number; total: number; outputs: string[]; message: string };
  /** Share of samples whose argmax over the first output's last axis agrees (classifier-like outputs). */
  top1Agreement?: number;
  /** Top-1 accuracy against the data's labels, float and quantized. */
  accuracy?: { float: number; quantized: number };
}

/** Runs both models over `data` batch by batch and compares their outputs. */
export async function compareOutputs(float: ModelProto, quantized: ModelProto, data: SampleData, batchSize = 16): Promise<Fidelity> {
  const [a, b] = await Promise.all([createSession(float, { intraOpThreads: 1 }), createSession(quantized, { intraOpThreads: 1 })]);
  let dot = 0,
    aa = 0,
    bb = 0,
    maxAbs = 0,
    samples = 0,
    agree = 0,
    rows = 0,
    correctA = 0,
    correctB = 0,
    labelled = 0;
  let bad = 0,
    compared = 0;
  const badOutputs = new Set<string>();
  try {
    for (const batch of batches(data, float, batchSize)) {
      let ra: ort.InferenceSession.ReturnType, rb: ort.InferenceSession.ReturnType;
      try {
        ra = await a.run(batch.feeds);
        rb = await b.run(batch.feeds);
      } catch (e) {
        throw ortRunError(e, `on data from ${data.source}`);
      }
      for (const name of a.outputNames) {
        const x = ra[name]!.data;
        const y = rb[name]?.data;
        if (!(x instanceof Float32Array) || !(y instanceof Float32Array)) continue;
        for (let i = 0; i < x.length; i++) {
          const u = x[i]!,
            v = y[i]!;
          if (!Number.isFinite(u)) continue;
          compared++;
          if (!Number.isFinite(v)) {
            bad++;
            badOutputs.add(name);
            continue;
          }
          dot += u * v;
          aa += u * u;
          bb += v * v;
          const d = Math.abs(u - v);
          if (d > maxAbs) maxAbs = d;
        }
      }
      const first = a.outputNames[0]!;
      const out = ra[first]!;
      const classes = out.dims[out.dims.length - 1] ?? 1;
      if (out.dims.length === 2 && classes > 1 && out.data instanceof Float32Array) {
        const pa = argmaxRows(out.data, classes);
        const pb = argmaxRows(rb[first]!.data as Float32Array, classes);
        rows += pa.length;
        pa.forEach((p, i) => {
          if (p === pb[i]) agree++;
        });
        if (batch.labels && pa.length === batch.labels.length) {
          labelled += pa.length;
          batch.labels.forEach((l, i) => {
            if (pa[i] === l) correctA++;
            if (pb[i] === l) correctB++;
          });
        }
      }
      samples += batch.size;
    }
  } finally {
    await Promise.all([a.release(), b.release()]);
  }
  const cosine = bad ? NaN : aa === 0 && bb === 0 ? 1 : dot / Math.sqrt(aa * bb || 1);
  const nonFinite = bad
    ? {
        count: bad,
        total: compared,
        outputs: [...badOutputs],
        message:
          `the quantized model gives NaN/Inf in ${bad} of ${compared} output values (${[...badOutputs].join(', ')}) where the float model is finite: ` +
          'usually an overflow (float16 ends at ±65504); its outputs are unusable on this data',
      }
    : undefined;
  return {
    samples,
    source: data.source,
    cosine,
    maxAbsError: bad ? Infinity : maxAbs,
    nonFinite,
    top1Agreement: rows ? agree / rows : undefined,
    accuracy: labelled ? { float: correctA / labelled, quantized: correctB / labelled } : undefined,
  };
}

function argmaxRows(data: Float32Array, width: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * width < data.length; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (data[r * width + c]! > data[r * width + best]!) best = c;
    out.push(best);
  }
  return out;
}

export interface LatencyComparison {
  /**
   * The least over blocks of each block's floor (the least of its rounds' medians), ms: what each model
   * does in the quietest stretch of the comparison, as profile's verdict uses. A neighbour only ever slows
   * runs; the median of block medians let one slowed block of two swing the ratio (PP-OCRv4 rec's static
   * int8 read 1.43x in one run of the corpus bench and 0.91x in the next).
   */
  floatMs: number;
  quantizedMs: number;
  /** quantized / float. */
  ratio: number;
  blocks: number;
  runsPerBlock: number;
  inputs: ConcreteInput[];
}

export interface LatencyOptions {
  /** Blocks per model (default 3). */
  blocks?: number;
  /** Timed runs per round (default 20). */
  runs?: number;
  /** Per block, extra time for more rounds while the runs are noisy (default 1000 ms; see MeasureOpts.budgetMs). */
  budgetMs?: number;
  warmup?: number;
  threads?: number;
  provider?: string;
  /** Values fed instead of random data (`--input`), by input name. */
  values?: Record<string, InputValue>;
}

/** Times both models in alternating blocks, each block in a fresh worker with its own session. */
export async function compareLatency(
  float: ModelProto,
  quantized: ModelProto,
  inputs: ConcreteInput[],
  opts: LatencyOptions = {},
): Promise<LatencyComparison> {
  const blocks = opts.blocks ?? 3;
  const runs = opts.runs ?? 20;
  const bytes = [encodeModel(float), encodeModel(quantized)];
  const floors: [number[], number[]] = [[], []];
  for (let r = 0; r < blocks; r++) {
    for (const k of [0, 1] as const) {
      const m = await measureInWorker(bytes[k]!, {
        inputs,
        values: opts.values,
        runs,
        budgetMs: opts.budgetMs ?? 1000,
        warmup: opts.warmup ?? 3,
        session: { intraOpThreads: opts.threads || undefined, provider: opts.provider },
      });
      floors[k].push(m.latencyMs.floor);
    }
  }
  const floatMs = Math.min(...floors[0]);
  const quantizedMs = Math.min(...floors[1]);
  return { floatMs, quantizedMs, ratio: quantizedMs / floatMs, blocks, runsPerBlock: runs, inputs };
}
