/**
 * Activation ranges for float16 conversion: the largest |value| of every float value a model computes
 * on data, so `convertFp16` can keep in float32 the ops whose values float16 (max 65504) would overflow.
 * Measured on the float model with ORT, batch by batch (calibrate.ts's `collectStats`, min/max only).
 */
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { inferShapes } from '../ops/infer.js';
import { collectStats } from './calibrate.js';
import type { SampleData } from './data.js';
import type { ActivationRanges } from './fp16.js';

/** Largest |value| of the graph's float inputs (from the data) and of every float node output (by running it). */
export async function measureActivationRanges(
  model: ModelProto,
  data: SampleData,
  opts: { batchSize?: number } = {},
): Promise<ActivationRanges> {
  const g = model.graph!;
  const types = inferShapes(model).types;
  const inits = new Set(g.initializer.map((t) => t.name));
  const values = [...new Set(g.node.flatMap((n) => n.output))].filter(
    (v) => v !== '' && !inits.has(v) && types.get(v)?.elemType === DataType.FLOAT,
  );
  const stats = await collectStats(model, values, data, { method: 'minmax', batchSize: opts.batchSize ?? 4 });
  const maxAbs = new Map<string, number>();
  for (const [v, s] of stats) if (Number.isFinite(s.min)) maxAbs.set(v, Math.max(-s.min, s.max));
  for (const [name, t] of Object.entries(data.features)) {
    let m = 0;
    for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(Number(t.data[i])));
    maxAbs.set(name, m);
  }
  return { maxAbs, source: `${data.size} samples from ${data.source}` };
}
