// Weights that an exporter kept in Constant nodes or constant chains train like initializers: the
// training graph folds them first, and the exported model holds the trained values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { floatTensor, makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { createSession } from '../../src/runtime/index.js';
import { buildTrainingGraph, train } from '../../src/train/index.js';
import { fromHalf, toHalf } from '../../src/quantize/math.js';
import { constant, wave } from '../helpers/weight-models.js';
import { signData } from './gradcheck-util.js';

/** A 2-layer MLP over 4 features, Paddle2ONNX style: weights in Constant nodes, one bias stored fp16 and cast. */
function constantMlp(): ModelProto {
  const b = new GraphBuilder('paddle-mlp');
  b.input('input', DataType.FLOAT, ['batch', 4]);
  const w1 = constant(b, floatTensor('', [4, 8], wave(32, 1)), 'w1');
  const b1 = constant(b, floatTensor('', [8], new Float32Array(8)), 'b1');
  const w2 = constant(b, floatTensor('', [8, 2], wave(16, 2)), 'w2');
  const b2 = b.op(
    'Cast',
    [constant(b, makeTensor('', DataType.FLOAT16, [2], Uint16Array.of(toHalf(0.25), toHalf(-0.25))), 'b2_fp16')],
    { to: DataType.FLOAT },
    { output: 'b2' },
  );
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', ['input', w1]), b1])]);
  b.op('Add', [b.op('MatMul', [h, w2]), b2], {}, { output: 'logits' });
  b.output('logits', DataType.FLOAT, ['batch', 2]);
  return b.model({ opset: 13 });
}

test('weights in Constant nodes and a Cast chain are trainable parameters', () => {
  const model = constantMlp();
  const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' } });
  assert.deepEqual(
    tg.params.map((p) => [p.name, p.dims]),
    [
      ['w1', [4, 8]],
      ['b1', [8]],
      ['w2', [8, 2]],
      ['b2', [2]],
    ],
  );
  assert.deepEqual(Array.from(tg.params[3]!.init), [fromHalf(toHalf(0.25)), fromHalf(toHalf(-0.25))], 'the fp16 bias, widened');
  assert.equal(model.graph!.initializer.length, 0, 'the caller’s model is not changed');
  assert.equal(model.graph!.node.filter((n) => n.opType === 'Constant').length, 4);
});

test('training updates them, and the exported model holds the trained values as initializers', async () => {
  const r = await train(constantMlp(), signData(512, 3), { epochs: 10, batchSize: 32, lr: 0.01, test: signData(256, 4) });
  assert.ok(r.testAccuracy! > 0.9, `test accuracy ${r.testAccuracy}`);
  const g = r.model.graph!;
  assert.deepEqual(
    g.node.map((n) => n.opType),
    ['MatMul', 'Add', 'Relu', 'MatMul', 'Add'],
  );
  assert.deepEqual(g.initializer.map((t) => t.name).sort(), ['b1', 'b2', 'w1', 'w2']);
  assert.notDeepEqual(Array.from(tensorArray(g.initializer.find((t) => t.name === 'w1')!) as Float32Array), Array.from(wave(32, 1)));
  assert.deepEqual(r.model.opsetImport, constantMlp().opsetImport, 'the exported model keeps its opset');
  // The exported model runs and agrees with the accuracy the trainer measured.
  const s = await createSession(r.model);
  const t = signData(256, 4);
  const out = (await s.run({ input: new ort.Tensor('float32', t.features.input!.data as Float32Array, [256, 4]) })).logits!
    .data as Float32Array;
  let correct = 0;
  for (let i = 0; i < 256; i++) if (Number(out[2 * i + 1]! > out[2 * i]!) === Number((t.labels.data as BigInt64Array)[i])) correct++;
  assert.equal(correct / 256, r.testAccuracy);
});
