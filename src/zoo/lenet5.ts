/**
 * LeNet-5 (LeCun et al. 1998) in its common modern form: conv5x5(6, pad 2)-relu-maxpool2-conv5x5(16)-
 * relu-maxpool2-fc120-relu-fc84-relu-fc10 on 1×28×28 images; 61,706 parameters with the defaults.
 * FC layers are Flatten + Gemm(transB=1), the form the training-graph builder differentiates.
 */
import { GraphBuilder, type Dim } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { badInput } from '../errors.js';
import { initFor, Layers, ZOO_IR_VERSION, ZOO_OPSET } from './layers.js';
import { COMMON_OPTIONS, requireInt, requireInts, type ZooModelInfo } from './options.js';

export interface Lenet5Options {
  /** Output channels of the two convolutions. */
  channels: [number, number];
  /** Widths of the fully connected hidden layers. */
  fc: number[];
  classes: number;
  activation: 'relu' | 'tanh';
  /**
   * How each stage halves the image: a 2×2 max or average pooling after the conv (LeNet's), or 'stride':
   * the conv itself at stride 2 (a quarter of its multiply-adds, and no pooling kernel to run).
   */
  pool: 'max' | 'avg' | 'stride';
  /** Kernel size of both convolutions (odd); conv1 is padded to keep the image size, conv2 is not. */
  kernel: number;
  inputChannels: number;
  /** Height and width of the input image. */
  size: number;
  batch: Dim;
  seed: number;
}

export const LENET5_DEFAULTS: Lenet5Options = {
  channels: [6, 16],
  fc: [120, 84],
  classes: 10,
  activation: 'relu',
  pool: 'max',
  kernel: 5,
  inputChannels: 1,
  size: 28,
  batch: 'batch',
  seed: 0,
};

export const lenet5Info: ZooModelInfo = {
  name: 'lenet5',
  description: "LeNet-5 CNN (61,706 params): 'input' [batch,1,28,28] → 2× conv5x5+pool, 3× Gemm → 'logits' [batch,10]",
  example: 'lenet5:channels=8-24,fc=64,pool=avg',
  options: [
    { name: 'channels', kind: 'ints', default: '6-16', help: 'output channels of conv1 and conv2' },
    { name: 'fc', kind: 'ints', default: '120-84', help: "hidden fully connected widths, joined by '-'" },
    { name: 'classes', kind: 'int', default: '10', help: 'output width' },
    { name: 'activation', kind: 'enum', values: ['relu', 'tanh'], default: 'relu', help: 'activation after each conv and hidden FC' },
    {
      name: 'pool',
      kind: 'enum',
      values: ['max', 'avg', 'stride'],
      default: 'max',
      help: '2×2 pooling after each conv, or stride: the convs at stride 2, no pooling',
    },
    { name: 'kernel', kind: 'int', default: '5', help: 'kernel size of both convs (odd: 3, 5, 7)' },
    { name: 'inputChannels', kind: 'int', default: '1', help: 'channels of the input image' },
    { name: 'size', kind: 'int', default: '28', help: 'height and width of the input image (>= 12)' },
    ...COMMON_OPTIONS,
  ],
};

export function lenet5(options: Partial<Lenet5Options> = {}): ModelProto {
  const o: Lenet5Options = { ...LENET5_DEFAULTS, ...options };
  if (o.channels.length !== 2)
    throw badInput(`zoo:lenet5: option channels needs two widths (conv1-conv2, e.g. 6-16), got ${o.channels.length}`);
  requireInts('lenet5', 'channels', o.channels);
  requireInts('lenet5', 'fc', o.fc);
  requireInt('lenet5', 'classes', o.classes);
  requireInt('lenet5', 'inputChannels', o.inputChannels);
  requireInt('lenet5', 'size', o.size, 12);
  requireInt('lenet5', 'kernel', o.kernel);
  if (o.kernel % 2 === 0) throw badInput(`zoo:lenet5: option kernel must be odd (3, 5, 7), got ${o.kernel}`);
  const k = o.kernel;
  // Conv1 keeps the size (padded), conv2 loses k-1; each stage halves it (a 2×2 pool, or the conv's stride 2).
  const half = Math.floor((o.size - 1) / 2) + 1;
  const side = o.pool === 'stride' ? Math.floor((half - k) / 2) + 1 : Math.floor((Math.floor(o.size / 2) - (k - 1)) / 2);
  if (side < 1)
    throw badInput(`zoo:lenet5: a ${k}×${k} kernel leaves nothing of a ${o.size}×${o.size} image; use a smaller kernel or a larger size`);

  const b = new GraphBuilder('lenet5');
  const L = new Layers(b, o.seed);
  const init = initFor(o.activation);
  const pool = (x: string, name: string) =>
    b.op(o.pool === 'max' ? 'MaxPool' : 'AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, { name });
  const [c1, c2] = o.channels;

  let x = b.input('input', DataType.FLOAT, [o.batch, o.inputChannels, o.size, o.size]);
  const strided = o.pool === 'stride';
  const stage = (x: string, cin: number, cout: number, i: number, pad: number) => {
    const y = L.activation(L.conv(x, cin, cout, k, `conv${i}`, { pad, init, stride: strided ? 2 : 1 }), o.activation, `act${i}`);
    return strided ? y : pool(y, `pool${i}`);
  };
  x = stage(x, o.inputChannels, c1, 1, (k - 1) / 2);
  x = stage(x, c1, c2, 2, 0);
  x = b.op('Flatten', [x], { axis: 1 }, { name: 'flatten' });
  let width = c2 * side * side;
  o.fc.forEach((h, i) => {
    x = L.activation(L.gemm(x, width, h, `fc${i + 1}`, { init }), o.activation, `act${i + 3}`);
    width = h;
  });
  L.gemm(x, width, o.classes, `fc${o.fc.length + 1}`, { init: 'xavier', output: 'logits' });
  b.output('logits', DataType.FLOAT, [o.batch, o.classes]);
  return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: lenet5' });
}
