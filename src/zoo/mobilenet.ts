/**
 * MobileNet-v2 (Sandler et al. 2018): a stride-2 3×3 stem, inverted residual blocks (1×1 expand, 3×3
 * depthwise conv with group = channels, 1×1 linear projection, residual Add when shapes match) with
 * ReLU6 as Clip(0, 6), a 1×1 conv to 1280 channels, GlobalAveragePool and a Gemm classifier.
 */
import { GraphBuilder, type Dim } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { badInput } from '../errors.js';
import { Layers, ZOO_IR_VERSION, ZOO_OPSET } from './layers.js';
import { COMMON_OPTIONS, requireInt, type ZooModelInfo } from './options.js';

export interface MobilenetOptions {
  /** Scales every layer's channels (rounded to multiples of 8), as α in the paper. */
  widthMultiplier: number;
  /** Expansion factor t of the inverted residual blocks (the first block always uses 1). */
  expansion: number;
  /** Keeps this many stages of the seven (1–7): fewer stages, a smaller and shallower network. */
  stages: number;
  classes: number;
  inputChannels: number;
  size: number;
  activation: 'relu6' | 'relu';
  batch: Dim;
  seed: number;
}

export const MOBILENET_DEFAULTS: MobilenetOptions = {
  widthMultiplier: 1,
  expansion: 6,
  stages: 7,
  classes: 10,
  inputChannels: 3,
  size: 96,
  activation: 'relu6',
  batch: 'batch',
  seed: 0,
};

/** The paper's Table 2: expansion t (0 = use the option), output channels c, repeats n, first stride s. */
const STAGES: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [0, 24, 2, 2],
  [0, 32, 3, 2],
  [0, 64, 4, 2],
  [0, 96, 3, 1],
  [0, 160, 3, 2],
  [0, 320, 1, 1],
];

export const mobilenetInfo: ZooModelInfo = {
  name: 'mobilenet',
  description:
    "MobileNet-v2: 'input' [batch,3,96,96] → inverted residuals with depthwise convs and ReLU6 (Clip), GlobalAveragePool, Gemm → 'logits' [batch,10]",
  example: 'mobilenet:widthMultiplier=0.5,size=64',
  options: [
    { name: 'widthMultiplier', kind: 'float', default: '1', min: 0.05, help: 'scales all channel counts (α)' },
    { name: 'expansion', kind: 'int', default: '6', help: 'expansion factor t of the inverted residual blocks' },
    { name: 'stages', kind: 'int', default: '7', help: 'how many of the seven block stages to keep' },
    { name: 'classes', kind: 'int', default: '10', help: 'output width' },
    { name: 'inputChannels', kind: 'int', default: '3', help: 'channels of the input image' },
    { name: 'size', kind: 'int', default: '96', help: 'height and width of the input image' },
    { name: 'activation', kind: 'enum', values: ['relu6', 'relu'], default: 'relu6', help: 'activation after expand/depthwise convs' },
    ...COMMON_OPTIONS,
  ],
};

/** Rounds channels to a multiple of 8, never below 90% of the target (the reference `_make_divisible`). */
function divisible(v: number, d = 8): number {
  const r = Math.max(d, Math.floor((v + d / 2) / d) * d);
  return r < 0.9 * v ? r + d : r;
}

export function mobilenet(options: Partial<MobilenetOptions> = {}): ModelProto {
  const o: MobilenetOptions = { ...MOBILENET_DEFAULTS, ...options };
  if (!(o.widthMultiplier >= 0.05) || !Number.isFinite(o.widthMultiplier)) {
    throw badInput(`zoo:mobilenet: option widthMultiplier must be a number >= 0.05, got ${o.widthMultiplier}`);
  }
  requireInt('mobilenet', 'expansion', o.expansion);
  requireInt('mobilenet', 'stages', o.stages);
  if (o.stages > STAGES.length) throw badInput(`zoo:mobilenet: option stages must be at most ${STAGES.length}, got ${o.stages}`);
  requireInt('mobilenet', 'classes', o.classes);
  requireInt('mobilenet', 'inputChannels', o.inputChannels);
  requireInt('mobilenet', 'size', o.size);

  const b = new GraphBuilder('mobilenet');
  const L = new Layers(b, o.seed);
  const act = (x: string, name: string) => L.activation(x, o.activation, name);
  const convBn = (
    x: string,
    cin: number,
    cout: number,
    k: number,
    name: string,
    opts: { stride?: number; group?: number; linear?: boolean; gamma?: number } = {},
  ) =>
    L.batchNorm(
      L.conv(x, cin, cout, k, `${name}.conv`, {
        stride: opts.stride,
        group: opts.group,
        pad: (k - 1) / 2,
        bias: false,
        init: opts.linear ? 'xavier' : 'he',
      }),
      cout,
      `${name}.bn`,
      opts.gamma,
    );

  let width = divisible(32 * o.widthMultiplier);
  let x = b.input('input', DataType.FLOAT, [o.batch, o.inputChannels, o.size, o.size]);
  x = act(convBn(x, o.inputChannels, width, 3, 'features.0', { stride: 2 }), 'features.0.act');
  let index = 1;
  for (const [t, c, n, s] of STAGES.slice(0, o.stages)) {
    const out = divisible(c * o.widthMultiplier);
    for (let i = 0; i < n; i++) {
      const name = `features.${index++}`;
      const stride = i === 0 ? s : 1;
      const hidden = width * (t || o.expansion);
      let y = x;
      if (hidden !== width) y = act(convBn(y, width, hidden, 1, `${name}.expand`), `${name}.expand.act`);
      y = act(convBn(y, hidden, hidden, 3, `${name}.dw`, { stride, group: hidden }), `${name}.dw.act`);
      // The projection is linear: a non-linearity here would destroy information in the narrow output.
      // On a residual branch it is scaled by ~1/√2 so the sum's variance does not grow block by block.
      const residual = stride === 1 && width === out;
      y = convBn(y, hidden, out, 1, `${name}.project`, { linear: true, gamma: residual ? Math.SQRT1_2 : 1 });
      x = residual ? b.op('Add', [x, y], {}, { name: `${name}.add` }) : y;
      width = out;
    }
  }
  const last = o.widthMultiplier > 1 ? divisible(1280 * o.widthMultiplier) : 1280;
  x = act(convBn(x, width, last, 1, `features.${index}`), `features.${index}.act`);
  x = b.op('GlobalAveragePool', [x], {}, { name: 'avgpool' });
  x = b.op('Flatten', [x], { axis: 1 }, { name: 'flatten' });
  L.gemm(x, last, o.classes, 'classifier', { init: 'xavier', output: 'logits' });
  b.output('logits', DataType.FLOAT, [o.batch, o.classes]);
  return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: mobilenet' });
}
