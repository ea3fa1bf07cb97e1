/**
 * ONNX Runtime's NCHWc block size on this machine, found by running its ReorderInput on 4 channels: the
 * output has the channels padded to one block (16 with AVX-512, 8 with AVX2). 0 where the kernels are
 * missing or the block is below 8 (no blocked kernels worth using). Cached for the process.
 */
import * as ort from 'onnxruntime-node';
import { emptyGraph, makeModel, makeNode, valueInfo } from '../ir/builder.js';
import { encodeModel } from '../ir/codec.js';
import { DataType } from '../ir/dtype.js';

/** The domain of ORT's NCHWc kernels (ReorderInput/ReorderOutput and the blocked Conv, pools). */
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let cached: Promise<number> | undefined;

export function nchwcBlockSize(): Promise<number> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<number> {
  const graph = emptyGraph('nchwc_probe');
  graph.input.push(valueInfo('x', DataType.FLOAT, [1, 4, 1, 1]));
  graph.output.push(valueInfo('y', DataType.FLOAT));
  graph.node.push(makeNode('ReorderInput', ['x'], ['y'], {}, { domain: NCHWC_DOMAIN }));
  const model = makeModel(graph, { opset: 17, extraOpsets: { [NCHWC_DOMAIN]: 1 } });
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
    const block = Number(out.y!.dims[1]);
    return block >= 8 ? block : 0;
  } catch {
    return 0;
  } finally {
    await session?.release();
  }
}
