import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { quantizeModel } from '../../src/quantize/pipeline.js';
import { mulberry32 } from '../../src/util/random.js';

/**
 * A recurrent model's state input is [layers, batch, hidden]: samples along its dim 0 would stack layers
 * as batch items, and the run fails (Silero VAD: "Input initial_h must have shape {1,2,128}"). Synthetic
 * data gives such inputs zeros, an initial state, over the batch the data inputs have.
 */
function tinyRecurrent(directions = 1) {
  const rand = mulberry32(3);
  const w = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  const b = new GraphBuilder('tiny_rnn');
  const x = b.input('x', DataType.FLOAT, ['batch', 8]);
  const h = b.input('h', DataType.FLOAT, [directions, 'batch', 5]);
  const seq = b.op('Unsqueeze', [x, b.int64Init('axes', [0])]);
  const d = directions;
  const [, yh] = b.opN('GRU', [seq, b.floatInit('W', [d, 15, 8], w(d * 120)), b.floatInit('R', [d, 15, 5], w(d * 75)), '', '', h], 2, {
    hidden_size: 5,
    ...(d === 2 ? { direction: 'bidirectional' } : {}),
  });
  // [directions, batch, 5] → [batch, directions · 5]
  const last = b.op('Reshape', [b.op('Transpose', [yh!], { perm: [1, 0, 2] }), b.int64Init('flat', [0, d * 5])]);
  b.op('MatMul', [last, b.floatInit('W2', [d * 5, 64], w(d * 320))], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 64]);
  b.output(yh!, DataType.FLOAT, [d, 'batch', 5]);
  return b.model({ opset: 17 });
}

test('quantize without data: a recurrent state input [layers, batch, hidden] gets zero states over the batch', async () => {
  for (const mode of ['fp16', 'dynamic'] as const) {
    const { summary } = await quantizeModel({ model: tinyRecurrent(), mode, latency: { runs: 2, blocks: 1 } });
    assert.ok(summary.fidelity && summary.fidelity.cosine > 0.99, `${mode}: ${JSON.stringify(summary.fidelity)}`);
    // Timed at batch 1 and 8: the state's batch dim follows the data's.
    assert.deepEqual(
      summary.latencyByBatch!.map((l) => l.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(' ')),
      ['x[1x8] h[1x1x5]', 'x[8x8] h[1x8x5]'],
    );
  }
});

test("a state's shape given (--shape h=2x1x5): zeros of that shape, not samples along its leading 2", async () => {
  // Before, the given shape made the state a data input sampled along dim 0, whose 2 (the directions) was
  // then taken for a fixed batch size: two samples of x were fed beside one state and the GRU refused it.
  const { summary } = await quantizeModel({
    model: tinyRecurrent(2),
    mode: 'dynamic',
    shapes: { x: [1, 8], h: [2, 1, 5] },
    latency: { runs: 2, blocks: 1 },
  });
  assert.ok(summary.fidelity && summary.fidelity.cosine > 0.99, JSON.stringify(summary.fidelity));
  // One batch size, the one the shapes give.
  assert.equal(summary.latencyByBatch, undefined);
  assert.equal(summary.latency!.inputs.map((i) => `${i.name}[${i.shape.join('x')}]`).join(' '), 'x[1x8] h[2x1x5]');
});
