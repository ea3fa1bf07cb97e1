/**
 * Models exported by PyTorch (ONNX backend test data, opsets 6-12) train: their training graphs load in
 * ORT, reproduce the recorded forward outputs, and give gradients that match finite differences.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeTensor } from '../../src/ir/codec.js';
import { loadModel } from '../../src/ir/model.js';
import type { ModelProto } from '../../src/ir/proto.js';
import { tensorArray } from '../../src/ir/tensor.js';
import { createSession } from '../../src/runtime/index.js';
import { buildTrainingGraph } from '../../src/train/index.js';
import { rand } from './gradcheck-util.js';
import { ONNX_TESTS } from '../helpers/onnx-tests.js';

const ROOT = ONNX_TESTS;
const MODELS = [
  'pytorch-converted/test_Conv2d',
  'pytorch-converted/test_Conv2d_strided',
  'pytorch-converted/test_Conv2d_dilated',
  'pytorch-converted/test_Conv2d_groups',
  'pytorch-converted/test_Conv2d_depthwise_padded',
  'pytorch-converted/test_Conv1d_stride',
  'pytorch-converted/test_Conv3d_stride_padding',
  'pytorch-converted/test_ConvTranspose2d',
  'pytorch-converted/test_Linear',
  'pytorch-converted/test_Linear_no_bias',
  'pytorch-converted/test_MaxPool2d',
  'pytorch-converted/test_MaxPool1d_stride_padding_dilation',
  'pytorch-converted/test_PixelShuffle',
  'pytorch-converted/test_LogSoftmax',
  'pytorch-converted/test_Softmax',
  'pytorch-converted/test_Tanh',
  'pytorch-converted/test_AvgPool2d',
  'pytorch-converted/test_Embedding',
  'pytorch-operator/test_operator_addmm',
  'pytorch-operator/test_operator_flatten',
  'pytorch-operator/test_operator_view',
  'pytorch-operator/test_operator_conv',
  'pytorch-operator/test_operator_permute2',
  'pytorch-operator/test_operator_chunk',
  'pytorch-operator/test_operator_reduced_mean_keepdim',
  'pytorch-operator/test_operator_exp',
  'pytorch-operator/test_operator_basic',
];

/** The model with every graph input turned into an initializer holding the recorded test input. */
function withInputsAsParams(model: ModelProto, dir: string): { model: ModelProto; integerInputs: boolean } {
  const g = model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const data = g.input.filter((i) => !inits.has(i.name));
  let integerInputs = false;
  const added = data.map((vi, k) => {
    const t = decodeTensor(new Uint8Array(readFileSync(join(dir, 'test_data_set_0', `input_${k}.pb`))));
    if (t.dataType !== 1) integerInputs = true;
    return { ...t, name: vi.name };
  });
  return {
    model: { ...model, graph: { ...g, initializer: [...g.initializer, ...added], input: g.input.filter((i) => inits.has(i.name)) } },
    integerInputs,
  };
}

describe('PyTorch-exported models train', () => {
  for (const rel of MODELS) {
    it(rel, async (t) => {
      const dir = join(ROOT, rel);
      if (!existsSync(dir)) return t.skip('backend test data not present');
      const { model } = withInputsAsParams(loadModel(join(dir, 'model.onnx')), dir);
      const expected = decodeTensor(new Uint8Array(readFileSync(join(dir, 'test_data_set_0', 'output_0.pb'))));
      const tg = buildTrainingGraph(model, { loss: { kind: 'mse' } });
      const session = await createSession(tg.model, { intraOpThreads: 1 });
      const outDims = expected.dims.map(Number);
      const target = new ort.Tensor(
        'float32',
        rand(
          outDims.reduce((a, b) => a * b, 1),
          7,
        ),
        outDims,
      );
      const params = tg.params.map((p) => Float32Array.from(p.init));
      const feeds = (override?: [number, Float32Array]) =>
        Object.fromEntries([
          [tg.labelsName, target],
          ...tg.params.map((p, i) => [p.name, new ort.Tensor('float32', override && override[0] === i ? override[1] : params[i]!, p.dims)]),
        ]);
      const base = await session.run(feeds());
      // The upgraded forward pass reproduces PyTorch's recorded output.
      const y = base[tg.outputs[0]!]!.data as Float32Array;
      const want = tensorArray(expected) as Float32Array;
      assert.equal(y.length, want.length);
      for (let i = 0; i < y.length; i++)
        assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-3 + 1e-3 * Math.abs(want[i]!), `output[${i}] ${y[i]} vs ${want[i]}`);
      // Gradients match central differences of the loss on a few elements of every parameter.
      const loss = async (i: number, data: Float32Array) => ((await session.run(feeds([i, data])))[tg.lossName]!.data as Float32Array)[0]!;
      for (let i = 0; i < tg.params.length; i++) {
        const g = base[tg.params[i]!.grad]!.data as Float32Array;
        const n = params[i]!.length;
        for (const j of [0, Math.floor(n / 2), n - 1]) {
          const eps = 1e-2;
          const plus = Float32Array.from(params[i]!);
          plus[j]! += eps;
          const minus = Float32Array.from(params[i]!);
          minus[j]! -= eps;
          const numeric = ((await loss(i, plus)) - (await loss(i, minus))) / (2 * eps);
          assert.ok(
            Math.abs(g[j]! - numeric) <= 2e-3 + 3e-2 * Math.abs(numeric),
            `${tg.params[i]!.name}[${j}]: analytic ${g[j]}, numeric ${numeric}`,
          );
        }
      }
    });
  }
});
