// Shared by the zoo tests: round-trip a model through the codec, run it in ORT, count its parameters.
import assert from 'node:assert/strict';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../src/ir/codec.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { DataType } from '../../src/ir/dtype.js';
import { numElements } from '../../src/ir/tensor.js';

/** Encodes, decodes and re-encodes (bytes must match), then returns the bytes ORT will load. */
export function roundTrip(model: ModelProto): Uint8Array {
  const bytes = encodeModel(model);
  const again = encodeModel(decodeModel(bytes));
  assert.ok(Buffer.from(bytes).equals(Buffer.from(again)), 'decode → encode changed the bytes');
  return bytes;
}

/** Runs the model once in ORT on a deterministic pseudo-random input and returns its only output. */
export async function runOnce(model: ModelProto, shape: number[], opts: { ids?: number } = {}): Promise<Tensor> {
  const session = await InferenceSession.create(roundTrip(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const n = numElements(shape);
    const input =
      opts.ids !== undefined
        ? new Tensor(
            'int64',
            BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7919) % opts.ids!)),
            shape,
          )
        : new Tensor(
            'float32',
            Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.5),
            shape,
          );
    const out = await session.run({ [session.inputNames[0]!]: input });
    assert.deepEqual(session.outputNames, [model.graph!.output[0]!.name]);
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

export function assertFinite(t: Tensor): void {
  const data = t.data as Float32Array;
  assert.ok(data.length > 0);
  for (let i = 0; i < data.length; i++) assert.ok(Number.isFinite(data[i]!), `output[${i}] = ${data[i]}`);
  // Untrained but well-initialised: not all equal, not exploding.
  const max = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(max > 1e-4 && max < 1e3, `output magnitude ${max} is out of the sane range`);
}

/** Elements of all float initializers: the trainable parameters (plus BN statistics where present). */
export function floatParams(model: ModelProto): number {
  return model.graph!.initializer.filter((t) => t.dataType === DataType.FLOAT).reduce((s, t) => s + numElements(t.dims), 0);
}

export function countOps(model: ModelProto, opType: string): number {
  return model.graph!.node.filter((n) => n.opType === opType).length;
}
