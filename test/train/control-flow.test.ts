// Training through an If that the fixed inputs decide (--input mode=1): the taken branch is inlined for the
// training graph, and the trained weights go back into that branch of the model's own If.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { GraphProto, ModelProto } from '../../src/ir/proto.js';
import { floatTensor, makeTensor, tensorArray } from '../../src/ir/tensor.js';
import { buildTrainingGraph, train } from '../../src/train/index.js';
import { createSession } from '../../src/runtime/index.js';
import { checkTrainingGradients, rand } from './gradcheck-util.js';

function branch(name: string, nodes: GraphProto['node'], out: string, inits: GraphProto['initializer'] = []): GraphProto {
  return { ...new GraphBuilder(name).graph, node: nodes, initializer: inits, output: [valueInfo(out, DataType.FLOAT)] };
}

/** y = If(mode == 1) then Tanh(x·W1 + b) (W1 the branch's own, b the main graph's) else x·W2. */
function model(): ModelProto {
  const b = new GraphBuilder('if');
  const x = b.input('x', DataType.FLOAT, ['batch', 3]);
  const mode = b.input('mode', DataType.INT64, []);
  const bias = b.floatInit('b', [2], rand(2, 2));
  const w2 = b.floatInit('W2', [3, 2], rand(6, 4));
  b.graph.node.push(
    makeNode(
      'If',
      [b.op('Equal', [mode, b.initializer('one', DataType.INT64, [], BigInt64Array.of(1n))])],
      ['y'],
      {
        then_branch: branch(
          'then',
          [makeNode('MatMul', [x, 'W1'], ['h']), makeNode('Add', ['h', bias], ['hb']), makeNode('Tanh', ['hb'], ['t'])],
          't',
          [floatTensor('W1', [3, 2], rand(6, 3))],
        ),
        else_branch: branch('else', [makeNode('MatMul', [x, w2], ['e'])], 'e'),
      },
      { name: 'by_mode' },
    ),
  );
  b.output('y', DataType.FLOAT, ['batch', 2]);
  return b.model({ opset: 17 });
}

const thenW1 = (m: ModelProto) =>
  tensorArray(
    m.graph!.node.find((n) => n.opType === 'If')!.attribute.find((a) => a.name === 'then_branch')!.g!.initializer[0]!,
  ) as Float32Array;
const mainInit = (m: ModelProto, name: string) => tensorArray(m.graph!.initializer.find((t) => t.name === name)!) as Float32Array;

describe('training through an If with a fixed condition', () => {
  it('the taken branch trains: gradients match finite differences, and the weights go back into the If', async () => {
    const m = model();
    const inputValues = new Map([['mode', makeTensor('mode', DataType.INT64, [], BigInt64Array.of(1n))]]);
    const tg = buildTrainingGraph(m, { loss: { kind: 'mse' }, inputValues });
    assert.deepEqual(tg.params.map((p) => p.name).sort(), ['W1', 'b'], 'W2 sits in the branch not taken');
    assert.ok(!tg.model.graph!.node.some((n) => n.opType === 'If'));
    const { points } = await checkTrainingGradients(tg, {
      x: new ort.Tensor('float32', rand(12, 7), [4, 3]),
      mode: new ort.Tensor('int64', BigInt64Array.of(1n), []),
      label: new ort.Tensor('float32', rand(8, 8), [4, 2]),
    });
    assert.equal(points.length, 8);

    const n = 16;
    const x = rand(n * 3, 11);
    const data = { features: { x: { data: x, dims: [n, 3] } }, labels: { data: rand(n * 2, 12, -0.5, 0.5), dims: [n, 2] }, size: n };
    const r = await train(m, data, {
      epochs: 10,
      batchSize: 4,
      lr: 0.05,
      loss: { kind: 'mse' },
      threads: 1,
      values: { mode: { dims: [], data: Float64Array.of(1), text: 'mode=1' } },
    });
    assert.ok(
      r.history.at(-1)!.trainLoss < 0.8 * r.history[0]!.trainLoss,
      `loss ${r.history[0]!.trainLoss} → ${r.history.at(-1)!.trainLoss}`,
    );
    assert.equal(r.model.graph!.node.filter((nd) => nd.opType === 'If').length, 1, 'the trained model keeps its If');
    assert.ok(
      thenW1(r.model).some((v, i) => v !== thenW1(m)[i]),
      'W1 trained in its branch',
    );
    assert.ok(
      mainInit(r.model, 'b').some((v, i) => v !== mainInit(m, 'b')[i]),
      'b trained',
    );
    assert.deepEqual(mainInit(r.model, 'W2'), mainInit(m, 'W2'));
    // Both branches still run; the taken one gives what the trainer's forward gave.
    const s = await createSession(r.model, { intraOpThreads: 1 });
    for (const mode of [0n, 1n]) {
      const y = (await s.run({ x: new ort.Tensor('float32', x, [n, 3]), mode: new ort.Tensor('int64', BigInt64Array.of(mode), []) })).y!;
      assert.deepEqual(y.dims, [n, 2]);
    }
  });

  it('without a value for the condition, training names the If and the input to fix', () => {
    assert.throws(
      () => buildTrainingGraph(model(), { loss: { kind: 'mse' } }),
      /the loss depends on the parameters through an If subgraph \('by_mode'\), which training does not differentiate: its condition depends on input 'mode': give it a fixed value \(--input mode=VALUE\)/,
    );
  });
});
