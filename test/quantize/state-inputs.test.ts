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
function tinyRecurrent() {
  const rand = mulberry32(3);
  const w = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  const b = new GraphBuilder('tiny_rnn');
  const x = b.input('x', DataType.FLOAT, ['batch', 8]);
  const h = b.input('h', DataType.FLOAT, [1, 'batch', 5]);
  const seq = b.op('Unsqueeze', [x, b.int64Init('axes', [0])]);
  const [, yh] = b.opN('GRU', [seq, b.floatInit('W', [1, 15, 8], w(120)), b.floatInit('R', [1, 15, 5], w(75)), '', '', h], 2, {
    hidden_size: 5,
  });
  const last = b.op('Squeeze', [yh!, b.int64Init('axes0', [0])]);
  b.op('MatMul', [last, b.floatInit('W2', [5, 64], w(320))], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 64]);
  b.output(yh!, DataType.FLOAT, [1, 'batch', 5]);
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
