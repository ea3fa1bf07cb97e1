/**
 * A zero-cost proxy: how promising an architecture is before any training, from one forward pass of its
 * freshly initialised network. NASWOT (Mellor et al., "Neural Architecture Search without Training",
 * ICML 2021): each sample of a batch gets a binary code, which units its activations switch on; two
 * samples whose codes differ in many units are told apart by the untrained network. The score is
 * log |det K| with K[i][j] = the number of units on which samples i and j agree — high when the network
 * separates the inputs well, which correlates (loosely: see docs/benchmarks.md) with accuracy after training.
 * Abdelfattah et al. (ICLR 2021) compare it with other proxies; it is the cheapest (no backward pass).
 */
import * as ort from 'onnxruntime-node';
import { badInput } from '../errors.js';
import { withFloatOutputs } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { createSession } from '../runtime/session.js';
import { sampleSize, type Dataset } from '../data/dataset.js';

/** Activation ops and the value above which a unit counts as on. */
const ACTIVATIONS: Record<string, number> = { Relu: 0, Clip: 0, LeakyRelu: 0, Tanh: 0, Sigmoid: 0.5, HardSwish: 0, Elu: 0, Gelu: 0 };

/** The NASWOT score of `model` (initialised, untrained) on the first `batch` samples of `data`. */
export async function naswotScore(model: ModelProto, data: Dataset, batch = 64): Promise<number> {
  const g = model.graph!;
  const acts = g.node.filter((n) => n.opType! in ACTIVATIONS);
  if (!acts.length) throw badInput('the NASWOT proxy reads activation patterns; the model has no Relu, Clip, Tanh or Sigmoid');
  const input = g.input[0]!;
  const feature = data.features[input.name!] ?? data.features.input ?? Object.values(data.features)[0];
  if (!feature) throw badInput(`the data has no features for input '${input.name}'`);
  const n = Math.min(batch, data.size);
  if (n < 2) throw badInput('the NASWOT proxy needs at least 2 samples');
  const per = sampleSize(feature);
  const x = Float32Array.from(feature.data.subarray(0, n * per) as ArrayLike<number>);
  const names = acts.map((a) => a.output[0]!);
  const session = await createSession(withFloatOutputs(model, names), { intraOpThreads: 1 });
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run({ [input.name!]: new ort.Tensor('float32', x, [n, ...feature.dims.slice(1)]) }, names);
  } finally {
    await session.release();
  }
  // K[i][j]: units on which samples i and j agree (both on or both off).
  const k = new Float64Array(n * n);
  acts.forEach((a, ai) => {
    const v = out[names[ai]!]!.data as Float32Array;
    const units = v.length / n;
    const at = ACTIVATIONS[a.opType!]!;
    const on = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) on[i] = v[i]! > at ? 1 : 0;
    for (let i = 0; i < n; i++)
      for (let j = i; j < n; j++) {
        let same = 0;
        const oi = i * units;
        const oj = j * units;
        for (let u = 0; u < units; u++) same += on[oi + u] === on[oj + u] ? 1 : 0;
        k[i * n + j]! += same;
        if (j !== i) k[j * n + i]! += same;
      }
  });
  return logAbsDet(k, n);
}

/** log |det A| of an n×n row-major matrix, by LU with partial pivoting (−Infinity when singular). */
export function logAbsDet(a: Float64Array, n: number): number {
  const m = Float64Array.from(a);
  let sum = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    const pivot = m[p * n + c]!;
    if (pivot === 0) return Number.NEGATIVE_INFINITY;
    if (p !== c)
      for (let j = 0; j < n; j++) {
        const t = m[c * n + j]!;
        m[c * n + j] = m[p * n + j]!;
        m[p * n + j] = t;
      }
    sum += Math.log(Math.abs(pivot));
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c]! / pivot;
      if (f === 0) continue;
      for (let j = c; j < n; j++) m[r * n + j]! -= f * m[c * n + j]!;
    }
  }
  return sum;
}
