// Shared by the quantization tests: run a model in ORT on seeded inputs, compare outputs.
import assert from 'node:assert/strict';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { encodeModel } from '../../src/ir/codec.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { numElements } from '../../src/ir/tensor.js';
import { mulberry32 } from '../../src/util/random.js';

/** Seeded float input in [-1, 1). */
export function floatInput(shape: number[], seed = 1): Tensor {
  const r = mulberry32(seed);
  return new Tensor(
    'float32',
    Float32Array.from({ length: numElements(shape) }, () => r() * 2 - 1),
    shape,
  );
}

/** Loads the model in ORT (failing the test with ORT's message otherwise) and runs it once. */
export async function run(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const session = await InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0,
    x = 0,
    y = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    x += a[i]! ** 2;
    y += b[i]! ** 2;
  }
  return d / Math.sqrt(x * y);
}

export function opTypes(model: ModelProto): string[] {
  return model.graph!.node.map((n) => n.opType!);
}

let trained: Promise<ModelProto> | undefined;

/**
 * zoo:mlp (784 → 128 → 10, flattening [batch, 1, 28, 28] digits) trained for 3 epochs on MNIST's train split
 * (8,000 digits, Adam, seed 0; about 3 s), once per test file: quantization is judged on a model that has
 * learned something (about 92% on the test split), not on untrained weights whose outputs carry no signal.
 */
export function trainedMnistMlp(): Promise<ModelProto> {
  trained ??= (async () => {
    const { mnist } = await import('../../src/data/index.js');
    const { train } = await import('../../src/train/index.js');
    const { zooModel } = await import('../../src/zoo/index.js');
    const r = await train(zooModel('mlp:hidden=128,flatten=true'), mnist().train, {
      epochs: 3,
      batchSize: 32,
      lr: 2e-3,
      optimizer: { kind: 'adam' },
      seed: 0,
    });
    return r.model;
  })();
  return trained;
}
