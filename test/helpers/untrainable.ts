// Models Hone cannot train, for the tests of what a refusal says (profile --train, train --profile).
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { gradRule, opProps } from '../../src/ops/index.js';

/** An elementwise op ORT runs that Hone has no gradient for (the first of a few, in case some gain one). */
export function opWithoutGradient(): string | undefined {
  return ['Softsign', 'Shrink', 'ThresholdedRelu', 'Celu', 'Selu'].find((t) => !gradRule('', t) && !opProps('', t).nonDifferentiable);
}

/** input → Gemm → `op` → y: trainable weights behind an op with no gradient rule. */
export function behindOp(op: string): ModelProto {
  const b = new GraphBuilder('untrainable');
  const x = b.input('input', DataType.FLOAT, ['batch', 4]);
  const w = b.floatInit(
    'w',
    [3, 4],
    Array.from({ length: 12 }, (_, i) => i / 12 - 0.5),
  );
  b.op(op, [b.op('Gemm', [x, w, b.floatInit('b', [3], [0, 0, 0])], { transB: 1 })], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 3]);
  return b.model({ opset: 17 });
}

/** input → Relu → y: nothing to train. */
export function withoutParams(): ModelProto {
  const b = new GraphBuilder('no-params');
  b.op('Relu', [b.input('input', DataType.FLOAT, ['batch', 4])], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4]);
  return b.model({ opset: 17 });
}
