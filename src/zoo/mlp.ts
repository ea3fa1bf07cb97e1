/** A multilayer perceptron classifier: Gemm layers with an activation between them. */
import { GraphBuilder, type Dim } from '../ir/builder.js';
import type { ModelProto } from '../ir/proto.js';
import { DataType } from '../ir/dtype.js';
import { badInput } from '../errors.js';
import { ACTIVATIONS, type Activation, initFor, Layers, ZOO_IR_VERSION, ZOO_OPSET } from './layers.js';
import { COMMON_OPTIONS, requireInt, requireInts, type ZooModelInfo } from './options.js';

export interface MlpOptions {
  inputSize: number;
  hidden: number[];
  classes: number;
  activation: Activation;
  /** Take images [batch, 1, H, H] with H·H = inputSize (28×28 for 784) and Flatten them first. */
  flatten: boolean;
  batch: Dim;
  seed: number;
}

export const MLP_DEFAULTS: MlpOptions = {
  inputSize: 784,
  hidden: [512, 256],
  classes: 10,
  activation: 'relu',
  flatten: false,
  batch: 'batch',
  seed: 0,
};

export const mlpInfo: ZooModelInfo = {
  name: 'mlp',
  description: "multilayer perceptron: 'input' [batch,784] → Gemm+activation layers → 'logits' [batch,10]",
  example: 'mlp:hidden=128-64,activation=tanh',
  options: [
    { name: 'inputSize', kind: 'int', default: '784', help: 'features per sample' },
    { name: 'hidden', kind: 'ints', default: '512-256', help: "hidden layer widths, joined by '-' (empty: none)" },
    { name: 'classes', kind: 'int', default: '10', help: 'output width' },
    { name: 'activation', kind: 'enum', values: ACTIVATIONS, default: 'relu', help: 'activation after each hidden layer' },
    { name: 'flatten', kind: 'bool', default: 'false', help: 'input images [batch,1,H,H] (H·H = inputSize), flattened first' },
    ...COMMON_OPTIONS,
  ],
};

export function mlp(options: Partial<MlpOptions> = {}): ModelProto {
  const o: MlpOptions = { ...MLP_DEFAULTS, ...options };
  requireInt('mlp', 'inputSize', o.inputSize);
  requireInts('mlp', 'hidden', o.hidden);
  requireInt('mlp', 'classes', o.classes);

  const b = new GraphBuilder('mlp');
  const L = new Layers(b, o.seed);
  let x: string;
  if (o.flatten) {
    const side = Math.round(Math.sqrt(o.inputSize));
    if (side * side !== o.inputSize) throw badInput(`zoo:mlp: flatten=true needs a square inputSize (784 = 28×28), got ${o.inputSize}`);
    x = b.op('Flatten', [b.input('input', DataType.FLOAT, [o.batch, 1, side, side])], { axis: 1 }, { name: 'flatten' });
  } else {
    x = b.input('input', DataType.FLOAT, [o.batch, o.inputSize]);
  }
  let width = o.inputSize;
  o.hidden.forEach((h, i) => {
    x = L.gemm(x, width, h, `fc${i + 1}`, { init: initFor(o.activation) });
    x = L.activation(x, o.activation, `act${i + 1}`);
    width = h;
  });
  L.gemm(x, width, o.classes, `fc${o.hidden.length + 1}`, { init: 'xavier', output: 'logits' });
  b.output('logits', DataType.FLOAT, [o.batch, o.classes]);
  return b.model({ opset: ZOO_OPSET, irVersion: ZOO_IR_VERSION, docString: 'hone zoo: mlp' });
}
