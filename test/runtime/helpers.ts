/** Tiny models for the runtime and profile tests. */
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';

/** y = relu(x · W1) · W2 with x: [batch, 16] (a symbolic batch dim unless `batch` is given). */
export function tinyMlp(batch: number | string = 'batch'): ModelProto {
  const b = new GraphBuilder('tiny');
  const x = b.input('x', DataType.FLOAT, [batch, 16]);
  const w1 = b.floatInit('w1', [16, 32], Float32Array.from({ length: 512 }, (_, i) => ((i % 7) - 3) / 10));
  const w2 = b.floatInit('w2', [32, 4], Float32Array.from({ length: 128 }, (_, i) => ((i % 5) - 2) / 10));
  const h = b.op('Relu', [b.op('MatMul', [x, w1])]);
  b.op('MatMul', [h, w2], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [batch, 4]);
  return b.model();
}

/** Two inputs with two symbolic dims: ids int64 [batch, seq], mask float [batch, seq]. */
export function twoInputs(): ModelProto {
  const b = new GraphBuilder('two');
  const ids = b.input('ids', DataType.INT64, ['batch', 'seq']);
  const mask = b.input('mask', DataType.FLOAT, ['batch', 'seq']);
  const f = b.op('Cast', [ids], { to: DataType.FLOAT });
  b.op('Mul', [f, mask], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 'seq']);
  return b.model();
}

/** A model with an op no runtime knows. */
export function unknownOpModel(): ModelProto {
  const b = new GraphBuilder('bad');
  const x = b.input('x', DataType.FLOAT, [2]);
  b.op('FrobnicateTensor', [x], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2]);
  return b.model();
}
