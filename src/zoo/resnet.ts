/**
 * A CIFAR-style ResNet (He et al. 2016, §4.2): a 3×3 stem, stages of basic blocks (conv3x3-BN-ReLU-
 * conv3x3-BN + shortcut, ReLU), stride 2 and a 1×1 conv+BN projection shortcut where a stage changes
 * width or resolution, then GlobalAveragePool and a Gemm classifier. depth=20 is ResNet-20.
 */
import { GraphBuilder, type Dim } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { badInput } from '../errors.js';
import { Layers, ZOO_IR_VERSION, ZOO_OPSET } from './layers.js';
import { COMMON_OPTIONS, requireInt, requireInts, type ZooModelInfo } from './options.js';

export interface ResnetOptions {
  /** Basic blocks per stage. */
  blocks: number[];
  /** Channels per stage; one per entry of `blocks`. */
  widths: number[];
  /** Total conv+fc layers, 6n+2 (20, 32, 44, 56…): sets blocks to n per stage of three; exclusive with blocks. */
  depth?: number;
  classes: number;
  inputChannels: number;
  size: number;
  batch: Dim;
  seed: number;
}

export const RESNET_DEFAULTS: ResnetOptions = {
  blocks: [2, 2, 2],
  widths: [16, 32, 64],
  classes: 10,
  inputChannels: 3,
  size: 32,
  batch: 'batch',
  seed: 0,
};

export const resnetInfo: ZooModelInfo = {
  name: 'resnet',
  description:
    "CIFAR-style ResNet: 'input' [batch,3,32,32] → Conv+BN+ReLU basic blocks, residual Add, GlobalAveragePool, Gemm → 'logits' [batch,10]",
  example: 'resnet:depth=20',
  options: [
    { name: 'blocks', kind: 'ints', default: '2-2-2', help: "basic blocks per stage, joined by '-'" },
    { name: 'widths', kind: 'ints', default: '16-32-64', help: 'channels per stage, one per stage' },
    { name: 'depth', kind: 'int', default: 'none', help: 'ResNet-{6n+2} with three stages (20, 32, 56…), instead of blocks' },
    { name: 'classes', kind: 'int', default: '10', help: 'output width' },
    { name: 'inputChannels', kind: 'int', default: '3', help: 'channels of the input image' },
    { name: 'size', kind: 'int', default: '32', help: 'height and width of the input image' },
    ...COMMON_OPTIONS,
  ],
};

export function resnet(options: Partial<ResnetOptions> = {}): ModelProto {
  if (options.depth !== undefined && options.blocks !== undefined) {
    throw badInput('zoo:resnet: give either depth or blocks, not both');
  }
  const o: ResnetOptions = { ...RESNET_DEFAULTS, ...options };
  if (o.depth !== undefined) {
    if (!Number.isInteger(o.depth) || o.depth < 8 || (o.depth - 2) % 6 !== 0) {
      throw badInput(`zoo:resnet: depth must be 6n+2 (8, 14, 20, 32, 44, 56…), got ${o.depth}`);
    }
    if (o.widths.length !== 3)
      throw badInput(`zoo:resnet: depth implies three stages, so widths needs three entries, got ${o.widths.length}`);
    const n = (o.depth - 2) / 6;
    o.blocks = [n, n, n];
  }
  requireInts('resnet', 'blocks', o.blocks);
  requireInts('resnet', 'widths', o.widths);
  if (o.blocks.length === 0 || o.blocks.length !== o.widths.length) {
    throw badInput(`zoo:resnet: blocks and widths need one entry per stage, got ${o.blocks.length} and ${o.widths.length}`);
  }
  requireInt('resnet', 'classes', o.classes);
  requireInt('resnet', 'inputChannels', o.inputChannels);
  requireInt('resnet', 'size', o.size);

  const b = new GraphBuilder('resnet');
  const L = new Layers(b, o.seed);
  let x = b.input('input', DataType.FLOAT, [o.batch, o.inputChannels, o.size, o.size]);
  x = b.op(
    'Relu',
    [L.batchNorm(L.conv(x, o.inputChannels, o.widths[0]!, 3, 'conv1', { pad: 1, bias: false }), o.widths[0]!, 'bn1')],
    {},
    { name: 'relu1' },
  );
  let width = o.widths[0]!;
  o.blocks.forEach((n, s) => {
    const out = o.widths[s]!;
    for (let i = 0; i < n; i++) {
      const stride = s > 0 && i === 0 ? 2 : 1;
      x = basicBlock(L, x, width, out, stride, `layer${s + 1}.${i}`);
      width = out;
    }
  });
  x = b.op('GlobalAveragePool', [x], {}, { name: 'avgpool' });
  x = b.op('Flatten', [x], { axis: 1 }, { name: 'flatten' });
  L.gemm(x, width, o.classes, 'fc', { init: 'xavier', output: 'logits' });
  b.output('logits', DataType.FLOAT, [o.batch, o.classes]);
  return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: resnet' });
}

function basicBlock(L: Layers, x: string, cin: number, cout: number, stride: number, name: string): string {
  const { b } = L;
  let y = L.batchNorm(L.conv(x, cin, cout, 3, `${name}.conv1`, { stride, pad: 1, bias: false }), cout, `${name}.bn1`);
  y = b.op('Relu', [y], {}, { name: `${name}.relu1` });
  // Scaling the residual branch by ~1/√2 keeps the sum's variance from doubling block after block.
  y = L.batchNorm(L.conv(y, cout, cout, 3, `${name}.conv2`, { pad: 1, bias: false }), cout, `${name}.bn2`, Math.SQRT1_2);
  const shortcut =
    stride !== 1 || cin !== cout
      ? L.batchNorm(L.conv(x, cin, cout, 1, `${name}.downsample.0`, { stride, bias: false }), cout, `${name}.downsample.1`)
      : x;
  const sum = b.op('Add', [y, shortcut], {}, { name: `${name}.add` });
  return b.op('Relu', [sum], {}, { name: `${name}.relu2` });
}
