/**
 * Per-layer sensitivity from two passes over the data: the float model and the fully quantized model,
 * both with every layer's input and output exposed. A layer's score is how much relative error
 * (noise-to-signal, ‖q − f‖² / ‖f‖²) it adds: the error of its output, as the next layer reads it
 * (after its Q/DQ), minus the error already in its input before this layer's Q/DQ. A tensor's
 * rounding counts for both its producer and its reader: in QDQ form a tensor stays quantized while
 * either is, and only keeping both in float removes that rounding.
 */
import type { ModelProto, NodeProto } from '../ir/proto.js';
import { Graph } from '../ir/graph.js';
import { withFloatOutputs } from '../ir/builder.js';
import { createSession, ortRunError } from '../runtime/session.js';
import { batches, type SampleData } from './data.js';

export interface LayerSensitivity {
  node: string;
  /** Noise-to-signal ratio the layer adds (its output's minus its input's). */
  score: number;
}

/** Scores each named node of `quantized` (a compute op quantized in QDQ form) against `float` on `data`. */
export async function layerSensitivity(
  float: ModelProto,
  quantized: ModelProto,
  layers: readonly string[],
  data: SampleData,
  batchSize = 8,
): Promise<LayerSensitivity[]> {
  const gq = new Graph(quantized.graph!);
  const floatValues = new Set([...float.graph!.node.flatMap((n) => n.output), ...float.graph!.input.map((v) => v.name ?? '')]);
  const byName = new Map(quantized.graph!.node.map((n) => [n.name ?? '', n] as const));
  const probes = layers.map((name) => {
    const n = byName.get(name);
    const out = n?.output[0];
    const inp = n && quantizedFrom(gq, n.input[0] ?? '');
    const read = out && gq.consumers(out).find((c) => c.opType === 'QuantizeLinear');
    const readAs = read && gq.consumers(read.output[0]!).find((c) => c.opType === 'DequantizeLinear')?.output[0];
    return {
      name,
      out: out && floatValues.has(out) ? { f: out, q: readAs ?? out } : undefined,
      inp: inp && floatValues.has(inp) ? { f: inp, q: inp } : undefined,
    };
  });
  const pairs = probes.flatMap((p) => [p.out, p.inp]).filter((v): v is { f: string; q: string } => !!v);
  const key = (p: { f: string; q: string }) => `${p.f}\u0000${p.q}`;
  const unique = [...new Map(pairs.map((p) => [key(p), p])).values()];
  const fNames = [...new Set(unique.map((p) => p.f))];
  const qNames = [...new Set(unique.map((p) => p.q))];
  const [ef, eq] = [withFloatOutputs(float, fNames), withFloatOutputs(quantized, qNames)];
  const err = new Map(unique.map((p) => [key(p), { noise: 0, signal: 0 }]));
  const [a, b] = await Promise.all([createSession(ef!, { intraOpThreads: 1 }), createSession(eq!, { intraOpThreads: 1 })]);
  try {
    for (const batch of batches(data, float, batchSize)) {
      let ra: Record<string, { data: unknown }>, rb: Record<string, { data: unknown }>;
      try {
        ra = await a.run(batch.feeds, fNames);
        rb = await b.run(batch.feeds, qNames);
      } catch (e) {
        throw ortRunError(e, `measuring layer sensitivity on ${data.source}`);
      }
      for (const p of unique) {
        const x = ra[p.f]!.data as Float32Array;
        const y = rb[p.q]!.data as Float32Array;
        const e = err.get(key(p))!;
        for (let i = 0; i < x.length; i++) {
          const d = y[i]! - x[i]!;
          e.noise += d * d;
          e.signal += x[i]! * x[i]!;
        }
      }
    }
  } finally {
    await Promise.all([a.release(), b.release()]);
  }
  const nsr = (p: { f: string; q: string } | undefined) => {
    const e = p === undefined ? undefined : err.get(key(p));
    return e ? e.noise / (e.signal || 1) : 0;
  };
  const scores = new Map(probes.map((p) => [p.name, p.out === undefined ? 0 : Math.max(0, nsr(p.out) - nsr(p.inp))]));
  // The reader sees the damage of its input's rounding (after its own weights amplify it), but the
  // producer quantizes that tensor too: the producer scores at least what its reader does.
  const producerOf = new Map(probes.filter((p) => p.out).map((p) => [p.out!.f, p.name]));
  for (const p of probes) {
    const producer = p.inp && producerOf.get(p.inp.f);
    if (producer) scores.set(producer, Math.max(scores.get(producer)!, scores.get(p.name)!));
  }
  return probes.map((p) => ({ node: p.name, score: scores.get(p.name)! }));
}

/** The float tensor behind an input: read through DequantizeLinear ← QuantizeLinear, the tensor that was quantized. */
function quantizedFrom(g: Graph, v: string): string | undefined {
  const dq = g.producer(v);
  if (dq?.opType !== 'DequantizeLinear') return v || undefined;
  const q: NodeProto | undefined = g.producer(dq.input[0] ?? '');
  return q?.opType === 'QuantizeLinear' ? q.input[0] : undefined;
}
