/**
 * Convolutions on ONNX Runtime's NCHWc kernels when their weights are graph inputs. ORT's own NCHWc
 * transformer converts a Conv only when its filter is a constant initializer (it reorders the filter once,
 * at session creation), so the convolutions of a training step, whose weights are inputs, run ORT's plain
 * kernel: an im2col and one GEMM per image, thin GEMMs when an image has few output positions. This pass
 * writes what the transformer would, with the filter reordered in the graph on each run (a small
 * Reshape/Transpose/Reshape over the weights):
 *   y = ReorderOutput(nchwc.Conv(ReorderInput(x), reorder(W), b), channels = O)
 * The NCHWc kernel reads its filter at run time (OIHWBiBo: blocks of B output × B input channels per tap,
 * input channel major within a block), so no constant is needed.
 *
 * At any size by default (`maxPositions` limits it): for 3×3 layers at batch 32, 2 threads, with the
 * reorders counted, 0.67–0.87x the time of ORT's plain Conv at 8×8 outputs, 0.59–0.97x at 16×16 and
 * 0.44–0.89x at 32×32 (bench/conv-grad.ts, four runs on one day), and whole ResNet training steps 7–9%
 * faster with the 32×32 stage converted too (docs/design.md); depthwise 3×3 layers (MobileNet's)
 * 0.70–0.97x at 6×6 to 48×48. Converted: 2-D Convs of float tensors whose dims past the batch are known,
 * group 1 or depthwise, input and output channels multiples of the block. The input reorder is shared by
 * the convolutions that read the same tensor.
 */
import { attrReader } from '../ir/attrs.js';
import { makeNode, makeModel } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import type { ModelProto, NodeProto, TensorProto } from '../ir/proto.js';
import { makeTensor } from '../ir/tensor.js';
import { inferShapes } from '../ops/infer.js';
import { NCHWC_DOMAIN } from '../runtime/nchwc.js';

export { NCHWC_DOMAIN };

export interface NchwcOptions {
  /** ORT's NCHWc block size on this machine (runtime/nchwc.ts): 16 with AVX-512, 8 with AVX2. */
  blockSize: number;
  /** Convert only convolutions with at most this many output positions per image (default: any). */
  maxPositions?: number;
  /** The same for depthwise convolutions (default: any size). */
  maxDepthwisePositions?: number;
}

/** `model` with its eligible Convs on NCHWc kernels (see the file comment); `model` itself is unchanged. */
export function nchwcConvs(model: ModelProto, opts: NchwcOptions): { model: ModelProto; converted: number } {
  const graph = model.graph!;
  const b = opts.blockSize;
  const maxPositions = opts.maxPositions ?? Number.POSITIVE_INFINITY;
  const maxDepthwisePositions = opts.maxDepthwisePositions ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(b) || b < 8) return { model, converted: 0 };
  const defaultOpset = model.opsetImport.find((o) => !o.domain)?.version ?? 21;
  const types = inferShapes(makeModel(graph, { opset: defaultOpset, irVersion: model.irVersion ?? 8 })).types;
  // Float values of rank 4 whose dims past the batch are known: the batch may stay symbolic (NaN here).
  const staticDims = (name: string | undefined) => {
    const t = name ? types.get(name) : undefined;
    if (t?.shape?.length !== 4 || t.elemType !== DataType.FLOAT || t.shape.slice(1).some((d) => typeof d !== 'number')) return undefined;
    return t.shape.map((d) => (typeof d === 'number' ? d : Number.NaN));
  };
  const taken = new Set<string>([
    ...graph.node.flatMap((n) => [...n.input, ...n.output]),
    ...graph.initializer.map((t) => t.name!),
    ...[...graph.input, ...graph.output, ...graph.valueInfo].map((v) => v.name!),
  ]);
  const fresh = (base: string) => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const initializers: TensorProto[] = [];
  const shapeConst = (dims: number[]) => {
    const name = fresh(`nchwc_shape_${dims.join('x')}`);
    initializers.push(makeTensor(name, DataType.INT64, [dims.length], dims));
    return name;
  };
  const reordered = new Map<string, string>();
  const nodes: NodeProto[] = [];
  let converted = 0;
  for (const node of graph.node) {
    const x = staticDims(node.input[0]);
    const w = staticDims(node.input[1]);
    const y = staticDims(node.output[0]);
    const group = attrReader(node).int('group', 1);
    const shaped = node.opType === 'Conv' && !node.domain && !!x && !!w && !!y && !Number.isNaN(w[0]!);
    // Depthwise: one filter per channel (group = channels in = channels out).
    const depthwise = shaped && group > 1 && group === x[1] && group === w[0] && w[1] === 1;
    const eligible =
      shaped &&
      x[1]! % b === 0 &&
      w[0]! % b === 0 &&
      ((group === 1 && y[2]! * y[3]! <= maxPositions) || (depthwise && y[2]! * y[3]! <= maxDepthwisePositions));
    if (!eligible) {
      nodes.push(node);
      continue;
    }
    const [o, c, kh, kw] = w as [number, number, number, number];
    const label = node.name || node.output[0]!;
    let xr = reordered.get(node.input[0]!);
    if (!xr) {
      xr = fresh(`${node.input[0]}_nchwc`);
      nodes.push(makeNode('ReorderInput', [node.input[0]!], [xr], {}, { name: `${label}/reorder_input`, domain: NCHWC_DOMAIN }));
      reordered.set(node.input[0]!, xr);
    }
    // OIHW → OIHWBiBo: [O/B, Bo, I/B, Bi, taps] → [O/B, I/B, taps, Bi, Bo]; depthwise filters (I = 1) →
    // OIHWBo: [O/B, Bo, taps] → [O/B, taps, Bo]. Each Transpose moves one axis, the case ORT's Transpose
    // has a fast kernel for; any other permutation it copies element by element with the innermost axis
    // strided. So a 1×1 filter drops its unit axes (Bo inwards), a depthwise filter keeps its taps as one
    // axis (Bo inwards), and a k×k filter takes two moves: Bo inwards, then Bi past the taps, with whole
    // Bo blocks copied; a Reshape between them keeps ORT's transpose optimizer from merging them back. In
    // the ResNet-18-width step the 256→256 3×3 filters' reorders went from 25–31 to 10–13 ms a step, and
    // the MobileNet-v2 step's pointwise reorders with them (docs/design.md, Training).
    const taps = kh * kw;
    const wr = fresh(`${node.input[1]}_nchwc`);
    const moves: [number[], number[]][] = depthwise
      ? [
          [
            [o / b, b, taps],
            [0, 2, 1],
          ],
        ]
      : taps === 1
        ? [
            [
              [o / b, b, c / b, b],
              [0, 2, 3, 1],
            ],
          ]
        : [
            [
              [o / b, b, c / b, b, taps],
              [0, 2, 3, 4, 1],
            ],
            [
              [(o / b) * (c / b), b, taps, b],
              [0, 2, 1, 3],
            ],
          ];
    let filter = node.input[1]!;
    moves.forEach(([shape, perm], i) => {
      const r = fresh(`${node.input[1]}_blocks`);
      const t = fresh(`${node.input[1]}_reordered`);
      nodes.push(
        makeNode('Reshape', [filter, shapeConst(shape)], [r], {}, { name: `${label}/${r}` }),
        makeNode('Transpose', [r], [t], { perm }, { name: `${label}/filter_reorder${i ? `_${i + 1}` : ''}` }),
      );
      filter = t;
    });
    nodes.push(makeNode('Reshape', [filter, shapeConst([o, c, kh, kw])], [wr], {}, { name: `${label}/filter_nchwc` }));
    const yr = fresh(`${node.output[0]}_nchwc`);
    const attrs = node.attribute.filter((at) => ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'].includes(at.name!));
    nodes.push(
      { ...makeNode('Conv', [xr, wr, ...node.input.slice(2)], [yr], {}, { name: label, domain: NCHWC_DOMAIN }), attribute: attrs },
      makeNode('ReorderOutput', [yr], [node.output[0]!], { channels: o }, { name: `${label}/reorder_output`, domain: NCHWC_DOMAIN }),
    );
    converted++;
  }
  if (converted === 0) return { model, converted };
  const opsetImport = model.opsetImport.some((op) => op.domain === NCHWC_DOMAIN)
    ? model.opsetImport
    : [...model.opsetImport, { domain: NCHWC_DOMAIN, version: 1 }];
  return {
    model: { ...model, opsetImport, graph: { ...graph, node: nodes, initializer: [...graph.initializer, ...initializers] } },
    converted,
  };
}
