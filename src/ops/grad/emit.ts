/**
 * Emits backward nodes into a training graph: fresh names, cached constants and Shape nodes, and the
 * helpers most rules share (reductions in the opset's form, un-broadcasting a gradient to an input's shape).
 */
import type { NodeProto, TensorProto } from '../../ir/proto.js';
import type { AttrValue } from '../../ir/builder.js';
import { makeNode } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import { makeTensor } from '../../ir/tensor.js';
import { badInput } from '../../errors.js';
import type { Dim } from '../types.js';

export class GradEmitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private consts = new Map<string, string>();
  private shapes = new Map<string, string>();
  private counter = 0;
  /** Gradient values known to be zero wherever the named value is ≤ 0 (a ReLU output), see maskedBy. */
  private zeroWhereNotPositive = new Map<string, string>();

  /** `taken` holds every name already in the graph; `opset` is the default domain's version. */
  constructor(
    private readonly taken: Set<string>,
    readonly opset: number,
    private readonly prefix = 'grad',
  ) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.counter++}`;
    while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  /**
   * Records that gradient `g` is already zero wherever `y` ≤ 0, so the ReLU that produced `y` can pass
   * `g` through without its own mask (MaxPool's gradient over a ReLU output builds that mask anyway).
   */
  markZeroWhereNotPositive(g: string, y: string): void {
    this.zeroWhereNotPositive.set(g, y);
  }

  isZeroWhereNotPositive(g: string, y: string): boolean {
    return this.zeroWhereNotPositive.get(g) === y;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue | undefined> = {}, hint = opType): string {
    return this.opN(opType, inputs, 1, attrs, hint)[0]!;
  }

  opN(opType: string, inputs: string[], n: number, attrs: Record<string, AttrValue | undefined> = {}, hint = opType): string[] {
    const outputs = Array.from({ length: n }, () => this.fresh(hint));
    this.nodes.push(makeNode(opType, inputs, outputs, attrs, { name: this.fresh(`${opType}_node`) }));
    return outputs;
  }

  /** A scalar constant of the given element type (float or double), shared by every rule. */
  scalar(value: number, elemType: number = DataType.FLOAT): string {
    const key = `s:${elemType}:${value}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('const');
      const data = elemType === DataType.DOUBLE ? Float64Array.of(value) : Float32Array.of(value);
      this.initializers.push(makeTensor(name, elemType, [], data));
      this.consts.set(key, name);
    }
    return name;
  }

  /** A 1-D float32 constant. */
  initializerFloats(values: readonly number[]): string {
    const key = `f:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('floats');
      this.initializers.push(makeTensor(name, DataType.FLOAT, [values.length], Float32Array.from(values)));
      this.consts.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 constant. */
  ints(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('ints');
      this.initializers.push(
        makeTensor(
          name,
          DataType.INT64,
          [values.length],
          BigInt64Array.from(values, (v) => BigInt(v)),
        ),
      );
      this.consts.set(key, name);
    }
    return name;
  }

  /** A 1-element 1-D constant of the given float type. */
  scalarVec(value: number, elemType: number = DataType.FLOAT): string {
    return this.reshape(this.scalar(value, elemType), this.ints([1]));
  }

  /** An initializer made once per `key` (`make` gets the fresh name the first time). */
  cachedInitializer(key: string, hint: string, make: (name: string) => TensorProto): string {
    let name = this.consts.get(`t:${key}`);
    if (!name) {
      name = this.fresh(hint);
      this.initializers.push(make(name));
      this.consts.set(`t:${key}`, name);
    }
    return name;
  }

  /** A scalar int64 constant. */
  int64(value: number): string {
    const key = `l:${value}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('int64');
      this.initializers.push(makeTensor(name, DataType.INT64, [], BigInt64Array.of(BigInt(value))));
      this.consts.set(key, name);
    }
    return name;
  }

  /** Shape(x), emitted once per value. */
  shapeOf(x: string): string {
    let s = this.shapes.get(x);
    if (!s) {
      s = this.op('Shape', [x], {}, 'shape');
      this.shapes.set(x, s);
    }
    return s;
  }

  /**
   * ReduceSum over `axes` in the form the opset wants (axes input from 13). Axes [0, k…m] with a kept
   * axis between (a channel's sum over batch and positions) are reduced in two steps, the block first:
   * ORT's reduction runs such a pattern 1.6–2.4x slower than the two it splits into (see splitAxes).
   */
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return x;
    const split = splitAxes(axes);
    if (split) return this.reduceSum(this.reduceSum(x, split[1], keepdims), split[0], keepdims);
    if (this.opset >= 13) return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op('ReduceSum', [x], { axes: [...axes], keepdims: keepdims ? 1 : 0 });
  }

  /**
   * ReduceMean over `axes` (all axes when empty) in the opset's form (axes input from 18), split as
   * reduceSum splits them (a mean of equal-sized groups' means is the mean).
   */
  reduceMean(x: string, axes: readonly number[], keepdims: boolean): string {
    if (axes.length === 0) return this.op('ReduceMean', [x], { keepdims: keepdims ? 1 : 0 });
    const split = splitAxes(axes);
    if (split) return this.reduceMean(this.reduceMean(x, split[1], keepdims), split[0], keepdims);
    if (this.opset >= 18) return this.op('ReduceMean', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op('ReduceMean', [x], { axes: [...axes], keepdims: keepdims ? 1 : 0 });
  }

  /**
   * The sum of a float `g` over its leading `lead` axes as [1, R] × g seen as [R, rest]: ORT's ReduceSum
   * over leading axes moves a few GB/s (0.72 ms for a [4096, 256] bias gradient, 2 threads), its MatMul
   * with a row of ones twice that. The row is an initializer when R is static, else made from g's shape
   * once per set of leading dims (dims of one name are one size). Returns [1, rest]; undefined when the
   * form does not apply (other element types, nothing to sum). Bias gradients (sumTo) and the unfolded
   * convolution weight gradient's per-sample products (ops/grad/nn.ts) are summed this way.
   */
  sumLeading(g: string, gShape: readonly Dim[], lead: number, elemType: number | undefined): string | undefined {
    if (elemType !== DataType.FLOAT && elemType !== DataType.DOUBLE) return undefined;
    if (lead < 1 || lead >= gShape.length) return undefined;
    const leadDims = gShape.slice(0, lead);
    const staticRows = leadDims.every((d) => typeof d === 'number') ? (leadDims as number[]).reduce((a, b) => a * b, 1) : undefined;
    if (staticRows !== undefined && staticRows < 2) return undefined;
    const flat = lead === 1 && gShape.length === 2 ? g : this.op('Flatten', [g], { axis: lead });
    const array = (n: number) => (elemType === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n)).fill(1);
    let ones: string | undefined;
    if (staticRows !== undefined)
      ones = this.cachedInitializer(`ones:${elemType}:${staticRows}`, 'ones', (name) =>
        makeTensor(name, elemType, [1, staticRows], array(staticRows)),
      );
    else {
      const key = `ones:${elemType}:${JSON.stringify(leadDims)}`;
      ones = this.consts.get(key);
      if (!ones) {
        const rows = this.op('Slice', [this.shapeOf(flat), this.ints([0]), this.ints([1])]);
        const shape = this.op('Concat', [this.ints([1]), rows], { axis: 0 });
        ones = this.op('ConstantOfShape', [shape], { value: makeTensor('value', elemType, [1], array(1)) }, 'ones');
        this.consts.set(key, ones);
      }
    }
    return this.op('MatMul', [ones, flat]);
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.ints(axes)]);
    return this.op('Unsqueeze', [x], { axes: [...axes] });
  }

  reshape(x: string, shape: string): string {
    return this.op('Reshape', [x, shape]);
  }

  /** Reshape to the runtime shape of `like`. */
  reshapeLike(x: string, like: string): string {
    return this.reshape(x, this.shapeOf(like));
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  /**
   * `g` where the boolean `mask` holds, else 0: Mul(g, Cast(mask)), not Where(mask, g, 0). ORT's Where
   * with a broadcast scalar is slow: on a [32, 96, 48, 48] gradient (2 threads) Where took 11.6 ms against
   * 8.2 for Cast + Mul, and in the MobileNet-v2 step its 35 ReLU6 masks went from 30.3 ms to about 20
   * (docs/design.md, Training). Unlike Where, a NaN or infinity in `g` where the mask is off stays NaN.
   */
  masked(mask: string, g: string, elemType: number): string {
    return this.mul(g, this.op('Cast', [mask], { to: elemType }));
  }
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  neg(a: string): string {
    return this.op('Neg', [a]);
  }

  /**
   * Sums a gradient `g` (shaped like the broadcast result) down to the shape of input `x`. Static when
   * both shapes are known; otherwise computed in the graph: the axes where the (left-padded) input
   * shape differs from the gradient's shape are reduced, then the result is reshaped to Shape(x).
   */
  sumTo(g: string, x: string, gShape: Dim[] | undefined, xShape: Dim[] | undefined, elemType?: number): string {
    if (gShape && xShape) {
      const lead = gShape.length - xShape.length;
      if (lead >= 0) {
        const axes: number[] = [];
        let known = true;
        for (let i = 0; i < gShape.length; i++) {
          if (i < lead) {
            axes.push(i);
            continue;
          }
          const xd = xShape[i - lead]!;
          const gd = gShape[i]!;
          if (xd === gd) continue;
          if (xd === 1) axes.push(i);
          else known = false; // symbolic dims that differ by name: decide at run time
        }
        if (known) {
          if (axes.length === 0 && lead === 0) return g;
          // Only leading axes reduced (a bias's gradient over batch and sequence): the MatMul form.
          const prefix = axes.every((a, i) => a === i) ? this.sumLeading(g, gShape, axes.length, elemType) : undefined;
          if (prefix) return this.reshapeStatic(prefix, xShape, x);
          const r = this.reduceSum(g, axes, true);
          if (lead === 0) return r;
          return this.reshapeStatic(r, xShape, x);
        }
      }
    }
    if (this.opset < 13) {
      // Dynamic axes need ReduceSum's axes input (opset 13); without it, both shapes must be known.
      throw badInput(
        `cannot un-broadcast the gradient of '${x}' without static shapes in opset ${this.opset}; give the model input shapes`,
      );
    }
    const sx = this.shapeOf(x);
    const sg = this.shapeOf(g);
    const rankDiff = this.op('Sub', [this.op('Size', [sg]), this.op('Size', [sx])]);
    const ones = this.op('ConstantOfShape', [this.reshape(rankDiff, this.ints([1]))], {
      value: makeTensor('value', DataType.INT64, [1], BigInt64Array.of(1n)),
    });
    const padded = this.op('Concat', [ones, sx], { axis: 0 });
    const differ = this.op('Not', [this.op('Equal', [padded, sg])]);
    const axes = this.reshape(this.op('NonZero', [differ]), this.ints([-1]));
    const r = this.op('ReduceSum', [g, axes], { keepdims: 1, noop_with_empty_axes: 1 });
    return this.reshape(r, sx);
  }

  /** Reshape to a shape with possibly symbolic dims: symbolic dims are taken from `like` at run time. */
  reshapeStatic(x: string, shape: Dim[], like: string): string {
    if (shape.every((d) => typeof d === 'number')) return this.reshape(x, this.ints(shape as number[]));
    return this.reshapeLike(x, like);
  }
}

/**
 * Axes [0, k, k+1, …, m] with k ≥ 2 split into [[0], [k…m]] (the block is reduced first, keeping the
 * axis numbering of the leading one). ORT reduces a trailing block and a leading axis each on a fast
 * path, but not the two together around a kept axis: [32, 96, 48, 48] over [0, 2, 3] took 1.53 ms, over
 * [2, 3] then [0] 0.95 (2 threads); [32, 576, 6, 6] 0.37 against 0.15.
 */
function splitAxes(axes: readonly number[]): [number[], number[]] | undefined {
  if (axes.length < 2 || axes[0] !== 0 || axes[1]! < 2) return undefined;
  for (let i = 2; i < axes.length; i++) if (axes[i] !== axes[i - 1]! + 1) return undefined;
  return [[0], axes.slice(1)];
}
