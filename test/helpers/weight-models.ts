// Models that keep their weights where third-party exporters do: Constant nodes, ConstantOfShape/Cast chains,
// DequantizeLinear of int8 constants, shared tensors, If branches. Used by the weights view, folding,
// profile, quantization and training tests.
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/ir/codec.js';
import { DataType } from '../../src/ir/dtype.js';
import type { ModelProto, TensorProto } from '../../src/ir/proto.js';
import { floatTensor, int64Tensor, makeTensor } from '../../src/ir/tensor.js';
import { toHalf } from '../../src/quantize/math.js';

/** Deterministic values in [-scale, scale). */
export const wave = (n: number, seed = 1, scale = 0.5) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * scale);

export const constant = (b: GraphBuilder, t: TensorProto, name?: string) =>
  b.op('Constant', [], { value: t }, name ? { output: name } : {});

/**
 * Paddle2ONNX style: every weight is a Constant node. x [batch, 8] → MatMul W [8,16] (Constant) → Add b [16]
 * (Constant) → Relu → Reshape to [-1, 4, 4] by an int64 Constant → y. Weights: 128 + 16 elements.
 */
export function constantNodeModel(): ModelProto {
  const b = new GraphBuilder('paddle-like');
  b.input('x', DataType.FLOAT, ['batch', 8]);
  const w = constant(b, floatTensor('', [8, 16], wave(128, 1)), 'w');
  const bias = constant(b, floatTensor('', [16], wave(16, 2)), 'b');
  const shape = constant(b, int64Tensor('', [3], [-1, 4, 4]), 'shape');
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', ['x', w]), bias])]);
  b.op('Reshape', [h, shape], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 4, 4]);
  return b.model({ opset: 13 });
}

/**
 * A weight made by ConstantOfShape: fp16 fill `value` of `rows × cols` elements → Cast to float → Reshape to
 * [rows, cols] → MatMul with x [1, rows]; then Add of a bias stored fp16 → Cast (a Cast chain of a stored tensor).
 */
export function constantOfShapeModel(rows: number, cols: number, value = 0.01): ModelProto {
  const b = new GraphBuilder('filled');
  b.input('x', DataType.FLOAT, [1, rows]);
  const fill = makeTensor('', DataType.FLOAT16, [1], Uint16Array.of(toHalf(value)));
  const flat = b.op('ConstantOfShape', [b.int64Init('n', [rows * cols])], { value: fill }, { output: 'filled' });
  const w = b.op(
    'Reshape',
    [b.op('Cast', [flat], { to: DataType.FLOAT }, { output: 'filled_f32' }), b.int64Init('wshape', [rows, cols])],
    {},
    { output: 'w' },
  );
  const bias16 = b.initializer('bias16', DataType.FLOAT16, [cols], Uint16Array.from(wave(cols, 3), toHalf));
  const bias = b.op('Cast', [bias16], { to: DataType.FLOAT }, { output: 'bias' });
  b.op('Add', [b.op('MatMul', ['x', w]), bias], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [1, cols]);
  return b.model({ opset: 13 });
}

/**
 * A QDQ Gemm as torch.ao exports it: int8 weight [16, 8] with per-channel scale [16] and zero point [16] in
 * Constant nodes → DequantizeLinear (axis 0); int32 bias [16] → DequantizeLinear with scale [16].
 * Weights: 128 int8 + 16 float + 16 int8 + 16 int32 + 16 float.
 */
export function dequantizeModel(): ModelProto {
  const b = new GraphBuilder('qdq');
  b.input('x', DataType.FLOAT, ['batch', 8]);
  const q = constant(b, makeTensor('', DataType.INT8, [16, 8], Int8Array.from(wave(128, 4, 127), Math.round)), 'wq');
  const scale = constant(
    b,
    floatTensor(
      '',
      [16],
      wave(16, 5, 0.01).map((v) => Math.abs(v) + 0.001),
    ),
    'wscale',
  );
  const zp = constant(
    b,
    makeTensor(
      '',
      DataType.INT8,
      [16],
      Int8Array.from({ length: 16 }, (_, i) => i - 8),
    ),
    'wzp',
  );
  const w = b.op('DequantizeLinear', [q, scale, zp], { axis: 0 }, { output: 'w' });
  const bq = constant(
    b,
    makeTensor(
      '',
      DataType.INT32,
      [16],
      Int32Array.from({ length: 16 }, (_, i) => (i - 8) * 1000),
    ),
    'bq',
  );
  const bias = b.op(
    'DequantizeLinear',
    [bq, constant(b, floatTensor('', [16], wave(16, 6, 1e-4).map(Math.abs)), 'bscale')],
    { axis: 0 },
    { output: 'bias' },
  );
  b.op('Gemm', ['x', w, bias], { transB: 1 }, { output: 'y' });
  b.output('y', DataType.FLOAT, ['batch', 16]);
  return b.model({ opset: 13 });
}

/** One initializer W [8, 8] read by two MatMuls and, transposed (a second form of the same weight), by a third. */
export function sharedModel(): ModelProto {
  const b = new GraphBuilder('shared');
  b.input('x', DataType.FLOAT, [2, 8]);
  const w = b.floatInit('w', [8, 8], wave(64, 7));
  const wt = b.op('Transpose', [w], { perm: [1, 0] }, { output: 'wt' });
  const a = b.op('MatMul', ['x', w]);
  const c = b.op('MatMul', [a, w]);
  b.op('MatMul', [c, wt], {}, { output: 'y' });
  b.output('y', DataType.FLOAT, [2, 8]);
  return b.model({ opset: 13 });
}

/**
 * Silero VAD style: weights inside If branches. The outer initializer `outer` [4, 4] is read (transposed) in
 * both branches; the then branch holds a Constant [4, 4], the else branch an initializer [4, 4] and a Constant
 * scalar. Weights: 16 + 16 + 16 + 1 elements, `outer` once.
 */
export function ifModel(): ModelProto {
  const b = new GraphBuilder('branches');
  b.input('x', DataType.FLOAT, [1, 4]);
  b.input('cond', DataType.BOOL, []);
  b.floatInit('outer', [4, 4], wave(16, 8));
  const then = new GraphBuilder('then');
  const tw = constant(then, floatTensor('', [4, 4], wave(16, 9)), 'then_w');
  const touter = then.op('Transpose', ['outer'], { perm: [1, 0] }, { output: 'then_outer_t' });
  then.op('MatMul', [then.op('MatMul', ['x', tw]), touter], {}, { output: 'then_y' });
  then.output('then_y', DataType.FLOAT, [1, 4]);
  const other = new GraphBuilder('else');
  const ew = other.floatInit('else_w', [4, 4], wave(16, 10));
  const half = constant(other, floatTensor('', [], [0.5]), 'else_half');
  const eouter = other.op('Transpose', ['outer'], { perm: [1, 0] }, { output: 'else_outer_t' });
  other.op('Mul', [other.op('MatMul', [other.op('MatMul', ['x', ew]), eouter]), half], {}, { output: 'else_y' });
  other.output('else_y', DataType.FLOAT, [1, 4]);
  b.op('If', ['cond'], { then_branch: then.graph, else_branch: other.graph }, { name: 'if', output: 'y' });
  b.output('y', DataType.FLOAT, [1, 4]);
  return b.model({ opset: 13 });
}

/** Runs `model` in ORT with its graph optimizations off (so the model's own nodes compute, not ORT's folding). */
export async function runOrt(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

export const floatFeed = (dims: number[], seed = 11) =>
  new ort.Tensor(
    'float32',
    wave(
      dims.reduce((a, d) => a * d, 1),
      seed,
      1,
    ),
    dims,
  );
