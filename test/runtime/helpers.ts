/** Tiny models for the runtime and profile tests. */
import { GraphBuilder, emptyGraph, makeNode, valueInfo } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { GraphProto, ModelProto } from '../../src/ir/proto.js';
import { floatTensor, makeTensor } from '../../src/ir/tensor.js';

/** y = relu(x · W1) · W2 with x: [batch, 16] (a symbolic batch dim unless `batch` is given). */
export function tinyMlp(batch: number | string = 'batch'): ModelProto {
  const b = new GraphBuilder('tiny');
  const x = b.input('x', DataType.FLOAT, [batch, 16]);
  const w1 = b.floatInit(
    'w1',
    [16, 32],
    Float32Array.from({ length: 512 }, (_, i) => ((i % 7) - 3) / 10),
  );
  const w2 = b.floatInit(
    'w2',
    [32, 4],
    Float32Array.from({ length: 128 }, (_, i) => ((i % 5) - 2) / 10),
  );
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

/**
 * Silero-VAD-like: x [batch, 4] and an int64 scalar sample rate `sr`; sr == 16000 takes the then branch,
 * an LSTM over x as a one-step sequence, else the else branch, which first squeezes every size-1 dim. With
 * batch fixed at 1 ORT infers a rank-2 LSTM input in the else branch and refuses the whole model ("LSTM:
 * First input tensor must have rank 3"); with batch symbolic it loads. Run it at batch 1 only with sr 16000:
 * the else branch at batch 1 aborts the process inside ORT.
 */
export function vadLike(): ModelProto {
  const hidden = 3;
  const branch = (name: string, squeeze: boolean): GraphProto => {
    const g = emptyGraph(name);
    const w = (n: string, dims: number[], scale: number) =>
      g.initializer.push(
        floatTensor(
          `${name}_${n}`,
          dims,
          Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => ((i % 7) - 3) / scale),
        ),
      );
    w('w', [1, 4 * hidden, 4], squeeze ? 5 : 10);
    w('r', [1, 4 * hidden, hidden], 10);
    g.initializer.push(makeTensor(`${name}_axis`, DataType.INT64, [1], BigInt64Array.of(0n)));
    let seq = `${name}_seq`;
    g.node.push(makeNode('Unsqueeze', ['x', `${name}_axis`], [seq]));
    if (squeeze) {
      g.node.push(
        makeNode('Squeeze', [seq], [`${name}_squeezed`]),
        makeNode('Unsqueeze', [`${name}_squeezed`, `${name}_axis`], [`${name}_seq2`]),
      );
      seq = `${name}_seq2`;
    }
    g.node.push(
      makeNode('LSTM', [seq, `${name}_w`, `${name}_r`], [`${name}_y`], { hidden_size: hidden }),
      makeNode('Squeeze', [`${name}_y`, `${name}_axis`], [`${name}_y1`]),
      makeNode('Squeeze', [`${name}_y1`, `${name}_axis`], [`${name}_out`]),
    );
    g.output.push(valueInfo(`${name}_out`, DataType.FLOAT));
    return g;
  };
  const b = new GraphBuilder('vad-like');
  b.input('x', DataType.FLOAT, ['batch', 4]);
  b.input('sr', DataType.INT64, []);
  const is16k = b.op('Equal', ['sr', b.initializer('k16000', DataType.INT64, [], BigInt64Array.of(16000n))]);
  b.op('If', [is16k], { then_branch: branch('then', false), else_branch: branch('else', true) }, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', hidden]);
  return b.model({ opset: 17 });
}

/**
 * y = reshape(x, [-1, (sr - 12000) / 1000]) · W: x [batch, 4] float, sr an int64 scalar. Runs only with sr
 * in [16000, 17000); other rates (random 0 or 1 among them) are a clean ORT error from the Reshape.
 */
export function sampleRateModel(): ModelProto {
  const b = new GraphBuilder('rate');
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  const sr = b.input('sr', DataType.INT64, []);
  const k = (name: string, v: bigint) => b.initializer(name, DataType.INT64, [], BigInt64Array.of(v));
  const width = b.op('Div', [b.op('Sub', [sr, k('k12000', 12000n)]), k('k1000', 1000n)]);
  const shape = b.op('Concat', [b.int64Init('minus1', [-1]), b.op('Unsqueeze', [width, b.int64Init('axis', [0])])], { axis: 0 });
  const w = b.floatInit(
    'w',
    [4, 3],
    Float32Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) / 4),
  );
  b.op('MatMul', [b.op('Reshape', [x, shape]), w], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 3]);
  return b.model({ opset: 17 });
}

/** x [?, ?] float (both dims unnamed in the model) → y = relu(x). */
export function unnamedDims(): ModelProto {
  const b = new GraphBuilder('unnamed');
  b.graph.input.push({ name: 'x', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{}, {}] } } }, metadataProps: [] });
  b.op('Relu', ['x'], {}, { output: 'y' });
  b.output('y', DataType.FLOAT);
  return b.model();
}
