/**
 * Layer helpers shared by the zoo models: each appends standard ONNX nodes (opset 17) and their
 * initializers to a GraphBuilder, with PyTorch-like names (`conv1.weight`, `layer1.0.bn2.bias`) so graphs
 * read like the networks they mirror.
 */
import type { GraphBuilder } from '../ir/builder.js';
import { biasUniform, heUniform, Rng, xavierUniform } from './init.js';

/** Activations a zoo option may name. `gelu` is the exact (Erf) form, which ORT fuses into one kernel. */
export const ACTIVATIONS = ['relu', 'relu6', 'tanh', 'sigmoid', 'gelu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** The opset and IR version of every zoo model: opset 17 brings LayerNormalization; IR 8 goes with it. */
export const ZOO_OPSET = 17;
export const ZOO_IR_VERSION = 8;

export interface ConvOptions {
  stride?: number;
  pad?: number;
  group?: number;
  /** Off when a BatchNormalization follows (its shift makes a conv bias redundant). */
  bias?: boolean;
  /** Weight scheme: 'he' before ReLU-like activations, 'xavier' before a linear use. */
  init?: 'he' | 'xavier';
}

export class Layers {
  readonly b: GraphBuilder;
  /** The weight stream, for models that fill special tables (embeddings) themselves. */
  readonly rng: Rng;
  private readonly scalars = new Map<string, string>();

  constructor(b: GraphBuilder, seed: number) {
    this.b = b;
    this.rng = new Rng(seed);
  }

  /** Fully connected layer as Gemm(x, W[out,in], b, transB=1), the layout training and quantization expect. */
  gemm(x: string, inF: number, outF: number, name: string, opts: { init?: 'he' | 'xavier'; output?: string } = {}): string {
    const w = this.b.floatInit(`${name}.weight`, [outF, inF], this.weight(opts.init ?? 'he', outF * inF, inF, outF));
    const bias = this.b.floatInit(`${name}.bias`, [outF], biasUniform(this.rng, outF, inF));
    return this.b.op('Gemm', [x, w, bias], { transB: 1 }, { name, output: opts.output });
  }

  /** Linear layer as MatMul(x, W[in,out]) + Add(b): 2-D weight initializers for dynamic quantization. */
  linear(x: string, inF: number, outF: number, name: string, opts: { init?: 'he' | 'xavier' } = {}): string {
    const w = this.b.floatInit(`${name}.weight`, [inF, outF], this.weight(opts.init ?? 'xavier', inF * outF, inF, outF));
    const bias = this.b.floatInit(`${name}.bias`, [outF], biasUniform(this.rng, outF, inF));
    const y = this.b.op('MatMul', [x, w], {}, { name: `${name}.matmul` });
    return this.b.op('Add', [y, bias], {}, { name: `${name}.add` });
  }

  conv(x: string, cin: number, cout: number, k: number, name: string, opts: ConvOptions = {}): string {
    const group = opts.group ?? 1;
    const fanIn = (cin / group) * k * k;
    const fanOut = (cout / group) * k * k;
    const w = this.b.floatInit(`${name}.weight`, [cout, cin / group, k, k], this.weight(opts.init ?? 'he', cout * fanIn, fanIn, fanOut));
    const inputs = [x, w];
    if (opts.bias ?? true) inputs.push(this.b.floatInit(`${name}.bias`, [cout], biasUniform(this.rng, cout, fanIn)));
    const pad = opts.pad ?? 0;
    return this.b.op(
      'Conv',
      inputs,
      {
        kernel_shape: [k, k],
        strides: [opts.stride ?? 1, opts.stride ?? 1],
        pads: [pad, pad, pad, pad],
        group,
        dilations: [1, 1],
      },
      { name },
    );
  }

  /**
   * BatchNormalization in inference form. Its statistics look trained (mean near 0, variance near 1, not
   * exactly) so that passes which fold BN into convs are checked against a non-trivial transform.
   * `gamma` scales the output: residual branches use < 1 to keep the sum's variance in check.
   */
  batchNorm(x: string, c: number, name: string, gamma = 1): string {
    const scale = this.rng.uniform(c, 0.9 * gamma, 1.1 * gamma);
    const shift = this.rng.uniform(c, -0.1, 0.1);
    const mean = this.rng.uniform(c, -0.1, 0.1);
    const variance = this.rng.uniform(c, 0.9, 1.1);
    const inputs = [
      this.b.floatInit(`${name}.weight`, [c], scale),
      this.b.floatInit(`${name}.bias`, [c], shift),
      this.b.floatInit(`${name}.running_mean`, [c], mean),
      this.b.floatInit(`${name}.running_var`, [c], variance),
    ];
    return this.b.op('BatchNormalization', [x, ...inputs], { epsilon: 1e-5 }, { name });
  }

  /** LayerNormalization over the last axis, gamma 1 and beta 0 as freshly initialised. */
  layerNorm(x: string, d: number, name: string): string {
    const scale = this.b.floatInit(`${name}.weight`, [d], new Float32Array(d).fill(1));
    const bias = this.b.floatInit(`${name}.bias`, [d], new Float32Array(d));
    return this.b.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: 1e-5 }, { name });
  }

  activation(x: string, kind: Activation, name: string): string {
    switch (kind) {
      case 'relu':
        return this.b.op('Relu', [x], {}, { name });
      case 'tanh':
        return this.b.op('Tanh', [x], {}, { name });
      case 'sigmoid':
        return this.b.op('Sigmoid', [x], {}, { name });
      case 'relu6':
        return this.b.op('Clip', [x, this.scalar(0), this.scalar(6)], {}, { name });
      case 'gelu': {
        // gelu(x) = 0.5·x·(1 + erf(x/√2)), the pattern ORT's Gelu fusion recognises.
        const scaled = this.b.op('Div', [x, this.scalar(Math.SQRT2)], {}, { name: `${name}.div` });
        const erf = this.b.op('Erf', [scaled], {}, { name: `${name}.erf` });
        const onePlus = this.b.op('Add', [erf, this.scalar(1)], {}, { name: `${name}.add` });
        const xTimes = this.b.op('Mul', [x, onePlus], {}, { name: `${name}.mul` });
        return this.b.op('Mul', [xTimes, this.scalar(0.5)], {}, { name: `${name}.half` });
      }
    }
  }

  /** A float scalar initializer, shared by every use of the same value. */
  scalar(value: number): string {
    const key = String(value);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.b.floatInit(`const_${key.replace(/[^0-9a-z]/gi, '_')}`, [], [value]);
      this.scalars.set(key, name);
    }
    return name;
  }

  /** An int64 1-D initializer (shapes, axes, perms). */
  ints(prefix: string, values: readonly number[]): string {
    return this.b.int64Init(prefix, values);
  }

  private weight(init: 'he' | 'xavier', n: number, fanIn: number, fanOut: number): Float32Array {
    return init === 'he' ? heUniform(this.rng, n, fanIn) : xavierUniform(this.rng, n, fanIn, fanOut);
  }
}

/** He init is for ReLU-like activations; saturating ones keep variance with Xavier. */
export function initFor(kind: Activation): 'he' | 'xavier' {
  return kind === 'tanh' || kind === 'sigmoid' ? 'xavier' : 'he';
}
