// Values that shape inference computes statically (small int arithmetic around shapes) equal ORT's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import { inferShapes } from '../../src/ops/infer.js';
import { tensorNumbers } from '../../src/ir/tensor.js';

const I64 = DataType.INT64;

test('folded constants equal the values ORT computes', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3, 5, 7]);
  const v = (name: string, vals: number[]) => b.int64Init(name, vals);
  const s0 = (val: number) => b.initializer('s', I64, [], BigInt64Array.of(BigInt(val)));
  const shape = b.op('Shape', [x]);
  const a = v('a', [7, -7, 9, -9]);
  const d = v('d', [2, 2, -4, -4]);
  const big = b.initializer('big', I64, [1], BigInt64Array.of(2n ** 63n - 1n));
  const outs = [
    shape,
    b.op('Shape', [x], { start: -3, end: -1 }),
    b.op('Size', [x]),
    b.op('Div', [a, d]),
    b.op('Mod', [a, d]),
    b.op('Mul', [a, s0(3)]),
    b.op('Sub', [s0(1), a]),
    b.op('Max', [a, d]),
    b.op('Min', [a, d, s0(0)]),
    b.op('Neg', [a]),
    b.op('Abs', [a]),
    b.op('Where', [b.op('Less', [a, d]), a, d]),
    b.op('Gather', [shape, v('gi', [-1, 0, 2])], { axis: 0 }),
    b.op('Gather', [shape, s0(1)], { axis: 0 }),
    b.op('Slice', [shape, v('st', [-1]), v('en', [-10]), v('ax', [0]), v('sp', [-2])]),
    b.op('Slice', [shape, v('st', [1]), big]),
    b.op('Concat', [shape, a, v('c', [-1])], { axis: 0 }),
    b.op('ReduceProd', [b.op('Slice', [shape, v('st', [1]), v('en', [3])])], { keepdims: 0 }),
    b.op('Cast', [b.op('Div', [b.op('Cast', [shape], { to: DataType.FLOAT }), b.floatInit('two', [], [2])])], { to: I64 }),
    b.op('Range', [s0(10), s0(-3), s0(-4)]),
    b.op('Expand', [s0(4), v('to', [2, 3])]),
    b.op('Equal', [shape, v('eq', [2, 0, 5, 0])]),
    b.op('Unsqueeze', [b.op('Squeeze', [v('one', [6]), v('z', [0])]), v('z', [0])]),
    // PyTorch's F.pad export: the pads list reshaped to [n, 2], reversed along axis 0, transposed, flattened.
    b.op('Reshape', [
      b.op(
        'Transpose',
        [
          b.op('Slice', [
            b.op('Reshape', [v('pads', [0, 1, 2, 3, 4, 5]), v('r2', [-1, 2])]),
            v('st', [-1]),
            v('en', [-(2 ** 40)]),
            v('ax', [0]),
            v('sp', [-1]),
          ]),
        ],
        { perm: [1, 0] },
      ),
      v('flat', [-1]),
    ]),
    b.op('Slice', [b.op('Reshape', [a, v('r22', [2, 2])]), v('st2', [1, 0]), v('en2', [2, 1]), v('ax2', [-2, 1])]),
    b.op('Transpose', [b.op('Reshape', [v('six', [1, 2, 3, 4, 5, 6]), v('r123', [1, 2, 3])])], { perm: [2, 0, 1] }),
    b.op('Transpose', [b.op('Reshape', [v('six', [1, 2, 3, 4, 5, 6]), v('r123', [1, 2, 3])])]),
    b.op('ConstantOfShape', [v('cs', [2, 2])], {
      value: { name: 'v', dataType: I64, dims: [1], int64Data: BigInt64Array.of(5n), stringData: [], externalData: [], metadataProps: [] },
    }),
  ];
  const model = b.model({ opset: 18 });
  const inf = inferShapes(model);
  assert.deepEqual(inf.errors, []);
  for (const o of outs) b.output(o, inf.types.get(o)!.elemType);
  const session = await ort.InferenceSession.create(encodeModel(b.model({ opset: 18 })), { logSeverityLevel: 3 });
  const res = await session.run({ x: new ort.Tensor('float32', new Float32Array(210), [2, 3, 5, 7]) });
  for (const o of outs) {
    const folded = inf.constants.get(o);
    assert.ok(folded, `${o} was not folded`);
    const real = res[o]!;
    assert.deepEqual(folded.dims, [...real.dims], `dims of ${o}`);
    assert.deepEqual(tensorNumbers(folded), Array.from(real.data as ArrayLike<number | bigint | boolean>, Number), `values of ${o}`);
  }
  await session.release();
});
