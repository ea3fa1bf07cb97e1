/**
 * Signal processing: DFT, STFT, window generators (Hann/Hamming/Blackman) and MelWeightMatrix. Sizes come
 * from small constant inputs; when those are not constant the sizes are fresh symbols. Cost: n·log2(n)
 * butterflies of ~5 flops per transformed signal.
 */
import { DataType } from '../ir/dtype.js';
import type { Cost, Dim, OpContext, OpRule } from './types.js';
import { constNumbers, fail, hasInput, input, ioBytes, movementCost, normAxis, numel, shapeStr } from './util.js';

const scalar = (ctx: OpContext, i: number) => (hasInput(ctx, i) ? constNumbers(ctx, i)?.[0] : undefined);

const dft: OpRule = {
  opTypes: ['DFT'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    if (!x.shape) return [{ elemType: x.elemType }];
    const r = x.shape.length;
    const last = x.shape[r - 1];
    if (typeof last === 'number' && last !== 1 && last !== 2)
      fail(`DFT input's last dim must be 1 (real) or 2 (complex), got ${shapeStr(x.shape)}`);
    const axisRaw = ctx.opset >= 20 ? (hasInput(ctx, 2) ? scalar(ctx, 2) : -2) : ctx.attr.int('axis', 1);
    if (axisRaw === undefined) return [{ elemType: x.elemType, shape: [...x.shape.slice(0, -1).map(() => ctx.freshDim()), 2] }];
    // Opset 20 counts the axis over all dims (default -2); opset 17 over all dims too, default 1.
    const axis = normAxis(axisRaw, r);
    const len: Dim | undefined = hasInput(ctx, 1) ? (scalar(ctx, 1) ?? ctx.freshDim()) : x.shape[axis];
    const oneSided = ctx.attr.int('onesided', 0) !== 0;
    const n: Dim = oneSided ? (typeof len === 'number' ? Math.floor(len / 2) + 1 : ctx.freshDim()) : len!;
    return [{ elemType: x.elemType, shape: x.shape.map((d, i) => (i === axis ? n : i === r - 1 ? 2 : d)) }];
  },
  cost: (ctx, outputs) => fftCost(ctx, outputs, numel(outputs[0])),
};

function fftCost(ctx: OpContext, outputs: Parameters<NonNullable<OpRule['cost']>>[1], points: number): Cost {
  const flops = 5 * points * Math.max(1, Math.log2(Math.max(2, points)));
  return { macs: 0, flops, ...ioBytes(ctx, outputs) };
}

const stft: OpRule = {
  opTypes: ['STFT'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const step = scalar(ctx, 1);
    const window = hasInput(ctx, 2) ? ctx.inputs[2]?.shape?.[0] : undefined;
    const frameLen = scalar(ctx, 3) ?? (typeof window === 'number' ? window : undefined);
    const batch = x.shape?.[0] ?? ctx.freshDim();
    const length = x.shape?.[1];
    const frames: Dim =
      typeof length === 'number' && step !== undefined && frameLen !== undefined
        ? Math.floor((length - frameLen) / step) + 1
        : ctx.freshDim();
    const bins: Dim = frameLen === undefined ? ctx.freshDim() : ctx.attr.int('onesided', 1) !== 0 ? Math.floor(frameLen / 2) + 1 : frameLen;
    return [{ elemType: x.elemType, shape: [batch, frames, bins, 2] }];
  },
  cost: (ctx, outputs) => fftCost(ctx, outputs, numel(outputs[0])),
};

const windows: OpRule = {
  opTypes: ['HannWindow', 'HammingWindow', 'BlackmanWindow'],
  infer: (ctx) => [{ elemType: ctx.attr.int('output_datatype', DataType.FLOAT), shape: [scalar(ctx, 0) ?? ctx.freshDim()] }],
  cost: movementCost,
};

const melWeights: OpRule = {
  opTypes: ['MelWeightMatrix'],
  infer: (ctx) => {
    const bins = scalar(ctx, 0);
    const dftLen = scalar(ctx, 1);
    return [
      {
        elemType: ctx.attr.int('output_datatype', DataType.FLOAT),
        shape: [dftLen !== undefined ? Math.floor(dftLen / 2) + 1 : ctx.freshDim(), bins ?? ctx.freshDim()],
      },
    ];
  },
  cost: movementCost,
};

/** TfIdfVectorizer: [C] or [N, C] floats, C = max(ngram_indexes) + 1. */
const tfidf: OpRule = {
  opTypes: ['TfIdfVectorizer'],
  infer: (ctx) => {
    const x = input(ctx, 0);
    const idx = ctx.attr.ints('ngram_indexes', []);
    const c = idx.length ? Math.max(...idx) + 1 : 0;
    return [{ elemType: DataType.FLOAT, shape: x.shape?.length === 2 ? [x.shape[0]!, c] : [c] }];
  },
  cost: movementCost,
};

export const signalOps: OpRule[] = [dft, stft, windows, melWeights, tfidf];
