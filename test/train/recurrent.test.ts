// Training through LSTM and GRU: the training graph unrolls them (src/passes/unroll-rnn.ts); the trained
// model keeps its recurrent op, with the trained W, R and B in ONNX's layouts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { floatTensor, tensorArray } from '../../src/ir/tensor.js';
import { buildTrainingGraph, train } from '../../src/train/index.js';
import { createSession } from '../../src/runtime/index.js';
import { checkTrainingGradients, rand } from './gradcheck-util.js';

const [T, I, H] = [4, 3, 5];

/** x [batch, T, I] → Transpose → LSTM or GRU (initializer weights) → Y_h → Gemm → y [batch, 2]. */
function recurrentModel(op: 'LSTM' | 'GRU', direction: 'forward' | 'bidirectional') {
  const G = op === 'LSTM' ? 4 : 3;
  const D = direction === 'bidirectional' ? 2 : 1;
  const b = new GraphBuilder('rnn');
  const x = b.input('x', DataType.FLOAT, ['batch', T, I]);
  const seq = b.op('Transpose', [x], { perm: [1, 0, 2] });
  const [, yh] = b.opN(
    op,
    [
      seq,
      b.floatInit('W', [D, G * H, I], rand(D * G * H * I, 1, -0.6, 0.6)),
      b.floatInit('R', [D, G * H, H], rand(D * G * H * H, 2, -0.6, 0.6)),
      b.floatInit('B', [D, 2 * G * H], rand(D * 2 * G * H, 3, -0.3, 0.3)),
    ],
    2,
    { hidden_size: H, direction, ...(op === 'GRU' ? { linear_before_reset: 1 } : {}) },
  );
  const flat = b.op('Reshape', [b.op('Transpose', [yh!], { perm: [1, 0, 2] }), b.int64Init('shape', [0, -1])]);
  b.op(
    'Gemm',
    [flat, b.floatInit('fw', [2, D * H], rand(2 * D * H, 4)), b.floatInit('fb', [2], rand(2, 5))],
    { transB: 1 },
    { output: 'y' },
  );
  b.output('y', DataType.FLOAT, ['batch', 2]);
  return b.model({ opset: 14 });
}

describe('training through recurrent ops', () => {
  for (const [op, direction] of [
    ['LSTM', 'forward'],
    ['GRU', 'bidirectional'],
  ] as const) {
    it(`${op} ${direction}: gradients of W, R, B match finite differences; training lowers the loss and keeps the ${op}`, async () => {
      const model = recurrentModel(op, direction);
      const spec = { loss: { kind: 'mse' as const } };
      const tg = buildTrainingGraph(model, spec);
      assert.deepEqual(tg.params.map((p) => p.name).sort(), ['B', 'R', 'W', 'fb', 'fw']);
      assert.ok(!tg.model.graph!.node.some((nd) => nd.opType === op), 'the training graph is unrolled');
      const x = rand(3 * T * I, 9);
      const { points } = await checkTrainingGradients(tg, {
        x: new ort.Tensor('float32', x, [3, T, I]),
        label: new ort.Tensor('float32', rand(6, 10), [3, 2]),
      });
      assert.ok(points.filter((p) => ['W', 'R', 'B'].includes(p.input)).length === 36);

      // A student learns a target made by the same model with other output weights.
      const n = 32;
      const inputs = rand(n * T * I, 21);
      const target = await (async () => {
        const b = recurrentModel(op, direction);
        b.graph!.initializer = b.graph!.initializer.map((t) =>
          t.name === 'fw' ? floatTensor('fw', t.dims.map(Number), rand(2 * H * (direction === 'bidirectional' ? 2 : 1), 55)) : t,
        );
        const s = await createSession(b, { intraOpThreads: 1 });
        return (await s.run({ x: new ort.Tensor('float32', inputs, [n, T, I]) })).y!.data as Float32Array;
      })();
      const data = { features: { x: { data: inputs, dims: [n, T, I] } }, labels: { data: target, dims: [n, 2] }, size: n };
      const r = await train(model, data, { epochs: 15, batchSize: 8, lr: 0.02, loss: { kind: 'mse' }, threads: 1 });
      assert.ok(
        r.history.at(-1)!.trainLoss < 0.5 * r.history[0]!.trainLoss,
        `loss ${r.history[0]!.trainLoss} → ${r.history.at(-1)!.trainLoss}`,
      );
      const nodes = r.model.graph!.node;
      assert.equal(nodes.filter((nd) => nd.opType === op).length, 1, `the trained model keeps its ${op}`);
      const w = (m: typeof model, name: string) => tensorArray(m.graph!.initializer.find((t) => t.name === name)!) as Float32Array;
      for (const name of ['W', 'R', 'B']) {
        assert.deepEqual(w(r.model, name).length, w(model, name).length);
        assert.ok(
          w(r.model, name).some((v, i) => v !== w(model, name)[i]),
          `${name} was trained`,
        );
      }
      // The trained model runs in ORT with its own recurrent op.
      const s = await createSession(r.model, { intraOpThreads: 1 });
      const y = (await s.run({ x: new ort.Tensor('float32', inputs, [n, T, I]) })).y!.data as Float32Array;
      assert.equal(y.length, n * 2);
    });
  }
});
